import { sql } from 'kysely';
import { imbalanceReport, imbalanceTotals, type HourMarket, type ImbalanceMember, type ImbalanceTotals, type MeterImbalanceRow, type ReportHour } from '../market/imbalance-report.js';
import { periodGrid, periodIndex, periodTable, shortestPeriod, type PeriodGrid, type SpreadRule } from '../market/settlement-periods.js';
import { areaTimezone, type FillMode } from '../models/market.js';
import { qualityCode } from '../models/reading.js';
import { listMarketPeriods } from './market.repository.js';
import { portfolioMembershipSql } from './meter-attribute.repository.js';
import { timestampMsAt } from './packed.js';
import type { Database, Session } from './database.js';

export type { ImbalanceTotals, MeterImbalanceRow } from '../market/imbalance-report.js';

/**
 * What the imbalance reports of a portfolio need, read in one statement per
 * side (members with their raw values, their forecasts; the hours' positions,
 * prices and rule); market/imbalance-report.ts computes the figures in Node.
 * A month of 1 000 meters is 720 000 values and as many forecast values: each
 * meter's come as one binary blob (string_agg of the columns' send forms,
 * base64) instead of one row per value, so that neither the database nor the
 * driver handles 1.4 M rows, and the per-meter-hour arithmetic (allocation,
 * standalone costs, cost shares: three passes over 720 000 meter-hours) runs
 * over typed arrays instead of hash joins and aggregates (docs/imbalance.md "Performance").
 */

export interface ImbalanceScope {
  readonly portfolio: string;
  readonly area: string;
  /** Zone of local dates (rule effective dates) and of day/month buckets. */
  readonly timezone: string;
  readonly from: Date;
  readonly to: Date;
  /** Hours that end after `now` (default: the clock) are listed only when they have a position or a value. */
  readonly now?: Date;
  readonly fill?: FillMode;
  /** How an hourly value is spread over shorter settlement periods; default the area's declared rule (migration 031). */
  readonly spread?: SpreadRule;
}

const HOUR_MS = 3_600_000;
const EPOCH = sql`TIMESTAMPTZ '2000-01-01 00:00:00+00'`;
/**
 * Binary entries (start as int8 µs since 2000-01-01, then float8): values of firm quality with the meter's
 * interval (nearly all) as (start, kWh); the others as (start, kWh, quality int2, source int2, own minutes int2,
 * −1: the meter's); forecast values as (start, P50) per run; nominations as (start, MWh). No arithmetic per row in
 * SQL: each operator or function on 720 000 rows costs about as much as reading them.
 */
const ENTRY_BYTES = 16;
const OTHER_BYTES = 22;
const MEASURED = qualityCode('measured');
/** Firm qualities (market/imbalance-report.ts): all but estimated and missing. */
const NOT_FIRM = [qualityCode('estimated'), qualityCode('missing')];
/** Meters per query: each answer is decoded while the database computes the next, and its strings die young. */
const BATCH = 250;

/**
 * Decodes base64 into a buffer kept for the next call (a month of 1 000 meters is ~25 MB of blobs: one
 * Buffer each was a third of the report's Node CPU, in garbage collection). The view is valid until the
 * same scratch decodes again; the decoding is synchronous, so concurrent reports never share one.
 */
class Base64Scratch {
  private buf = Buffer.alloc(1 << 16);
  decode(b64: string | null): DataView {
    if (!b64) return new DataView(this.buf.buffer, this.buf.byteOffset, 0);
    const max = Math.ceil((b64.length * 3) / 4);
    if (max > this.buf.length) this.buf = Buffer.alloc(Math.max(max, this.buf.length * 2));
    const n = this.buf.write(b64, 0, 'base64');
    return new DataView(this.buf.buffer, this.buf.byteOffset, n);
  }
}
const scratchA = new Base64Scratch();
const scratchB = new Base64Scratch();

const msAt = timestampMsAt;

