import { sql } from 'kysely';
import { CHANNELS } from '../models/channel.js';
import { qualityCode, sourceCode } from '../models/reading.js';
import type { ClassDays, ClassHourSum, IssueStatus, RuleName, Severity } from '../models/vee.js';
import type { Database } from './database.js';
import { int8At, packedView, timestampMsAt } from './packed.js';

/**
 * VEE storage: what a validation run reads (meters, values with their
 * history window, re-sent conflicts, accepted issues, parameter overrides) and
 * writes (issues), in set-based statements over a batch of meter ranges.
 */

const ALL_CHANNELS = CHANNELS.map((c) => c.code);
const SUSPECT = qualityCode('suspect');
/** As received from the meter side: the qualities whose arrival time the time rule reads. */
const RAW = [qualityCode('measured'), SUSPECT];
/** Sources whose values are not deliveries from the meter side: a change to or from them is no conflict (settlement supersedes, profile estimates are re-spread). */
const NOT_FROM_METER = [sourceCode('manual'), sourceCode('estimated'), sourceCode('settlement'), sourceCode('profile')];

export interface VeeMeterRow {
  readonly id: number;
  readonly externalId: string;
  readonly timezone: string;
  readonly intervalMinutes: number;
  readonly commodity: string;
  readonly profileClass: string | null;
  readonly group: string | null;
  readonly supplyStart: string | null;
  readonly supplyEnd: string | null;
  /** When the meter was registered. */
  readonly createdAt: Date;
}

const METER_COLUMNS = sql`id, external_id AS "externalId", timezone, interval_minutes AS "intervalMinutes", commodity,
  profile_class AS "profileClass", "group", supply_start::text AS "supplyStart", supply_end::text AS "supplyEnd", created_at AS "createdAt"`;

/** Meters by internal id, external id list, or group; absent ones are simply missing. Ordered by external id. */
export async function findVeeMeters(database: Database, selector: { ids: readonly number[] } | { externalIds: readonly string[] } | { group: string }): Promise<VeeMeterRow[]> {
  const where =
    'ids' in selector
      ? sql`id = ANY(${selector.ids as number[]}::int[])`
      : 'externalIds' in selector
        ? sql`external_id = ANY(${selector.externalIds as string[]}::text[])`
        : sql`"group" = ${selector.group}`;
  const { rows } = await sql<VeeMeterRow>`SELECT ${METER_COLUMNS} FROM meters WHERE ${where} ORDER BY external_id`.execute(database.db);
  return rows;
}

/** A meter and an instant range, one element of a batch. */
export interface MeterRange {
  readonly meterId: number;
  readonly fromMs: number;
  readonly toMs: number;
}

const rangeArrays = (ranges: readonly MeterRange[]) => ({
  idx: ranges.map((_, i) => i),
  meters: ranges.map((r) => r.meterId),
  from: ranges.map((r) => new Date(r.fromMs).toISOString()),
  to: ranges.map((r) => new Date(r.toMs).toISOString()),
});

export interface StoredValueRow {
  /** Index of the range in the batch. */
  readonly i: number;
  readonly channel: number;
  /** Epoch ms (a number, not a Date: a month of a thousand meters is a million rows to parse). */
  readonly startMs: number;
  readonly value: number;
  readonly quality: number;
  readonly source: number;
  /** Suspect because a VEE run said so (its batch came from transport 'vee'). */
  readonly byVee: boolean;
  /**
   * When the figure arrived from the meter side (epoch ms): the received time
   * of its batch, or, for a value VEE re-wrote (a suspect mark, an un-mark),
   * of the newest earlier version delivered by any other transport. Null for
   * VEE's own estimates, and when the value does not start after its batch
   * arrived (it cannot be early: most rows, so most rows carry no number).
   */
  readonly receivedMs: number | null;
}

/** Bytes per packed value: start (timestamptz_send), value (float8send), quality, source (int2send), batch (int8send). */
const VALUE_BYTES = 28;

