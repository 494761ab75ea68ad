import { MdmError } from '../models/errors.js';
import type { AlarmOut, AlarmSeverity, AlarmSource, AlarmState, AlarmTransition } from '../models/alarm.js';
import { sql, type Kysely } from 'kysely';
import type { Database, Session } from './database.js';
import type { DB } from './types.js';

/**
 * Alarms and their outbox (alarm_transitions). Every change here writes its
 * transition rows in the same transaction, so a hook never misses a change
 * and never sees one that rolled back. Functions take a Database (they open
 * their own transaction) or a Session (they run inside the caller's).
 */

export type Executor = Database | Session;
const isDatabase = (x: Executor): x is Database => typeof (x as Database).session === 'function';

/** Runs `fn` in the caller's session, or in a new transaction. */
export const inTransaction = <T>(x: Executor, fn: (s: Session) => Promise<T>): Promise<T> => (isDatabase(x) ? x.session(fn) : fn(x));

/** The meter part of an outbox payload. */
export interface AlarmMeterSummary {
  readonly id: string;
  readonly group: string | null;
  readonly portfolio: string | null;
  readonly commodity: string;
  readonly region: string | null;
  readonly labels: Record<string, string>;
}

/** alarm_transitions.payload: what hooks send. */
export interface TransitionPayload {
  readonly alarm: AlarmOut;
  readonly meter: AlarmMeterSummary;
  /** X-Request-Id of the API request that made the transition (acknowledge, close, work-order callback, the readings whose values raised or cleared it); absent otherwise. */
  readonly requestId?: string;
}

interface AlarmDbRow {
  id: number;
  meter_id: number;
  code: string;
  severity: AlarmSeverity;
  state: AlarmState;
  count: number;
  opened_at: Date;
  last_seen_at: Date;
  acknowledged_at: Date | null;
  acknowledged_by: string | null;
  closed_at: Date | null;
  closed_by: string | null;
  comment: string | null;
  source: AlarmSource;
  rule_id: string | null;
  data: unknown;
  work_order_id: string | null;
  work_order_status: string | null;
  external_id: string;
  group: string | null;
  portfolio: string | null;
  commodity: string;
  region: string | null;
  labels: Record<string, string> | string | null;
}

/** An alarm with its meter's summary columns, as loadAlarms and listAlarms read it. */
const selectAlarms = (db: Kysely<DB>) =>
  db
    .selectFrom('alarms as a')
    .innerJoin('meters as m', 'm.id', 'a.meter_id')
    .select([
      'a.id',
      'a.meter_id',
      'a.code',
      'a.severity',
      'a.state',
      'a.count',
      'a.opened_at',
      'a.last_seen_at',
      'a.acknowledged_at',
      'a.acknowledged_by',
      'a.closed_at',
      'a.closed_by',
      'a.comment',
      'a.source',
      'a.rule_id',
      'a.data',
      'a.work_order_id',
      'a.work_order_status',
      'm.external_id',
      'm.group',
      'm.portfolio',
      'm.commodity',
      'm.region',
      'm.labels',
    ])
    .$narrowType<{ severity: AlarmSeverity; source: AlarmSource }>();

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

/** An alarm as GET /v1/alarms shows it (also the outbox payload's `alarm`). */
export function alarmOut(r: AlarmDbRow): AlarmOut {
  return {
    id: Number(r.id),
    meter: r.external_id,
    code: r.code,
    severity: r.severity,
    state: r.state,
    count: r.count,
    openedAt: iso(r.opened_at)!,
    lastSeenAt: iso(r.last_seen_at)!,
    closedAt: iso(r.closed_at),
    source: r.source,
    rule: r.rule_id,
    acknowledgedAt: iso(r.acknowledged_at),
    acknowledgedBy: r.acknowledged_by,
    closedBy: r.closed_by,
    comment: r.comment,
    workOrder: r.work_order_id === null ? null : { id: r.work_order_id, status: r.work_order_status },
    data: r.data ?? null,
  };
}

function meterOut(r: AlarmDbRow): AlarmMeterSummary {
  const labels = typeof r.labels === 'string' ? (JSON.parse(r.labels) as Record<string, string>) : (r.labels ?? {});
  return { id: r.external_id, group: r.group, portfolio: r.portfolio, commodity: r.commodity, region: r.region, labels };
}

async function loadAlarms(db: Kysely<DB>, ids: readonly number[], lock = false): Promise<AlarmDbRow[]> {
  if (ids.length === 0) return [];
  const q = selectAlarms(db).where(sql<boolean>`a.id = ANY(${ids}::bigint[])`).orderBy('a.id');
  return lock ? q.forUpdate('a').execute() : q.execute();
}

