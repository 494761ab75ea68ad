import { sql, type Transaction } from 'kysely';
import type { FillMode } from '../models/market.js';
import { qualityCode, sourceCode } from '../models/reading.js';
import type { Database } from './database.js';
import type { DB } from './types.js';

/**
 * Imbalance of a portfolio, per hour and per meter, set-based in one
 * statement: the same rules as the pure market/imbalance.ts (meterHourActual,
 * hourImbalance, imbalancePrices, imbalanceCost), written in SQL so that a month
 * of 1 000 meters (720 000 meter-hours) never leaves the database.
 *
 * Per hour h (UTC hour start), energies in MWh, prices per MWh:
 * - members    = the portfolio's electricity meters expected to have consumption in h: from
 *                supplyStart (local midnight) — without one, from the first active
 *                import value or the registration, whichever is earlier — to the end
 *                of supplyEnd (docs/imbalance.md "What the figures mean when data is missing")
 * - actual_m   = Σ active_import (channel 1) of meter m in h × multiplier / 1000 when
 *                its firm values (measured, validated, edited, suspect; profile
 *                estimates, the settlement basis of profiled meters) cover the hour;
 *                else, as `fill` allows, a declared provisional value: the VEE
 *                estimates (quality estimated) that complete it, or the newest
 *                day-ahead P50 for the part not covered; else MISSING (never 0)
 * - an hour in which a member's actual is missing is left out whole (volumes
 *   other than the position, costs, every meter's figures) and counted in
 *   missingActualHours; a meter that is not a member in h counts with what it has
 * - weight_m   = the meter's nomination when the portfolio has nominations for h,
 *                else the P50 of the newest done day-ahead forecast run issued at or
 *                before h (forecast_values target `meter:<id>`, kWh / 1000)
 * - position   = bilateral + day_ahead + intraday (0 when no row)
 * - allocated_m = position × w_m / Σw when Σw > 0; a meter without a weight gets 0;
 *                Σw = 0: position split equally among the meters with a weight
 *                (all meters when none has one)
 * - imbalance  = position − Σ actual; q_m = allocated_m − actual_m
 * - prices: published positive/negative imbalance prices, else the area's rule in
 *   force on h's local date: min(PTF, SMF) × (1 − kPositive), max(PTF, SMF) × (1 + kNegative);
 *   a price held as not yet published (market_prices.unpublished) is absent
 * - cost(q)    = (PTF − positive) × q for q ≥ 0, (negative − PTF) × −q for q < 0
 * - standalone_m = cost(q_m); meter cost_m = cost(imbalance) × standalone_m / Σ standalone
 * The report's hours: every hour with a position or a meter value, and every
 * finished hour (before `now`) in which some member is expected. Hours without
 * PTF, SMF or a rule are unpriced: null prices and costs.
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
}

const HOUR_MS = 3_600_000;
const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());
const EPOCH = sql`TIMESTAMPTZ '2000-01-01 00:00:00+00'`;
/** Values that are the meter's consumption: measured, validated, edited, suspect (what the meter sent; VEE lists its doubts). */
const FIRM = [qualityCode('measured'), qualityCode('validated'), qualityCode('edited'), qualityCode('suspect')];
const ESTIMATED = qualityCode('estimated');
/** Profile estimates (migration 013) are the settlement basis of a profiled meter: firm, not provisional. */
const PROFILE = sourceCode('profile');
/** Coded coverage of a value without its own interval: "the meter's interval" (a real interval is at most 60 minutes). */
const COV_METER = 1000;
/** Meter-hour statuses as in market/imbalance.ts meterHourActual. */
const S = { actual: sql.lit(0), absent: sql.lit(1), estimate: sql.lit(2), forecast: sql.lit(3), missing: sql.lit(4) } as const;
const STATUS_DOC = '0 actual, 1 absent (not a member then), 2 estimate, 3 forecast (provisional fills), 4 missing';

interface Member {
  readonly id: number;
  readonly external_id: string;
  readonly multiplier: number;
  readonly interval_minutes: number;
  /** First hour the meter is expected to have consumption; null: never (not an electricity meter). */
  readonly ef: Date | null;
  /** First hour it no longer is (after supplyEnd), or null. */
  readonly et: Date | null;
}