/** Byte offsets of the packed values in time order: in storage order unless a value is out of it. */
function offsetsInTimeOrder(view: DataView, byteLength: number): number[] {
  const offsets: number[] = [];
  let ordered = true;
  for (let o = 0, prev = Number.NEGATIVE_INFINITY; o + VALUE_BYTES <= byteLength; o += VALUE_BYTES) {
    const t = timestampMsAt(view, o);
    if (t < prev) ordered = false;
    prev = t;
    offsets.push(o);
  }
  if (!ordered) offsets.sort((a, b) => timestampMsAt(view, a) - timestampMsAt(view, b));
  return offsets;
}

/**
 * Every stored value of each range (all channels), ordered by range,
 * channel, start, with when its figure arrived. The values come packed, one
 * bytea per range and channel (sql/packed.ts): parsing them as text rows cost
 * the worker more than validating them. Each range/channel pair is a
 * primary-key range scan; the batches behind the values are read once per
 * batch, and the history only for the values VEE re-wrote.
 */
export async function loadValues(database: Database, ranges: readonly MeterRange[]): Promise<StoredValueRow[]> {
  if (ranges.length === 0) return [];
  const a = rangeArrays(ranges);
  const { rows: packed } = await sql<{ i: number; channel: number; b: Uint8Array }>`
    SELECT q.i, r.channel,
           string_agg(timestamptz_send(r.start) || float8send(r.value) || int2send(r.quality) || int2send(r.source) || int8send(r.batch_id), ''::bytea) AS b
    FROM unnest(${a.idx}::int[], ${a.meters}::int[], ${a.from}::timestamptz[], ${a.to}::timestamptz[]) AS q(i, meter_id, f, t)
    CROSS JOIN unnest(${ALL_CHANNELS}::smallint[]) AS c(channel)
    JOIN readings r ON r.meter_id = q.meter_id AND r.channel = c.channel AND r.start >= q.f AND r.start < q.t
    GROUP BY q.i, r.channel
    ORDER BY q.i, r.channel`.execute(database.db);
  // Without ORDER BY in the aggregate (it sorted every group: half the statement's time) the values come in
  // primary-key order; a group that does not is put in time order here.
  let n = 0;
  const batchIds = new Set<number>();
  for (const { b } of packed) {
    const view = packedView(b);
    for (let o = 0; o + VALUE_BYTES <= b.byteLength; o += VALUE_BYTES, n++) batchIds.add(int8At(view, o + 20));
  }
  const { rows: batchRows } = await sql<{ id: number; transport: string; receivedMs: number }>`
    SELECT id::float8 AS id, transport, (extract(epoch FROM received_at) * 1000)::float8 AS "receivedMs"
    FROM ingest_batches WHERE id = ANY(${[...batchIds]}::int8[])`.execute(database.db);
  const batches = new Map(batchRows.map((r) => [r.id, r]));
  const rewritten: number[] = []; // values VEE re-wrote: their figure arrived with the newest earlier delivery
  const out: StoredValueRow[] = new Array(n);
  let k = 0;
  for (const { i, channel, b } of packed) {
    const view = packedView(b);
    for (const o of offsetsInTimeOrder(view, b.byteLength)) {
      const startMs = timestampMsAt(view, o);
      const quality = view.getInt16(o + 16);
      const batch = batches.get(int8At(view, o + 20));
      const fromVee = batch?.transport === 'vee';
      if (fromVee && RAW.includes(quality)) rewritten.push(k);
      out[k++] = {
        i,
        channel,
        startMs,
        value: view.getFloat64(o + 8),
        quality,
        source: view.getInt16(o + 18),
        byVee: fromVee && quality === SUSPECT,
        receivedMs: !fromVee && batch && startMs > batch.receivedMs ? batch.receivedMs : null,
      };
    }
  }
  if (rewritten.length) {
    const { rows } = await sql<{ k: number; receivedMs: number | null }>`
      SELECT x.k, (extract(epoch FROM (
               SELECT max(hb.received_at) FROM reading_history h JOIN ingest_batches hb ON hb.id = h.batch_id
               WHERE h.meter_id = x.meter_id AND h.channel = x.channel AND h.start = x.start AND hb.transport <> 'vee')) * 1000)::float8 AS "receivedMs"
      FROM unnest(${rewritten}::int[], ${rewritten.map((k) => ranges[out[k].i].meterId)}::int[], ${rewritten.map((k) => out[k].channel)}::smallint[],
                  ${rewritten.map((k) => new Date(out[k].startMs).toISOString())}::timestamptz[]) AS x(k, meter_id, channel, start)`.execute(database.db);
    for (const r of rows) if (r.receivedMs !== null) out[r.k] = { ...out[r.k], receivedMs: r.receivedMs };
  }
  return out;
}

