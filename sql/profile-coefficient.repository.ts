import { sql } from 'kysely';
import type { DayType } from '../models/calendar.js';
import type { ProfileCoefficient, ReadingType } from '../models/profile-coefficient.js';
import type { Database } from './database.js';

/**
 * Stores coefficient rows, replacing the coefficient of a row already stored
 * under the same key (period, region, reading type, group, date or day type,
 * hour): a re-published table overwrites the old one. Returns how many rows
 * were new, changed and unchanged.
 */
export async function putProfileCoefficients(
  database: Database,
  rows: readonly ProfileCoefficient[],
  p: { importedBy: string | null; origin: string },
): Promise<{ inserted: number; updated: number; unchanged: number }> {
  if (rows.length === 0) return { inserted: 0, updated: 0, unchanged: 0 };
  const { rows: res } = await sql<{ inserted: boolean }>`
    INSERT INTO profile_coefficients AS c (period, region, reading_type, profile_group, local_date, day_type, hour, coefficient, imported_by, origin)
    SELECT t.period, t.region, t.reading_type, t.profile_group, t.local_date, t.day_type, t.hour, t.coefficient, ${p.importedBy}, ${p.origin}
    FROM unnest(${rows.map((r) => r.period)}::text[], ${rows.map((r) => r.region)}::text[], ${rows.map((r) => r.readingType)}::text[],
                ${rows.map((r) => r.profileGroup)}::text[], ${rows.map((r) => r.date)}::date[], ${rows.map((r) => r.dayType)}::text[],
                ${rows.map((r) => r.hour)}::smallint[], ${rows.map((r) => r.coefficient)}::float8[])
      AS t(period, region, reading_type, profile_group, local_date, day_type, hour, coefficient)
    ON CONFLICT (period, region, reading_type, profile_group, coalesce(local_date, '0001-01-01'::date), coalesce(day_type, ''), hour)
    DO UPDATE SET coefficient = excluded.coefficient, imported_at = now(), imported_by = excluded.imported_by, origin = excluded.origin
      WHERE c.coefficient <> excluded.coefficient
    RETURNING (xmax = 0) AS inserted`.execute(database.db);
  const inserted = res.filter((r) => r.inserted).length;
  return { inserted, updated: res.length - inserted, unchanged: rows.length - res.length };
}

/** Coefficient rows of the given months, optionally narrowed; ordered by key. */
export async function listProfileCoefficients(
  database: Database,
  f: { periods: readonly string[]; regions?: readonly string[]; readingType?: ReadingType; profileGroups?: readonly string[] },
): Promise<ProfileCoefficient[]> {
  let q = database.db
    .selectFrom('profile_coefficients')
    .select(['period', 'region', 'reading_type', 'profile_group', sql<string | null>`to_char(local_date, 'YYYY-MM-DD')`.as('local_date'), 'day_type', 'hour', 'coefficient'])
    .where(sql<boolean>`period = any(${f.periods as string[]}::text[])`)
    .orderBy('period')
    .orderBy('region')
    .orderBy('reading_type')
    .orderBy('profile_group')
    .orderBy('local_date')
    .orderBy('day_type')
    .orderBy('hour');
  if (f.regions) q = q.where(sql<boolean>`region = any(${f.regions as string[]}::text[])`);
  if (f.readingType) q = q.where('reading_type', '=', f.readingType);
  if (f.profileGroups) q = q.where(sql<boolean>`profile_group = any(${f.profileGroups as string[]}::text[])`);
  const rows = await q.execute();
  return rows.map((r) => ({
    period: r.period,
    region: r.region,
    readingType: r.reading_type as ReadingType,
    profileGroup: r.profile_group,
    date: r.local_date,
    dayType: r.day_type as DayType | null,
    hour: r.hour,
    coefficient: r.coefficient,
  }));
}

/** What spreading needs to know about a meter. */
export interface ProfiledMeterRow {
  readonly id: number;
  readonly externalId: string;
  readonly timezone: string;
  readonly multiplier: number;
  readonly intervalMinutes: number;
  readonly tariff: ReadingType;
  readonly region: string | null;
  readonly profileClass: string | null;
  readonly supplyStart: string | null;
  readonly supplyEnd: string | null;
}

/** Electricity meters with a profile class, or exactly the given external ids (of any kind: the caller reports why one cannot be spread). */
export async function findProfiledMeters(database: Database, externalIds?: readonly string[]): Promise<ProfiledMeterRow[]> {
  let q = database.db
    .selectFrom('meters')
    .select([
      'id',
      'external_id',
      'timezone',
      'multiplier',
      'interval_minutes',
      'tariff',
      'region',
      'profile_class',
      sql<string | null>`to_char(supply_start, 'YYYY-MM-DD')`.as('supply_start'),
      sql<string | null>`to_char(supply_end, 'YYYY-MM-DD')`.as('supply_end'),
    ])
    .orderBy('external_id');
  q = externalIds ? q.where(sql<boolean>`external_id = any(${externalIds as string[]}::text[])`) : q.where('commodity', '=', 'electricity').where('profile_class', 'is not', null);
  const rows = await q.execute();
  return rows.map((r) => ({
    id: r.id,
    externalId: r.external_id,
    timezone: r.timezone,
    multiplier: r.multiplier,
    intervalMinutes: r.interval_minutes,
    tariff: r.tariff as ReadingType,
    region: r.region,
    profileClass: r.profile_class,
    supplyStart: r.supply_start,
    supplyEnd: r.supply_end,
  }));
}

export interface MeterWindow {
  readonly meterId: number;
  readonly fromMs: number;
  readonly toMs: number;
}

const windowSql = (w: readonly MeterWindow[]) =>
  sql`unnest(${w.map((x) => x.meterId)}::int[], ${w.map((x) => new Date(x.fromMs).toISOString())}::timestamptz[], ${w.map((x) => new Date(x.toMs).toISOString())}::timestamptz[]) AS w(meter_id, from_ts, to_ts)`;

/** Per meter: stored values of `channel` in its window whose source is not `exceptSource` (interval data of its own). */
export async function countOwnValues(database: Database, windows: readonly MeterWindow[], channel: number, exceptSource: number): Promise<Map<number, number>> {
  if (windows.length === 0) return new Map();
  const { rows } = await sql<{ meter_id: number; n: number }>`
    SELECT w.meter_id, count(*)::int AS n
    FROM ${windowSql(windows)}
    JOIN readings r ON r.meter_id = w.meter_id AND r.start >= w.from_ts AND r.start < w.to_ts
    WHERE r.channel = ${channel} AND r.source <> ${exceptSource}
    GROUP BY w.meter_id`.execute(database.db);
  return new Map(rows.map((r) => [r.meter_id, r.n]));
}

/** Register reads of `channel` per meter within its window, oldest first. */
export async function loadRegisterReads(database: Database, windows: readonly MeterWindow[], channel: number): Promise<Map<number, { atMs: number; value: number }[]>> {
  const out = new Map<number, { atMs: number; value: number }[]>();
  if (windows.length === 0) return out;
  const { rows } = await sql<{ meter_id: number; start: Date; value: number }>`
    SELECT w.meter_id, r.start, r.value
    FROM ${windowSql(windows)}
    JOIN readings r ON r.meter_id = w.meter_id AND r.start >= w.from_ts AND r.start <= w.to_ts
    WHERE r.channel = ${channel}
    ORDER BY w.meter_id, r.start`.execute(database.db);
  for (const r of rows) (out.get(r.meter_id) ?? out.set(r.meter_id, []).get(r.meter_id)!).push({ atMs: r.start.getTime(), value: r.value });
  return out;
}
