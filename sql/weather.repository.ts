import { sql } from 'kysely';
import type { Database } from './database.js';

/**
 * Weather forecast vintages (migration 027): many forecasts of the same hour
 * per location, each with the instant it was issued. Observed temperatures
 * stay in `readings` (sql/forecast.repository.ts loadStationTemperature).
 */

const HOUR = 3_600_000;
/** Rows per INSERT statement (5 parameters a row, well below the 65 535 bind limit). */
const CHUNK = 2_000;

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
    for (let i = 0; i < rows.length; i += CHUNK) {
      await db
        .insertInto('weather_forecasts')
        .values(rows.slice(i, i + CHUNK).map((r) => ({ location: r.location, issued_at: r.issuedAt, valid_time: r.validTime, temperature: r.temperature, source })))
        .onConflict((oc) =>
          oc.columns(['location', 'valid_time', 'issued_at']).doUpdateSet((eb) => ({ temperature: eb.ref('excluded.temperature'), source: eb.ref('excluded.source'), imported_at: sql`now()` })),
        )
        .execute();
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
 * `maxRows` hours in all: when there are more, the oldest vintages are left
 * out (`truncated`), whose origins fall back to the error model. One statement.
 */
export async function loadVintageSets(
  database: Database,
  p: { locations: readonly string[]; issuedFromMs: number; issuedToMs: number; maxLeadHours: number; maxRows: number },
): Promise<{ sets: Map<string, VintageArrays>; truncated: boolean }> {
  const sets = new Map<string, VintageArrays>();
  if (p.locations.length === 0 || p.issuedToMs < p.issuedFromMs) return { sets, truncated: false };
  const rows = await database.db
    .selectFrom('weather_forecasts')
    .select(['location', 'issued_at', 'valid_time', 'temperature'])
    .where(sql<boolean>`location = any(${p.locations as string[]}::text[])`)
    .where('issued_at', '>=', new Date(p.issuedFromMs))
    .where('issued_at', '<=', new Date(p.issuedToMs))
    .where(sql<boolean>`valid_time < issued_at + make_interval(hours => ${p.maxLeadHours})`)
    .orderBy('issued_at', 'desc')
    .orderBy('location')
    .orderBy('valid_time')
    .limit(p.maxRows + 1)
    .execute();
  const truncated = rows.length > p.maxRows;
  // Group by location and vintage (rows come newest vintage first, hours ascending), then lay each location's vintages out oldest first.
  const byLocation = new Map<string, { issuedAt: number; hours: { t: number; v: number }[] }[]>();
  let cut = truncated ? rows[p.maxRows - 1].issued_at.getTime() : Number.NEGATIVE_INFINITY;
  if (truncated && rows[p.maxRows].issued_at.getTime() === cut) cut += 1; // a vintage cut in two is left out whole
  for (const r of rows.slice(0, p.maxRows)) {
    const issued = r.issued_at.getTime();
    if (issued < cut) continue;
    let list = byLocation.get(r.location);
    if (!list) byLocation.set(r.location, (list = []));
    let last = list[list.length - 1];
    if (!last || last.issuedAt !== issued) list.push((last = { issuedAt: issued, hours: [] }));
    last.hours.push({ t: r.valid_time.getTime(), v: Number(r.temperature) });
  }
  for (const [location, list] of byLocation) {
    list.reverse();
    const offsets = new Uint32Array(list.length + 1);
    let total = 0;
    list.forEach((x, k) => {
      offsets[k] = total;
      total += Math.round((x.hours[x.hours.length - 1].t - x.hours[0].t) / HOUR) + 1;
    });
    offsets[list.length] = total;
    const values = new Float64Array(total).fill(Number.NaN);
    list.forEach((x, k) => {
      for (const h of x.hours) values[offsets[k] + Math.round((h.t - x.hours[0].t) / HOUR)] = h.v;
    });
    sets.set(location, {
      issuedAt: Float64Array.from(list, (x) => x.issuedAt),
      startMs: Float64Array.from(list, (x) => x.hours[0].t),
      offsets,
      values,
    });
  }
  return { sets, truncated };
}
