import type { Migration } from './index.js';

/**
 * Settlement data (uzlaştırma) and profile coefficients (issue 7,
 * docs/settlement.md).
 *
 * settlement_rows: every version of every hourly settlement figure ever
 * imported, never overwritten. An hour's settlement value is the one of the
 * highest version holding that (meter, start); only such rows are written
 * into readings (source `settlement`). Energies in kWh as settled (AFTER the
 * meter multiplier); `start` is the UTC instant the local hour begins.
 * `applied_batch` is the ingest batch that wrote the row into readings, null
 * when a higher version already held the hour (a late lower version).
 *
 * profile_coefficients: EPİAŞ "profil katsayıları", hourly multipliers per
 * distribution company (`region`), reading type (`reading_type`: single |
 * three-time, the meter's tariff) and subscriber profile group
 * (`profile_group`, the meter's profile class). Two layouts fit one table:
 * - per day and hour: `local_date` set, `day_type` null;
 * - per day type and hour: `local_date` null, `day_type` set (workday,
 *   saturday, sunday, holiday), for every date of `period` of that type.
 * `hour` is the local wall-clock hour 0–23 in the meter's time zone. `region`
 * `*` is the fallback for meters whose company has no rows (or no region).
 * Also: source `profile` (code 7) for the hourly estimates spread from them.
 */
export const settlement: Migration = {
  id: 13,
  name: 'settlement',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS settlement_rows (
        meter_id      integer NOT NULL,
        period        text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
        version       integer NOT NULL CHECK (version >= 1),
        start         timestamptz NOT NULL,
        withdrawal    double precision NOT NULL,
        supply        double precision,
        imported_at   timestamptz NOT NULL DEFAULT now(),
        imported_by   text,
        origin        text NOT NULL,
        applied_batch bigint,
        PRIMARY KEY (meter_id, period, version, start)  -- also serves every lookup: by meter and period, then version
      );

      CREATE TABLE IF NOT EXISTS profile_coefficients (
        period        text NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
        region        text NOT NULL,
        reading_type  text NOT NULL CHECK (reading_type IN ('single', 'three-time')),
        profile_group text NOT NULL,
        local_date    date,
        day_type      text CHECK (day_type IN ('workday', 'saturday', 'sunday', 'holiday')),
        hour          smallint NOT NULL CHECK (hour BETWEEN 0 AND 23),
        coefficient   double precision NOT NULL CHECK (coefficient >= 0),
        imported_at   timestamptz NOT NULL DEFAULT now(),
        imported_by   text,
        origin        text NOT NULL,
        CHECK ((local_date IS NULL) <> (day_type IS NULL))
      );
      CREATE UNIQUE INDEX IF NOT EXISTS profile_coefficients_uq
        ON profile_coefficients (period, region, reading_type, profile_group, coalesce(local_date, '0001-01-01'::date), coalesce(day_type, ''), hour);

      INSERT INTO sources VALUES (7, 'profile') ON CONFLICT DO NOTHING;
    `);
  },
};
