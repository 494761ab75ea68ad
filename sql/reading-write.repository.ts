import { channelByCode } from '../models/channel.js';
import { qualityCode, qualityName, sourceCode, sourceName, type NormalizedReading } from '../models/reading.js';
import { localDayCounter } from '../models/calendar.js';
import { sql, type Kysely } from 'kysely';
import { PG_EPOCH_MS } from './packed.js';
import type { Database, Session } from './database.js';
import type { DB } from './types.js';
import { markDirtyDays } from './billing-rollup.repository.js';
import { withRetry } from './db-errors.js';
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
  /** Queue the batch's meter/channel/local days for validation (vee_queue), in the same transaction. Ingest sets it; VEE's own writes do not. */
  validate?: boolean;
  /**
   * Where a row came from (its index as sent, the raw row), for the dead letter
   * of a late measured value for a settled hour (KEEPS_SETTLED); asked only for
   * those rows. Without it the dead letter has no index and the row as stored.
   */
  rowOrigin?: (row: NormalizedReading, position: number) => RowOrigin | undefined;
}

export type RowOrigin = Pick<DeadLetter, 'rowIndex' | 'payload'> & Partial<Pick<DeadLetter, 'topic' | 'principal' | 'meter'>>;

/** A row the write itself dead-lettered (in its transaction) instead of storing it. */
export interface WriteReject {
  readonly row: NormalizedReading;
  readonly rowIndex: number | null;
  readonly reason: string;
}

const STAGING = sql`CREATE TEMP TABLE IF NOT EXISTS staging_readings (
  meter_id integer NOT NULL, channel smallint NOT NULL, start timestamptz NOT NULL,
  value double precision NOT NULL, interval_minutes smallint, quality smallint NOT NULL, source smallint NOT NULL
) ON COMMIT DELETE ROWS`;

/*
 * The write runs per request on 10⁴–10⁵ rows, so its shape matters more than
 * anything else on the write path (figures in docs/performance.md):
 * - Fresh data (no stored row of the batch's meters and channels in its time
 *   span, one index probe per meter says so) is COPYed straight into
 *   readings: there is nothing to merge, and that is as cheap as a raw COPY.
 *   Otherwise it is COPYed into a staging table and merged:
 * - `cur` reads only the stored rows of the batch's meters and channels in its
 *   time span, through the primary key (meter_id, channel, start). Joining on
 *   the time span alone scans the whole table once per batch.
 * - New rows go in with a plain INSERT: ON CONFLICT costs about twice as much
 *   server CPU per row (speculative insertion probes the index twice).
 * - No lock is taken up front: concurrent writers of the same keys are rare,
 *   and a lost race always surfaces as an error that rolls the write back
 *   (see lockStoredRows), after which writeReadings runs it again with the
 *   stored keys locked.
 * - No ANALYZE of the staging table (≈ 15 % of server time); the plan is the
 *   same without its statistics.
 * Data-modifying CTEs share one snapshot, so `cur` holds the old values.
 */
/**
 * A head-end re-sending the figure VEE already judged (stored as validated or
 * suspect, arriving as measured) is a no-op, not a new version: otherwise each
 * re-send would undo the judgement and the next validation run would redo it.
 * `validate` is true for external ingest (BatchInfo.validate); VEE's own writes,
 * which may lift a suspect mark back to measured, pass false.
 */
const KEEPS_JUDGEMENT = (stored: string, incoming: string, validate: boolean) =>
  sql`${validate}::boolean AND ${sql.raw(`${incoming}.quality = ${qualityCode('measured')} AND ${stored}.quality IN (${qualityCode('validated')}, ${qualityCode('suspect')}) AND ${stored}.value = ${incoming}.value`)}`;

/**
 * Settlement supersedes measured values (docs/settlement.md): a measured
 * figure sent by a head-end for an hour whose current value came from
 * settlement does not replace it. A re-send of the value the settlement
 * replaced (the newest non-settlement version in the history) is a no-op,
 * counted unchanged; a different one (a late measured correction) is kept as
 * a dead letter instead (HELD_BY_SETTLEMENT). Settlement imports, edits and
 * VEE's own writes still replace a settled value (`validate` false).
 */
