import { localDate, localMinuteOfDay, shiftDate } from '../models/calendar.js';
import { backtest, sumQuantiles, type BacktestResult, type ModelScore } from './backtest.js';
import { CALIBRATION, fitBandScale, IDENTITY_SCALE, scaleBand, type BandScale } from './calibration.js';
import { DEFAULT_DAY_AHEAD_CUTOFF, horizonWindow, localTimeOn, parseCutoff } from './horizon.js';
import type { QuantileValues } from './metrics.js';
import type { FitContext, ForecastModel, Horizon, HorizonName, ModelKind, QuantileRow, SeriesData } from './model.js';
import { ensembleModel, inverseErrorWeights } from './models/ensemble.js';
import { withTemperatureNormals } from './temperature-normals.js';
import { WEATHER_BACKTEST_SEED } from './weather-error-model.js';
import { mlModel } from './models/ml.js';
import { naiveModel } from './models/naive.js';
import { profileModel } from './models/profile.js';
import { historyMeanRows } from './models/history-mean.js';
import { orderedRow } from './quantiles.js';
import { HOUR_MS } from '../models/time.js';

/**
 * The forecast engine (issue 5): one call forecasts a target's series over a
 * horizon, choosing the model, applying the quality gates and deciding how a
 * portfolio is forecast. The forecast job (forecast/forecast-job.ts) calls it
 * as its ForecastEngine; benches call it directly.
 *
 * 1. Quality gates per series on the history before the cut-off (last 8
 *    weeks): `ml` needs ≥ 28 days of values with ≤ 30 % missing and no flat
 *    line (48 h of one value in the last week); `profile` needs ≥ 14 days;
 *    below that only `naive`. A series that
 *    fails the gate of the model used gets the best model it passes, and the
 *    reason is listed in info.fallbacks.
 * 2. A short rolling-origin backtest (forecast/backtest) over the last
 *    `backtestDays` (default 14) issue days whose horizon is already known at
 *    the cut-off, of naive, the requested model (with its members for an
 *    ensemble) or, for `auto`, of every kind. Its pooled metrics go with the
 *    run. Targets with more than `backtestMaxSeries` (100) members backtest an
 *    evenly spaced sample of them (the sampled members' sum standing in for
 *    the aggregate); the others take the sample's pooled band scales.
 * 3. `auto` takes the kind with the lowest pooled WAPE (ties to the simpler
 *    kind); an ensemble of profile and ml (weights ∝ 1/WAPE² of each in the
 *    same backtest) competes as a kind and is kept unless another kind beats
 *    it by more than AUTO_ENSEMBLE_MARGIN (10 %) of its WAPE. Without a possible backtest (too
 *    little history, long-term horizon), auto takes profile.
 * 4. Naive is always fitted and returned (`naive`): the bar every forecast is
 *    shown against. Hours the chosen model left empty are filled from naive
 *    (info.fallbacks), in the backtest too; hours naive leaves empty too (data
 *    ended over 8 weeks before the cut-off) from the member's own day-type ×
 *    hour means (models/history-mean, info.historyMean), so a member with any
 *    value is never silently missing from the sum (issue 12); info.notForecast
 *    lists those without one. Every row returned is ordered and floored
 *    (quantiles orderedRow, opts.floor default 0: active import is never negative).
 * 5. Quantile calibration: each series' P10/P90 band is rescaled by the
 *    adaptive split-conformal scales (forecast/calibration CALIBRATION) the
 *    short backtest carries to the next issue, so the band covers 80 % out of
 *    sample; the backtest itself calibrates each origin on earlier origins
 *    only, after CALIBRATION.warmUpDays replayed, unscored, issue days.
 * 6. Temperatures past the weather forecast (long-term; a station without a
 *    stored forecast) are month × local-hour normals of the observations
 *    (forecast/temperature-normals); info.temperatureNormalHours counts them.
 * 7. Portfolio and group targets: when `opts.target` names one of the series
 *    and there are others, that series is the aggregate (Σ members) and the
 *    others its members. Its forecast is either the sum of the member
 *    forecasts (`sum`) or the chosen model fitted on the aggregate series
 *    (`aggregate`), whichever had the lower WAPE on the aggregate in the
 *    backtest (sum without a backtest). info.portfolio says which and why.
 */

export type ModelChoice = 'auto' | ModelKind;

export interface QualityGateOptions {
  /** Days before the cut-off examined (default 56). */
  readonly windowDays?: number;
  /** Least days of values for ml (default 28) and profile (default 14). */
  readonly mlMinDays?: number;
  readonly profileMinDays?: number;
  /** Largest share of missing hours in the window for ml (default 0.3). */
  readonly maxMissingShare?: number;
  /** A run of identical values this long (hours) in the last week is a flat line (default 48). */
  readonly flatLineHours?: number;
}

