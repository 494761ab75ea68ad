import { channelDef } from '../models/channel.js';
import { commodityDef, type Commodity } from '../models/commodity.js';
import { KELVIN_OFFSET } from '../models/gas/volume-conversion.js';
import { formatInstant } from '../models/time.js';
import type { CommodityInputs, GasSegment, RegisterSpan } from '../sql/billing-commodity.repository.js';
import type { MeterFigureRow } from '../sql/billing.repository.js';

/**
 * The billing figures of gas, water and heat meters (issue 15), beside the
 * electricity ones billingFigures keeps as they were: which ones a commodity
 * has is models/commodity.ts. Pure. docs/billing.md "Per commodity".
 *
 * - gas and water: `volume`, m³ (gas: Vm, at metering conditions), the sum of
 *   the primary channel `volume`, multiplier applied.
 * - gas with a gas area: `gas.volumeBase` (Vb, m³ at the area's base
 *   conditions) converted interval by interval, Vb = Vm · (p/pb) · (Tb/T)
 *   (EN 12405-1, ideal gas: sql/billing-commodity.repository.ts), or the
 *   delta of the converter's Vb register over the whole window; and
 *   `gas.energy`, kWh = Vb × the area's superior calorific value of each
 *   interval. What could not be converted or priced is reported (coverage
 *   below 1, a reason), never counted as 0.
 * - heat: `heat.energy`, kWh, the delta of the heat energy register between
 *   the reads at the window's start and end.
 */

export interface CalorificValueUsed {
  readonly validFrom: string;
  readonly validTo: string;
  readonly kwhPerM3: number;
  readonly version: number;
  /** Vb priced with it, m³, and the energy, kWh. */
  readonly volumeBase: number;
  readonly energy: number;
}

export interface GasFigures {
  /** The meter's gas area, or null (then Vb and energy are not computed). */
  readonly area: string | null;
  /** m³ at the area's base conditions; null when nothing could be converted. */
  readonly volumeBase: number | null;
  /** converted: per interval from Vm, temperature and pressure; register: the converter's Vb register delta. */
  readonly volumeBaseMethod: 'converted' | 'register' | null;
  /** Share of Vm that volumeBase covers (0…1); null without an area. */
  readonly volumeBaseCoverage: number | null;
  /** kWh; null when no calorific value covers any of it (never 0 for lack of one). */
  readonly energy: number | null;
  /** Share of volumeBase priced by a calorific value (0…1); null without volumeBase. */
  readonly energyCoverage: number | null;
  readonly calorificValues: CalorificValueUsed[];
}

export interface HeatFigures {
  /** kWh, the register delta, multiplier applied; null without two reads. */
  readonly energy: number | null;
  /** The reads used (local time), null without them. */
  readonly from: string | null;
  readonly to: string | null;
}

/** What a non-electricity meter adds to its figures, and to its readiness. */
export interface CommodityExtra {
  readonly commodity: Exclude<Commodity, 'electricity' | 'weather'>;
  readonly volume?: number;
  readonly gas?: GasFigures;
  readonly heat?: HeatFigures;
  /** Reasons the commodity adds (not_converted, missing_calorific_value, missing_data of a register). */
  readonly reasons: readonly { code: 'not_converted' | 'missing_calorific_value' | 'missing_data'; message: string }[];
  /** The newest value of the meter when it has no interval channel (heat: the last register read). */
  readonly lastStart?: Date | null;
  /** Denominator of the estimated share (the primary channel's quantity, before the multiplier, µ-units). */
  readonly primaryQuantity?: number;
}

const MICRO = 1e6;
const round6 = (x: number) => Math.round(x * MICRO) / MICRO;
const VB_REGISTER = channelDef('volume_base_register').code;
const HEAT_REGISTER = channelDef('heat_energy_register').code;

/** The commodity figures of one row; undefined for electricity (its figures are as they always were). */
export function commodityExtra(r: MeterFigureRow, inputs: CommodityInputs | undefined): CommodityExtra | undefined {
  if (r.commodity === undefined || r.commodity === 'electricity') return undefined;
  const def = commodityDef(r.commodity);
  if (def.commodity === 'electricity' || def.commodity === 'weather') return undefined;
  const k = r.multiplier;
  const volumeMicro = r.volume ?? 0;
  const volume = round6((volumeMicro / MICRO) * k);
  if (def.commodity === 'water') return { commodity: 'water', volume, reasons: [], primaryQuantity: volumeMicro };
  const regs = inputs?.registers.get(r.meterId) ?? [];
  if (def.commodity === 'heat')
    return heatExtra(
      r,
      regs.find((x) => x.channel === HEAT_REGISTER),
    );
  return {
    commodity: 'gas',
    volume,
    primaryQuantity: volumeMicro,
    ...gasExtra(
      r,
      inputs,
      volumeMicro,
      regs.find((x) => x.channel === VB_REGISTER),
    ),
  };
}

function spansWindow(r: MeterFigureRow, s: RegisterSpan | undefined): boolean {
  return s !== undefined && s.firstAt.getTime() === r.windowFrom.getTime() && s.lastAt.getTime() === r.windowTo.getTime() && s.lastValue >= s.firstValue;
}