export interface FirstValueRow {
  readonly meterId: number;
  readonly channel: number;
  /** Start of the channel's oldest stored value (any quality), epoch ms. */
  readonly startMs: number;
}

/** The oldest stored value of each channel of the meters: where a meter without a supply start begins to be expected. One primary-key probe per meter channel. */
export async function loadFirstValues(database: Database, meterIds: readonly number[]): Promise<FirstValueRow[]> {
  if (meterIds.length === 0) return [];
  const { rows } = await sql<FirstValueRow>`
    SELECT m.meter_id AS "meterId", c.channel, (extract(epoch FROM f.start) * 1000)::float8 AS "startMs"
    FROM unnest(${meterIds as number[]}::int[]) AS m(meter_id)
    CROSS JOIN unnest(${ALL_CHANNELS}::smallint[]) AS c(channel)
    CROSS JOIN LATERAL (SELECT r.start FROM readings r WHERE r.meter_id = m.meter_id AND r.channel = c.channel ORDER BY r.start LIMIT 1) f`.execute(database.db);
  return rows;
}

/**
 * Where the meters' registers wrap, as stored: the register-map entries of
 * the stored Modbus devices that name one of the meters (by external id), and
 * the meters' `register_digits`. ingest/vee/wrap-points.ts reads them.
 */
export async function loadRegisterMaps(database: Database, meterIds: readonly number[]): Promise<{ meterId: number; entry?: unknown; registerDigits?: number }[]> {
  if (meterIds.length === 0) return [];
  const { rows } = await sql<{ meterId: number; entry: unknown; registerDigits: number | null }>`
    SELECT m.id AS "meterId", e.entry, NULL::smallint AS "registerDigits", d.id AS device
    FROM modbus_devices d
    CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(d.config->'registers') = 'array' THEN d.config->'registers' ELSE '[]'::jsonb END) AS e(entry)
    JOIN meters m ON m.external_id = e.entry->>'meter'
    WHERE m.id = ANY(${meterIds as number[]}::int[])
    UNION ALL
    SELECT m.id, NULL, m.register_digits, NULL FROM meters m WHERE m.id = ANY(${meterIds as number[]}::int[]) AND m.register_digits IS NOT NULL
    ORDER BY device NULLS LAST`.execute(database.db);
  return rows.map((r) => (r.registerDigits === null ? { meterId: r.meterId, entry: r.entry } : { meterId: r.meterId, registerDigits: r.registerDigits }));
}

export interface ConflictRow {
  readonly i: number;
  readonly channel: number;
  readonly start: Date;
  readonly oldValue: number;
  readonly newValue: number;
}

/**
 * Values of each range that the meter side sent again with a different
 * figure: the current value and an earlier version both came from a meter
 * transport (not an estimate or a manual edit) and differ. The newest such
 * earlier version is reported.
 */
