import type { Database } from '../sql/database.js';
import type { StoredForecastModel } from '../sql/forecast-model.repository.js';
import { localDate, shiftDate } from '../models/calendar.js';
import { backtest } from './backtest.js';
import type { FitContext, ForecastModel, SeriesData } from './model.js';
import { frozenMlModel, mlModel, type MlArtefact, type MlModelOptions } from './models/ml.js';
import { WEATHER_BACKTEST_SEED } from './weather-error-model.js';
import { DAY_MS } from '../models/time.js';

/**
 * Champion/challenger for stored ML models (issue 5, "only promoted when it
 * beats the current model on the backtest").
 *
 * A retrain trains a challenger on the data before a backtest window (the
 * last `backtestDays` whole days before the data cut-off), then backtests the
 * challenger and the stored champion as they are (frozen weights, lags and
 * levels re-anchored at each origin, no training) over that same window with
 * the caller's backtest. The challenger is saved; it is promoted when
 * shouldPromote says so, else retired. What was backtested is what is stored:
 * the promoted artefact is the one trained up to the window's start (its
 * per-series levels re-anchor at every forecast, so the weights do not go
 * stale in four weeks). A champion trained after the window's start has seen
 * part of the window; the challenger must then beat an optimistic figure,
 * which errs on the side of keeping the champion.
 */

/** What a promotion decision reads from a backtest (forecast/metrics ForecastMetrics fits). */
export interface PromotionMetrics {
  /** Hours evaluated. */
  readonly n: number;
  /** Σ|error| / Σ|actual| over the backtest (fraction). */
  readonly wape: number;
  readonly [key: string]: unknown;
}

export interface PromotionDecision {
  readonly promote: boolean;
  readonly reason: string;
}

/** Relative WAPE improvement a challenger needs to replace a champion (2 %: 10.0 % → below 9.8 %). */
export const PROMOTION_MARGIN = 0.02;

const pct = (x: number): string => `${(x * 100).toFixed(2)} %`;
const valid = (m: PromotionMetrics | undefined): boolean => m !== undefined && m.n > 0 && Number.isFinite(m.wape);

/**
 * Whether the challenger replaces the champion: it needs a valid backtest
 * (hours > 0, finite WAPE) and, when there is a champion with a valid
 * backtest on the same window, a WAPE below champion × (1 − margin).
 *
 * @example
 *   shouldPromote({ n: 168, wape: 0.10 }, { n: 168, wape: 0.097 }) // { promote: true, … }
 *   shouldPromote({ n: 168, wape: 0.10 }, { n: 168, wape: 0.099 }) // { promote: false, … } (within the margin)
 */
export function shouldPromote(champion: PromotionMetrics | undefined, challenger: PromotionMetrics, margin = PROMOTION_MARGIN): PromotionDecision {
  if (!valid(challenger)) return { promote: false, reason: `challenger has no valid backtest (${challenger.n} hours, WAPE ${challenger.wape})` };
  if (champion === undefined) return { promote: true, reason: 'no champion yet' };
  if (!valid(champion)) return { promote: true, reason: `champion has no valid backtest (${champion.n} hours, WAPE ${champion.wape})` };
  const bar = champion.wape * (1 - margin);
  return challenger.wape < bar
    ? { promote: true, reason: `challenger WAPE ${pct(challenger.wape)} < champion ${pct(champion.wape)} − ${pct(margin)} of it` }
    : { promote: false, reason: `challenger WAPE ${pct(challenger.wape)} does not beat champion ${pct(champion.wape)} by ${pct(margin)} of it` };
}

/** The window a retrain backtests over: [fromMs, toMs) with toMs = the data cut-off. */
export interface BacktestWindow {
  readonly fromMs: number;
  readonly toMs: number;
}

/**
 * The caller's backtest (the eval helper's rolling-origin backtest, wrapped):
 * replays issue times inside `window` on `series` with `model` (fitting it at
 * each origin: for frozen models that is cheap) and pools the metrics of all
 * series. Must not read data after each origin's cut-off.
 */
export type BacktestFn = (model: ForecastModel, series: readonly SeriesData[], window: BacktestWindow, ctx: FitContext) => Promise<PromotionMetrics>;

export interface RetrainOptions {
  /** Days of backtest before the cut-off (default 28). */
  readonly backtestDays?: number;
  readonly margin?: number;
  readonly ml?: MlModelOptions;
  /** Model kind label stored (default 'ml'). */
  readonly kind?: 'ml';
}

export interface RetrainResult {
  /** 'promoted' | 'retired' (challenger lost) | 'skipped' (quality gate: not trained). */
  readonly outcome: 'promoted' | 'retired' | 'skipped';
  readonly reason: string;
  readonly model?: StoredForecastModel;
  readonly championId?: number;
  readonly challengerMetrics?: PromotionMetrics;
  readonly championMetrics?: PromotionMetrics;
}

/**
 * What a challenge decided, before anything is stored: the challenger's
 * artefact with both backtests and the decision, or why no challenger was
 * trained. Plain data (it crosses from the forecast thread to the main thread).
 */
export type Challenge =
  | { readonly outcome: 'skipped'; readonly reason: string }
  | {
      readonly outcome: 'decided';
      readonly promote: boolean;
      readonly reason: string;
      readonly artefact: MlArtefact;
      /** Data cut-off of the challenger's training (the backtest window's start). */
      readonly trainedToMs: number;
      readonly metrics: Readonly<Record<string, unknown>>;
      readonly challengerMetrics: PromotionMetrics;
      readonly championMetrics?: PromotionMetrics;
    };

/** The stored champion a challenge competes with: its id and artefact. */
export interface ChampionInput {
  readonly id: number;
  readonly artefact: Readonly<Record<string, unknown>>;
}

