import { sql } from 'kysely';
import type { CheckedSettlementRow, SettlementMeter } from '../models/settlement.js';
import type { Database } from './database.js';

/** Meters named in a settlement import, keyed by external id; absent ids are simply missing. */
export async function findSettlementMeters(database: Database, externalIds: readonly string[]): Promise<Map<string, SettlementMeter>> {
  const out = new Map<string, SettlementMeter>();
  if (externalIds.length === 0) return out;
  const rows = await database.db
    .selectFrom('meters')
    .select(['id', 'external_id', 'timezone', 'interval_minutes', 'multiplier'])
    .where(sql<boolean>`external_id = any(${externalIds as string[]}::text[])`)
    .execute();
  for (const r of rows) out.set(r.external_id, { id: r.id, externalId: r.external_id, timezone: r.timezone, intervalMinutes: r.interval_minutes, multiplier: r.multiplier });
  return out;
}

export interface StoreOutcome {
  /** Rows inserted now. */
  readonly stored: CheckedSettlementRow[];
  /** Rows identical to the stored row of the same version. */
  readonly unchanged: CheckedSettlementRow[];
  /** Rows whose version already holds the hour with other figures. */
  readonly conflicts: { row: CheckedSettlementRow; stored: { withdrawal: number; supply: number | null } }[];
  /** Per `${meterId}|${startMs}`: the highest stored version of the hour, for hours a version above this one holds (others are absent). */
  readonly newest: ReadonlyMap<string, number>;
}

/**
 * Stores one version's rows, never overwriting: a row already stored in the
 * same version with the same figures is unchanged, with other figures a
 * conflict (corrections come as a higher version). One transaction; also
 * returns the highest stored version of each hour, which decides whether a
 * row may be written into readings.
 */
export async function storeSettlementRows(
  database: Database,
  p: { period: string; version: number; rows: readonly CheckedSettlementRow[]; importedBy: string | null; origin: string },
): Promise<StoreOutcome> {
  const ids = [...new Set(p.rows.map((r) => r.meter.id))];
  // New rows go in by COPY (an INSERT from unnest cost 3× as much on 10⁵ rows); a concurrent
  // import of the same version storing one of them first (unique_violation) runs it again with INSERT … ON CONFLICT.
  try {
    return await storeOnce(database, p, ids, true);
  } catch (err) {
    if ((err as { code?: string }).code !== '23505') throw err;
    return storeOnce(database, p, ids, false);
  }
}

function storeOnce(database: Database, p: Parameters<typeof storeSettlementRows>[1], ids: readonly number[], copy: boolean): Promise<StoreOutcome> {
  return database.session(async ({ db, raw }) => {
    const ofMeters = sql<boolean>`meter_id = ANY(${ids}::int[])`;
    const existing = await db
      .selectFrom('settlement_rows')
      .select(['meter_id', 'start', 'withdrawal', 'supply'])
      .where('period', '=', p.period)
      .where('version', '=', p.version)
      .where(ofMeters)
      .execute();
    const byKey = new Map(existing.map((e) => [`${e.meter_id}|${e.start.getTime()}`, e]));
    const fresh: CheckedSettlementRow[] = [];
    const unchanged: CheckedSettlementRow[] = [];
    const conflicts: StoreOutcome['conflicts'] = [];
    for (const r of p.rows) {
      const e = byKey.get(`${r.meter.id}|${r.startMs}`);
      if (!e) fresh.push(r);
      else if (e.withdrawal === r.withdrawal && (e.supply ?? null) === r.supply) unchanged.push(r);
      else conflicts.push({ row: r, stored: { withdrawal: e.withdrawal, supply: e.supply } });
    }
    if (fresh.length && copy) {
      await raw.copyFrom(
        'COPY settlement_rows (meter_id, period, version, start, withdrawal, supply, imported_by, origin) FROM STDIN',
        fresh
          .map((r) => `${r.meter.id}\t${p.period}\t${p.version}\t${new Date(r.startMs).toISOString()}\t${r.withdrawal}\t${r.supply ?? '\\N'}\t${copyText(p.importedBy)}\t${copyText(p.origin)}\n`)
          .join(''),
      );
    } else if (fresh.length) {
      const meters = fresh.map((r) => r.meter.id);
      const starts = fresh.map((r) => new Date(r.startMs).toISOString());
      const withdrawal = fresh.map((r) => r.withdrawal);
      const supply = fresh.map((r) => r.supply);
      await sql`
        INSERT INTO settlement_rows (meter_id, period, version, start, withdrawal, supply, imported_by, origin)
        SELECT t.meter_id, ${p.period}, ${p.version}, t.start, t.withdrawal, t.supply, ${p.importedBy}, ${p.origin}
        FROM unnest(${meters}::int[], ${starts}::timestamptz[], ${withdrawal}::float8[], ${supply}::float8[]) AS t(meter_id, start, withdrawal, supply)
        ON CONFLICT DO NOTHING`.execute(db);
    }
    // Hours a higher version already holds: usually none, so ask only for those.
    const newest = new Map<string, number>();
    const higher = await db
      .selectFrom('settlement_rows')
      .select(['meter_id', 'start', sql<number>`max(version)::int`.as('version')])
      .where('period', '=', p.period)
      .where('version', '>', p.version)
      .where(ofMeters)
      .groupBy(['meter_id', 'start'])
      .execute();
    for (const r of higher) newest.set(`${r.meter_id}|${r.start.getTime()}`, r.version);
    return { stored: fresh, unchanged, conflicts, newest };
  });
}