function heatExtra(r: MeterFigureRow, span: RegisterSpan | undefined): CommodityExtra {
  const empty = r.windowTo <= r.windowFrom;
  const at = (d: Date) => formatInstant(d.getTime(), r.timezone);
  const heat: HeatFigures =
    span && span.lastAt > span.firstAt ? { energy: round6((span.lastValue - span.firstValue) * r.multiplier), from: at(span.firstAt), to: at(span.lastAt) } : { energy: null, from: null, to: null };
  const reasons: CommodityExtra['reasons'][number][] = [];
  if (!empty && !spansWindow(r, span)) {
    const have = span ? `reads from ${at(span.firstAt)} to ${at(span.lastAt)}` : 'no read';
    reasons.push({
      code: 'missing_data',
      message: `heat energy register (heat_energy_register): ${have}; billing needs a read at the window start ${at(r.windowFrom)} and end ${at(r.windowTo)}, the later one not below the earlier`,
    });
  }
  return { commodity: 'heat', heat, reasons, lastStart: span?.lastAt ?? null };
}

function gasExtra(r: MeterFigureRow, inputs: CommodityInputs | undefined, volumeMicro: number, vbRegister: RegisterSpan | undefined): Pick<CommodityExtra, 'gas' | 'reasons'> {
  const area = typeof r.gasArea === 'string' ? r.gasArea : null;
  const none: GasFigures = { area, volumeBase: null, volumeBaseMethod: null, volumeBaseCoverage: null, energy: null, energyCoverage: null, calorificValues: [] };
  if (area === null) return { gas: none, reasons: [] };
  const empty = r.windowTo <= r.windowFrom;
  const a = inputs?.areas.get(area);
  if (!a) {
    return {
      gas: none,
      reasons: empty ? [] : [{ code: 'not_converted', message: `gas area "${area}" is not defined: define it (PUT /v1/gas-areas/${area}) or correct the meter's gasArea` }],
    };
  }
  const k = r.multiplier;
  const segments: readonly GasSegment[] = inputs?.gas.get(r.meterId) ?? [];
  // Vb = Σ Vm · p_abs / T_K · T_b,K / p_b (models/gas/volume-conversion.ts with Z = Z_b = 1).
  const factor = (a.baseTemperatureC + KELVIN_OFFSET) / a.basePressureBar;
  let vmConverted = 0;
  let converted = 0;
  let intervals = 0;
  let vb = 0;
  let priced = 0;
  let kwh = 0;
  let pricedIntervals = 0;
  const used: CalorificValueUsed[] = [];
  for (const s of segments) {
    intervals += s.intervals;
    converted += s.converted;
    vmConverted += s.vmConvertedMicro;
    const segVb = s.pOverT * factor * k;
    vb += segVb;
    if (s.kwhPerM3 !== null && s.validFrom && s.validTo && s.converted > 0) {
      priced += segVb;
      pricedIntervals += s.converted;
      kwh += segVb * s.kwhPerM3;
      used.push({
        validFrom: formatInstant(s.validFrom.getTime(), r.timezone),
        validTo: formatInstant(s.validTo.getTime(), r.timezone),
        kwhPerM3: round6(s.kwhPerM3),
        version: s.version ?? 1,
        volumeBase: round6(segVb),
        energy: round6(segVb * s.kwhPerM3),
      });
    }
  }
  const reasons: CommodityExtra['reasons'][number][] = [];
  // The converter's Vb register wins where the conversion here is not complete (or there is nothing to convert).
  if (spansWindow(r, vbRegister) && (converted < intervals || converted === 0)) {
    // The converter's own Vb over the whole window: no conversion here. Energy needs one calorific value over all of it.
    const vbReg = round6((vbRegister!.lastValue - vbRegister!.firstValue) * k);
    const single = used.length === 1 && segments.every((s) => s.kwhPerM3 !== null && s.version === segments[0].version && s.validFrom?.getTime() === segments[0].validFrom?.getTime());
    const cv = single && segments.length ? segments[0].kwhPerM3! : null;
    if (cv === null && !empty) {
      reasons.push({
        code: 'missing_calorific_value',
        message: `the Vb register delta ${vbReg} m³ needs one calorific value of area "${area}" over the whole window (with the volume intervals showing it): upload it (POST /v1/calorific-values)`,
      });
    }
    return {
      gas: {
        area,
        volumeBase: vbReg,
        volumeBaseMethod: 'register',
        volumeBaseCoverage: 1,
        energy: cv === null ? null : round6(vbReg * cv),
        energyCoverage: cv === null ? 0 : 1,
        calorificValues: cv === null ? [] : used.map((u) => ({ ...u, volumeBase: vbReg, energy: round6(vbReg * cv) })),
      },
      reasons,
    };
  }
  const coverage = volumeMicro > 0 ? round6(vmConverted / volumeMicro) : intervals > 0 ? 1 : null;
  if (!empty && converted < intervals) {
    reasons.push({
      code: 'not_converted',
      message: `${intervals - converted} of ${intervals} volume intervals have no temperature and pressure at their start: Vb covers ${round6((vmConverted / MICRO) * k)} of ${round6((volumeMicro / MICRO) * k)} m³ Vm; send the corrector's temperature and pressure, or the Vb register`,
    });
  }
  // By volume; a window of zero volume by intervals.
  const energyCoverage = converted === 0 ? null : vb > 0 ? round6(priced / vb) : round6(pricedIntervals / converted);
  if (!empty && converted > 0 && energyCoverage !== 1) {
    reasons.push({
      code: 'missing_calorific_value',
      message: `${round6(vb - priced)} of ${round6(vb)} m³ Vb have no superior calorific value of area "${area}": upload it (POST /v1/calorific-values)`,
    });
  }
  return {
    gas: {
      area,
      volumeBase: converted > 0 ? round6(vb) : null,
      volumeBaseMethod: converted > 0 ? 'converted' : null,
      volumeBaseCoverage: coverage,
      energy: pricedIntervals > 0 ? round6(kwh) : null,
      energyCoverage,
      calorificValues: used,
    },
    reasons,
  };
}
