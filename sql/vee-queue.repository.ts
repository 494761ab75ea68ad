import { sql } from 'kysely';
import type { Database } from './database.js';

/**
 * The queue of meter/channel/local days awaiting validation. Ingest adds to
 * it in its own transaction (sql/reading-write.repository.ts); the VEE worker
 * claims entries, validates, then deletes what it claimed. An entry that gets
 * new data while claimed is re-armed (claimed_at back to NULL) and stays.
 */
export interface QueueEntry {
  readonly meterId: number;
  readonly channel: number;
  /** Local date YYYY-MM-DD in the meter's time zone. */
  readonly localDate: string;
}

/**
 * Claims up to `limit` entries, oldest first: unclaimed ones, and ones whose
 * claim is older than `staleBefore` (a worker that died). SKIP LOCKED lets
 * several instances drain the queue side by side.
 */
export async function claimQueue(database: Database, p: { limit: number; claimedAt: Date; staleBefore: Date }): Promise<QueueEntry[]> {
  // By row id (a TID scan): joined back on the key, the planner scanned the whole queue for every claim.
  const { rows } = await sql<QueueEntry>`
    UPDATE vee_queue q SET claimed_at = ${p.claimedAt.toISOString()}::timestamptz
    WHERE q.ctid = ANY(ARRAY(
      SELECT ctid FROM vee_queue
      WHERE claimed_at IS NULL OR claimed_at < ${p.staleBefore.toISOString()}::timestamptz
      ORDER BY enqueued_at LIMIT ${p.limit} FOR UPDATE SKIP LOCKED))
    RETURNING q.meter_id AS "meterId", q.channel, q.local_date::text AS "localDate"`.execute(database.db);
  return rows;
}

/**
 * The entries of `entries` still claimed at `claimedAt`, as row ids: one
 * primary-key probe per entry (LATERAL … OFFSET 0 keeps it a probe). Joined
 * directly, the planner estimates "claimed_at = this round's instant" at one
 * row (a value newer than its statistics) and compares every claimed row
 * with every entry: 250 000 comparisons, 100–300 ms for a round of 500.
 */
const stillClaimed = (entries: readonly QueueEntry[], claimedAt: Date) => sql`ARRAY(
  SELECT v.ctid FROM unnest(${entries.map((e) => e.meterId)}::int[], ${entries.map((e) => e.channel)}::smallint[], ${entries.map((e) => e.localDate)}::date[]) AS k(meter_id, channel, local_date)
  CROSS JOIN LATERAL (
    SELECT q.ctid, q.claimed_at FROM vee_queue q
    WHERE q.meter_id = k.meter_id AND q.channel = k.channel AND q.local_date = k.local_date OFFSET 0) v
  WHERE v.claimed_at = ${claimedAt.toISOString()}::timestamptz)`;

/** Deletes the claimed entries that were not re-armed meanwhile. */
export async function finishQueue(database: Database, entries: readonly QueueEntry[], claimedAt: Date): Promise<void> {
  if (entries.length === 0) return;
  await sql`DELETE FROM vee_queue WHERE ctid = ANY(${stillClaimed(entries, claimedAt)})`.execute(database.db);
}

/**
 * Parks claimed entries VEE could not validate until `retryAt` (issue 11:
 * a bad meter day must not be retried every round, nor block the queue):
 * their claim is moved so that it goes stale exactly then, when claimQueue
 * takes them again. New data for a parked day re-arms it (claimed_at NULL)
 * and it is validated at once. Entries re-armed meanwhile are left alone.
 */
export async function parkQueue(database: Database, entries: readonly QueueEntry[], p: { claimedAt: Date; retryAt: Date; staleMs: number }): Promise<void> {
  if (entries.length === 0) return;
  await sql`
    UPDATE vee_queue SET claimed_at = ${new Date(p.retryAt.getTime() - p.staleMs).toISOString()}::timestamptz
    WHERE ctid = ANY(${stillClaimed(entries, p.claimedAt)})`.execute(database.db);
}

/** Adds entries (on-demand runs, edits); existing ones are re-armed. */
export async function enqueue(database: Database, entries: readonly QueueEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await sql`
    INSERT INTO vee_queue (meter_id, channel, local_date)
    SELECT * FROM unnest(${entries.map((e) => e.meterId)}::int[], ${entries.map((e) => e.channel)}::smallint[], ${entries.map((e) => e.localDate)}::date[])
    ORDER BY 1, 2, 3
    ON CONFLICT (meter_id, channel, local_date) DO UPDATE SET claimed_at = NULL, enqueued_at = now() WHERE vee_queue.claimed_at IS NOT NULL`.execute(database.db);
}

/** Entries waiting (claimed or not) and the age of the oldest, for /health. */
export async function queueStats(database: Database): Promise<{ pending: number; oldest: Date | null }> {
  const { rows } = await sql<{ pending: number; oldest: Date | null }>`SELECT count(*)::int AS pending, min(enqueued_at) AS oldest FROM vee_queue`.execute(database.db);
  return rows[0];
}