/** A text value for COPY's text format (NULL as \\N, backslash, tab and line ends escaped). */
const copyText = (v: string | null) => (v === null ? '\\N' : v.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\n/g, '\\n').replace(/\r/g, '\\r'));

/** Records which ingest batch wrote a version's rows into readings. */
export async function markSettlementApplied(database: Database, p: { period: string; version: number; batchId: number; keys: readonly { meterId: number; startMs: number }[] }): Promise<void> {
  if (p.keys.length === 0) return;
  const meters = p.keys.map((k) => k.meterId);
  const starts = p.keys.map((k) => new Date(k.startMs).toISOString());
  await sql`
    UPDATE settlement_rows s SET applied_batch = ${p.batchId}
    FROM unnest(${meters}::int[], ${starts}::timestamptz[]) AS k(meter_id, start)
    WHERE s.period = ${p.period} AND s.version = ${p.version} AND s.meter_id = k.meter_id AND s.start = k.start`.execute(database.db);
}

/**
 * Current values of a channel for the given meters in [from, to): the shape
 * an hourly settlement figure is split by on meters with 15/30-minute intervals.
 */
export async function loadCurrentValues(database: Database, p: { meterIds: readonly number[]; channel: number; from: Date; to: Date }): Promise<{ meterId: number; startMs: number; value: number }[]> {
  if (p.meterIds.length === 0) return [];
  const rows = await database.db
    .selectFrom('readings')
    .select(['meter_id', 'start', 'value'])
    .where(sql<boolean>`meter_id = any(${p.meterIds as number[]}::int[])`)
    .where('channel', '=', p.channel)
    .where('start', '>=', p.from)
    .where('start', '<', p.to)
    .execute();
  return rows.map((r) => ({ meterId: r.meter_id, startMs: r.start.getTime(), value: r.value }));
}

export interface StoredSettlementRow {
  readonly meter: string;
  readonly timezone: string;
  readonly period: string;
  readonly version: number;
  readonly start: Date;
  readonly withdrawal: number;
  readonly supply: number | null;
  readonly importedAt: Date;
  readonly importedBy: string | null;
  readonly origin: string;
  readonly applied: boolean;
}

/** Stored rows of a period, optionally one meter and/or one version; by meter, start, version. */
export async function listSettlementRows(database: Database, f: { period: string; meterId?: number; version?: number; limit: number }): Promise<StoredSettlementRow[]> {
  let q = database.db
    .selectFrom('settlement_rows as s')
    .innerJoin('meters as m', 'm.id', 's.meter_id')
    .select(['m.external_id', 'm.timezone', 's.period', 's.version', 's.start', 's.withdrawal', 's.supply', 's.imported_at', 's.imported_by', 's.origin', 's.applied_batch'])
    .where('s.period', '=', f.period)
    .orderBy('m.external_id')
    .orderBy('s.start')
    .orderBy('s.version')
    .limit(f.limit);
  if (f.meterId !== undefined) q = q.where('s.meter_id', '=', f.meterId);
  if (f.version !== undefined) q = q.where('s.version', '=', f.version);
  const rows = await q.execute();
  return rows.map((r) => ({
    meter: r.external_id,
    timezone: r.timezone,
    period: r.period,
    version: r.version,
    start: r.start,
    withdrawal: r.withdrawal,
    supply: r.supply,
    importedAt: r.imported_at,
    importedBy: r.imported_by,
    origin: r.origin,
    applied: r.applied_batch !== null,
  }));
}

