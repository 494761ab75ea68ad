/**
 * P10/P90 from residual quantiles (issue 5, "Quantiles"). A model's P50 plus
 * the 10 % and 90 % quantiles of its past residuals (actual − P50) in the same
 * bucket: local hour × day type (workday, saturday, sunday, holiday — the
 * DAY_TYPE_CODE of forecast/features). Residual spread differs a lot between
 * a working afternoon and a Sunday night, so buckets come first; a bucket with
 * fewer than `minCount` residuals falls back to the hour pooled over day
 * types, then to all residuals pooled. Pure, JSON-serialisable.
 *
 * Quantiles interpolate between order statistics at position (n + 1)·p
 * (Hyndman–Fan type 6): the interval between the (n+1)·0.1-th and
 * (n+1)·0.9-th of n residuals holds a new residual with probability 0.8
 * whatever n, while type 7 (numpy's default) gives only (0.8n − 1)/(n + 1) —
 * 72 % for a bucket of 20 — and P10–P90 bands that under-cover. q10 is capped
 * at 0 and q90 floored at 0 so that P10 ≤ P50 ≤ P90 always holds.
 */

export interface ResidualQuantiles {
  readonly minCount: number;
  /** [q10, q90] of all residuals, or null when there were none. */
  readonly pooled: readonly [number, number] | null;
  /** Per local hour 0–23 (day types pooled), null below minCount. */
  readonly byHour: readonly (readonly [number, number] | null)[];
  /** Per bucket dayType·24 + hour (4 × 24), null below minCount. */
  readonly byBucket: readonly (readonly [number, number] | null)[];
  /** Residuals used. */
  readonly count: number;
}

export interface ResidualSample {
  /** Local hour 0–23 per residual. */
  readonly hour: ArrayLike<number>;
  /** Day type code 0–3 per residual. */
  readonly dayType: ArrayLike<number>;
  /** actual − P50; NaN entries are skipped. */
  readonly residual: ArrayLike<number>;
}

/** Quantile `p` (0..1) of sorted values, type 6: position (n + 1)·p, clamped to the sample. */
export function quantileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return NaN;
  const h = Math.min(n - 1, Math.max(0, (n + 1) * p - 1));
  const lo = Math.floor(h);
  const hi = Math.min(n - 1, lo + 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

function pair(values: number[]): [number, number] {
  const s = Float64Array.from(values).sort();
  return [Math.min(0, quantileSorted(s, 0.1)), Math.max(0, quantileSorted(s, 0.9))];
}

/**
 * Residual quantiles by (day type, hour) with fallbacks.
 * @example fitResidualQuantiles({ hour, dayType, residual }, { minCount: 20 })
 */
export function fitResidualQuantiles(sample: ResidualSample, opts: { minCount?: number } = {}): ResidualQuantiles {
  const minCount = opts.minCount ?? 20;
  const buckets: number[][] = Array.from({ length: 96 }, () => []);
  const hours: number[][] = Array.from({ length: 24 }, () => []);
  const all: number[] = [];
  for (let i = 0; i < sample.residual.length; i++) {
    const r = sample.residual[i];
    if (r !== r) continue;
    const h = sample.hour[i],
      d = sample.dayType[i];
    buckets[d * 24 + h].push(r);
    hours[h].push(r);
    all.push(r);
  }
  return {
    minCount,
    pooled: all.length ? pair(all) : null,
    byHour: hours.map((x) => (x.length >= minCount ? pair(x) : null)),
    byBucket: buckets.map((x) => (x.length >= minCount ? pair(x) : null)),
    count: all.length,
  };
}

/** [q10, q90] for an hour and day type (zeros when no residuals were seen). */
export function residualBand(q: ResidualQuantiles, hour: number, dayType: number): readonly [number, number] {
  return q.byBucket[dayType * 24 + hour] ?? q.byHour[hour] ?? q.pooled ?? [0, 0];
}

/**
 * P10/P50/P90 for one hour: P50 + residual quantiles of its bucket. With
 * `floor` (e.g. 0 for consumption), P10 and P50 are kept at or above it.
 */
export function quantileRow(start: number, p50: number, hour: number, dayType: number, q: ResidualQuantiles, floor = -Infinity): { start: number; p10: number; p50: number; p90: number } {
  const [lo, hi] = residualBand(q, hour, dayType);
  const mid = Math.max(floor, p50);
  return { start, p10: Math.max(floor, mid + lo), p50: mid, p90: Math.max(mid, mid + hi) };
}

/**
 * A forecast row made consistent (issue 12, defect 5): P10 ≤ P50 ≤ P90, and
 * none below `floor` (0 for a non-negative channel such as active import:
 * consumption is never negative, so neither is any of its quantiles). Every
 * model, band calibration and sum goes through it before a row is stored or
 * scored. Raising a P10 below zero to zero cannot lower the P10–P90 coverage
 * of non-negative actuals. A NaN P50 (no forecast) stays NaN; a NaN band side stays NaN.
 * @example orderedRow({ start: 0, p10: -317.4, p50: 110.5, p90: 250.3 }) // { start: 0, p10: 0, p50: 110.5, p90: 250.3 }
 */
export function orderedRow<T extends { p10: number; p50: number; p90: number }>(r: T, floor = 0): T {
  if (r.p50 !== r.p50) return r;
  const p50 = Math.max(floor, r.p50);
  const p10 = r.p10 === r.p10 ? Math.min(p50, Math.max(floor, r.p10)) : r.p10;
  const p90 = r.p90 === r.p90 ? Math.max(p50, r.p90) : r.p90;
  if (p10 === r.p10 && p50 === r.p50 && p90 === r.p90) return r;
  return { ...r, p10, p50, p90 };
}
