import { sql, type Kysely, type RawBuilder } from 'kysely';
import { BILLED_INTERVAL_CODES } from '../models/commodity.js';
import { qualityCode, type NormalizedReading } from '../models/reading.js';
import type { TouPlan } from '../models/tou-plan.js';
import { bisect, createFailingItems, type FailingItems } from '../models/failing-items.js';
import type { Database, Session } from './database.js';
import { isUnavailable } from './db-errors.js';
import { loadTouPlan } from './tou-schedule.repository.js';
import type { DB } from './types.js';

/**
 * The daily billing rollup: per meter, energy channel and local date, the
 * sums, interval counts by quality, TOU bucket energies, peak and last value
 * that billing adds up (billing_daily). Billing reads a meter from it only
 * while the meter's stamp (zone, interval, tariff and its bucket names)
 * matches; a day marked dirty (billing_dirty: ingest marks every day it
 * writes, in the same transaction, and a TOU schedule change marks the days
 * it re-buckets) is read from the readings until maintenance recomputes it.
 * So the figures are always those of the readings; the rollup only makes
 * them fast. Maintenance (maintainBillingRollup) runs in the billing
 * component and can be run by hand (benches, tests).
 */

export const Q = {
  measured: qualityCode('measured'),
  validated: qualityCode('validated'),
  estimated: qualityCode('estimated'),
  edited: qualityCode('edited'),
  suspect: qualityCode('suspect'),
  missing: qualityCode('missing'),
};
/**
 * The interval channels billing adds up: the measured channels of every
 * commodity (models/commodity.ts): active import/export, reactive
 * inductive/capacitive (electricity), volume (gas, water).
 */
export const ENERGY_CHANNELS: number[] = [...BILLED_INTERVAL_CODES];
/** ENERGY_CHANNELS as a lookup by code (markDirtyDays tests every written row). */
const IS_ENERGY = new Uint8Array(Math.max(...ENERGY_CHANNELS) + 1);
for (const c of ENERGY_CHANNELS) IS_ENERGY[c] = 1;
/** pg_try_advisory_xact_lock key: one rollup maintainer at a time across instances. */
const LOCK_KEY = 7_242_006;

/**
 * What a meter's rollup rows depend on, as SQL over meters `m`: zone, interval, tariff and the tariff's bucket names;
 * for a meter of another commodity than electricity also the commodity (volume joined the rolled-up channels with
 * issue 15: a gas or water meter rolled up before is adopted again; electricity stamps are as they were).
 */
export function stampSql(plan: TouPlan): RawBuilder<string> {
  const names = JSON.stringify([...plan.bucketsByTariff].map(([tariff, n]) => ({ tariff, names: n.join(',') })));
  return sql<string>`(m.timezone || '|' || m.interval_minutes || '|' || m.tariff || '|' ||
    coalesce((SELECT tb.names FROM jsonb_to_recordset(${names}::jsonb) AS tb(tariff text, names text) WHERE tb.tariff = m.tariff), '') ||
    CASE WHEN m.commodity = 'electricity' THEN '' ELSE '|' || m.commodity END)`;
}

/**
 * Readings of `ranges` (SQL rows `id, rf, rt`: meter id, instant range),
 * each range cut by the TOU schedules of the meter's tariff, reduced to the
 * rollup row shape per meter, channel (and local date when `byDate`):
 * energy, est_energy, counts by quality, tou[] (K = plan.maxBuckets),
 * peak (ARRAY[rate, −epoch of start]: max() picks the highest rate, then the
 * earliest start) and last_start; by date also max_received (the newest
 * batch behind the row). Energies are value × 10⁶ rounded per interval and
 * summed as int8: exact, so independent of row order.
 *
 * Each piece (range × schedule segment) is reduced on its own, inside the
 * LATERAL, to a row per channel, quality and TOU bucket (by date also per
 * local date and batch): a few rows per piece instead of every reading, so
 * the outer grouping handles thousands of rows, not millions, and a batch's
 * arrival time is looked up once per piece, day and batch, not per reading.
 */
