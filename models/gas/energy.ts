import { fail, finite, type GasResult } from './result.js';

/**
 * Energy of gas: E (kWh) = Vb (m³ at base conditions) × calorific value
 * (kWh per m³ at the same base conditions), the value valid for each
 * interval's period taken from the area's list (Turkey: one superior value per
 * month and distribution area; the EU: per gas day or month and zone). An
 * interval no value covers gets no energy and is listed, never valued at 0.
 * Pure: docs/commodities.md "Gas: calorific values".
 */

/** An instant for a reason: ISO-8601, or the number as it came when it is not one. */
const at = (ms: number) => (finite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : String(ms));

/** A calorific value in force on [validFromMs, validToMs). */
export interface CalorificPeriod {
  readonly validFromMs: number;
  readonly validToMs: number;
  /** kWh per m³ at the area's base conditions. */
  readonly kwhPerM3: number;
  /** Stored version (for the audit trail of a bill). */
  readonly version?: number;
}

/** A volume at base conditions over one interval. */
export interface VolumeInterval {
  readonly startMs: number;
  /** m³ at base conditions. */
  readonly vb: number;
}

export interface EnergyInterval {
  readonly startMs: number;
  readonly vb: number;
  /** null when no calorific value covers the interval's start. */
  readonly kwh: number | null;
  readonly kwhPerM3: number | null;
}

/** One calorific value as a bill shows it: the period, the value, the volume and energy it priced. */
export interface CalorificUse {
  readonly validFromMs: number;
  readonly validToMs: number;
  readonly kwhPerM3: number;
  readonly version?: number;
  readonly intervals: number;
  readonly vb: number;
  readonly kwh: number;
}

export interface EnergyResult {
  readonly intervals: readonly EnergyInterval[];
  /** kWh of the intervals that have a calorific value. */
  readonly kwh: number;
  /** m³ (base) of every interval, and of the ones without a calorific value. */
  readonly vb: number;
  readonly vbWithoutCalorificValue: number;
  /** Start instants of intervals no calorific value covers (all of them). */
  readonly withoutCalorificValue: readonly number[];
  /** The calorific values used, oldest first. */
  readonly used: readonly CalorificUse[];
}

/**
 * Checks a list of calorific values: finite, positive, periods not inverted and not overlapping. Sorted copy.
 * @example checkCalorificPeriods([{ validFromMs: 0, validToMs: 10, kwhPerM3: 10.64 }]).ok // true
 */
export function checkCalorificPeriods(periods: readonly CalorificPeriod[]): GasResult<{ periods: CalorificPeriod[] }> {
  const sorted = [...periods].sort((a, b) => a.validFromMs - b.validFromMs);
  for (let i = 0; i < sorted.length; i++) {
    const p = sorted[i];
    if (!finite(p.validFromMs) || !finite(p.validToMs) || p.validToMs <= p.validFromMs) {
      return fail(`calorific value period ${at(p.validFromMs)}..${at(p.validToMs)}: validTo must be after validFrom`);
    }
    if (!finite(p.kwhPerM3) || p.kwhPerM3 <= 0) return fail(`calorific value ${p.kwhPerM3} from ${at(p.validFromMs)}: must be a positive number of kWh/m³`);
    if (i > 0 && p.validFromMs < sorted[i - 1].validToMs) {
      return fail(`calorific value periods overlap at ${at(p.validFromMs)}: one value per instant (pass the current versions only)`);
    }
  }
  return { ok: true, periods: sorted };
}

/**
 * kWh per interval and in total, with the calorific value each interval used
 * (the one whose period holds the interval's start).
 * @example gasEnergy([{ startMs: 0, vb: 2 }], [{ validFromMs: 0, validToMs: 3_600_000, kwhPerM3: 10.5 }]) // { ok: true, kwh: 21, … }
 */
export function gasEnergy(volumes: readonly VolumeInterval[], calorific: readonly CalorificPeriod[]): GasResult<EnergyResult> {
  const checked = checkCalorificPeriods(calorific);
  if (!checked.ok) return checked;
  const periods = checked.periods;
  const order = volumes.map((_, i) => i).sort((a, b) => volumes[a].startMs - volumes[b].startMs);
  const out: EnergyInterval[] = new Array(volumes.length);
  const uses = new Map<number, { intervals: number; vb: number; kwh: number }>();
  const missing: number[] = [];
  let kwh = 0;
  let vb = 0;
  let vbMissing = 0;
  let p = 0;
  for (const i of order) {
    const v = volumes[i];
    if (!finite(v.startMs) || !finite(v.vb)) return fail(`volume interval ${i}: start and vb must be finite numbers`);
    while (p < periods.length && periods[p].validToMs <= v.startMs) p++;
    const cv = p < periods.length && periods[p].validFromMs <= v.startMs ? periods[p] : undefined;
    vb += v.vb;
    if (!cv) {
      out[i] = { startMs: v.startMs, vb: v.vb, kwh: null, kwhPerM3: null };
      missing.push(v.startMs);
      vbMissing += v.vb;
      continue;
    }
    const e = v.vb * cv.kwhPerM3;
    out[i] = { startMs: v.startMs, vb: v.vb, kwh: e, kwhPerM3: cv.kwhPerM3 };
    kwh += e;
    const u = uses.get(p) ?? { intervals: 0, vb: 0, kwh: 0 };
    u.intervals++;
    u.vb += v.vb;
    u.kwh += e;
    uses.set(p, u);
  }
  const used = [...uses.entries()]
    .sort(([a], [b]) => a - b)
    .map(([k, u]) => ({ validFromMs: periods[k].validFromMs, validToMs: periods[k].validToMs, kwhPerM3: periods[k].kwhPerM3, version: periods[k].version, ...u }));
  return { ok: true, intervals: out, kwh, vb, vbWithoutCalorificValue: vbMissing, withoutCalorificValue: missing, used };
}

/** kWh per unit a calorific value may be given in. kcal is the International Table calorie (4.1868 J), as Turkish kcal/m³ values are. */
export const CALORIFIC_UNITS = { 'kWh/m3': 1, 'MJ/m3': 1 / 3.6, 'kcal/m3': 4.1868 / 3600 } as const;
export type CalorificUnit = keyof typeof CALORIFIC_UNITS;

/**
 * A calorific value in kWh/m³.
 * @example toKwhPerM3(9155, 'kcal/m3') // 10.6473 (the Turkish reference 9155 kcal/m³)
 */
export function toKwhPerM3(value: number, unit: CalorificUnit): number {
  return value * CALORIFIC_UNITS[unit];
}
