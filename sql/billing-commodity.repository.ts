import { sql, type Kysely } from 'kysely';
import { channelDef } from '../models/channel.js';
import { COMMODITY_DEFS, commodityDef } from '../models/commodity.js';
import { Q } from './billing-rollup.repository.js';
import { readingsAsOf } from './reading-query.repository.js';
import type { DB } from './types.js';

/**
 * Billing inputs of the commodities other than electricity that the daily
 * rollup does not hold (issue 15), read in the caller's snapshot
 * (computeMeterFigures' REPEATABLE READ transaction):
 *
 * - gas meters with a gas area: per calorific-value period of the area (or
 *   none), the volume intervals (Vm) and the part of them that can be
 *   converted, Σ Vm · p_abs / T_K over the intervals whose temperature
 *   (°C, channel `temperature`) and gauge pressure (bar, channel `pressure`)
 *   exist at the same start, measured or validated/estimated/edited, not
 *   suspect. Vb = S · T_b / p_b with the area's base conditions is the ideal
 *   gas case of models/gas/volume-conversion.ts (Z = Z_b = 1: domestic and
 *   district meters at low pressure; a high-pressure station's converter
 *   reports Vb itself, channel `volume_base_register`). p_abs = p_gauge + the
 *   area's atmospheric pressure.
 * - register figures (gas Vb register, heat energy register): the first and
 *   the last usable read in [window start, window end] (both ends inclusive:
 *   the read at 00:00 of the 1st closes the month before).
 */

export interface CommodityWindow {
  readonly meterId: number;
  /** Absent = electricity. */
  readonly commodity?: string;
  readonly gasArea?: string | null;
  readonly windowFrom: Date;
  readonly windowTo: Date;
}

/** One calorific-value period (or none: all fields null) of a gas meter's window. */
export interface GasSegment {
  readonly meterId: number;
  readonly validFrom: Date | null;
  readonly validTo: Date | null;
  readonly version: number | null;
  readonly kwhPerM3: number | null;
  /** Volume intervals with a value, and their Vm in µm³ (before the multiplier). */
  readonly intervals: number;
  readonly vmMicro: number;
  /** Intervals with a temperature and a pressure, their Vm (µm³) and Σ Vm · p_abs / T_K (m³ · bar / K). */
  readonly converted: number;
  readonly vmConvertedMicro: number;
  readonly pOverT: number;
}

export interface GasAreaRow {
  readonly code: string;
  readonly baseTemperatureC: number;
  readonly basePressureBar: number;
  readonly atmosphericPressureBar: number;
}

export interface RegisterSpan {
  readonly meterId: number;
  readonly channel: number;
  readonly firstAt: Date;
  readonly firstValue: number;
  readonly lastAt: Date;
  readonly lastValue: number;
}

export interface CommodityInputs {
  readonly areas: ReadonlyMap<string, GasAreaRow>;
  readonly gas: ReadonlyMap<number, readonly GasSegment[]>;
  readonly registers: ReadonlyMap<number, readonly RegisterSpan[]>;
}

const EMPTY: CommodityInputs = { areas: new Map(), gas: new Map(), registers: new Map() };
// The gas channels as models/commodity.ts names them: the measured volume, then the corrector's temperature and pressure.
const V = channelDef(COMMODITY_DEFS.gas.interval[0]).code;
const [T, P] = COMMODITY_DEFS.gas.inputs.map((n) => channelDef(n).code);