/**
 * The fitting half of a retrain, no storage: trains a challenger on the data
 * before the backtest window, backtests it and the given champion (frozen)
 * over the window and decides (shouldPromote). Progress goes to
 * ctx.onProgress (training 0–0.6, backtests 0.6–1). The forecast thread runs
 * it (forecast/forecast-thread.ts, challengeTask); storeChallenge stores its outcome.
 */
export async function challenge(series: readonly SeriesData[], ctx: FitContext, champion: ChampionInput | undefined, backtest: BacktestFn, opts: RetrainOptions = {}): Promise<Challenge> {
  const progress = ctx.onProgress ?? (() => {});
  const windowStart = Math.floor(ctx.dataCutoff / 3_600_000) * 3_600_000 - (opts.backtestDays ?? 28) * DAY_MS;
  const window: BacktestWindow = { fromMs: windowStart, toMs: ctx.dataCutoff };
  const trainCtx: FitContext = { ...ctx, issueTime: windowStart, dataCutoff: windowStart, onProgress: (f) => progress(0.6 * f) };

  const fitted = await mlModel(opts.ml).fit(series, trainCtx);
  if (!fitted.artefact) return { outcome: 'skipped', reason: String(fitted.info.fallback ?? 'the ML model could not be trained') };
  const artefact = fitted.artefact;

  const challengerMetrics = await backtest(frozenMlModel(artefact), series, window, ctx);
  progress(0.8);
  let championMetrics: PromotionMetrics | undefined;
  let note = '';
  if (champion) {
    try {
      championMetrics = await backtest(frozenMlModel(champion.artefact), series, window, ctx);
    } catch (err) {
      // e.g. an artefact of an older format or another feature set: it cannot compete.
      note = `; champion ${champion.id} could not be backtested: ${(err as Error).message}`;
    }
  }
  progress(1);
  const decision =
    champion && championMetrics === undefined ? { promote: valid(challengerMetrics), reason: `champion unusable${note}` } : shouldPromote(championMetrics, challengerMetrics, opts.margin);
  const metrics = {
    backtest: { fromMs: window.fromMs, toMs: window.toMs },
    challenger: challengerMetrics,
    champion: championMetrics ?? null,
    championId: champion?.id ?? null,
    decision: decision.reason,
  };
  return { outcome: 'decided', promote: decision.promote, reason: decision.reason + note, artefact, trainedToMs: trainCtx.dataCutoff, metrics, challengerMetrics, championMetrics };
}

/**
 * Trains a challenger ML model for `target` on `series` (e.g. the meters of a
 * portfolio: one global model), backtests it against the stored champion and
 * stores it, promoted or retired (challenge, then storeChallenge, both in
 * the calling thread; the service splits them across its forecast thread). `ctx.dataCutoff` is the newest data to use; progress goes to
 * ctx.onProgress (training 0–0.6, backtests 0.6–1).
 *
 * @example
 *   const r = await retrain(database, 'portfolio:P1', series, { issueTime: now, dataCutoff: now, country: 'TR' }, backtest);
 *   // r.outcome === 'promoted' → getChampion(database, 'portfolio:P1', 'ml') is the new model
 */
export async function retrain(database: Database, target: string, series: readonly SeriesData[], ctx: FitContext, backtest: BacktestFn, opts: RetrainOptions = {}): Promise<RetrainResult> {
  // The database half is imported here, not at the top: the forecast threads load this module for
  // `challenge` and need no SQL (Kysely's few hundred modules cost a thread ~0.5 s of CPU to start).
  const [{ getChampion }, { storeChallenge }] = await Promise.all([import('../sql/forecast-model.repository.js'), import('./champion-store.js')]);
  const kind = opts.kind ?? 'ml';
  const champion = await getChampion(database, target, kind);
  return storeChallenge(database, target, champion, await challenge(series, ctx, champion, backtest, opts), kind);
}

export interface DayAheadBacktestOptions {
  /** Zone of the issue days (default the first series' zone). */
  readonly timezone?: string;
  /** Day-ahead cut-off HH:MM (default 10:00). */
  readonly dayAheadCutoff?: string;
  /** Simulated temperature forecast error σ (°C), default 0. */
  readonly temperatureNoiseC?: number;
}

/**
 * A BacktestFn over forecast/backtest.ts: day-ahead issues every day of the
 * window whose next day lies wholly before its end, metrics pooled over all
 * series.
 */
export function dayAheadBacktest(opts: DayAheadBacktestOptions = {}): BacktestFn {
  return async (model, series, window, ctx) => {
    const tz = opts.timezone ?? series[0].timezone;
    const fromDate = localDate(window.fromMs, tz);
    const toDate = shiftDate(localDate(window.toMs, tz), -2);
    if (toDate < fromDate) throw new Error(`backtest window ${new Date(window.fromMs).toISOString()} … ${new Date(window.toMs).toISOString()} holds no whole day-ahead day`);
    const r = await backtest(series, {
      models: { candidate: model },
      fromDate,
      toDate,
      timezone: tz,
      dayAheadCutoff: opts.dayAheadCutoff,
      temperatureNoiseC: opts.temperatureNoiseC,
      // As the runs' backtests: stored weather vintages where the series carry them, else the documented error model (issue 20).
      weatherError: opts.temperatureNoiseC ? undefined : { seed: WEATHER_BACKTEST_SEED },
      country: ctx.country,
    });
    const m = r.aggregate.candidate.metrics;
    return { n: m.n, wape: m.wape, mae: m.mae, rmse: m.rmse, mape: m.mape, pinball: m.pinball.mean, coverage: m.coverage, fromDate, toDate };
  };
}
