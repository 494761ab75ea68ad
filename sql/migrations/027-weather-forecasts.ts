import type { Migration } from './index.js';

/**
 * Weather forecast vintages (issue 20, item 1), stored apart from the
 * observed temperatures (the `temperature` channel of weather-station meters
 * in `readings`): one row per location, issue time and forecast hour, so
 * that many forecasts of the same hour coexist. A forecast run reads, for each
 * hour after its data cut-off, the newest vintage issued at or before the
 * cut-off (forecast/weather-source.ts); a vintage issued later is never read.
 * `location` is the external id of the weather station the meters and
 * portfolios name as weatherStation (the station meter need not exist).
 * Re-importing the same location, issue time and hour replaces its value.
 */
export const weatherForecasts: Migration = {
  id: 27,
  name: 'weather-forecasts',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS weather_forecasts (
        location text NOT NULL CHECK (length(location) BETWEEN 1 AND 128),
        issued_at timestamptz NOT NULL,
        valid_time timestamptz NOT NULL,
        temperature double precision NOT NULL CHECK (temperature BETWEEN -90 AND 70),
        source text NOT NULL CHECK (length(source) BETWEEN 1 AND 200),
        imported_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (location, valid_time, issued_at)
      );
      CREATE INDEX IF NOT EXISTS weather_forecasts_issued ON weather_forecasts (location, issued_at)`);
  },
};