/** Reads what the figures of the non-electricity meters of `windows` need; nothing for electricity. */
export async function loadCommodityInputs(trx: Kysely<DB>, windows: readonly CommodityWindow[], asOf: Date | undefined): Promise<CommodityInputs> {
  const live = windows.filter((w) => w.commodity !== undefined && w.commodity !== 'electricity' && w.windowFrom < w.windowTo);
  if (live.length === 0) return EMPTY;
  const src = readingsAsOf(asOf);
  const cvNow = asOf === undefined ? sql`cv.superseded_at IS NULL` : sql`cv.received_at <= ${asOf} AND (cv.superseded_at IS NULL OR cv.superseded_at > ${asOf})`;

  const gasWindows = live.filter((w) => w.commodity === 'gas' && typeof w.gasArea === 'string');
  const areaCodes = [...new Set(gasWindows.map((w) => w.gasArea!))];
  const areas = new Map<string, GasAreaRow>();
  if (areaCodes.length) {
    const rows = await trx.selectFrom('gas_areas').select(['code', 'base_temperature_c', 'base_pressure_bar', 'atmospheric_pressure_bar']).where('code', 'in', areaCodes).execute();
    for (const r of rows) areas.set(r.code, { code: r.code, baseTemperatureC: r.base_temperature_c, basePressureBar: r.base_pressure_bar, atmosphericPressureBar: r.atmospheric_pressure_bar });
  }
  const gas = new Map<number, GasSegment[]>();
  const converting = gasWindows.filter((w) => areas.has(w.gasArea!));
  if (converting.length) {
    const json = JSON.stringify(converting.map((w) => ({ id: w.meterId, wfrom: w.windowFrom.toISOString(), wto: w.windowTo.toISOString(), area: w.gasArea })));
    const usable = sql.raw([Q.measured, Q.validated, Q.estimated, Q.edited].join(', '));
    const { rows } = await sql<{
      id: number;
      validFrom: Date | null;
      validTo: Date | null;
      version: number | null;
      kwhPerM3: number | null;
      n: number;
      vm: string | number;
      nConv: number;
      vmConv: string | number | null;
      pOverT: number | null;
    }>`
      SELECT x.id, x.valid_from AS "validFrom", x.valid_to AS "validTo", x.version, x.value_kwh_per_m3 AS "kwhPerM3",
             count(*)::int AS n, sum(x.vm)::int8 AS vm,
             count(*) FILTER (WHERE x.conv)::int AS "nConv", coalesce(sum(x.vm) FILTER (WHERE x.conv), 0)::int8 AS "vmConv",
             coalesce(sum(x.v * (x.p + x.atm) / (x.t + 273.15)) FILTER (WHERE x.conv), 0)::float8 AS "pOverT"
      FROM (
        SELECT w.id, m.v, round(m.v * 1e6)::int8 AS vm, m.t, m.p, a.atmospheric_pressure_bar AS atm,
               (m.t IS NOT NULL AND m.p IS NOT NULL AND m.t > -273.15 AND m.p + a.atmospheric_pressure_bar > 0) AS conv,
               cv.valid_from, cv.valid_to, cv.version, cv.value_kwh_per_m3
        FROM jsonb_to_recordset(${json}::jsonb) AS w(id int, wfrom timestamptz, wto timestamptz, area text)
        JOIN gas_areas a ON a.code = w.area
        -- Per meter: one primary-key scan of the three channels (volume, temperature, pressure), grouped by start.
        -- (Joined as three subqueries on the start, the planner nested-looped them: every volume row against every
        -- temperature row, 720 × 720 comparisons a meter-month, 82 s for 1 000 meters.)
        CROSS JOIN LATERAL (
          SELECT r.start,
                 max(r.value) FILTER (WHERE r.channel = ${V} AND r.quality <> ${sql.lit(Q.missing)}) AS v,
                 max(r.value) FILTER (WHERE r.channel = ${T} AND r.quality IN (${usable})) AS t,
                 max(r.value) FILTER (WHERE r.channel = ${P} AND r.quality IN (${usable})) AS p
          FROM ${src} r
          WHERE r.meter_id = w.id AND r.channel IN (${sql.lit(V)}, ${sql.lit(T)}, ${sql.lit(P)}) AND r.start >= w.wfrom AND r.start < w.wto
          GROUP BY r.start
        ) m
        LEFT JOIN calorific_values cv ON cv.area = w.area AND cv.kind = 'superior' AND ${cvNow} AND m.start >= cv.valid_from AND m.start < cv.valid_to
        WHERE m.v IS NOT NULL
      ) x
      GROUP BY x.id, x.valid_from, x.valid_to, x.version, x.value_kwh_per_m3
      ORDER BY x.id, x.valid_from NULLS FIRST`.execute(trx);
    for (const r of rows) {
      const list = gas.get(r.id) ?? gas.set(r.id, []).get(r.id)!;
      list.push({
        meterId: r.id,
        validFrom: r.validFrom,
        validTo: r.validTo,
        version: r.version,
        kwhPerM3: r.kwhPerM3,
        intervals: r.n,
        vmMicro: Number(r.vm),
        converted: r.nConv,
        vmConvertedMicro: Number(r.vmConv ?? 0),
        pOverT: r.pOverT ?? 0,
      });
    }
  }

  const registers = new Map<number, RegisterSpan[]>();
  const withRegisters = live.filter((w) => commodityDef(w.commodity!).registerFigures.length > 0);
  if (withRegisters.length) {
    const json = JSON.stringify(
      withRegisters.map((w) => ({
        id: w.meterId,
        wfrom: w.windowFrom.toISOString(),
        wto: w.windowTo.toISOString(),
        codes: commodityDef(w.commodity!).registerFigures.map((n) => channelDef(n).code),
      })),
    );
    const usable = sql.raw([Q.measured, Q.validated, Q.estimated, Q.edited].join(', '));
    const { rows } = await sql<{ id: number; channel: number; firstAt: Date; firstValue: number; lastAt: Date; lastValue: number }>`
      SELECT w.id, c.code AS channel, f.start AS "firstAt", f.value AS "firstValue", l.start AS "lastAt", l.value AS "lastValue"
      FROM jsonb_to_recordset(${json}::jsonb) AS w(id int, wfrom timestamptz, wto timestamptz, codes int[])
      CROSS JOIN LATERAL unnest(w.codes) AS c(code)
      CROSS JOIN LATERAL (
        SELECT r.start, r.value FROM ${src} r
        WHERE r.meter_id = w.id AND r.channel = c.code AND r.start >= w.wfrom AND r.start <= w.wto AND r.quality IN (${usable})
        ORDER BY r.start LIMIT 1) f
      CROSS JOIN LATERAL (
        SELECT r.start, r.value FROM ${src} r
        WHERE r.meter_id = w.id AND r.channel = c.code AND r.start >= w.wfrom AND r.start <= w.wto AND r.quality IN (${usable})
        ORDER BY r.start DESC LIMIT 1) l
      ORDER BY w.id, c.code`.execute(trx);
    for (const r of rows) (registers.get(r.id) ?? registers.set(r.id, []).get(r.id)!).push({ meterId: r.id, ...r });
  }
  return { areas, gas, registers };
}
