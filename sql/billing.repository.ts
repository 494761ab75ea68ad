import { sql, type RawBuilder } from 'kysely';
import { qualityCode } from '../models/reading.js';
import type { TouPlan } from '../billing/tou-segments.js';
import type { Database } from './database.js';
import { dataVersionQuery, readingsAsOf } from './reading-query.repository.js';

/**
 * Billing reads: the per-meter figures of a period in ONE set-based statement
 * (every selected meter, every energy channel), closed-period snapshots and
 * the stored readiness result. The same SQL runs on every flavour.
 */

export type MeterSelector = { portfolio: string } | { group: string } | { meters: readonly string[] } | { all: true };

/** A local-month period as local dates [fromDate, toDate), or an instant range. */
export type FigureWindow = { kind: 'period'; fromDate: string; toDate: string } | { kind: 'range'; from: Date; to: Date };

export interface FigureQuery {
  readonly selector: MeterSelector;
  readonly window: FigureWindow;
  /** Clip every meter's window here (readiness of a period in progress counts up to now). */
  readonly until?: Date;
  /** Read the data as it was at this instant (readingsAsOf); validation issues as they stood then. */
  readonly asOf?: Date;
  readonly tou: TouPlan;
}

/** One meter's raw figures. Energies in µ-units (value × 10⁶, rounded per interval), BEFORE the multiplier. */
export interface MeterFigureRow {
  readonly meterId: number;
  readonly externalId: string;
  readonly timezone: string;
  readonly intervalMinutes: number;
  readonly multiplier: number;
  readonly tariff: string;
  readonly supplyStart: string | null;
  readonly supplyEnd: string | null;
  /** The meter's billing window: the period ∩ supply dates (∩ until); from ≥ to when empty. */
  readonly windowFrom: Date;
  readonly windowTo: Date;
  /** False when the supply dates leave nothing of the period (or range), whatever `until` says. */
  readonly supplied: boolean;
  /** Intervals of the meter's length in the window (DST-aware: it is the window's real length). */
  readonly expected: number;
  readonly activeImport: number;
  readonly activeExport: number;
  readonly reactiveInductive: number;
  readonly reactiveCapacitive: number;
  /** Active import by TOU bucket index (TouPlan.buckets); 0 where the bucket has no energy. */
  readonly tou: readonly number[];
  /** Active import of estimated or edited intervals. */
  readonly estimatedEnergy: number;
  /** active_import interval counts by quality. */
  readonly measured: number;
  readonly suspect: number;
  readonly estimated: number;
  readonly edited: number;
  /** Intervals stored with quality "missing" (a head-end placeholder without a value). */
  readonly flaggedMissing: number;
  /** Highest active_import rate in kWh per hour (value × 60 / interval minutes, before the multiplier) and its start. */
  readonly maxRate: number | null;
  readonly maxRateAt: Date | null;
  /** Start of the last active_import interval holding a value. */
  readonly lastStart: Date | null;
  readonly openFailIssues: number;
  readonly openSumCheckIssues: number;
}

const Q = {
  measured: qualityCode('measured'),
  validated: qualityCode('validated'),
  estimated: qualityCode('estimated'),
  edited: qualityCode('edited'),
  suspect: qualityCode('suspect'),
  missing: qualityCode('missing'),
};
const ENERGY_CHANNELS = [1, 2, 3, 4]; // active import/export, reactive inductive/capacitive (models/channel.ts)
// Widest UTC offsets in use (UTC−12 … UTC+14): a local date range lies within these margins of its UTC dates.
const MARGIN_MS = 15 * 3_600_000;

function selectorWhere(sel: MeterSelector): RawBuilder<unknown> {
  if ('portfolio' in sel) return sql`m.portfolio = ${sel.portfolio}`;
  if ('group' in sel) return sql`m."group" = ${sel.group}`;
  if ('meters' in sel) return sql`m.external_id = ANY(${sel.meters as string[]}::text[])`;
  return sql`true`;
}

/** Coarse UTC bounds for the scan of readings; the per-meter windows are exact. */
function scanBounds(w: FigureWindow, until: Date | undefined): { from: Date; to: Date } {
  const b =
    w.kind === 'range'
      ? { from: w.from, to: w.to }
      : { from: new Date(Date.parse(`${w.fromDate}T00:00:00Z`) - MARGIN_MS), to: new Date(Date.parse(`${w.toDate}T00:00:00Z`) + MARGIN_MS) };
  return until && until < b.to ? { from: b.from, to: until } : b;
}

/**
 * Figures of every selected meter over its window, in one statement:
 * - `sel`: the meters and their windows, the local period bounds resolved in
 *   each meter's zone (`date::timestamp AT TIME ZONE tz`: DST-aware) and cut
 *   to the supply dates;
 * - `seg`: each window split by the TOU schedule in force (usually one piece),
 *   with its minute-of-day → bucket map;
 * - `grp`: readings joined to their piece and grouped by (meter, channel,
 *   bucket, quality): one pass, partial aggregates per parallel worker, the
 *   local time computed once per row and only for active import of TOU meters;
 * - the final select pivots the few groups of each meter into one row.
 * Energies are summed as integers of 10⁻⁶ units (int8 sums are exact), so the
 * figures do not depend on the order rows reach the aggregate: the same data
 * always gives bit-identical figures (asOf reproduction, corrections).
 * Max demand: max(ARRAY[rate, -epoch]) is the highest rate, and of equal
 * rates the earliest start.
 */
