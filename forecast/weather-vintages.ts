import { HOUR_MS } from '../models/time.js';
import { describeWeatherErrorModel, seedOfText, simulateForecastTemperature } from './weather-error-model.js';

/**
 * Which temperatures a forecast may know at its cut-off (issue 20, item 1),
 * pure: observations before the cut-off; from it on the newest forecast
 * vintage issued at or before the cut-off, else the observations through the
 * error model (forecast/weather-error-model.ts), else nothing. The database
 * side is forecast/weather-source.ts.
 */

/** Hourly forecast temperatures of one location on a grid, with the issue time each hour comes from. */
export interface VintageGrid {
  /** °C per hour; NaN where no vintage issued by the cut-off covers the hour. */
  readonly values: Float64Array;
  /** Issue time (ms) of the vintage each hour comes from; NaN where none. */
  readonly issuedAt: Float64Array;
}

/** Where a run's temperatures after its cut-off come from. */
export const WEATHER_SOURCES = ['forecast-vintage', 'observation-with-error-model', 'none'] as const;
export type WeatherSource = (typeof WEATHER_SOURCES)[number];

/** One station's temperature grid for a run and where its hours after the cut-off come from. */
export interface StationWeather {
  /** °C per hour of the grid; NaN where unknown. */
  readonly temperature: Float64Array;
  readonly source: WeatherSource;
  /** Distinct issue times (ISO) of the vintages read, newest first (at most 10). */
  readonly vintages: readonly string[];
  /** Hours after the cut-off with a value (from vintages or simulated). */
  readonly forecastHours: number;
}

/**
 * A station's grid from its observations and the vintage hours read for the
 * run (pure): hours before `cutoffMs` are the observations; from it on, the
 * vintage's values when a vintage was read (NaN where it has no hour), else
 * the observations through the error model (seeded by the station's name, so
 * a replay gives the same values), else NaN.
 * @example combineWeather(obs, undefined, { startMs, cutoffMs, station: 'WS-1' }).source // 'observation-with-error-model' when obs has hours after the cut-off
 */
export function combineWeather(observed: Float64Array | undefined, vintage: VintageGrid | undefined, p: { startMs: number; cutoffMs: number; station: string; hours: number }): StationWeather {
  const first = Math.min(p.hours, Math.max(0, Math.ceil((p.cutoffMs - p.startMs) / HOUR_MS)));
  const temperature = new Float64Array(p.hours).fill(Number.NaN);
  if (observed) temperature.set(observed.subarray(0, first));
  let forecastHours = 0;
  if (vintage) {
    const issued = new Set<number>();
    for (let i = first; i < p.hours; i++) {
      const v = vintage.values[i];
      if (v === v) (temperature[i] = v), forecastHours++, issued.add(vintage.issuedAt[i]);
    }
    const vintages = [...issued]
      .sort((a, b) => b - a)
      .slice(0, 10)
      .map((t) => new Date(t).toISOString());
    return { temperature, source: 'forecast-vintage', vintages, forecastHours };
  }
  if (observed) {
    let after = 0;
    for (let i = first; i < Math.min(p.hours, observed.length); i++) if (observed[i] === observed[i]) after++;
    if (after > 0) {
      const sim = simulateForecastTemperature(observed.subarray(0, p.hours), { startMs: p.startMs, cutoffMs: p.startMs + first * HOUR_MS, seed: seedOfText(p.station) });
      temperature.set(sim.subarray(first), first);
      return { temperature, source: 'observation-with-error-model', vintages: [], forecastHours: after };
    }
  }
  return { temperature, source: 'none', vintages: [], forecastHours: 0 };
}

/**
 * The run-level source of several stations' weather: the error model when any
 * station used it (the weakest one is what a reader must know), else vintages
 * when any used them, else none.
 */
export function overallWeatherSource(sources: Iterable<WeatherSource>): WeatherSource {
  const all = new Set(sources);
  if (all.has('observation-with-error-model')) return 'observation-with-error-model';
  if (all.has('forecast-vintage')) return 'forecast-vintage';
  return 'none';
}

/** What a run says about a source in its warnings; undefined when there is nothing to say. */
export function weatherSourceWarning(stations: ReadonlyMap<string, StationWeather>): string | undefined {
  const simulated = [...stations].filter(([, w]) => w.source === 'observation-with-error-model').map(([s]) => s);
  if (simulated.length === 0) return undefined;
  return (
    `no weather forecast vintage issued by the data cut-off for station(s) ${simulated.slice(0, 5).join(', ')}${simulated.length > 5 ? ` and ${simulated.length - 5} more` : ''}: ` +
    `their temperatures after the cut-off are the stored observations degraded by a simulated forecast error (${describeWeatherErrorModel()}); ` +
    'import forecasts with POST /v1/weather/forecasts or `mdm weather import` to use real ones'
  );
}

/**
 * Stored vintages of one location as plain data (they travel to a forecast
 * thread with the series), for backtests: each origin reads the vintages
 * issued by its own cut-off. Vintage k has issue time issuedAt[k] (ascending)
 * and hourly values[offsets[k] … offsets[k + 1]) from startMs[k]; NaN where it
 * has no hour.
 */
export interface VintageSet {
  readonly issuedAt: Float64Array;
  readonly startMs: Float64Array;
  /** Length: vintages + 1. */
  readonly offsets: Uint32Array;
  readonly values: Float64Array;
}

/** Vintages looked at per hour, newest first: enough for several issues a day over a 16-day horizon. */
const MAX_VINTAGES_PER_HOUR = 96;

/**
 * A temperature grid as an origin with data cut-off `cutoffMs` knew it (pure):
 * `observed` (hourly from `startMs`) before the cut-off hour, from it on per
 * hour the newest vintage issued at or before the cut-off that covers the hour
 * (NaN where none does). Undefined when no vintage issued by the cut-off
 * covers any hour from it on (as a run: forecast/weather-source.ts): the
 * caller falls back (the error model). Never reads a vintage issued after the
 * cut-off.
 * @example temperatureFromVintages(obs, s.startMs, s.temperatureVintages, origin.dataCutoff) ?? simulateForecastTemperature(obs, …)
 */
export function temperatureFromVintages(observed: ArrayLike<number>, startMs: number, set: VintageSet | undefined, cutoffMs: number): Float64Array | undefined {
  if (!set || set.issuedAt.length === 0 || set.issuedAt[0] > cutoffMs) return undefined;
  let lo = 0;
  let hi = set.issuedAt.length - 1; // newest vintage issued ≤ cutoff: binary search
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (set.issuedAt[mid] <= cutoffMs) lo = mid;
    else hi = mid - 1;
  }
  const newest = lo;
  const out = Float64Array.from(observed);
  const first = Math.max(0, Math.ceil((Math.floor(cutoffMs / HOUR_MS) * HOUR_MS - startMs) / HOUR_MS));
  let covered = 0;
  for (let i = first; i < out.length; i++) {
    const t = startMs + i * HOUR_MS;
    out[i] = Number.NaN;
    for (let k = newest; k >= 0 && k > newest - MAX_VINTAGES_PER_HOUR; k--) {
      const j = (t - set.startMs[k]) / HOUR_MS;
      if (j < 0 || j >= set.offsets[k + 1] - set.offsets[k]) continue;
      const v = set.values[set.offsets[k] + j];
      if (v === v) {
        out[i] = v;
        covered++;
        break;
      }
    }
  }
  return covered ? out : undefined;
}
