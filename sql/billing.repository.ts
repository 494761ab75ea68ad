import { sql, type RawBuilder } from 'kysely';
import type { TouPlan } from '../models/tou-plan.js';
import { rawRollupSql, stampSql } from './billing-rollup.repository.js';
import type { Database } from './database.js';
import { dataVersionQuery, readingsAsOf } from './reading-query.repository.js';
import { loadTouPlan } from './tou-schedule.repository.js';
import { loadCommodityInputs, type CommodityInputs } from './billing-commodity.repository.js';
import { loadDatedParts, type DatedPart } from './billing-segments.repository.js';
import { knownAt, registryVersionMs } from './meter-attribute.repository.js';
import { channelDef } from '../models/channel.js';
import { PRIMARY_CHANNEL_CODES } from '../models/commodity.js';

const VOLUME = channelDef('volume').code;

/**
 * Billing reads: the per-meter figures of a period in ONE set-based statement
 * (every selected meter, every energy channel), closed-period snapshots and
 * the stored readiness result. The same SQL runs on every flavour.
 */

/** `all` may leave some meters out (`except`: external ids), e.g. meters the readiness run could not compute last time. */
export type MeterSelector = { portfolio: string } | { group: string } | { meters: readonly string[] } | { all: true; except?: readonly string[] };

/** A local-month period as local dates [fromDate, toDate), or an instant range. */
export type FigureWindow = { kind: 'period'; fromDate: string; toDate: string } | { kind: 'range'; from: Date; to: Date };

export interface FigureQuery {
  readonly selector: MeterSelector;
  readonly window: FigureWindow;
  /** Clip every meter's window here (readiness of a period in progress counts up to now). */
  readonly until?: Date;
  /** Read the data as it was at this instant: rollup days no batch after it touched, the rest through readingsAsOf; validation issues as they stood then. */
  readonly asOf?: Date;
  /** Read every window from the readings, not the rollup (the parts of a meter whose tariff differs from its stored one). */
  readonly raw?: boolean;
  /** Tariff per meter id instead of the meters column (a dated tariff of the part, issue 16). */
  readonly tariffs?: ReadonlyMap<number, string>;
}

/** One meter's raw figures. Energies in µ-units (value × 10⁶, rounded per interval), BEFORE the multiplier. */
export interface MeterFigureRow {
  readonly meterId: number;
  readonly externalId: string;
  readonly timezone: string;
  readonly intervalMinutes: number;
  readonly multiplier: number;
  readonly tariff: string;
  /** models/commodity.ts: which channels are counted and which figures the meter gets; absent = electricity. */
  readonly commodity?: string;
  readonly gasArea?: string | null;
  readonly supplyStart: string | null;
  readonly supplyEnd: string | null;
  /** The meter's billing window: the period ∩ supply dates (∩ until); from ≥ to when empty. */
  readonly windowFrom: Date;
  readonly windowTo: Date;
  /** False when the supply dates leave nothing of the period (or range), whatever `until` says. */
  readonly supplied: boolean;
  /** Intervals of the meter's length in the window (DST-aware: it is the window's real length); 0 for a commodity without a measured interval channel (heat). */
  readonly expected: number;
  readonly activeImport: number;
  readonly activeExport: number;
  readonly reactiveInductive: number;
  readonly reactiveCapacitive: number;
  /** Volume (gas: Vm, water), µm³; absent = 0. */
  readonly volume?: number;
  /** Active import per TOU bucket, indexed like the tariff's bucket list (TouPlan.bucketsByTariff). */
  readonly tou: readonly number[];
  /** Quantity of the estimated or edited intervals of the primary channel (active import; volume for gas and water). */
  readonly estimatedEnergy: number;
  /** Interval counts by quality of the commodity's primary channel (models/commodity.ts: active_import; volume for gas and water). */
  readonly measured: number;
  readonly suspect: number;
  readonly estimated: number;
  readonly edited: number;
  /** Intervals stored with quality "missing" (a head-end placeholder without a value). */
  readonly flaggedMissing: number;
  /** Highest active_import rate in kWh per hour (value × 60 / interval minutes, before the multiplier) and its start. */
  readonly maxRate: number | null;
  readonly maxRateAt: Date | null;
  /** Start of the last interval of the primary channel holding a value. */
  readonly lastStart: Date | null;
  readonly openFailIssues: number;
  readonly openSumCheckIssues: number;
}