export async function computeMeterFigures(database: Database, q: FigureQuery): Promise<{ rows: MeterFigureRow[]; dataVersion: Date }> {
  const w = q.window;
  const until = q.until ?? null;
  const wfrom =
    w.kind === 'period'
      ? sql`greatest((${w.fromDate}::date)::timestamp AT TIME ZONE m.timezone, m.supply_start::timestamp AT TIME ZONE m.timezone)`
      : sql`greatest(${w.from}::timestamptz, m.supply_start::timestamp AT TIME ZONE m.timezone)`;
  const supplyTo =
    w.kind === 'period'
      ? sql`least((${w.toDate}::date)::timestamp AT TIME ZONE m.timezone, (m.supply_end + 1)::timestamp AT TIME ZONE m.timezone)`
      : sql`least(${w.to}::timestamptz, (m.supply_end + 1)::timestamp AT TIME ZONE m.timezone)`;
  const scan = scanBounds(w, q.until);
  const valued = sql.raw(`quality <> ${Q.missing}`);
  const touCols = q.tou.buckets.map((_, i) => sql`coalesce(sum(e) FILTER (WHERE channel = 1 AND ${valued} AND b = ${sql.lit(i)}), 0)`);
  const touArray = touCols.length ? sql`ARRAY[${sql.join(touCols)}]::float8[]` : sql`ARRAY[]::float8[]`;
  const openAt =
    q.asOf === undefined
      ? sql`i.status = 'open'`
      : sql`i.created_at <= ${q.asOf} AND (i.resolved_at IS NULL OR i.resolved_at > ${q.asOf})`;

  // Repeatable read: the data version and the figures come from one snapshot.
  return database.db.transaction().setIsolationLevel('repeatable read').execute(async (trx) => {
    // One statement over millions of rows: a hash aggregate of ~10 groups per meter needs more
    // than the default 4 MB; JIT compilation costs more (~0.2 s) than it saves here.
    await sql`SET LOCAL work_mem = '64MB'`.execute(trx);
    await sql`SET LOCAL jit = off`.execute(trx);
    const { rows } = await sql<MeterFigureRow>`
      WITH sel AS MATERIALIZED (
        SELECT m.id, m.external_id, m.timezone, m.interval_minutes, m.multiplier, m.tariff,
               m.supply_start::text AS supply_start, m.supply_end::text AS supply_end,
               w.wfrom, least(w.supply_to, ${until}::timestamptz) AS wto, w.supply_to > w.wfrom AS supplied
        FROM meters m CROSS JOIN LATERAL (SELECT ${wfrom} AS wfrom, ${supplyTo} AS supply_to) w
        WHERE ${selectorWhere(q.selector)}
      ), seg AS MATERIALIZED (
        SELECT s.id, s.timezone, s.interval_minutes,
               greatest(s.wfrom, t."effFrom"::timestamp AT TIME ZONE s.timezone) AS sfrom,
               least(s.wto, t."effTo"::timestamp AT TIME ZONE s.timezone) AS sto,
               decode(t.map, 'hex') AS map
        FROM sel s
        LEFT JOIN jsonb_to_recordset(${JSON.stringify(q.tou.segments)}::jsonb) AS t(tariff text, "effFrom" date, "effTo" date, map text)
          ON t.tariff = s.tariff
        WHERE s.wfrom < s.wto
      ), grp AS (
        SELECT g.id, r.channel, r.quality,
               CASE WHEN g.map IS NOT NULL AND r.channel = 1
                    THEN get_byte(g.map, (((date_part('epoch', r.start AT TIME ZONE g.timezone)::int8 % 86400) + 86400) % 86400 / 60)::int)
               END AS b,
               sum(round(r.value * 1e6)::int8) AS e,
               count(*) AS n,
               max(ARRAY[r.value * 60 / coalesce(r.interval_minutes, g.interval_minutes), -date_part('epoch', r.start)])
                 FILTER (WHERE r.channel = 1 AND r.quality <> ${Q.missing}) AS peak,
               max(r.start) FILTER (WHERE r.quality <> ${Q.missing}) AS last_start
        FROM seg g
        JOIN ${readingsAsOf(q.asOf)} r ON r.meter_id = g.id AND r.start >= g.sfrom AND r.start < g.sto
        WHERE g.sfrom < g.sto AND r.channel = ANY(${ENERGY_CHANNELS}::smallint[]) AND r.start >= ${scan.from} AND r.start < ${scan.to}
        GROUP BY 1, 2, 3, 4
      ), agg AS (
        SELECT id,
               coalesce(sum(e) FILTER (WHERE channel = 1 AND ${valued}), 0) AS ai,
               coalesce(sum(e) FILTER (WHERE channel = 2 AND ${valued}), 0) AS ae,
               coalesce(sum(e) FILTER (WHERE channel = 3 AND ${valued}), 0) AS ri,
               coalesce(sum(e) FILTER (WHERE channel = 4 AND ${valued}), 0) AS rc,
               ${touArray} AS tou,
               coalesce(sum(e) FILTER (WHERE channel = 1 AND quality IN (${Q.estimated}, ${Q.edited})), 0) AS est_e,
               coalesce(sum(n) FILTER (WHERE channel = 1 AND quality IN (${Q.measured}, ${Q.validated})), 0) AS n_measured,
               coalesce(sum(n) FILTER (WHERE channel = 1 AND quality = ${Q.suspect}), 0) AS n_suspect,
               coalesce(sum(n) FILTER (WHERE channel = 1 AND quality = ${Q.estimated}), 0) AS n_estimated,
               coalesce(sum(n) FILTER (WHERE channel = 1 AND quality = ${Q.edited}), 0) AS n_edited,
               coalesce(sum(n) FILTER (WHERE channel = 1 AND quality = ${Q.missing}), 0) AS n_missing,
               max(peak) AS peak,
               max(last_start) FILTER (WHERE channel = 1) AS last_start
        FROM grp GROUP BY id
      ), iss AS (
        SELECT i.meter_id, count(*) FILTER (WHERE i.severity = 'fail') AS fail, count(*) FILTER (WHERE i.rule = 'sum_check') AS sum_check
        FROM validation_issues i JOIN sel s ON s.id = i.meter_id
        WHERE ${openAt} AND i.from_ts < s.wto AND i.to_ts > s.wfrom
        GROUP BY i.meter_id
      )
      SELECT s.id AS "meterId", s.external_id AS "externalId", s.timezone, s.interval_minutes AS "intervalMinutes", s.multiplier, s.tariff,
             s.supply_start AS "supplyStart", s.supply_end AS "supplyEnd", s.wfrom AS "windowFrom", s.wto AS "windowTo", s.supplied,
             CASE WHEN s.wto > s.wfrom THEN floor(extract(epoch FROM s.wto - s.wfrom) / 60 / s.interval_minutes)::int ELSE 0 END AS expected,
             coalesce(a.ai, 0) AS "activeImport", coalesce(a.ae, 0) AS "activeExport",
             coalesce(a.ri, 0) AS "reactiveInductive", coalesce(a.rc, 0) AS "reactiveCapacitive",
             a.tou,
             coalesce(a.est_e, 0) AS "estimatedEnergy",
             coalesce(a.n_measured, 0)::int AS measured, coalesce(a.n_suspect, 0)::int AS suspect,
             coalesce(a.n_estimated, 0)::int AS estimated, coalesce(a.n_edited, 0)::int AS edited,
             coalesce(a.n_missing, 0)::int AS "flaggedMissing",
             a.peak[1] AS "maxRate", to_timestamp(-a.peak[2]) AS "maxRateAt", a.last_start AS "lastStart",
             coalesce(i.fail, 0)::int AS "openFailIssues", coalesce(i.sum_check, 0)::int AS "openSumCheckIssues"
      FROM sel s LEFT JOIN agg a ON a.id = s.id LEFT JOIN iss i ON i.meter_id = s.id
      ORDER BY s.external_id`.execute(trx);
    const version = await dataVersionQuery(q.asOf).execute(trx);
    return { rows: rows.map((r) => ({ ...r, tou: r.tou ?? q.tou.buckets.map(() => 0) })), dataVersion: new Date(version.rows[0]?.ms ?? 0) };
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
 * last validation issue change, the last meter change and the last schedule
 * change. A stored result with the same key saw the same inputs.
 */
export async function readinessStateKey(database: Database): Promise<string> {
  const { rows } = await sql<{ key: string }>`
    SELECT concat_ws('|',
      (SELECT max(received_at) FROM ingest_batches),
      (SELECT max(greatest(created_at, resolved_at)) FROM validation_issues),
      (SELECT max(updated_at) || '/' || count(*) FROM meters),
      (SELECT max(created_at) || '/' || count(*) FROM tou_schedules)) AS key`.execute(database.db);
  return rows[0].key;
}

export interface StoredReadiness {
  readonly period: string;
  readonly computedAt: Date;
  readonly stateKey: string;
  readonly result: Record<string, unknown>;
}

export async function findReadiness(database: Database, period: string): Promise<StoredReadiness | undefined> {
  return database.db
    .selectFrom('billing_readiness')
    .select(['period', 'computed_at as computedAt', 'state_key as stateKey', 'result'])
    .where('period', '=', period)
    .executeTakeFirst();
}

export async function storeReadiness(database: Database, r: StoredReadiness): Promise<void> {
  await database.db
    .insertInto('billing_readiness')
    .values({ period: r.period, computed_at: r.computedAt, state_key: r.stateKey, result: JSON.stringify(r.result) })
    .onConflict((oc) =>
      oc.column('period').doUpdateSet((eb) => ({ computed_at: eb.ref('excluded.computed_at'), state_key: eb.ref('excluded.state_key'), result: eb.ref('excluded.result') })),
    )
    .execute();
}
