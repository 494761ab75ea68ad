import { sql } from 'kysely';
import type { Aggregation } from '../models/channel.js';
import type { Database } from './database.js';
import { portfolioMembershipSql } from './meter-attribute.repository.js';

/**
 * Read side of readings: raw and bucketed series of one meter, the version
 * history of one value, and the portfolio aggregate. Plain SQL that runs the
 * same on every flavour (readings is a hypertable on TimescaleDB, a plain
 * table otherwise); buckets are local-time buckets via the 3-argument
 * `date_trunc(unit, ts, zone)` (PostgreSQL ≥ 12, both PGlite builds).
 */

export type BucketUnit = 'hour' | 'day' | 'month';

/** What a query needs to know about a meter. */
export interface QueryMeter {
  readonly id: number;
  readonly externalId: string;
  readonly timezone: string;
  readonly intervalMinutes: number;
  readonly multiplier: number;
}

interface MeterRow {
  id: number;
  external_id: string;
  timezone: string;
  interval_minutes: number;
  multiplier: number;
}

const toQueryMeter = (r: MeterRow): QueryMeter => ({
  id: r.id,
  externalId: r.external_id,
  timezone: r.timezone,
  intervalMinutes: r.interval_minutes,
  multiplier: r.multiplier,
});

export async function findQueryMeter(database: Database, externalId: string): Promise<QueryMeter | undefined> {
  const row = await database.db.selectFrom('meters').select(['id', 'external_id', 'timezone', 'interval_minutes', 'multiplier']).where('external_id', '=', externalId).executeTakeFirst();
  return row ? toQueryMeter(row) : undefined;
}

/**
 * The meters of a portfolio, a group, or a list of external ids (absent ids are simply missing). With `range`, a
 * portfolio's members are those its dated versions put in it at some time in the range (issue 16, docs/meters.md),
 * each with the part of the range it is a member (`member`, absent: the whole range).
 */
export async function findQueryMeters(
  database: Database,
  selector: { portfolio: string } | { group: string } | { meters: readonly string[] },
  range?: { from: Date; to: Date },
): Promise<(QueryMeter & { readonly member?: { from: Date | null; to: Date | null } })[]> {
  if ('portfolio' in selector && range) {
    const { rows } = await sql<MeterRow & { mfrom: Date | null; mto: Date | null }>`
      SELECT m.id, m.external_id, m.timezone, m.interval_minutes, m.multiplier, ms.mfrom, ms.mto
      FROM (${portfolioMembershipSql({ portfolio: selector.portfolio, ...range })}) ms JOIN meters m ON m.id = ms.meter_id
      ORDER BY m.external_id`.execute(database.db);
    return rows.map((r) => (r.mfrom === null && r.mto === null ? toQueryMeter(r) : { ...toQueryMeter(r), member: { from: r.mfrom, to: r.mto } }));
  }
  let q = database.db.selectFrom('meters').select(['id', 'external_id', 'timezone', 'interval_minutes', 'multiplier']).orderBy('external_id');
  if ('portfolio' in selector) q = q.where('portfolio', '=', selector.portfolio);
  else if ('group' in selector) q = q.where('group', '=', selector.group);
  else q = q.where(sql<boolean>`external_id = any(${selector.meters as string[]}::text[])`);
  return (await q.execute()).map(toQueryMeter);
}

/**
 * The rows of `readings` as they were at instant `asOf`, as a SQL source with
 * the same columns, or plain `readings` when `asOf` is undefined. A stored
 * version is visible at T when the batch that wrote it was received at or
 * before T and it was not yet superseded at T: the current row (received ≤ T),
 * or a history row with received ≤ T < superseded_at. superseded_at is the
 * now() of the superseding transaction, the received_at of its batch, so at
 * most one version per (meter, channel, start) is visible. Set-based: callers
 * put their meter/channel/start conditions outside and PostgreSQL pushes them
 * into both branches of the UNION ALL (primary-key ranges on both tables).
 * @example sql`SELECT sum(value) FROM ${readingsAsOf(new Date('2026-04-02T00:00:00Z'))} r WHERE r.meter_id = 7`
 */