/** MeterFigureRow as the statement returns it: instants as epoch milliseconds. */
type MeterFigureSqlRow = Omit<MeterFigureRow, 'windowFrom' | 'windowTo' | 'maxRateAt' | 'lastStart' | 'tou'> & {
  readonly windowFrom: number;
  readonly windowTo: number;
  readonly maxRateAt: number | null;
  readonly lastStart: number | null;
  readonly tou: number[] | null;
};

// Widest UTC offsets in use (UTC−12 … UTC+14): a local date range lies within these margins of its UTC dates.
const MARGIN_MS = 15 * 3_600_000;
const DAY_MS = 86_400_000;

/**
 * `sel` as a condition on meters `m`. With a window, a portfolio's members are those its dated versions (known at
 * `asOf`) put in it on some local date of the window (issue 16: a customer joining on 1 March is billed with the
 * portfolio from March on); without one, the current members.
 */
function selectorWhere(sel: MeterSelector, w?: FigureWindow, asOf?: Date): RawBuilder<unknown> {
  if ('portfolio' in sel && w !== undefined) {
    const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
    const [fromDate, toDate] = w.kind === 'period' ? [w.fromDate, w.toDate] : [iso(w.from.getTime() - DAY_MS), iso(w.to.getTime() + DAY_MS)];
    return sql`m.id IN (
      SELECT v.meter_id FROM (
        SELECT a.meter_id, a.value, a.valid_from, lead(a.valid_from) OVER (PARTITION BY a.meter_id ORDER BY a.valid_from) AS valid_to
        FROM meter_attributes a
        WHERE a.attribute = 'portfolio' AND ${knownAt(asOf)}
          AND a.meter_id IN (SELECT c.meter_id FROM meter_attributes c WHERE c.attribute = 'portfolio' AND c.value = ${sel.portfolio})
      ) v
      WHERE v.value = ${sel.portfolio} AND v.valid_from < ${toDate}::date AND (v.valid_to IS NULL OR v.valid_to > ${fromDate}::date))`;
  }
  if ('portfolio' in sel) return sql`m.portfolio = ${sel.portfolio}`;
  if ('group' in sel) return sql`m."group" = ${sel.group}`;
  if ('meters' in sel) return sql`m.external_id = ANY(${sel.meters as string[]}::text[])`;
  return sel.except?.length ? sql`NOT (m.external_id = ANY(${sel.except as string[]}::text[]))` : sql`true`;
}

/** External ids of the meters `sel` selects, in id order (to run billing on parts of a selection). */
export async function selectedMeters(database: Database, sel: MeterSelector, w?: FigureWindow, asOf?: Date): Promise<string[]> {
  const { rows } = await sql<{ external_id: string }>`SELECT m.external_id FROM meters m WHERE ${selectorWhere(sel, w, asOf)} ORDER BY m.external_id`.execute(database.db);
  return rows.map((r) => r.external_id);
}

/** Coarse UTC bounds for the scan of readings, and local dates for the rollup; the per-meter windows are exact. */
function bounds(w: FigureWindow, until: Date | undefined) {
  const utc = (d: string) => Date.parse(`${d}T00:00:00Z`);
  const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const b =
    w.kind === 'range'
      ? { from: w.from, to: w.to, fromDate: iso(w.from.getTime() - DAY_MS), toDate: iso(w.to.getTime() + DAY_MS) }
      : { from: new Date(utc(w.fromDate) - MARGIN_MS), to: new Date(utc(w.toDate) + MARGIN_MS), fromDate: w.fromDate, toDate: w.toDate };
  return until && until < b.to ? { ...b, to: until } : b;
}