export interface DifferenceRow {
  readonly meterId: number;
  readonly meter: string;
  readonly timezone: string;
  readonly multiplier: number;
  /** Highest settlement version of the meter in the period; null without settlement rows. */
  readonly version: number | null;
  /** Sum of what we measured (newest non-settlement version per interval), BEFORE the multiplier; null without such values. */
  readonly measuredRaw: number | null;
  /** Sum of the newest settlement version per hour (kWh as settled). */
  readonly settled: number | null;
  readonly hoursBoth: number;
  readonly hoursMissingMeasured: number;
  readonly hoursMissingSettlement: number;
}

/**
 * Per meter: what we measured vs the newest settlement figures, hour by hour,
 * over each meter's local month [from, to). "Measured" is the newest version
 * of each active_import value whose source is not `settlement`, from readings
 * and reading_history together (a settled hour's measured figure lives in the
 * history), summed per UTC hour. Meters without either side are left out.
 */
export async function settlementDifferences(
  database: Database,
  p: { period: string; windows: readonly { meterId: number; fromMs: number; toMs: number }[]; settlementSource: number; channel: number },
): Promise<DifferenceRow[]> {
  if (p.windows.length === 0) return [];
  const { rows } = await sql<DifferenceRow>`
    WITH win AS (
      SELECT * FROM unnest(${p.windows.map((w) => w.meterId)}::int[], ${p.windows.map((w) => new Date(w.fromMs).toISOString())}::timestamptz[],
                           ${p.windows.map((w) => new Date(w.toMs).toISOString())}::timestamptz[]) AS w(meter_id, from_ts, to_ts)
    ), vals AS (
      SELECT r.meter_id, r.start, r.value, r.version FROM readings r JOIN win w ON r.meter_id = w.meter_id AND r.start >= w.from_ts AND r.start < w.to_ts
      WHERE r.channel = ${p.channel} AND r.source <> ${p.settlementSource}
      UNION ALL
      SELECT h.meter_id, h.start, h.value, h.version FROM reading_history h JOIN win w ON h.meter_id = w.meter_id AND h.start >= w.from_ts AND h.start < w.to_ts
      WHERE h.channel = ${p.channel} AND h.source <> ${p.settlementSource}
    ), newest AS (
      SELECT DISTINCT ON (meter_id, start) meter_id, start, value FROM vals ORDER BY meter_id, start, version DESC
    ), measured AS (
      SELECT meter_id, date_trunc('hour', start) AS hour, sum(value) AS v FROM newest GROUP BY 1, 2
    ), settled AS (
      SELECT DISTINCT ON (s.meter_id, s.start) s.meter_id, s.start AS hour, s.withdrawal AS v, s.version
      FROM settlement_rows s JOIN win w ON s.meter_id = w.meter_id
      WHERE s.period = ${p.period}
      ORDER BY s.meter_id, s.start, s.version DESC
    ), joined AS (
      SELECT coalesce(a.meter_id, b.meter_id) AS meter_id, a.v AS mv, b.v AS sv, b.version
      FROM measured a FULL JOIN settled b ON a.meter_id = b.meter_id AND a.hour = b.hour
    )
    SELECT j.meter_id AS "meterId", m.external_id AS meter, m.timezone, m.multiplier,
           max(j.version)::int AS version, sum(j.mv) AS "measuredRaw", sum(j.sv) AS settled,
           (count(*) FILTER (WHERE j.mv IS NOT NULL AND j.sv IS NOT NULL))::int AS "hoursBoth",
           (count(*) FILTER (WHERE j.mv IS NULL))::int AS "hoursMissingMeasured",
           (count(*) FILTER (WHERE j.sv IS NULL))::int AS "hoursMissingSettlement"
    FROM joined j JOIN meters m ON m.id = j.meter_id
    GROUP BY j.meter_id, m.external_id, m.timezone, m.multiplier
    ORDER BY m.external_id`.execute(database.db);
  return rows;
}

/** Meters (id, external id, time zone) of one commodity, optionally only the given external ids. */
export async function listMetersForPeriod(database: Database, f: { externalIds?: readonly string[]; commodity: string }): Promise<{ id: number; externalId: string; timezone: string }[]> {
  let q = database.db.selectFrom('meters').select(['id', 'external_id', 'timezone']).where('commodity', '=', f.commodity).orderBy('external_id');
  if (f.externalIds) q = q.where(sql<boolean>`external_id = any(${f.externalIds as string[]}::text[])`);
  const rows = await q.execute();
  return rows.map((r) => ({ id: r.id, externalId: r.external_id, timezone: r.timezone }));
}