const KEEPS_SETTLED = (stored: string, incoming: string, validate: boolean) =>
  sql`${validate}::boolean AND ${sql.raw(`${incoming}.quality = ${qualityCode('measured')} AND ${stored}.source = ${sourceCode('settlement')} AND ${incoming}.source <> ${sourceCode('settlement')}`)}`;

/** The newest version of `c`'s key in reading_history whose source is not settlement: the value before the settlement (null: none). */
const BEFORE_SETTLEMENT = (c: string) =>
  `(SELECT h.value FROM reading_history h WHERE h.meter_id = ${c}.meter_id AND h.channel = ${c}.channel AND h.start = ${c}.start AND h.source <> ${sourceCode('settlement')} ORDER BY h.version DESC LIMIT 1)`;

/**
 * An aggregate over `c` (stored columns, `new_value`, and `settled`: KEEPS_SETTLED
 * held): as JSON, the rows whose incoming value differs from the value
 * before the settlement, or that have none: late measured values for a
 * settled hour, which writeReadings dead-letters (HeldRow). An aggregate's
 * FILTER is evaluated before its arguments and AND stops at `settled`, so only
 * settled rows probe the history (a primary-key probe each); the others cost
 * one boolean test in a scan fastMerge makes anyway.
 */
const HELD_BY_SETTLEMENT = (c: string) => `
  json_agg(json_build_object(
    'meter_id', ${c}.meter_id, 'channel', ${c}.channel, 'start_ms', (extract(epoch FROM ${c}.start) * 1000)::float8,
    'new_value', ${c}.new_value, 'settled_value', ${c}.value, 'before_value', ${BEFORE_SETTLEMENT(c)},
    'external_id', (SELECT m.external_id FROM meters m WHERE m.id = ${c}.meter_id)
  )) FILTER (WHERE ${c}.settled AND ${BEFORE_SETTLEMENT(c)} IS DISTINCT FROM ${c}.new_value)`;

/** What the merges know of a batch: its time span (first and last start), meters and channels. */
interface Span {
  readonly min: Date;
  readonly max: Date;
  readonly meters: readonly number[];
  readonly channels: readonly number[];
  /** Each meter's own first and last start (ISO), in the order of `meters`. */
  readonly meterFrom: readonly string[];
  readonly meterTo: readonly string[];
}

const fastMerge = (batchId: number, span: Span, validate: boolean) => sql<{ stored: number; superseded: number; held: HeldRow[] | null }>`
WITH cur AS MATERIALIZED (
  SELECT r.meter_id, r.channel, r.start, r.value, r.interval_minutes, r.quality, r.source, r.version, r.batch_id,
         s.value AS new_value, s.interval_minutes AS new_interval_minutes, s.quality AS new_quality, s.source AS new_source,
         ((r.value <> s.value OR (r.quality <> s.quality AND NOT (${KEEPS_JUDGEMENT('r', 's', validate)}))) AND NOT (${KEEPS_SETTLED('r', 's', validate)})) AS differs,
         (${KEEPS_SETTLED('r', 's', validate)}) AS settled
  FROM readings r
  JOIN staging_readings s USING (meter_id, channel, start)
  WHERE r.meter_id = ANY(${span.meters}::int[]) AND r.channel = ANY(${span.channels}::smallint[]) AND r.start >= ${span.min} AND r.start <= ${span.max}
), hist AS (
  INSERT INTO reading_history (meter_id, channel, start, value, interval_minutes, quality, source, version, batch_id, superseded_by_batch)
  SELECT meter_id, channel, start, value, interval_minutes, quality, source, version, batch_id, ${batchId} FROM cur WHERE differs
), up AS (
  UPDATE readings r
  SET value = c.new_value, interval_minutes = c.new_interval_minutes, quality = c.new_quality, source = c.new_source,
      version = r.version + 1, batch_id = ${batchId}
  FROM cur c
  WHERE c.differs AND r.meter_id = c.meter_id AND r.channel = c.channel AND r.start = c.start
), ins AS (
  INSERT INTO readings (meter_id, channel, start, value, interval_minutes, quality, source, version, batch_id)
  SELECT s.meter_id, s.channel, s.start, s.value, s.interval_minutes, s.quality, s.source, 1, ${batchId}
  FROM staging_readings s
  WHERE NOT EXISTS (SELECT 1 FROM cur c WHERE c.meter_id = s.meter_id AND c.channel = s.channel AND c.start = s.start)
)
SELECT count(*)::int AS stored, count(*) FILTER (WHERE differs)::int AS superseded, ${sql.raw(HELD_BY_SETTLEMENT('cur'))} AS held FROM cur`;