/**
 * The statement of computeMeterFigures (exported so benches and tests can
 * EXPLAIN it). `sel`: the meters, their windows (the local period resolved
 * in each meter's zone with `date::timestamp AT TIME ZONE tz`, DST-aware,
 * cut to the supply dates and `until`), the whole local days inside
 * [dfrom, dto), whether the rollup may be used (current stamp) and the
 * days it may not (dirty; with asOf also changed after it). `rr`: what is
 * read raw: whole windows of meters not rolled up, partial days at window
 * edges, those days. `u`: rollup rows of the other days ∪ raw rows reduced
 * to the same shape; the final select adds them up per meter, with the
 * validation issues open then. A meter whose whole days are whole local
 * months with none of them stale (`monthly`: a period, nothing dirty) reads
 * billing_monthly, one row per month and channel (migration 019), instead
 * of its ~30 billing_daily rows: for 10 000 meters × a month that was most
 * of the statement's time (issue 14 §3). Instants leave as epoch ms.
 */
export function meterFiguresSql(q: FigureQuery, plan: TouPlan) {
  const w = q.window;
  const tz = sql`m.timezone`;
  // The period (or range) bounds in each time zone in use, converted once per zone instead of per meter (a
  // named-zone conversion costs ~1 µs and the per-meter expressions repeated it ~10 times); a meter converts
  // only its own supply dates and `until`, when it has them.
  const zoneFrom = w.kind === 'period' ? sql`(${w.fromDate}::date)::timestamp AT TIME ZONE z.tz` : sql`${w.from}::timestamptz`;
  const zoneTo = w.kind === 'period' ? sql`(${w.toDate}::date)::timestamp AT TIME ZONE z.tz` : sql`${w.to}::timestamptz`;
  /** First whole local day at or after instant `t` in `zone`. */
  const firstDay = (t: RawBuilder<unknown>, zone: RawBuilder<unknown>) =>
    sql`CASE WHEN (${t} AT TIME ZONE ${zone}) = date_trunc('day', ${t} AT TIME ZONE ${zone}) THEN (${t} AT TIME ZONE ${zone})::date ELSE (${t} AT TIME ZONE ${zone})::date + 1 END`;
  const zones = sql`
      SELECT zb.tz, zb.zfrom, zb.zto, ${firstDay(sql`zb.zfrom`, sql`zb.tz`)} AS zdfrom, (zb.zto AT TIME ZONE zb.tz)::date AS zdto
      FROM (SELECT z.tz, ${zoneFrom} AS zfrom, ${zoneTo} AS zto FROM (SELECT DISTINCT m.timezone AS tz FROM meters m WHERE ${selectorWhere(q.selector, q.window, q.asOf)}) z) zb`;
  const b = bounds(w, q.until);
  const rolled = q.raw ? sql`false` : sql`coalesce(s.stamp = ${stampSql(plan)}, false)`;
  const tariffJson = q.tariffs === undefined ? undefined : JSON.stringify(Object.fromEntries(q.tariffs));
  const tariff = tariffJson === undefined ? sql`m.tariff` : sql`coalesce(${tariffJson}::jsonb ->> m.id::text, m.tariff)`;
  // Days read from the readings although rolled up: dirty ones, and for asOf those changed after it.
  const inRange = sql`local_date >= ${b.fromDate}::date AND local_date < ${b.toDate}::date`;
  const stale =
    q.asOf === undefined
      ? sql`SELECT meter_id, local_date FROM billing_dirty WHERE ${inRange}`
      : sql`SELECT meter_id, local_date FROM billing_dirty WHERE ${inRange}
            UNION
            SELECT meter_id, local_date FROM billing_daily WHERE ${inRange} AND (max_received IS NULL OR max_received > ${q.asOf})`;
  const openAt = q.asOf === undefined ? sql`i.status = 'open'` : sql`i.created_at <= ${q.asOf} AND (i.resolved_at IS NULL OR i.resolved_at > ${q.asOf})`;
  const k = plan.maxBuckets;
  // TOU energies are kept for active import of a tariff with buckets only (billingFigures reads no others): the rest are zeros, not summed.
  const touTariffs = [...plan.bucketsByTariff].filter(([, names]) => names.length > 0).map(([tariff]) => tariff);
  const touSum = k ? sql`ARRAY[${sql.join(Array.from({ length: k }, (_, i) => sql`sum(tou[${sql.lit(i + 1)}]) FILTER (WHERE channel = 1)`))}]::float8[]` : sql`ARRAY[]::float8[]`;
  const rolledTou = (t: string) =>
    k
      ? sql`ARRAY[${sql.join(Array.from({ length: k }, (_, i) => sql`coalesce(sum(${sql.ref(`${t}.tou`)}[${sql.lit(i + 1)}]) FILTER (WHERE ${sql.ref(`${t}.channel`)} = 1 AND s.has_tou), 0)`))}]::int8[]`
      : sql`ARRAY[]::int8[]`;
  const local = (col: string) => sql`(${sql.ref(col)}::timestamp AT TIME ZONE timezone)`;
  // The commodity's primary interval channel (models/commodity.ts), null for one without (heat): what completeness counts.
  const primary = sql`CASE m.commodity ${sql.join(
    Object.entries(PRIMARY_CHANNEL_CODES).map(([c, code]) => sql`WHEN ${sql.lit(c)} THEN ${sql.lit(code)}`),
    sql` `,
  )} END::smallint`;
  // Instants leave as epoch milliseconds (floor, as a Date of the timestamp's text would hold them): cheaper to send and read than timestamp text.
  const ms = (t: RawBuilder<unknown>) => sql`floor(extract(epoch FROM ${t}) * 1000)::float8`;

  // The selected meters and their windows (the local period resolved in each meter's zone, DST-aware, cut to
  // its supply dates and `until`); OFFSET 0 keeps the stamp (a subquery) evaluated once per meter.
  const windows = sql`
      SELECT win.*, win.rolled AND cardinality(win.dirty) = 0 AND win.dfrom < win.dto AND extract(day FROM win.dfrom) = 1 AND extract(day FROM win.dto) = 1 AS monthly
      FROM (
        SELECT m.id, m.external_id, m.timezone, m.interval_minutes, m.multiplier, ${tariff} AS tariff, m.commodity, m.gas_area, ${primary} AS pc,
               m.supply_start::text AS supply_start, m.supply_end::text AS supply_end,
               w.wfrom, w.wto, w.supplied, w.dfrom, w.dto, ${rolled} AS rolled, coalesce(x.dates, '{}') AS dirty,
               ${tariff} = ANY(${touTariffs}::text[]) AS has_tou
        FROM meters m
        JOIN (${zones}) zb ON zb.tz = m.timezone
        LEFT JOIN billing_rollup_meters s ON s.meter_id = m.id
        LEFT JOIN (SELECT meter_id, array_agg(local_date) AS dates FROM (${stale}) st GROUP BY meter_id) x ON x.meter_id = m.id
        CROSS JOIN LATERAL (
          SELECT v.wfrom, v.wto, v.supply_to > v.wfrom AS supplied,
                 CASE WHEN v.wfrom = zb.zfrom THEN zb.zdfrom ELSE ${firstDay(sql`v.wfrom`, tz)} END AS dfrom,
                 CASE WHEN v.wto = zb.zto THEN zb.zdto ELSE (v.wto AT TIME ZONE ${tz})::date END AS dto
          FROM (
            SELECT u.wfrom, u.supply_to, least(u.supply_to, ${q.until ?? null}::timestamptz) AS wto
            FROM (SELECT greatest(zb.zfrom, m.supply_start::timestamp AT TIME ZONE ${tz}) AS wfrom,
                         least(zb.zto, (m.supply_end + 1)::timestamp AT TIME ZONE ${tz}) AS supply_to) u
          ) v
        ) w
        WHERE ${selectorWhere(q.selector, q.window, q.asOf)}
        OFFSET 0
      ) win`;

  return sql<MeterFigureSqlRow>`
    WITH sel AS MATERIALIZED (${windows}
    ), dk AS MATERIALIZED (
      SELECT s.id, s.timezone, x.local_date FROM sel s CROSS JOIN LATERAL unnest(s.dirty) AS x(local_date)
      WHERE s.rolled AND x.local_date >= s.dfrom AND x.local_date < s.dto
    ), rr AS MATERIALIZED (
      SELECT id, wfrom AS rf, wto AS rt FROM sel WHERE wfrom < wto AND (NOT rolled OR dfrom >= dto)
      UNION ALL
      SELECT id, wfrom, ${local('dfrom')} FROM sel WHERE wfrom < wto AND rolled AND dfrom < dto AND wfrom < ${local('dfrom')}
      UNION ALL
      SELECT id, ${local('dto')}, wto FROM sel WHERE wfrom < wto AND rolled AND dfrom < dto AND ${local('dto')} < wto
      UNION ALL
      SELECT id, local_date::timestamp AT TIME ZONE timezone, (local_date + 1)::timestamp AT TIME ZONE timezone FROM dk
    ), u AS (
      ${rawRollupSql({ ranges: sql`SELECT * FROM rr`, source: readingsAsOf(q.asOf), plan, byDate: false, scan: b, tariffs: tariffJson })}
      UNION ALL
      -- Rolled-up days of meters not read by month, added up per meter and channel before the union (a few rows per meter instead of one per day).
      SELECT d.meter_id, d.channel, sum(d.energy), sum(d.est_energy), sum(d.n_measured), sum(d.n_suspect), sum(d.n_estimated), sum(d.n_edited), sum(d.n_missing),
             ${rolledTou('d')},
             max(ARRAY[d.peak_rate, -date_part('epoch', d.peak_start)]) FILTER (WHERE d.channel = 1 AND d.peak_rate IS NOT NULL), max(d.last_start)
      FROM billing_daily d JOIN sel s ON s.id = d.meter_id
      WHERE s.rolled AND NOT s.monthly AND d.local_date >= s.dfrom AND d.local_date < s.dto
        AND d.local_date >= ${b.fromDate}::date AND d.local_date < ${b.toDate}::date
        AND d.local_date <> ALL(s.dirty) -- a per-meter array, usually empty: no anti-join to plan on dirty-table statistics
      GROUP BY d.meter_id, d.channel
      UNION ALL
      -- Meters whose days are whole local months, none of them stale: one billing_monthly row per month and channel.
      SELECT mo.meter_id, mo.channel, sum(mo.energy), sum(mo.est_energy), sum(mo.n_measured), sum(mo.n_suspect), sum(mo.n_estimated), sum(mo.n_edited), sum(mo.n_missing),
             ${rolledTou('mo')}, max(mo.peak) FILTER (WHERE mo.channel = 1), max(mo.last_start)
      FROM billing_monthly mo JOIN sel s ON s.id = mo.meter_id
      WHERE s.monthly AND mo.month >= s.dfrom AND mo.month < s.dto
        AND mo.month >= ${b.fromDate}::date AND mo.month < ${b.toDate}::date
      GROUP BY mo.meter_id, mo.channel
    ), agg AS (
      -- Counts, estimated quantity and last value of each meter's primary channel (s.pc: active import, volume…).
      SELECT u.id,
             sum(energy) FILTER (WHERE channel = 1) AS ai, sum(energy) FILTER (WHERE channel = 2) AS ae,
             sum(energy) FILTER (WHERE channel = 3) AS ri, sum(energy) FILTER (WHERE channel = 4) AS rc,
             sum(energy) FILTER (WHERE channel = ${sql.lit(VOLUME)}) AS vol,
             ${touSum} AS tou,
             sum(est_energy) FILTER (WHERE channel = s.pc) AS est_e,
             sum(n_measured) FILTER (WHERE channel = s.pc) AS n_measured, sum(n_suspect) FILTER (WHERE channel = s.pc) AS n_suspect,
             sum(n_estimated) FILTER (WHERE channel = s.pc) AS n_estimated, sum(n_edited) FILTER (WHERE channel = s.pc) AS n_edited,
             sum(n_missing) FILTER (WHERE channel = s.pc) AS n_missing,
             max(peak) FILTER (WHERE channel = 1) AS peak,
             max(last_start) FILTER (WHERE channel = s.pc) AS last_start
      FROM u JOIN sel s ON s.id = u.id GROUP BY u.id
    ), iss AS (
      SELECT i.meter_id, count(*) FILTER (WHERE i.severity = 'fail') AS fail, count(*) FILTER (WHERE i.rule = 'sum_check') AS sum_check
      FROM validation_issues i JOIN sel s ON s.id = i.meter_id
      WHERE ${openAt} AND i.from_ts < s.wto AND i.to_ts > s.wfrom
      GROUP BY i.meter_id
    )
    SELECT s.id AS "meterId", s.external_id AS "externalId", s.timezone, s.interval_minutes AS "intervalMinutes", s.multiplier, s.tariff,
           s.commodity, s.gas_area AS "gasArea",
           s.supply_start AS "supplyStart", s.supply_end AS "supplyEnd", ${ms(sql`s.wfrom`)} AS "windowFrom", ${ms(sql`s.wto`)} AS "windowTo", s.supplied,
           CASE WHEN s.wto > s.wfrom AND s.pc IS NOT NULL THEN floor(extract(epoch FROM s.wto - s.wfrom) / 60 / s.interval_minutes)::int ELSE 0 END AS expected,
           coalesce(a.ai, 0) AS "activeImport", coalesce(a.ae, 0) AS "activeExport",
           coalesce(a.ri, 0) AS "reactiveInductive", coalesce(a.rc, 0) AS "reactiveCapacitive", coalesce(a.vol, 0) AS volume,
           a.tou, coalesce(a.est_e, 0) AS "estimatedEnergy",
           coalesce(a.n_measured, 0)::int AS measured, coalesce(a.n_suspect, 0)::int AS suspect,
           coalesce(a.n_estimated, 0)::int AS estimated, coalesce(a.n_edited, 0)::int AS edited,
           coalesce(a.n_missing, 0)::int AS "flaggedMissing",
           a.peak[1] AS "maxRate", ${ms(sql`to_timestamp(-a.peak[2])`)} AS "maxRateAt", ${ms(sql`a.last_start`)} AS "lastStart",
           coalesce(i.fail, 0)::int AS "openFailIssues", coalesce(i.sum_check, 0)::int AS "openSumCheckIssues"
    FROM sel s LEFT JOIN agg a ON a.id = s.id LEFT JOIN iss i ON i.meter_id = s.id
    ORDER BY s.external_id`;
}