/** A meter's values from its two blobs: firm with the meter's interval, and the others. */
function decodeValues(vf: DataView, vo: DataView, g: PeriodGrid): ImbalanceMember['values'] {
  const nf = vf.byteLength / ENTRY_BYTES;
  const n = nf + vo.byteLength / OTHER_BYTES;
  const out = { hour: new Int32Array(n), value: new Float64Array(n), quality: new Int16Array(n).fill(MEASURED), source: new Int16Array(n), minutes: new Int16Array(n).fill(-1) };
  for (let i = 0, o = 0; i < nf; i++, o += ENTRY_BYTES) {
    out.hour[i] = periodIndex(g, msAt(vf, o));
    out.value[i] = vf.getFloat64(o + 8);
  }
  for (let i = nf, o = 0; i < n; i++, o += OTHER_BYTES) {
    out.hour[i] = periodIndex(g, msAt(vo, o));
    out.value[i] = vo.getFloat64(o + 8);
    out.quality[i] = vo.getInt16(o + 16);
    out.source[i] = vo.getInt16(o + 18);
    out.minutes[i] = vo.getInt16(o + 20);
  }
  return out;
}

/** A meter's forecast values from one base64 blob per run (`runs`: id → [rank, issue time ms]): those of the runs that count issued at or before their hour. */
function decodeForecasts(blobs: readonly (readonly [number, string])[], g: PeriodGrid, runs: ReadonlyMap<number, readonly [number, number]>): ImbalanceMember['forecasts'] {
  const n = blobs.reduce((a, [, b]) => a + Math.floor((b.length * 3) / 4 / ENTRY_BYTES), 0); // at most
  const out = { hour: new Int32Array(n), p50: new Float64Array(n), rank: new Int32Array(n) };
  let k = 0;
  for (const [id, b64] of blobs) {
    const run = runs.get(id);
    if (run === undefined) continue;
    const v = scratchA.decode(b64);
    for (let o = 0; o < v.byteLength; o += ENTRY_BYTES) {
      const ms = msAt(v, o);
      if (run[1] > ms) continue;
      out.hour[k] = periodIndex(g, ms);
      out.p50[k] = v.getFloat64(o + 8);
      out.rank[k++] = run[0];
    }
  }
  return { hour: out.hour.subarray(0, k), p50: out.p50.subarray(0, k), rank: out.rank.subarray(0, k) };
}

function decodeNominations(v: DataView, g: PeriodGrid): ImbalanceMember['nominations'] {
  const n = v.byteLength / ENTRY_BYTES;
  const out = { hour: new Int32Array(n), mwh: new Float64Array(n) };
  for (let i = 0, o = 0; i < n; i++, o += ENTRY_BYTES) {
    out.hour[i] = periodIndex(g, msAt(v, o));
    out.mwh[i] = v.getFloat64(o + 8);
  }
  return out;
}

type Db = Session['db'];

/** The per-meter LATERALs' cost is far above jit_above_cost: compiling their expressions costs more than it saves. */
async function noJit(database: Database, db: Db): Promise<void> {
  if (database.engine === 'pg') await sql`SET LOCAL jit = off`.execute(db);
}

interface MemberRow {
  readonly id: number;
  readonly external_id: string;
  readonly multiplier: number;
  readonly interval_minutes: number;
  readonly ef: Date | null;
  readonly et: Date | null;
  /** Its membership inside the range (dated portfolio versions): from / until; null = the whole range. */
  readonly mf: Date | null;
  readonly mt: Date | null;
}

/**
 * The members and when each is expected to have consumption. Members are the meters whose dated portfolio
 * versions (migration 028) put them in the portfolio at some time in the range, each for that part of it: a
 * customer joining on 1 March is in March's imbalance, not February's (issue 16).
 */
