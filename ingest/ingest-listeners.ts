import type { MeterFailure } from '../models/failing-items.js';
import type { IngestActivity } from '../models/ingest-activity.js';
import type { NormalizedReading } from '../models/reading.js';
import type { LifecycleCounts } from '../sql/alarm.repository.js';
import type { Database, Session } from '../sql/database.js';
import type { MeterEventRow } from '../sql/event.repository.js';

/**
 * What runs when ingest has stored data, passed in by whoever builds the
 * ingest path (cli/ and api/ wire alarms/alarm-listeners.ts ALARM_LISTENERS:
 * alarm rules on values, the alarm lifecycle of events, VEE alarms), so
 * that ingest never imports a room above it. Each is optional: without it
 * the data is stored and nothing more happens. A listener that throws fails
 * the ingest call the way the stored data's own write would.
 */
export interface IngestListeners {
  /**
   * After a batch of readings is stored (every transport; ingestReadings,
   * ingestMessages), in a transaction of its own. `meters`: the batch's
   * meters as the pipeline looked them up; `origin`: the request the rows came with.
   */
  readonly readingsStored?: (
    database: Database,
    rows: readonly NormalizedReading[],
    meters: Iterable<{ readonly id: number; readonly group: string | null }>,
    origin?: IngestOrigin,
  ) => Promise<unknown>;
  /**
   * Meter events (recordEvents): called before the events' transaction (to
   * load what it needs outside it); the step it returns runs inside that
   * transaction on the events stored now (not the ones stored already), and
   * its counts are what recordEvents reports under `alarms`.
   */
  readonly eventsStored?: (database: Database) => Promise<(s: Session, stored: readonly MeterEventRow[]) => Promise<LifecycleCounts>>;
  /**
   * A VEE run's batch is about to store its issues (runVee): the step it
   * returns (undefined: nothing to do) runs after the issues and notes are
   * stored, on the batch's meters, and sees only the issues stored in
   * between. Meters it failed for come back in `failed`.
   */
  readonly veeIssuesStoring?: (database: Database) => Promise<((meterIds: readonly number[]) => Promise<{ readonly failed?: readonly MeterFailure[] }>) | undefined>;
  /** An ingest call finished (ingestReadings, ingestMessages): its rows by outcome, for /metrics (api/metrics.ts). Must not throw. */
  readonly ingested?: (transport: string, counts: IngestOutcome) => void;
}

/** Where a batch came from, for what its data causes (alarm transitions, their hook deliveries). */
export interface IngestOrigin {
  /** X-Request-Id of the HTTP request (none for MQTT, Modbus, files). */
  readonly requestId?: string;
}

/** What one ingest call did with its rows. */
export interface IngestOutcome {
  readonly accepted: number;
  readonly unchanged: number;
  readonly superseded: number;
  readonly rejected: readonly { readonly reason: string }[];
}

/** `listeners` that also count the rows stored into `activity` (models/ingest-activity.ts: background work yields to bulk loads). */
export function withIngestActivity(listeners: IngestListeners, activity: IngestActivity): IngestListeners {
  const stored = listeners.readingsStored;
  return {
    ...listeners,
    readingsStored: (database, rows, meters, origin) => {
      activity.note(rows.length);
      return stored ? stored(database, rows, meters, origin) : Promise.resolve();
    },
  };
}
