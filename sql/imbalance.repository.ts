import { sql, type Transaction } from 'kysely';
import type { Database } from './database.js';
import type { DB } from './types.js';

/**
 * Imbalance of a portfolio, per hour and per meter, set-based in one
 * statement: the same rules as the pure forecast/imbalance.ts (hourImbalance,
 * imbalancePrices, imbalanceCost), written in SQL so that a month of 1 000
 * meters (720 000 meter-hours) never leaves the database.
 *
 * Per hour h (UTC hour start), energies in MWh, prices per MWh:
 * - actual_m   = Σ active_import (channel 1) of meter m in h × multiplier / 1000
 *                (readings_hourly on TimescaleDB, readings otherwise)
 * - weight_m   = the meter's nomination when the portfolio has nominations for h,
 *                else the P50 of the newest done day-ahead forecast run issued at or
 *                before h (forecast_values target `meter:<id>`, kWh / 1000)
 * - position   = bilateral + day_ahead + intraday (0 when no row)
 * - allocated_m = position × w_m / Σw when Σw > 0; a meter without a weight gets 0;
 *                Σw = 0: position split equally among the meters with a weight
 *                (all meters when none has one)
 * - imbalance  = position − Σ actual; q_m = allocated_m − actual_m
 * - prices: published positive/negative imbalance prices, else the area's rule in
 *   force on h's local date: min(PTF, SMF) × (1 − kPositive), max(PTF, SMF) × (1 + kNegative)
 * - cost(q)    = (PTF − positive) × q for q ≥ 0, (negative − PTF) × −q for q < 0
 * - standalone_m = cost(q_m); meter cost_m = cost(imbalance) × standalone_m / Σ standalone
 * A meter counts in an hour when it has consumption, a forecast or a nomination
 * in it. Hours without PTF, SMF or a rule have null prices and costs.
 */

export interface ImbalanceScope {
  readonly portfolio: string;
  readonly area: string;
  /** Zone of local dates (rule effective dates) and of day/month buckets. */
  readonly timezone: string;
  readonly from: Date;
  readonly to: Date;
}

const HOUR_MS = 3_600_000;