async function readMemberList(db: Db, p: ImbalanceScope, periodMinutes = 60): Promise<MemberRow[]> {
  // Instants binned to the shortest settlement period of the range (an hour where the area settles hourly).
  const bin = sql.lit(`${periodMinutes} minutes`);
  // Expected: from supplyStart (local midnight), else its first active import value (an index probe per meter) or its
  // registration, whichever is earlier; until the end of supplyEnd; within its membership. Only electricity meters are
  // expected (a gas or heat meter of the portfolio never has active import: ef null).
  const { rows } = await sql<MemberRow>`
    SELECT m.id, m.external_id, m.multiplier, m.interval_minutes,
      CASE WHEN m.commodity = 'electricity' THEN GREATEST(date_bin(${bin}, COALESCE(m.supply_start::timestamp AT TIME ZONE m.timezone,
        LEAST((SELECT min(r.start) FROM readings r WHERE r.meter_id = m.id AND r.channel = 1), m.created_at)), ${EPOCH}), date_bin(${bin}, ms.mfrom, ${EPOCH})) END AS ef,
      LEAST(date_bin(${bin}, (m.supply_end + 1)::timestamp AT TIME ZONE m.timezone, ${EPOCH}), date_bin(${bin}, ms.mto, ${EPOCH})) AS et,
      date_bin(${bin}, ms.mfrom, ${EPOCH}) AS mf, date_bin(${bin}, ms.mto, ${EPOCH}) AS mt
    FROM (${portfolioMembershipSql({ portfolio: p.portfolio, from: p.from, to: p.to })}) ms JOIN meters m ON m.id = ms.meter_id
    ORDER BY m.id`.execute(db);
  return rows;
}

/** Each member's part of the range as SQL arrays (null: the range's bound), for the per-meter scans. */
function memberSpans(members: readonly MemberRow[]): { ids: number[]; fs: (string | null)[]; ts: (string | null)[] } {
  const text = (d: Date | null) => (d === null ? null : new Date(d).toISOString());
  return { ids: members.map((m) => m.id), fs: members.map((m) => text(m.mf)), ts: members.map((m) => text(m.mt)) };
}

/**
 * Where the values are read from: `from`, or an hour earlier where the range starts with periods shorter than an
 * hour (an hourly value that starts before a range beginning at :15 covers part of it: spread, its part counts).
 */
function readFrom(p: ImbalanceScope, g: PeriodGrid): Date {
  return (g.segments[0]?.minutes ?? 60) < 60 && g.fromMs % HOUR_MS !== 0 ? new Date(p.from.getTime() - HOUR_MS) : p.from;
}

/** Each meter's values (channel 1, active import) in its part of the range and its nominations, as binary blobs (an index range scan per meter), by meter id. */
async function readValues(db: Db, p: ImbalanceScope, members: readonly MemberRow[], g: PeriodGrid): Promise<Map<number, Pick<ImbalanceMember, 'values' | 'nominations'>>> {
  const common = sql`r.quality NOT IN (${sql.join(NOT_FIRM.map((c) => sql.lit(c)))}) AND r.interval_minutes IS NULL`;
  const { ids, fs, ts } = memberSpans(members);
  const { rows } = await sql<{ id: number; v: string | null; o: string | null; nm: string | null }>`
    SELECT m.id, encode(v.f, 'base64') AS v, encode(v.o, 'base64') AS o, encode(nm.b, 'base64') AS nm
    FROM unnest(${ids}::int[], ${fs}::timestamptz[], ${ts}::timestamptz[]) AS m(id, mf, mt)
    LEFT JOIN LATERAL (
      SELECT string_agg(timestamptz_send(r.start) || float8send(r.value), ''::bytea) FILTER (WHERE ${common}) AS f,
             string_agg(timestamptz_send(r.start) || float8send(r.value) || int2send(r.quality) || int2send(r.source)
                        || int2send(COALESCE(r.interval_minutes, -1::smallint)), ''::bytea) FILTER (WHERE NOT (${common})) AS o
      FROM readings r WHERE r.meter_id = m.id AND r.channel = 1 AND r.start >= GREATEST(${readFrom(p, g)}::timestamptz, m.mf) AND r.start < LEAST(${p.to}::timestamptz, m.mt)
    ) v ON true
    -- one grouped scan of the portfolio's nominations (its key starts with portfolio, start), not one per meter
    LEFT JOIN (
      SELECT meter_id, string_agg(timestamptz_send(start) || float8send(mwh), ''::bytea) AS b FROM nominations
      WHERE portfolio = ${p.portfolio} AND meter_id = ANY(${ids}::int[]) AND start >= ${p.from} AND start < ${p.to}
      GROUP BY meter_id
    ) nm ON nm.meter_id = m.id`.execute(db);
  return new Map(rows.map((r) => [r.id, { values: decodeValues(scratchA.decode(r.v), scratchB.decode(r.o), g), nominations: decodeNominations(scratchA.decode(r.nm), g) }]));
}

