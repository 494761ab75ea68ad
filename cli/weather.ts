import { readFileSync } from 'node:fs';
import { decodeCsvBytes } from '../adapters/file/csv.js';
import { parseWeatherForecastCsv } from '../adapters/weather/forecast-csv.js';
import { fetchOpenMeteoForecast } from '../adapters/weather/open-meteo.js';
import type { Config } from '../models/config.js';
import { csvLine } from '../models/csv-format.js';
import { HOUR_MS } from '../models/time.js';
import { type ForecastReject, MAX_LOCATION_CHARS, type ParsedForecastRow, parseInstant } from '../models/weather-forecast.js';
import type { Database } from '../sql/database.js';
import { listWeatherVintages, upsertWeatherForecasts } from '../sql/weather.repository.js';
import { CliError, UsageError, type Io } from './io.js';

/**
 * `mdm weather import|fetch|list` (docs/forecasting.md "Weather forecasts and
 * vintages"): weather forecast vintages from a file or the provider, the
 * paths of POST /v1/weather/forecasts and POST /v1/weather/forecasts/fetch.
 */

export const WEATHER_USAGE = {
  import: 'weather import FILE.csv [--location WX] [--issued-at ISO]',
  fetch: 'weather fetch --location WX --latitude LAT --longitude LON [--days 7] [--model M] [--run ISO] [--delay-hours 6]',
  list: 'weather list [--location WX] [--limit 50]',
} as const;

function location(v: string | undefined, usage: string, required: boolean): string | undefined {
  if (v === undefined) {
    if (required) throw new UsageError(`--location is required (usage: mdm ${usage})`);
    return undefined;
  }
  if (v.length === 0 || v.length > MAX_LOCATION_CHARS) throw new UsageError(`--location must be 1–${MAX_LOCATION_CHARS} characters (usage: mdm ${usage})`);
  return v;
}

function instantFlag(v: string | undefined, flag: string, usage: string): number | undefined {
  if (v === undefined) return undefined;
  const t = parseInstant(v, flag);
  if (typeof t === 'string') throw new UsageError(`${t} (usage: mdm ${usage})`);
  return t;
}

function numberFlag(v: string | undefined, flag: string, range: { min: number; max: number; int?: boolean }, usage: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < range.min || n > range.max || (range.int && !Number.isInteger(n))) {
    throw new UsageError(`--${flag} must be ${range.int ? 'an integer' : 'a number'} in ${range.min}..${range.max}, not "${v}" (usage: mdm ${usage})`);
  }
  return n;
}

async function storeAndReport(database: Database, io: Io, what: string, rows: readonly ParsedForecastRow[], rejected: readonly ForecastReject[], source: string): Promise<number> {
  for (const r of rejected.slice(0, 20)) io.out(`  rejected line ${r.line}: ${r.reason}\n`);
  if (rejected.length > 20) io.out(`  … and ${rejected.length - 20} more rejected\n`);
  if (rows.length === 0) throw new CliError(`${what}: no forecast hour to store (${rejected.length} rejected)`);
  const stored = await upsertWeatherForecasts(database, rows, source);
  const vintages = new Map<string, number>();
  for (const r of rows) {
    const k = `${r.location} issued ${r.issuedAt.toISOString()}`;
    vintages.set(k, (vintages.get(k) ?? 0) + 1);
  }
  io.out(`${what}: ${stored} forecast hour(s) stored in ${vintages.size} vintage(s), ${rejected.length} rejected\n`);
  for (const [k, n] of [...vintages].slice(0, 20)) io.out(`  ${k}: ${n} hour(s)\n`);
  return 0;
}

export async function weatherImportCommand(database: Database, io: Io, file: string, v: { location?: string; issuedAt?: string }): Promise<number> {
  const usage = WEATHER_USAGE.import;
  let text: string;
  try {
    text = decodeCsvBytes(readFileSync(file));
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  let parsed;
  try {
    parsed = parseWeatherForecastCsv(text, { location: location(v.location, usage, false), issuedAt: instantFlag(v.issuedAt, 'issued-at', usage) });
  } catch (err) {
    throw new CliError(`${file}: ${(err as Error).message}`, { cause: err });
  }
  return storeAndReport(database, io, file, parsed.rows, parsed.rejected, 'file');
}

export async function weatherFetchCommand(
  database: Database,
  io: Io,
  config: Pick<Config, 'WEATHER_FORECAST_URL' | 'WEATHER_SINGLE_RUNS_URL' | 'WEATHER_FETCH_TIMEOUT_MS'>,
  v: { location?: string; latitude?: string; longitude?: string; days?: string; model?: string; run?: string; delayHours?: string },
): Promise<number> {
  const usage = WEATHER_USAGE.fetch;
  const loc = location(v.location, usage, true)!;
  const latitude = numberFlag(v.latitude, 'latitude', { min: -90, max: 90 }, usage);
  const longitude = numberFlag(v.longitude, 'longitude', { min: -180, max: 180 }, usage);
  if (latitude === undefined || longitude === undefined) throw new UsageError(`--latitude and --longitude are required (usage: mdm ${usage})`);
  if (v.model !== undefined && !/^[a-z0-9_]{1,64}$/.test(v.model)) throw new UsageError(`--model must be a model name such as ecmwf_ifs025 (usage: mdm ${usage})`);
  const runMs = instantFlag(v.run, 'run', usage);
  if (runMs !== undefined && runMs % HOUR_MS !== 0) throw new UsageError(`--run: a model run starts on the hour (usage: mdm ${usage})`);
  let r;
  try {
    r = await fetchOpenMeteoForecast(
      { location: loc, latitude, longitude, forecastDays: numberFlag(v.days, 'days', { min: 1, max: 16, int: true }, usage) ?? 7, model: v.model, runMs },
      {
        urls: { forecast: config.WEATHER_FORECAST_URL, singleRuns: config.WEATHER_SINGLE_RUNS_URL },
        now: io.now(),
        timeoutMs: config.WEATHER_FETCH_TIMEOUT_MS,
        availabilityDelayMs: (numberFlag(v.delayHours, 'delay-hours', { min: 0, max: 48 }, usage) ?? 6) * HOUR_MS,
      },
    );
  } catch (err) {
    throw new CliError((err as Error).message, { cause: err });
  }
  io.err(`mdm: ${r.url}\n`);
  return storeAndReport(database, io, `${loc} (issued ${new Date(r.issuedAt).toISOString()})`, r.rows, r.rejected, `open-meteo${v.model ? `:${v.model}` : ''}`);
}

export async function weatherListCommand(database: Database, io: Io, v: { location?: string; limit?: string }): Promise<number> {
  const usage = WEATHER_USAGE.list;
  const vintages = await listWeatherVintages(database, { location: location(v.location, usage, false), limit: numberFlag(v.limit, 'limit', { min: 1, max: 1000, int: true }, usage) ?? 50 });
  io.out(csvLine(['location', 'issued_at', 'source', 'hours', 'first_hour', 'last_hour', 'min_temperature', 'max_temperature']));
  for (const x of vintages) {
    io.out(csvLine([x.location, x.issuedAt.toISOString(), x.source, x.hours, x.firstHour.toISOString(), x.lastHour.toISOString(), x.minTemperature, x.maxTemperature]));
  }
  return 0;
}
