import { eventAlarms } from './events.js';
import { evaluateReadingAlarms } from './readings.js';
import { veeIssueAlarms } from './vee-alarms.js';

/**
 * What alarms/ does when ingest stores data, as ingest's listeners
 * (ingest/ingest-listeners.ts IngestListeners; alarms/ does not import
 * ingest/, the shapes match): threshold and silence rules on every stored
 * batch of readings, the alarm lifecycle of meter events in their
 * transaction, VEE alarms for the fail issues a validation run creates.
 * cli/ (components, file imports) and api/ (buildApp) pass it in.
 */
export const ALARM_LISTENERS = {
  readingsStored: (
    database: Parameters<typeof evaluateReadingAlarms>[0],
    rows: Parameters<typeof evaluateReadingAlarms>[1],
    meters: Parameters<typeof evaluateReadingAlarms>[2],
    origin?: { readonly requestId?: string },
  ) => evaluateReadingAlarms(database, rows, meters, Date.now(), origin?.requestId),
  eventsStored: eventAlarms,
  veeIssuesStoring: veeIssueAlarms,
} as const;
