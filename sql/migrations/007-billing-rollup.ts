import type { Migration } from './index.js';

/**
 * The daily billing rollup (sql/billing-rollup.repository.ts): per meter,
 * energy channel and local date, what billing adds up; the queue of meter
 * days whose rollup is stale; and per meter the stamp of what its rollup
 * rows were computed with.
 */
export const billingRollup: Migration = {
  id: 7,
  name: 'billing-rollup',
  async up(s) {
    await s.exec(`
      -- Energies in 10⁻⁶ units (value × 10⁶ rounded per interval), before the multiplier.
      CREATE TABLE IF NOT EXISTS billing_daily (
        meter_id    integer NOT NULL,
        channel     smallint NOT NULL,
        local_date  date NOT NULL,
        energy      bigint NOT NULL,   -- intervals holding a value (quality <> missing)
        est_energy  bigint NOT NULL,   -- of which estimated or edited
        n_measured  integer NOT NULL,  -- measured or validated
        n_suspect   integer NOT NULL,
        n_estimated integer NOT NULL,
        n_edited    integer NOT NULL,
        n_missing   integer NOT NULL,  -- stored "missing" placeholders
        tou         bigint[] NOT NULL, -- energy per TOU bucket of the meter's tariff, in the order its stamp names them
        peak_rate   double precision,  -- highest value × 60 / interval minutes (active import), and its start
        peak_start  timestamptz,
        last_start  timestamptz,       -- last interval holding a value
        PRIMARY KEY (meter_id, channel, local_date)
      );
      CREATE INDEX IF NOT EXISTS billing_daily_date_idx ON billing_daily (local_date);

      -- Meter days whose rollup is stale: marked in the same transaction as the readings (ingest)
      -- or a TOU schedule change; maintenance drains it, billing reads those days raw meanwhile.
      CREATE TABLE IF NOT EXISTS billing_dirty (
        meter_id   integer NOT NULL,
        local_date date NOT NULL,
        marked_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (meter_id, local_date)
      );

      -- Meters whose days are in the rollup, with what the rows depend on (zone, interval, tariff and
      -- its bucket names); a meter whose stamp differs is billed from the readings until re-adopted.
      CREATE TABLE IF NOT EXISTS billing_rollup_meters (
        meter_id  integer PRIMARY KEY,
        stamp     text NOT NULL,
        rolled_at timestamptz NOT NULL DEFAULT now()
      );
    `);
  },
};
