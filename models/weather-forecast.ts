import { HOUR_MS } from './time.js';

/**
 * Weather forecast vintages (issue 20, item 1): the checks every import path
 * shares (a file: adapters/weather/forecast-csv.ts; a provider:
 * adapters/weather/open-meteo.ts; JSON rows: api/routes/weather.route.ts).
 * Pure.
 */

/** Rows of one import at most (a station's hourly 16-day forecast is 384 rows; a year of daily vintages of one station about 140 000). */
export const MAX_WEATHER_ROWS = 200_000;
/** Location names (the weather station's external id) as meters name their weatherStation. */
export const MAX_LOCATION_CHARS = 128;
/** Plausible 2 m temperatures (°C), as the table's CHECK. */
export const TEMPERATURE_RANGE = { min: -90, max: 70 } as const;

export interface ParsedForecastRow {
  readonly location: string;
  readonly issuedAt: Date;
  readonly validTime: Date;
  readonly temperature: number;
}

export interface ForecastReject {
  /** CSV line (1-based) or index in a JSON array. */
  readonly line: number;
  readonly reason: string;
}

/** An instant with its offset (`Z` or `±hh:mm`): a forecast without one is ambiguous and refused. */
const INSTANT = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

/** ms of an ISO-8601 instant with an offset, or a reason. */
export function parseInstant(text: string, what: string): number | string {
  const t = text.trim();
  if (!INSTANT.test(t)) return `${what} "${t.slice(0, 40)}" is not an ISO-8601 instant with an offset (e.g. 2019-10-25T06:00:00Z or 2019-10-25T09:00+03:00)`;
  const ms = Date.parse(t.replace(' ', 'T'));
  return Number.isFinite(ms) ? ms : `${what} "${t.slice(0, 40)}" is not a valid date`;
}

/** The row as stored, or why not: hour-aligned time, finite plausible temperature, a location. */
export function checkForecastRow(r: { location?: string; issuedAt: number | string; validTime: number | string; temperature: number }): ParsedForecastRow | string {
  if (typeof r.validTime === 'string') return r.validTime;
  if (typeof r.issuedAt === 'string') return r.issuedAt;
  if (!r.location) return 'no location: give a location column, or the location of the whole file (?location=, --location)';
  if (r.location.length > MAX_LOCATION_CHARS) return `location longer than ${MAX_LOCATION_CHARS} characters`;
  if (r.validTime % HOUR_MS !== 0) return `time ${new Date(r.validTime).toISOString()} is not the start of an hour: forecasts are hourly`;
  if (!Number.isFinite(r.temperature)) return 'temperature is not a number';
  if (r.temperature < TEMPERATURE_RANGE.min || r.temperature > TEMPERATURE_RANGE.max) return `temperature ${r.temperature} °C is outside ${TEMPERATURE_RANGE.min}..${TEMPERATURE_RANGE.max} °C`;
  return { location: r.location, issuedAt: new Date(r.issuedAt), validTime: new Date(r.validTime), temperature: r.temperature };
}
