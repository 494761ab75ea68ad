import { localDate, shiftDate } from '../models/calendar.js';
import type { Database } from '../sql/database.js';
import { getChampion } from '../sql/forecast-model.repository.js';
import { backtest } from './backtest.js';
import { retrain, type BacktestFn } from './champion.js';
import { runForecast } from './engine.js';
import type { ForecastEngine, RetrainFn } from './forecast-job.js';
import { frozenMlModel } from './models/ml.js';
import { historyFromMs, loadTargetSeries, metersInSupply, parseTarget, resolveTarget } from './target.js';

/**
 * The engine the forecast worker and `mdm forecast` run on stored targets
 * (forecast/engine runForecast, with the target's stored ML champion when
 * there is one) and the scheduled ML retrain. Loads TensorFlow.js: imported
 * only when a forecast actually runs.
 */

/**
 * The engine for stored targets: runForecast, whose `ml` is the target's
 * promoted ML champion (frozen weights re-anchored on the run's data, no
 * training) when one is stored, else an ML model trained in the run.
 */
export function storedTargetEngine(database: Database): ForecastEngine {
  return async (series, ctx, horizon, opts) => {
    const champion = await getChampion(database, opts.target, 'ml');
    const ml = champion ? frozenMlModel(champion.artefact) : undefined;
    const r = await runForecast(series, ctx, horizon, {
      model: opts.model,
      target: opts.target,
      timezone: opts.timezone,
      dayAheadCutoff: opts.dayAheadCutoff,
      ...(ml ? { models: { ml } } : {}),
    });
    const info = { ...r.info, mlSource: champion ? { champion: champion.id, version: champion.version, trainedAt: champion.trainedAt } : 'trained in this run' };
    return { model: r.model, rows: r.rows, info, metrics: r.metrics as Record<string, unknown> | null };
  };
}

/**
 * The champion/challenger retrain of one target on its stored history up to
 * `now` (forecast/champion retrain), backtested day-ahead with
 * forecast/backtest over the retrain's window.
 */
export const retrainStoredTarget: RetrainFn = async (database, text, { now }) => {
  const parsed = parseTarget(text);
  if (!parsed.ok) throw new Error(parsed.reason);
  const resolved = await resolveTarget(database, parsed.target);
  if (!resolved.ok) throw new Error(resolved.reason);
  const target = resolved.target;
  const cutoff = Math.floor(now / 3_600_000) * 3_600_000;
  const meters = metersInSupply(target.meters, cutoff, cutoff + 86_400_000);
  const loaded = await loadTargetSeries(database, target, meters, { historyFromMs: historyFromMs('day-ahead', cutoff), dataCutoffMs: cutoff, toMs: cutoff });
  const bt: BacktestFn = async (model, series, window, ctx) => {
    const fromDate = shiftDate(localDate(window.fromMs, target.timezone), 1);
    const toDate = shiftDate(localDate(window.toMs, target.timezone), -2); // D+1 of the last issue day is known by the cut-off
    const r = await backtest(series, { models: { ml: model }, horizon: 'day-ahead', fromDate, toDate, timezone: target.timezone, dayAheadCutoff: target.dayAheadCutoff, country: ctx.country });
    return { ...r.aggregate.ml.metrics };
  };
  const r = await retrain(database, target.text, loaded.members, { issueTime: now, dataCutoff: cutoff, country: target.country }, bt);
  return { promoted: r.outcome === 'promoted', outcome: r.outcome, reason: r.reason, model: r.model?.id ?? null };
};

