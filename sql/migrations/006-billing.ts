import { DEFAULT_TOU_SCHEDULES } from '../../models/tou.js';
import type { Migration } from './index.js';

const quote = (s: string) => `'${s.replace(/'/g, "''")}'`;

/**
 * Billing: TOU schedules per tariff with effective dates (seeded with the
 * Turkish three-time default), closed periods with a frozen figure snapshot
 * per meter, the last readiness result per period, and an index that makes
 * the data version (newest batch) a lookup.
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
    `);
  },
};