/**
 * Locks the stored rows of the batch's keys, in key order, before the merge
 * of a retried write. Why a write is retried: fastMerge numbers the
 * version it moves to reading_history from its snapshot. A concurrent writer
 * that replaced the same row after that snapshot moved the same version
 * there (every version bump writes the old version to the history in the
 * same statement), so ours collides with it (unique_violation on
 * reading_history_pkey); one that inserted a key we insert collides on
 * readings_pkey; writers locking rows in different orders deadlock. Each
 * error rolls the whole write back, nothing stale is ever stored, and the
 * write runs again: with the rows locked, fastMerge's next snapshot is the
 * latest committed state of every stored key and stays so until commit, so
 * the versions it numbers cannot collide. Only a key inserted by another
 * writer after this lock can still race (it retries once more, and then the
 * key is stored and locked). Key order: retrying writers never deadlock with
 * each other.
 */
const lockStoredRows = (span: Span) => sql`
SELECT count(*)::int AS locked FROM (
  SELECT 1 FROM readings r
  JOIN staging_readings s USING (meter_id, channel, start)
  WHERE r.meter_id = ANY(${span.meters}::int[]) AND r.channel = ANY(${span.channels}::smallint[]) AND r.start >= ${span.min} AND r.start <= ${span.max}
  ORDER BY r.meter_id, r.channel, r.start
  FOR UPDATE OF r
) k`;

/**
 * Queues the (meter, channel, local date) keys of a batch for validation
 * (ingest/vee/vee-worker.ts drains the queue), in key order so that concurrent
 * batches lock queue rows in the same order; a key already claimed by a worker
 * is re-armed so the new data gets validated.
 */
const enqueueValidation = (meter: readonly number[], channel: readonly number[], date: readonly string[]) => sql`
INSERT INTO vee_queue (meter_id, channel, local_date)
SELECT * FROM unnest(${meter}::int[], ${channel}::smallint[], ${date}::date[])
ORDER BY 1, 2, 3
ON CONFLICT (meter_id, channel, local_date) DO UPDATE SET claimed_at = NULL, enqueued_at = now() WHERE vee_queue.claimed_at IS NOT NULL`;

const DAY_MS = 86_400_000;

/**
 * The local day (days since 1970-01-01 of the date in its meter's zone) of
 * every row, NaN for a meter not found; the zones are read once for both the
 * validation queue and billing's dirty days. Rows come meter by meter in
 * time order, so a day's rows cost two comparisons (models/calendar.ts
 * localDayCounter), not an offset lookup each.
 */
async function localDaysOf(db: Kysely<DB>, rows: readonly NormalizedReading[], meterIds: readonly number[]): Promise<Float64Array> {
  const zones = await db.selectFrom('meters').select(['id', 'timezone']).where(sql<boolean>`id = ANY(${meterIds}::int[])`).execute();
  const counterOf = new Map(zones.map((z) => [z.id, localDayCounter(z.timezone)]));
  const days = new Float64Array(rows.length);
  let lastMeter = -1;
  let dayOf: ((ms: number) => number) | undefined;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (r.meterId !== lastMeter) dayOf = counterOf.get((lastMeter = r.meterId));
    days[i] = dayOf === undefined ? Number.NaN : dayOf(r.startMs);
  }
  return days;
}

