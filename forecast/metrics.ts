/**
 * Forecast accuracy metrics (issue 5, "Backtests and accuracy"). Pure.
 *
 * Conventions:
 * - An hour counts when its actual and its P50 are finite numbers; others are skipped.
 * - MAPE, WAPE and coverage are fractions (0.021 = 2.1 %); MAE, RMSE, bias and
 *   pinball losses are in the series' unit (kWh, MWh).
 * - MAPE leaves out near-zero hours: |actual| < 5 % of the mean |actual| of the
 *   evaluated hours (MAPE_NEAR_ZERO_SHARE). A 0.1 kWh hour of an office at night
 *   would otherwise dominate the mean. WAPE has no such problem and is the
 *   headline figure.
 * - Skill vs naive is 1 − MAE(model)/MAE(naive) over the same hours, which is
 *   also 1 − WAPE(model)/WAPE(naive) on those hours; > 0 beats naive.
 *
 * Results carry their sums, so per-series results pool into one figure for a
 * set of series (combineMetrics): pooled WAPE = Σ|error| / Σ|actual| over all
 * hours of all series; pooled MAPE keeps each series' own near-zero threshold.
 */

/** Hours with |actual| below this share of the mean |actual| are left out of MAPE. */
export const MAPE_NEAR_ZERO_SHARE = 0.05;

/** The quantiles every forecast row carries. */
export const QUANTILES = [0.1, 0.5, 0.9] as const;

export interface MetricSums {
  readonly n: number;
  readonly absError: number;
  readonly sqError: number;
  /** Σ (forecast − actual). */
  readonly error: number;
  readonly absActual: number;
  readonly ape: number;
  readonly apeHours: number;
  /** Pinball loss sums for P10, P50, P90. */
  readonly pinball10: number;
  readonly pinball50: number;
  readonly pinball90: number;
  /** Hours whose actual lies in [P10, P90]. */
  readonly covered: number;
}

export interface ForecastMetrics {
  /** Hours evaluated. */
  readonly n: number;
  readonly mae: number;
  readonly rmse: number;
  /** Fraction; NaN when no hour is above the near-zero threshold. */
  readonly mape: number;
  /** Hours in MAPE (n minus near-zero hours). */
  readonly mapeHours: number;
  /** Σ|error| / Σ|actual| (fraction). */
  readonly wape: number;
  /** Mean (forecast − actual): > 0 over-forecasts. */
  readonly bias: number;
  /** Mean pinball loss per quantile and their mean (series unit). */
  readonly pinball: { readonly p10: number; readonly p50: number; readonly p90: number; readonly mean: number };
  /** Share of hours with P10 ≤ actual ≤ P90; 0.8 when calibrated. */
  readonly coverage: number;
  readonly sums: MetricSums;
}

export interface QuantileValues {
  readonly p10: number;
  readonly p50: number;
  readonly p90: number;
}

/**
 * Pinball (quantile) loss of one forecast `f` of quantile `q` for actual `y`:
 * q·(y − f) when y ≥ f, (1 − q)·(f − y) otherwise.
 * @example pinballLoss(0.9, 100, 90) // 9
 */
export function pinballLoss(q: number, y: number, f: number): number {
  const d = y - f;
  return d >= 0 ? q * d : (q - 1) * d;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

const EMPTY_SUMS: MetricSums = {
  n: 0,
  absError: 0,
  sqError: 0,
  error: 0,
  absActual: 0,
  ape: 0,
  apeHours: 0,
  pinball10: 0,
  pinball50: 0,
  pinball90: 0,
  covered: 0,
};

/**
 * Metrics of one series' forecasts against its actuals (same length, hour by hour).
 * @example evaluate([100, 200], [{ p10: 90, p50: 110, p90: 120 }, { p10: 150, p50: 180, p90: 190 }]).mae // 15
 */
export function evaluate(actual: ArrayLike<number>, forecast: ArrayLike<QuantileValues>): ForecastMetrics {
  if (actual.length !== forecast.length) throw new Error(`evaluate: ${actual.length} actuals against ${forecast.length} forecasts`);
  let meanAbs = 0;
  let count = 0;
  for (let i = 0; i < actual.length; i++) {
    if (Number.isFinite(actual[i]) && Number.isFinite(forecast[i].p50)) {
      meanAbs += Math.abs(actual[i]);
      count++;
    }
  }
  meanAbs = count ? meanAbs / count : 0;
  const threshold = MAPE_NEAR_ZERO_SHARE * meanAbs;
  const s: Mutable<MetricSums> = { ...EMPTY_SUMS };
  for (let i = 0; i < actual.length; i++) {
    const y = actual[i];
    const f = forecast[i];
    if (!Number.isFinite(y) || !Number.isFinite(f.p50)) continue;
    const e = f.p50 - y;
    s.n++;
    s.error += e;
    s.absError += Math.abs(e);
    s.sqError += e * e;
    s.absActual += Math.abs(y);
    if (Math.abs(y) >= threshold && y !== 0) {
      s.ape += Math.abs(e) / Math.abs(y);
      s.apeHours++;
    }
    s.pinball10 += pinballLoss(0.1, y, f.p10);
    s.pinball50 += pinballLoss(0.5, y, f.p50);
    s.pinball90 += pinballLoss(0.9, y, f.p90);
    if (y >= f.p10 && y <= f.p90) s.covered++;
  }
  return fromSums(s);
}

/** Metrics from (pooled) sums. */
export function fromSums(s: MetricSums): ForecastMetrics {
  const n = s.n;
  const p10 = n ? s.pinball10 / n : NaN;
  const p50 = n ? s.pinball50 / n : NaN;
  const p90 = n ? s.pinball90 / n : NaN;
  return {
    n,
    mae: n ? s.absError / n : NaN,
    rmse: n ? Math.sqrt(s.sqError / n) : NaN,
    mape: s.apeHours ? s.ape / s.apeHours : NaN,
    mapeHours: s.apeHours,
    wape: s.absActual > 0 ? s.absError / s.absActual : NaN,
    bias: n ? s.error / n : NaN,
    pinball: { p10, p50, p90, mean: (p10 + p50 + p90) / 3 },
    coverage: n ? s.covered / n : NaN,
    sums: s,
  };
}

/**
 * Pools several results (e.g. every series of a backtest) into one: sums add
 * up, so WAPE is Σ|error| / Σ|actual| over all hours and MAE is per hour.
 */
export function combineMetrics(parts: readonly ForecastMetrics[]): ForecastMetrics {
  const s: Mutable<MetricSums> = { ...EMPTY_SUMS };
  for (const p of parts) {
    for (const k of Object.keys(s) as (keyof MetricSums)[]) s[k] += p.sums[k];
  }
  return fromSums(s);
}

/**
 * Skill vs a baseline over the same hours: 1 − MAE(model)/MAE(baseline)
 * (= 1 − WAPE ratio on those hours). 0.25 = a quarter less error than naive;
 * NaN when the baseline has no error to compare with.
 * @example skill(evaluate(a, model), evaluate(a, naive))
 */
export function skill(model: ForecastMetrics, baseline: ForecastMetrics): number {
  if (model.n !== baseline.n) throw new Error(`skill: ${model.n} hours against a baseline over ${baseline.n}: compare over the same hours`);
  return baseline.sums.absError > 0 ? 1 - model.sums.absError / baseline.sums.absError : NaN;
}

/** Percent text with one decimal, for tables: 0.0213 → "2.1 %". */
export const pct = (x: number): string => (Number.isFinite(x) ? `${(x * 100).toFixed(1)} %` : '–');
