import type { LifecycleCounts } from '../sql/alarm.repository.js';
import type { Database } from '../sql/database.js';
import { withRetry } from '../sql/db-errors.js';
import { insertEventRows, type MeterEventRow } from '../sql/event.repository.js';
import type { IngestListeners } from './ingest-listeners.js';

export interface RecordEventsResult {
  /** Events stored now. */
  readonly inserted: number;
  /** Events already stored (same meter, code and time): no-op, no alarm change. */
  readonly unchanged: number;
  /** What the eventsStored listener changed (alarms/events.ts: the alarm lifecycle); all 0 without one. */
  readonly alarms: LifecycleCounts;
}

/**
 * The one entry point for meter events from every transport (MQTT, Modbus,
 * POST /v1/events): stores them (idempotent on meter, code, time) and runs
 * the `eventsStored` listener on the new ones in the same transaction (wired
 * with alarms/: known and mapped codes open or repeat their alarm, restore
 * codes close their counterpart, with the outbox rows). Built for batches:
 * one transaction, a handful of statements whatever the size (about 10 000
 * events per call is fine).
 * @example await recordEvents(database, [{ meterId: 7, code: 'power_failure', at: new Date(), transport: 'http' }], ALARM_LISTENERS)
 * // { inserted: 1, unchanged: 0, alarms: { opened: 1, repeated: 0, closed: 0 } }
 */
export async function recordEvents(database: Database, events: readonly MeterEventRow[], listeners: IngestListeners = {}): Promise<RecordEventsResult> {
  if (events.length === 0) return { inserted: 0, unchanged: 0, alarms: { opened: 0, repeated: 0, closed: 0 } };
  const onStored = await listeners.eventsStored?.(database);
  return withRetry(database, async (s) => {
    const fresh = await insertEventRows(s, events);
    const stored = fresh.map((i) => events[i]);
    const alarms = onStored ? await onStored(s, stored) : { opened: 0, repeated: 0, closed: 0 };
    return { inserted: fresh.length, unchanged: events.length - fresh.length, alarms };
  });
}