export function readingsAsOf(asOf: Date | undefined) {
  if (asOf === undefined) return sql`readings`;
  return sql`(
    SELECT c.meter_id, c.channel, c.start, c.value, c.interval_minutes, c.quality, c.source, c.version, c.batch_id
    FROM readings c JOIN ingest_batches cb ON cb.id = c.batch_id
    WHERE cb.received_at <= ${asOf}
    UNION ALL
    SELECT h.meter_id, h.channel, h.start, h.value, h.interval_minutes, h.quality, h.source, h.version, h.batch_id
    FROM reading_history h JOIN ingest_batches hb ON hb.id = h.batch_id
    WHERE hb.received_at <= ${asOf} AND h.superseded_at > ${asOf}
  )`;
}

/**
 * The data version: the instant of the newest stored batch (received at or
 * before `asOf` when given), rounded UP to the millisecond so that it survives
 * an ISO-8601 round trip (received_at has microseconds). Reading with
 * `asOf = dataVersion` sees exactly the versions that were current when it was
 * taken. Epoch 0 when nothing was ever stored.
 */
export async function currentDataVersion(database: Database, asOf?: Date): Promise<Date> {
  const { rows } = await dataVersionQuery(asOf).execute(database.db);
  return new Date(rows[0]?.ms ?? 0);
}

/** The statement behind currentDataVersion, to run inside a caller's transaction (same snapshot as its reads). */
export function dataVersionQuery(asOf?: Date) {
  const cond = asOf === undefined ? sql`` : sql`WHERE received_at <= ${asOf}`;
  return sql<{ ms: number | null }>`SELECT ceil(extract(epoch FROM max(received_at)) * 1000) AS ms FROM ingest_batches ${cond}`;
}

export interface RawReadingRow {
  readonly start: Date;
  readonly value: number;
  readonly quality: number;
  readonly source: number;
}

/** Stored values of one meter/channel with `from <= start < to`, oldest first; as they were at `asOf` when given. */
export async function listRawReadings(database: Database, p: { meterId: number; channel: number; from: Date; to: Date; asOf?: Date }): Promise<RawReadingRow[]> {
  if (p.asOf !== undefined) {
    const { rows } = await sql<RawReadingRow>`
      SELECT start, value, quality, source FROM ${readingsAsOf(p.asOf)} r
      WHERE meter_id = ${p.meterId} AND channel = ${p.channel} AND start >= ${p.from} AND start < ${p.to}
      ORDER BY start`.execute(database.db);
    return rows;
  }
  return database.db
    .selectFrom('readings')
    .select(['start', 'value', 'quality', 'source'])
    .where('meter_id', '=', p.meterId)
    .where('channel', '=', p.channel)
    .where('start', '>=', p.from)
    .where('start', '<', p.to)
    .orderBy('start')
    .execute();
}

export interface BucketRow {
  /** Local-time bucket start (as an instant). */
  readonly bucket: Date;
  readonly value: number;
  /** Rows in the bucket. */
  readonly count: number;
  /** Intervals a complete bucket holds for `intervalMinutes` (DST-aware); null unless requested. */
  readonly expected: number | null;
  /** Quality/source code shared by every row of the bucket, or null when they differ. */
  readonly quality: number | null;
  readonly source: number | null;
}

// Fixed SQL fragments chosen by enum, never by user text.
/** One meter's values of a bucket, by the channel's aggregation rule (models/channel.ts). */
const REDUCE: Record<Aggregation, string> = {
  sum: 'sum(value)', // energy/volume per interval adds up
  last: '(array_agg(value ORDER BY start DESC))[1]', // cumulative index: the last reading in the bucket
  mean: 'avg(value)', // voltage, current, temperature, pressure
  max: 'max(value)', // maximum demand
};
const STEP: Record<BucketUnit, string> = { hour: "interval '1 hour'", day: "interval '1 day'", month: "interval '1 month'" };

