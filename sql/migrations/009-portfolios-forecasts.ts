import type { Migration } from './index.js';

/**
 * Portfolio settings (market area, time zone, weather station, day-ahead
 * cut-off; membership is `meters.portfolio`) and forecast storage shared by the
 * forecast module (writes runs and values) and imbalance (reads the newest
 * issued day-ahead P50 per meter and hour).
 *
 * forecast_values.target is the series a row belongs to: `meter:M`,
 * `group:G` or `portfolio:P` (a portfolio run also stores its member meters'
 * rows). Values are energy per hour in the channel's unit (kWh).
 */
export const portfoliosForecasts: Migration = {
  id: 9,
  name: 'portfolios-forecasts',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS portfolios (
        id               text PRIMARY KEY,
        area             text NOT NULL DEFAULT 'TR',
        currency         text NOT NULL DEFAULT 'TRY',
        timezone         text,
        weather_station  text,
        day_ahead_cutoff text NOT NULL DEFAULT '10:00' CHECK (day_ahead_cutoff ~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'),
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE IF NOT EXISTS forecast_runs (
        id           bigserial PRIMARY KEY,
        target       text NOT NULL,
        horizon      text NOT NULL,
        model        text NOT NULL DEFAULT 'auto',
        status       text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'running', 'done', 'failed')),
        progress     real NOT NULL DEFAULT 0,
        error        text,
        issue_time   timestamptz NOT NULL,
        data_cutoff  timestamptz,
        from_ts      timestamptz,
        to_ts        timestamptz,
        used_model   text,
        metadata     jsonb,
        metrics      jsonb,
        requested_by text,
        created_at   timestamptz NOT NULL DEFAULT now(),
        started_at   timestamptz,
        finished_at  timestamptz
      );
      CREATE INDEX IF NOT EXISTS forecast_runs_status_idx ON forecast_runs (status, id);
      CREATE INDEX IF NOT EXISTS forecast_runs_target_idx ON forecast_runs (target, horizon, issue_time DESC);

      CREATE TABLE IF NOT EXISTS forecast_values (
        run_id bigint NOT NULL REFERENCES forecast_runs (id) ON DELETE CASCADE,
        target text NOT NULL,
        start  timestamptz NOT NULL,
        p10    double precision,
        p50    double precision NOT NULL,
        p90    double precision,
        PRIMARY KEY (run_id, target, start)
      );
      CREATE INDEX IF NOT EXISTS forecast_values_target_start_idx ON forecast_values (target, start);
    `);
  },
};
