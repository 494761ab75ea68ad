import type { QuantileValues } from './metrics.js';

/**
 * P10/P90 band calibration on past forecasts (issue 5: "quantiles are
 * calibrated"; issue 20: one calibration everywhere, 80 % ± 3 on rolling
 * backtests). Models make their bands from in-sample residuals or a pinball
 * head, which cover anything from 60 to 99 % out of sample. The fix is a
 * split-conformal scale of each side of the band, fitted on forecasts
 * already scored (earlier backtest origins):
 *
 *   sLo = (P50 − actual) / (P50 − P10),   sHi = (actual − P50) / (P90 − P50)
 *   kLo = quantile λLo of sLo,            kHi = quantile λHi of sHi
 *
 * so that on those forecasts a share 1 − λ of actuals falls below
 * P50 − kLo·(P50 − P10) (above P50 + kHi·(P90 − P50)). With λ = 0.9 that is
 * plain split conformal; but the errors of the next weeks are not those of
 * the last four (a cold spell, the Christmas weeks), and plain conformal
 * covered 70–79 % instead of 80 %. So the levels adapt (adaptive conformal
 * inference, Gibbs & Candès 2021): after each origin whose hours become
 * known, each side's miss target moves by γ × (0.1 − that origin's share of
 * actuals outside that side of its calibrated band):
 *
 *   αLo ← αLo + γ·(0.1 − missLo),   λLo = 1 − αLo (clamped to [0.5, 0.995])
 *
 * A side that missed too often gets a higher level, one that missed too
 * seldom a lower one, so the long-run share outside each side tends to 10 %
 * whatever the shift. γ = 0.02 (CALIBRATION.gamma): on the Cambridge
 * portfolio over 2019 0.01 left it at 79 %, 0.03 widened the pinball loss
 * for no coverage gained.
 *
 * Scales are clamped to [0.25, 8]; hours with a zero-width side are skipped;
 * fewer than `minSamples` usable hours leave the band as it is (scale 1).
 * Pure. The backtest (forecast/backtest), and through it the engine's runs,
 * the CLI backtest and the bench all calibrate with CALIBRATION; the
 * accuracy endpoint scores the runs' bands so calibrated.
 */
export interface BandScale {
  readonly lo: number;
  readonly hi: number;
  /** Hours the scales were fitted on (0: not fitted, scales 1). */
  readonly n: number;
  /** Quantile levels λ the scales were taken at (0.9 = plain split conformal). */
  readonly levelLo?: number;
  readonly levelHi?: number;
}

export const IDENTITY_SCALE: BandScale = { lo: 1, hi: 1, n: 0 };

export interface CalibrationOptions {
  /** Days of known origins the scales are fitted on (default 28). */
  readonly windowDays?: number;
  /** Least usable hours per side to fit (default 100); fewer: scale 1. */
  readonly minSamples?: number;
  /** Step γ of the adaptive levels (default 0: fixed levels 0.9). */
  readonly gamma?: number;
  /**
   * Issue days replayed before the first scored one, for the calibration
   * only (never scored): without them the first origins of a backtest have
   * nothing to calibrate on and show the raw band. Default 0.
   */
  readonly warmUpDays?: number;
}

/**
 * The calibration the engine's runs, the CLI backtest and the bench use: 28
 * days of known origins, adaptive levels (γ 0.02), 5 warm-up days (5 × 24
 * hours ≥ minSamples before the first scored origin).
 */
export const CALIBRATION = { windowDays: 28, minSamples: 100, gamma: 0.02, warmUpDays: 5 } as const satisfies CalibrationOptions;

/** The miss share each side of a P10–P90 band aims at. */
export const SIDE_MISS = 0.1;

const clamp = (x: number) => Math.min(8, Math.max(0.25, x));

function quantileOf(xs: number[], level: number): number {
  xs.sort((a, b) => a - b);
  const h = (xs.length - 1) * level;
  const i = Math.floor(h);
  return xs[i] + (h - i) * ((xs[Math.min(xs.length - 1, i + 1)] ?? xs[i]) - xs[i]);
}

/**
 * Band scales from past actuals and their forecasts, at quantile levels
 * `levelLo`/`levelHi` of the normalised errors (default 0.9 each).
 * @example fitBandScale([0, 20], [{ p10: 5, p50: 10, p90: 15 }, { p10: 5, p50: 10, p90: 15 }], { minSamples: 1 })
 */
export function fitBandScale(actual: ArrayLike<number>, rows: ArrayLike<QuantileValues>, opts: { minSamples?: number; levelLo?: number; levelHi?: number } = {}): BandScale {
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
  const levelLo = opts.levelLo ?? 1 - SIDE_MISS;
  const levelHi = opts.levelHi ?? 1 - SIDE_MISS;
  const s = { lo: clamp(quantileOf(lo, levelLo)), hi: clamp(quantileOf(hi, levelHi)), n: Math.min(lo.length, hi.length) };
  return levelLo === 1 - SIDE_MISS && levelHi === 1 - SIDE_MISS ? s : { ...s, levelLo, levelHi };
}

/** A forecast row with its band scaled (P50 unchanged). */
export function scaleBand<T extends QuantileValues>(row: T, s: BandScale): T {
  if (s.n === 0) return row;
  return { ...row, p10: row.p50 - s.lo * (row.p50 - row.p10), p90: row.p50 + s.hi * (row.p90 - row.p50) };
}

/** Adaptive miss targets α per side (start 0.1 each). */
export interface AdaptiveLevels {
  readonly alphaLo: number;
  readonly alphaHi: number;
  /** Origins absorbed. */
  readonly updates: number;
}

export const INITIAL_LEVELS: AdaptiveLevels = { alphaLo: SIDE_MISS, alphaHi: SIDE_MISS, updates: 0 };

const level = (alpha: number) => Math.min(0.995, Math.max(0.5, 1 - alpha));

/** The quantile levels λ of the adaptive state. */
export function levelsOf(a: AdaptiveLevels): { levelLo: number; levelHi: number } {
  return { levelLo: level(a.alphaLo), levelHi: level(a.alphaHi) };
}

/**
 * One adaptive step: the state after an origin whose hours are now known,
 * from its actuals and the calibrated band that was issued for them.
 * Hours without an actual or a forecast are skipped; no hour, no step.
 * @example adaptLevels(INITIAL_LEVELS, [1, 5], [{ p10: 2, p50: 3, p90: 4 }, { p10: 2, p50: 3, p90: 4 }], 0.02) // alphaLo 0.092, alphaHi 0.092
 */
export function adaptLevels(a: AdaptiveLevels, actual: ArrayLike<number>, issued: ArrayLike<QuantileValues>, gamma: number): AdaptiveLevels {
  if (!(gamma > 0)) return a;
  let n = 0,
    lo = 0,
    hi = 0;
  for (let i = 0; i < actual.length; i++) {
    const y = actual[i];
    const r = issued[i];
    if (!Number.isFinite(y) || !Number.isFinite(r.p50)) continue;
    n++;
    if (y < r.p10) lo++;
    else if (y > r.p90) hi++;
  }
  if (!n) return a;
  // Kept within a band where the levels still move (level() clamps to [0.5, 0.995]).
  const step = (alpha: number, miss: number) => Math.min(0.5, Math.max(-0.5, alpha + gamma * (SIDE_MISS - miss)));
  return { alphaLo: step(a.alphaLo, lo / n), alphaHi: step(a.alphaHi, hi / n), updates: a.updates + 1 };
}