export interface RunForecastOptions {
  readonly model: ModelChoice;
  /** Target text (`portfolio:P`): the series with this id is the aggregate of the others. */
  readonly target?: string;
  /** Horizon name for the backtest's replayed windows; default horizon.name, else day-ahead. */
  readonly horizonName?: HorizonName;
  /** Zone of issue days (default the aggregate's or first series' zone). */
  readonly timezone?: string;
  readonly dayAheadCutoff?: string;
  /** Issue days replayed by the short backtest; 0 = none (default 14). */
  readonly backtestDays?: number;
  /** Members backtested at most: larger targets backtest an evenly spaced sample (default 100). */
  readonly backtestMaxSeries?: number;
  /** Days between trainings of models with update() in the backtest (default: backtestDays, i.e. one training). */
  readonly refitEveryDays?: number;
  /** Simulated weather forecast error in the backtest (°C); default 0. */
  readonly temperatureNoiseC?: number;
  /** Model implementations by kind (defaults: naive d7, profile, ml; ensemble = profile + ml). */
  readonly models?: Partial<Record<Exclude<ModelKind, 'ensemble'>, ForecastModel>>;
  readonly gates?: QualityGateOptions;
  /**
   * Lowest value of any quantile (forecast/quantiles orderedRow): 0 (default)
   * for a non-negative channel such as active import; null for none.
   */
  readonly floor?: number | null;
}

export interface SeriesGate {
  readonly id: string;
  /** Best kind the series may use. */
  readonly level: 'ml' | 'profile' | 'naive';
  readonly knownDays: number;
  readonly missingShare: number;
  readonly reason?: string;
}

/** Scores of a model in the engine's backtest, as stored with the run. */
export interface ScoreSummary {
  readonly n: number;
  readonly mae: number;
  readonly rmse: number;
  readonly mape: number;
  readonly wape: number;
  readonly bias: number;
  readonly pinball: number;
  readonly coverage: number;
  readonly skill?: number;
}

export interface RunForecastResult {
  /** Kind used for the members (after auto choice). */
  readonly model: ModelKind;
  /** Hourly rows per series given, in order (the aggregate's per info.portfolio.method). */
  readonly rows: QuantileRow[][];
  /** Naive (d7) rows per series: the bar. */
  readonly naive: QuantileRow[][];
  readonly info: {
    readonly requested: ModelChoice;
    readonly chosen: ModelKind;
    readonly choice: string;
    readonly gates: readonly SeriesGate[];
    readonly fallbacks: readonly { readonly id: string; readonly model: ModelKind; readonly reason: string }[];
    readonly weights?: Readonly<Record<string, number>>;
    readonly portfolio?: { readonly id: string; readonly method: 'sum' | 'aggregate'; readonly reason: string; readonly membersLeftOut: number };
    /** Members forecast from the mean of their own values by day type and hour (naive had nothing to read: models/history-mean). */
    readonly historyMean: readonly string[];
    /** Members without a single finite forecast hour (no known value before the cut-off): left out of the sum. */
    readonly notForecast: readonly string[];
    /** Lowest quantile value (null: none). */
    readonly floor: number | null;
    readonly models: Readonly<Record<string, Readonly<Record<string, unknown>>>>;
    /** Hours of temperature filled with month × hour normals (past the weather forecast), all series. */
    readonly temperatureNormalHours: number;
    /** P10/P90 band scales per series fitted on the short backtest (forecast/calibration). */
    readonly bandScales: Readonly<Record<string, BandScale>>;
    readonly timings: Readonly<Record<string, number>>;
  };
  /** Short backtest: pooled per model over the members; for a portfolio also `sum` and `aggregate`. Null when none ran. */
  readonly metrics: {
    readonly backtest: {
      readonly fromDate: string;
      readonly toDate: string;
      readonly origins: number;
      readonly horizon: HorizonName;
      /** Members backtested; `sampled` when fewer than all (backtestMaxSeries). */
      readonly series: number;
      readonly sampled: boolean;
    };
    readonly models: Readonly<Record<string, ScoreSummary>>;
    readonly portfolio?: { readonly sum: Readonly<Record<string, ScoreSummary>>; readonly aggregate: Readonly<Record<string, ScoreSummary>> };
  } | null;
}

/**
 * auto keeps the ensemble unless another kind's backtest WAPE is lower by more
 * than this share of the ensemble's. Chosen on periods outside the benchmark's
 * (Turkey Jul–Dec 2016, Cambridge Mar–May 2019): plain lowest-WAPE choice over
 * 14 days was worse than the ensemble alone on both (docs/forecasting.md).
 */
export const AUTO_ENSEMBLE_MARGIN = 0.1;

const LEVEL_RANK = { naive: 0, profile: 1, ml: 2 } as const;
const KIND_RANK: Record<ModelKind, number> = { naive: 0, profile: 1, ml: 2, ensemble: 3 };

