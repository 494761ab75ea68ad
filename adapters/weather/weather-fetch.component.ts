import { MdmError } from '../../models/errors.js';
import { createPeriodic, roundSlot, silentLog, type ComponentLog, type Timers } from '../../models/periodic.js';
import type { ClaimRound } from '../../models/work-metrics.js';
import { MAX_LOCATION_CHARS } from '../../models/weather-forecast.js';
import type { Database } from '../../sql/database.js';
import { upsertWeatherForecasts } from '../../sql/weather.repository.js';
import { fetchOpenMeteoForecast } from './open-meteo.js';

/**
 * `mdm serve` component `weather` (issue 20, item 1): every
 * WEATHER_FETCH_INTERVAL_MIN minutes (first round at start) the forecast of
 * each location of WEATHER_FETCH_LOCATIONS from the provider, stored as a
 * vintage issued at the time of the request: the vintages a run reads build
 * up by themselves. Off (undefined) when the interval is 0, the default.
 */

export interface WeatherFetchConfig {
  readonly WEATHER_FETCH_INTERVAL_MIN: number;
  readonly WEATHER_FETCH_LOCATIONS?: string;
  readonly WEATHER_FORECAST_URL: string;
  readonly WEATHER_SINGLE_RUNS_URL: string;
  readonly WEATHER_FETCH_TIMEOUT_MS: number;
}

export interface FetchLocation {
  readonly location: string;
  readonly latitude: number;
  readonly longitude: number;
}

/** Days ahead asked for in each round (the provider's default horizon). */
export const FETCH_DAYS = 7;

/**
 * `WX=52.13,-0.47;IST=41.01,28.98` → locations, or the reasons it is not that.
 * @example parseFetchLocations('WX=52.13,-0.47') // { ok: true, locations: [{ location: 'WX', latitude: 52.13, longitude: -0.47 }] }
 */
export function parseFetchLocations(text: string): { ok: true; locations: FetchLocation[] } | { ok: false; reason: string } {
  const locations: FetchLocation[] = [];
  for (const part of text
    .split(';')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([^=;]+)=\s*(-?\d+(?:\.\d+)?)\s*,\s*(-?\d+(?:\.\d+)?)$/.exec(part);
    const lat = m ? Number(m[2]) : Number.NaN;
    const lon = m ? Number(m[3]) : Number.NaN;
    const name = m?.[1].trim() ?? '';
    if (!m || name.length === 0 || name.length > MAX_LOCATION_CHARS || Math.abs(lat) > 90 || Math.abs(lon) > 180) {
      return { ok: false, reason: `"${part.slice(0, 60)}" is not LOCATION=LAT,LON (e.g. WX=52.13,-0.47; latitude −90…90, longitude −180…180)` };
    }
    locations.push({ location: name, latitude: lat, longitude: lon });
  }
  return locations.length ? { ok: true, locations } : { ok: false, reason: 'no location: give LOCATION=LAT,LON entries separated by ";"' };
}

export function weatherFetchComponent(
  ctx: { readonly config: WeatherFetchConfig; readonly database: Database; readonly claimRound?: ClaimRound },
  deps: { readonly fetch?: typeof fetch; readonly timers?: Timers; readonly now?: () => number } = {},
) {
  const c = ctx.config;
  if (!c.WEATHER_FETCH_INTERVAL_MIN) return undefined;
  const parsed = parseFetchLocations(c.WEATHER_FETCH_LOCATIONS ?? '');
  if (!parsed.ok) throw new MdmError('MDM_ERR_CONFIG', [`  WEATHER_FETCH_LOCATIONS: ${parsed.reason} (required when WEATHER_FETCH_INTERVAL_MIN > 0)`]);
  const now = deps.now ?? Date.now;
  let log: ComponentLog = silentLog;
  let last: { at: string; stored: number; locations: number } | undefined;
  let lastError: string | undefined;

  /** One round: each location fetched and stored; a failing one is logged and reported, the others still stored. */
  async function tick(): Promise<void> {
    let stored = 0;
    const failed: string[] = [];
    for (const l of parsed.ok ? parsed.locations : []) {
      try {
        const r = await fetchOpenMeteoForecast(
          { ...l, forecastDays: FETCH_DAYS },
          { urls: { forecast: c.WEATHER_FORECAST_URL, singleRuns: c.WEATHER_SINGLE_RUNS_URL }, now: now(), timeoutMs: c.WEATHER_FETCH_TIMEOUT_MS, availabilityDelayMs: 0, fetch: deps.fetch },
        );
        stored += await upsertWeatherForecasts(ctx.database, r.rows, 'open-meteo');
      } catch (err) {
        failed.push(`${l.location}: ${(err as Error).message}`);
        log.error({ err, location: l.location }, 'weather forecast fetch failed; retried at the next round');
      }
    }
    last = { at: new Date(now()).toISOString(), stored, locations: parsed.ok ? parsed.locations.length - failed.length : 0 };
    lastError = failed.length ? failed.join('; ').slice(0, 1_000) : undefined;
    log.info(last, 'weather forecasts fetched');
  }
  const everyMs = c.WEATHER_FETCH_INTERVAL_MIN * 60_000;
  // Instances sharing the database fetch each round once: the one that claims it.
  const claimed = async () => !ctx.claimRound || (await ctx.claimRound('weather.fetch', roundSlot(now(), everyMs)));
  const loop = createPeriodic({ tick: async () => void ((await claimed()) && (await tick())), everyMs, timers: deps.timers, onError: () => {} });

  return {
    name: 'weather',
    probe: { name: 'weather', check: () => ({ ok: lastError === undefined, lastRun: last ?? null, ...(lastError ? { error: lastError } : {}) }) },
    /** One round now (what the timer does). */
    tick,
    async start(l: ComponentLog) {
      log = l;
      loop.start(); // the first round right after start
    },
    stop: () => loop.stop(),
  };
}
