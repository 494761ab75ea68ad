import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../sql/database.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

/**
 * Issue 19, sizing beyond one database server: the per-meter time-series
 * tables can be distributed by meter (Citus `create_distributed_table(…,
 * 'meter_id')`), which needs every primary key and unique index to contain
 * the distribution column; here it leads them, so a meter's rows stay
 * together. Read from the catalog after migrating, on every flavour.
 */
const TIME_SERIES = ['readings', 'reading_history', 'reading_notes', 'vee_queue', 'billing_daily', 'billing_monthly', 'billing_dirty', 'settlement_rows'];

/** Tables with a meter_id whose keys do not lead with it yet, and why (docs/deployment.md, Sizing). */
const NOT_YET: Record<string, string> = {
  meter_events: 'primary key is the event id; would become (meter_id, id) with an index on id',
  validation_issues: 'primary key is the issue id (the API addresses issues by it); would become (meter_id, id) with an index on id',
  alarms: 'primary key is the alarm id (the API and hooks address alarms by it)',
  alarm_rule_state: 'keyed by rule, then meter',
  billing_snapshots: 'keyed by period, then meter',
  nominations: 'keyed by portfolio and hour, then meter',
  meter_devices: 'registry (devices installed on a point, keyed by their own id): small, a Citus reference table rather than a distributed one',
  meter_attributes: 'registry (dated attribute versions, keyed by their own id): small, a Citus reference table rather than a distributed one',
  load_shape_meters: 'keyed by profile run, then meter: one row per meter and run',
};

describe.each(FLAVOURS)('tables distributable by meter (%s)', (flavour) => {
  let database: Database;
  let keys: { tbl: string; idx: string; cols: string }[];
  beforeAll(async () => {
    database = await freshDatabase(flavour);
    const { rows } = await sql<{ tbl: string; idx: string; cols: string }>`
      SELECT c.relname AS tbl, i.relname AS idx,
             (SELECT string_agg(a.attname, ',' ORDER BY k.n) FROM unnest(ix.indkey) WITH ORDINALITY AS k(attnum, n)
              JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum) AS cols
      FROM pg_index ix JOIN pg_class c ON c.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND (ix.indisprimary OR ix.indisunique)
        AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'meter_id' AND NOT a.attisdropped)
      ORDER BY 1, 2`.execute(database.db);
    keys = rows;
  });
  afterAll(() => database?.close());

  it('every primary key and unique index of the time-series tables leads with meter_id', () => {
    for (const t of TIME_SERIES)
      expect(
        keys.some((k) => k.tbl === t),
        `${t} has a key`,
      ).toBe(true);
    expect(keys.filter((k) => TIME_SERIES.includes(k.tbl) && !k.cols.startsWith('meter_id,') && k.cols !== 'meter_id')).toEqual([]);
  });

  it('a table with a meter id is either distributable or listed with its reason (a new table must choose)', () => {
    const distributable = new Set(keys.filter((k) => k.cols.split(',').includes('meter_id')).map((k) => k.tbl));
    const offenders = [...new Set(keys.map((k) => k.tbl))].filter((t) => !TIME_SERIES.includes(t) && !(t in NOT_YET) && keys.some((k) => k.tbl === t && !k.cols.startsWith('meter_id')));
    expect(offenders).toEqual([]);
    expect(distributable.has('readings')).toBe(true);
  });
});