/** The quality gate of one series at `cutoff`. */
export function qualityGate(s: SeriesData, cutoff: number, opts: QualityGateOptions = {}): SeriesGate {
  const windowDays = opts.windowDays ?? 56;
  const mlMin = opts.mlMinDays ?? 28;
  const profileMin = opts.profileMinDays ?? 14;
  const maxMissing = opts.maxMissingShare ?? 0.3;
  const flat = opts.flatLineHours ?? 48;
  const end = Math.max(0, Math.min(s.values.length, Math.floor((cutoff - s.startMs) / HOUR_MS)));
  const start = Math.max(0, end - windowDays * 24);
  let known = 0;
  for (let i = start; i < end; i++) if (Number.isFinite(s.values[i])) known++;
  const span = end - start;
  const missingShare = span ? 1 - known / span : 1;
  const knownDays = known / 24;
  // Flat line: the longest run of one repeated value in the last week.
  let run = 1,
    longest = 0;
  for (let i = Math.max(start + 1, end - 168); i < end; i++) {
    const v = s.values[i];
    run = Number.isFinite(v) && v === s.values[i - 1] ? run + 1 : 1;
    if (Number.isFinite(v)) longest = Math.max(longest, run);
  }
  const base = { id: s.id, knownDays, missingShare };
  if (knownDays < profileMin) return { ...base, level: 'naive', reason: `too little history: ${knownDays.toFixed(1)} days of values in the last ${windowDays} (profile needs ${profileMin})` };
  if (longest >= flat) return { ...base, level: 'profile', reason: `flat line: the same value for ${longest} hours in the last week (profile leaves flat runs out as gaps)` };
  if (knownDays < mlMin) return { ...base, level: 'profile', reason: `too little history for ml: ${knownDays.toFixed(1)} days of values (needs ${mlMin})` };
  if (missingShare > maxMissing)
    return { ...base, level: 'profile', reason: `too many gaps for ml: ${(missingShare * 100).toFixed(0)} % of the last ${windowDays} days missing (at most ${(maxMissing * 100).toFixed(0)} %)` };
  return { ...base, level: 'ml' };
}

const summary = (s: ModelScore): ScoreSummary => ({
  n: s.metrics.n,
  mae: s.metrics.mae,
  rmse: s.metrics.rmse,
  mape: s.metrics.mape,
  wape: s.metrics.wape,
  bias: s.metrics.bias,
  pinball: s.metrics.pinball.mean,
  coverage: s.metrics.coverage,
  ...(s.skill === undefined ? {} : { skill: s.skill }),
});
const summaries = (r: Readonly<Record<string, ModelScore>>) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, summary(v)]));

/**
 * Backtest issue days for a horizon: the last `days` local dates whose window
 * (issued on that date) ends by `dataCutoff`.
 */
export function backtestDates(
  horizon: HorizonName,
  dataCutoff: number,
  timezone: string,
  days: number,
  dayAheadCutoff = DEFAULT_DAY_AHEAD_CUTOFF,
  issueAt = dayAheadCutoff,
): { fromDate: string; toDate: string } | undefined {
  let d = localDate(dataCutoff, timezone);
  const minute = parseCutoff(issueAt);
  for (let k = 0; k < 400; k++, d = shiftDate(d, -1)) {
    const issue = localTimeOn(d, minute, timezone);
    if (horizonWindow(horizon, issue, timezone, { dayAheadCutoff }).toMs <= dataCutoff) return { fromDate: shiftDate(d, -(days - 1)), toDate: d };
  }
  return undefined;
}

const NAN_ROW: QuantileValues = { p10: NaN, p50: NaN, p90: NaN };

/** Σ of the series hour by hour, NaN where any is unknown. */
function sumOf(id: string, series: readonly SeriesData[]): SeriesData {
  const first = series[0];
  const values = new Float64Array(first.values.length);
  for (const s of series) {
    if (s.startMs !== first.startMs || s.values.length !== first.values.length) throw new Error('runForecast: members on different grids cannot be summed');
    for (let i = 0; i < values.length; i++) values[i] += s.values[i];
  }
  return { id, timezone: first.timezone, startMs: first.startMs, values };
}

/** Sums member rows hour by hour (sumQuantiles), leaving out members without a finite forecast for that hour. */
function sumRows(memberRows: readonly (readonly QuantileRow[])[], horizon: Horizon): { rows: QuantileRow[]; leftOut: number } {
  const n = Math.round((horizon.toMs - horizon.fromMs) / HOUR_MS);
  const parts: QuantileValues[][] = Array.from({ length: n }, () => []);
  let leftOut = 0;
  for (const rows of memberRows) {
    let any = false;
    for (const r of rows) {
      const i = (r.start - horizon.fromMs) / HOUR_MS;
      if (i >= 0 && i < n && Number.isFinite(r.p50)) {
        parts[i].push(r);
        any = true;
      }
    }
    if (!any) leftOut++;
  }
  return { rows: parts.map((p, i) => ({ start: horizon.fromMs + i * HOUR_MS, ...(p.length ? sumQuantiles(p) : { p10: NaN, p50: NaN, p90: NaN }) })), leftOut };
}

