import { sql, type RawBuilder } from 'kysely';
import { channelDef } from '../models/channel.js';
import { qualityCode } from '../models/reading.js';
import type { Database } from './database.js';
import { portfolioMembersEver } from './meter-attribute.repository.js';
import type { ForecastRunStatus } from './types.js';

/**
 * Storage side of forecasting (issue 5): the hourly history of a target's
 * meters and of weather stations, forecast runs as a job queue, their hourly
 * values, and what the forecast routes read back. Set-based: one statement per
 * target (never per meter or hour), values written in multi-row chunks.
 */

const HOUR = 3_600_000;
const ACTIVE_IMPORT = channelDef('active_import').code;
const TEMPERATURE = channelDef('temperature').code;
// Usable values: measured, validated, estimated, edited. Suspect and missing are left out (NaN).
const USABLE = [qualityCode('measured'), qualityCode('validated'), qualityCode('estimated'), qualityCode('edited')];
// Usable but marked (SeriesData.estimated): estimated by VEE or edited by hand, as billing's estimatedShare.
const MARKED = [qualityCode('estimated'), qualityCode('edited')];

/** A meter a forecast target is made of. */
export interface TargetMeterRow {
  readonly id: number;
  readonly externalId: string;
  readonly timezone: string;
  readonly intervalMinutes: number;
  readonly multiplier: number;
  readonly weatherStation: string | null;
  readonly supplyStart: string | null;
  readonly supplyEnd: string | null;
}

/**
 * The member meters of a target, by external id: one meter, the meters of a
 * group (`meters.group`) or of a portfolio (`meters.portfolio`). Weather
 * stations (commodity `weather`) are never members. Empty when none.
 */
export async function listTargetMeters(database: Database, t: { kind: 'meter' | 'group' | 'portfolio'; id: string }): Promise<TargetMeterRow[]> {
  // A portfolio's members are the meters its dated versions (migration 028) ever put in it, each in supply only while a
  // member: metersInSupply then keeps those of the run's target period (a customer joining on 1 March is forecast for March).
  const membership = t.kind === 'portfolio' ? await portfolioMembersEver(database.db, t.id) : undefined;
  let q = database.db
    .selectFrom('meters')
    .select(['id', 'external_id', 'timezone', 'interval_minutes', 'multiplier', 'weather_station', 'supply_start', 'supply_end'])
    .where('commodity', '<>', 'weather')
    .orderBy('external_id');
  if (membership) q = q.where('id', '=', sql<number>`ANY(${[...membership.keys()]}::int[])`);
  else q = q.where(t.kind === 'meter' ? 'external_id' : 'group', '=', t.id);
  const rows = (await q.execute()).map((r) => {
    const m = membership?.get(r.id);
    if (!m) return r;
    const later = (a: string | null, b: string | null) => (a === null ? b : b === null ? a : a > b ? a : b);
    const earlier = (a: string | null, b: string | null) => (a === null ? b : b === null ? a : a < b ? a : b);
    return { ...r, supply_start: later(r.supply_start, m.from), supply_end: earlier(r.supply_end, m.to) };
  });
  return rows.map((r) => ({
    id: r.id,
    externalId: r.external_id,
    timezone: r.timezone,
    intervalMinutes: r.interval_minutes,
    multiplier: r.multiplier,
    weatherStation: r.weather_station,
    supplyStart: r.supply_start,
    supplyEnd: r.supply_end,
  }));
}

/** Weather-station meters (commodity `weather`) among `ids`, by external id. */
export async function findWeatherStations(database: Database, ids: readonly string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const rows = await database.db
    .selectFrom('meters')
    .select(['id', 'external_id'])
    .where(sql<boolean>`external_id = any(${ids as string[]}::text[])`)
    .where('commodity', '=', 'weather')
    .execute();
  return new Map(rows.map((r) => [r.external_id, r.id]));
}

/** One meter's hours on the grid [startMs, startMs + n·1 h). */
export interface HourlyGrid {
  /** kWh per hour, multiplier applied; NaN where the hour is incomplete or holds a suspect/missing value. */
  readonly values: Float64Array;
  /** 1 where a value of the hour is estimated or edited. */
  readonly estimated: Uint8Array;
}

