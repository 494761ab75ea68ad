import type { Migration } from './index.js';

/**
 * The id of the HTTP request that queued a forecast run (issue 19, tracing):
 * `X-Request-Id` as the API answered it, so the run's log lines on the worker
 * that computes it carry the same id as the request's. Null for scheduled
 * runs and runs queued before.
 */
export const forecastRunRequest: Migration = {
  id: 24,
  name: 'forecast-run-request',
  async up(s) {
    await s.exec(`ALTER TABLE forecast_runs ADD COLUMN IF NOT EXISTS request_id text;`);
  },
};