/**
 * Forecasts `series` over `horizon` with data up to ctx.dataCutoff.
 *
 * @param series one per target: a meter, or a portfolio's members plus its aggregate (id = opts.target)
 * @param ctx issue time, data cut-off, holiday country, progress (0..1: backtest to 0.6, fits after)
 * @param horizon hours to forecast ([fromMs, toMs), e.g. from forecast/horizon horizonWindow), optionally with its name
 * @param opts model ('auto' or a kind), target, backtest length, model implementations
 * @example
 * const w = horizonWindow('day-ahead', issueTime, 'Europe/Istanbul');
 * const r = await runForecast(series, { issueTime, dataCutoff: w.dataCutoff, country: 'TR' },
 *   { ...w, name: 'day-ahead' }, { model: 'auto', target: 'portfolio:P1' });
 * r.model; r.rows[0]; r.info.portfolio?.method; r.metrics?.models.ensemble.wape
 */
export async function runForecast(given: readonly SeriesData[], ctx: FitContext, horizon: Horizon & { readonly name?: HorizonName }, opts: RunForecastOptions): Promise<RunForecastResult> {
  if (given.length === 0) throw new Error('runForecast: no series');
  const timings: Record<string, number> = {};
  // Hours past the weather forecast (long-term, or no forecast stored) get temperature normals.
  let normalHours = 0;
  const series = given.map((s) => {
    const r = withTemperatureNormals(s, ctx.issueTime, horizon.toMs);
    normalHours += r.filled;
    return r.series;
  });
  const progress = ctx.onProgress ?? (() => {});
  const floor = opts.floor === undefined ? 0 : opts.floor;
  const ordered = (r: QuantileRow): QuantileRow => (floor === null ? r : orderedRow(r, floor));
  const horizonName = opts.horizonName ?? horizon.name ?? 'day-ahead';
  const aggIndex = opts.target && series.length > 1 ? series.findIndex((s) => s.id === opts.target) : -1;
  const aggregate = aggIndex >= 0 ? series[aggIndex] : undefined;
  const members = series.filter((_, i) => i !== aggIndex);
  const memberIdx = series.map((_, i) => i).filter((i) => i !== aggIndex);
  const tz = opts.timezone ?? aggregate?.timezone ?? series[0].timezone;
  const base: BaseModels = {
    naive: opts.models?.naive ?? naiveModel({ variant: 'd7' }),
    profile: opts.models?.profile ?? profileModel(),
    ml: opts.models?.ml ?? mlModel(),
  };
  const gates = series.map((s) => qualityGate(s, ctx.dataCutoff, opts.gates));
  const memberGates = gates.filter((_, i) => i !== aggIndex);
  const bestLevel = memberGates.reduce((m, g) => Math.max(m, LEVEL_RANK[g.level]), 0);
  const requested = opts.model;

  // 1. The short backtest of the candidate kinds (0 → 0.6 of the progress).
  const t0 = performance.now();
  const short = await shortBacktest({ members, aggregate, base, requested, ctx, opts, horizonName, tz, floor, progress });
  if (short.bt) timings.backtestMs = performance.now() - t0;
  const { bt, btAgg, dates, sampled, sampleIdx } = short;

  // 2. The kind the members are forecast with.
  const { chosen, choice, weights } = chooseKind(requested, short, bestLevel);
  progress(0.6);

  // 3. Final fits: the chosen kind on the members that pass its gate, fallbacks on the others, naive on all.
  const t1 = performance.now();
  const modelOf = (k: ModelKind): ForecastModel => (k === 'ensemble' ? ensembleOf(base, weights ? [weights.profile, weights.ml] : undefined) : base[k]);
  const main = await fitSet(members, memberGates, chosen, { modelOf, ctx, horizon, progress, from: 0.6, to: 0.85 });
  const naiveFit = await base.naive.fit(series, ctx);
  const naiveRows = await naiveFit.predict({ fromMs: horizon.fromMs, toMs: horizon.toMs });
  const fallbacks = [...main.fallbacks];
  fillFromNaive(
    main,
    members,
    memberIdx.map((i) => naiveRows[i]),
    fallbacks,
  );
  // 4. Bands calibrated on the short backtest; 5. members nothing else could forecast: their own means.
  const scales = bt?.samples ? calibrateMemberBands(main, members, bt, short.sampleOf, fallbacks) : {};
  const historyMean = fillFromHistoryMeans(main, members, ctx, horizon, fallbacks);
  for (const rows of main.rows) for (let k = 0; k < rows.length; k++) rows[k] = ordered(rows[k]);
  const notForecast = members.filter((_, j) => !main.rows[j].some((r) => Number.isFinite(r.p50))).map((s) => s.id);
  timings.fitMs = performance.now() - t1;

  const rows: QuantileRow[][] = new Array(series.length);
  memberIdx.forEach((i, j) => (rows[i] = main.rows[j]));
  const models: Record<string, Readonly<Record<string, unknown>>> = { ...main.infos, naive: naiveFit.info };
  // 6. A portfolio or group: the sum of its members, or the chosen kind on the aggregate when that backtested better.
  let portfolio: RunForecastResult['info']['portfolio'];
  if (aggregate) {
    const agg = await forecastAggregate({ aggregate, gate: gates[aggIndex], memberRows: main.rows, chosen, modelOf, bt, btAgg, noBacktest: short.noBacktest, ctx, horizon });
    rows[aggIndex] = agg.rows.map(ordered);
    scales[aggregate.id] = agg.scale;
    if (agg.info) models.aggregate = agg.info;
    portfolio = agg.portfolio;
  }
  progress(1);

  return {
    model: chosen,
    rows,
    naive: naiveRows.map((rs) => rs.map(ordered)),
    info: { requested, chosen, choice, gates, fallbacks, weights, portfolio, historyMean, notForecast, floor, models, temperatureNormalHours: normalHours, bandScales: scales, timings },
    metrics:
      bt && dates
        ? {
            backtest: { ...dates, origins: bt.scoredOrigins, horizon: horizonName, series: sampled.length, sampled: sampleIdx !== undefined },
            models: summaries(bt.aggregate),
            ...(bt.portfolio && btAgg ? { portfolio: { sum: summaries(bt.portfolio), aggregate: summaries(btAgg.aggregate) } } : {}),
          }
        : null,
  };
}