/** The WITH chain both reports share: `hp` (one row per hour) and `mc` (one per meter and hour), `hs` (Σ standalone per hour). */
function chain(p: ImbalanceScope, meterIds: readonly number[], targets: readonly string[], timescale: boolean) {
  // Readings: raw rows (summed per meter and hour below), or the hourly continuous aggregate on TimescaleDB.
  const readingsSrc = timescale
    ? sql`SELECT meter_id, bucket AS h, value_sum AS kwh, NULL::float8[] AS fc, NULL::float8 AS nom FROM readings_hourly
          WHERE meter_id = ANY(${meterIds as number[]}::int[]) AND channel = 1 AND bucket >= ${p.from} AND bucket < ${p.to}`
    : sql`SELECT meter_id, date_bin('1 hour', start, TIMESTAMPTZ '2000-01-01 00:00:00+00') AS h, value AS kwh, NULL::float8[] AS fc, NULL::float8 AS nom FROM readings
          WHERE meter_id = ANY(${meterIds as number[]}::int[]) AND channel = 1 AND start >= ${p.from} AND start < ${p.to}`;
  // Actuals, forecast candidates and nominations go through ONE hash aggregate per (meter, hour) instead of
  // full joins (which the planner sorts for). The newest forecast run wins by max() over
  // [issue epoch, run id, P50] arrays: a hash aggregate, no DISTINCT ON sort of every forecast value.
  return sql`
    pm AS (SELECT id, external_id, multiplier FROM meters WHERE id = ANY(${meterIds as number[]}::int[])),
    u AS (
      ${readingsSrc}
      UNION ALL
      SELECT t.meter_id, fv.start, NULL, ARRAY[extract(epoch FROM fr.issue_time)::float8, fr.id::float8, fv.p50], NULL
      FROM forecast_values fv JOIN forecast_runs fr ON fr.id = fv.run_id
      JOIN unnest(${targets as string[]}::text[], ${meterIds as number[]}::int[]) AS t(target, meter_id) ON t.target = fv.target
      WHERE fv.target = ANY(${targets as string[]}::text[]) AND fv.start >= ${p.from} AND fv.start < ${p.to}
        AND fr.status = 'done' AND fr.horizon = 'day-ahead' AND fr.issue_time <= fv.start
      UNION ALL
      SELECT meter_id, start, NULL, NULL, mwh FROM nominations
      WHERE portfolio = ${p.portfolio} AND meter_id = ANY(${meterIds as number[]}::int[]) AND start >= ${p.from} AND start < ${p.to}
    ),
    agg AS (SELECT meter_id, h, sum(kwh) AS kwh, (max(fc))[3] / 1000.0 AS fc, max(nom) AS nom FROM u GROUP BY meter_id, h),
    nomh AS (
      SELECT DISTINCT start AS h FROM nominations
      WHERE portfolio = ${p.portfolio} AND meter_id = ANY(${meterIds as number[]}::int[]) AND start >= ${p.from} AND start < ${p.to}
    ),
    mh AS (
      SELECT agg.meter_id, agg.h, COALESCE(agg.kwh, 0) * pm.multiplier / 1000.0 AS actual,
             CASE WHEN nh.h IS NOT NULL THEN agg.nom ELSE agg.fc END AS w
      FROM agg JOIN pm ON pm.id = agg.meter_id LEFT JOIN nomh nh ON nh.h = agg.h
    ),
    hw AS (SELECT h, sum(w) AS wsum, count(w)::int AS nw, count(*)::int AS n, sum(actual) AS actual FROM mh GROUP BY h),
    pos AS (
      SELECT start AS h, bilateral, day_ahead, intraday FROM positions
      WHERE portfolio = ${p.portfolio} AND start >= ${p.from} AND start < ${p.to}
    ),
    hours AS (
      SELECT COALESCE(hw.h, pos.h) AS h, COALESCE(pos.bilateral, 0) AS bilateral, COALESCE(pos.day_ahead, 0) AS day_ahead,
             COALESCE(pos.intraday, 0) AS intraday, COALESCE(pos.bilateral + pos.day_ahead + pos.intraday, 0) AS position,
             COALESCE(hw.actual, 0) AS actual, hw.wsum, COALESCE(hw.nw, 0) AS nw, COALESCE(hw.n, 0) AS n
      FROM hw FULL JOIN pos ON pos.h = hw.h
    ),
    hr AS (
      SELECT hours.*, pr.ptf, pr.smf, pr.positive_imbalance, pr.negative_imbalance, pr.system_direction,
        CASE WHEN pr.positive_imbalance IS NOT NULL THEN pr.positive_imbalance
             WHEN pr.ptf IS NOT NULL AND pr.smf IS NOT NULL THEN LEAST(pr.ptf, pr.smf) * (1 - r.k_positive) END AS ppos,
        CASE WHEN pr.negative_imbalance IS NOT NULL THEN pr.negative_imbalance
             WHEN pr.ptf IS NOT NULL AND pr.smf IS NOT NULL THEN GREATEST(pr.ptf, pr.smf) * (1 + r.k_negative) END AS pneg,
        CASE WHEN pr.positive_imbalance IS NOT NULL AND pr.negative_imbalance IS NOT NULL THEN 'published'
             WHEN r.k_positive IS NOT NULL THEN 'rule' END AS price_source
      FROM hours
      LEFT JOIN market_prices pr ON pr.area = ${p.area} AND pr.start = hours.h
      LEFT JOIN LATERAL (
        SELECT k_positive, k_negative FROM imbalance_price_rules
        WHERE area = ${p.area} AND effective_from <= (hours.h AT TIME ZONE ${p.timezone})::date
        ORDER BY effective_from DESC LIMIT 1
      ) r ON true
    ),
    hp AS (
      SELECT hr.*, hr.position - hr.actual AS q,
        CASE WHEN hr.ptf IS NULL OR hr.ppos IS NULL OR hr.pneg IS NULL THEN NULL
             WHEN hr.position - hr.actual >= 0 THEN (hr.ptf - hr.ppos) * (hr.position - hr.actual)
             ELSE (hr.pneg - hr.ptf) * (hr.actual - hr.position) END AS cost
      FROM hr
    ),
    mq AS (
      SELECT m.meter_id, m.h, m.actual,
        CASE WHEN hp.wsum > 0 THEN COALESCE(hp.position * m.w / hp.wsum, 0)
             WHEN hp.nw > 0 THEN CASE WHEN m.w IS NOT NULL THEN hp.position / hp.nw ELSE 0 END
             ELSE hp.position / hp.n END AS alloc,
        hp.ptf, hp.ppos, hp.pneg
      FROM mh m JOIN hp ON hp.h = m.h
    ),
    mc AS (
      SELECT meter_id, h, actual, alloc - actual AS q,
        CASE WHEN ptf IS NULL OR ppos IS NULL OR pneg IS NULL THEN NULL
             WHEN alloc - actual >= 0 THEN (ptf - ppos) * (alloc - actual)
             ELSE (pneg - ptf) * (actual - alloc) END AS standalone
      FROM mq
    ),
    hs AS (SELECT h, sum(standalone) AS ssum FROM mc GROUP BY h)`;
}