/** Queues the meter/channel/local days the rows touched for validation (vee_queue), one key per day. */
async function enqueueTouchedDays(db: Kysely<DB>, rows: readonly NormalizedReading[], localDays: Float64Array): Promise<void> {
  const days = new Map<number, { meterId: number; channel: number; days: Set<number> }>();
  let lastKey = -1;
  let group: { meterId: number; channel: number; days: Set<number> } | undefined;
  let lastDay = Number.NaN;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    const key = r.meterId * 65_536 + r.channel;
    if (key !== lastKey || group === undefined) {
      lastKey = key;
      lastDay = Number.NaN;
      group = days.get(key);
      if (group === undefined) days.set(key, (group = { meterId: r.meterId, channel: r.channel, days: new Set() }));
    }
    const day = localDays[i];
    if (Number.isNaN(day)) continue; // no such meter: nothing to validate against
    if (day !== lastDay) group.days.add((lastDay = day));
  }
  const meter: number[] = [];
  const channel: number[] = [];
  const date: string[] = [];
  for (const g of days.values()) {
    for (const d of g.days) {
      meter.push(g.meterId);
      channel.push(g.channel);
      date.push(new Date(d * DAY_MS).toISOString().slice(0, 10));
    }
  }
  await enqueueValidation(meter, channel, date).execute(db);
}

/**
 * Whether any row is stored for the batch's meters and channels, each meter
 * in its own time span (one primary-key probe per meter). A batch of whole
 * load profiles usually splits one meter with the batch before it: probed
 * over the batch's whole span, that meter's earlier hours sent every such
 * batch down the staging merge path.
 */
const anyStored = (span: Span) => sql<{ stored: boolean }>`
SELECT EXISTS (
  SELECT 1 FROM unnest(${span.meters}::int[], ${span.meterFrom}::timestamptz[], ${span.meterTo}::timestamptz[]) AS m(meter_id, lo, hi)
  WHERE EXISTS (SELECT 1 FROM readings r WHERE r.meter_id = m.meter_id AND r.channel = ANY(${span.channels}::smallint[]) AND r.start >= m.lo AND r.start <= m.hi)
) AS stored`;

/**
 * Runs of a write in all: the first without locks, the others with the stored
 * keys locked (lockStoredRows). A locked run loses only to a writer inserting
 * one of its new keys at the same moment (or a deadlock with an unlocked
 * first run), and each loss means that writer committed. In
 * test/reading-write-concurrency.test.ts (4 writers × 50 rounds on one
 * meter/hour) about one write in three needs a second run, none a third.
 */
const WRITE_ATTEMPTS = 6;

const TWO_32 = 4_294_967_296;
// 'PGCOPY\n\377\r\n\0', int32 flags, int32 header extension length.
const COPY_HEADER = [0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0];
// Per row: field count, then length + value of meter_id int4, channel int2,
// start int8 µs, value float8, interval_minutes int2, quality int2, source int2
// (the staging layout), and batch_id int8 when COPYing into readings.
const ROW_BYTES = 2 + (4 + 4) + (4 + 2) + (4 + 8) + (4 + 8) + (4 + 2) * 3;
const BATCH_ID_BYTES = 4 + 8;

/** The columns toCopyBinary writes, for `COPY readings (…)` with a batch id. */
const COPY_READINGS = 'COPY readings (meter_id, channel, start, value, interval_minutes, quality, source, batch_id) FROM STDIN (FORMAT binary)';

/**
 * Encodes rows for `COPY … FROM STDIN (FORMAT binary)` (the PostgreSQL
 * "binary COPY file format"): no number or timestamp text to print here nor
 * to parse on the server, which makes COPY about 1.6× cheaper on the server
 * than text. Timestamps are µs since 2000-01-01 UTC, exact in a double for
 * ±142 years around it. With `batchId`, each row also carries it (8 fields).
 */
