import { datesBetween, shiftDate } from '../models/calendar.js';
import { adaptLevels, fitBandScale, IDENTITY_SCALE, INITIAL_LEVELS, levelsOf, scaleBand, type AdaptiveLevels, type BandScale, type CalibrationOptions } from './calibration.js';
import { combineQuantiles, ENSEMBLE_POWER, inverseErrorWeights } from './models/ensemble.js';
import { DEFAULT_DAY_AHEAD_CUTOFF, horizonWindow, localTimeOn, parseCutoff, type HorizonWindow } from './horizon.js';
import { combineMetrics, evaluate, skill, type ForecastMetrics, type QuantileValues } from './metrics.js';
import type { FitContext, FittedModel, ForecastModel, HorizonName, QuantileRow, SeriesData } from './model.js';
import { orderedRow } from './quantiles.js';
import { temperatureFromVintages } from './weather-vintages.js';
import { gaussian, seededRandom } from '../models/random.js';
import { simulateForecastTemperature, type WeatherErrorModel } from './weather-error-model.js';
import { DAY_MS, HOUR_MS } from '../models/time.js';

/**
 * Rolling-origin backtest (issue 5, "Backtests and accuracy"): replays issue
 * times — one per local day at the issue time of day (for day-ahead: the
 * cut-off) — and at each one fits every model on what was known then and
 * forecasts the horizon, exactly as the engine does live.
 *
 * No leakage:
 * - every model gets copies of the series in which values at or after the
 *   origin's data cut-off are NaN, whatever the model does with them;
 * - temperatures before the issue time are observations; from the issue time
 *   on they stand for the weather forecast. Without archived weather forecasts
 *   the observed temperature is used in their place (a perfect forecast, which
 *   flatters weather-driven models), optionally with a simulated forecast
 *   error (`temperatureNoiseC`): one offset per origin N(0, σ) plus hourly
 *   N(0, σ/2), seeded; or (`weatherError`) by the documented error model of
 *   forecast/weather-error-model, the same for every series of one origin.
 *
 * Refit cadence: a model whose FittedModel has `update` is trained at the
 * first origin and again every `refitEveryDays` days; in between it is
 * re-anchored on the new data (`update`, no training). Models without
 * `update` are fitted at every origin (naive and profile fits are cheap).
 *
 * Live behaviour replayed: `fillFrom` fills the hours a model left empty
 * from another (the engine fills from naive), and `calibrate` rescales each
 * model's P10/P90 band at every origin on earlier origins only
 * (forecast/calibration), as the engine does with its short backtest.
 *
 * Evaluation is over common hours: an hour counts for every model when its
 * actual is known and every model forecast it (a model's missing hours are
 * counted in `missing`), so skill compares like with like.
 */

export interface BacktestEnsemble {
  /** Names of models in `models` (or of ensembles defined before this one) whose forecasts are combined. */
  readonly members: readonly string[];
  /**
   * `weighted` (default): weights ∝ 1/WAPE^power. `best`: all weight on the
   * member with the lowest WAPE (ties to the earlier member) — the engine's
   * `auto` choice replayed origin by origin.
   */
  readonly mode?: 'weighted' | 'best';
  /**
   * With `best`: keep this member unless another's WAPE is lower by more than
   * `margin` of it (0.05 = 5 %); default none (plain lowest WAPE).
   */
  readonly prefer?: { readonly member: string; readonly margin: number };
  /** Weights from the members' pooled WAPE over the origins of the last `windowDays` days whose hours are known by the cut-off; default 14. */
  readonly windowDays?: number;
  /** Weight ∝ 1 / WAPE^power; default ENSEMBLE_POWER (2). */
  readonly power?: number;
}

