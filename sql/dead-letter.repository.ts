import { FIELD_LIMITS, boundedText, rawExcerpt } from '../models/input-bounds.js';
import type { Database, SqlSession } from './database.js';

export interface DeadLetter {
  readonly rowIndex: number | null;
  readonly meter: string | null;
  /** The rejected item's raw input, whole: stored as a bounded excerpt plus its size and SHA-256 (models/input-bounds.ts rawExcerpt). */
  readonly payload: string | Uint8Array;
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

/**
 * Inserts dead-letter rows in one statement (arrays unnested server-side).
 * Every text is bounded before it is stored (issue 11): the payload becomes an
 * excerpt with the raw size and hash, meter, topic and principal are cut to
 * their field limits and NUL characters are escaped, so that no rejected item
 * can make this insert fail or a list of rejects grow without bound.
 */
export async function insertDeadLetters(s: SqlSession, origin: DeadLetterOrigin, rows: readonly DeadLetter[]): Promise<void> {
  if (rows.length === 0) return;
  const excerpts = rows.map((r) => rawExcerpt(r.payload));
  const text = (v: string | null | undefined, max: number) => (v === null || v === undefined ? null : boundedText(v, max));
  await s.query(
    `INSERT INTO rejects (batch_id, transport, principal, topic, row_index, meter, payload, reason, payload_bytes, payload_sha256)
     SELECT $1, $2, t.principal, t.topic, t.row_index, t.meter, t.payload, t.reason, t.payload_bytes, t.payload_sha256
     FROM unnest($3::int[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int[], $10::text[])
       AS t(row_index, meter, payload, reason, topic, principal, payload_bytes, payload_sha256)`,
    [
      origin.batchId ?? null,
      boundedText(origin.transport, FIELD_LIMITS.code),
      rows.map((r) => r.rowIndex),
      rows.map((r) => text(r.meter, FIELD_LIMITS.id)),
      excerpts.map((e) => e.payload),
      rows.map((r) => boundedText(r.reason, FIELD_LIMITS.comment)),
      rows.map((r) => text(r.topic !== undefined ? r.topic : (origin.topic ?? null), FIELD_LIMITS.label)),
      rows.map((r) => text(r.principal !== undefined ? r.principal : origin.principal, FIELD_LIMITS.label)),
      excerpts.map((e) => e.bytes),
      excerpts.map((e) => e.sha256),
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
  /** Size in bytes of the whole raw input `payload` is an excerpt of (null: stored before migration 015). */
  payloadBytes: number | null;
  /** SHA-256 (hex) of the whole raw input. */
  payloadSha256: string | null;
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
    payloadBytes: r.payload_bytes,
    payloadSha256: r.payload_sha256,
  }));
}