export function rawRollupSql(p: {
  ranges: RawBuilder<unknown>;
  source: RawBuilder<unknown>;
  plan: TouPlan;
  byDate: boolean;
  scan: { from: Date; to: Date };
  /** JSON object meter id → tariff that replaces the meters column (a dated tariff, issue 16). */
  tariffs?: string;
}): RawBuilder<unknown> {
  const tariff = p.tariffs === undefined ? sql`m.tariff` : sql`coalesce(${p.tariffs}::jsonb ->> m.id::text, m.tariff)`;
  const local = sql`(r.start AT TIME ZONE g.timezone)`;
  const minute = sql`((((date_part('epoch', ${local})::int8 % 86400) + 86400) % 86400) / 60)::int`;
  const dateKey = p.byDate ? sql`local_date,` : sql``;
  const touCols = Array.from({ length: p.plan.maxBuckets }, (_, i) => sql`coalesce(sum(e) FILTER (WHERE quality <> ${sql.lit(Q.missing)} AND b = ${sql.lit(i)}), 0)`);
  const tou = touCols.length ? sql`ARRAY[${sql.join(touCols)}]::int8[]` : sql`ARRAY[]::int8[]`;
  const q = (xs: number[]) => sql.raw(xs.join(', '));
  return sql`
    SELECT id, ${dateKey} channel,
           coalesce(sum(e) FILTER (WHERE quality <> ${sql.lit(Q.missing)}), 0) AS energy,
           coalesce(sum(e) FILTER (WHERE quality IN (${q([Q.estimated, Q.edited])})), 0) AS est_energy,
           coalesce(sum(n) FILTER (WHERE quality IN (${q([Q.measured, Q.validated])})), 0) AS n_measured,
           coalesce(sum(n) FILTER (WHERE quality = ${sql.lit(Q.suspect)}), 0) AS n_suspect,
           coalesce(sum(n) FILTER (WHERE quality = ${sql.lit(Q.estimated)}), 0) AS n_estimated,
           coalesce(sum(n) FILTER (WHERE quality = ${sql.lit(Q.edited)}), 0) AS n_edited,
           coalesce(sum(n) FILTER (WHERE quality = ${sql.lit(Q.missing)}), 0) AS n_missing,
           ${tou} AS tou,
           max(peak) AS peak,
           max(last_start) AS last_start
           ${p.byDate ? sql`, max(received_at) AS max_received` : sql``}
    FROM (
    SELECT g.id, ${p.byDate ? sql`r.local_date, (SELECT ib.received_at FROM ingest_batches ib WHERE ib.id = r.batch_id) AS received_at,` : sql``}
           r.channel, r.quality, r.b, r.e, r.n, r.peak, r.last_start
    FROM (
      SELECT rr.id, m.timezone, m.interval_minutes,
             greatest(rr.rf, t."effFrom"::timestamp AT TIME ZONE m.timezone) AS pf,
             least(rr.rt, t."effTo"::timestamp AT TIME ZONE m.timezone) AS pt,
             decode(t.map, 'hex') AS map
      FROM (${p.ranges}) rr
      JOIN meters m ON m.id = rr.id
      LEFT JOIN jsonb_to_recordset(${JSON.stringify(p.plan.segments)}::jsonb) AS t(tariff text, "effFrom" date, "effTo" date, map text) ON t.tariff = ${tariff}
      OFFSET 0 -- computed once per piece, not per reading
    ) g
    -- LATERAL: each piece is a primary-key range scan, whatever the planner guesses of how many pieces there are
    -- (usually none or a few dirty days; it cannot know, and a wrong guess scanned every reading of the period).
    CROSS JOIN LATERAL (
      SELECT ${p.byDate ? sql`(${local})::date AS local_date,` : sql``} r.channel, r.quality,
             CASE WHEN g.map IS NOT NULL AND r.channel = 1 THEN get_byte(g.map, ${minute}) END AS b,
             sum(round(r.value * 1e6)::int8) AS e,
             count(*) AS n,
             max(ARRAY[r.value * 60 / coalesce(r.interval_minutes, g.interval_minutes), -date_part('epoch', r.start)])
               FILTER (WHERE r.channel = 1 AND r.quality <> ${sql.lit(Q.missing)}) AS peak,
             max(r.start) FILTER (WHERE r.quality <> ${sql.lit(Q.missing)}) AS last_start
             ${p.byDate ? sql`, r.batch_id` : sql``}
      FROM ${p.source} r
      WHERE r.meter_id = g.id AND r.start >= g.pf AND r.start < g.pt
        AND r.channel = ANY(${ENERGY_CHANNELS}::smallint[]) AND r.start >= ${p.scan.from} AND r.start < ${p.scan.to}
      GROUP BY 1, 2, 3 ${p.byDate ? sql`, 4, r.batch_id` : sql``}
    ) r
    WHERE g.pf < g.pt
    ) x
    GROUP BY id, ${dateKey} channel`;
}

