import { sql } from 'kysely';
import type { DeliveryToSend } from '../models/hook.js';
import type { DeliveryStatus, HookFilter, HookTransitionName } from '../models/hook.js';
import type { Database } from './database.js';

/**
 * Hooks and their delivery outbox (migration 011). Delivery rows are written
 * by the trigger on alarm_transitions, in the alarm change's transaction; the
 * dispatcher (alarms/hook-dispatcher.ts) claims, sends and records them here.
 */

export interface HookRow {
  id: number;
  url: string;
  filter: HookFilter;
  transitions: HookTransitionName[];
  description: string | null;
  active: boolean;
  createdAt: Date;
  createdBy: string | null;
  deactivatedAt: Date | null;
  pending: number;
  failed: number;
}

const HOOK_COLUMNS = sql`h.id, h.url, h.codes, h.severities, h.groups, h.transitions, h.description, h.active,
  h.created_at AS "createdAt", h.created_by AS "createdBy", h.deactivated_at AS "deactivatedAt",
  (SELECT count(*) FROM hook_deliveries d WHERE d.hook_id = h.id AND d.status IN ('pending', 'delivering'))::int AS pending,
  (SELECT count(*) FROM hook_deliveries d WHERE d.hook_id = h.id AND d.status = 'failed')::int AS failed`;

type RawHook = Omit<HookRow, 'filter'> & { codes: string[] | null; severities: string[] | null; groups: string[] | null };

function hookOf(r: RawHook): HookRow {
  const { codes, severities, groups, ...rest } = r;
  const filter: HookFilter = {};
  if (codes) filter.codes = codes;
  if (severities) filter.severities = severities as HookFilter['severities'];
  if (groups) filter.groups = groups;
  return { ...rest, filter };
}

/**
 * Stores a hook that applies to transitions written from now on: its
 * from_transition_id is the newest transition id at creation.
 */
export async function createHook(
  database: Database,
  h: { url: string; secret: string; filter: HookFilter; transitions: readonly HookTransitionName[]; description?: string; createdBy: string },
): Promise<HookRow> {
  const { rows } = await sql<{ id: number }>`
    INSERT INTO hooks (url, secret, codes, severities, groups, transitions, description, created_by, from_transition_id)
    VALUES (${h.url}, ${h.secret}, ${h.filter.codes ?? null}::text[], ${h.filter.severities ?? null}::text[], ${h.filter.groups ?? null}::text[],
            ${[...h.transitions]}::text[], ${h.description ?? null}, ${h.createdBy},
            (SELECT coalesce(max(id), 0) FROM alarm_transitions))
    RETURNING id`.execute(database.db);
  return (await getHook(database, rows[0].id))!;
}

export async function getHook(database: Database, id: number): Promise<HookRow | undefined> {
  const { rows } = await sql<RawHook>`SELECT ${HOOK_COLUMNS} FROM hooks h WHERE h.id = ${id}`.execute(database.db);
  return rows[0] ? hookOf(rows[0]) : undefined;
}

export async function listHooks(database: Database, opts: { includeInactive: boolean }): Promise<HookRow[]> {
  const { rows } = await sql<RawHook>`
    SELECT ${HOOK_COLUMNS} FROM hooks h WHERE h.active OR ${opts.includeInactive} ORDER BY h.id`.execute(database.db);
  return rows.map(hookOf);
}

/**
 * Deactivates a hook; its deliveries not yet in flight become failed ("hook
 * deactivated"). Returns false when there is no active hook with that id.
 */
export async function deactivateHook(database: Database, id: number): Promise<boolean> {
  return database.session(async ({ db }) => {
    const r = await db.updateTable('hooks').set({ active: false, deactivated_at: sql`now()` }).where('id', '=', id).where('active', '=', true).returning('id').execute();
    if (r.length === 0) return false;
    await db.updateTable('hook_deliveries').set({ status: 'failed', last_error: 'hook deactivated before delivery' }).where('hook_id', '=', id).where('status', '=', 'pending').execute();
    return true;
  });
}

