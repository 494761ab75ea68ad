import { sql, type SelectQueryBuilder } from 'kysely';
import type { COMMODITIES, Meter, MeterOut, TARIFFS } from '../models/meter.js';
import type { Database } from './database.js';
import type { DB } from './types.js';

export interface UpsertCounts {
  /** Meters that did not exist. */
  created: number;
  /** Existing meters whose stored fields changed (updated_at moves). */
  updated: number;
  /** Existing meters sent exactly as stored: left alone, updated_at kept. */
  unchanged: number;
}

/**
 * Meters per statement. The chunk travels as one jsonb parameter, so there is
 * no bind-parameter limit; chunking bounds the statement's memory (PGlite runs
 * in a fixed WASM heap). All chunks share one transaction.
 */
export const UPSERT_CHUNK = 2_000;

// Rows come in as a jsonb array of Meter objects (their camelCase keys are the
// record columns); absent optional fields read as NULL. A PUT replaces the
// whole meter. The update fires only when a field differs, so re-sending a
// registry is a no-op that keeps updated_at. xmax = 0 marks a fresh insert.
const upsert = (doc: string) => sql<{ created: number; updated: number }>`
WITH input AS (
  SELECT * FROM jsonb_to_recordset(${doc}::jsonb) AS t(
    id text, commodity text, timezone text, "intervalMinutes" smallint, multiplier double precision,
    "group" text, portfolio text, "profileClass" text, tariff text, region text, labels jsonb,
    "supplyStart" date, "supplyEnd" date, "weatherStation" text, "registerDigits" smallint, "gasArea" text)
), up AS (
  INSERT INTO meters AS m (external_id, commodity, timezone, interval_minutes, multiplier, "group", portfolio,
                           profile_class, tariff, region, labels, supply_start, supply_end, weather_station, register_digits, gas_area)
  SELECT id, commodity, timezone, "intervalMinutes", multiplier, "group", portfolio,
         "profileClass", tariff, region, coalesce(labels, '{}'::jsonb), "supplyStart", "supplyEnd", "weatherStation", "registerDigits", "gasArea"
  FROM input
  ON CONFLICT (external_id) DO UPDATE SET
    commodity = excluded.commodity, timezone = excluded.timezone, interval_minutes = excluded.interval_minutes,
    multiplier = excluded.multiplier, "group" = excluded."group", portfolio = excluded.portfolio,
    profile_class = excluded.profile_class, tariff = excluded.tariff, region = excluded.region, labels = excluded.labels,
    supply_start = excluded.supply_start, supply_end = excluded.supply_end, weather_station = excluded.weather_station,
    register_digits = excluded.register_digits, gas_area = excluded.gas_area, updated_at = now()
  WHERE (m.commodity, m.timezone, m.interval_minutes, m.multiplier, m."group", m.portfolio, m.profile_class,
         m.tariff, m.region, m.labels, m.supply_start, m.supply_end, m.weather_station, m.register_digits, m.gas_area)
        IS DISTINCT FROM
        (excluded.commodity, excluded.timezone, excluded.interval_minutes, excluded.multiplier, excluded."group",
         excluded.portfolio, excluded.profile_class, excluded.tariff, excluded.region, excluded.labels,
         excluded.supply_start, excluded.supply_end, excluded.weather_station, excluded.register_digits, excluded.gas_area)
  RETURNING (xmax = 0) AS created
)
SELECT count(*) FILTER (WHERE created)::int AS created, count(*) FILTER (WHERE NOT created)::int AS updated FROM up`;

/**
 * Creates or replaces meters by external id, set-based, in one transaction.
 * Ids must be unique within `meters` (parseMeterRows guarantees it).
 * @example await upsertMeters(database, [parsedMeter]) // { created: 1, updated: 0, unchanged: 0 }
 */
export async function upsertMeters(database: Database, meters: readonly Meter[]): Promise<UpsertCounts> {
  if (meters.length === 0) return { created: 0, updated: 0, unchanged: 0 };
  // Same lock order in every transaction, so concurrent upserts of overlapping sets cannot deadlock.
  const sorted = [...meters].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].id === sorted[i - 1].id) throw new Error(`upsertMeters: meter id "${sorted[i].id}" given twice; de-duplicate with parseMeterRows first`);
  }
  return database.session(async ({ db }) => {
    let created = 0;
    let updated = 0;
    for (let i = 0; i < sorted.length; i += UPSERT_CHUNK) {
      const {
        rows: [r],
      } = await upsert(JSON.stringify(sorted.slice(i, i + UPSERT_CHUNK))).execute(db);
      created += r.created;
      updated += r.updated;
    }
    return { created, updated, unchanged: meters.length - created - updated };
  });
}