const DAY_MS = 86_400_000;

/**
 * Marks the local days a batch wrote energy values on dirty, inside the
 * batch's transaction (sql/reading-write.repository.ts calls it after every
 * write that stored or replaced a value): billing then reads those days from
 * the readings until maintenance recomputes them. Days are computed here, a
 * map lookup a row (a per-row time-zone conversion and DISTINCT in SQL costs
 * as much as the write), and inserted in key order; a key already dirty is
 * locked (DO UPDATE … WHERE false), so a maintainer cannot claim it before
 * this batch commits.
 */
export async function markDirtyDays(s: Session, rows: readonly NormalizedReading[], localDays: Float64Array): Promise<void> {
  const keys = new Set<number>(); // meter id × 2^20 + epoch day of the local date
  for (let i = 0; i < rows.length; i++) {
    if (IS_ENERGY[rows[i].channel] !== 1 || Number.isNaN(localDays[i])) continue; // not an ENERGY_CHANNELS code; NaN: no such meter
    keys.add(rows[i].meterId * 1_048_576 + localDays[i]);
  }
  if (keys.size === 0) return;
  const sorted = [...keys].sort((a, b) => a - b);
  const meters = sorted.map((k) => Math.floor(k / 1_048_576));
  const dates = sorted.map((k) => new Date((k % 1_048_576) * DAY_MS).toISOString().slice(0, 10));
  await sql`
    INSERT INTO billing_dirty (meter_id, local_date)
    SELECT * FROM unnest(${meters}::int[], ${dates}::date[]) ORDER BY 1, 2
    ON CONFLICT (meter_id, local_date) DO UPDATE SET marked_at = excluded.marked_at WHERE false`.execute(s.db);
}

/** Restricts a maintenance step to some items (`only`) or leaves some out (`skip`: items failing, waiting for their retry). */
export interface ItemFilter<K> {
  readonly only?: readonly K[];
  readonly skip?: readonly K[];
}

/** A dirty meter day: `localDate` as PostgreSQL prints it (YYYY-MM-DD; a year beyond 9999 has more digits). */
export interface DirtyKey {
  readonly meterId: number;
  readonly localDate: string;
}

function meterFilter(col: RawBuilder<unknown>, f: ItemFilter<number>): RawBuilder<unknown> {
  const only = f.only ? sql`AND ${col} = ANY(${f.only as number[]}::int[])` : sql``;
  const skip = f.skip?.length ? sql`AND NOT (${col} = ANY(${f.skip as number[]}::int[]))` : sql``;
  return sql`${only} ${skip}`;
}

function keyFilter(f: ItemFilter<DirtyKey>): RawBuilder<unknown> {
  const keys = (ks: readonly DirtyKey[]) => sql`(SELECT * FROM unnest(${ks.map((k) => k.meterId)}::int[], ${ks.map((k) => k.localDate)}::date[]))`;
  const only = f.only ? sql`AND (meter_id, local_date) IN ${keys(f.only)}` : sql``;
  const skip = f.skip?.length ? sql`AND (meter_id, local_date) NOT IN ${keys(f.skip)}` : sql``;
  return sql`${only} ${skip}`;
}