function toFigureRow(r: MeterFigureSqlRow, empty: readonly number[]): MeterFigureRow {
  // Field by field: an object spread with overrides takes V8's slow clone path (~10 µs a row).
  return {
    meterId: r.meterId,
    externalId: r.externalId,
    timezone: r.timezone,
    intervalMinutes: r.intervalMinutes,
    multiplier: r.multiplier,
    tariff: r.tariff,
    commodity: r.commodity,
    gasArea: r.gasArea,
    supplyStart: r.supplyStart,
    supplyEnd: r.supplyEnd,
    windowFrom: new Date(r.windowFrom),
    windowTo: new Date(r.windowTo),
    supplied: r.supplied,
    expected: r.expected,
    activeImport: r.activeImport,
    activeExport: r.activeExport,
    reactiveInductive: r.reactiveInductive,
    reactiveCapacitive: r.reactiveCapacitive,
    volume: r.volume,
    tou: r.tou ?? empty,
    estimatedEnergy: r.estimatedEnergy,
    measured: r.measured,
    suspect: r.suspect,
    estimated: r.estimated,
    edited: r.edited,
    flaggedMissing: r.flaggedMissing,
    maxRate: r.maxRate,
    maxRateAt: r.maxRateAt === null ? null : new Date(r.maxRateAt),
    lastStart: r.lastStart === null ? null : new Date(r.lastStart),
    openFailIssues: r.openFailIssues,
    openSumCheckIssues: r.openSumCheckIssues,
  };
}

