import { sql } from 'kysely';
import type { Database } from './database.js';
import { packedView } from './packed.js';

/**
 * Weather forecast vintages (migration 027): many forecasts of the same hour
 * per location, each with the instant it was issued. Observed temperatures
 * stay in `readings` (sql/forecast.repository.ts loadStationTemperature).
 */

const HOUR = 3_600_000;
/** Rows per INSERT statement (four arrays of this length). */
const CHUNK = 20_000;

export interface WeatherForecastRow {
  readonly location: string;
  readonly issuedAt: Date;
  /** Start of the forecast hour. */
  readonly validTime: Date;
  /** °C */
  readonly temperature: number;
}

/**
 * Stores forecast rows of one source in one transaction; a row with the same
 * location, issue time and hour as a stored one (or an earlier one given)
 * replaces its temperature. Returns the number of rows written.
 */
export async function upsertWeatherForecasts(database: Database, given: readonly WeatherForecastRow[], source: string): Promise<number> {
  // One row per key (the last one given wins): an INSERT … ON CONFLICT may not touch a row twice.
  const byKey = new Map<string, WeatherForecastRow>();
  for (const r of given) byKey.set(`${r.location}\u0000${r.validTime.getTime()}\u0000${r.issuedAt.getTime()}`, r);
  const rows = [...byKey.values()];
  if (rows.length === 0) return 0;
  return database.session(async ({ db }) => {
    // Five arrays per statement whatever the number of rows (unnest), not five parameters a row.
    for (let i = 0; i < rows.length; i += CHUNK) {
      const part = rows.slice(i, i + CHUNK);
      await sql`
        INSERT INTO weather_forecasts (location, issued_at, valid_time, temperature, source)
        SELECT l, i, v, t, ${source} FROM unnest(
          ${part.map((r) => r.location)}::text[], ${part.map((r) => r.issuedAt.toISOString())}::timestamptz[],
          ${part.map((r) => r.validTime.toISOString())}::timestamptz[], ${part.map((r) => r.temperature)}::float8[]) AS u(l, i, v, t)
        ON CONFLICT (location, valid_time, issued_at) DO UPDATE SET temperature = excluded.temperature, source = excluded.source, imported_at = now()`.execute(db);
    }
    return rows.length;
  });
}

/** The hours [fromMs, toMs) of a location as forecast by the newest vintage issued at or before the cut-off. */
export interface VintageGrid {
  /** °C per hour from fromMs; NaN where no vintage issued by the cut-off covers the hour. */
  readonly values: Float64Array;
  /** Issue time (ms) of the vintage each hour comes from; NaN where none. */
  readonly issuedAt: Float64Array;
}

/**
 * Per location, for each hour in [fromMs, toMs), the temperature of the
 * newest vintage with issued_at ≤ cutoffMs that covers the hour (a vintage
 * issued after the cut-off is never read). Locations without such a vintage
 * are absent from the map. One statement.
 */
export async function loadVintageTemperature(database: Database, p: { locations: readonly string[]; cutoffMs: number; fromMs: number; toMs: number }): Promise<Map<string, VintageGrid>> {
  const out = new Map<string, VintageGrid>();
  const n = Math.max(0, Math.round((p.toMs - p.fromMs) / HOUR));
  if (p.locations.length === 0 || n === 0) return out;
  const rows = await database.db
    .selectFrom('weather_forecasts')
    .distinctOn(['location', 'valid_time'])
    .select(['location', 'valid_time', 'issued_at', 'temperature'])
    .where(sql<boolean>`location = any(${p.locations as string[]}::text[])`)
    .where('issued_at', '<=', new Date(p.cutoffMs))
    .where('valid_time', '>=', new Date(p.fromMs))
    .where('valid_time', '<', new Date(p.toMs))
    .orderBy('location')
    .orderBy('valid_time')
    .orderBy('issued_at', 'desc')
    .execute();
  for (const r of rows) {
    let g = out.get(r.location);
    if (!g) out.set(r.location, (g = { values: new Float64Array(n).fill(Number.NaN), issuedAt: new Float64Array(n).fill(Number.NaN) }));
    const i = Math.floor((r.valid_time.getTime() - p.fromMs) / HOUR);
    if (i >= 0 && i < n) {
      g.values[i] = Number(r.temperature);
      g.issuedAt[i] = r.issued_at.getTime();
    }
  }
  return out;
}

/** One stored vintage: a location's forecast issued at one instant. */
export interface WeatherVintage {
  readonly location: string;
  readonly issuedAt: Date;
  readonly source: string;
  readonly hours: number;
  readonly firstHour: Date;
  readonly lastHour: Date;
  readonly minTemperature: number;
  readonly maxTemperature: number;
  readonly importedAt: Date;
}

/**
 * Stored vintages, newest issue first: optionally of one location, issued in
 * [issuedFrom, issuedTo), or covering some hour of [validFrom, validTo).
 * At most `limit` rows, and those issued before `beforeIssuedAt` (the cursor).
 */
