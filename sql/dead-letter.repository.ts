import { sql } from 'kysely';
import { FIELD_LIMITS, boundedText, rawExcerpt } from '../models/input-bounds.js';
import type { Database, Session } from './database.js';

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
export async function insertDeadLetters(s: Session, origin: DeadLetterOrigin, rows: readonly DeadLetter[]): Promise<void> {
  if (rows.length === 0) return;
  const excerpts = rows.map((r) => rawExcerpt(r.payload));
  const text = (v: string | null | undefined, max: number) => (v === null || v === undefined ? null : boundedText(v, max));
  const batchId = origin.batchId ?? null;
  const transport = boundedText(origin.transport, FIELD_LIMITS.code);
  const rowIndex = rows.map((r) => r.rowIndex);
  const meter = rows.map((r) => text(r.meter, FIELD_LIMITS.id));
  const payload = excerpts.map((e) => e.payload);
  const reason = rows.map((r) => boundedText(r.reason, FIELD_LIMITS.comment));
  const topic = rows.map((r) => text(r.topic !== undefined ? r.topic : (origin.topic ?? null), FIELD_LIMITS.label));
  const principal = rows.map((r) => text(r.principal !== undefined ? r.principal : origin.principal, FIELD_LIMITS.label));
  const bytes = excerpts.map((e) => e.bytes);
  const sha256 = excerpts.map((e) => e.sha256);
  // One array per column, unnested server-side: ten parameters whatever the number of rows.
  await sql`
    INSERT INTO rejects (batch_id, transport, principal, topic, row_index, meter, payload, reason, payload_bytes, payload_sha256)
    SELECT ${batchId}, ${transport}, t.principal, t.topic, t.row_index, t.meter, t.payload, t.reason, t.payload_bytes, t.payload_sha256
    FROM unnest(${rowIndex}::int[], ${meter}::text[], ${payload}::text[], ${reason}::text[], ${topic}::text[], ${principal}::text[], ${bytes}::int[], ${sha256}::text[])
      AS t(row_index, meter, payload, reason, topic, principal, payload_bytes, payload_sha256)`.execute(s.db);
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
export async function listDeadLetters(database: Database, f: { meter?: string; transport?: string; since?: Date; before?: number; limit: number }): Promise<RejectRow[]> {
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
