import type { Migration } from './index.js';

/**
 * Forecast runs may end `partial` (issue 12, defect 2): some members of a
 * group or portfolio could not be forecast by any model their data allows,
 * so the target's values leave them out. Such a run keeps its values (served
 * with that status) but is never reported as `done`. An index serves
 * GET /v1/forecasts/runs filtered by target, newest first.
 */
export const forecastPartial: Migration = {
  id: 17,
  name: 'forecast-partial',
  async up(s) {
    await s.exec(`
      ALTER TABLE forecast_runs DROP CONSTRAINT IF EXISTS forecast_runs_status_check;
      ALTER TABLE forecast_runs ADD CONSTRAINT forecast_runs_status_check CHECK (status IN ('queued', 'running', 'done', 'partial', 'failed'));
      CREATE INDEX IF NOT EXISTS forecast_runs_target_id_idx ON forecast_runs (target, id);
    `);
  },
};