export interface DeliveryRow {
  id: string;
  hookId: number;
  alarmId: number;
  transitionId: number;
  transition: HookTransitionName;
  status: DeliveryStatus;
  attempts: number;
  nextAttemptAt: Date;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: Date;
  deliveredAt: Date | null;
}

const DELIVERY_COLUMNS = sql`id, hook_id AS "hookId", alarm_id AS "alarmId", transition_id AS "transitionId", transition, status, attempts,
  next_attempt_at AS "nextAttemptAt", last_status AS "lastStatus", last_error AS "lastError", created_at AS "createdAt", delivered_at AS "deliveredAt"`;

/** A hook's deliveries, newest transition first; `before` is a transition id (the page cursor). */
export async function listDeliveries(database: Database, p: { hookId: number; status?: DeliveryStatus; alarmId?: number; before?: number; limit: number }): Promise<DeliveryRow[]> {
  const { rows } = await sql<DeliveryRow>`
    SELECT ${DELIVERY_COLUMNS} FROM hook_deliveries
    WHERE hook_id = ${p.hookId}
      ${p.status ? sql`AND status = ${p.status}` : sql``}
      ${p.alarmId !== undefined ? sql`AND alarm_id = ${p.alarmId}` : sql``}
      ${p.before !== undefined ? sql`AND transition_id < ${p.before}` : sql``}
    ORDER BY transition_id DESC LIMIT ${p.limit}`.execute(database.db);
  return rows;
}

export async function getDelivery(database: Database, hookId: number, id: string): Promise<DeliveryRow | undefined> {
  const { rows } = await sql<DeliveryRow>`SELECT ${DELIVERY_COLUMNS} FROM hook_deliveries WHERE hook_id = ${hookId} AND id = ${id}`.execute(database.db);
  return rows[0];
}

/**
 * Queues a delivered or failed delivery again, under the same id (the
 * receiver's idempotency key), with a fresh attempt budget. Returns the row,
 * or undefined when it is pending or in flight.
 */
export async function redeliver(database: Database, hookId: number, id: string): Promise<DeliveryRow | undefined> {
  const { rows } = await sql<DeliveryRow>`
    UPDATE hook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = now(), delivered_at = NULL, last_error = NULL, last_status = NULL
    WHERE hook_id = ${hookId} AND id = ${id} AND status IN ('delivered', 'failed')
    RETURNING ${DELIVERY_COLUMNS}`.execute(database.db);
  return rows[0];
}

/**
 * Claims up to `limit` due deliveries: pending ones whose time has come, and
 * in-flight ones whose lease ran out (their dispatcher died mid-request).
 * Order per alarm and hook: a delivery waits while an earlier transition of
 * the same alarm to the same hook is pending or in flight. The claim counts
 * as an attempt and holds the row for `leaseMs`. SKIP LOCKED lets several
 * instances dispatch side by side.
 */
export async function claimDeliveries(database: Database, p: { limit: number; leaseMs: number }): Promise<DeliveryToSend[]> {
  const { rows } = await sql<DeliveryToSend>`
    WITH c AS (
      SELECT d.id FROM hook_deliveries d JOIN hooks h ON h.id = d.hook_id
      WHERE d.status IN ('pending', 'delivering') AND d.next_attempt_at <= now() AND h.active
        AND NOT EXISTS (
          SELECT 1 FROM hook_deliveries e
          WHERE e.hook_id = d.hook_id AND e.alarm_id = d.alarm_id AND e.transition_id < d.transition_id AND e.status IN ('pending', 'delivering'))
      ORDER BY d.next_attempt_at
      LIMIT ${p.limit}
      FOR UPDATE OF d SKIP LOCKED
    ), u AS (
      UPDATE hook_deliveries d SET status = 'delivering', attempts = d.attempts + 1, next_attempt_at = now() + ${p.leaseMs} * interval '1 millisecond'
      FROM c WHERE d.id = c.id
      RETURNING d.id, d.hook_id, d.alarm_id, d.transition_id, d.transition, d.attempts
    )
    SELECT u.id, u.hook_id AS "hookId", u.alarm_id AS "alarmId", u.transition_id AS "transitionId", u.transition, u.attempts,
           h.url, h.secret, t.at, t.actor, t.comment, t.payload
    FROM u JOIN hooks h ON h.id = u.hook_id JOIN alarm_transitions t ON t.id = u.transition_id
    ORDER BY u.transition_id`.execute(database.db);
  return rows;
}

