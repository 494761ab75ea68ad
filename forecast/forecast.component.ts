import { parseForecastSchedule } from '../models/forecast-schedule.js';
import type { Database } from '../sql/database.js';
import { createForecastWorker, type ForecastWorker } from './forecast-job.js';

/**
 * The forecast worker as a component of `mdm serve` (cli/components.ts):
 * executes queued runs, queues the scheduled ones (FORECAST_SCHEDULE) and
 * retrains ML champions.
 */

/** `mdm serve` factory (cli/components.ts): off when FORECAST_POLL_S is 0. */
export function forecastComponent(ctx: {
  readonly config: { readonly FORECAST_POLL_S: number; readonly FORECAST_SCHEDULE: string };
  readonly database: Database;
}): ForecastWorker | undefined {
  if (ctx.config.FORECAST_POLL_S === 0) return undefined;
  const schedule = parseForecastSchedule(ctx.config.FORECAST_SCHEDULE);
  if (!schedule.ok) throw new Error(`FORECAST_SCHEDULE: ${schedule.reason}`); // loadConfig has checked it already
  return createForecastWorker({
    database: ctx.database,
    // The engine (and TensorFlow.js with it) is loaded when the first run executes, not at start.
    engine: async (...args) => (await import('./stored-engine.js')).storedTargetEngine(ctx.database)(...args),
    pollMs: ctx.config.FORECAST_POLL_S * 1000,
    schedule: schedule.entries,
    retrain: async (...args) => (await import('./stored-engine.js')).retrainStoredTarget(...args),
  });
}
