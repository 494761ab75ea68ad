import { checkForecastRow, type ForecastReject, MAX_WEATHER_ROWS, type ParsedForecastRow } from '../../models/weather-forecast.js';

/**
 * Open-Meteo, the weather forecast provider (issue 20, item 1): its documented
 * forecast response parsed into a vintage, and the HTTP request for one. The
 * base URL is configuration (WEATHER_FORECAST_URL, WEATHER_SINGLE_RUNS_URL);
 * tests serve the same shape on a loopback server.
 */

/**
 * Open-Meteo's documented forecast response (https://open-meteo.com/en/docs:
 * `hourly.time`, `hourly.temperature_2m`, `hourly_units`, `utc_offset_seconds`)
 * → rows of one vintage. Times are unix seconds (timeformat=unixtime) or
 * ISO-8601 local times of the response's zone without an offset (the
 * default), shifted by utc_offset_seconds; °F (temperature_unit=fahrenheit)
 * is converted to °C; null hours (beyond the model's reach) are left out.
 * Throws a reason when the response is not that shape.
 */
export function parseOpenMeteoResponse(body: unknown, p: { location: string; issuedAt: number }): { rows: ParsedForecastRow[]; rejected: ForecastReject[] } {
  const b = body as { hourly?: { time?: unknown; temperature_2m?: unknown }; hourly_units?: { temperature_2m?: unknown }; utc_offset_seconds?: unknown; error?: unknown; reason?: unknown };
  if (!b || typeof b !== 'object') throw new Error('the provider answered something that is not a JSON object');
  if (b.error === true) throw new Error(`the provider refused the request: ${String(b.reason ?? 'no reason given').slice(0, 300)}`);
  const times = b.hourly?.time;
  const temps = b.hourly?.temperature_2m;
  if (!Array.isArray(times) || !Array.isArray(temps)) throw new Error('the response has no hourly.time and hourly.temperature_2m arrays (ask for hourly=temperature_2m)');
  if (times.length !== temps.length) throw new Error(`hourly.time has ${times.length} entries but hourly.temperature_2m ${temps.length}`);
  if (times.length > MAX_WEATHER_ROWS) throw new Error(`${times.length} hours: at most ${MAX_WEATHER_ROWS} per import`);
  const offsetMs = (typeof b.utc_offset_seconds === 'number' ? b.utc_offset_seconds : 0) * 1000;
  const fahrenheit = typeof b.hourly_units?.temperature_2m === 'string' && /F/.test(b.hourly_units.temperature_2m);
  const rows: ParsedForecastRow[] = [];
  const rejected: ForecastReject[] = [];
  for (let i = 0; i < times.length; i++) {
    const t = times[i];
    const v = temps[i];
    if (v === null) continue; // hours the model does not reach
    let validTime: number | string;
    if (typeof t === 'number') validTime = t * 1000;
    else if (typeof t === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}$/.test(t)) validTime = Date.parse(`${t}:00Z`) - offsetMs;
    else validTime = `hourly.time[${i}] "${String(t).slice(0, 40)}" is neither unix seconds nor an ISO-8601 local time`;
    const c = typeof v === 'number' ? (fahrenheit ? ((v - 32) * 5) / 9 : v) : Number.NaN;
    const checked = checkForecastRow({ location: p.location, issuedAt: p.issuedAt, validTime, temperature: Math.round(c * 100) / 100 });
    if (typeof checked === 'string') rejected.push({ line: i, reason: checked });
    else rows.push(checked);
  }
  return { rows, rejected };
}

/** What to ask the provider for: a location's hourly 2 m temperature, optionally of one model run. */
export interface OpenMeteoRequest {
  readonly latitude: number;
  readonly longitude: number;
  /** Days ahead (1–16). */
  readonly forecastDays: number;
  /** A weather model (`ecmwf_ifs025`, `icon_seamless`…); default the provider's best match. */
  readonly model?: string;
  /** A model run by its UTC initialisation time (ms): asks the single-runs API for it. */
  readonly runMs?: number;
}

/** The request URL: the forecast API, or the single-runs API with `run=` when a model run is named. */
export function openMeteoUrl(r: OpenMeteoRequest, urls: { forecast: string; singleRuns: string }): URL {
  const url = new URL(r.runMs === undefined ? urls.forecast : urls.singleRuns);
  url.searchParams.set('latitude', String(r.latitude));
  url.searchParams.set('longitude', String(r.longitude));
  url.searchParams.set('hourly', 'temperature_2m');
  url.searchParams.set('timezone', 'GMT');
  url.searchParams.set('timeformat', 'unixtime');
  url.searchParams.set('forecast_days', String(r.forecastDays));
  if (r.model) url.searchParams.set('models', r.model);
  if (r.runMs !== undefined) url.searchParams.set('run', new Date(r.runMs).toISOString().slice(0, 16));
  return url;
}

/** Largest response read (a 16-day hourly temperature series is about 10 kB). */
const MAX_RESPONSE_BYTES = 4 << 20;

/**
 * Fetches a location's forecast and parses it into one vintage. Its issue
 * time: the model run's initialisation time plus `availabilityDelayMs` when
 * a run is named (the run is computed and published hours after it starts),
 * else the time of the request (`now`), when it was certainly available.
 * Rejects with a reason (network, timeout, HTTP status with the provider's
 * reason, a response not of the documented shape).
 */
export async function fetchOpenMeteoForecast(
  r: OpenMeteoRequest & { readonly location: string },
  o: { urls: { forecast: string; singleRuns: string }; now: number; timeoutMs: number; availabilityDelayMs: number; fetch?: typeof fetch },
): Promise<{ rows: ParsedForecastRow[]; rejected: ForecastReject[]; issuedAt: number; url: string }> {
  const url = openMeteoUrl(r, o.urls);
  const issuedAt = r.runMs === undefined ? o.now : r.runMs + o.availabilityDelayMs;
  let res: Response;
  try {
    res = await (o.fetch ?? fetch)(url, { signal: AbortSignal.timeout(o.timeoutMs), headers: { accept: 'application/json' } });
  } catch (err) {
    const e = err as Error;
    throw new Error(`the weather provider at ${url.origin} did not answer: ${e.name === 'TimeoutError' ? `no response in ${o.timeoutMs} ms` : e.message}`, { cause: err });
  }
  const text = await res.text();
  if (text.length > MAX_RESPONSE_BYTES) throw new Error(`the weather provider answered ${text.length} bytes, more than ${MAX_RESPONSE_BYTES}`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`the weather provider answered HTTP ${res.status} with something that is not JSON: ${text.slice(0, 200)}`);
  }
  if (!res.ok) {
    const reason = (body as { reason?: unknown })?.reason;
    throw new Error(`the weather provider answered HTTP ${res.status}${reason ? `: ${String(reason).slice(0, 300)}` : ''}`);
  }
  return { ...parseOpenMeteoResponse(body, { location: r.location, issuedAt }), issuedAt, url: url.toString() };
}
