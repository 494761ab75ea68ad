import type { ClaimRound, WorkMetrics } from '../models/work-metrics.js';
import { parseForecastSchedule } from '../models/forecast-schedule.js';
import type { Database } from '../sql/database.js';
import { createForecastWorker, type ForecastLog, type ForecastWorker } from './forecast-job.js';
import { createForecastThreads } from './forecast-threads.js';
import { storedTargetEngine, storedTargetRetrain } from './stored-engine.js';

/**
 * The forecast worker as a component of `mdm serve` (cli/components.ts):
 * executes queued runs, queues the scheduled ones (FORECAST_SCHEDULE) and
 * retrains ML champions. Models are fitted in FORECAST_THREADS worker
 * threads (forecast/forecast-threads.ts), started with the first run and
 * terminated when the component stops; database work stays on the main
 * thread.
 */

/** `mdm serve` factory (cli/components.ts): off when FORECAST_POLL_S is 0. */
export function forecastComponent(ctx: {
  readonly config: { readonly FORECAST_POLL_S: number; readonly FORECAST_SCHEDULE: string; readonly FORECAST_THREADS?: number };
  readonly database: Database;
  readonly claimRound?: ClaimRound;
  readonly work?: WorkMetrics;
}): ForecastWorker | undefined {
  if (ctx.config.FORECAST_POLL_S === 0) return undefined;
  const schedule = parseForecastSchedule(ctx.config.FORECAST_SCHEDULE);
  if (!schedule.ok) throw new Error(`FORECAST_SCHEDULE: ${schedule.reason}`); // loadConfig has checked it already
  const size = ctx.config.FORECAST_THREADS ?? 1;
  let log: ForecastLog | undefined;
  const threads = createForecastThreads({ size, log: (level, line, fields) => log?.[level]({ ...fields }, line) });
  const worker = createForecastWorker({
    database: ctx.database,
    engine: storedTargetEngine(ctx.database, threads),
    pollMs: ctx.config.FORECAST_POLL_S * 1000,
    schedule: schedule.entries,
    retrain: storedTargetRetrain(threads),
    concurrency: size,
    threads,
    claimRound: ctx.claimRound,
    work: ctx.work,
  });
  return {
    ...worker,
    async start(l) {
      log = l;
      await worker.start(l);
    },
  };
}