interface TransitionRow {
  readonly row: AlarmDbRow;
  readonly transition: AlarmTransition;
  readonly actor: string | null;
  readonly comment: string | null;
  readonly requestId?: string;
}

/** Writes outbox rows (in the caller's transaction), in the given order. */
async function writeTransitions(db: Kysely<DB>, rows: readonly TransitionRow[]): Promise<void> {
  if (rows.length === 0) return;
  const doc = JSON.stringify(
    rows.map((t) => ({
      alarm_id: t.row.id,
      transition: t.transition,
      actor: t.actor,
      comment: t.comment,
      payload: { alarm: alarmOut(t.row), meter: meterOut(t.row), ...(t.requestId ? { requestId: t.requestId } : {}) } satisfies TransitionPayload,
    })),
  );
  // One jsonb parameter whatever the batch size; ORDER BY n keeps the outbox ids in the given order.
  await sql`
    INSERT INTO alarm_transitions (alarm_id, transition, actor, comment, payload)
    SELECT (e->>'alarm_id')::bigint, e->>'transition', e->>'actor', e->>'comment', e->'payload'
    FROM jsonb_array_elements(${doc}::jsonb) WITH ORDINALITY AS t(e, n)
    ORDER BY n`.execute(db);
}

/* ------------------------------------------------------------- raise */

/** One (meter, code) occurrence group to raise: `count` occurrences from `firstMs` to `lastMs`. */
export interface RaiseInput {
  readonly meterId: number;
  readonly code: string;
  readonly severity: AlarmSeverity;
  readonly firstMs: number;
  readonly lastMs: number;
  readonly count: number;
  readonly source: AlarmSource;
  readonly ruleId?: string | null;
  /** Details of the latest occurrence. */
  readonly data?: unknown;
  /** Outbox actor, e.g. "event:mqtt", "rule:gas-low". */
  readonly actor?: string | null;
  /** X-Request-Id of the ingest request whose data raised it (on the outbox row, hence on its hook delivery). */
  readonly requestId?: string;
}

export interface LifecycleCounts {
  opened: number;
  repeated: number;
  closed: number;
}

/** Inserts or repeats one alarm per jsonb element; `inserted` tells which (xmax = 0 on a fresh row). */
const raise = (doc: string) => sql<{ id: number; meter_id: number; code: string; inserted: boolean }>`
INSERT INTO alarms AS a (meter_id, code, severity, count, opened_at, last_seen_at, source, rule_id, data)
SELECT meter_id, code, severity, n, first_at, last_at, source, rule_id, data
FROM jsonb_to_recordset(${doc}::jsonb)
  AS t(meter_id integer, code text, severity text, n integer, first_at timestamptz, last_at timestamptz, source text, rule_id text, data jsonb)
ORDER BY meter_id, code
ON CONFLICT (meter_id, code) WHERE state <> 'closed' DO UPDATE
SET count = a.count + excluded.count,
    last_seen_at = greatest(a.last_seen_at, excluded.last_seen_at),
    data = CASE WHEN excluded.last_seen_at >= a.last_seen_at THEN excluded.data ELSE a.data END,
    updated_at = now()
RETURNING a.id, a.meter_id, a.code, (xmax = 0) AS inserted`;

/**
 * Opens or repeats alarms, one input per (meter, code) (merge occurrences of
 * a batch first): a new alarm when none is open or acknowledged for the meter
 * and code, else count += input.count and lastSeenAt moves forward. The
 * partial unique index alarms_one_active_idx settles concurrent raises: the
 * loser of the race repeats the winner's alarm. One outbox row per alarm
 * (opened or repeated). Runs in the given session (its transaction).
 * @example await raiseAlarms(s, [{ meterId: 7, code: 'tamper', severity: 'critical', firstMs: t, lastMs: t, count: 1, source: 'event' }])
 */
export async function raiseAlarms(s: Session, inputs: readonly RaiseInput[]): Promise<LifecycleCounts> {
  if (inputs.length === 0) return { opened: 0, repeated: 0, closed: 0 };
  const doc = JSON.stringify(
    inputs.map((r) => ({
      meter_id: r.meterId,
      code: r.code,
      severity: r.severity,
      n: r.count,
      first_at: new Date(r.firstMs).toISOString(),
      last_at: new Date(r.lastMs).toISOString(),
      source: r.source,
      rule_id: r.ruleId ?? null,
      data: r.data === undefined ? null : r.data,
    })),
  );
  const { rows: res } = await raise(doc).execute(s.db);
  const actorOf = new Map(inputs.map((r) => [`${r.meterId}|${r.code}`, r.actor ?? `${r.source}${r.ruleId ? `:${r.ruleId}` : ''}`]));
  const requestOf = new Map(inputs.map((r) => [`${r.meterId}|${r.code}`, r.requestId]));
  const inserted = new Map(res.map((r) => [Number(r.id), r.inserted]));
  const rows = await loadAlarms(s.db, [...inserted.keys()]);
  await writeTransitions(
    s.db,
    rows.map((row) => ({
      row,
      transition: inserted.get(Number(row.id)) ? 'opened' : 'repeated',
      actor: actorOf.get(`${row.meter_id}|${row.code}`) ?? null,
      comment: null,
      requestId: requestOf.get(`${row.meter_id}|${row.code}`),
    })),
  );
  const opened = res.filter((r) => r.inserted).length;
  return { opened, repeated: res.length - opened, closed: 0 };
}