interface HourBlob {
  meter_id: number;
  /**
   * 16 bytes per row, big-endian: int4 hour since the epoch, float8 value before the multiplier
   * (NaN: not usable), int2 minutes of rows with their own interval length, int2 rows with the
   * meter's length × 2 + 1 when one is estimated/edited.
   */
  rows: Uint8Array;
}
const ROW_BYTES = 16;

// h = hours since the epoch (double arithmetic: cheaper than numeric extract()). No join with
// meters: the multiplier and the meter's interval length are applied in JS, once per meter.
// Hourly meters: one row per reading, no grouping (grouping 8.8 M (meter, hour) keys of
// 1 000 hourly meters × a year costs more than the scan).
interface RowsOf {
  readonly ids: readonly number[];
  readonly channel: number;
  readonly from: Date;
  readonly to: Date;
}
const hourlyRows = (p: RowsOf) => sql`
  SELECT meter_id, floor(date_part('epoch', start) / 3600)::int AS h,
         CASE WHEN quality = ANY(${USABLE}::smallint[]) THEN value ELSE 'NaN'::float8 END AS v,
         coalesce(interval_minutes, 0)::int AS own_minutes,
         (interval_minutes IS NULL)::int * 2 + (quality = ANY(${MARKED}::smallint[]))::int AS rest
  FROM readings
  WHERE meter_id = ANY(${p.ids}::int[]) AND channel = ${p.channel} AND start >= ${p.from} AND start < ${p.to}`;
// Sub-hourly meters: summed per hour in SQL (a 15-minute meter's four values become one row).
const subhourlyRows = (p: RowsOf) => sql`
  SELECT meter_id, floor(date_part('epoch', start) / 3600)::int AS h,
         CASE WHEN bool_and(quality = ANY(${USABLE}::smallint[])) THEN sum(value) ELSE 'NaN'::float8 END AS v,
         coalesce(sum(interval_minutes), 0)::int AS own_minutes,
         count(*) FILTER (WHERE interval_minutes IS NULL)::int * 2 + max((quality = ANY(${MARKED}::smallint[]))::int) AS rest
  FROM readings
  WHERE meter_id = ANY(${p.ids}::int[]) AND channel = ${p.channel} AND start >= ${p.from} AND start < ${p.to}
  GROUP BY 1, 2`;

/**
 * Hourly active import of `meters` for the hours starting in [fromMs, toMs)
 * (UTC hours; both hour-aligned), as one grid per meter, multiplier applied.
 * An hour has a value only when its intervals (the reading's own length,
 * else the meter's) add up to exactly the hour, all usable; an hour that
 * holds a suspect or missing value, or a gap, is NaN as a whole (a partial
 * sum would read as a dip).
 *
 * One statement for every meter, set-based: the values of 15- and 30-minute
 * meters are summed per hour in SQL, hourly meters' rows need no grouping,
 * and the rows come back packed in one bytea per meter (the types' own send
 * functions), not one row per hour: parsing 35 M array elements as text cost
 * more than the whole scan. The rare odd row (a 15-minute value sent for an
 * hourly meter) is added up here with the others of its hour.
 * @example (await loadHourlyHistory(database, { meters: [{ id: 7, intervalMinutes: 15, multiplier: 1 }], fromMs, toMs })).get(7)?.values
 */
