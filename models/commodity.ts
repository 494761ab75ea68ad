import { channelDef, type ChannelName } from './channel.js';
import type { COMMODITIES } from './meter.js';

/**
 * What each commodity measures and bills: the one place VEE (which interval
 * channel a meter is expected to deliver, which register brackets it),
 * completeness, billing readiness and the billing figures read (issue 15).
 * Pure data. docs/commodities.md "Billing per commodity", docs/billing.md.
 *
 * - `interval`: the measured interval channels, the PRIMARY one first: VEE
 *   counts its gaps even when the meter sent nothing, completeness and the
 *   `missing_data` / `no_recent_data` reasons count its intervals, the
 *   estimated share is of its quantity.
 * - `registers`: interval channel → the register (index) whose reads bracket
 *   it (VEE's sum check and register-scaled estimates); `registerOnly`: the
 *   registers a meter may be billed from (deltas) when it has no interval data.
 * - `inputs`: instantaneous channels billing uses besides (gas: the
 *   corrector's temperature and pressure, for Vm → Vb).
 * - `figures`: the billing figures of a meter of the commodity, as named in
 *   GET /v1/billing/consumption.
 */
export type Commodity = (typeof COMMODITIES)[number];

export interface BillingFigureDef {
  /** Field of the consumption response. */
  readonly field: string;
  readonly unit: string;
  readonly meaning: string;
}

export interface CommodityDef {
  readonly commodity: Commodity;
  /** Measured interval channels, primary first; empty: none is expected (heat: register reads; weather: not billed). */
  readonly interval: readonly ChannelName[];
  /** Interval channel → the register channel whose reads bracket it. */
  readonly registers: Readonly<Partial<Record<ChannelName, ChannelName>>>;
  /** Register channels whose deltas are billing figures (heat energy, gas Vb from a converter). */
  readonly registerFigures: readonly ChannelName[];
  /** Instantaneous channels billing uses (gas: temperature °C and gauge pressure bar for the conversion). */
  readonly inputs: readonly ChannelName[];
  readonly figures: readonly BillingFigureDef[];
  /** Whether the commodity has billing figures (weather stations: none; they still appear in billing responses, with zeros, not billable). */
  readonly billed: boolean;
}

const ELECTRICITY_FIGURES: readonly BillingFigureDef[] = [
  { field: 'activeImport', unit: 'kWh', meaning: 'active energy imported (active_import), multiplier applied' },
  { field: 'activeExport', unit: 'kWh', meaning: 'active energy exported (active_export)' },
  { field: 'reactiveInductive', unit: 'kvarh', meaning: 'reactive energy Q+ (reactive_inductive)' },
  { field: 'reactiveCapacitive', unit: 'kvarh', meaning: 'reactive energy Q− (reactive_capacitive)' },
  { field: 'tou', unit: 'kWh', meaning: 'active import per TOU bucket of the tariff' },
  { field: 'maxDemand', unit: 'kW', meaning: 'highest interval demand of active import' },
];

export const COMMODITY_DEFS: Readonly<Record<Commodity, CommodityDef>> = {
  electricity: {
    commodity: 'electricity',
    interval: ['active_import', 'active_export', 'reactive_inductive', 'reactive_capacitive'],
    registers: { active_import: 'active_import_register', active_export: 'active_export_register' },
    registerFigures: [],
    inputs: [],
    figures: ELECTRICITY_FIGURES,
    billed: true,
  },
  gas: {
    commodity: 'gas',
    interval: ['volume'],
    registers: { volume: 'volume_register' },
    registerFigures: ['volume_base_register'],
    inputs: ['temperature', 'pressure'],
    figures: [
      { field: 'volume', unit: 'm3', meaning: 'Vm: volume at metering conditions (volume), multiplier applied' },
      {
        field: 'volumeBase',
        unit: 'm3',
        meaning:
          "Vb: volume at the base conditions of the meter's gas area, converted per interval from Vm, temperature and pressure (EN 12405-1), or the delta of the converter's Vb register (volume_base_register)",
      },
      { field: 'energy', unit: 'kWh', meaning: "Vb × the area's superior calorific value in force at each interval; null (never 0) where no value is uploaded" },
    ],
    billed: true,
  },
  water: {
    commodity: 'water',
    interval: ['volume'],
    registers: { volume: 'volume_register' },
    registerFigures: [],
    inputs: [],
    figures: [{ field: 'volume', unit: 'm3', meaning: 'volume (volume), multiplier applied' }],
    billed: true,
  },
  heat: {
    commodity: 'heat',
    interval: [],
    registers: {},
    registerFigures: ['heat_energy_register'],
    inputs: [],
    figures: [{ field: 'energy', unit: 'kWh', meaning: 'delta of the heat energy register (heat_energy_register) over the window, multiplier applied' }],
    billed: true,
  },
  weather: { commodity: 'weather', interval: [], registers: {}, registerFigures: [], inputs: [], figures: [], billed: false },
};

/** The definition of a stored commodity text; an unknown one (never stored: the meters table is written through MeterSchema) reads as electricity. */
export function commodityDef(commodity: string): CommodityDef {
  return COMMODITY_DEFS[commodity as Commodity] ?? COMMODITY_DEFS.electricity;
}

/**
 * Code of the channel every meter of the commodity is expected to deliver
 * (its primary interval channel), or undefined when none is.
 * @example primaryChannelCode('gas') // 7 (volume)
 */
export function primaryChannelCode(commodity: string): number | undefined {
  const name = commodityDef(commodity).interval[0];
  return name === undefined ? undefined : channelDef(name).code;
}

/** The register channel name bracketing an interval channel of any commodity (one list: the union of the definitions). */
export const REGISTER_OF: Readonly<Partial<Record<string, ChannelName>>> = Object.assign({}, ...Object.values(COMMODITY_DEFS).map((d) => d.registers));

/** Primary interval channel code per commodity that has one (for SQL written in sql/). */
export const PRIMARY_CHANNEL_CODES: Readonly<Record<string, number>> = Object.fromEntries(
  Object.values(COMMODITY_DEFS).flatMap((d) => (d.interval.length ? [[d.commodity, channelDef(d.interval[0]).code]] : [])),
);

/** Codes of the interval channels billing adds up (the daily rollup keeps them): the measured channels of every commodity. */
export const BILLED_INTERVAL_CODES: readonly number[] = [...new Set(Object.values(COMMODITY_DEFS).flatMap((d) => d.interval.map((n) => channelDef(n).code)))].sort((a, b) => a - b);
