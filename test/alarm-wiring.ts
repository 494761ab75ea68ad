import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { recordEvents as storeEvents, type RecordEventsResult } from '../ingest/events.js';
import type { Database } from '../sql/database.js';
import type { MeterEventRow } from '../sql/event.repository.js';

export { ALARM_LISTENERS };

/** ingest/events.ts recordEvents wired as `mdm serve` wires it: events apply the alarm lifecycle in their transaction. */
export function recordEvents(database: Database, events: readonly MeterEventRow[]): Promise<RecordEventsResult> {
  return storeEvents(database, events, ALARM_LISTENERS);
}
