import type { KeyScope } from '../models/api-key.js';
import type { IngestResult, Source } from '../models/reading.js';
import type { Database } from '../sql/database.js';
import { findMeterRefs } from '../sql/meter-lookup.repository.js';
import { writeReadings } from '../sql/reading-write.repository.js';
import { meterIdsOf, normalizeReadings } from './normalize.js';

export interface IngestContext {
  /** Transport, also the default source: http, mqtt, modbus, file. */
  readonly transport: Source;
  /** Key name or gateway id that sent the batch. */
  readonly principal: string | null;
  readonly scope?: KeyScope | null;
  /** For per-meter MQTT topics: rows may omit `meter`. */
  readonly meter?: string;
  readonly topic?: string | null;
  readonly detail?: string | null;
  /** Added to reported row indexes (NDJSON chunks, file imports). */
  readonly indexOffset?: number;
}

/**
 * The one ingest path for every transport: validate rows, store the valid ones
 * (versioned, idempotent) and dead-letter the rest with their reasons, in one
 * transaction. Returns counts and per-row rejects.
 */
export async function ingestReadings(database: Database, raw: readonly unknown[], ctx: IngestContext): Promise<IngestResult & { batchId: number }> {
  const meters = await findMeterRefs(database, meterIdsOf(raw, ctx.meter));
  const n = normalizeReadings(raw, meters, { defaultSource: ctx.transport, scope: ctx.scope, meter: ctx.meter });
  const offset = ctx.indexOffset ?? 0;
  const deadLetters = n.rejected.map((r) => ({
    rowIndex: r.index + offset,
    meter: r.meter,
    payload: safeJson(raw[r.index]),
    reason: r.reason,
  }));
  const counts = await writeReadings(
    database,
    n.rows,
    { transport: ctx.transport, principal: ctx.principal, topic: ctx.topic, detail: ctx.detail },
    deadLetters,
  );
  return {
    batchId: counts.batchId,
    accepted: counts.accepted,
    unchanged: counts.unchanged + n.duplicates,
    superseded: counts.superseded,
    rejected: n.rejected.map((r) => ({ index: r.index + offset, reason: r.reason })),
  };
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}
