import { sql } from 'kysely';
import type { Database, Session } from './database.js';

/** A meter event to store; `meterId` is the internal meters.id. */
export interface MeterEventRow {
  readonly meterId: number;
  readonly code: string;
  readonly at: Date;
  readonly severity?: string | null;
  readonly data?: unknown;
  /** mqtt, modbus, http… */
  readonly transport: string;
  readonly topic?: string | null;
}

/**
 * Stores events in one statement, in the caller's transaction; an event
 * already stored (same meter, code and `at`) is left as it is, so redelivery
 * and retries are harmless. Returns the position (index in `events`) of every
 * event stored now (repeats within `events` count once). The alarm lifecycle
 * acts on these only, so a redelivered event never counts twice: store events
 * through alarms/events.ts recordEvents.
 */
export async function insertEventRows(s: Session, events: readonly MeterEventRow[]): Promise<number[]> {
  if (events.length === 0) return [];
  const doc = JSON.stringify(
    events.map((e) => ({
      meter_id: e.meterId,
      code: e.code,
      at: e.at.toISOString(),
      severity: e.severity ?? null,
      data: e.data === undefined ? null : e.data,
      transport: e.transport,
      topic: e.topic ?? null,
    })),
  );
  const { rows } = await sql<{ meter_id: number; code: string; at: Date }>`
    INSERT INTO meter_events (meter_id, code, at, severity, data, transport, topic)
    SELECT meter_id, code, at, severity, data, transport, topic
    FROM jsonb_to_recordset(${doc}::jsonb)
      AS t(meter_id integer, code text, at timestamptz, severity text, data jsonb, transport text, topic text)
    ON CONFLICT (meter_id, code, at) DO NOTHING
    RETURNING meter_id, code, at`.execute(s.db);
  const fresh = new Set(rows.map((r) => `${r.meter_id}|${r.code}|${new Date(r.at).getTime()}`));
  const out: number[] = [];
  events.forEach((e, i) => {
    const key = `${e.meterId}|${e.code}|${e.at.getTime()}`;
    if (fresh.delete(key)) out.push(i); // first occurrence only
  });
  return out;
}

export interface StoredEvent {
  id: number;
  meterId: number;
  code: string;
  at: Date;
  severity: string | null;
  data: unknown;
  transport: string;
  topic: string | null;
  receivedAt: Date;
}

/** Events of one meter, newest first. */
export async function listMeterEvents(database: Database, meterId: number, limit = 100): Promise<StoredEvent[]> {
  const rows = await database.db.selectFrom('meter_events').selectAll().where('meter_id', '=', meterId).orderBy('at', 'desc').limit(limit).execute();
  return rows.map((r) => ({
    id: r.id,
    meterId: r.meter_id,
    code: r.code,
    at: r.at,
    severity: r.severity,
    data: r.data,
    transport: r.transport,
    topic: r.topic,
    receivedAt: r.received_at,
  }));
}