/**
 * Figures of every selected meter over its window, with the data version
 * they reflect, from one REPEATABLE READ snapshot: the TOU plan, the
 * rollup, the dirty days, the readings and the newest batch are all read in
 * it, so `asOf = dataVersion` later reads the same versions. Without asOf,
 * whole local days come from the daily rollup (billing-rollup.repository;
 * whole months from its monthly sums, billing_monthly) and only partial,
 * dirty and not-yet-rolled days from the readings. With
 * asOf, a rollup row serves when its newest batch was received by then (no
 * later version of its values exists); the other days are read from the
 * readings and their history as they were then.
 * Energies are summed as integers of 10⁻⁶ units (int8 sums are exact), so
 * the same data always gives bit-identical figures, whichever path.
 */
export async function computeMeterFigures(
  database: Database,
  q: FigureQuery,
): Promise<{ rows: MeterFigureRow[]; dataVersion: Date; plan: TouPlan; commodity: CommodityInputs; parts: ReadonlyMap<number, readonly DatedPart[]> }> {
  return database.db
    .transaction()
    .setIsolationLevel('repeatable read')
    .execute(async (trx) => {
      // A hash aggregate of ~10 groups per meter needs more than the default 4 MB;
      // JIT compilation costs more (~0.2 s) than it saves on these statements.
      await sql`SET LOCAL work_mem = '64MB'`.execute(trx);
      await sql`SET LOCAL jit = off`.execute(trx);
      const plan = await loadTouPlan(trx);
      const { rows } = await meterFiguresSql(q, plan).execute(trx);
      const version = await dataVersionQuery(q.asOf).execute(trx);
      const empty = Array.from({ length: plan.maxBuckets }, () => 0);
      const figureRows = rows.map((r) => toFigureRow(r, empty));
      // Meters whose multiplier or tariff changes inside their window (dated attributes, issue 16): their parts, read raw with each
      // part's tariff, in the same snapshot. One indexed probe when no dated change touches the window (the usual case).
      const parts = await loadDatedParts(trx, q, figureRows, async (part) => (await meterFiguresSql({ ...q, ...part, raw: true }, plan).execute(trx)).rows.map((r) => toFigureRow(r, empty)));
      // Gas conversion inputs and register reads of the meters of other commodities, in the same snapshot (sql/billing-commodity.repository.ts).
      const commodity = await loadCommodityInputs(trx, figureRows, q.asOf);
      // The data version covers the dated registry too (issue 16): asOf = dataVersion reads the versions these figures used.
      const registry = await registryVersionMs(trx, q.asOf);
      return { rows: figureRows, dataVersion: new Date(Math.max(version.rows[0]?.ms ?? 0, registry)), plan, commodity, parts };
    });
}

