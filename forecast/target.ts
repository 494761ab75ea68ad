import { localDate } from '../models/calendar.js';
import { isHolidayCountry } from '../models/holidays.js';
import { DEFAULT_DAY_AHEAD_CUTOFF } from '../models/portfolio.js';
import type { Database } from '../sql/database.js';
import { findWeatherStations, listTargetMeters, loadHourlyHistory, type TargetMeterRow } from '../sql/forecast.repository.js';
import { getPortfolioSettings } from '../sql/portfolio.repository.js';
import type { SeriesData } from './model.js';
import { DAY_MS, HOUR_MS } from '../models/time.js';
import { loadBacktestVintages, loadRunWeather } from './weather-source.js';
import { overallWeatherSource, type WeatherSource, weatherSourceWarning } from './weather-vintages.js';

/**
 * Forecast targets (`meter:M`, `group:G`, `portfolio:P`): parsing, resolving
 * them to member meters and settings, and loading their hourly history and
 * weather from storage as SeriesData for the engine.
 */

export const TARGET_KINDS = ['meter', 'group', 'portfolio'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

export interface TargetRef {
  readonly kind: TargetKind;
  readonly id: string;
}

/**
 * `kind:id` → {kind, id}, or a reason to show the caller.
 * @example parseTarget('portfolio:P1') // { ok: true, target: { kind: 'portfolio', id: 'P1' } }
 */
export function parseTarget(text: string): { ok: true; target: TargetRef } | { ok: false; reason: string } {
  const i = text.indexOf(':');
  const kind = i < 0 ? '' : text.slice(0, i);
  const id = i < 0 ? '' : text.slice(i + 1);
  if (!(TARGET_KINDS as readonly string[]).includes(kind) || id.length === 0 || id.length > 128) {
    return { ok: false, reason: `target "${text}" is not one of portfolio:ID, group:ID, meter:ID (e.g. portfolio:P1, meter:EDS-0001)` };
  }
  return { ok: true, target: { kind: kind as TargetKind, id } };
}

export const targetText = (t: TargetRef): string => `${t.kind}:${t.id}`;

/** Holiday country of a time zone (IANA zones of one country only; `UTC` and the like have none). */
const ZONE_COUNTRY: Readonly<Record<string, string>> = {
  'Europe/Istanbul': 'TR',
  'Asia/Istanbul': 'TR',
  'Europe/Warsaw': 'PL',
  'Europe/Berlin': 'DE',
  'Europe/London': 'GB',
  'Europe/Prague': 'CZ',
  'Europe/Bratislava': 'SK',
  'Europe/Budapest': 'HU',
  'Europe/Vienna': 'AT',
  'Europe/Bucharest': 'RO',
  'Europe/Sofia': 'BG',
  'Europe/Athens': 'GR',
  'Europe/Paris': 'FR',
  'Europe/Madrid': 'ES',
  'Europe/Rome': 'IT',
  'Europe/Amsterdam': 'NL',
  'Europe/Brussels': 'BE',
  'Europe/Kyiv': 'UA',
  'Europe/Kiev': 'UA',
  'Europe/Vilnius': 'LT',
  'Europe/Riga': 'LV',
  'Europe/Tallinn': 'EE',
  'Europe/Helsinki': 'FI',
  'Europe/Stockholm': 'SE',
  'Europe/Oslo': 'NO',
  'Europe/Copenhagen': 'DK',
  'Europe/Dublin': 'IE',
  'Europe/Lisbon': 'PT',
  'Europe/Zurich': 'CH',
  'Europe/Luxembourg': 'LU',
  'Europe/Ljubljana': 'SI',
  'Europe/Zagreb': 'HR',
  'Europe/Belgrade': 'RS',
  'Europe/Sarajevo': 'BA',
  'Europe/Skopje': 'MK',
  'Europe/Podgorica': 'ME',
  'Europe/Tirane': 'AL',
  'Europe/Chisinau': 'MD',
  'Europe/Malta': 'MT',
  'Asia/Nicosia': 'CY',
};

/**
 * Holiday country of a time zone, or null when the zone names no country
 * (`UTC`, `Etc/GMT-3`, a zone not in the table): never a default country
 * (issue 12, defect 14).
 * @example countryOfZone('Europe/London') // 'GB'; countryOfZone('UTC') // null
 */
export const countryOfZone = (tz: string): string | null => ZONE_COUNTRY[tz] ?? null;

/** The holiday calendar a run uses and where it comes from (a top-level field of every run). */
export interface HolidayChoice {
  /** ISO country (optionally with region) of the calendar; null: no holiday calendar. */
  readonly country: string | null;
  readonly source: string;
  /** Set when no calendar applies: why, and how to get one. */
  readonly warning?: string;
}

/**
 * The holiday calendar of a target: the portfolio's market area when it is a
 * country date-holidays knows whose zone the target uses (`GB-ENG` in
 * Europe/London), else the zone's country, else none with a warning. The
 * area alone never decides: PUT /v1/portfolios stores `TR` when no area is
 * given, and a UTC-logged British portfolio must not get Turkish holidays.
 * @example holidayChoice('UTC', 'TR') // { country: null, source: 'none', warning: 'no holiday calendar: …' }
 */
export function holidayChoice(timezone: string, area?: string): HolidayChoice {
  const zoneCountry = countryOfZone(timezone);
  const areaCountry = area && isHolidayCountry(area) ? area : undefined;
  if (areaCountry && zoneCountry && areaCountry.slice(0, 2) === zoneCountry) return { country: areaCountry, source: `portfolio area ${areaCountry} (time zone ${timezone})` };
  if (zoneCountry) {
    return { country: zoneCountry, source: `time zone ${timezone}${areaCountry ? ` (the portfolio area ${areaCountry} is not the country of that zone)` : ''}` };
  }
  return {
    country: null,
    source: 'none',
    warning:
      `no holiday calendar: time zone "${timezone}" names no country${areaCountry ? ` and the portfolio area ${areaCountry} is not the country of that zone` : ''}, ` +
      `so every date is forecast as an ordinary day; set the ${area === undefined ? "meters' timezone" : "portfolio's timezone (PUT /v1/portfolios/:id)"} to the local zone of the meters (e.g. Europe/London) to use that country's holidays`,
  };
}

/** A target with what a forecast of it needs to know. */
export interface ResolvedTarget {
  readonly ref: TargetRef;
  /** `kind:id` */
  readonly text: string;
  /** Local days and day types of the target (portfolio settings; a group: its meters' most common zone). */
  readonly timezone: string;
  /** Holiday country (holidays.country): null = no holiday calendar. */
  readonly country: string | null;
  /** The holiday calendar and where it comes from (holidayChoice). */
  readonly holidays: HolidayChoice;
  readonly dayAheadCutoff: string;
  /** External id of the target's weather station (portfolio settings, else the members' most common), or null. */
  readonly weatherStation: string | null;
  readonly meters: readonly TargetMeterRow[];
}

function mostCommon(values: readonly (string | null)[]): string | null {
  const counts = new Map<string, number>();
  for (const v of values) if (v !== null) counts.set(v, (counts.get(v) ?? 0) + 1);
  let best: string | null = null;
  for (const [v, n] of counts) if (best === null || n > counts.get(best)! || (n === counts.get(best)! && v < best)) best = v;
  return best;
}

/** Why a target cannot be resolved: `unknown` (no such meter/group/portfolio, 404) or `invalid` (it exists but is not forecast, 400). */
export type UnresolvedTarget = { ok: false; kind: 'unknown' | 'invalid'; reason: string };

/**
 * Member meters and settings of a target, or a reason it cannot be
 * forecast: unknown meter, group or portfolio without meters (`unknown`), a
 * weather station named as a meter (`invalid`).
 */
export async function resolveTarget(database: Database, ref: TargetRef): Promise<{ ok: true; target: ResolvedTarget } | UnresolvedTarget> {
  const meters = await listTargetMeters(database, ref);
  const text = targetText(ref);
  if (meters.length === 0) {
    if (ref.kind === 'meter' && (await findWeatherStations(database, [ref.id])).size) {
      return {
        ok: false,
        kind: 'invalid',
        reason: `meter "${ref.id}" is a weather station (commodity weather): its temperatures feed the forecasts of the meters and portfolios that name it as weatherStation; it is not forecast itself`,
      };
    }
    const reason =
      ref.kind === 'meter'
        ? `meter "${ref.id}" is not registered: register it with PUT /v1/meters first`
        : `${ref.kind} "${ref.id}" has no meters: set "${ref.kind}": "${ref.id}" on its meters with PUT /v1/meters`;
    return { ok: false, kind: 'unknown', reason };
  }
  if (ref.kind === 'portfolio') {
    // It has member meters, so it resolves: stored settings, else the members' most common zone and station.
    const s = (await getPortfolioSettings(database, ref.id))!;
    const holidays = holidayChoice(s.timezone, s.stored ? s.area : '');
    return {
      ok: true,
      target: { ref, text, meters, timezone: s.timezone, country: holidays.country, holidays, dayAheadCutoff: s.dayAheadCutoff, weatherStation: s.weatherStation },
    };
  }
  const timezone = mostCommon(meters.map((m) => m.timezone))!;
  const holidays = holidayChoice(timezone);
  return {
    ok: true,
    target: {
      ref,
      text,
      meters,
      timezone,
      country: holidays.country,
      holidays,
      dayAheadCutoff: DEFAULT_DAY_AHEAD_CUTOFF,
      weatherStation: mostCommon(meters.map((m) => m.weatherStation)),
    },
  };
}

/** Members in supply on some local day of [fromMs, toMs): supplyStart ≤ last day and supplyEnd ≥ first day. */
export function metersInSupply(meters: readonly TargetMeterRow[], fromMs: number, toMs: number): TargetMeterRow[] {
  return meters.filter((m) => {
    const first = localDate(fromMs, m.timezone);
    const last = localDate(toMs - 1, m.timezone);
    return (m.supplyStart === null || m.supplyStart <= last) && (m.supplyEnd === null || m.supplyEnd >= first);
  });
}

export interface TargetSeries {
  /** One series per member meter (`meter:M`), in the order of `meters`; values after the cut-off are NaN. */
  readonly members: SeriesData[];
  /** Σ of the members per hour (`group:G`, `portfolio:P`); NaN where a member has no value. Undefined for a meter target. */
  readonly aggregate?: SeriesData;
  /** The grid: first hour and hours. */
  readonly startMs: number;
  readonly hours: number;
  /** Hours with a value per member (history only), for the run's metadata. */
  readonly coverage: { readonly meter: string; readonly hours: number; readonly estimated: number }[];
  /**
   * The target's weather station (null: none), hours of temperature loaded,
   * where the temperatures after the data cut-off come from (forecast/weather-source.ts:
   * the whole run's, then per station, with the vintages read) and the warning
   * a reader must see when they are simulated.
   */
  readonly weather: {
    readonly station: string | null;
    readonly hours: number;
    readonly source: WeatherSource;
    readonly stations: readonly {
      readonly station: string;
      readonly source: WeatherSource;
      readonly forecastHours: number;
      readonly vintages: readonly string[];
      /** Vintages issued in the history, read by the backtest origins (each the newest by its own cut-off). */
      readonly backtestVintages: number;
    }[];
    /** More vintages than BACKTEST_MAX_VINTAGES: the oldest were left out of the backtests. */
    readonly backtestVintagesTruncated?: boolean;
    readonly warning?: string;
  };
}

/**
 * Hourly history of a target's `meters` from `historyFromMs` up to the data
 * cut-off, on a grid that runs on to `toMs` (the end of the horizon; NaN
 * there), with each meter's weather station temperature over the whole grid:
 * observations before the data cut-off, from it on the newest weather forecast
 * vintage issued by the cut-off, else the observations through the error
 * model (forecast/weather-source.ts loadRunWeather). Three
 * statements whatever the number of meters on a server (one for readings,
 * two for weather); on the embedded database the readings a few meters at a
 * time (loadHistory).
 */
/** Meters per history statement on the embedded database (see loadHistory). */
const EMBEDDED_HISTORY_METERS = 4;

/**
 * The members' hourly history: one statement on a server; on the embedded
 * database (PGlite runs each statement on the service's only thread, the
 * API's) a few meters per statement with a turn of the event loop between,
 * so that a run over many meters does not hold the API for the whole read.
 */
async function loadHistory(database: Database, meters: readonly TargetMeterRow[], fromMs: number, toMs: number): Promise<Awaited<ReturnType<typeof loadHourlyHistory>>> {
  if (database.engine !== 'pglite' || meters.length <= EMBEDDED_HISTORY_METERS) return loadHourlyHistory(database, { meters, fromMs, toMs });
  const out: Awaited<ReturnType<typeof loadHourlyHistory>> = new Map();
  for (let i = 0; i < meters.length; i += EMBEDDED_HISTORY_METERS) {
    if (i > 0) await new Promise((r) => setImmediate(r));
    for (const [id, h] of await loadHourlyHistory(database, { meters: meters.slice(i, i + EMBEDDED_HISTORY_METERS), fromMs, toMs })) out.set(id, h);
  }
  return out;
}

export async function loadTargetSeries(
  database: Database,
  target: ResolvedTarget,
  meters: readonly TargetMeterRow[],
  p: { historyFromMs: number; dataCutoffMs: number; toMs: number },
): Promise<TargetSeries> {
  const startMs = Math.floor(p.historyFromMs / HOUR_MS) * HOUR_MS;
  const hours = Math.max(0, Math.ceil((p.toMs - startMs) / HOUR_MS));
  const cutoff = Math.max(startMs, Math.floor(p.dataCutoffMs / HOUR_MS) * HOUR_MS);
  const history = await loadHistory(database, meters, startMs, cutoff);
  const stationNames = [...new Set([target.weatherStation, ...meters.map((m) => m.weatherStation)].filter((s): s is string => s !== null))];
  const stationIds = await findWeatherStations(database, stationNames);
  const weather = await loadRunWeather(database, { stations: stationNames, stationIds, startMs, hours, cutoffMs: Math.max(startMs, p.dataCutoffMs) });
  const tempOf = (name: string | null) => (name === null ? undefined : weather.get(name)?.temperature);
  const backtestVintages = await loadBacktestVintages(database, { stations: stationNames, startMs, cutoffMs: Math.max(startMs, p.dataCutoffMs) });
  // A series with a temperature grid carries its station's vintages: the backtest origins read them (forecast/backtest.ts seriesAsOf).
  const weatherOf = (name: string | null) => {
    const temperature = tempOf(name);
    const temperatureVintages = name === null ? undefined : backtestVintages.sets.get(name);
    return temperature ? { temperature, ...(temperatureVintages ? { temperatureVintages } : {}) } : {};
  };
  const widen = (g: { values: Float64Array; estimated: Uint8Array }) => {
    const values = new Float64Array(hours).fill(NaN);
    values.set(g.values.subarray(0, Math.min(g.values.length, hours)));
    const estimated = new Uint8Array(hours);
    estimated.set(g.estimated.subarray(0, Math.min(g.estimated.length, hours)));
    return { values, estimated };
  };
  const coverage: TargetSeries['coverage'][number][] = [];
  const members: SeriesData[] = meters.map((m) => {
    const g = widen(history.get(m.id)!);
    let n = 0;
    let est = 0;
    for (let i = 0; i < g.values.length; i++) if (!Number.isNaN(g.values[i])) n++, (est += g.estimated[i]);
    coverage.push({ meter: m.externalId, hours: n, estimated: est });
    return { id: `meter:${m.externalId}`, timezone: m.timezone, startMs, values: g.values, estimated: g.estimated, ...weatherOf(m.weatherStation ?? target.weatherStation) };
  });
  const targetTemp = tempOf(target.weatherStation);
  let weatherHours = 0;
  if (targetTemp) for (const v of targetTemp) if (!Number.isNaN(v)) weatherHours++;
  let aggregate: SeriesData | undefined;
  if (target.ref.kind !== 'meter') {
    const values = new Float64Array(hours);
    const estimated = new Uint8Array(hours);
    for (const s of members) {
      for (let i = 0; i < hours; i++) {
        values[i] += s.values[i];
        if (s.estimated![i]) estimated[i] = 1;
      }
    }
    aggregate = { id: target.text, timezone: target.timezone, startMs, values, estimated, ...weatherOf(target.weatherStation) };
  }
  const used = new Map([...weather].filter(([name]) => name === target.weatherStation || meters.some((m) => (m.weatherStation ?? target.weatherStation) === name)));
  const stations = [...used].map(([station, w]) => ({
    station,
    source: w.source,
    forecastHours: w.forecastHours,
    vintages: w.vintages,
    backtestVintages: backtestVintages.sets.get(station)?.issuedAt.length ?? 0,
  }));
  const warning = weatherSourceWarning(used);
  return {
    members,
    aggregate,
    startMs,
    hours,
    coverage,
    weather: {
      station: targetTemp ? target.weatherStation : null,
      hours: weatherHours,
      source: overallWeatherSource(stations.map((s) => s.source)),
      stations,
      ...(backtestVintages.truncated ? { backtestVintagesTruncated: true } : {}),
      ...(warning ? { warning } : {}),
    },
  };
}

/** Days of history loaded before the horizon, per horizon (models read lags up to D−14 and a year for the profile/ML). */
export const HISTORY_DAYS: Readonly<Record<string, number>> = {
  intraday: 366,
  'day-ahead': 366,
  'week-ahead': 366,
  'month-ahead': 366,
  'long-term': 3 * 366,
};

export const historyFromMs = (horizon: string, dataCutoffMs: number): number => dataCutoffMs - (HISTORY_DAYS[horizon] ?? 366) * DAY_MS;