export async function loadConflicts(database: Database, ranges: readonly MeterRange[]): Promise<ConflictRow[]> {
  if (ranges.length === 0) return [];
  const a = rangeArrays(ranges);
  const { rows } = await sql<ConflictRow>`
    SELECT DISTINCT ON (q.i, h.channel, h.start) q.i, h.channel, h.start, h.value AS "oldValue", r.value AS "newValue"
    FROM unnest(${a.idx}::int[], ${a.meters}::int[], ${a.from}::timestamptz[], ${a.to}::timestamptz[]) AS q(i, meter_id, f, t)
    CROSS JOIN unnest(${ALL_CHANNELS}::smallint[]) AS c(channel)
    JOIN reading_history h ON h.meter_id = q.meter_id AND h.channel = c.channel AND h.start >= q.f AND h.start < q.t
    JOIN readings r ON r.meter_id = h.meter_id AND r.channel = h.channel AND r.start = h.start
    WHERE h.source <> ALL(${NOT_FROM_METER}::smallint[]) AND r.source <> ALL(${NOT_FROM_METER}::smallint[]) AND h.value <> r.value
    ORDER BY q.i, h.channel, h.start, h.version DESC`.execute(database.db);
  return rows;
}

export interface IssueKeyRow {
  readonly i: number;
  readonly channel: number;
  readonly rule: RuleName;
  readonly fromTs: Date;
  readonly toTs: Date;
}

/** Accepted issues touching each range: the runner neither reports nor acts on those findings again. */
export async function loadAcceptedIssues(database: Database, ranges: readonly MeterRange[]): Promise<IssueKeyRow[]> {
  if (ranges.length === 0) return [];
  const a = rangeArrays(ranges);
  const { rows } = await sql<IssueKeyRow>`
    SELECT q.i, v.channel, v.rule, v.from_ts AS "fromTs", v.to_ts AS "toTs"
    FROM unnest(${a.idx}::int[], ${a.meters}::int[], ${a.from}::timestamptz[], ${a.to}::timestamptz[]) AS q(i, meter_id, f, t)
    JOIN validation_issues v ON v.meter_id = q.meter_id AND v.status = 'accepted' AND v.from_ts < q.t AND v.to_ts >= q.f`.execute(database.db);
  return rows;
}

/** A finding to record. `status` replaced = estimated in the same run. */
export interface IssueInput {
  readonly meterId: number;
  readonly channel: number;
  readonly rule: RuleName;
  readonly severity: Severity;
  readonly fromMs: number;
  readonly toMs: number;
  readonly detail: string;
  readonly status: 'open' | 'replaced';
  readonly resolution: string | null;
}

export interface IssueStoreCounts {
  /** New issues (open or already replaced by an automatic estimate). */
  readonly created: number;
  /** Open issues that no longer reproduce, now obsolete. */
  readonly obsoleted: number;
}

/**
 * Records a run's findings over the ranges it validated, in one statement:
 * - open issues of those ranges that are not among the findings become
 *   obsolete (the same range test as inRange() in ingest/vee/evaluate.ts);
 * - findings matching an open issue refresh it (detail, severity, replaced
 *   when estimated now), so re-running never duplicates;
 * - the other findings are inserted.
 * Data-modifying CTEs see one snapshot, so the three parts never touch the same row.
 */
