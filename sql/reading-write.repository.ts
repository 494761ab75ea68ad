import type { NormalizedReading } from '../models/reading.js';
import type { Database } from './database.js';
import { insertDeadLetters, type DeadLetter } from './dead-letter.repository.js';

export interface WriteCounts {
  accepted: number;
  unchanged: number;
  superseded: number;
}

export interface BatchInfo {
  transport: string;
  principal: string | null;
  detail?: string | null;
  /** MQTT topic or file name, kept with dead letters. */
  topic?: string | null;
}

const STAGING = `CREATE TEMP TABLE IF NOT EXISTS staging_readings (
  meter_id integer NOT NULL, channel smallint NOT NULL, start timestamptz NOT NULL,
  value double precision NOT NULL, interval_minutes smallint, quality smallint NOT NULL, source smallint NOT NULL
) ON COMMIT DELETE ROWS`;

/**
 * One set-based merge: rows whose value or quality differ from the stored one
 * move to reading_history (old version, who wrote it, who replaced it), then
 * readings is upserted with version + 1; identical rows are left alone.
 * Data-modifying CTEs share one snapshot, so `changed` sees the old values.
 */
const MERGE = `
WITH changed AS (
  SELECT r.* FROM readings r
  JOIN staging_readings s USING (meter_id, channel, start)
  WHERE r.start >= $2 AND r.start <= $3
    AND (r.value <> s.value OR r.quality <> s.quality)
), hist AS (
  INSERT INTO reading_history (meter_id, channel, start, value, interval_minutes, quality, source, version, batch_id, superseded_by_batch)
  SELECT meter_id, channel, start, value, interval_minutes, quality, source, version, batch_id, $1 FROM changed
), up AS (
  INSERT INTO readings AS r (meter_id, channel, start, value, interval_minutes, quality, source, version, batch_id)
  SELECT meter_id, channel, start, value, interval_minutes, quality, source, 1, $1 FROM staging_readings
  ON CONFLICT (meter_id, channel, start) DO UPDATE
    SET value = excluded.value, interval_minutes = excluded.interval_minutes, quality = excluded.quality,
        source = excluded.source, version = r.version + 1, batch_id = excluded.batch_id
    WHERE r.value <> excluded.value OR r.quality <> excluded.quality
  RETURNING r.version
)
SELECT count(*) FILTER (WHERE version = 1)::int AS inserted, count(*) FILTER (WHERE version > 1)::int AS superseded FROM up`;

/** Encodes rows for COPY text format (tab separated, \N for null). */
export function toCopyText(rows: readonly NormalizedReading[]): string {
  const parts: string[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    parts[i] = `${r.meterId}\t${r.channel}\t${new Date(r.startMs).toISOString()}\t${r.value}\t${r.intervalMinutes ?? '\\N'}\t${r.quality}\t${r.source}\n`;
  }
  return parts.join('');
}

/**
 * Stores validated rows in one transaction: a batch row, COPY into a temp
 * staging table, one merge, and the batch's dead letters. Rows must be unique per meter/channel/start
 * (ingest/normalize guarantees it). Idempotent: re-sending is a no-op.
 */
export async function writeReadings(
  database: Database,
  rows: readonly NormalizedReading[],
  batch: BatchInfo,
  deadLetters: readonly DeadLetter[] = [],
): Promise<WriteCounts & { batchId: number }> {
  return database.session(async (s) => {
    const [{ id }] = await s.query<{ id: number }>(
      'INSERT INTO ingest_batches (transport, principal, detail) VALUES ($1, $2, $3) RETURNING id',
      [batch.transport, batch.principal, batch.detail ?? null],
    );
    await insertDeadLetters(s, { transport: batch.transport, principal: batch.principal, topic: batch.topic, batchId: id }, deadLetters);
    if (rows.length === 0) return { batchId: id, accepted: 0, unchanged: 0, superseded: 0 };
    let min = Infinity;
    let max = -Infinity;
    for (const r of rows) {
      if (r.startMs < min) min = r.startMs;
      if (r.startMs > max) max = r.startMs;
    }
    await s.query(STAGING);
    await s.copyFrom('COPY staging_readings FROM STDIN', toCopyText(rows));
    await s.query('ANALYZE staging_readings');
    const [res] = await s.query<{ inserted: number; superseded: number }>(MERGE, [id, new Date(min), new Date(max)]);
    return { batchId: id, accepted: res.inserted, superseded: res.superseded, unchanged: rows.length - res.inserted - res.superseded };
  });
}
