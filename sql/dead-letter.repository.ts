import type { Database, SqlSession } from './database.js';

export interface DeadLetter {
  readonly rowIndex: number | null;
  readonly meter: string | null;
  readonly payload: string;
  readonly reason: string;
  /** Per-row topic and principal when one batch mixes messages (MQTT); absent → the origin's. */
  readonly topic?: string | null;
  readonly principal?: string | null;
}

export interface DeadLetterOrigin {
  readonly transport: string;
  readonly principal: string | null;
  readonly topic?: string | null;
  readonly batchId?: number | null;
}

/** Inserts dead-letter rows in one statement (arrays unnested server-side). */
export async function insertDeadLetters(s: SqlSession, origin: DeadLetterOrigin, rows: readonly DeadLetter[]): Promise<void> {
  if (rows.length === 0) return;
  await s.query(
    `INSERT INTO rejects (batch_id, transport, principal, topic, row_index, meter, payload, reason)
     SELECT $1, $2, t.principal, t.topic, t.row_index, t.meter, t.payload, t.reason
     FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[]) AS t(row_index, meter, payload, reason, topic, principal)`,
    [
      origin.batchId ?? null,
      origin.transport,
      rows.map((r) => r.rowIndex),
      rows.map((r) => r.meter),
      rows.map((r) => r.payload),
      rows.map((r) => r.reason),
      rows.map((r) => (r.topic !== undefined ? r.topic : (origin.topic ?? null))),
      rows.map((r) => (r.principal !== undefined ? r.principal : origin.principal)),
    ],
  );
}

/** Records dead letters outside an ingest transaction (e.g. an MQTT payload that is not JSON). */
export function recordDeadLetters(database: Database, origin: DeadLetterOrigin, rows: readonly DeadLetter[]): Promise<void> {
  return database.session((s) => insertDeadLetters(s, origin, rows));
}

export interface RejectRow {
  id: number;
  receivedAt: Date;
  transport: string;
  principal: string | null;
  topic: string | null;
  rowIndex: number | null;
  meter: string | null;
  payload: string;
  reason: string;
  batchId: number | null;
}

/** Newest first; `before` is the id cursor of the previous page. */
export async function listDeadLetters(
  database: Database,
  f: { meter?: string; transport?: string; since?: Date; before?: number; limit: number },
): Promise<RejectRow[]> {
  let q = database.db.selectFrom('rejects').selectAll().orderBy('id', 'desc').limit(f.limit);
  if (f.meter) q = q.where('meter', '=', f.meter);
  if (f.transport) q = q.where('transport', '=', f.transport);
  if (f.since) q = q.where('received_at', '>=', f.since);
  if (f.before) q = q.where('id', '<', f.before);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: r.id,
    receivedAt: r.received_at,
    transport: r.transport,
    principal: r.principal,
    topic: r.topic,
    rowIndex: r.row_index,
    meter: r.meter,
    payload: r.payload,
    reason: r.reason,
    batchId: r.batch_id,
  }));
}