export interface BacktestOptions {
  /** Models by name, in the order they are reported. */
  readonly models: Readonly<Record<string, ForecastModel>>;
  /** Name of the model skill is measured against; default 'naive' (skill omitted when absent). */
  readonly baseline?: string;
  /** Ensembles computed from member forecasts of the same origins (no extra fits). */
  readonly ensembles?: Readonly<Record<string, BacktestEnsemble>>;
  readonly horizon?: HorizonName;
  /** Local dates YYYY-MM-DD of the first and last issue day (inclusive). */
  readonly fromDate: string;
  readonly toDate: string;
  /** Zone of the issue days and horizon windows; default the first series' zone. */
  readonly timezone?: string;
  /** Day-ahead cut-off HH:MM (default 10:00). */
  readonly dayAheadCutoff?: string;
  /** Local time HH:MM of each issue; default the day-ahead cut-off. */
  readonly issueAt?: string;
  /** Issue every n days; default 1. */
  readonly stepDays?: number;
  /** Holiday calendar country; null: none (FitContext.country). */
  readonly country: string | null;
  /** Days between trainings of models that support `update`; default 7. */
  readonly refitEveryDays?: number;
  /** Only this many days of history before each cut-off are given to the models; default all. */
  readonly historyDays?: number;
  /** Simulated temperature forecast error σ (°C); default 0 (observed temperatures as the forecast). */
  readonly temperatureNoiseC?: number;
  /**
   * Temperatures from each issue time on simulated by the documented weather
   * forecast error model (forecast/weather-error-model: AR(1), sd growing
   * with the lead), seeded per origin; wins over temperatureNoiseC.
   */
  readonly weatherError?: { readonly seed: number; readonly model?: Partial<WeatherErrorModel> };
  readonly seed?: number;
  /** Also evaluate the sum of the series (a portfolio) with the sum of each model's forecasts. */
  readonly portfolio?: { readonly id: string };
  /**
   * A model (earlier in `models`) whose forecast fills the hours another model
   * left without a value, as the engine does live; counted in `filled`. Default none.
   */
  readonly fillFrom?: string;
  /**
   * Calibrate every model's P10/P90 band at each origin on its forecasts of
   * earlier origins already known at the cut-off (forecast/calibration), per
   * series, over the last `windowDays` (default 28), with adaptive levels
   * (`gamma`) and `warmUpDays` replayed before `fromDate` and not scored.
   * CALIBRATION is what the engine, the CLI and the bench use. Default off.
   */
  readonly calibrate?: CalibrationOptions;
  /**
   * Local date YYYY-MM-DD: origins issued before it are replayed (they feed
   * band calibration and ensemble weights) but not scored. Default: all scored.
   */
  readonly scoreFrom?: string;
  /** Keep every forecast and actual (engine: ensemble weights, quantile calibration). */
  readonly keepForecasts?: boolean;
  /**
   * Lowest value a quantile may take (0 for consumption: forecast/quantiles
   * orderedRow), applied to every model's rows, calibrated bands and sums, as
   * the engine does live. Default none (rows as the models give them).
   */
  readonly floor?: number;
  /** Fraction done 0..1 after each origin. */
  readonly onProgress?: (fraction: number, note: string) => void;
}

export interface ModelScore {
  readonly metrics: ForecastMetrics;
  /** 1 − MAE/MAE(baseline) over the same hours; undefined without a baseline. */
  readonly skill?: number;
}