/** The day-ahead runs that count (done or partial, issued before `to`), ranked: issue time, then id (the newest wins). */
async function readRuns(db: Db, p: ImbalanceScope): Promise<Map<number, readonly [number, number]>> {
  const { rows } = await sql<{ id: number; issue_time: Date }>`
    SELECT id, issue_time FROM forecast_runs
    WHERE status IN ('done', 'partial') AND horizon = 'day-ahead' AND issue_time < ${p.to}
    ORDER BY issue_time, id`.execute(db);
  return new Map(rows.map((r, i) => [Number(r.id), [i + 1, new Date(r.issue_time).getTime()] as const]));
}

/** Each meter's day-ahead P50 values in its part of the range (target `meter:<id>`), of the runs that count issued at or before their hour, by meter. */
async function readForecasts(
  db: Db,
  p: ImbalanceScope,
  members: readonly MemberRow[],
  runs: ReadonlyMap<number, readonly [number, number]>,
  g: PeriodGrid,
): Promise<Map<string, ImbalanceMember['forecasts']>> {
  const meters = members.map((m) => m.external_id);
  const { fs, ts } = memberSpans(members);
  // Every run's values, one blob per meter and run (a hash of the few runs per meter): the runs are picked while
  // decoding (a join with them here, or the run id in every entry, cost more than shipping the values of other runs).
  const { rows } = await sql<{ meter: string; run_id: number; f: string }>`
    SELECT m.meter, f.run_id, encode(f.b, 'base64') AS f
    FROM unnest(${meters}::text[], ${fs}::timestamptz[], ${ts}::timestamptz[]) AS m(meter, mf, mt)
    CROSS JOIN LATERAL (
      SELECT fv.run_id, string_agg(timestamptz_send(fv.start) || float8send(fv.p50), ''::bytea) AS b
      FROM forecast_values fv WHERE fv.target = 'meter:' || m.meter AND fv.start >= GREATEST(${readFrom(p, g)}::timestamptz, m.mf) AND fv.start < LEAST(${p.to}::timestamptz, m.mt)
      GROUP BY fv.run_id
    ) f`.execute(db);
  const blobs = new Map<string, [number, string][]>();
  for (const r of rows) {
    const list = blobs.get(r.meter) ?? [];
    list.push([Number(r.run_id), r.f]);
    blobs.set(r.meter, list);
  }
  return new Map([...blobs].map(([meter, list]) => [meter, decodeForecasts(list, g, runs)]));
}

/**
 * Every hour of the range: position, prices (a price held as not yet published is absent), the rule in force
 * on its local date; and its bucket start (`unit` in the scope's zone).
 */