/** The WITH chain both reports share: `ms` (one row per meter and hour with a value, forecast or nomination), `hp` (one per report hour), `mc` (meter q and standalone in counted hours), `hs` (Σ standalone per hour). */
function chain(p: ImbalanceScope, m: readonly Member[]) {
  const fill = p.fill ?? 'none';
  const useEst = fill === 'estimate' || fill === 'estimate-or-forecast';
  const useFc = fill === 'forecast' || fill === 'estimate-or-forecast';
  const ids = m.map((x) => x.id);
  const targets = m.map((x) => `meter:${x.external_id}`);
  // Class of a value, once per reading (literal codes: cheaper per row than = ANY(array parameter)): 1 firm, 2 VEE estimate, 0 no value.
  const cls = sql`CASE WHEN r.quality IN (${sql.join(FIRM.map((c) => sql.lit(c)))}) THEN 1
                       WHEN r.quality = ${sql.lit(ESTIMATED)} THEN CASE WHEN r.source = ${sql.lit(PROFILE)} THEN 1 ELSE 2 END ELSE 0 END`;
  const cutoff = new Date(Math.floor((p.now ?? new Date()).getTime() / HOUR_MS) * HOUR_MS - HOUR_MS); // the last finished hour starts here
  // Actuals (firm and VEE-estimated parts), forecast candidates and nominations meet in one aggregate per meter and
  // hour, computed one meter at a time (mh). The newest forecast run wins by max() over [run rank (issue time, then
  // id), P50] arrays: no DISTINCT ON sort of every forecast value.
  return sql`
    pm AS (
      SELECT pm.*, n.ns, n.nv FROM unnest(${ids}::int[], ${m.map((x) => x.external_id)}::text[], ${targets}::text[], ${m.map((x) => x.multiplier)}::float8[],
                           ${m.map((x) => x.interval_minutes)}::int[], ${m.map((x) => iso(x.ef))}::timestamptz[], ${m.map((x) => iso(x.et))}::timestamptz[])
        AS pm(id, external_id, target, multiplier, interval_minutes, ef, et)
      -- each meter's nominations as two arrays (1 000 rows): the per-meter LATERAL below unnests its own, no scan per meter
      LEFT JOIN (
        SELECT meter_id, array_agg(start) AS ns, array_agg(mwh) AS nv FROM nominations
        WHERE portfolio = ${p.portfolio} AND meter_id = ANY(${ids}::int[]) AND start >= ${p.from} AND start < ${p.to}
        GROUP BY meter_id
      ) n ON n.meter_id = pm.id
    ),
    fr AS (
      -- The day-ahead runs ranked once (issue time, then id: the newest wins), so that a forecast value carries a float8 rank, not an extract() per value.
      SELECT id, issue_time, (row_number() OVER (ORDER BY issue_time, id))::float8 AS rk FROM forecast_runs
      WHERE status IN ('done', 'partial') AND horizon = 'day-ahead' AND issue_time < ${p.to}
    ),
    mh AS (
      -- One meter at a time (LATERAL): index range scans of its readings (meter_id, channel, start) and forecast values
      -- (target, start) feed a hash aggregate of its ~720 hours, which stays in the CPU cache. One hash aggregate of all
      -- 720 000 meter-hours (1.44 M input rows) was half of the statement's CPU; this is a quarter of it.
      -- Minutes a value covers are coded: its own interval, or ${sql.lit(COV_METER)} for "the meter's".
      SELECT pm.id AS meter_id, a.h, COALESCE(a.h >= pm.ef AND (pm.et IS NULL OR a.h < pm.et), false) AS expected,
             a.fk * pm.multiplier / 1000.0 AS firm, (a.fcov % ${sql.lit(COV_METER)} + a.fcov / ${sql.lit(COV_METER)} * pm.interval_minutes)::int AS fm,
             a.ek * pm.multiplier / 1000.0 AS est, (a.ecov % ${sql.lit(COV_METER)} + a.ecov / ${sql.lit(COV_METER)} * pm.interval_minutes)::int AS em,
             a.fc, a.nom
      FROM pm CROSS JOIN LATERAL (
        SELECT u.h, sum(u.fk) AS fk, COALESCE(sum(u.fcov), 0) AS fcov, sum(u.ek) AS ek, COALESCE(sum(u.ecov), 0) AS ecov,
               (max(u.fc))[2] / 1000.0 AS fc, max(u.nom) AS nom
        FROM (
          SELECT x.h, CASE WHEN x.cls = 1 THEN x.value END AS fk, CASE WHEN x.cls = 1 THEN x.cov END AS fcov,
                 CASE WHEN x.cls = 2 THEN x.value END AS ek, CASE WHEN x.cls = 2 THEN x.cov END AS ecov, NULL::float8[] AS fc, NULL::float8 AS nom
          FROM (
            SELECT date_bin('1 hour', r.start, ${EPOCH}) AS h, r.value, COALESCE(r.interval_minutes, ${sql.lit(COV_METER)}) AS cov, ${cls} AS cls
            FROM readings r
            WHERE r.meter_id = pm.id AND r.channel = 1 AND r.start >= ${p.from} AND r.start < ${p.to}
            OFFSET 0 -- not flattened: the class is computed once per reading
          ) x
          UNION ALL
          SELECT fv.start, NULL, NULL, NULL, NULL, ARRAY[fr.rk, fv.p50], NULL
          FROM forecast_values fv JOIN fr ON fr.id = fv.run_id
          WHERE fv.target = pm.target AND fv.start >= ${p.from} AND fv.start < ${p.to} AND fr.issue_time <= fv.start
          UNION ALL
          SELECT n.h, NULL, NULL, NULL, NULL, NULL, n.nom FROM unnest(pm.ns, pm.nv) AS n(h, nom)
        ) u
        GROUP BY u.h
      ) a
    ),
    -- status (smallint, cheaper to test than text): ${sql.raw(STATUS_DOC)}
    mst AS (
      SELECT mh.*, CASE
          WHEN fm >= 60 THEN ${S.actual}
          WHEN NOT expected THEN ${S.absent}
          WHEN ${sql.lit(useEst)} AND fm + em >= 60 THEN ${S.estimate}
          WHEN ${sql.lit(useFc)} AND fc IS NOT NULL THEN ${S.forecast}
          ELSE ${S.missing} END AS status
      FROM mh
    ),
    ms AS (
      -- Materialized (read by hw and mq): only the columns they need.
      SELECT meter_id, h, expected, fc, nom, status, CASE status
          WHEN ${S.actual} THEN firm
          WHEN ${S.absent} THEN COALESCE(firm, 0)
          WHEN ${S.estimate} THEN COALESCE(firm, 0) + COALESCE(est, 0)
          WHEN ${S.forecast} THEN COALESCE(firm, 0) + ${useEst ? sql`COALESCE(est, 0)` : sql`0`} + fc * GREATEST(0, 60 - fm - ${useEst ? sql`em` : sql`0`}) / 60.0
        END AS actual
      FROM mst
    ),
    hw AS (
      -- weights: the nominations in an hour that has any (nominated), else the forecasts
      SELECT h, count(nom) > 0 AS nominated, CASE WHEN count(nom) > 0 THEN sum(nom) ELSE sum(fc) END AS wsum,
             (CASE WHEN count(nom) > 0 THEN count(nom) ELSE count(fc) END)::int AS nw, count(*)::int AS n, sum(actual) AS actual,
             count(*) FILTER (WHERE status = ${S.actual})::int AS n_actual,
             count(*) FILTER (WHERE status IN (${S.estimate}, ${S.forecast}))::int AS n_prov,
             sum(actual) FILTER (WHERE status IN (${S.estimate}, ${S.forecast})) AS prov_mwh,
             count(*) FILTER (WHERE expected AND status <> ${S.missing})::int AS n_ok
      FROM ms GROUP BY h
    ),
    wv AS (SELECT id AS meter_id, GREATEST(ef, ${p.from}) AS a, LEAST(COALESCE(et, ${p.to}), ${p.to}) AS b FROM pm WHERE ef IS NOT NULL),
    ev AS (SELECT h, sum(d)::int AS d FROM (SELECT a AS h, 1 AS d FROM wv WHERE a < b UNION ALL SELECT b, -1 FROM wv WHERE a < b) e GROUP BY h),
    allh AS (SELECT g.h FROM generate_series(${p.from}::timestamptz, ${p.to}::timestamptz - INTERVAL '1 hour', INTERVAL '1 hour') AS g(h)),
    expn AS (SELECT allh.h, sum(COALESCE(ev.d, 0)) OVER (ORDER BY allh.h) AS n FROM allh LEFT JOIN ev ON ev.h = allh.h),
    pos AS (
      SELECT start AS h, bilateral, day_ahead, intraday FROM positions
      WHERE portfolio = ${p.portfolio} AND start >= ${p.from} AND start < ${p.to}
    ),
    hset AS (SELECT h FROM expn WHERE n > 0 AND h <= ${cutoff} UNION SELECT h FROM hw UNION SELECT h FROM pos),
    hours AS (
      SELECT s.h, COALESCE(pos.bilateral, 0) AS bilateral, COALESCE(pos.day_ahead, 0) AS day_ahead, COALESCE(pos.intraday, 0) AS intraday,
             COALESCE(pos.bilateral + pos.day_ahead + pos.intraday, 0) AS position,
             hw.actual, COALESCE(hw.nominated, false) AS nominated, hw.wsum, COALESCE(hw.nw, 0) AS nw, COALESCE(hw.n, 0) AS n,
             COALESCE(hw.n_actual, 0) AS n_actual, COALESCE(hw.n_prov, 0) AS n_prov, hw.prov_mwh,
             (COALESCE(en.n, 0) - COALESCE(hw.n_ok, 0))::int AS n_missing
      FROM hset s LEFT JOIN hw ON hw.h = s.h LEFT JOIN pos ON pos.h = s.h LEFT JOIN expn en ON en.h = s.h
    ),
    prc AS (
      SELECT start, system_direction, unpublished IS NOT NULL AS held,
             CASE WHEN 'ptf' = ANY(unpublished) THEN NULL ELSE ptf END AS ptf,
             CASE WHEN 'smf' = ANY(unpublished) THEN NULL ELSE smf END AS smf,
             CASE WHEN 'positiveImbalance' = ANY(unpublished) THEN NULL ELSE positive_imbalance END AS positive_imbalance,
             CASE WHEN 'negativeImbalance' = ANY(unpublished) THEN NULL ELSE negative_imbalance END AS negative_imbalance
      FROM market_prices WHERE area = ${p.area} AND start >= ${p.from} AND start < ${p.to}
    ),
    hr AS (
      SELECT hours.*, pr.ptf, pr.smf, pr.positive_imbalance, pr.negative_imbalance, pr.system_direction, COALESCE(pr.held, false) AS held,
        CASE WHEN pr.positive_imbalance IS NOT NULL THEN pr.positive_imbalance
             WHEN pr.ptf IS NOT NULL AND pr.smf IS NOT NULL THEN LEAST(pr.ptf, pr.smf) * (1 - r.k_positive) END AS ppos,
        CASE WHEN pr.negative_imbalance IS NOT NULL THEN pr.negative_imbalance
             WHEN pr.ptf IS NOT NULL AND pr.smf IS NOT NULL THEN GREATEST(pr.ptf, pr.smf) * (1 + r.k_negative) END AS pneg,
        CASE WHEN pr.positive_imbalance IS NOT NULL AND pr.negative_imbalance IS NOT NULL THEN 'published'
             WHEN r.k_positive IS NOT NULL AND pr.ptf IS NOT NULL AND pr.smf IS NOT NULL THEN 'rule' END AS price_source
      FROM hours
      LEFT JOIN prc pr ON pr.start = hours.h
      LEFT JOIN LATERAL (
        SELECT k_positive, k_negative FROM imbalance_price_rules
        WHERE area = ${p.area} AND effective_from <= (hours.h AT TIME ZONE ${p.timezone})::date
        ORDER BY effective_from DESC LIMIT 1
      ) r ON true
    ),
    hq AS (
      SELECT hr.*, hr.n_missing = 0 AS counted, hr.ptf IS NOT NULL AND hr.ppos IS NOT NULL AND hr.pneg IS NOT NULL AS priced,
             CASE WHEN hr.n_missing = 0 THEN COALESCE(hr.actual, 0) END AS cons,
             CASE WHEN hr.n_missing = 0 THEN hr.position - COALESCE(hr.actual, 0) END AS q
      FROM hr
    ),
    hp AS (
      SELECT hq.*,
        CASE WHEN NOT hq.priced OR hq.q IS NULL THEN NULL
             WHEN hq.q >= 0 THEN (hq.ptf - hq.ppos) * hq.q
             ELSE (hq.pneg - hq.ptf) * -hq.q END AS cost
      FROM hq
    ),
    -- Every meter-hour (the per-meter report counts each meter's missing hours from here too); figures only in counted hours.
    mq AS (
      SELECT m.meter_id, m.h, m.actual, m.status, m.expected, hp.counted,
        -- the meter's weight: its nomination in an hour that has nominations, else its forecast
        CASE WHEN hp.wsum > 0 THEN COALESCE(hp.position * CASE WHEN hp.nominated THEN m.nom ELSE m.fc END / hp.wsum, 0)
             WHEN hp.nw > 0 THEN CASE WHEN (CASE WHEN hp.nominated THEN m.nom ELSE m.fc END) IS NOT NULL THEN hp.position / hp.nw ELSE 0 END
             ELSE hp.position / hp.n END AS alloc,
        hp.ptf, hp.ppos, hp.pneg, hp.priced
      FROM ms m JOIN hp ON hp.h = m.h
    ),
    mc AS (
      SELECT meter_id, h, status, expected, counted, CASE WHEN counted THEN actual END AS actual, CASE WHEN counted THEN alloc - actual END AS q,
        CASE WHEN NOT priced OR NOT counted THEN NULL
             WHEN alloc - actual >= 0 THEN (ptf - ppos) * (alloc - actual)
             ELSE (pneg - ptf) * (actual - alloc) END AS standalone
      FROM mq
    ),
    hs AS (SELECT h, sum(standalone) AS ssum FROM mc GROUP BY h)`;
}