export async function listWeatherVintages(
  database: Database,
  p: { location?: string; issuedFrom?: Date; issuedTo?: Date; validFrom?: Date; validTo?: Date; limit: number },
): Promise<WeatherVintage[]> {
  let q = database.db
    .selectFrom('weather_forecasts')
    .select((eb) => [
      'location',
      'issued_at',
      sql<string>`min(source)`.as('source'),
      eb.fn.countAll<string>().as('hours'),
      eb.fn.min('valid_time').as('first_hour'),
      eb.fn.max('valid_time').as('last_hour'),
      eb.fn.min('temperature').as('min_t'),
      eb.fn.max('temperature').as('max_t'),
      eb.fn.max('imported_at').as('imported_at'),
    ])
    .groupBy(['location', 'issued_at']);
  if (p.location !== undefined) q = q.where('location', '=', p.location);
  if (p.issuedFrom) q = q.where('issued_at', '>=', p.issuedFrom);
  if (p.issuedTo) q = q.where('issued_at', '<', p.issuedTo);
  if (p.validFrom) q = q.having((eb) => eb.fn.max('valid_time'), '>=', p.validFrom);
  if (p.validTo) q = q.having((eb) => eb.fn.min('valid_time'), '<', p.validTo);
  const rows = await q.orderBy('issued_at', 'desc').orderBy('location').limit(p.limit).execute();
  return rows.map((r) => ({
    location: r.location,
    issuedAt: r.issued_at,
    source: r.source,
    hours: Number(r.hours),
    firstHour: new Date(r.first_hour),
    lastHour: new Date(r.last_hour),
    minTemperature: Number(r.min_t),
    maxTemperature: Number(r.max_t),
    importedAt: new Date(r.imported_at),
  }));
}

/** The hours of one vintage (a location's forecast issued at `issuedAt`), in hour order; empty when none is stored. */
export async function getWeatherVintage(database: Database, p: { location: string; issuedAt: Date; limit: number }): Promise<{ validTime: Date; temperature: number }[]> {
  const rows = await database.db
    .selectFrom('weather_forecasts')
    .select(['valid_time', 'temperature'])
    .where('location', '=', p.location)
    .where('issued_at', '=', p.issuedAt)
    .orderBy('valid_time')
    .limit(p.limit)
    .execute();
  return rows.map((r) => ({ validTime: r.valid_time, temperature: Number(r.temperature) }));
}

/** Deletes one vintage; returns the hours deleted (0: none stored). */
export async function deleteWeatherVintage(database: Database, p: { location: string; issuedAt: Date }): Promise<number> {
  const r = await database.db.deleteFrom('weather_forecasts').where('location', '=', p.location).where('issued_at', '=', p.issuedAt).executeTakeFirst();
  return Number(r.numDeletedRows);
}

/** One location's vintages for backtests, as flat arrays (forecast/weather-vintages.ts VintageSet). */
export interface VintageArrays {
  /** Ascending. */
  readonly issuedAt: Float64Array;
  readonly startMs: Float64Array;
  /** Length: vintages + 1. */
  readonly offsets: Uint32Array;
  /** °C per hour from startMs[k]; NaN where the vintage has no hour. */
  readonly values: Float64Array;
}

/**
 * The vintages of `locations` issued in [issuedFromMs, issuedToMs], each with
 * its hours up to `maxLeadHours` after its issue time, for the backtests of a
 * run (each origin reads the newest one issued by its own cut-off). At most
 * `maxVintages`, the newest: when there are more, the oldest are left out
 * (`truncated`), whose origins fall back to the error model. One statement,
 * one row per vintage (its hours packed in a bytea).
 */
export async function loadVintageSets(
  database: Database,
  p: { locations: readonly string[]; issuedFromMs: number; issuedToMs: number; maxLeadHours: number; maxVintages: number },
): Promise<{ sets: Map<string, VintageArrays>; truncated: boolean }> {
  const sets = new Map<string, VintageArrays>();
  if (p.locations.length === 0 || p.issuedToMs < p.issuedFromMs) return { sets, truncated: false };
  // One row per vintage, its hours packed (sql/packed.ts): 12 bytes an hour, int4 hour since the epoch and float8 °C.
  const { rows } = await sql<{ location: string; issued: number; packed: Uint8Array }>`
    SELECT location, extract(epoch FROM issued_at)::float8 * 1000 AS issued,
           string_agg(int4send((extract(epoch FROM valid_time) / 3600)::int) || float8send(temperature), ''::bytea ORDER BY valid_time) AS packed
    FROM weather_forecasts
    WHERE location = ANY(${p.locations as string[]}::text[])
      AND issued_at >= ${new Date(p.issuedFromMs)} AND issued_at <= ${new Date(p.issuedToMs)}
      AND valid_time < issued_at + make_interval(hours => ${Math.round(p.maxLeadHours)})
    GROUP BY location, issued_at
    ORDER BY issued_at DESC, location
    LIMIT ${p.maxVintages + 1}`.execute(database.db);
  const truncated = rows.length > p.maxVintages;
  const byLocation = new Map<string, typeof rows>();
  for (const r of rows.slice(0, p.maxVintages)) {
    const list = byLocation.get(r.location) ?? [];
    list.push(r);
    byLocation.set(r.location, list);
  }
  for (const [location, newestFirst] of byLocation) {
    const list = newestFirst.reverse().map((x) => ({ issued: Number(x.issued), view: packedView(x.packed) }));
    const offsets = new Uint32Array(list.length + 1);
    const first = list.map((x) => x.view.getInt32(0));
    let total = 0;
    list.forEach((x, k) => {
      offsets[k] = total;
      total += x.view.getInt32(x.view.byteLength - 12) - first[k] + 1;
    });
    offsets[list.length] = total;
    const values = new Float64Array(total).fill(Number.NaN);
    list.forEach((x, k) => {
      for (let o = 0; o + 12 <= x.view.byteLength; o += 12) values[offsets[k] + x.view.getInt32(o) - first[k]] = x.view.getFloat64(o + 4);
    });
    sets.set(location, {
      issuedAt: Float64Array.from(list, (x) => x.issued),
      startMs: Float64Array.from(first, (h) => h * HOUR),
      offsets,
      values,
    });
  }
  return { sets, truncated };
}