export interface BacktestResult {
  /** Every origin replayed (also the unscored ones before `scoreFrom`). */
  readonly issueTimes: readonly number[];
  /** Model names (models then ensembles). */
  readonly models: readonly string[];
  readonly baseline?: string;
  /** Per model: one score per series, in series order. */
  readonly perSeries: Readonly<Record<string, readonly (ModelScore & { readonly id: string })[]>>;
  /** Per model, pooled over all series (WAPE = Σ|e|/Σ|actual| over every hour). */
  readonly aggregate: Readonly<Record<string, ModelScore>>;
  /** Per model, the portfolio (sum of series) forecast as the sum of the series forecasts. */
  readonly portfolio?: Readonly<Record<string, ModelScore>>;
  /** Per model: hours a model left without a finite P50 where the actual was known. */
  readonly missing: Readonly<Record<string, number>>;
  /** Per model: hours filled from `fillFrom`. */
  readonly filled: Readonly<Record<string, number>>;
  /** Per model: band scales of the last origin, per series (with `calibrate`). */
  readonly bandScales?: Readonly<Record<string, readonly BandScale[]>>;
  /**
   * With `calibrate`: the scales for the next issue, once every replayed
   * origin is known (what the engine applies to its live forecast), per
   * model and series, and per model for the portfolio sum.
   */
  readonly nextBandScales?: { readonly series: Readonly<Record<string, readonly BandScale[]>>; readonly portfolio?: Readonly<Record<string, BandScale>> };
  /** Origins scored (issued on or after `scoreFrom` and `fromDate`). */
  readonly scoredOrigins: number;
  /** Per model: wall time in fit, update and predict (ms). */
  readonly elapsedMs: Readonly<Record<string, number>>;
  /** Per model: `info` of its last fit. */
  readonly info: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
  /** Per ensemble: the weights at the last origin, by member. */
  readonly weights?: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** With keepForecasts: per series the samples (hour starts, actuals) and per model the forecasts, sample-aligned. */
  readonly samples?: {
    readonly start: readonly number[];
    readonly origin: readonly number[];
    readonly actual: readonly Float64Array[];
    readonly forecasts: Readonly<Record<string, readonly QuantileValues[][]>>;
    /** Before band calibration. */
    readonly raw: Readonly<Record<string, readonly QuantileValues[][]>>;
    /** With `portfolio`: Σ actuals (NaN where a member is unknown), Σ forecasts before and after the portfolio band calibration. */
    readonly portfolio?: {
      readonly actual: readonly number[];
      readonly raw: Readonly<Record<string, readonly QuantileValues[]>>;
      readonly forecasts: Readonly<Record<string, readonly QuantileValues[]>>;
    };
  };
}

/** Issue times of a backtest: one per `stepDays` local day from `fromDate` to `toDate`, at local `issueAt`. */
export function issueTimes(fromDate: string, toDate: string, timezone: string, issueAt: string, stepDays = 1): number[] {
  const minute = parseCutoff(issueAt);
  return datesBetween(fromDate, toDate)
    .filter((_, i) => i % stepDays === 0)
    .map((d) => localTimeOn(d, minute, timezone));
}

/**
 * What a model may see at one origin: values up to the data cut-off (NaN
 * after, grid to the horizon end), temperatures to the horizon end with the
 * simulated forecast error after the issue time.
 */
export function seriesAsOf(
  s: SeriesData,
  issueTime: number,
  dataCutoff: number,
  toMs: number,
  historyDays?: number,
  temperatureNoise?: { sigma: number; rand: () => number },
  weatherError?: BacktestOptions['weatherError'],
): SeriesData {
  const first = historyDays ? Math.max(s.startMs, Math.floor((dataCutoff - historyDays * DAY_MS - s.startMs) / HOUR_MS) * HOUR_MS + s.startMs) : s.startMs;
  const off = (first - s.startMs) / HOUR_MS;
  const len = Math.max(0, Math.ceil((toMs - first) / HOUR_MS));
  const known = Math.max(0, Math.min(len, Math.floor((dataCutoff - first) / HOUR_MS), s.values.length - off));
  const values = new Float64Array(len).fill(Number.NaN);
  values.set(s.values.subarray(off, off + known));
  let estimated: Uint8Array | undefined;
  if (s.estimated) {
    estimated = new Uint8Array(len);
    estimated.set(s.estimated.subarray(off, off + known));
  }
  let temperature: Float64Array | undefined;
  if (s.temperature) {
    temperature = new Float64Array(len).fill(Number.NaN);
    const avail = Math.max(0, Math.min(len, s.temperature.length - off));
    temperature.set(s.temperature.subarray(off, off + avail));
    if (weatherError) {
      temperature = simulateForecastTemperature(temperature, { startMs: first, cutoffMs: issueTime, seed: weatherError.seed, model: weatherError.model });
    } else if (temperatureNoise && temperatureNoise.sigma > 0) {
      const { sigma, rand } = temperatureNoise;
      const originError = sigma * gaussian(rand);
      const firstForecast = Math.max(0, Math.ceil((issueTime - first) / HOUR_MS));
      for (let i = firstForecast; i < avail; i++) temperature[i] += originError + (sigma / 2) * gaussian(rand);
    }
  }
  // Stored weather forecasts issued by this origin's data cut-off, when the series carries them, win over observations and simulated errors (forecast/weather-vintages).
  if (temperature) temperature = temperatureFromVintages(temperature, first, s.temperatureVintages, dataCutoff) ?? temperature;
  return { id: s.id, timezone: s.timezone, startMs: first, values, estimated, temperature };
}