export async function loadHourlyHistory(
  database: Database,
  p: { meters: readonly { readonly id: number; readonly intervalMinutes: number; readonly multiplier: number }[]; fromMs: number; toMs: number; channel?: number },
): Promise<Map<number, HourlyGrid>> {
  const n = Math.max(0, Math.round((p.toMs - p.fromMs) / HOUR));
  const out = new Map<number, HourlyGrid>();
  for (const m of p.meters) out.set(m.id, { values: new Float64Array(n).fill(NaN), estimated: new Uint8Array(n) });
  if (p.meters.length === 0 || n === 0) return out;
  const hourly = p.meters.filter((m) => m.intervalMinutes >= 60).map((m) => m.id);
  const sub = p.meters.filter((m) => m.intervalMinutes < 60).map((m) => m.id);
  const channel = p.channel ?? ACTIVE_IMPORT;
  const from = new Date(p.fromMs);
  const to = new Date(p.toMs);
  const branches: RawBuilder<unknown>[] = [];
  if (hourly.length) branches.push(hourlyRows({ ids: hourly, channel, from, to }));
  if (sub.length) branches.push(subhourlyRows({ ids: sub, channel, from, to }));
  const rows = await database.session(async ({ db }) => {
    // One pass over every value: no JIT compile (seconds on big statements), memory for the aggregate.
    await sql`SET LOCAL jit = off`.execute(db);
    await sql`SET LOCAL work_mem = '256MB'`.execute(db);
    const { rows } = await sql<HourBlob>`
      SELECT x.meter_id, string_agg(int4send(x.h) || float8send(x.v) || int2send(x.own_minutes::int2) || int2send(x.rest::int2), ''::bytea) AS rows
      FROM (${sql.join(branches, sql` UNION ALL `)}) x GROUP BY x.meter_id`.execute(db);
    return rows;
  });
  const byId = new Map(p.meters.map((m) => [m.id, m]));
  const h0 = p.fromMs / HOUR;
  const minutes = new Uint16Array(n);
  for (const r of rows) {
    const m = byId.get(r.meter_id)!;
    const g = out.get(r.meter_id)!;
    const sum = g.values;
    sum.fill(0);
    minutes.fill(0);
    const b = r.rows;
    const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    for (let o = 0; o + ROW_BYTES <= b.byteLength; o += ROW_BYTES) {
      const i = view.getInt32(o) - h0;
      if (i < 0 || i >= n) continue;
      sum[i] += view.getFloat64(o + 4);
      const rest = view.getInt16(o + 14);
      minutes[i] += view.getInt16(o + 12) + (rest >> 1) * m.intervalMinutes;
      if (rest & 1) g.estimated[i] = 1;
    }
    for (let i = 0; i < n; i++) sum[i] = minutes[i] === 60 ? sum[i] * m.multiplier : NaN;
  }
  return out;
}

/** Values of one meter a forecast leaves out of its history: quality suspect or missing. */
export interface LeftOutCount {
  readonly suspect: number;
  readonly missing: number;
}

/**
 * Active-import values of `meters` in [fromMs, toMs) that a forecast does not
 * use (quality suspect or missing: loadHourlyHistory makes their hours NaN),
 * counted per meter id by quality, for the run's `valuesLeftOut`. Meters
 * without any are absent from the map. One statement.
 */
export async function countLeftOutValues(database: Database, p: { meterIds: readonly number[]; fromMs: number; toMs: number }): Promise<Map<number, LeftOutCount>> {
  const out = new Map<number, LeftOutCount>();
  if (p.meterIds.length === 0 || p.toMs <= p.fromMs) return out;
  const { rows } = await sql<{ meter_id: number; suspect: number; missing: number }>`
    SELECT meter_id,
           count(*) FILTER (WHERE quality = ${qualityCode('suspect')})::int AS suspect,
           count(*) FILTER (WHERE quality = ${qualityCode('missing')})::int AS missing
    FROM readings
    WHERE meter_id = ANY(${p.meterIds as number[]}::int[]) AND channel = ${ACTIVE_IMPORT}
      AND start >= ${new Date(p.fromMs)} AND start < ${new Date(p.toMs)} AND quality <> ALL(${USABLE}::smallint[])
    GROUP BY meter_id`.execute(database.db);
  for (const r of rows) out.set(Number(r.meter_id), { suspect: Number(r.suspect), missing: Number(r.missing) });
  return out;
}

/**
 * Hourly mean outdoor temperature (°C) of weather stations (the `temperature`
 * channel of meters with commodity `weather`) for the hours in [fromMs, toMs),
 * one grid per station meter id; NaN where no usable value. Values stored for
 * hours after the issue time are the weather forecast (the caller decides).
 */
