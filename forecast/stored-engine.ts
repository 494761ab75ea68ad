import type { Database } from '../sql/database.js';
import { getChampion } from '../sql/forecast-model.repository.js';
import { storeChallenge } from './champion-store.js';
import type { ForecastEngine, RetrainFn } from './forecast-job.js';
import type { ForecastThreads } from './forecast-threads.js';
import { historyFromMs, loadTargetSeries, metersInSupply, parseTarget, resolveTarget } from './target.js';

/**
 * The engine the forecast worker and `mdm forecast` run on stored targets,
 * and the scheduled ML retrain. The database work (the target's stored ML
 * champion, its history, storing a retrained model) happens here, on the
 * main thread; the model code (forecast/engine runForecast, the retrain's
 * training and backtests) runs in a forecast thread (forecast/forecast-threads.ts),
 * so neither imports TensorFlow.js into the main thread.
 */

/**
 * The engine for stored targets: runForecast in a forecast thread, whose
 * `ml` is the target's promoted ML champion (frozen weights re-anchored on
 * the run's data, no training) when one is stored, else an ML model trained
 * in the run.
 */
export function storedTargetEngine(database: Database, threads: ForecastThreads): ForecastEngine {
  return async (series, ctx, horizon, opts) => {
    const champion = await getChampion(database, opts.target, 'ml');
    const r = await threads.forecast(
      {
        series,
        ctx: { issueTime: ctx.issueTime, dataCutoff: ctx.dataCutoff, country: ctx.country },
        horizon: { fromMs: horizon.fromMs, toMs: horizon.toMs, name: horizon.name },
        opts: { model: opts.model, target: opts.target, timezone: opts.timezone, dayAheadCutoff: opts.dayAheadCutoff },
        ...(champion ? { champion: { id: champion.id, artefact: champion.artefact } } : {}),
      },
      ctx.onProgress,
    );
    const info = { ...r.info, mlSource: champion ? { champion: champion.id, version: champion.version, trainedAt: champion.trainedAt } : 'trained in this run' };
    return { model: r.model, rows: r.rows, info, metrics: r.metrics };
  };
}

/**
 * The champion/challenger retrain of one target on its stored history up to
 * `now` (forecast/champion): history and the stored champion read here, the
 * challenger trained and both backtested day-ahead over the retrain's window
 * in a forecast thread, the outcome stored here.
 */
export function storedTargetRetrain(threads: ForecastThreads): RetrainFn {
  return async (database, text, { now }) => {
    const parsed = parseTarget(text);
    if (!parsed.ok) throw new Error(parsed.reason);
    const resolved = await resolveTarget(database, parsed.target);
    if (!resolved.ok) throw new Error(resolved.reason);
    const target = resolved.target;
    const cutoff = Math.floor(now / 3_600_000) * 3_600_000;
    const meters = metersInSupply(target.meters, cutoff, cutoff + 86_400_000);
    const loaded = await loadTargetSeries(database, target, meters, { historyFromMs: historyFromMs('day-ahead', cutoff), dataCutoffMs: cutoff, toMs: cutoff });
    const champion = await getChampion(database, target.text, 'ml');
    const c = await threads.challenge({
      series: loaded.members,
      ctx: { issueTime: now, dataCutoff: cutoff, country: target.country },
      ...(champion ? { champion: { id: champion.id, artefact: champion.artefact } } : {}),
      timezone: target.timezone,
      dayAheadCutoff: target.dayAheadCutoff,
    });
    const r = await storeChallenge(database, target.text, champion, c);
    return { promoted: r.outcome === 'promoted', outcome: r.outcome, reason: r.reason, model: r.model?.id ?? null };
  };
}