/** Meters whose stamp is missing or stale, in id order, with their current stamp. */
async function staleMeters(trx: Kysely<DB>, plan: TouPlan, limit: number, f: ItemFilter<number>): Promise<{ id: number; stamp: string }[]> {
  const stamp = stampSql(plan);
  const { rows } = await sql<{ id: number; stamp: string }>`
    SELECT m.id, ${stamp} AS stamp FROM meters m LEFT JOIN billing_rollup_meters s ON s.meter_id = m.id
    WHERE s.stamp IS DISTINCT FROM ${stamp} ${meterFilter(sql`m.id`, f)}
    ORDER BY m.id LIMIT ${limit}`.execute(trx);
  return rows;
}

/**
 * Adopts up to `limit` meters whose stamp is missing or stale (new meters,
 * data loaded before the rollup existed, a changed zone, interval, tariff or
 * bucket list): drops their rollup rows, marks every local day they have
 * energy readings on dirty, and records the current stamp. Until those days
 * are recomputed billing reads them raw. Returns the meters adopted.
 */
export async function adoptMeters(database: Database, limit = 2_000, f: ItemFilter<number> = {}): Promise<number> {
  return (await adopt(database, limit, f)).length;
}

async function adopt(database: Database, limit: number, f: ItemFilter<number>): Promise<number[]> {
  return database.db.transaction().execute(async (trx) => {
    if (!(await lockMaintenance(trx))) return [];
    const rows = await staleMeters(trx, await loadTouPlan(trx), limit, f);
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    await sql`DELETE FROM billing_daily WHERE meter_id = ANY(${ids}::int[])`.execute(trx);
    await sql`
      INSERT INTO billing_dirty (meter_id, local_date)
      SELECT DISTINCT r.meter_id, (r.start AT TIME ZONE m.timezone)::date
      FROM readings r JOIN meters m ON m.id = r.meter_id
      WHERE r.meter_id = ANY(${ids}::int[]) AND r.channel = ANY(${ENERGY_CHANNELS}::smallint[])
      ORDER BY 1, 2
      ON CONFLICT (meter_id, local_date) DO NOTHING`.execute(trx);
    await sql`
      INSERT INTO billing_rollup_meters (meter_id, stamp)
      SELECT * FROM unnest(${ids}::int[], ${rows.map((r) => r.stamp)}::text[])
      ON CONFLICT (meter_id) DO UPDATE SET stamp = excluded.stamp, rolled_at = now()`.execute(trx);
    return ids;
  });
}

/**
 * Recomputes up to `limit` dirty meter days from the readings, in one
 * transaction: claims the keys (DELETE … SKIP LOCKED: a day an ingest
 * transaction is marking right now stays dirty), then, in later statements
 * that see everything committed by then, replaces their rollup rows. The TOU
 * plan is read after the claim, so a schedule change committed before it is
 * used, and one committed after it re-marks the days once this commits.
 * Returns the days recomputed.
 */
export async function refreshDirtyDays(database: Database, limit = 20_000, f: ItemFilter<DirtyKey> = {}): Promise<number> {
  return (await refresh(database, limit, f)).length;
}