async function scoped<T>(database: Database, p: { portfolio: string }, fn: (trx: Transaction<DB>, ids: number[], targets: string[]) => Promise<T>): Promise<T> {
  return database.db.transaction().execute(async (trx) => {
    // One statement over ~10⁶ rows with hash joins and aggregates: more memory than the 4 MB default (SET LOCAL: this statement only).
    await sql`SET LOCAL work_mem = '128MB'`.execute(trx);
    // Every join here is large × small or large × large on equality: hash joins. Without statistics (the embedded
    // database has no autovacuum) the planner took a nested loop of 72 000 forecast rows × the meter list (15 s for
    // 100 meters); off for this statement only (the LATERAL rule lookup of 720 hours stays a nested loop).
    await sql`SET LOCAL enable_nestloop = off`.execute(trx);
    // The plan's cost is far above jit_above_cost, and compiling its expressions took 3.5 s of a 12 s run on the server.
    if (database.engine === 'pg') await sql`SET LOCAL jit = off`.execute(trx);
    const members = await trx.selectFrom('meters').select(['id', 'external_id']).where('portfolio', '=', p.portfolio).execute();
    return fn(
      trx,
      members.map((m) => m.id),
      members.map((m) => `meter:${m.external_id}`),
    );
  });
}

export interface MeterImbalanceRow {
  readonly meter: string;
  /** Σ actual consumption, MWh. */
  readonly energy: number;
  /** Σ (allocated − actual), MWh. */
  readonly imbalance: number;
  /** Σ share of the portfolio's cost (pro rata to standalone costs). */
  readonly cost: number;
  /** Σ standalone costs. */
  readonly standalone: number;
}

export interface ImbalanceTotals {
  readonly hours: number;
  /** Hours without PTF, SMF or an imbalance price (rule): their costs are left out. */
  readonly unpricedHours: number;
  readonly position: number;
  readonly energy: number;
  readonly imbalance: number;
  /** Σ hourly portfolio cost. */
  readonly cost: number;
  /** Σ hourly standalone costs of the meters. */
  readonly standalone: number;
}