async function readHours(db: Db, p: ImbalanceScope, unit: ImbalanceBucketUnit, g: PeriodGrid): Promise<{ hours: HourMarket[]; buckets: number[] }> {
  const bucket = unit === 'period' ? sql`g.h` : sql`date_trunc(${unit}, g.h, ${p.timezone})`;
  // The settlement periods of the range (hours where the area settles hourly): one row each.
  const starts = Array.from(periodTable(g).start, (ms) => new Date(ms).toISOString());
  const { rows } = await sql<{
    has_pos: boolean;
    bilateral: number | null;
    day_ahead: number | null;
    intraday: number | null;
    ptf: number | null;
    smf: number | null;
    positive_imbalance: number | null;
    negative_imbalance: number | null;
    held: boolean;
    system_direction: string | null;
    k_positive: number | null;
    k_negative: number | null;
    bucket: Date;
  }>`
    SELECT pos.start IS NOT NULL AS has_pos, pos.bilateral, pos.day_ahead, pos.intraday,
           CASE WHEN 'ptf' = ANY(pr.unpublished) THEN NULL ELSE pr.ptf END AS ptf,
           CASE WHEN 'smf' = ANY(pr.unpublished) THEN NULL ELSE pr.smf END AS smf,
           CASE WHEN 'positiveImbalance' = ANY(pr.unpublished) THEN NULL ELSE pr.positive_imbalance END AS positive_imbalance,
           CASE WHEN 'negativeImbalance' = ANY(pr.unpublished) THEN NULL ELSE pr.negative_imbalance END AS negative_imbalance,
           COALESCE(pr.unpublished IS NOT NULL, false) AS held, pr.system_direction, r.k_positive, r.k_negative, ${bucket} AS bucket
    FROM unnest(${starts}::timestamptz[]) AS g(h)
    LEFT JOIN positions pos ON pos.portfolio = ${p.portfolio} AND pos.start = g.h
    LEFT JOIN market_prices pr ON pr.area = ${p.area} AND pr.start = g.h
    LEFT JOIN LATERAL (
      SELECT k_positive, k_negative FROM imbalance_price_rules
      WHERE area = ${p.area} AND effective_from <= (g.h AT TIME ZONE ${p.timezone})::date
      ORDER BY effective_from DESC LIMIT 1
    ) r ON true
    ORDER BY g.h`.execute(db);
  return {
    hours: rows.map((h) => ({
      position: h.has_pos ? { bilateral: h.bilateral!, dayAhead: h.day_ahead!, intraday: h.intraday! } : null,
      ptf: h.ptf,
      smf: h.smf,
      positiveImbalance: h.positive_imbalance,
      negativeImbalance: h.negative_imbalance,
      held: h.held,
      systemDirection: h.system_direction,
      rule: h.k_positive === null || h.k_negative === null ? null : { kPositive: h.k_positive, kNegative: h.k_negative },
    })),
    buckets: rows.map((h) => new Date(h.bucket).getTime()),
  };
}

/**
 * The inputs of imbalanceReport over [from, to) (whole hours) and each hour's bucket start. The members'
 * values on one connection and their forecasts and the hours on another, at once (each side is an index
 * scan of ~720 000 rows for a month of 1 000 meters: two cores); PGlite runs them in turn. Each side asks
 * for BATCH meters a query, all queries sent at once.
 */
async function readInputs(
  database: Database,
  p: ImbalanceScope,
  unit: ImbalanceBucketUnit = 'period',
): Promise<{ members: ImbalanceMember[]; hours: HourMarket[]; buckets: number[]; grid: PeriodGrid }> {
  const grid = await settlementGrid(database, p);
  const list = await readMemberList(database.db, p, shortestPeriod(grid));
  const batches: MemberRow[][] = [];
  for (let i = 0; i < list.length; i += BATCH) batches.push(list.slice(i, i + BATCH));
  const [values, [forecasts, hours]] = await Promise.all([
    database.session(async ({ db }) => {
      await noJit(database, db);
      return Promise.all(batches.map((b) => readValues(db, p, b, grid)));
    }),
    database.session(async ({ db }) => {
      await noJit(database, db);
      const runs = await readRuns(db, p);
      return Promise.all([Promise.all(batches.map((b) => readForecasts(db, p, b, runs, grid))), readHours(db, p, unit, grid)]);
    }),
  ]);
  const none = { hour: new Int32Array(0), p50: new Float64Array(0), rank: new Int32Array(0) };
  const members = list.map((m, i): ImbalanceMember => {
    const b = Math.floor(i / BATCH);
    const vn = values[b].get(m.id)!;
    return {
      meter: m.external_id,
      multiplier: m.multiplier,
      intervalMinutes: m.interval_minutes,
      expectedFromMs: m.ef === null ? null : new Date(m.ef).getTime(),
      expectedToMs: m.et === null ? null : new Date(m.et).getTime(),
      values: vn.values,
      nominations: vn.nominations,
      forecasts: forecasts[b].get(m.external_id) ?? none,
    };
  });
  return { members, ...hours, grid };
}