/** Value of series `s` for the hour starting at `t`, NaN outside its grid. */
function valueAt(s: SeriesData, t: number): number {
  const i = (t - s.startMs) / HOUR_MS;
  return i >= 0 && i < s.values.length && Number.isInteger(i) ? s.values[i] : Number.NaN;
}

const NAN_ROW: QuantileValues = { p10: Number.NaN, p50: Number.NaN, p90: Number.NaN };

/** Forecast rows of one series laid on the window's hours (missing hours NaN). */
function onWindow(rows: readonly QuantileRow[] | undefined, w: HorizonWindow): QuantileValues[] {
  const n = Math.round((w.toMs - w.fromMs) / HOUR_MS);
  const out: QuantileValues[] = new Array(n).fill(NAN_ROW);
  for (const r of rows ?? []) {
    const i = (r.start - w.fromMs) / HOUR_MS;
    if (i >= 0 && i < n && Number.isInteger(i)) out[i] = r;
  }
  return out;
}

/**
 * Sum of member forecasts for a portfolio hour. P50s add; the P10/P90
 * distances to the P50 are combined half as fully correlated (their sum) and
 * half as independent (root of the sum of squares): errors of buildings in
 * one place share the weather and the calendar, but not all of their noise.
 */
export function sumQuantiles(rows: readonly QuantileValues[]): QuantileValues {
  let p50 = 0,
    lo = 0,
    hi = 0,
    lo2 = 0,
    hi2 = 0;
  for (const r of rows) {
    p50 += r.p50;
    const l = Math.max(0, r.p50 - r.p10);
    const h = Math.max(0, r.p90 - r.p50);
    lo += l;
    hi += h;
    lo2 += l * l;
    hi2 += h * h;
  }
  return { p10: p50 - (lo + Math.sqrt(lo2)) / 2, p50, p90: p50 + (hi + Math.sqrt(hi2)) / 2 };
}

interface ModelState {
  fitted?: FittedModel;
  trainedAt: number;
}

/** Every ensemble's members are models or ensembles defined before it, and no name is both. */
function checkEnsembles(opts: BacktestOptions): void {
  const ensembleNames = Object.keys(opts.ensembles ?? {});
  for (const [k, [e, def]] of Object.entries(opts.ensembles ?? {}).entries()) {
    const unknown = def.members.filter((m) => !opts.models[m] && !ensembleNames.slice(0, k).includes(m));
    if (unknown.length || def.members.length === 0) throw new Error(`backtest: ensemble ${e} has members ${unknown.join(', ') || '(none)'} that are not among the models`);
    if (opts.models[e]) throw new Error(`backtest: ${e} names both a model and an ensemble`);
  }
}

/** An origin's samples [from, to), the end of its window, and whether it is a calibration warm-up origin (no ensemble weights from it). */
type OriginRange = { from: number; to: number; endMs: number; warmUp?: boolean };

/**
 * An ensemble's member weights at a data cut-off, from the members' WAPE over
 * the earlier origins whose whole window is known then (within its window
 * days): inverse-error weights, or all on the best member (mode best, with
 * its preferred member kept unless another beats it by the margin).
 */
function ensembleWeightsAt(def: BacktestEnsemble, cutoffMs: number, originRanges: readonly OriginRange[], actual: readonly number[][], raw: Readonly<Record<string, QuantileValues[][]>>): number[] {
  const windowMs = (def.windowDays ?? 14) * DAY_MS;
  const errors = def.members.map((m) => {
    const parts: ForecastMetrics[] = [];
    for (const r of originRanges) {
      if (r.warmUp || r.endMs > cutoffMs || r.endMs <= cutoffMs - windowMs) continue;
      actual.forEach((a, j) => parts.push(evaluate(a.slice(r.from, r.to), raw[m][j].slice(r.from, r.to))));
    }
    return parts.length ? combineMetrics(parts).wape : Number.NaN;
  });
  if (def.mode !== 'best') return inverseErrorWeights(errors, def.power ?? ENSEMBLE_POWER);
  const finite = errors.map((x, i) => [x, i] as const).filter(([x]) => Number.isFinite(x));
  let bestIdx = finite.length ? finite.reduce((a, b) => (b[0] < a[0] ? b : a))[1] : 0;
  const p = def.prefer ? def.members.indexOf(def.prefer.member) : -1;
  if (p >= 0 && Number.isFinite(errors[p]) && !(errors[bestIdx] < errors[p] * (1 - def.prefer!.margin))) bestIdx = p;
  return errors.map((_, i) => (i === bestIdx ? 1 : 0));
}

