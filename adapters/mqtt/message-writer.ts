import type { KeyScope } from '../../models/api-key.js';
import { safeJson, type ReadingLimits } from '../../models/input-bounds.js';
import { parseEventRows } from '../../models/event.js';
import type { RowReject } from '../../models/reading.js';
import { recordEvents } from '../../ingest/events.js';
import type { IngestListeners } from '../../ingest/ingest-listeners.js';
import { ingestMessages, type IngestMessage } from '../../ingest/pipeline.js';
import type { Database } from '../../sql/database.js';
import { classifyDbError } from '../../sql/db-errors.js';
import { recordDeadLetters, type DeadLetter } from '../../sql/dead-letter.repository.js';
import type { MeterEventRow } from '../../sql/event.repository.js';
import { findMeterRefs } from '../../sql/meter-lookup.repository.js';
import { outcomeOf, type MessageOutcome } from './acks.js';
import type { DecodedMessage } from './payload.js';
import type { TopicRoute } from './topics.js';

/** A received message, decoded, waiting for its batch. */
export interface BatchMessage {
  readonly topic: string;
  readonly route: TopicRoute;
  readonly payload: Uint8Array;
  readonly decoded: DecodedMessage;
  /** Key name of the embedded-broker gateway, or the gateway id of the topic (external broker), or null. */
  readonly principal: string | null;
  /** Gateway key scope (embedded broker); null = any meter. */
  readonly scope: KeyScope | null;
}

export const rowsOf = (m: BatchMessage): number => (m.decoded.kind === 'readings' ? Math.max(1, m.decoded.rows.length) : m.decoded.kind === 'events' ? Math.max(1, m.decoded.events.length) : 1);

/** External ids of the meters a message writes readings for (events and refused payloads: none, their writes are order-free). */
export function metersOf(m: BatchMessage): string[] {
  const d = m.decoded;
  if (d.kind !== 'readings') return [];
  if (d.meter !== undefined) return [d.meter];
  const ids = new Set<string>();
  for (const r of d.rows) {
    const id = (r as { meter?: unknown } | null)?.meter;
    if (typeof id === 'string') ids.add(id);
  }
  return [...ids];
}

export interface WriteOptions {
  readonly limits?: ReadingLimits;
  /** What runs when the events and readings are stored (alarms; cli/ wires it). */
  readonly listeners?: IngestListeners;
}

/**
 * Stores one batch of messages: events (idempotent insert), then every
 * reading message and every dead letter through the ingest pipeline in one
 * transaction. Returns one outcome per message, in order. Throws only when the
 * database fails; the caller retries the whole batch, which is harmless.
 */
export async function writeMessages(database: Database, messages: readonly BatchMessage[], opts: WriteOptions = {}): Promise<MessageOutcome[]> {
  const outcomes: (MessageOutcome | undefined)[] = new Array(messages.length);
  const letters: DeadLetter[] = [];
  const ingest: IngestMessage[] = [];
  const ingestAt: number[] = []; // message position of each ingest entry
  const pre = new Map<number, RowReject[]>(); // message position → rows refused before ingest

  // Events: their meters are resolved here; readings resolve theirs in the pipeline.
  const eventMeters = await findMeterRefs(database, [...new Set(messages.flatMap((m) => (m.decoded.kind === 'events' ? [m.decoded.meter] : [])))]);
  const events: MeterEventRow[] = [];

  messages.forEach((m, i) => {
    const d = m.decoded;
    const letter = (rowIndex: number | null, meter: string | null, payload: string | Uint8Array, reason: string) =>
      letters.push({ rowIndex, meter, payload, reason, topic: m.topic, principal: m.principal });
    if (d.kind === 'invalid') {
      letter(null, topicMeter(m), m.payload, d.reason); // raw bytes: the dead letter keeps an excerpt (base64 when not text), their size and SHA-256
      outcomes[i] = outcomeOf(0, [], d.reason);
    } else if (d.kind === 'events') {
      const parsed = parseEventRows(d.events);
      const rejected: RowReject[] = [...parsed.rejected];
      const meter = eventMeters.get(d.meter);
      if (!meter) {
        for (const v of parsed.valid) rejected.push({ index: v.index, reason: `unknown meter "${d.meter}": register it with PUT /v1/meters first` });
      } else {
        for (const { event } of parsed.valid) {
          events.push({ meterId: meter.id, code: event.code, at: new Date(event.atMs), severity: event.severity, data: event.data, transport: 'mqtt', topic: m.topic });
        }
      }
      rejected.sort((a, b) => a.index - b.index);
      for (const r of rejected) letter(r.index, d.meter, safeJson(d.events[r.index]), r.reason);
      outcomes[i] = outcomeOf(meter ? parsed.valid.length : 0, rejected);
    } else {
      for (const r of d.rejected) letter(r.index, r.meter, r.payload, r.reason);
      if (d.rejected.length)
        pre.set(
          i,
          d.rejected.map((r) => ({ index: r.index, reason: r.reason })),
        );
      ingest.push({ raw: d.rows, principal: m.principal, scope: m.scope, meter: d.meter, topic: m.topic, indexOf: d.indexOf });
      ingestAt.push(i);
    }
  });

  if (events.length) await recordEvents(database, events, opts.listeners);
  // Last, so that nothing after it can fail and make a retry store the dead letters twice.
  const result = await ingestMessages(database, ingest, { transport: 'mqtt', detail: `${messages.length} MQTT messages`, limits: opts.limits, listeners: opts.listeners }, letters);
  result.messages.forEach((r, k) => {
    const i = ingestAt[k];
    const rejected = [...(pre.get(i) ?? []), ...r.rejected].sort((a, b) => a.index - b.index);
    outcomes[i] = outcomeOf(r.stored, rejected);
  });
  return outcomes as MessageOutcome[];
}

const topicMeter = (m: BatchMessage): string | null => ('meter' in m.route ? m.route.meter : null);

/**
 * Dead-letters one whole message on its own (the database refused the batch
 * write because of it; see isolate.ts) and returns its outcome. Should even
 * this insert be refused for the data, the letter is stored once more without
 * the payload, so that the message is never left unacknowledged for its content.
 */
export async function deadLetterMessage(database: Database, m: BatchMessage, reason: string): Promise<MessageOutcome> {
  const origin = { transport: 'mqtt', principal: m.principal, topic: m.topic };
  const letter = { rowIndex: null, meter: topicMeter(m), payload: m.payload, reason };
  try {
    await recordDeadLetters(database, origin, [letter]);
  } catch (err) {
    if (classifyDbError(err) !== 'data') throw err;
    await recordDeadLetters(database, { ...origin, topic: null }, [{ ...letter, meter: null, payload: `[payload not storable: ${m.payload.length} bytes]` }]);
  }
  return outcomeOf(0, [], reason);
}