/* ------------------------------------------------------- runForecast's steps */

interface BaseModels {
  readonly naive: ForecastModel;
  readonly profile: ForecastModel;
  readonly ml: ForecastModel;
}

type Fallback = { id: string; model: ModelKind; reason: string };

const ensembleOf = (base: BaseModels, weights?: number[]) => ensembleModel([base.profile, base.ml], { weights, names: ['profile', 'ml'] });

/** The kind a series of this gate is fitted with when `k` is asked: k itself, or the best its gate allows. */
function levelFor(g: SeriesGate, k: ModelKind): ModelKind {
  const needK = k === 'ensemble' || k === 'ml' ? 2 : LEVEL_RANK[k];
  if (LEVEL_RANK[g.level] >= needK) return k;
  return g.level;
}

interface ShortBacktest {
  readonly bt?: BacktestResult;
  readonly btAgg?: BacktestResult;
  /** Why there is no backtest ('' when there is one). */
  readonly noBacktest: string;
  readonly dates?: { fromDate: string; toDate: string };
  readonly withEnsemble: boolean;
  /** The members backtested: all, or an evenly spaced sample of large targets. */
  readonly sampled: readonly SeriesData[];
  readonly sampleIdx?: number[];
  /** Member index → its index in `sampled`. */
  readonly sampleOf: ReadonlyMap<number, number>;
}