/* ------------------------------------------------------------- close */

export interface CloseInput {
  readonly meterId: number;
  readonly code: string;
  /** When it ended (restore event time, value time); only alarms opened at or before it close. */
  readonly atMs: number;
  /** closed_by, e.g. "event:power_restored", "data", "rule:gas-low". */
  readonly actor: string;
  readonly comment?: string | null;
  /** X-Request-Id of the ingest request whose data closed it. */
  readonly requestId?: string;
}

/**
 * Closes the not-closed alarm of each (meter, code) opened at or before
 * `atMs` (a late restore older than the alarm leaves it alone), with one
 * `closed` outbox row each. Runs in the given session (its transaction).
 */
export async function closeAlarms(s: Session, inputs: readonly CloseInput[]): Promise<number> {
  if (inputs.length === 0) return 0;
  const doc = JSON.stringify(inputs.map((c) => ({ meter_id: c.meterId, code: c.code, at: new Date(c.atMs).toISOString(), actor: c.actor, comment: c.comment ?? null })));
  const { rows: closed } = await sql<{ id: number; actor: string; comment: string | null }>`
    UPDATE alarms a SET state = 'closed', closed_at = t.at, closed_by = t.actor, comment = coalesce(t.comment, a.comment), updated_at = now()
    FROM (SELECT DISTINCT ON (meter_id, code) * FROM jsonb_to_recordset(${doc}::jsonb) AS x(meter_id integer, code text, at timestamptz, actor text, comment text)
          ORDER BY meter_id, code, at DESC) t
    WHERE a.meter_id = t.meter_id AND a.code = t.code AND a.state <> 'closed' AND a.opened_at <= t.at
    RETURNING a.id, t.actor, t.comment`.execute(s.db);
  const by = new Map(closed.map((c) => [Number(c.id), c]));
  const requestOf = new Map(inputs.map((c) => [`${c.meterId}|${c.code}`, c.requestId]));
  const rows = await loadAlarms(s.db, [...by.keys()]);
  await writeTransitions(
    s.db,
    rows.map((row) => ({
      row,
      transition: 'closed',
      actor: by.get(Number(row.id))!.actor,
      comment: by.get(Number(row.id))!.comment,
      requestId: requestOf.get(`${row.meter_id}|${row.code}`),
    })),
  );
  return closed.length;
}

/* -------------------------------------------------------- transitions */

/** `comment = coalesce(given, comment)`: a missing comment keeps the stored one. */
const keepComment = (comment: string | null): { comment?: string } => (comment === null ? {} : { comment });

/** `record`: store the work order only, no state change (a cancelled work order). */
export type AlarmAction = 'acknowledge' | 'close' | 'record';

export interface TransitionOptions {
  /** Who acts (user or key name); kept in acknowledged_by/closed_by and the outbox row. */
  readonly actor: string;
  readonly comment?: string | null;
  /** Reported by the work-order system (POST /v1/alarms/{id}/work-order); stored on the alarm. */
  readonly workOrder?: { readonly id: string; readonly status: string | null };
  readonly now?: Date;
  /** X-Request-Id of the API request: kept in the outbox row's payload, sent with its hook deliveries. */
  readonly requestId?: string;
}

export interface TransitionResult {
  readonly alarm: AlarmOut;
  /** False when the alarm was already in the asked state (idempotent: no outbox row). */
  readonly changed: boolean;
}

/**
 * Acknowledges or closes one alarm, with its outbox row, in one transaction
 * (the caller's when given a Session). Rules:
 * - unknown id → MDM_ERR_NOT_FOUND (404);
 * - acknowledge an open alarm → acknowledged; an acknowledged one → unchanged
 *   (changed: false); a closed one → MDM_ERR_CONFLICT (409, closed is final);
 * - close an open or acknowledged alarm → closed; a closed one → unchanged
 *   (changed: false), so a work-order system may retry its callback;
 * - record → no state change (used for a cancelled work order).
 * A workOrder is stored whatever the state (no outbox row of its own).
 * @example await transitionAlarm(database, 42, 'close', { actor: 'alice', comment: 'meter replaced' })
 */
