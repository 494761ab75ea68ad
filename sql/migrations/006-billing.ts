import { DEFAULT_TOU_SCHEDULES } from '../../models/tou.js';
import type { Migration } from './index.js';

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * Billing: TOU schedules per tariff with effective dates (seeded with the
 * Turkish three-time default), closed periods with a frozen figure snapshot
 * per meter, the last readiness result per period, an index that makes the
 * data version (newest batch) a lookup, and the daily rollup billing reads
 * (with its dirty-day queue and per-meter stamps).
 */
export const billing: Migration = {
  id: 6,
  name: 'billing',
  async up(s) {
    const seed = DEFAULT_TOU_SCHEDULES.map((t) => `(${quote(t.tariff)}, ${quote(t.effectiveFrom)}, ${quote(JSON.stringify(t.buckets))}, 'migration')`).join(', ');
    await s.exec(`
      -- buckets: [{"name": "T1", "ranges": [{"from": "06:00", "to": "17:00"}]}, …] in local wall-clock time (models/tou.ts).
      CREATE TABLE IF NOT EXISTS tou_schedules (
        tariff         text NOT NULL,
        effective_from date NOT NULL,
        buckets        jsonb NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        created_by     text,
        PRIMARY KEY (tariff, effective_from)
      );
      INSERT INTO tou_schedules (tariff, effective_from, buckets, created_by) VALUES ${seed} ON CONFLICT DO NOTHING;

      CREATE TABLE IF NOT EXISTS billing_periods (
        period       text PRIMARY KEY CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
        closed_at    timestamptz NOT NULL DEFAULT now(),
        closed_by    text NOT NULL,
        data_version timestamptz NOT NULL,
        meters       integer NOT NULL
      );

      -- The figures of a closed period as billed; corrections compare them with the current data.
      CREATE TABLE IF NOT EXISTS billing_snapshots (
        period       text NOT NULL REFERENCES billing_periods (period),
        meter_id     integer NOT NULL,
        figures      jsonb NOT NULL,
        data_version timestamptz NOT NULL,
        closed_at    timestamptz NOT NULL,
        closed_by    text NOT NULL,
        PRIMARY KEY (period, meter_id)
      );

      -- Last readiness run per period (periodic component or GET); state_key says what data it saw.
      CREATE TABLE IF NOT EXISTS billing_readiness (
        period      text PRIMARY KEY,
        computed_at timestamptz NOT NULL,
        state_key   text NOT NULL,
        result      jsonb NOT NULL
      );

      CREATE INDEX IF NOT EXISTS ingest_batches_received_idx ON ingest_batches (received_at);

      -- Daily rollup of the energy channels per meter and local date (sql/billing-rollup.repository.ts):
      -- energies in 10⁻⁶ units (value × 10⁶ rounded per interval) before the multiplier.
      CREATE TABLE IF NOT EXISTS billing_daily (
        meter_id    integer NOT NULL,
        channel     smallint NOT NULL,
        local_date  date NOT NULL,
        energy      bigint NOT NULL,  -- intervals holding a value (quality <> missing)
        est_energy  bigint NOT NULL,  -- of which estimated or edited
        n_measured  integer NOT NULL, -- measured or validated
        n_suspect   integer NOT NULL,
        n_estimated integer NOT NULL,
        n_edited    integer NOT NULL,
        n_missing   integer NOT NULL, -- stored "missing" placeholders
        tou         bigint[] NOT NULL, -- energy per TOU bucket of the meter's tariff, in billing_rollup_meters.stamp order
        peak_rate   double precision, -- highest value × 60 / interval minutes, and its start
        peak_start  timestamptz,
        last_start  timestamptz,      -- last interval holding a value
        PRIMARY KEY (meter_id, channel, local_date)
      );
      CREATE INDEX IF NOT EXISTS billing_daily_date_idx ON billing_daily (local_date);

      -- Meter days whose rollup is stale: written in the same transaction as the readings (ingest),
      -- or by a TOU schedule change; the rollup maintenance drains it, billing reads those days raw.
      CREATE TABLE IF NOT EXISTS billing_dirty (
        meter_id   integer NOT NULL,
        local_date date NOT NULL,
        marked_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (meter_id, local_date)
      );

      -- Meters whose days are in the rollup, with what the rollup rows depend on (zone, interval,
      -- tariff and its bucket names); a meter whose stamp differs is billed from raw readings until re-rolled.
      CREATE TABLE IF NOT EXISTS billing_rollup_meters (
        meter_id  integer PRIMARY KEY,
        stamp     text NOT NULL,
        rolled_at timestamptz NOT NULL DEFAULT now()
      );
    `);
  },
};