/** The short backtest of the candidate kinds on the members (or a sample of them) and on the aggregate; none when there is too little history. */
async function shortBacktest(p: {
  members: readonly SeriesData[];
  aggregate?: SeriesData;
  base: BaseModels;
  requested: ModelChoice;
  ctx: FitContext;
  opts: RunForecastOptions;
  horizonName: HorizonName;
  tz: string;
  floor: number | null;
  progress: (f: number) => void;
}): Promise<ShortBacktest> {
  const { members, aggregate, base, requested, ctx, opts, horizonName, tz, floor, progress } = p;
  const candidates: Exclude<ModelKind, 'ensemble'>[] =
    requested === 'auto' ? ['naive', 'profile', 'ml'] : requested === 'ensemble' ? ['naive', 'profile', 'ml'] : requested === 'naive' ? ['naive'] : ['naive', requested];
  const withEnsemble = requested === 'auto' || requested === 'ensemble';
  const days = opts.backtestDays ?? 14;
  // Replayed issues happen at the live issue's local time of day (day-ahead: at the cut-off).
  const minute = localMinuteOfDay(ctx.issueTime, tz);
  const issueAt = `${String(Math.floor(minute / 60)).padStart(2, '0')}:${String(minute % 60).padStart(2, '0')}`;
  const dates = days > 0 && horizonName !== 'long-term' ? backtestDates(horizonName, ctx.dataCutoff, tz, days, opts.dayAheadCutoff, issueAt) : undefined;
  let noBacktest = days === 0 ? 'backtest turned off' : horizonName === 'long-term' ? 'no backtest for long-term (a year of windows)' : !dates ? 'no backtest window' : '';
  if (dates) {
    const firstOrigin = Date.parse(`${dates.fromDate}T00:00:00Z`);
    const hasHistory = members.some((s) => {
      const before = Math.floor((firstOrigin - s.startMs) / HOUR_MS);
      let k = 0;
      for (let i = 0; i < Math.min(before, s.values.length); i++) if (Number.isFinite(s.values[i])) k++;
      return k >= 14 * 24;
    });
    if (!hasHistory) noBacktest = `less than 14 days of history before the backtest window (${dates.fromDate} … ${dates.toDate})`;
  }
  // Large targets: the backtest runs on an evenly spaced sample of members.
  const maxSeries = opts.backtestMaxSeries ?? 100;
  const sampleIdx = members.length > maxSeries ? Array.from({ length: maxSeries }, (_, k) => Math.floor((k * members.length) / maxSeries)) : undefined;
  const sampled = sampleIdx ? sampleIdx.map((i) => members[i]) : members;
  const sampleOf = new Map((sampleIdx ?? members.map((_, i) => i)).map((i, k) => [i, k]));
  const out = { noBacktest, dates, withEnsemble, sampled, sampleIdx, sampleOf };
  if (!dates || noBacktest) return out;
  const common = {
    models: Object.fromEntries(candidates.map((k) => [k, base[k]])),
    ensembles: withEnsemble ? { ensemble: { members: ['profile', 'ml'], windowDays: days } } : undefined,
    horizon: horizonName,
    ...dates,
    timezone: tz,
    dayAheadCutoff: opts.dayAheadCutoff ?? DEFAULT_DAY_AHEAD_CUTOFF,
    issueAt: horizonName === 'day-ahead' ? undefined : issueAt,
    country: ctx.country,
    refitEveryDays: opts.refitEveryDays ?? days,
    temperatureNoiseC: opts.temperatureNoiseC,
    // Origins without a stored weather forecast vintage read observations through the documented error model, never as they are (issue 20).
    weatherError: opts.temperatureNoiseC ? undefined : { seed: WEATHER_BACKTEST_SEED },
    fillFrom: 'naive',
    calibrate: CALIBRATION,
    keepForecasts: true,
    floor: floor ?? undefined,
  };
  const bt = await backtest(sampled, { ...common, portfolio: aggregate ? { id: aggregate.id } : undefined, onProgress: (f) => progress((aggregate ? 0.4 : 0.6) * f) });
  let btAgg: BacktestResult | undefined;
  if (aggregate) {
    // With a sample, the sum of the sampled members stands in for the aggregate (same hours as the summed forecasts).
    const aggForBacktest = sampleIdx ? { ...sumOf(aggregate.id, sampled), temperature: aggregate.temperature, temperatureVintages: aggregate.temperatureVintages } : aggregate;
    btAgg = await backtest([aggForBacktest], { ...common, onProgress: (f) => progress(0.4 + 0.2 * f) });
  }
  return { ...out, bt, btAgg };
}

/** The kind the members are forecast with: the requested one, or auto's choice on the backtest; never one no member's gate allows. */
function chooseKind(requested: ModelChoice, short: ShortBacktest, bestLevel: number): { chosen: ModelKind; choice: string; weights?: Record<string, number> } {
  const { bt, withEnsemble, noBacktest } = short;
  let chosen: ModelKind;
  let choice: string;
  let weights: Record<string, number> | undefined;
  if (bt) {
    const wape = (k: string) => bt.aggregate[k]?.metrics.wape ?? NaN;
    if (withEnsemble) {
      const w = inverseErrorWeights([wape('profile'), wape('ml')]);
      weights = { profile: w[0], ml: w[1] };
    }
    if (requested === 'auto') {
      const ranked = [...bt.models].filter((k) => Number.isFinite(wape(k))).sort((a, b) => wape(a) - wape(b) || KIND_RANK[a as ModelKind] - KIND_RANK[b as ModelKind]);
      const lowest = (ranked[0] as ModelKind | undefined) ?? 'profile';
      const scores = ranked.map((k) => `${k} ${(wape(k) * 100).toFixed(2)} %`).join(', ');
      // The ensemble stays unless another kind is clearly better: 14 days choose noisily (see docs).
      const keepEnsemble = Number.isFinite(wape('ensemble')) && !(wape(lowest) < wape('ensemble') * (1 - AUTO_ENSEMBLE_MARGIN));
      chosen = keepEnsemble ? 'ensemble' : lowest;
      choice = keepEnsemble && lowest !== 'ensemble' ? `ensemble: no kind beats its backtest WAPE by more than ${AUTO_ENSEMBLE_MARGIN * 100} % (${scores})` : `lowest backtest WAPE: ${scores}`;
    } else {
      chosen = requested;
      choice = 'requested';
    }
  } else {
    chosen = requested === 'auto' ? 'profile' : requested;
    choice = requested === 'auto' ? `profile (${noBacktest})` : `requested (${noBacktest})`;
  }
  // A chosen kind no member may use at all.
  const need = chosen === 'ensemble' || chosen === 'ml' ? 2 : LEVEL_RANK[chosen];
  if (need > bestLevel) {
    const to = bestLevel === 1 ? 'profile' : 'naive';
    choice += `; no series passes the ${chosen} quality gate → ${to}`;
    chosen = to;
  }
  return { chosen, choice, weights };
}