export async function transitionAlarm(x: Executor, id: number, action: AlarmAction, opts: TransitionOptions): Promise<TransitionResult> {
  return inTransaction(x, async ({ db }) => {
    const [row] = await loadAlarms(db, [id], true);
    if (!row) throw new MdmError('MDM_ERR_NOT_FOUND', [`alarm ${id} not found: list alarms with GET /v1/alarms`]);
    const update = db.updateTable('alarms').where('id', '=', id);
    const now = (opts.now ?? new Date()).toISOString();
    const comment = opts.comment ?? null;
    const wo = opts.workOrder;
    if (wo && (wo.id !== row.work_order_id || wo.status !== row.work_order_status)) {
      await update.set({ work_order_id: wo.id, work_order_status: wo.status, updated_at: sql`now()` }).execute();
    }
    let transition: AlarmTransition | null = null;
    if (action === 'acknowledge') {
      if (row.state === 'closed') {
        throw new MdmError('MDM_ERR_CONFLICT', [`alarm ${id} is closed (${iso(row.closed_at)} by ${row.closed_by ?? 'unknown'}); a closed alarm cannot be acknowledged`]);
      }
      if (row.state === 'open') {
        await update.set({ state: 'acknowledged', acknowledged_at: now, acknowledged_by: opts.actor, ...keepComment(comment), updated_at: sql`now()` }).execute();
        transition = 'acknowledged';
      }
    } else if (action === 'close' && row.state !== 'closed') {
      await update.set({ state: 'closed', closed_at: now, closed_by: opts.actor, ...keepComment(comment), updated_at: sql`now()` }).execute();
      transition = 'closed';
    }
    const [after] = transition || wo ? await loadAlarms(db, [id]) : [row];
    if (transition) await writeTransitions(db, [{ row: after, transition, actor: opts.actor, comment, requestId: opts.requestId }]);
    return { alarm: alarmOut(after), changed: transition !== null };
  });
}

/**
 * The work-order callback (POST /v1/alarms/{id}/work-order): stores the work
 * order and moves the alarm: `open`/`in_progress` acknowledge an open alarm,
 * `done` closes it, `cancelled` only records. A closed alarm stays closed (the
 * work order is still stored), so the receiving system may send its statuses
 * in any order and retry them.
 */
export async function applyWorkOrder(
  x: Executor,
  id: number,
  workOrder: { readonly id: string; readonly status: 'open' | 'in_progress' | 'done' | 'cancelled' },
  opts: Omit<TransitionOptions, 'workOrder'>,
): Promise<TransitionResult> {
  return inTransaction(x, async (s) => {
    const [row] = await loadAlarms(s.db, [id], true);
    if (!row) throw new MdmError('MDM_ERR_NOT_FOUND', [`alarm ${id} not found: list alarms with GET /v1/alarms`]);
    const action: AlarmAction = workOrder.status === 'cancelled' ? 'record' : workOrder.status === 'done' || row.state === 'closed' ? 'close' : 'acknowledge';
    return transitionAlarm(s, id, action, { ...opts, workOrder });
  });
}

/* -------------------------------------------------------------- reads */

export async function getAlarm(database: Database, id: number): Promise<AlarmOut | undefined> {
  const [row] = await loadAlarms(database.db, [id]);
  return row ? alarmOut(row) : undefined;
}

export interface AlarmFilter {
  /** 'active' = open or acknowledged. */
  readonly state?: AlarmState | 'active';
  readonly code?: string;
  readonly severity?: AlarmSeverity;
  readonly meter?: string;
  readonly group?: string;
  /** Opened at or after. */
  readonly from?: Date;
  /** Opened before. */
  readonly to?: Date;
  /** Only ids below (cursor). */
  readonly before?: number;
  readonly limit: number;
}

/** Alarms matching every given filter, newest id first. */
export async function listAlarms(database: Database, f: AlarmFilter): Promise<AlarmOut[]> {
  let q = selectAlarms(database.db);
  if (f.state === 'active') q = q.where('a.state', '<>', 'closed');
  else if (f.state) q = q.where('a.state', '=', f.state);
  if (f.code) q = q.where('a.code', '=', f.code);
  if (f.severity) q = q.where('a.severity', '=', f.severity);
  if (f.meter) q = q.where('m.external_id', '=', f.meter);
  if (f.group) q = q.where('m.group', '=', f.group);
  if (f.from) q = q.where('a.opened_at', '>=', f.from);
  if (f.to) q = q.where('a.opened_at', '<', f.to);
  if (f.before) q = q.where('a.id', '<', f.before);
  const rows = await q.orderBy('a.id', 'desc').limit(f.limit).execute();
  return rows.map(alarmOut);
}