/** The band scale fitted on the samples of the known origins (identity when none is known yet). */
function bandScaleOver(known: readonly OriginRange[], actual: readonly number[], raw: readonly QuantileValues[], calibrate: CalibrationOptions, levels: AdaptiveLevels): BandScale {
  if (!known.length) return IDENTITY_SCALE;
  const a: number[] = [];
  const f: QuantileValues[] = [];
  for (const r of known) for (let i = r.from; i < r.to; i++) a.push(actual[i]), f.push(raw[i]);
  return fitBandScale(a, f, { minSamples: calibrate.minSamples, ...levelsOf(levels) });
}

/** The adaptive levels after the origins in `ranges` (their issued, calibrated rows against the actuals). */
function absorb(levels: AdaptiveLevels, ranges: readonly OriginRange[], actual: readonly number[], issued: readonly QuantileValues[], gamma: number): AdaptiveLevels {
  let l = levels;
  for (const r of ranges) l = adaptLevels(l, actual.slice(r.from, r.to), issued.slice(r.from, r.to), gamma);
  return l;
}

/**
 * Scores the backtest's samples: the common hours (actual known, every model
 * with a P50, issued from scoreFromMs on; each model's misses counted), per
 * series and pooled, skill against the baseline, and the portfolio sum
 * (NaN where any member hour is unknown or missed).
 */
function scoreSamples(p: {
  series: readonly SeriesData[];
  names: readonly string[];
  baseline: string | undefined;
  actual: readonly number[][];
  forecasts: Readonly<Record<string, QuantileValues[][]>>;
  sampleStart: readonly number[];
  sampleOrigin: readonly number[];
  portForecasts: Readonly<Record<string, QuantileValues[]>>;
  scoreFromMs: number;
  portfolio: boolean;
}): {
  masked: Float64Array[];
  missing: Record<string, number>;
  perSeries: Record<string, (ModelScore & { id: string })[]>;
  aggregate: Record<string, ModelScore>;
  portfolio?: Record<string, ModelScore>;
} {
  const { series, names, baseline, actual, forecasts, sampleStart, sampleOrigin, portForecasts, scoreFromMs } = p;
  const missing: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  const masked = series.map((_, j) => {
    const a = Float64Array.from(actual[j]);
    for (let i = 0; i < a.length; i++) {
      if (sampleOrigin[i] < scoreFromMs) a[i] = Number.NaN;
      if (!Number.isFinite(a[i])) continue;
      let ok = true;
      for (const n of names) {
        if (!Number.isFinite(forecasts[n][j][i].p50)) {
          missing[n]++;
          ok = false;
        }
      }
      if (!ok) a[i] = Number.NaN;
    }
    return a;
  });

  const perSeries: Record<string, (ModelScore & { id: string })[]> = {};
  const aggregate: Record<string, ModelScore> = {};
  for (const n of names) perSeries[n] = series.map((s, j) => ({ id: s.id, metrics: evaluate(masked[j], forecasts[n][j]) }));
  const withSkill = (m: ForecastMetrics, base: ForecastMetrics | undefined): ModelScore => ({ metrics: m, skill: base ? skill(m, base) : undefined });
  for (const n of names) {
    perSeries[n] = perSeries[n].map((q, j) => ({ ...q, ...withSkill(q.metrics, baseline ? perSeries[baseline][j].metrics : undefined) }));
  }
  const pooled = Object.fromEntries(names.map((n) => [n, combineMetrics(perSeries[n].map((q) => q.metrics))]));
  for (const n of names) aggregate[n] = withSkill(pooled[n], baseline ? pooled[baseline] : undefined);

  let portfolio: Record<string, ModelScore> | undefined;
  if (p.portfolio) {
    const total = sampleStart.map((_, i) => {
      let sum = 0;
      for (const a of masked) sum += a[i];
      return sum; // NaN when any member hour is unknown or missed
    });
    const pm = Object.fromEntries(names.map((n) => [n, evaluate(total, portForecasts[n])]));
    portfolio = Object.fromEntries(names.map((n) => [n, withSkill(pm[n], baseline ? pm[baseline] : undefined)]));
  }
  return { masked, missing, perSeries, aggregate, portfolio };
}