interface FittedSet {
  rows: QuantileRow[][];
  readonly infos: Record<string, Readonly<Record<string, unknown>>>;
  readonly fallbacks: Fallback[];
  /** The kind each series was fitted with. */
  readonly kinds: ModelKind[];
}

/** Fits `kind` on the series whose gate allows it and the best allowed kind on the others, one fit per kind; a kind that throws leaves its series empty (naive fills them). */
async function fitSet(
  set: readonly SeriesData[],
  setGates: readonly SeriesGate[],
  kind: ModelKind,
  p: { modelOf: (k: ModelKind) => ForecastModel; ctx: FitContext; horizon: Horizon; progress: (f: number) => void; from: number; to: number },
): Promise<FittedSet> {
  const kinds = setGates.map((g) => levelFor(g, kind));
  const out: QuantileRow[][] = new Array(set.length);
  const infos: Record<string, Readonly<Record<string, unknown>>> = {};
  const fallbacks: Fallback[] = [];
  const groups = [...new Set(kinds)];
  for (const [gi, k] of groups.entries()) {
    const idx = kinds.map((kk, i) => (kk === k ? i : -1)).filter((i) => i >= 0);
    const part = idx.map((i) => set[i]);
    const span = (p.to - p.from) / groups.length;
    let rows: QuantileRow[][] = [];
    try {
      const fitted = await p.modelOf(k).fit(part, { ...p.ctx, onProgress: (f) => p.progress(p.from + span * (gi + f)) });
      rows = await fitted.predict({ fromMs: p.horizon.fromMs, toMs: p.horizon.toMs });
      infos[k] = fitted.info;
    } catch (err) {
      // A model that throws on these series (say, one member's absurd history) does not fail the run:
      // they get the naive forecast below, each listed in info.fallbacks with this reason (issue 11).
      if (k === 'naive') throw err;
      infos[k] = { fallback: `${k} failed: ${String((err as Error)?.message ?? err).slice(0, 300)}` };
    }
    idx.forEach((i, j) => (out[i] = rows[j] ?? []));
    if (k !== kind) for (const i of idx) fallbacks.push({ id: set[i].id, model: k, reason: setGates[i].reason ?? 'quality gate' });
  }
  return { rows: out, infos, fallbacks, kinds };
}

/** Hours the fitted kind left empty for a member get the naive forecast, noted as a fallback. */
function fillFromNaive(main: FittedSet, members: readonly SeriesData[], naiveRows: readonly QuantileRow[][], fallbacks: Fallback[]): void {
  main.rows.forEach((rows, j) => {
    const nr = naiveRows[j];
    const missing = rows.length === 0 || rows.some((r) => !Number.isFinite(r.p50));
    if (!missing) return;
    const byStart = new Map(rows.filter((r) => Number.isFinite(r.p50)).map((r) => [r.start, r]));
    main.rows[j] = nr.map((r) => byStart.get(r.start) ?? r);
    const reason = String((main.infos[main.kinds[j]] as { fallback?: unknown } | undefined)?.fallback ?? `${main.kinds[j]} gave no value for some hours`);
    fallbacks.push({ id: members[j].id, model: 'naive', reason });
  });
}

/** Band calibration of each member on the whole short backtest (every window of it is known at the cut-off); the scales by member id. */
function calibrateMemberBands(main: FittedSet, members: readonly SeriesData[], bt: BacktestResult, sampleOf: ReadonlyMap<number, number>, fallbacks: readonly Fallback[]): Record<string, BandScale> {
  const smp = bt.samples!;
  const next = bt.nextBandScales?.series ?? {};
  const scales: Record<string, BandScale> = {};
  // Members outside the sample take the scale fitted on every sampled series together (the scales are unit-free).
  const pooled = new Map<string, BandScale>();
  const pooledScale = (kind: string): BandScale => {
    let sc = pooled.get(kind);
    if (!sc) {
      const a: number[] = [];
      const f: QuantileValues[] = [];
      smp.actual.forEach((act, k) => act.forEach((y, i) => (a.push(y), f.push(smp.raw[kind]?.[k]?.[i] ?? NAN_ROW))));
      // At the sampled series' mean adaptive levels (forecast/calibration).
      const mean = (k: 'levelLo' | 'levelHi') => (next[kind]?.length ? next[kind].reduce((x, s) => x + (s[k] ?? 0.9), 0) / next[kind].length : 0.9);
      pooled.set(kind, (sc = smp.raw[kind] ? fitBandScale(a, f, { levelLo: mean('levelLo'), levelHi: mean('levelHi') }) : IDENTITY_SCALE));
    }
    return sc;
  };
  main.rows.forEach((rows, j) => {
    const kind = fallbacks.some((f) => f.id === members[j].id && f.model === 'naive') ? 'naive' : main.kinds[j];
    const k = sampleOf.get(j);
    const scale = (k === undefined ? undefined : next[kind]?.[k]) ?? pooledScale(kind);
    scales[members[j].id] = scale;
    main.rows[j] = rows.map((r) => scaleBand(r, scale));
  });
  return scales;
}