export async function loadStationTemperature(database: Database, p: { stationIds: readonly number[]; fromMs: number; toMs: number }): Promise<Map<number, Float64Array>> {
  const n = Math.max(0, Math.round((p.toMs - p.fromMs) / HOUR));
  const out = new Map<number, Float64Array>();
  for (const id of p.stationIds) out.set(id, new Float64Array(n).fill(NaN));
  if (p.stationIds.length === 0 || n === 0) return out;
  const h0 = p.fromMs / HOUR;
  const { rows } = await sql<{ meter_id: number; hours: number[]; vals: number[] }>`
    SELECT meter_id, array_agg(h) AS hours, array_agg(v) AS vals
    FROM (
      SELECT meter_id, (floor(extract(epoch FROM start) / 3600))::int AS h, avg(value) AS v
      FROM readings
      WHERE meter_id = ANY(${p.stationIds as number[]}::int[]) AND channel = ${TEMPERATURE}
        AND start >= ${new Date(p.fromMs)} AND start < ${new Date(p.toMs)} AND quality = ANY(${USABLE}::smallint[])
      GROUP BY 1, 2
    ) t
    GROUP BY meter_id`.execute(database.db);
  for (const r of rows) {
    const g = out.get(r.meter_id)!;
    for (let k = 0; k < r.hours.length; k++) {
      const i = r.hours[k] - h0;
      if (i >= 0 && i < n) g[i] = Number(r.vals[k]);
    }
  }
  return out;
}

/* ------------------------------------------------------------------ runs */

export interface ForecastRun {
  readonly id: number;
  readonly target: string;
  readonly horizon: string;
  /** Requested model kind or `auto`. */
  readonly model: string;
  readonly status: ForecastRunStatus;
  /** 0..1 */
  readonly progress: number;
  readonly error: string | null;
  readonly issueTime: Date;
  readonly dataCutoff: Date | null;
  readonly from: Date | null;
  readonly to: Date | null;
  /** The model the engine used (after quality gates and the backtest choice). */
  readonly usedModel: string | null;
  readonly metadata: Record<string, unknown> | null;
  readonly metrics: Record<string, unknown> | null;
  readonly requestedBy: string | null;
  /** X-Request-Id of the request that queued it (null: scheduled, or queued before migration 024). */
  readonly requestId: string | null;
  readonly createdAt: Date;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
}

const RUN_COLUMNS = [
  'id',
  'target',
  'horizon',
  'model',
  'status',
  'progress',
  'error',
  'issue_time',
  'data_cutoff',
  'from_ts',
  'to_ts',
  'used_model',
  'metadata',
  'metrics',
  'requested_by',
  'request_id',
  'created_at',
  'started_at',
  'finished_at',
] as const;

