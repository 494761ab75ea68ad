import { sql } from 'kysely';
import type { Database } from './database.js';

/** Backlogs and open work a scrape of /metrics reports (api/metrics.ts), read in one statement, by queue name. */
export interface BacklogCounts {
  /** Items waiting: vee_queue, billing_dirty, hook deliveries by status, alarms by state, forecast runs by status. */
  readonly count: Readonly<Record<string, number>>;
  /** Age in seconds of the oldest waiting item (0 when none): VEE lag, rollup lag, how far work orders lag. */
  readonly oldestS: Readonly<Record<string, number>>;
}

/**
 * Counts of the queues and open items. Only the states that stay small are
 * counted (delivered deliveries, closed alarms and finished runs grow
 * without end and are not scanned on every scrape).
 */
export async function backlogCounts(database: Database): Promise<BacklogCounts> {
  const age = (col: ReturnType<typeof sql>) => sql`coalesce(extract(epoch FROM now() - ${col}), 0)::float8`;
  const { rows } = await sql<Record<string, number>>`
    SELECT
      (SELECT count(*) FROM vee_queue)::int AS vee_queue,
      (SELECT count(*) FROM billing_dirty)::int AS billing_dirty,
      (SELECT count(*) FROM hook_deliveries WHERE status = 'pending')::int AS hook_deliveries_pending,
      (SELECT count(*) FROM hook_deliveries WHERE status = 'delivering')::int AS hook_deliveries_delivering,
      (SELECT count(*) FROM hook_deliveries WHERE status = 'failed')::int AS hook_deliveries_failed,
      (SELECT count(*) FROM alarms WHERE state = 'open')::int AS alarms_open,
      (SELECT count(*) FROM alarms WHERE state = 'acknowledged')::int AS alarms_acknowledged,
      (SELECT count(*) FROM forecast_runs WHERE status = 'queued')::int AS forecast_runs_queued,
      (SELECT count(*) FROM forecast_runs WHERE status = 'running')::int AS forecast_runs_running,
      (SELECT ${age(sql`min(enqueued_at)`)} FROM vee_queue) AS "age:vee_queue",
      (SELECT ${age(sql`min(marked_at)`)} FROM billing_dirty) AS "age:billing_dirty",
      (SELECT ${age(sql`min(created_at)`)} FROM hook_deliveries WHERE status = 'pending') AS "age:hook_deliveries_pending"`.execute(database.db);
  const count: Record<string, number> = {};
  const oldestS: Record<string, number> = {};
  for (const [k, v] of Object.entries(rows[0])) {
    if (k.startsWith('age:')) oldestS[k.slice(4)] = Number(v);
    else count[k] = Number(v);
  }
  return { count, oldestS };
}

/**
 * Alarm transitions written to the shared outbox after id `afterId`, by
 * transition (opened, repeated, acknowledged, closed…), and the newest id:
 * the scrape adds them to its counters, reading each transition once (a range
 * of the primary key). The first scrape (afterId 0) counts the whole outbox.
 */
export async function alarmTransitionsAfter(database: Database, afterId: number): Promise<{ lastId: number; counts: Readonly<Record<string, number>> }> {
  const rows = await database.db
    .selectFrom('alarm_transitions')
    .select(['transition', sql<number>`count(*)::int`.as('n'), sql<string>`max(id)::text`.as('last')])
    .where('id', '>', afterId)
    .groupBy('transition')
    .execute();
  const counts: Record<string, number> = {};
  let lastId = afterId;
  for (const r of rows) {
    counts[r.transition] = Number(r.n);
    lastId = Math.max(lastId, Number(r.last));
  }
  return { lastId, counts };
}