export interface ClosedPeriodRow {
  readonly period: string;
  readonly closedAt: Date;
  readonly closedBy: string;
  readonly dataVersion: Date;
  readonly meters: number;
}

export async function findClosedPeriod(database: Database, period: string): Promise<ClosedPeriodRow | undefined> {
  return database.db
    .selectFrom('billing_periods')
    .select(['period', 'closed_at as closedAt', 'closed_by as closedBy', 'data_version as dataVersion', 'meters'])
    .where('period', '=', period)
    .executeTakeFirst();
}

/**
 * Closes `period` with one snapshot row per meter, in one transaction.
 * Returns undefined when the period was already closed (nothing is written).
 */
export async function closePeriod(
  database: Database,
  p: { period: string; closedBy: string; dataVersion: Date; snapshots: readonly { meterId: number; figures: object }[] },
): Promise<ClosedPeriodRow | undefined> {
  return database.db.transaction().execute(async (trx) => {
    const closed = await trx
      .insertInto('billing_periods')
      .values({ period: p.period, closed_by: p.closedBy, data_version: p.dataVersion, meters: p.snapshots.length })
      .onConflict((oc) => oc.column('period').doNothing())
      .returning(['period', 'closed_at as closedAt', 'closed_by as closedBy', 'data_version as dataVersion', 'meters'])
      .executeTakeFirst();
    if (!closed) return undefined;
    const rows = JSON.stringify(p.snapshots.map((s) => ({ meter_id: s.meterId, figures: s.figures })));
    await sql`
      INSERT INTO billing_snapshots (period, meter_id, figures, data_version, closed_at, closed_by)
      SELECT ${p.period}, x.meter_id, x.figures, ${p.dataVersion}, ${closed.closedAt}, ${p.closedBy}
      FROM jsonb_to_recordset(${rows}::jsonb) AS x(meter_id integer, figures jsonb)`.execute(trx);
    return closed;
  });
}