/**
 * Members naive could not forecast either (data ended over 8 weeks before the cut-off, or too sparse for
 * its lags): the mean of their own values by day type and hour, not a silent hole in the sum (issue 12).
 * Returns the ids of the members so filled.
 */
function fillFromHistoryMeans(main: FittedSet, members: readonly SeriesData[], ctx: FitContext, horizon: Horizon, fallbacks: Fallback[]): string[] {
  const filled: string[] = [];
  main.rows.forEach((rows, j) => {
    if (!rows.some((r) => !Number.isFinite(r.p50))) return;
    const hm = historyMeanRows(members[j], ctx, horizon);
    const byStart = new Map(rows.filter((r) => Number.isFinite(r.p50)).map((r) => [r.start, r]));
    if (!hm.rows.some((r) => Number.isFinite(r.p50) && !byStart.has(r.start))) return;
    main.rows[j] = hm.rows.map((r) => byStart.get(r.start) ?? r);
    filled.push(members[j].id);
    fallbacks.push({
      id: members[j].id,
      model: 'naive',
      reason: `no value for naive's weekly or daily lags (last value ${hm.info.lastValue}): mean of its own ${hm.info.values} values of the 8 weeks up to then, by day type and hour`,
    });
  });
  return filled;
}

/** The aggregate of a portfolio or group: the sum of its members' forecasts, or the chosen kind fitted on the aggregate when its backtest WAPE is lower; rows not yet ordered. */
async function forecastAggregate(p: {
  aggregate: SeriesData;
  gate: SeriesGate;
  memberRows: readonly QuantileRow[][];
  chosen: ModelKind;
  modelOf: (k: ModelKind) => ForecastModel;
  bt?: BacktestResult;
  btAgg?: BacktestResult;
  noBacktest: string;
  ctx: FitContext;
  horizon: Horizon;
}): Promise<{ rows: QuantileRow[]; scale: BandScale; info?: Readonly<Record<string, unknown>>; portfolio: NonNullable<RunForecastResult['info']['portfolio']> }> {
  const { aggregate, gate, chosen, bt, btAgg, horizon } = p;
  const summed = sumRows(p.memberRows, horizon);
  const sumWape = bt?.portfolio?.[chosen]?.metrics.wape;
  const aggWape = btAgg?.aggregate[chosen]?.metrics.wape;
  let method: 'sum' | 'aggregate' = 'sum';
  let reason: string;
  if (sumWape === undefined || aggWape === undefined || !Number.isFinite(sumWape) || !Number.isFinite(aggWape)) {
    reason = `sum of member forecasts (${p.noBacktest || 'no comparable backtest'})`;
  } else if (aggWape < sumWape && levelFor(gate, chosen) === chosen) {
    method = 'aggregate';
    reason = `${chosen} on the aggregate: backtest WAPE ${(aggWape * 100).toFixed(2)} % < sum of members ${(sumWape * 100).toFixed(2)} %`;
  } else {
    reason = `sum of members: backtest WAPE ${(sumWape * 100).toFixed(2)} % ≤ ${chosen} on the aggregate ${(aggWape * 100).toFixed(2)} %${levelFor(gate, chosen) !== chosen ? ` (aggregate fails the gate: ${gate.reason})` : ''}`;
  }
  const portfolio = { id: aggregate.id, method, reason, membersLeftOut: summed.leftOut };
  if (method === 'aggregate') {
    const fitted = await p.modelOf(chosen).fit([aggregate], p.ctx);
    const r = (await fitted.predict({ fromMs: horizon.fromMs, toMs: horizon.toMs }))[0] ?? [];
    const scale = btAgg?.nextBandScales?.series[chosen]?.[0] ?? IDENTITY_SCALE;
    const byStart = new Map(r.filter((x) => Number.isFinite(x.p50)).map((x) => [x.start, scaleBand(x, scale)]));
    return { rows: summed.rows.map((x) => byStart.get(x.start) ?? x), scale, info: fitted.info, portfolio };
  }
  const scale = bt?.nextBandScales?.portfolio?.[chosen] ?? IDENTITY_SCALE;
  return { rows: summed.rows.map((x) => scaleBand(x, scale)), scale, portfolio };
}