export async function getMeter(database: Database, externalId: string): Promise<MeterOut | undefined> {
  const row = await database.db.selectFrom('meters').selectAll().where('external_id', '=', externalId).executeTakeFirst();
  return row ? toMeterOut(row) : undefined;
}

export interface MeterFilter {
  group?: string;
  portfolio?: string;
  commodity?: string;
  /** Case-insensitive substring of the external id. */
  q?: string;
  region?: string;
  profileClass?: string;
  tariff?: string;
  /** Meters whose labels hold this key with this value. */
  label?: { readonly key: string; readonly value: string };
  /** true: meters with an alarm not closed (open or acknowledged); false: without. */
  openAlarms?: boolean;
  /** External id of the last meter of the previous page. */
  cursor?: string;
  limit: number;
}

/**
 * One page of meters ordered by external id (keyset pagination on the unique
 * index: page N costs the same as page 1). `nextCursor` is null on the last page.
 */
export async function listMeters(database: Database, f: MeterFilter): Promise<{ meters: MeterOut[]; nextCursor: string | null }> {
  let q = whereMeterFilter(database.db.selectFrom('meters'), f)
    .selectAll()
    .orderBy('external_id')
    .limit(f.limit + 1); // one extra row tells whether another page follows
  if (f.cursor !== undefined) q = q.where('external_id', '>', f.cursor);
  const rows = await q.execute();
  const page = rows.slice(0, f.limit).map(toMeterOut);
  return { meters: page, nextCursor: rows.length > f.limit ? page[page.length - 1].id : null };
}

/**
 * The registry filters of `f` (all but cursor and limit) on a query over `meters`: listMeters and the status
 * list (sql/meter-status.repository.ts) filter alike.
 */
export function whereMeterFilter<O>(q: SelectQueryBuilder<DB, 'meters', O>, f: Omit<MeterFilter, 'cursor' | 'limit'>): SelectQueryBuilder<DB, 'meters', O> {
  if (f.group !== undefined) q = q.where('group', '=', f.group);
  if (f.portfolio !== undefined) q = q.where('portfolio', '=', f.portfolio);
  if (f.commodity !== undefined) q = q.where('commodity', '=', f.commodity);
  // strpos rather than ILIKE: no wildcard escaping of %, _ or \ in the search text.
  if (f.q) q = q.where(sql<boolean>`strpos(lower(external_id), lower(${f.q})) > 0`);
  if (f.region !== undefined) q = q.where('region', '=', f.region);
  if (f.profileClass !== undefined) q = q.where('profile_class', '=', f.profileClass);
  if (f.tariff !== undefined) q = q.where('tariff', '=', f.tariff);
  if (f.label !== undefined) q = q.where(sql<boolean>`labels @> jsonb_build_object(${f.label.key}::text, ${f.label.value}::text)`);
  if (f.openAlarms !== undefined) {
    const open = sql<boolean>`EXISTS (SELECT 1 FROM alarms a WHERE a.meter_id = meters.id AND a.state <> 'closed')`;
    q = q.where(f.openAlarms ? open : sql<boolean>`NOT ${open}`);
  }
  return q;
}

export type MeterRow = {
  external_id: string;
  commodity: string;
  timezone: string;
  interval_minutes: number;
  multiplier: number;
  group: string | null;
  portfolio: string | null;
  profile_class: string | null;
  tariff: string;
  region: string | null;
  labels: Record<string, string>;
  supply_start: string | Date | null;
  supply_end: string | Date | null;
  weather_station: string | null;
  register_digits: number | null;
  gas_area: string | null;
  created_at: Date;
  updated_at: Date;
};

// Both engines are set to return `date` as text; a driver without that parser gives a local-midnight Date.
const dateText = (d: string | Date | null): string | null =>
  d === null ? null : typeof d === 'string' ? d : `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

export function toMeterOut(r: MeterRow): MeterOut {
  return {
    id: r.external_id,
    commodity: r.commodity as (typeof COMMODITIES)[number],
    timezone: r.timezone,
    intervalMinutes: r.interval_minutes,
    multiplier: r.multiplier,
    group: r.group,
    portfolio: r.portfolio,
    profileClass: r.profile_class,
    tariff: r.tariff as (typeof TARIFFS)[number],
    region: r.region,
    labels: r.labels ?? {},
    supplyStart: dateText(r.supply_start),
    supplyEnd: dateText(r.supply_end),
    weatherStation: r.weather_station,
    registerDigits: r.register_digits ?? null,
    gasArea: r.gas_area ?? null,
    createdAt: r.created_at.toISOString(),
    updatedAt: r.updated_at.toISOString(),
  };
}