async function scoped<T>(database: Database, p: { portfolio: string }, fn: (trx: Transaction<DB>, members: Member[]) => Promise<T>): Promise<T> {
  return database.db.transaction().execute(async (trx) => {
    // One statement over ~10⁶ rows with hash joins and aggregates: more memory than the 4 MB default (SET LOCAL: this statement only).
    await sql`SET LOCAL work_mem = '128MB'`.execute(trx);
    // Every join here is large × small or large × large on equality: hash joins. Without statistics (the embedded
    // database has no autovacuum) the planner took a nested loop of 72 000 forecast rows × the meter list (15 s for
    // 100 meters); off for this statement only (the LATERAL rule lookup of 720 hours stays a nested loop).
    await sql`SET LOCAL enable_nestloop = off`.execute(trx);
    // Likewise merge joins: the hour CTEs' row estimates (unions, windows) are far off, and the planner sorted the
    // 720 000 meter-hours twice to merge-join them with 720 hours (+40 % CPU for 1 000 meters); hash joins need no sort.
    await sql`SET LOCAL enable_mergejoin = off`.execute(trx);
    // The plan's cost is far above jit_above_cost, and compiling its expressions took 3.5 s of a 12 s run on the server.
    if (database.engine === 'pg') await sql`SET LOCAL jit = off`.execute(trx);
    // Members and when each is expected to have consumption: supplyStart (local midnight), else its first active
    // import value (an index probe per meter) or its registration, whichever is earlier; until the end of supplyEnd.
    // Only electricity meters are expected (a gas or heat meter of the portfolio never has active import: ef null).
    const { rows } = await sql<Member>`
      SELECT m.id, m.external_id, m.multiplier, m.interval_minutes,
        CASE WHEN m.commodity = 'electricity' THEN date_bin('1 hour', COALESCE(m.supply_start::timestamp AT TIME ZONE m.timezone,
          LEAST((SELECT min(r.start) FROM readings r WHERE r.meter_id = m.id AND r.channel = 1), m.created_at)), ${EPOCH}) END AS ef,
        date_bin('1 hour', (m.supply_end + 1)::timestamp AT TIME ZONE m.timezone, ${EPOCH}) AS et
      FROM meters m WHERE m.portfolio = ${p.portfolio}`.execute(trx);
    return fn(trx, rows);
  });
}