/**
 * The area's settlement periods over the scope's range (migration 031; hourly where none is declared), in the
 * area's zone. Throws MDM_ERR_MISALIGNED_TIME-worthy RangeErrors when from/to are not period starts.
 */
export async function settlementGrid(database: Database, p: Pick<ImbalanceScope, 'area' | 'from' | 'to'>): Promise<PeriodGrid> {
  return periodGrid(await listMarketPeriods(database, p.area), areaTimezone(p.area), p.from.getTime(), p.to.getTime());
}

/** Per-meter imbalance volumes and costs over [from, to), plus the portfolio totals. */
export async function meterImbalance(database: Database, p: ImbalanceScope): Promise<{ meters: MeterImbalanceRow[]; totals: ImbalanceTotals }> {
  const { members, hours, grid } = await readInputs(database, p);
  const r = imbalanceReport({ fromMs: p.from.getTime(), grid, spread: p.spread, hours, members, fill: p.fill ?? 'none', nowMs: (p.now ?? new Date()).getTime() }, true);
  return { meters: r.meters, totals: imbalanceTotals(r.hours) };
}

/** period: each settlement period (an hour where the area settles hourly); hour, day, month: local buckets. */
export type ImbalanceBucketUnit = 'period' | 'hour' | 'day' | 'month';

export interface BucketImbalanceRow {
  /** Local bucket start as an instant. */
  readonly bucket: Date;
  readonly hours: number;
  /** The shortest settlement period of the bucket's report periods, minutes. */
  readonly periodMinutes: number;
  /** Meter-periods whose value is a part of an hourly value spread by the rule. */
  readonly spreadMeters: number;
  readonly unpricedHours: number;
  /** Unpriced hours with a price held as not yet published. */
  readonly unpublishedPriceHours: number;
  /** Hours left out because a member's actual is missing; provisional: counted with a fill. */
  readonly missingActualHours: number;
  readonly provisionalHours: number;
  /** Meter-hours of the bucket (in an hour bucket: meters): members, with a firm actual, filled, missing. */
  readonly members: number;
  readonly withActuals: number;
  readonly provisionalMeters: number;
  readonly missingMeters: number;
  readonly bilateral: number;
  readonly dayAhead: number;
  readonly intraday: number;
  readonly position: number;
  /** Position of the hours left out (in `position`, not in `imbalance`). */
  readonly missingPosition: number;
  /** Over the counted hours; null when none is. */
  readonly consumption: number | null;
  readonly imbalance: number | null;
  readonly provisionalEnergy: number | null;
  /** Hour: the hour's prices; day/month: arithmetic means over the bucket's priced hours. */
  readonly ptf: number | null;
  readonly smf: number | null;
  readonly positivePrice: number | null;
  readonly negativePrice: number | null;
  /** Hour buckets: 'published' | 'rule' | null (no price). */
  readonly priceSource: string | null;
  readonly systemDirection: string | null;
  readonly cost: number | null;
  readonly standalone: number | null;
}