/**
 * Runs a rolling-origin backtest of `opts.models` (and `opts.ensembles`) on `series`.
 * @example
 * const r = await backtest(series, { models: { naive: naiveModel({ variant: 'd7' }), profile: profileModel() },
 *   fromDate: '2019-11-04', toDate: '2019-12-29', country: 'GB' });
 * r.aggregate.profile.skill // e.g. 0.31
 */
export async function backtest(series: readonly SeriesData[], opts: BacktestOptions): Promise<BacktestResult> {
  if (series.length === 0) throw new Error('backtest: no series');
  const tz = opts.timezone ?? series[0].timezone;
  const horizon = opts.horizon ?? 'day-ahead';
  const cutoff = opts.dayAheadCutoff ?? DEFAULT_DAY_AHEAD_CUTOFF;
  const warmUp = opts.calibrate?.warmUpDays ?? 0;
  const firstDate = warmUp > 0 ? shiftDate(opts.fromDate, -warmUp) : opts.fromDate;
  const origins = issueTimes(firstDate, opts.toDate, tz, opts.issueAt ?? cutoff, opts.stepDays ?? 1);
  const warmUpOrigins = warmUp > 0 ? origins.length - issueTimes(opts.fromDate, opts.toDate, tz, opts.issueAt ?? cutoff, opts.stepDays ?? 1).length : 0;
  if (origins.length === 0) throw new Error(`backtest: no issue day between ${opts.fromDate} and ${opts.toDate}`);
  const modelNames = Object.keys(opts.models);
  const ensembleNames = Object.keys(opts.ensembles ?? {});
  checkEnsembles(opts);
  const names = [...modelNames, ...ensembleNames];
  const baseline = opts.baseline ?? (opts.models.naive ? 'naive' : undefined);
  const refitMs = (opts.refitEveryDays ?? 7) * DAY_MS;
  const rand = seededRandom(opts.seed ?? 1);
  const floor = opts.floor;
  const ordered = floor === undefined ? (r: QuantileValues) => r : (r: QuantileValues) => orderedRow(r, floor);

  // Samples: one per (origin, hour of its window), shared by every series and model.
  const sampleStart: number[] = [];
  const sampleOrigin: number[] = [];
  const actual: number[][] = series.map(() => []);
  // raw: as the models said (the fill applied); forecasts: with the calibrated band (= raw without calibrate).
  const raw: Record<string, QuantileValues[][]> = Object.fromEntries(names.map((n) => [n, series.map(() => [])]));
  const forecasts: Record<string, QuantileValues[][]> = Object.fromEntries(names.map((n) => [n, series.map(() => [])]));
  const portRaw: Record<string, QuantileValues[]> = Object.fromEntries(names.map((n) => [n, []]));
  const portForecasts: Record<string, QuantileValues[]> = Object.fromEntries(names.map((n) => [n, []]));
  const portActual: number[] = [];
  const bandScales: Record<string, BandScale[]> = Object.fromEntries(names.map((n) => [n, series.map(() => IDENTITY_SCALE)]));
  const filled: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  const fill = opts.fillFrom;
  if (fill !== undefined && !opts.models[fill]) throw new Error(`backtest: fillFrom ${fill} is not among the models`);
  if (fill !== undefined && modelNames.indexOf(fill) !== 0) throw new Error(`backtest: fillFrom ${fill} must be the first model`);
  const calWindowMs = (opts.calibrate?.windowDays ?? 28) * DAY_MS;
  const gamma = opts.calibrate?.gamma ?? 0;
  // Adaptive levels per model and series (and per model for the portfolio), and how many origins they absorbed.
  const levels: Record<string, AdaptiveLevels[]> = Object.fromEntries(names.map((n) => [n, series.map(() => INITIAL_LEVELS)]));
  const portLevels: Record<string, AdaptiveLevels> = Object.fromEntries(names.map((n) => [n, INITIAL_LEVELS]));
  let absorbed = 0;
  const state: Record<string, ModelState> = Object.fromEntries(modelNames.map((n) => [n, { trainedAt: -Infinity }]));
  const elapsedMs: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  const weights: Record<string, Record<string, number>> = {};
  // Per origin, the sample range and each origin's data cut-off (ensemble weights look back).
  const originRanges: OriginRange[] = [];

  for (let k = 0; k < origins.length; k++) {
    const issueTime = origins[k];
    // This origin's rows per model and series as the model gave them (before the fill), and the ensembles'.
    const own: Record<string, QuantileValues[][]> = {};
    const w = horizonWindow(horizon, issueTime, tz, { dayAheadCutoff: cutoff });
    const ctx: FitContext = { issueTime, dataCutoff: w.dataCutoff, country: opts.country };
    const noise = opts.temperatureNoiseC ? { sigma: opts.temperatureNoiseC, rand } : undefined;
    const asOf = series.map((s) => seriesAsOf(s, issueTime, w.dataCutoff, w.toMs, opts.historyDays, noise, opts.weatherError));
    const first = sampleStart.length;
    for (let t = w.fromMs; t < w.toMs; t += HOUR_MS) {
      sampleStart.push(t);
      sampleOrigin.push(issueTime);
    }
    series.forEach((s, j) => {
      for (let t = w.fromMs; t < w.toMs; t += HOUR_MS) actual[j].push(valueAt(s, t));
    });
    for (const name of modelNames) {
      const t0 = performance.now();
      const st = state[name];
      if (st.fitted?.update && issueTime - st.trainedAt < refitMs) {
        st.fitted = await st.fitted.update(asOf, ctx);
      } else {
        st.fitted = await opts.models[name].fit(asOf, ctx);
        st.trainedAt = issueTime;
      }
      const rows = await st.fitted.predict({ fromMs: w.fromMs, toMs: w.toMs });
      own[name] = [];
      series.forEach((_, j) => {
        const win = onWindow(rows[j], w).map(ordered);
        own[name][j] = win.slice();
        if (fill && fill !== name) {
          const src = raw[fill][j];
          for (let i = 0; i < win.length; i++) {
            if (!Number.isFinite(win[i].p50) && Number.isFinite(src[first + i].p50)) {
              win[i] = src[first + i];
              filled[name]++;
            }
          }
        }
        raw[name][j].push(...win);
      });
      elapsedMs[name] += performance.now() - t0;
    }
    for (const e of ensembleNames) {
      const def = opts.ensembles![e];
      const t0 = performance.now();
      const wts = ensembleWeightsAt(def, w.dataCutoff, originRanges, actual, raw);
      weights[e] = Object.fromEntries(def.members.map((m, i) => [m, wts[i]]));
      own[e] = [];
      series.forEach((_, j) => {
        // Members as they forecast (an hour a member left empty is combined from the others, as ensembleModel does live);
        // an hour none forecast is filled like a model's.
        own[e][j] = [];
        for (let i = first; i < sampleStart.length; i++) {
          const row = ordered(
            combineQuantiles(
              def.members.map((m) => own[m][j][i - first]),
              wts,
            ),
          );
          own[e][j].push(row);
          const src = fill ? raw[fill][j][i] : undefined;
          if (src && !Number.isFinite(row.p50) && Number.isFinite(src.p50)) {
            raw[e][j].push(src);
            filled[e]++;
          } else raw[e][j].push(row);
        }
      });
      elapsedMs[e] += performance.now() - t0;
    }
    // Calibrated bands (or the raw ones) for this origin's samples, per model and series.
    const known = originRanges.filter((r) => r.endMs <= w.dataCutoff && r.endMs > w.dataCutoff - calWindowMs);
    // Origins whose hours became known since the last issue move the adaptive levels (their issued bands against the actuals).
    let fresh: OriginRange[] = [];
    if (opts.calibrate && gamma > 0) {
      const upTo = originRanges.findIndex((r, i) => i >= absorbed && r.endMs > w.dataCutoff);
      const end = upTo < 0 ? originRanges.length : upTo;
      fresh = originRanges.slice(absorbed, end);
      absorbed = end;
    }
    for (const n of names) {
      series.forEach((_, j) => {
        if (fresh.length) levels[n][j] = absorb(levels[n][j], fresh, actual[j], forecasts[n][j], gamma);
        const scale = opts.calibrate ? bandScaleOver(known, actual[j], raw[n][j], opts.calibrate, levels[n][j]) : IDENTITY_SCALE;
        bandScales[n][j] = scale;
        for (let i = first; i < sampleStart.length; i++) forecasts[n][j].push(ordered(scaleBand(raw[n][j][i], scale)));
      });
    }
    if (opts.portfolio) {
      for (const n of names) {
        if (fresh.length) portLevels[n] = absorb(portLevels[n], fresh, portActual, portForecasts[n], gamma);
        const scale = opts.calibrate ? bandScaleOver(known, portActual, portRaw[n], opts.calibrate, portLevels[n]) : IDENTITY_SCALE;
        for (let i = first; i < sampleStart.length; i++) {
          const row = ordered(sumQuantiles(series.map((_, j) => forecasts[n][j][i])));
          portRaw[n].push(row);
          portForecasts[n].push(ordered(scaleBand(row, scale)));
        }
      }
      for (let i = first; i < sampleStart.length; i++) {
        let sum = 0;
        for (const a of actual) sum += a[i];
        portActual.push(sum);
      }
    }
    originRanges.push({ from: first, to: sampleStart.length, endMs: w.toMs, warmUp: k < warmUpOrigins });
    opts.onProgress?.((k + 1) / origins.length, `origin ${k + 1}/${origins.length}`);
  }

  // The scales for the next issue: every replayed origin known (the live cut-off is after the last window's end).
  let nextBandScales: BacktestResult['nextBandScales'];
  if (opts.calibrate) {
    const lastEnd = Math.max(...originRanges.map((r) => r.endMs));
    const known = originRanges.filter((r) => r.endMs > lastEnd - calWindowMs);
    const rest = gamma > 0 ? originRanges.slice(absorbed) : [];
    const next: Record<string, BandScale[]> = {};
    const nextPort: Record<string, BandScale> = {};
    for (const n of names) {
      next[n] = series.map((_, j) => bandScaleOver(known, actual[j], raw[n][j], opts.calibrate!, absorb(levels[n][j], rest, actual[j], forecasts[n][j], gamma)));
      if (opts.portfolio) nextPort[n] = bandScaleOver(known, portActual, portRaw[n], opts.calibrate, absorb(portLevels[n], rest, portActual, portForecasts[n], gamma));
    }
    nextBandScales = { series: next, portfolio: opts.portfolio ? nextPort : undefined };
  }
  const scoreFromDate = opts.scoreFrom && opts.scoreFrom > opts.fromDate ? opts.scoreFrom : warmUp > 0 ? opts.fromDate : opts.scoreFrom;
  const scoreFromMs = scoreFromDate ? issueTimes(scoreFromDate, scoreFromDate, tz, opts.issueAt ?? cutoff)[0] : -Infinity;

  const { masked, missing, perSeries, aggregate, portfolio } = scoreSamples({
    series,
    names,
    baseline,
    actual,
    forecasts,
    sampleStart,
    sampleOrigin,
    portForecasts,
    scoreFromMs,
    portfolio: !!opts.portfolio,
  });

  const info = Object.fromEntries(modelNames.map((n) => [n, state[n].fitted?.info ?? {}]));
  return {
    issueTimes: origins,
    models: names,
    baseline,
    perSeries,
    aggregate,
    portfolio,
    missing,
    filled,
    bandScales: opts.calibrate ? bandScales : undefined,
    nextBandScales,
    scoredOrigins: origins.filter((t) => t >= scoreFromMs).length,
    elapsedMs,
    info,
    weights: ensembleNames.length ? weights : undefined,
    samples: opts.keepForecasts
      ? { start: sampleStart, origin: sampleOrigin, actual: masked, forecasts, raw, portfolio: opts.portfolio ? { actual: portActual, raw: portRaw, forecasts: portForecasts } : undefined }
      : undefined,
  };
}