interface RunRow {
  id: number;
  target: string;
  horizon: string;
  model: string;
  status: ForecastRunStatus;
  progress: number;
  error: string | null;
  issue_time: Date;
  data_cutoff: Date | null;
  from_ts: Date | null;
  to_ts: Date | null;
  used_model: string | null;
  metadata: unknown;
  metrics: unknown;
  requested_by: string | null;
  request_id: string | null;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

const json = (v: unknown): Record<string, unknown> | null => (v === null || v === undefined ? null : typeof v === 'string' ? JSON.parse(v) : (v as Record<string, unknown>));
const date = (v: Date | string | null): Date | null => (v === null ? null : new Date(v));

function toRun(r: RunRow): ForecastRun {
  return {
    id: Number(r.id),
    target: r.target,
    horizon: r.horizon,
    model: r.model,
    status: r.status,
    progress: Number(r.progress),
    error: r.error,
    issueTime: new Date(r.issue_time),
    dataCutoff: date(r.data_cutoff),
    from: date(r.from_ts),
    to: date(r.to_ts),
    usedModel: r.used_model,
    metadata: json(r.metadata),
    metrics: json(r.metrics),
    requestedBy: r.requested_by,
    requestId: r.request_id,
    createdAt: new Date(r.created_at),
    startedAt: date(r.started_at),
    finishedAt: date(r.finished_at),
  };
}

/** Queues a run; returns its id. */
export async function createRun(database: Database, r: { target: string; horizon: string; model: string; issueTime: Date; requestedBy: string | null; requestId?: string | null }): Promise<number> {
  const row = await database.db
    .insertInto('forecast_runs')
    .values({
      target: r.target,
      horizon: r.horizon,
      model: r.model,
      issue_time: r.issueTime,
      requested_by: r.requestedBy,
      request_id: r.requestId ?? null,
      metadata: null,
      metrics: null,
      error: null,
      data_cutoff: null,
      from_ts: null,
      to_ts: null,
      used_model: null,
      started_at: null,
      finished_at: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return Number(row.id);
}

export async function getRun(database: Database, id: number): Promise<ForecastRun | undefined> {
  const row = await database.db.selectFrom('forecast_runs').select(RUN_COLUMNS).where('id', '=', id).executeTakeFirst();
  return row ? toRun(row as unknown as RunRow) : undefined;
}

/**
 * Takes the oldest queued run (or run `id` when it is queued): status →
 * running, started_at, a heartbeat and the attempt count in metadata.worker.
 * SKIP LOCKED: instances sharing a server database never take the same run.
 */
export async function claimRun(database: Database, worker: string, id?: number): Promise<ForecastRun | undefined> {
  const which = id === undefined ? sql`` : sql`AND id = ${id}`;
  const { rows } = await sql<RunRow>`
    UPDATE forecast_runs r SET status = 'running', started_at = now(), progress = 0, error = NULL,
      metadata = jsonb_build_object('worker', jsonb_build_object(
        'id', ${worker}::text, 'heartbeatAt', now(),
        'attempt', coalesce((r.metadata -> 'worker' ->> 'attempt')::int, 0) + 1))
    WHERE r.id = (SELECT id FROM forecast_runs WHERE status = 'queued' ${which} ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING ${sql.raw(RUN_COLUMNS.map((c) => `r.${c}`).join(', '))}`.execute(database.db);
  return rows[0] ? toRun(rows[0]) : undefined;
}

/** Progress (0..1) and the heartbeat of a running run. */
export async function heartbeatRun(database: Database, id: number, progress?: number): Promise<void> {
  await sql`
    UPDATE forecast_runs SET progress = coalesce(${progress ?? null}::real, progress),
      metadata = jsonb_set(coalesce(metadata, '{}'::jsonb), '{worker,heartbeatAt}', to_jsonb(now()))
    WHERE id = ${id} AND status = 'running'`.execute(database.db);
}

export interface ForecastValueRow {
  readonly target: string;
  readonly startMs: number;
  readonly p10: number;
  readonly p50: number;
  readonly p90: number;
}

/** Rows per COPY statement: bounds the text built at once (a month-ahead run of 1 000 meters is 720 000 rows). */
export const VALUES_CHUNK = 50_000;

// COPY text format: backslash, tab, newline and CR escaped in the one free-text field (the series name).
const copyText = (t: string) => t.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r'));
const copyNum = (x: number) => (Number.isFinite(x) ? String(x) : '\\N');

/**
 * Marks a running run done (or partial: some members could not be
 * forecast) with its values, window and results, in one transaction: readers
 * see either no values or all of them. Values go in by COPY (chunks of
 * VALUES_CHUNK rows). Non-finite P10/P90 are stored as NULL; rows without a
 * finite P50 are left out.
 */
export async function completeRun(
  database: Database,
  id: number,
  r: {
    status?: 'done' | 'partial';
    dataCutoff: Date;
    from: Date;
    to: Date;
    usedModel: string;
    metadata: Record<string, unknown>;
    metrics: Record<string, unknown> | null;
    values: readonly ForecastValueRow[];
  },
): Promise<void> {
  await database.session(async ({ db, raw }) => {
    await db.deleteFrom('forecast_values').where('run_id', '=', id).execute(); // a requeued run that got this far before
    for (let i = 0; i < r.values.length; i += VALUES_CHUNK) {
      const lines: string[] = [];
      for (const v of r.values.slice(i, i + VALUES_CHUNK)) {
        if (!Number.isFinite(v.p50)) continue;
        lines.push(`${id}\t${copyText(v.target)}\t${new Date(v.startMs).toISOString()}\t${copyNum(v.p10)}\t${v.p50}\t${copyNum(v.p90)}\n`);
      }
      if (lines.length) await raw.copyFrom('COPY forecast_values (run_id, target, start, p10, p50, p90) FROM STDIN', lines.join(''));
    }
    await db
      .updateTable('forecast_runs')
      .set({
        status: r.status ?? 'done',
        progress: 1,
        error: null,
        data_cutoff: r.dataCutoff,
        from_ts: r.from,
        to_ts: r.to,
        used_model: r.usedModel,
        metadata: JSON.stringify(r.metadata),
        metrics: r.metrics === null ? null : JSON.stringify(r.metrics),
        finished_at: sql`now()`,
      })
      .where('id', '=', id)
      .execute();
  });
}

/** Marks a run failed with a reason (keeps the metadata gathered so far, adds `extra`). */
export async function failRun(database: Database, id: number, error: string, extra: Record<string, unknown> = {}): Promise<void> {
  await sql`
    UPDATE forecast_runs SET status = 'failed', error = ${error}, finished_at = now(),
      metadata = coalesce(metadata, '{}'::jsonb) || ${JSON.stringify(extra)}::jsonb
    WHERE id = ${id}`.execute(database.db);
}

/**
 * Runs left `running` by a worker that stopped (crash, kill, power): no
 * heartbeat for `staleMs`. Each goes back to the queue while it has had fewer
 * than `maxAttempts` attempts, else fails with the reason. Returns the ids.
 */
export async function recoverStaleRuns(database: Database, p: { staleMs: number; maxAttempts: number }): Promise<{ requeued: number[]; failed: number[] }> {
  const attempts = sql`coalesce((metadata -> 'worker' ->> 'attempt')::int, 1)`;
  const heartbeat = sql`coalesce((metadata -> 'worker' ->> 'heartbeatAt')::timestamptz, started_at, created_at)`;
  const stale = sql`status = 'running' AND ${heartbeat} < now() - ${`${Math.round(p.staleMs)} milliseconds`}::interval`;
  const requeued = await sql<{ id: number }>`
    UPDATE forecast_runs SET status = 'queued', progress = 0, started_at = NULL
    WHERE ${stale} AND ${attempts} < ${p.maxAttempts} RETURNING id`.execute(database.db);
  const failed = await sql<{ id: number }>`
    UPDATE forecast_runs SET status = 'failed', finished_at = now(),
      error = 'the worker stopped while running this forecast (no heartbeat since ' || ${heartbeat}::text || ') after '
              || ${attempts}::text || ' attempt(s); not retried again: POST /v1/forecasts/runs to run it anew'
    WHERE ${stale} RETURNING id`.execute(database.db);
  return { requeued: requeued.rows.map((r) => Number(r.id)), failed: failed.rows.map((r) => Number(r.id)) };
}

/** True when a run for (target, horizon, issue time) exists, whatever its status (schedule de-duplication). */
export async function runExists(database: Database, p: { target: string; horizon: string; issueTime: Date }): Promise<boolean> {
  const row = await database.db.selectFrom('forecast_runs').select('id').where('target', '=', p.target).where('horizon', '=', p.horizon).where('issue_time', '=', p.issueTime).executeTakeFirst();
  return row !== undefined;
}

/* ----------------------------------------------------------------- reads */

/** Statuses of runs that hold values: `partial` runs keep theirs (and say what they leave out). */
const WITH_VALUES = ['done', 'partial'] as const;

/**
 * The newest done (or partial) run of `horizon` (by issue time, then id) that holds values
 * of `series` (a run's target or one of its member meters) in [fromMs, toMs),
 * with those values, oldest first.
 */
export async function findIssuedForecast(
  database: Database,
  p: { series: string; horizon: string; fromMs: number; toMs: number },
): Promise<{ run: ForecastRun; values: { start: Date; p10: number | null; p50: number; p90: number | null }[] } | undefined> {
  const from = new Date(p.fromMs);
  const to = new Date(p.toMs);
  const row = await database.db
    .selectFrom('forecast_runs as r')
    .select(RUN_COLUMNS.map((c) => `r.${c}` as const))
    .where('r.status', 'in', WITH_VALUES)
    .where('r.horizon', '=', p.horizon)
    // Driven by the values' (target, start) index: the runs holding this series on these hours, however many other runs there are.
    .where('r.id', 'in', (eb) => eb.selectFrom('forecast_values as v').select('v.run_id').where('v.target', '=', p.series).where('v.start', '>=', from).where('v.start', '<', to))
    .orderBy('r.issue_time', 'desc')
    .orderBy('r.id', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!row) return undefined;
  const run = toRun(row as unknown as RunRow);
  const values = await database.db
    .selectFrom('forecast_values')
    .select(['start', 'p10', 'p50', 'p90'])
    .where('run_id', '=', run.id)
    .where('target', '=', p.series)
    .where('start', '>=', from)
    .where('start', '<', to)
    .orderBy('start')
    .execute();
  return { run, values: values.map((v) => ({ start: new Date(v.start), p10: v.p10, p50: v.p50, p90: v.p90 })) };
}

export interface IssuedHour {
  readonly startMs: number;
  readonly p10: number;
  readonly p50: number;
  readonly p90: number;
  readonly runId: number;
  readonly issueTime: Date;
}

/**
 * The accuracy query: for every hour of `series` in [fromMs, toMs), the value
 * of the newest done (or partial) run of `horizon` that was issued before the hour started
 * (what a trader had in hand), one row per hour that has a forecast.
 */
export async function listIssuedHours(database: Database, p: { series: string; horizon: string; fromMs: number; toMs: number }): Promise<IssuedHour[]> {
  const { rows } = await sql<{ start: Date; p10: number | null; p50: number; p90: number | null; run_id: number; issue_time: Date }>`
    SELECT DISTINCT ON (v.start) v.start, v.p10, v.p50, v.p90, v.run_id, r.issue_time
    FROM forecast_values v JOIN forecast_runs r ON r.id = v.run_id
    WHERE v.target = ${p.series} AND v.start >= ${new Date(p.fromMs)} AND v.start < ${new Date(p.toMs)}
      AND r.status IN ('done', 'partial') AND r.horizon = ${p.horizon} AND r.issue_time <= v.start
    ORDER BY v.start, r.issue_time DESC, r.id DESC`.execute(database.db);
  return rows.map((r) => ({
    startMs: new Date(r.start).getTime(),
    p10: r.p10 ?? NaN,
    p50: r.p50,
    p90: r.p90 ?? NaN,
    runId: Number(r.run_id),
    issueTime: new Date(r.issue_time),
  }));
}

/** The values a run stored for one of its series, oldest first. */
export async function listRunValues(database: Database, runId: number, series: string): Promise<{ start: Date; p10: number | null; p50: number; p90: number | null }[]> {
  const rows = await database.db.selectFrom('forecast_values').select(['start', 'p10', 'p50', 'p90']).where('run_id', '=', runId).where('target', '=', series).orderBy('start').execute();
  return rows.map((v) => ({ start: new Date(v.start), p10: v.p10, p50: v.p50, p90: v.p90 }));
}

/** A run as listed: everything but the metadata and metrics, with the run's summary (metadata.summary). */
export type ListedRun = Omit<ForecastRun, 'metadata' | 'metrics'> & { readonly summary: Record<string, unknown> | null };

/**
 * Runs newest first (by id: creation order), filtered by target, status and
 * issue time [fromMs, toMs), with ids below `before` (the cursor), at most
 * `limit` rows. Reads the run's summary, not its metadata (a big portfolio's
 * metadata is large).
 */
export async function listRuns(database: Database, p: { target?: string; status?: ForecastRunStatus; fromMs?: number; toMs?: number; before?: number; limit: number }): Promise<ListedRun[]> {
  let q = database.db.selectFrom('forecast_runs').select([...RUN_COLUMNS.filter((c) => c !== 'metadata' && c !== 'metrics'), sql<unknown>`metadata -> 'summary'`.as('summary')]);
  if (p.target !== undefined) q = q.where('target', '=', p.target);
  if (p.status !== undefined) q = q.where('status', '=', p.status);
  if (p.fromMs !== undefined) q = q.where('issue_time', '>=', new Date(p.fromMs));
  if (p.toMs !== undefined) q = q.where('issue_time', '<', new Date(p.toMs));
  if (p.before !== undefined) q = q.where('id', '<', p.before);
  const rows = await q.orderBy('id', 'desc').limit(p.limit).execute();
  return rows.map((r) => {
    const { metadata: _m, metrics: _x, ...run } = toRun({ ...(r as unknown as RunRow), metadata: null, metrics: null });
    return { ...run, summary: json((r as { summary: unknown }).summary) };
  });
}
