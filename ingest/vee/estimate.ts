import { dayTypeOf, localDate, localMinuteOfDay, shiftDate, type DayType } from '../../models/calendar.js';
import type { VeePoint } from '../../models/vee.js';

/**
 * Estimation of missing or suspect interval energy. Pure: series in, estimates
 * out; each estimate says which method made it and with what parameters.
 */
export type EstimateMethod = 'linear' | 'like-day' | 'profile-class' | 'zero' | 'none';

export interface Estimate {
  readonly startMs: number;
  readonly value: number;
  readonly method: EstimateMethod;
  readonly params: Readonly<Record<string, unknown>>;
}

export interface EstimateContext {
  readonly intervalMinutes: number;
  readonly timezone: string;
  /** Earlier values of the meter (measured or validated), any order. */
  readonly history: readonly VeePoint[];
  readonly holidays?: ReadonlySet<string>;
  /** Longest gap filled by linear sharing, in hours (default 2). */
  readonly maxLinearHours?: number;
  /** Weeks of like days to look back (default 4). */
  readonly likeDayWeeks?: number;
  /** Profile-class shape: share of a day's energy at a local minute of day, for a day type (shares of a day sum to 1). */
  readonly classShape?: (dayType: DayType, minuteOfDay: number) => number | undefined;
  /** Average daily energy for the class fallback. */
  readonly dailyEnergy?: number;
}

/**
 * Linear estimate for interval energy: the energy of the gap is shared equally
 * among its intervals — the known total when register reads give one, else
 * (before + after) / 2 per interval, which is what a straight line through the
 * cumulative curve gives without inventing a ramp.
 * @example linearShare([t1, t2], 1, 3) // both 2
 */
export function linearShare(starts: readonly number[], before: number | undefined, after: number | undefined, total?: number): Estimate[] {
  const n = starts.length;
  if (n === 0) return [];
  let per: number;
  let params: Record<string, unknown>;
  if (total !== undefined) {
    per = total / n;
    params = { total, intervals: n };
  } else if (before !== undefined || after !== undefined) {
    per = ((before ?? after)! + (after ?? before)!) / 2;
    params = { before: before ?? null, after: after ?? null };
  } else {
    return starts.map((startMs) => ({ startMs, value: 0, method: 'none', params: { reason: 'no boundary values' } }));
  }
  return starts.map((startMs) => ({ startMs, value: per, method: 'linear', params }));
}

/**
 * Like-day estimate: for each missing interval, the mean of the values at the
 * same local time of day on the same day type in the previous N weeks
 * (holiday-aware: a holiday is estimated from Sundays and holidays, and
 * holidays are not used for ordinary days). Falls back to the profile class
 * shape × daily energy when no like day has data.
 */
export function likeDay(starts: readonly number[], ctx: EstimateContext): Estimate[] {
  const tz = ctx.timezone;
  const hol = ctx.holidays ?? new Set<string>();
  const weeks = ctx.likeDayWeeks ?? 4;
  const byLocal = new Map<string, number>();
  for (const x of ctx.history) byLocal.set(`${localDate(x.startMs, tz)}|${localMinuteOfDay(x.startMs, tz)}`, x.value);

  return starts.map((startMs) => {
    const date = localDate(startMs, tz);
    const minute = localMinuteOfDay(startMs, tz);
    const target = dayTypeOf(date, hol);
    const used: string[] = [];
    const values: number[] = [];
    // Look back day by day up to N weeks, taking days of the same type.
    for (let back = 1; back <= weeks * 7 && used.length < weeks; back++) {
      const d = shiftDate(date, -back);
      const t = dayTypeOf(d, hol);
      const like = target === 'holiday' ? t === 'holiday' || t === 'sunday' : t === target;
      if (!like) continue;
      const v = byLocal.get(`${d}|${minute}`);
      if (v === undefined) continue;
      used.push(d);
      values.push(v);
    }
    if (values.length > 0) {
      return { startMs, value: values.reduce((a, b) => a + b, 0) / values.length, method: 'like-day', params: { days: used, dayType: target } };
    }
    const share = ctx.classShape?.(target, minute);
    if (share !== undefined && ctx.dailyEnergy !== undefined) {
      return { startMs, value: share * ctx.dailyEnergy, method: 'profile-class', params: { share, dailyEnergy: ctx.dailyEnergy, dayType: target } };
    }
    return { startMs, value: 0, method: 'none', params: { reason: 'no like-day history and no profile class shape' } };
  });
}

/**
 * Scales estimates so that estimates + known values inside a register bracket
 * add up to the register difference. A bracket whose known values already
 * exceed the difference gets zeros (flagged by the sum check, not hidden).
 */
export function scaleToRegister(estimates: readonly Estimate[], knownSum: number, registerDiff: number): Estimate[] {
  const est = estimates.reduce((a, e) => a + e.value, 0);
  const remaining = Math.max(0, registerDiff - knownSum);
  if (estimates.length === 0) return [];
  return estimates.map((e) => ({
    ...e,
    value: est > 0 ? (e.value * remaining) / est : remaining / estimates.length,
    params: { ...e.params, scaledToRegister: { registerDiff, knownSum } },
  }));
}

/**
 * Fills missing interval starts: gaps up to maxLinearHours by linear sharing
 * between the neighbouring values, longer ones by like day (then class
 * profile). Contiguous runs are handled as one gap. Sorted by start.
 */
export function estimateGaps(missing: readonly number[], present: readonly VeePoint[], ctx: EstimateContext): Estimate[] {
  const step = ctx.intervalMinutes * 60_000;
  const maxLinear = ((ctx.maxLinearHours ?? 2) * 3_600_000) / step;
  const byStart = new Map(present.map((x) => [x.startMs, x.value]));
  const sorted = [...missing].sort((a, b) => a - b);
  const out: Estimate[] = [];
  const long: number[] = []; // like-day runs go in one call: it indexes the history once
  let i = 0;
  while (i < sorted.length) {
    let j = i + 1;
    while (j < sorted.length && sorted[j] === sorted[j - 1] + step) j++;
    const run = sorted.slice(i, j);
    const before = byStart.get(run[0] - step);
    const after = byStart.get(run[run.length - 1] + step);
    if (run.length <= maxLinear && (before !== undefined || after !== undefined)) out.push(...linearShare(run, before, after));
    else long.push(...run);
    i = j;
  }
  if (long.length) out.push(...likeDay(long, ctx));
  return out.sort((a, b) => a.startMs - b.startMs);
}