export interface MeterImbalanceRow {
  readonly meter: string;
  /** Σ actual consumption over the counted hours, MWh. */
  readonly energy: number;
  /** Σ (allocated − actual), MWh. */
  readonly imbalance: number;
  /** Σ share of the portfolio's cost (pro rata to standalone costs). */
  readonly cost: number;
  /** Σ standalone costs. */
  readonly standalone: number;
  /** Hours the meter was expected and has no actual (nor, with a fill, a provisional value). */
  readonly missingActualHours: number;
  /** Counted hours in which its actual is (partly) a provisional value; and that energy, MWh. */
  readonly provisionalHours: number;
  readonly provisionalEnergy: number;
}

export interface ImbalanceTotals {
  readonly hours: number;
  /** Hours without PTF, SMF or an imbalance price (rule): their costs are left out. */
  readonly unpricedHours: number;
  /** Of those, hours with a price held as not yet published. */
  readonly unpublishedPriceHours: number;
  /** Hours left out because a member's actual is missing. */
  readonly missingActualHours: number;
  /** Meter-hours without an actual (Σ over the hours of the members missing). */
  readonly missingMeterHours: number;
  readonly provisionalHours: number;
  readonly provisionalEnergy: number;
  /** Σ position over every hour; missingPosition: over the hours left out. */
  readonly position: number;
  readonly missingPosition: number;
  readonly energy: number;
  readonly imbalance: number;
  /** Σ hourly portfolio cost. */
  readonly cost: number;
  /** Σ hourly standalone costs of the meters. */
  readonly standalone: number;
}