/**
 * End of the bucket starting at `bucket`, as SQL. Days and months step in local
 * wall time (a local day is 23, 24 or 25 hours long); an hour steps in real time,
 * so the repeated 02:00 of an autumn night stays two separate one-hour buckets
 * (date_trunc('hour', ts, zone) keeps the original offset, it does not re-resolve it).
 */
function bucketEnd(unit: BucketUnit, tz: string) {
  return unit === 'hour' ? sql`bucket + ${sql.raw(STEP.hour)}` : sql`((bucket AT TIME ZONE ${tz}) + ${sql.raw(STEP[unit])}) AT TIME ZONE ${tz}`;
}

/**
 * One meter/channel bucketed by local `unit` in `tz`. Only buckets with data
 * are returned. `expectedIntervalMinutes` set → `expected` = bucket length / interval.
 * `asOf` set → the values as they were then (readingsAsOf).
 */
export async function listBucketedReadings(
  database: Database,
  p: { meterId: number; channel: number; aggregation: Aggregation; unit: BucketUnit; tz: string; from: Date; to: Date; expectedIntervalMinutes?: number; asOf?: Date },
): Promise<BucketRow[]> {
  const expected = p.expectedIntervalMinutes === undefined ? sql`NULL::int` : sql`round(extract(epoch FROM (${bucketEnd(p.unit, p.tz)}) - bucket) / 60 / ${p.expectedIntervalMinutes}::int)::int`;
  const { rows } = await sql<BucketRow>`
    SELECT bucket, value, count, ${expected} AS expected, quality, source
    FROM (
      SELECT bucket, ${sql.raw(REDUCE[p.aggregation])} AS value, count(*)::int AS count,
             CASE WHEN min(quality) = max(quality) THEN min(quality) END AS quality,
             CASE WHEN min(source) = max(source) THEN min(source) END AS source
      FROM (
        SELECT date_trunc(${p.unit}, start, ${p.tz}) AS bucket, start, value, quality, source
        FROM ${readingsAsOf(p.asOf)} r
        WHERE meter_id = ${p.meterId} AND channel = ${p.channel} AND start >= ${p.from} AND start < ${p.to}
      ) r
      GROUP BY bucket
    ) b
    ORDER BY bucket`.execute(database.db);
  return rows;
}

export interface ValueVersionRow {
  readonly version: number;
  readonly value: number;
  readonly quality: number;
  readonly source: number;
  readonly receivedAt: Date;
  readonly recordedBy: string | null;
  readonly transport: string;
  /** null for the current value. */
  readonly supersededAt: Date | null;
  readonly current: boolean;
}

/** Every stored version of one meter/channel/start, oldest first; empty when nothing was ever stored. */
export async function listValueVersions(database: Database, p: { meterId: number; channel: number; start: Date }): Promise<ValueVersionRow[]> {
  const { rows } = await sql<ValueVersionRow>`
    SELECT v.version, v.value, v.quality, v.source, b.received_at AS "receivedAt", b.principal AS "recordedBy",
           b.transport, v.superseded_at AS "supersededAt", v.current
    FROM (
      SELECT version, value, quality, source, batch_id, superseded_at, false AS current
      FROM reading_history WHERE meter_id = ${p.meterId} AND channel = ${p.channel} AND start = ${p.start}
      UNION ALL
      SELECT version, value, quality, source, batch_id, NULL::timestamptz, true
      FROM readings WHERE meter_id = ${p.meterId} AND channel = ${p.channel} AND start = ${p.start}
    ) v
    JOIN ingest_batches b ON b.id = v.batch_id
    ORDER BY v.version`.execute(database.db);
  return rows;
}

export interface AggregateRow {
  readonly bucket: Date;
  /** sum: Σ value × meter multiplier; mean: mean of the stored values; max: the largest value × meter multiplier. */
  readonly value: number;
  /** Distinct meters with at least one row in the bucket. */
  readonly meters: number;
  /** Rows behind the value. */
  readonly intervals: number;
}