async function refresh(database: Database, limit: number, f: ItemFilter<DirtyKey>): Promise<DirtyKey[]> {
  return database.db.transaction().execute(async (trx) => {
    if (!(await lockMaintenance(trx))) return [];
    const { rows: keys } = await sql<{ meter_id: number; local_date: string }>`
      DELETE FROM billing_dirty
      WHERE (meter_id, local_date) IN (
        SELECT meter_id, local_date FROM billing_dirty WHERE true ${keyFilter(f)}
        ORDER BY meter_id, local_date LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING meter_id, local_date::text AS local_date`.execute(trx);
    if (keys.length === 0) return [];
    const plan = await loadTouPlan(trx);
    const json = JSON.stringify(keys);
    await sql`
      DELETE FROM billing_daily d USING jsonb_to_recordset(${json}::jsonb) AS k(meter_id int, local_date date)
      WHERE d.meter_id = k.meter_id AND d.local_date = k.local_date`.execute(trx);
    const dates = keys.map((k) => Date.parse(`${k.local_date}T00:00:00Z`));
    const scan = { from: new Date(Math.min(...dates) - DAY_MS), to: new Date(Math.max(...dates) + 2 * DAY_MS) };
    // Consecutive days of a meter read as one range: one index scan per run of days, not per day.
    const runs = JSON.stringify(dayRuns(keys.map((k) => ({ meterId: k.meter_id, localDate: k.local_date }))));
    const ranges = sql`
      SELECT k.meter_id AS id, k.from_date::timestamp AT TIME ZONE m.timezone AS rf, (k.to_date + 1)::timestamp AT TIME ZONE m.timezone AS rt
      FROM jsonb_to_recordset(${runs}::jsonb) AS k(meter_id int, from_date date, to_date date) JOIN meters m ON m.id = k.meter_id`;
    await sql`SET LOCAL work_mem = '64MB'`.execute(trx);
    await sql`
      INSERT INTO billing_daily (meter_id, channel, local_date, energy, est_energy, n_measured, n_suspect, n_estimated, n_edited, n_missing, tou, peak_rate, peak_start, last_start, max_received)
      SELECT id, channel, local_date, energy, est_energy, n_measured, n_suspect, n_estimated, n_edited, n_missing, tou, peak[1], to_timestamp(-peak[2]), last_start, max_received
      FROM (${rawRollupSql({ ranges, source: sql`readings`, plan, byDate: true, scan })}) x`.execute(trx);
    return keys.map((k) => ({ meterId: k.meter_id, localDate: k.local_date }));
  });
}

/** Runs of consecutive local days per meter (keys in meter, date order). */
export function dayRuns(keys: readonly DirtyKey[]): { meter_id: number; from_date: string; to_date: string }[] {
  const out: { meter_id: number; from_date: string; to_date: string }[] = [];
  let last: { meter_id: number; from_date: string; to_date: string; toMs: number } | undefined;
  for (const k of keys) {
    const ms = Date.parse(`${k.localDate}T00:00:00Z`);
    if (last && last.meter_id === k.meterId && ms === last.toMs + DAY_MS) {
      last.to_date = k.localDate;
      last.toMs = ms;
      continue;
    }
    if (last) out.push({ meter_id: last.meter_id, from_date: last.from_date, to_date: last.to_date });
    last = { meter_id: k.meterId, from_date: k.localDate, to_date: k.localDate, toMs: ms };
  }
  if (last) out.push({ meter_id: last.meter_id, from_date: last.from_date, to_date: last.to_date });
  return out;
}

/** The dirty days refreshDirtyDays would claim next (without claiming them). */
async function pendingDays(database: Database, limit: number, f: ItemFilter<DirtyKey>): Promise<DirtyKey[]> {
  const { rows } = await sql<DirtyKey>`
    SELECT meter_id AS "meterId", local_date::text AS "localDate" FROM billing_dirty WHERE true ${keyFilter(f)}
    ORDER BY meter_id, local_date LIMIT ${limit}`.execute(database.db);
  return rows;
}

async function lockMaintenance(trx: Kysely<DB>): Promise<boolean> {
  const { rows } = await sql<{ ok: boolean }>`SELECT pg_try_advisory_xact_lock(${LOCK_KEY}) AS ok`.execute(trx);
  return rows[0].ok;
}

const ADOPT_LIMIT = 2_000;
const REFRESH_LIMIT = 20_000;
const isolable = (err: unknown) => !isUnavailable(err);
const adoptKey = (id: number) => `adopt|${id}`;
const dayKey = (k: DirtyKey) => `rollup|${k.meterId}|${k.localDate}`;