export function toCopyBinary(rows: readonly NormalizedReading[], batchId?: number): Uint8Array<ArrayBuffer> {
  const withBatch = batchId !== undefined;
  const bytes = new Uint8Array(COPY_HEADER.length + rows.length * (ROW_BYTES + (withBatch ? BATCH_ID_BYTES : 0)) + 2);
  const v = new DataView(bytes.buffer);
  bytes.set(COPY_HEADER);
  const batchHi = withBatch ? Math.floor(batchId / TWO_32) : 0;
  const batchLo = withBatch ? batchId - batchHi * TWO_32 : 0;
  let o = COPY_HEADER.length;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    v.setInt16(o, withBatch ? 8 : 7);
    v.setInt32(o + 2, 4);
    v.setInt32(o + 6, r.meterId);
    v.setInt32(o + 10, 2);
    v.setInt16(o + 14, r.channel);
    const us = (r.startMs - PG_EPOCH_MS) * 1000;
    const hi = Math.floor(us / TWO_32);
    v.setInt32(o + 16, 8);
    v.setInt32(o + 20, hi);
    v.setUint32(o + 24, us - hi * TWO_32);
    v.setInt32(o + 28, 8);
    v.setFloat64(o + 32, r.value + 0); // -0 → 0, as text COPY would store it
    o += 40;
    if (r.intervalMinutes === null) {
      v.setInt32(o, -1);
      o += 4;
    } else {
      v.setInt32(o, 2);
      v.setInt16(o + 4, r.intervalMinutes);
      o += 6;
    }
    v.setInt32(o, 2);
    v.setInt16(o + 4, r.quality);
    v.setInt32(o + 6, 2);
    v.setInt16(o + 10, r.source);
    o += 12;
    if (withBatch) {
      v.setInt32(o, 8);
      v.setInt32(o + 4, batchHi);
      v.setUint32(o + 8, batchLo);
      o += 12;
    }
  }
  v.setInt16(o, -1); // file trailer
  return bytes.subarray(0, o + 2);
}

/**
 * Stores validated rows in one transaction: a batch row, the batch's dead
 * letters, and the rows, by binary COPY straight into readings when none of
 * their meters and channels has a stored row in their time span, else by
 * binary COPY into a temp staging table and one merge. Rows must be unique
 * per meter/channel/start (ingest/normalize guarantees it). Idempotent:
 * re-sending is a no-op. Concurrent writers of the same keys are
 * serialised: a run that lost a race to one is rolled back and run again
 * with the stored keys locked (lockStoredRows), at most WRITE_ATTEMPTS runs, so
 * each gets accepted, superseded or unchanged and versions stay numbered
 * 1, 2, 3, … per key. `rejected`: rows dead-lettered by the write itself,
 * in the same transaction (late measured values for settled hours, see
 * KEEPS_SETTLED); not counted in accepted, unchanged or superseded.
 */
export async function writeReadings(
  database: Database,
  rows: readonly NormalizedReading[],
  batch: BatchInfo,
  deadLetters: readonly DeadLetter[] = [],
): Promise<WriteCounts & { batchId: number; rejected: WriteReject[] }> {
  let min = Infinity;
  let max = -Infinity;
  const byMeter = new Map<number, { from: number; to: number }>();
  const channels = new Set<number>();
  let last: { from: number; to: number } | undefined;
  let lastMeter = -1;
  for (const r of rows) {
    if (r.startMs < min) min = r.startMs;
    if (r.startMs > max) max = r.startMs;
    if (r.meterId !== lastMeter) {
      lastMeter = r.meterId;
      last = byMeter.get(r.meterId);
      if (last === undefined) byMeter.set(r.meterId, (last = { from: r.startMs, to: r.startMs }));
    }
    if (r.startMs < last!.from) last!.from = r.startMs;
    if (r.startMs > last!.to) last!.to = r.startMs;
    channels.add(r.channel);
  }
  const spans = [...byMeter.values()];
  const span: Span = {
    min: new Date(min),
    max: new Date(max),
    meters: [...byMeter.keys()],
    channels: [...channels],
    meterFrom: spans.map((m) => new Date(m.from).toISOString()),
    meterTo: spans.map((m) => new Date(m.to).toISOString()),
  };

  let runs = 0;
  return withRetry(database, (s) => writeOnce(s, rows, batch, deadLetters, span, ++runs > 1), WRITE_ATTEMPTS);
}