export async function storeIssues(database: Database, ranges: readonly MeterRange[], findings: readonly IssueInput[], by = 'vee'): Promise<IssueStoreCounts> {
  if (ranges.length === 0) return { created: 0, obsoleted: 0 };
  const a = rangeArrays(ranges);
  const f = findings;
  const { rows } = await sql<{ created: number; obsoleted: number }>`
    WITH f AS (
      SELECT * FROM unnest(${f.map((x) => x.meterId)}::int[], ${f.map((x) => x.channel)}::smallint[], ${f.map((x) => x.rule)}::text[],
                           ${f.map((x) => x.severity)}::text[], ${f.map((x) => new Date(x.fromMs).toISOString())}::timestamptz[],
                           ${f.map((x) => new Date(x.toMs).toISOString())}::timestamptz[], ${f.map((x) => x.detail)}::text[],
                           ${f.map((x) => x.status)}::text[], ${f.map((x) => x.resolution)}::text[])
        AS t(meter_id, channel, rule, severity, from_ts, to_ts, detail, status, resolution)
    ), scope AS (
      SELECT * FROM unnest(${a.meters}::int[], ${a.from}::timestamptz[], ${a.to}::timestamptz[]) AS s(meter_id, f, t)
    ), obsolete AS (
      UPDATE validation_issues v SET status = 'obsolete', resolved_at = now(), resolved_by = ${by}, resolution_comment = 'no longer found on re-validation'
      WHERE v.status = 'open'
        AND EXISTS (SELECT 1 FROM scope s WHERE v.meter_id = s.meter_id AND v.from_ts < s.t
                    AND (v.to_ts > s.f OR v.from_ts >= s.f OR (v.rule IN ('register', 'sum_check') AND v.to_ts = s.f)))
        AND NOT EXISTS (SELECT 1 FROM f WHERE (f.meter_id, f.channel, f.rule, f.from_ts, f.to_ts) = (v.meter_id, v.channel, v.rule, v.from_ts, v.to_ts))
      RETURNING v.id
    ), refreshed AS (
      UPDATE validation_issues v
      SET detail = f.detail, severity = f.severity, status = f.status,
          resolved_at = CASE WHEN f.status = 'replaced' THEN now() END,
          resolved_by = CASE WHEN f.status = 'replaced' THEN ${by} END,
          resolution_comment = f.resolution
      FROM f
      WHERE v.status = 'open' AND (f.meter_id, f.channel, f.rule, f.from_ts, f.to_ts) = (v.meter_id, v.channel, v.rule, v.from_ts, v.to_ts)
        AND (v.detail, v.severity, f.status) IS DISTINCT FROM (f.detail, f.severity, 'open')
      RETURNING v.id
    ), created AS (
      INSERT INTO validation_issues (meter_id, channel, rule, severity, from_ts, to_ts, detail, status, resolved_at, resolved_by, resolution_comment)
      SELECT meter_id, channel, rule, severity, from_ts, to_ts, detail, status,
             CASE WHEN status = 'replaced' THEN now() END, CASE WHEN status = 'replaced' THEN ${by} END, resolution
      FROM f
      WHERE NOT EXISTS (SELECT 1 FROM validation_issues v WHERE v.status = 'open'
                        AND (f.meter_id, f.channel, f.rule, f.from_ts, f.to_ts) = (v.meter_id, v.channel, v.rule, v.from_ts, v.to_ts))
      ON CONFLICT DO NOTHING
      RETURNING id
    )
    SELECT (SELECT count(*) FROM created)::int AS created, (SELECT count(*) FROM obsolete)::int AS obsoleted`.execute(database.db);
  return rows[0];
}

/* ------------------------------------------------------------- settings */

export interface VeeSettingRow {
  readonly id: number;
  readonly profileClass: string | null;
  readonly commodity: string | null;
  readonly effectiveFrom: string;
  readonly params: Record<string, unknown>;
  readonly createdAt: Date;
  readonly createdBy: string | null;
}

export async function listVeeSettings(database: Database): Promise<VeeSettingRow[]> {
  const { rows } = await sql<VeeSettingRow>`
    SELECT id, profile_class AS "profileClass", commodity, effective_from::text AS "effectiveFrom", params,
           created_at AS "createdAt", created_by AS "createdBy"
    FROM vee_settings ORDER BY profile_class NULLS FIRST, commodity NULLS FIRST, effective_from`.execute(database.db);
  return rows;
}