/** Σ of the non-null values, or null when there is none (SQL sum()). */
function sumOf(hours: readonly ReportHour[], f: (h: ReportHour) => number | null): number | null {
  let s: number | null = null;
  for (const h of hours) {
    const x = f(h);
    if (x !== null) s = (s ?? 0) + x;
  }
  return s;
}

/** Mean of the non-null values, or null (SQL avg()). */
function meanOf(hours: readonly ReportHour[], f: (h: ReportHour) => number | null): number | null {
  let n = 0;
  const s = sumOf(hours, (h) => {
    const x = f(h);
    if (x !== null) n++;
    return x;
  });
  return s === null ? null : s / n;
}

const count = (hours: readonly ReportHour[], f: (h: ReportHour) => boolean): number => hours.reduce((a, h) => a + (f(h) ? 1 : 0), 0);

/** One bucket's row from its report hours (in order). */
function bucketRow(bucket: number, hs: readonly ReportHour[]): BucketImbalanceRow {
  const one = hs.length === 1 ? hs[0] : undefined;
  return {
    bucket: new Date(bucket),
    hours: hs.length,
    periodMinutes: hs.reduce((a, h) => Math.min(a, h.minutes), 60),
    spreadMeters: hs.reduce((a, h) => a + h.spreadMeters, 0),
    unpricedHours: count(hs, (h) => !h.priced),
    unpublishedPriceHours: count(hs, (h) => !h.priced && h.held),
    missingActualHours: count(hs, (h) => !h.counted),
    provisionalHours: count(hs, (h) => h.counted && h.provisionalMeters > 0),
    members: hs.reduce((a, h) => a + h.withActuals + h.provisionalMeters + h.missingMeters, 0),
    withActuals: hs.reduce((a, h) => a + h.withActuals, 0),
    provisionalMeters: hs.reduce((a, h) => a + h.provisionalMeters, 0),
    missingMeters: hs.reduce((a, h) => a + h.missingMeters, 0),
    bilateral: sumOf(hs, (h) => h.bilateral)!,
    dayAhead: sumOf(hs, (h) => h.dayAhead)!,
    intraday: sumOf(hs, (h) => h.intraday)!,
    position: sumOf(hs, (h) => h.position)!,
    missingPosition: sumOf(hs, (h) => (h.counted ? null : h.position)) ?? 0,
    consumption: sumOf(hs, (h) => h.consumption),
    imbalance: sumOf(hs, (h) => h.imbalance),
    provisionalEnergy: sumOf(hs, (h) => (h.counted ? h.provisionalEnergy : null)),
    ptf: meanOf(hs, (h) => h.ptf),
    smf: meanOf(hs, (h) => h.smf),
    positivePrice: meanOf(hs, (h) => h.positivePrice),
    negativePrice: meanOf(hs, (h) => h.negativePrice),
    priceSource: one ? one.priceSource : null,
    systemDirection: one ? one.systemDirection : null,
    cost: sumOf(hs, (h) => h.cost),
    standalone: sumOf(hs, (h) => h.standalone),
  };
}

/** Portfolio imbalance bucketed by local hour, day or month in the scope's time zone. */
export async function bucketImbalance(database: Database, p: ImbalanceScope & { unit: ImbalanceBucketUnit }): Promise<BucketImbalanceRow[]> {
  const { members, hours, buckets, grid } = await readInputs(database, p, p.unit);
  const r = imbalanceReport({ fromMs: p.from.getTime(), grid, spread: p.spread, hours, members, fill: p.fill ?? 'none', nowMs: (p.now ?? new Date()).getTime() }, false);
  const byBucket = new Map<number, ReportHour[]>();
  for (const h of r.hours) {
    const key = buckets[h.index];
    const list = byBucket.get(key);
    if (list) list.push(h);
    else byBucket.set(key, [h]);
  }
  return [...byBucket.entries()].sort((a, b) => a[0] - b[0]).map(([bucket, hs]) => bucketRow(bucket, hs));
}