/** One run of writeReadings in transaction `s`; `lockStored` on a retry (lockStoredRows). */
async function writeOnce(
  s: Session,
  rows: readonly NormalizedReading[],
  batch: BatchInfo,
  deadLetters: readonly DeadLetter[],
  span: Span,
  lockStored: boolean,
): Promise<WriteCounts & { batchId: number; rejected: WriteReject[] }> {
  const { db } = s;
  const meterList = span.meters;
  const { id } = await db
    .insertInto('ingest_batches')
    .values({ transport: batch.transport, principal: batch.principal, detail: batch.detail ?? null })
    .returning('id')
    .executeTakeFirstOrThrow();
  await insertDeadLetters(s, { transport: batch.transport, principal: batch.principal, topic: batch.topic, batchId: id }, deadLetters);
  if (rows.length === 0) return { batchId: id, accepted: 0, unchanged: 0, superseded: 0, rejected: [] };
  const {
    rows: [{ stored }],
  } = await anyStored(span).execute(db);
  if (!stored) {
    await s.raw.copyFrom(COPY_READINGS, toCopyBinary(rows, id));
    const days = await localDaysOf(db, rows, meterList);
    if (batch.validate) await enqueueTouchedDays(db, rows, days);
    await markDirtyDays(s, rows, days);
    return { batchId: id, accepted: rows.length, unchanged: 0, superseded: 0, rejected: [] };
  }
  await STAGING.execute(db);
  await s.raw.copyFrom('COPY staging_readings FROM STDIN (FORMAT binary)', toCopyBinary(rows));
  if (lockStored) await lockStoredRows(span).execute(db);
  const {
    rows: [res],
  } = await fastMerge(id, span, batch.validate === true).execute(db);
  const counts: WriteCounts & { batchId: number; rejected: WriteReject[] } = {
    batchId: id,
    accepted: rows.length - res.stored,
    superseded: res.superseded,
    unchanged: res.stored - res.superseded,
    rejected: [],
  };
  if (res.held?.length) {
    counts.rejected = await rejectHeld(s, rows, batch, id, res.held);
    counts.unchanged -= counts.rejected.length; // they were kept out of readings like a re-send
  }
  // A batch that changed nothing (a pure re-send) needs no re-validation.
  if (counts.accepted + counts.superseded > 0) {
    const days = await localDaysOf(db, rows, meterList);
    if (batch.validate) await enqueueTouchedDays(db, rows, days);
    await markDirtyDays(s, rows, days); // billing rollup
  }
  return counts;
}

/** A row of HELD_BY_SETTLEMENT. */
interface HeldRow {
  meter_id: number;
  channel: number;
  start_ms: number;
  new_value: number;
  settled_value: number;
  before_value: number | null;
  external_id: string;
}

/**
 * Dead-letters late measured values for settled hours, in the write's
 * transaction: the value is not lost, billing keeps the settled one. Runs
 * only when HELD_BY_SETTLEMENT found some (rare), so one pass over the batch
 * to find them is fine.
 */
async function rejectHeld(s: Session, rows: readonly NormalizedReading[], batch: BatchInfo, batchId: number, held: readonly HeldRow[]): Promise<WriteReject[]> {
  const byGroup = new Map<number, Map<number, HeldRow>>(); // meter * 65 536 + channel (exact) → start → row
  for (const h of held) {
    const key = h.meter_id * 65_536 + h.channel;
    let g = byGroup.get(key);
    if (g === undefined) byGroup.set(key, (g = new Map()));
    g.set(h.start_ms, h);
  }
  const out: WriteReject[] = [];
  const letters: DeadLetter[] = [];
  for (let position = 0; position < rows.length; position++) {
    const row = rows[position];
    const h = byGroup.get(row.meterId * 65_536 + row.channel)?.get(row.startMs);
    if (h === undefined) continue;
    const reason =
      `hour is settled (settlement supersedes measured values); measured value ${h.new_value} kept here, current settled value ${h.settled_value}` +
      (h.before_value === null ? '; no value before the settlement' : `; value before the settlement ${h.before_value}`);
    const origin = batch.rowOrigin?.(row, position);
    const payload =
      origin?.payload ??
      JSON.stringify({
        meter: h.external_id,
        channel: channelByCode(row.channel).name,
        start: new Date(row.startMs).toISOString(),
        value: row.value,
        quality: qualityName(row.quality),
        source: sourceName(row.source),
      });
    const rowIndex = origin?.rowIndex ?? null;
    letters.push({ rowIndex, meter: h.external_id, payload, reason, topic: origin?.topic, principal: origin?.principal });
    out.push({ row, rowIndex, reason });
  }
  await insertDeadLetters(s, { transport: batch.transport, principal: batch.principal, topic: batch.topic, batchId }, letters);
  return out;
}