/** Stores an override (validate it first); the same class/commodity/date replaces the earlier one. */
export async function putVeeSetting(
  database: Database,
  s: { profileClass: string | null; commodity: string | null; effectiveFrom: string; params: Record<string, unknown>; createdBy: string },
): Promise<VeeSettingRow> {
  const { rows } = await sql<VeeSettingRow>`
    INSERT INTO vee_settings (profile_class, commodity, effective_from, params, created_by)
    VALUES (${s.profileClass}, ${s.commodity}, ${s.effectiveFrom}::date, ${JSON.stringify(s.params)}::jsonb, ${s.createdBy})
    ON CONFLICT (coalesce(profile_class, ''), coalesce(commodity, ''), effective_from)
    DO UPDATE SET params = excluded.params, created_at = now(), created_by = excluded.created_by
    RETURNING id, profile_class AS "profileClass", commodity, effective_from::text AS "effectiveFrom", params,
              created_at AS "createdAt", created_by AS "createdBy"`.execute(database.db);
  return rows[0];
}

/* --------------------------------------------------------------- issues */

export interface IssueRow {
  readonly id: number;
  readonly meterId: number;
  readonly meter: string;
  readonly timezone: string;
  readonly channel: number;
  readonly rule: RuleName;
  readonly severity: Severity;
  readonly fromTs: Date;
  readonly toTs: Date;
  readonly detail: string;
  readonly status: IssueStatus;
  readonly createdAt: Date;
  readonly resolvedAt: Date | null;
  readonly resolvedBy: string | null;
  readonly resolutionComment: string | null;
}

export interface IssueFilter {
  readonly meter?: string;
  readonly group?: string;
  readonly channel?: number;
  readonly rule?: RuleName;
  readonly severity?: Severity;
  readonly status?: IssueStatus;
  /** Issues overlapping [from, to). */
  readonly from?: Date;
  readonly to?: Date;
  /** Cursor: issues with a smaller id. */
  readonly before?: number;
  readonly limit: number;
}

/** Newest first (keyset on id). */
export async function listIssues(database: Database, f: IssueFilter): Promise<IssueRow[]> {
  let q = database.db
    .selectFrom('validation_issues as v')
    .innerJoin('meters as m', 'm.id', 'v.meter_id')
    .select([
      'v.id',
      'v.meter_id as meterId',
      'm.external_id as meter',
      'm.timezone',
      'v.channel',
      'v.rule',
      'v.severity',
      'v.from_ts as fromTs',
      'v.to_ts as toTs',
      'v.detail',
      'v.status',
      'v.created_at as createdAt',
      'v.resolved_at as resolvedAt',
      'v.resolved_by as resolvedBy',
      'v.resolution_comment as resolutionComment',
    ])
    .orderBy('v.id', 'desc')
    .limit(f.limit);
  if (f.meter !== undefined) q = q.where('m.external_id', '=', f.meter);
  if (f.group !== undefined) q = q.where('m.group', '=', f.group);
  if (f.channel !== undefined) q = q.where('v.channel', '=', f.channel);
  if (f.rule !== undefined) q = q.where('v.rule', '=', f.rule);
  if (f.severity !== undefined) q = q.where('v.severity', '=', f.severity);
  if (f.status !== undefined) q = q.where('v.status', '=', f.status);
  // Zero-length findings (an instantaneous value) overlap when they start inside.
  if (f.from !== undefined) q = q.where((eb) => eb.or([eb('v.to_ts', '>', f.from!), eb('v.from_ts', '>=', f.from!)]));
  if (f.to !== undefined) q = q.where('v.from_ts', '<', f.to);
  if (f.before !== undefined) q = q.where('v.id', '<', f.before);
  return (await q.execute()) as IssueRow[];
}

export async function getIssue(database: Database, id: number): Promise<IssueRow | undefined> {
  const { rows } = await sql<IssueRow>`
    SELECT v.id, v.meter_id AS "meterId", m.external_id AS meter, m.timezone, v.channel, v.rule, v.severity, v.from_ts AS "fromTs",
           v.to_ts AS "toTs", v.detail, v.status, v.created_at AS "createdAt", v.resolved_at AS "resolvedAt", v.resolved_by AS "resolvedBy",
           v.resolution_comment AS "resolutionComment"
    FROM validation_issues v JOIN meters m ON m.id = v.meter_id WHERE v.id = ${id}`.execute(database.db);
  return rows[0];
}

