import type { QuantileValues } from './metrics.js';

/**
 * P10/P90 band calibration on past forecasts (issue 5: "quantiles are
 * calibrated"). Models make their bands from in-sample residuals, which are
 * too narrow out of sample (the backtest showed 60–75 % P10–P90 coverage
 * where 80 % is the aim). The fix is a split-conformal scale of each side of
 * the band, fitted on forecasts already scored (earlier backtest origins):
 *
 *   sLo = (P50 − actual) / (P50 − P10),   sHi = (actual − P50) / (P90 − P50)
 *   kLo = 90th percentile of sLo,         kHi = 90th percentile of sHi
 *
 * so that on those forecasts 10 % of actuals fall below P50 − kLo·(P50 − P10)
 * and 10 % above P50 + kHi·(P90 − P50). Scales are clamped to [0.25, 8];
 * hours with a zero-width side are skipped; fewer than `minSamples` usable
 * hours leave the band as it is (scale 1). Pure.
 */
export interface BandScale {
  readonly lo: number;
  readonly hi: number;
  /** Hours the scales were fitted on (0: not fitted, scales 1). */
  readonly n: number;
}

export const IDENTITY_SCALE: BandScale = { lo: 1, hi: 1, n: 0 };

const clamp = (x: number) => Math.min(8, Math.max(0.25, x));

function upperDecile(xs: number[]): number {
  xs.sort((a, b) => a - b);
  const h = (xs.length - 1) * 0.9;
  const i = Math.floor(h);
  return xs[i] + (h - i) * ((xs[Math.min(xs.length - 1, i + 1)] ?? xs[i]) - xs[i]);
}

/**
 * Band scales from past actuals and their forecasts.
 * @example fitBandScale([0, 20], [{ p10: 5, p50: 10, p90: 15 }, { p10: 5, p50: 10, p90: 15 }], { minSamples: 1 })
 */
export function fitBandScale(actual: ArrayLike<number>, rows: ArrayLike<QuantileValues>, opts: { minSamples?: number } = {}): BandScale {
  const lo: number[] = [];
  const hi: number[] = [];
  for (let i = 0; i < actual.length; i++) {
    const y = actual[i];
    const r = rows[i];
    if (!Number.isFinite(y) || !Number.isFinite(r.p50)) continue;
    const wl = r.p50 - r.p10;
    const wh = r.p90 - r.p50;
    if (wl > 0) lo.push((r.p50 - y) / wl);
    if (wh > 0) hi.push((y - r.p50) / wh);
  }
  const min = opts.minSamples ?? 100;
  if (lo.length < min || hi.length < min) return { ...IDENTITY_SCALE };
  return { lo: clamp(upperDecile(lo)), hi: clamp(upperDecile(hi)), n: Math.min(lo.length, hi.length) };
}

/** A forecast row with its band scaled (P50 unchanged). */
export function scaleBand<T extends QuantileValues>(row: T, s: BandScale): T {
  if (s.n === 0) return row;
  return { ...row, p10: row.p50 - s.lo * (row.p50 - row.p10), p90: row.p50 + s.hi * (row.p90 - row.p50) };
}