/**
 * Brings the rollup up to date: adopts stale meters, then recomputes dirty
 * days, in transactions of bounded size, until nothing is left or `budgetMs`
 * is spent (the rest waits for the next run).
 *
 * One bad item never stops it (issue 11): a step that fails for any reason
 * but an unreachable database (a stored value of 1e308 overflows the energy
 * sum, a reading in the year 9999 has a local date JavaScript cannot parse…)
 * is run again on halves of its items until the failing meter (adoption) or
 * meter day (refresh) is found; that item is recorded in `failing` and left
 * out until its retry time (backoff, models/failing-items.ts), everything
 * else is done. A failing day stays dirty, so billing reads it from the
 * readings. Without `failing`, items are remembered for this call only.
 * An unreachable database throws, as before: the caller retries later.
 */
export async function maintainBillingRollup(database: Database, opts: { budgetMs?: number; now?: () => number; failing?: FailingItems } = {}): Promise<{ adopted: number; refreshed: number }> {
  const now = opts.now ?? Date.now;
  const failing = opts.failing ?? createFailingItems({ now });
  const until = now() + (opts.budgetMs ?? Number.POSITIVE_INFINITY);
  let adopted = 0;
  let refreshed = 0;
  for (let more = true; more && now() < until; ) {
    const r = await isolated<number>(
      database,
      failing,
      (f) => adopt(database, ADOPT_LIMIT, f),
      (f) => database.db.transaction().execute(async (trx) => (await staleMeters(trx, await loadTouPlan(trx), ADOPT_LIMIT, f)).map((m) => m.id)),
      { key: adoptKey, skip: () => failing.waitingKeys('adopt|').map((k) => Number(k.slice(6))), detail: async (id) => ({ stage: 'rollup adoption', meter: await externalId(database, id) }) },
    );
    adopted += r.done;
    more = r.done + r.failed > 0;
  }
  for (let more = true; more && now() < until; ) {
    const r = await isolated<DirtyKey>(
      database,
      failing,
      (f) => refresh(database, REFRESH_LIMIT, f),
      (f) => pendingDays(database, REFRESH_LIMIT, f),
      {
        key: dayKey,
        skip: () => failing.waitingKeys('rollup|').map((k) => ({ meterId: Number(k.split('|')[1]), localDate: k.split('|')[2] })),
        detail: async (k) => ({ stage: 'rollup refresh', meter: await externalId(database, k.meterId), localDate: k.localDate }),
      },
    );
    refreshed += r.done;
    more = r.done + r.failed > 0;
  }
  return { adopted, refreshed };
}

/**
 * One maintenance step over every item not waiting for a retry; when it
 * fails (not for an unreachable database), the same step on halves of the
 * items it would have taken until the failing ones are found and recorded.
 */
async function isolated<K>(
  _database: Database,
  failing: FailingItems,
  step: (f: ItemFilter<K>) => Promise<K[]>,
  candidates: (f: ItemFilter<K>) => Promise<K[]>,
  o: { key: (k: K) => string; skip: () => K[]; detail: (k: K) => Promise<Record<string, unknown>> },
): Promise<{ done: number; failed: number }> {
  const skip = o.skip();
  let done = 0;
  let failed = 0;
  const run = async (f: ItemFilter<K>) => {
    const keys = await step(f);
    done += keys.length;
    if (failing.size) for (const k of keys) failing.succeed(o.key(k));
  };
  try {
    await run({ skip });
  } catch (err) {
    if (!isolable(err)) throw err;
    const items = await candidates({ skip });
    await bisect(items, err, (part) => run({ only: part }), {
      isolable,
      onFail: async (k, e) => {
        failed++;
        failing.fail(o.key(k), e, await o.detail(k));
      },
    });
  }
  return { done, failed };
}

async function externalId(database: Database, id: number): Promise<string | null> {
  const { rows } = await sql<{ external_id: string }>`SELECT external_id FROM meters WHERE id = ${id}`.execute(database.db);
  return rows[0]?.external_id ?? null;
}