/** Closes one open issue; undefined when it is not open (any more). */
export async function resolveIssue(database: Database, p: { id: number; status: 'accepted' | 'replaced'; by: string; comment: string }): Promise<{ id: number } | undefined> {
  return database.db
    .updateTable('validation_issues')
    .set({ status: p.status, resolved_at: new Date(), resolved_by: p.by, resolution_comment: p.comment })
    .where('id', '=', p.id)
    .where('status', '=', 'open')
    .returning('id')
    .executeTakeFirst();
}

/** Open issues of a meter/channel overlapping [from, to) become replaced (an edit overwrote their values). */
export async function replaceIssuesInRange(database: Database, p: { meterId: number; channel: number; from: Date; to: Date; by: string; comment: string }): Promise<number> {
  const rows = await database.db
    .updateTable('validation_issues')
    .set({ status: 'replaced', resolved_at: new Date(), resolved_by: p.by, resolution_comment: p.comment })
    .where('meter_id', '=', p.meterId)
    .where('channel', '=', p.channel)
    .where('status', '=', 'open')
    .where('from_ts', '<', p.to)
    .where((eb) => eb.or([eb('to_ts', '>', p.from), eb('from_ts', '>=', p.from)]))
    .returning('id')
    .execute();
  return rows.length;
}

/** Open fail issues other than `exceptId` covering each of the given starts of one meter/channel. */
export async function startsUnderOtherFailIssues(database: Database, p: { meterId: number; channel: number; starts: readonly Date[]; exceptId: number }): Promise<Set<number>> {
  if (p.starts.length === 0) return new Set();
  const { rows } = await sql<{ start: Date }>`
    SELECT DISTINCT u.start FROM unnest(${p.starts.map((d) => d.toISOString())}::timestamptz[]) AS u(start)
    JOIN validation_issues v ON v.meter_id = ${p.meterId} AND v.channel = ${p.channel} AND v.status = 'open' AND v.severity = 'fail'
      AND v.id <> ${p.exceptId} AND v.from_ts <= u.start AND (v.to_ts > u.start OR v.from_ts = u.start)`.execute(database.db);
  return new Set(rows.map((r) => r.start.getTime()));
}

/**
 * Hourly energy sums of the meters of some profile classes, by local weekday
 * and hour, over [from, to), from measured/validated values only (the class
 * shapes of ingest/vee/class-shape.ts), plus the meter-days behind them.
 */
export async function loadClassHourSums(
  database: Database,
  p: { classes: readonly string[]; channels: readonly number[]; from: Date; to: Date },
): Promise<{ sums: ClassHourSum[]; days: ClassDays[] }> {
  if (p.classes.length === 0) return { sums: [], days: [] };
  const where = sql`m.profile_class = ANY(${p.classes as string[]}::text[]) AND r.channel = ANY(${p.channels as number[]}::smallint[])
    AND r.start >= ${p.from} AND r.start < ${p.to} AND r.quality IN (${qualityCode('measured')}, ${qualityCode('validated')})`;
  const { rows: sums } = await sql<ClassHourSum>`
    SELECT m.profile_class AS "profileClass", r.channel, extract(isodow FROM r.start AT TIME ZONE m.timezone)::int AS dow,
           extract(hour FROM r.start AT TIME ZONE m.timezone)::int AS hour, sum(r.value)::float8 AS energy
    FROM readings r JOIN meters m ON m.id = r.meter_id
    WHERE ${where}
    GROUP BY 1, 2, 3, 4`.execute(database.db);
  const { rows: days } = await sql<ClassDays>`
    SELECT m.profile_class AS "profileClass", r.channel, count(DISTINCT (r.meter_id, (r.start AT TIME ZONE m.timezone)::date))::int AS "meterDays"
    FROM readings r JOIN meters m ON m.id = r.meter_id
    WHERE ${where}
    GROUP BY 1, 2`.execute(database.db);
  return { sums, days };
}