/** Per-meter imbalance volumes and costs over [from, to), plus the portfolio totals. */
export async function meterImbalance(database: Database, p: ImbalanceScope): Promise<{ meters: MeterImbalanceRow[]; totals: ImbalanceTotals }> {
  return scoped(database, p, async (trx, ids, targets) => {
    const { rows } = await sql<{ meter: string | null; energy: number; imbalance: number; cost: number | null; standalone: number | null; hours: number; unpriced: number; position: number }>`
      WITH ${chain(p, ids, targets, database.flavour === 'timescaledb')},
      per_meter AS (
        SELECT mc.meter_id, sum(mc.actual) AS energy, sum(mc.q) AS imbalance, sum(mc.standalone) AS standalone,
               sum(CASE WHEN hs.ssum > 0 THEN hp.cost * mc.standalone / hs.ssum WHEN hp.cost IS NOT NULL THEN 0 END) AS cost
        FROM mc JOIN hs ON hs.h = mc.h JOIN hp ON hp.h = mc.h
        GROUP BY mc.meter_id
      )
      SELECT pm.external_id AS meter, pmr.energy, pmr.imbalance, pmr.cost, pmr.standalone, 0 AS hours, 0 AS unpriced, 0 AS position
      FROM per_meter pmr JOIN pm ON pm.id = pmr.meter_id
      UNION ALL
      SELECT NULL, sum(hp.actual), sum(hp.q), sum(hp.cost), sum(hs.ssum), count(*)::int, (count(*) - count(hp.cost))::int, sum(hp.position)
      FROM hp LEFT JOIN hs ON hs.h = hp.h`.execute(trx);
    const total = rows.find((r) => r.meter === null)!;
    return {
      meters: rows
        .filter((r) => r.meter !== null)
        .map((r) => ({ meter: r.meter!, energy: r.energy, imbalance: r.imbalance, cost: r.cost ?? 0, standalone: r.standalone ?? 0 }))
        .sort((a, b) => (a.meter < b.meter ? -1 : a.meter > b.meter ? 1 : 0)),
      totals: {
        hours: total.hours,
        unpricedHours: total.unpriced,
        position: total.position ?? 0,
        energy: total.energy ?? 0,
        imbalance: total.imbalance ?? 0,
        cost: total.cost ?? 0,
        standalone: total.standalone ?? 0,
      },
    };
  });
}

export type ImbalanceBucketUnit = 'hour' | 'day' | 'month';

export interface BucketImbalanceRow {
  /** Local bucket start as an instant. */
  readonly bucket: Date;
  readonly hours: number;
  readonly unpricedHours: number;
  readonly bilateral: number;
  readonly dayAhead: number;
  readonly intraday: number;
  readonly position: number;
  readonly consumption: number;
  readonly imbalance: number;
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

/** Portfolio imbalance bucketed by local hour, day or month in the scope's time zone. */
export async function bucketImbalance(database: Database, p: ImbalanceScope & { unit: ImbalanceBucketUnit }): Promise<BucketImbalanceRow[]> {
  const unit = p.unit === 'hour' ? sql`hp.h` : sql`date_trunc(${p.unit}, hp.h, ${p.timezone})`;
  return scoped(database, p, async (trx, ids, targets) => {
    const { rows } = await sql<BucketImbalanceRow>`
      WITH ${chain(p, ids, targets, database.flavour === 'timescaledb')}
      SELECT ${unit} AS bucket, count(*)::int AS hours, (count(*) - count(hp.cost))::int AS "unpricedHours",
             sum(hp.bilateral) AS bilateral, sum(hp.day_ahead) AS "dayAhead", sum(hp.intraday) AS intraday, sum(hp.position) AS position,
             sum(hp.actual) AS consumption, sum(hp.q) AS imbalance,
             avg(hp.ptf) AS ptf, avg(hp.smf) AS smf, avg(hp.ppos) AS "positivePrice", avg(hp.pneg) AS "negativePrice",
             CASE WHEN count(*) = 1 THEN min(hp.price_source) END AS "priceSource",
             CASE WHEN count(*) = 1 THEN min(hp.system_direction) END AS "systemDirection",
             sum(hp.cost) AS cost, sum(hs.ssum) AS standalone
      FROM hp LEFT JOIN hs ON hs.h = hp.h
      GROUP BY 1 ORDER BY 1`.execute(trx);
    return rows;
  });
}

/** True when `ms` is a whole UTC hour (every zone the imbalance report supports has whole-hour offsets). */
export const isWholeHour = (ms: number): boolean => ms % HOUR_MS === 0;