type Num = number | null;

/** Per-meter imbalance volumes and costs over [from, to), plus the portfolio totals. */
export async function meterImbalance(database: Database, p: ImbalanceScope): Promise<{ meters: MeterImbalanceRow[]; totals: ImbalanceTotals }> {
  return scoped(database, p, async (trx, members) => {
    // One statement: the meter rows, then one totals row (meter null), as the chain is the expensive part.
    const { rows } = await sql<{
      meter: string | null;
      energy: Num;
      imbalance: Num;
      cost: Num;
      standalone: Num;
      missing: number;
      prov: number;
      prov_mwh: Num;
      hours: number;
      unpriced: number;
      held: number;
      missing_mh: number;
      position: Num;
      missing_position: Num;
    }>`
      WITH ${chain(p, members)},
      -- The hour's cost and Σ standalone in one 720-row table: one hash probe per meter-hour instead of two.
      hc AS (SELECT hp.h, hp.cost, hs.ssum FROM hp JOIN hs ON hs.h = hp.h),
      per_meter AS (
        SELECT mc.meter_id, sum(mc.actual) AS energy, sum(mc.q) AS imbalance, sum(mc.standalone) AS standalone,
               sum(CASE WHEN hc.ssum > 0 THEN hc.cost * mc.standalone / hc.ssum WHEN hc.cost IS NOT NULL THEN 0 END) AS cost,
               count(*) FILTER (WHERE mc.counted AND mc.status IN (${S.estimate}, ${S.forecast}))::int AS prov,
               sum(mc.actual) FILTER (WHERE mc.status IN (${S.estimate}, ${S.forecast})) AS prov_mwh,
               count(*) FILTER (WHERE mc.expected AND mc.status <> ${S.missing})::int AS ok
        FROM mc JOIN hc ON hc.h = mc.h
        GROUP BY mc.meter_id
      ),
      cum AS (
        SELECT g.h, (count(s.h) OVER (ORDER BY g.h) - CASE WHEN s.h IS NULL THEN 0 ELSE 1 END)::int AS before
        FROM generate_series(${p.from}::timestamptz, ${p.to}::timestamptz, INTERVAL '1 hour') AS g(h) LEFT JOIN hset s ON s.h = g.h
      ),
      mexp AS (SELECT wv.meter_id, cb.before - ca.before AS n FROM wv JOIN cum ca ON ca.h = wv.a JOIN cum cb ON cb.h = wv.b WHERE wv.a < wv.b)
      SELECT pm.external_id AS meter, pmr.energy, pmr.imbalance, pmr.cost, pmr.standalone,
             GREATEST(0, COALESCE(mexp.n, 0) - COALESCE(pmr.ok, 0))::int AS missing, COALESCE(pmr.prov, 0) AS prov, pmr.prov_mwh,
             0 AS hours, 0 AS unpriced, 0 AS held, 0 AS missing_mh, NULL::float8 AS position, NULL::float8 AS missing_position
      FROM pm LEFT JOIN per_meter pmr ON pmr.meter_id = pm.id LEFT JOIN mexp ON mexp.meter_id = pm.id
      WHERE pmr.meter_id IS NOT NULL OR COALESCE(mexp.n, 0) > 0
      UNION ALL
      SELECT NULL, sum(hp.cons), sum(hp.q), sum(hp.cost), sum(hs.ssum),
             count(*) FILTER (WHERE NOT hp.counted)::int, count(*) FILTER (WHERE hp.counted AND hp.n_prov > 0)::int, sum(hp.prov_mwh) FILTER (WHERE hp.counted),
             count(*)::int, count(*) FILTER (WHERE NOT hp.priced)::int, count(*) FILTER (WHERE NOT hp.priced AND hp.held)::int,
             COALESCE(sum(hp.n_missing), 0)::int, sum(hp.position), sum(hp.position) FILTER (WHERE NOT hp.counted)
      FROM hp LEFT JOIN hs ON hs.h = hp.h`.execute(trx);
    const meters = rows.filter((r) => r.meter !== null);
    const t = rows.find((r) => r.meter === null)!;
    return {
      meters: meters
        .map((r) => ({
          meter: r.meter!,
          energy: r.energy ?? 0,
          imbalance: r.imbalance ?? 0,
          cost: r.cost ?? 0,
          standalone: r.standalone ?? 0,
          missingActualHours: r.missing,
          provisionalHours: r.prov,
          provisionalEnergy: r.prov_mwh ?? 0,
        }))
        .sort((a, b) => (a.meter < b.meter ? -1 : a.meter > b.meter ? 1 : 0)),
      totals: {
        hours: t.hours,
        unpricedHours: t.unpriced,
        unpublishedPriceHours: t.held,
        missingActualHours: t.missing,
        missingMeterHours: t.missing_mh,
        provisionalHours: t.prov,
        provisionalEnergy: t.prov_mwh ?? 0,
        position: t.position ?? 0,
        missingPosition: t.missing_position ?? 0,
        energy: t.energy ?? 0,
        imbalance: t.imbalance ?? 0,
        cost: t.cost ?? 0,
        standalone: t.standalone ?? 0,
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

/** Portfolio imbalance bucketed by local hour, day or month in the scope's time zone. */
export async function bucketImbalance(database: Database, p: ImbalanceScope & { unit: ImbalanceBucketUnit }): Promise<BucketImbalanceRow[]> {
  const unit = p.unit === 'hour' ? sql`hp.h` : sql`date_trunc(${p.unit}, hp.h, ${p.timezone})`;
  return scoped(database, p, async (trx, members) => {
    const { rows } = await sql<BucketImbalanceRow>`
      WITH ${chain(p, members)}
      SELECT ${unit} AS bucket, count(*)::int AS hours, count(*) FILTER (WHERE NOT hp.priced)::int AS "unpricedHours",
             count(*) FILTER (WHERE NOT hp.priced AND hp.held)::int AS "unpublishedPriceHours",
             count(*) FILTER (WHERE NOT hp.counted)::int AS "missingActualHours",
             count(*) FILTER (WHERE hp.counted AND hp.n_prov > 0)::int AS "provisionalHours",
             sum(hp.n_actual + hp.n_prov + hp.n_missing)::int AS members, sum(hp.n_actual)::int AS "withActuals", sum(hp.n_prov)::int AS "provisionalMeters",
             sum(hp.n_missing)::int AS "missingMeters",
             sum(hp.bilateral) AS bilateral, sum(hp.day_ahead) AS "dayAhead", sum(hp.intraday) AS intraday, sum(hp.position) AS position,
             COALESCE(sum(hp.position) FILTER (WHERE NOT hp.counted), 0) AS "missingPosition",
             sum(hp.cons) AS consumption, sum(hp.q) AS imbalance, sum(hp.prov_mwh) FILTER (WHERE hp.counted) AS "provisionalEnergy",
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