/** The end of one attempt of a claimed delivery. */
export interface AttemptRecord {
  readonly id: string;
  /** The claim's attempt number (hook_deliveries.attempts when it was claimed). */
  readonly attempt: number;
  readonly status: 'delivered' | 'pending' | 'failed';
  /** pending: retry after this many ms. */
  readonly delayMs: number;
  readonly httpStatus: number | null;
  readonly error: string | null;
}

/**
 * Records the ends of attempts in one statement; returns the ids recorded. A
 * dispatcher whose claim ran out (another one has claimed the row since:
 * the attempt number moved on) changes nothing. A retry of a hook
 * deactivated meanwhile becomes failed.
 */
export async function recordAttempts(database: Database, records: readonly AttemptRecord[]): Promise<Set<string>> {
  if (records.length === 0) return new Set();
  const { rows } = await sql<{ id: string }>`
    UPDATE hook_deliveries d SET
      status = CASE WHEN o.status = 'pending' AND NOT h.active THEN 'failed' ELSE o.status END,
      next_attempt_at = now() + o.delay_ms * interval '1 millisecond',
      last_status = o.http_status, last_error = o.error,
      delivered_at = CASE WHEN o.status = 'delivered' THEN now() END
    FROM unnest(${records.map((r) => r.id)}::text[], ${records.map((r) => r.attempt)}::int[], ${records.map((r) => r.status)}::text[],
                ${records.map((r) => r.delayMs)}::bigint[], ${records.map((r) => r.httpStatus)}::int[], ${records.map((r) => r.error)}::text[])
           AS o(id, attempt, status, delay_ms, http_status, error),
         hooks h
    WHERE d.id = o.id AND d.status = 'delivering' AND d.attempts = o.attempt AND h.id = d.hook_id
    RETURNING d.id`.execute(database.db);
  return new Set(rows.map((r) => r.id));
}

/** Gives claimed deliveries that were never sent back to the outbox (a dispatcher stopping): due now, the claim not counted as an attempt. */
export async function releaseClaims(database: Database, claims: readonly { id: string; attempts: number }[]): Promise<void> {
  if (claims.length === 0) return;
  await sql`
    UPDATE hook_deliveries d SET status = 'pending', attempts = d.attempts - 1, next_attempt_at = now()
    FROM unnest(${claims.map((c) => c.id)}::text[], ${claims.map((c) => c.attempts)}::int[]) AS c(id, attempts)
    WHERE d.id = c.id AND d.status = 'delivering' AND d.attempts = c.attempts`.execute(database.db);
}

/**
 * Refreshes the planner statistics of the outbox. The claim query needs them
 * to walk the due index in order and stop after `limit` rows; without them it
 * sorts the whole backlog on every claim. PGlite has no autovacuum, and on a
 * server a backlog can build up faster than autovacuum's next round.
 */
export async function analyzeOutbox(database: Database): Promise<void> {
  await sql`ANALYZE hook_deliveries`.execute(database.db);
}

/** Outbox figures for /health. */
export async function deliveryStats(database: Database): Promise<{ pending: number; failed: number; oldestPending: Date | null }> {
  const { rows } = await sql<{ pending: number; failed: number; oldestPending: Date | null }>`
    SELECT count(*) FILTER (WHERE status IN ('pending', 'delivering'))::int AS pending,
           count(*) FILTER (WHERE status = 'failed')::int AS failed,
           min(created_at) FILTER (WHERE status IN ('pending', 'delivering')) AS "oldestPending"
    FROM hook_deliveries`.execute(database.db);
  return rows[0];
}
