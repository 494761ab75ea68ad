import { sql } from 'kysely';
import type { Database } from './database.js';

/** Backlogs and open work a scrape of /metrics reports (api/metrics.ts), read in one statement. */
export interface BacklogCounts {
  readonly veeQueue: number;
  /** Age in seconds of the oldest VEE queue entry (0 when empty). */
  readonly veeQueueAgeS: number;
  readonly billingDirty: number;
  readonly billingDirtyAgeS: number;
  readonly hookDeliveries: { readonly pending: number; readonly delivering: number; readonly failed: number };
  /** Age in seconds of the oldest pending delivery (0 when none): how far work orders lag. */
  readonly hookPendingAgeS: number;
  readonly alarms: { readonly open: number; readonly acknowledged: number };
  readonly forecastRuns: { readonly queued: number; readonly running: number };
}

/**
 * Counts of the queues and open items. Only the states that stay small are
 * counted (delivered deliveries, closed alarms and finished runs grow
 * without end and are not scanned on every scrape).
 */
export async function backlogCounts(database: Database): Promise<BacklogCounts> {
  const age = (col: ReturnType<typeof sql>) => sql`coalesce(extract(epoch FROM now() - ${col}), 0)::float8`;
  const { rows } = await sql<{
    vee: number;
    vee_age: number;
    dirty: number;
    dirty_age: number;
    pending: number;
    delivering: number;
    failed: number;
    pending_age: number;
    open: number;
    acknowledged: number;
    queued: number;
    running: number;
  }>`
    SELECT
      (SELECT count(*) FROM vee_queue)::int AS vee,
      (SELECT ${age(sql`min(enqueued_at)`)} FROM vee_queue) AS vee_age,
      (SELECT count(*) FROM billing_dirty)::int AS dirty,
      (SELECT ${age(sql`min(marked_at)`)} FROM billing_dirty) AS dirty_age,
      (SELECT count(*) FROM hook_deliveries WHERE status = 'pending')::int AS pending,
      (SELECT count(*) FROM hook_deliveries WHERE status = 'delivering')::int AS delivering,
      (SELECT count(*) FROM hook_deliveries WHERE status = 'failed')::int AS failed,
      (SELECT ${age(sql`min(created_at)`)} FROM hook_deliveries WHERE status = 'pending') AS pending_age,
      (SELECT count(*) FROM alarms WHERE state = 'open')::int AS open,
      (SELECT count(*) FROM alarms WHERE state = 'acknowledged')::int AS acknowledged,
      (SELECT count(*) FROM forecast_runs WHERE status = 'queued')::int AS queued,
      (SELECT count(*) FROM forecast_runs WHERE status = 'running')::int AS running`.execute(database.db);
  const r = rows[0];
  return {
    veeQueue: r.vee,
    veeQueueAgeS: r.vee_age,
    billingDirty: r.dirty,
    billingDirtyAgeS: r.dirty_age,
    hookDeliveries: { pending: r.pending, delivering: r.delivering, failed: r.failed },
    hookPendingAgeS: r.pending_age,
    alarms: { open: r.open, acknowledged: r.acknowledged },
    forecastRuns: { queued: r.queued, running: r.running },
  };
}