/** How one bucket of a set of meters combines, by the channel's aggregation rule; `last` has no cross-meter meaning. */
export type SeriesAggregation = Exclude<Aggregation, 'last'>;

// Fixed SQL fragments chosen by enum, never by user text: per meter and bucket, then across meters.
// The meter multiplier (CT × VT ratio, pulse factor) scales energy, volume and power (sum, max), not a
// sampled voltage, current, temperature or pressure (mean).
const PER_METER: Record<SeriesAggregation, string> = { sum: 'sum(value)', mean: 'sum(value)', max: 'max(value)' };
const ACROSS_METERS: Record<SeriesAggregation, string> = {
  sum: 'sum(pm.value * m.multiplier)',
  mean: 'sum(pm.value) / sum(pm.n)::float8', // every stored value weighs the same
  max: 'max(pm.value * m.multiplier)',
};

/**
 * Series of a set of meters, bucketed by local `unit` in `tz`, combined by
 * `aggregation` (default sum). One set-based query: the per-meter partial
 * values are grouped first (a hash aggregate on (meter, bucket), rows reach it
 * through the primary key / chunk exclusion on meter_id = ANY, channel, start
 * range), so the multiplier join and the distinct-meter count touch one row
 * per meter and bucket instead of one per reading. Σ(v)·k = Σ(v·k) and
 * max(v)·k = max(v·k) per meter (k > 0). Reads `readings`, never the
 * `readings_hourly` continuous aggregate (which sums channels 1–4 and 7 only).
 */
export async function aggregateSeries(
  database: Database,
  p: {
    meterIds: readonly number[];
    channel: number;
    unit: BucketUnit;
    tz: string;
    from: Date;
    to: Date;
    aggregation?: SeriesAggregation;
    /** Meters counted only in part of the range (a dated portfolio membership, findQueryMeters): meter id → its part (null: the range's bound). */
    parts?: ReadonlyMap<number, { from: Date | null; to: Date | null }>;
  },
): Promise<AggregateRow[]> {
  const how = p.aggregation ?? 'sum';
  const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());
  const parts = p.parts?.size ? [...p.parts] : undefined;
  // Without parts the scan is as it always was; with them, those meters' rows outside their part are left out.
  const inPart = parts
    ? sql`AND NOT EXISTS (SELECT 1 FROM unnest(${parts.map(([id]) => id)}::int[], ${parts.map(([, x]) => iso(x.from))}::timestamptz[], ${parts.map(([, x]) => iso(x.to))}::timestamptz[]) AS pt(id, f, t)
                         WHERE pt.id = readings.meter_id AND (readings.start < pt.f OR readings.start >= pt.t))`
    : sql``;
  // The planner cannot know how many (meter, bucket) groups a date_trunc expression makes
  // (1 000 meters x 30 days: it guessed 72 000 for 30 000) and, with the default 4 MB
  // work_mem, picked a parallel sort that spills to disk, ~1.6x slower than the hash
  // aggregate it takes with more memory. Raised for this statement only (SET LOCAL).
  return database.db.transaction().execute(async (trx) => {
    await sql`SET LOCAL work_mem = '64MB'`.execute(trx);
    const { rows } = await sql<AggregateRow>`
      SELECT pm.bucket, ${sql.raw(ACROSS_METERS[how])} AS value, count(*)::int AS meters, sum(pm.n)::int AS intervals
      FROM (
        SELECT meter_id, bucket, ${sql.raw(PER_METER[how])} AS value, count(*) AS n
        FROM (
          SELECT meter_id, date_trunc(${p.unit}, start, ${p.tz}) AS bucket, value
          FROM readings
          WHERE meter_id = ANY(${p.meterIds as number[]}::int[]) AND channel = ${p.channel} AND start >= ${p.from} AND start < ${p.to} ${inPart}
        ) r
        GROUP BY meter_id, bucket
      ) pm
      JOIN meters m ON m.id = pm.meter_id
      GROUP BY pm.bucket
      ORDER BY pm.bucket`.execute(trx);
    return rows;
  });
}