export interface SnapshotRow {
  readonly meterId: number;
  readonly externalId: string;
  readonly figures: Record<string, unknown>;
}

/** The frozen figures of a closed period, by external meter id (meters deleted since are kept under their old id). */
export async function listSnapshots(database: Database, period: string): Promise<SnapshotRow[]> {
  const { rows } = await sql<SnapshotRow>`
    SELECT s.meter_id AS "meterId", coalesce(m.external_id, s.figures->>'meter') AS "externalId", s.figures
    FROM billing_snapshots s LEFT JOIN meters m ON m.id = s.meter_id
    WHERE s.period = ${period}
    ORDER BY 2`.execute(database.db);
  return rows;
}

/**
 * What a readiness result depends on besides the clock: the data version, the
 * last validation issue change, the last meter change, the last schedule
 * change, the last dated attribute change (issue 16) and the last gas area or calorific value change (gas meters). A
 * stored result with the same key saw the same inputs.
 */
export async function readinessStateKey(database: Database): Promise<string> {
  const { rows } = await sql<{ key: string }>`
    SELECT concat_ws('|',
      (SELECT max(received_at) FROM ingest_batches),
      (SELECT max(greatest(created_at, resolved_at)) FROM validation_issues),
      (SELECT max(updated_at) || '/' || count(*) FROM meters),
      (SELECT max(id) || '/' || coalesce(max(superseded_at)::text, '') FROM meter_attributes), -- both from an index: a version added or replaced
      (SELECT max(created_at) || '/' || count(*) FROM tou_schedules),
      (SELECT max(updated_at) || '/' || count(*) FROM gas_areas),
      (SELECT max(greatest(received_at, superseded_at)) || '/' || count(*) FROM calorific_values)) AS key`.execute(database.db);
  return rows[0].key;
}

export interface StoredReadiness {
  readonly period: string;
  readonly computedAt: Date;
  readonly stateKey: string;
  readonly result: Record<string, unknown>;
}

export async function findReadiness(database: Database, period: string): Promise<StoredReadiness | undefined> {
  return database.db.selectFrom('billing_readiness').select(['period', 'computed_at as computedAt', 'state_key as stateKey', 'result']).where('period', '=', period).executeTakeFirst();
}

export async function storeReadiness(database: Database, r: StoredReadiness): Promise<void> {
  await database.db
    .insertInto('billing_readiness')
    .values({ period: r.period, computed_at: r.computedAt, state_key: r.stateKey, result: JSON.stringify(r.result) })
    .onConflict((oc) => oc.column('period').doUpdateSet((eb) => ({ computed_at: eb.ref('excluded.computed_at'), state_key: eb.ref('excluded.state_key'), result: eb.ref('excluded.result') })))
    .execute();
}
