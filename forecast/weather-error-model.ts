import { gaussian, seededRandom } from '../models/random.js';
import { HOUR_MS } from '../models/time.js';

/**
 * Simulated weather forecasts from observed temperatures (issue 20, item 1):
 * where no stored forecast vintage exists for a run or a backtest origin,
 * the temperatures after its cut-off are the observations plus a forecast
 * error drawn from this model, never the observations as they are (a perfect
 * forecast flatters weather-driven models). Pure and deterministic: the same
 * observations, cut-off and seed give the same values.
 *
 * The model: an hourly AR(1) error, unbiased, whose standard deviation grows
 * with the lead time (hours from the cut-off to the hour's start):
 *
 *   sd(lead) = baseSdC + growthSdC · √lead            (°C)
 *   u₀ ~ N(0, 1),  uₜ = φ·uₜ₋₁ + √(1 − φ²)·zₜ,  zₜ ~ N(0, 1)
 *   forecastₜ = observedₜ + sd(leadₜ)·uₜ
 *
 * u is a stationary unit-variance process, so each hour's error has exactly
 * sd(lead); φ = 0.97 per hour keeps an error for about a day and a half
 * (e-folding 1/(1 − φ) ≈ 33 h), as a forecast that is too warm tends to stay
 * too warm across an afternoon and the night after, which is what hurts a
 * load forecast (independent hourly noise would average out in a day's sum).
 *
 * The defaults (0.8 + 0.15·√lead: 0.8 °C at the cut-off, 1.5 °C at 24 h,
 * 1.8 °C at 48 h, 2.4 °C at 120 h, 3.1 °C at 240 h) are of the order of the
 * station-level 2 m temperature errors of operational global models: ECMWF's
 * Forecast User Guide (section "2 m temperature errors",
 * https://confluence.ecmwf.int/display/FUG) gives systematic errors generally
 * below 0.5 °C, hence no bias term, and its verification of 2 m temperature
 * against SYNOP stations (ME/MAE/RMSE by step up to 240 h) shows RMSE rising
 * roughly with the square root of the lead; Ben Bouallègue et al., "Statistical
 * modeling of 2-m temperature and 10-m wind speed forecast errors", Monthly
 * Weather Review 151(4), 2023, https://doi.org/10.1175/MWR-D-22-0107.1, models
 * the same errors. The coefficients are chosen, not fitted to a station: set
 * them from your own provider's verification when you have one.
 */

export interface WeatherErrorModel {
  /** Error standard deviation at lead 0 (°C). */
  readonly baseSdC: number;
  /** Growth of the standard deviation per √hour of lead (°C / √h). */
  readonly growthSdC: number;
  /** Hour-to-hour correlation φ of the error, in [0, 1). */
  readonly hourlyCorrelation: number;
}

export const DEFAULT_WEATHER_ERROR_MODEL: WeatherErrorModel = Object.freeze({ baseSdC: 0.8, growthSdC: 0.15, hourlyCorrelation: 0.97 });

/** The seed of the backtests of runs and of `mdm backtest` (BacktestOptions.weatherError): the same simulated forecasts on every replay. */
export const WEATHER_BACKTEST_SEED = 20;

/** One line naming the model and its parameters, for a run's metadata and a bench's output. */
export function describeWeatherErrorModel(m: WeatherErrorModel = DEFAULT_WEATHER_ERROR_MODEL): string {
  return `observed temperature + AR(1) error (φ = ${m.hourlyCorrelation} per hour), sd = ${m.baseSdC} + ${m.growthSdC}·√lead_hours °C, unbiased (forecast/weather-error-model.ts)`;
}

/**
 * Standard deviation (°C) of the simulated error `leadHours` after the cut-off.
 * @example weatherErrorSd(24) // 0.8 + 0.15 · √24 ≈ 1.53
 */
export function weatherErrorSd(leadHours: number, m: WeatherErrorModel = DEFAULT_WEATHER_ERROR_MODEL): number {
  return m.baseSdC + m.growthSdC * Math.sqrt(Math.max(0, leadHours));
}

/** 32-bit mix of the caller's seed with the cut-off hour: each cut-off draws its own forecast, as each issue of a real one differs. */
function mixSeed(seed: number, cutoffMs: number): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  const hour = Math.floor(cutoffMs / HOUR_MS);
  for (const part of [hour >>> 0, Math.floor(hour / 4_294_967_296) >>> 0]) {
    h = Math.imul(h ^ part, 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

/** Stable 32-bit seed of a text (a station or location name), FNV-1a: for callers that seed per location. */
export function seedOfText(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export interface SimulateForecastParams {
  /** Start (ms since the epoch, a whole hour) of `observed[0]`; the grid is hourly. */
  readonly startMs: number;
  /** The run's or origin's cut-off: hours starting before it keep their observation, hours from it on get the error. */
  readonly cutoffMs: number;
  /** Any integer; combined with the cut-off hour (the same seed and cut-off give the same forecast). */
  readonly seed: number;
  readonly model?: Partial<WeatherErrorModel>;
}

/**
 * Simulated forecast temperatures on the grid of `observed` (hourly °C, NaN
 * where unknown): the observations before the cut-off as they are, after it
 * the observations plus the model's error for each hour's lead time. NaN
 * stays NaN (the error process still steps through it, so a missing hour does
 * not shift the errors of the others). Returns a new array.
 * @example
 * simulateForecastTemperature([5, 6, 7, 8], { startMs: Date.parse('2019-11-06T00:00Z'), cutoffMs: Date.parse('2019-11-06T02:00Z'), seed: 1 })
 * // [5, 6, 7 + e₀, 8 + e₁] with e ~ sd 0.8 and 0.95 °C, the same on every call
 */
export function simulateForecastTemperature(observed: ArrayLike<number>, p: SimulateForecastParams): Float64Array {
  const m = { ...DEFAULT_WEATHER_ERROR_MODEL, ...p.model };
  const phi = Math.min(Math.max(m.hourlyCorrelation, 0), 0.999_999);
  const innovation = Math.sqrt(1 - phi * phi);
  const out = Float64Array.from(observed as ArrayLike<number>);
  const first = Math.max(0, Math.ceil((p.cutoffMs - p.startMs) / HOUR_MS));
  if (first >= out.length) return out;
  const rand = seededRandom(mixSeed(p.seed, p.cutoffMs));
  let u = gaussian(rand);
  for (let i = first; i < out.length; i++) {
    if (i > first) u = phi * u + innovation * gaussian(rand);
    const lead = (p.startMs + i * HOUR_MS - p.cutoffMs) / HOUR_MS;
    if (out[i] === out[i]) out[i] += weatherErrorSd(lead, m) * u;
  }
  return out;
}
