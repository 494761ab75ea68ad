import { localDate, localMinuteOfDay, localWeekday } from '../../models/calendar.js';
import { holidayCalendar, type HolidayCalendar } from '../../models/holidays.js';
import type { SeriesData } from '../model.js';

/**
 * The ML model's input row for one hour `t` of one series, as known at a
 * cut-off `c` (only values with start + 1 h ≤ c are read): the same hour on
 * the latest day and week known at c, means before c, the local calendar,
 * holidays, and the temperature at t (at forecast time the weather forecast;
 * in training the observation). Values are divided by the series' level at c
 * (mean of the `levelDays` days before c), so one network serves meters of
 * any size. Lead = (t − c) in hours; with a lead of L hours the "same hour
 * yesterday" is k = ⌈(L + 1)/24⌉ days back, "same hour last week" ⌈(L + 1)/168⌉
 * weeks back. Pure; O(1) per row after an O(n) index per series.
 */

const HOUR = 3_600_000;
const DAY = 86_400_000;

const VALUE_FEATURES = ['lag_day', 'lag_day_age', 'lag_week', 'lag_week2', 'last', 'mean_24h', 'mean_168h', 'lead'];
const CALENDAR_FEATURES = [
  ...Array.from({ length: 24 }, (_, h) => `hour_${String(h).padStart(2, '0')}`),
  ...['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => `weekday_${d}`),
  'holiday',
  'eve',
  'lag_day_holiday',
  'lag_week_holiday',
  'year_sin',
  'year_cos',
];
const WEATHER_FEATURES = ['temp', 'hdh', 'cdh', 'temp_known', 'temp_delta_day'];
const NAMES: readonly string[] = [...VALUE_FEATURES, ...CALENDAR_FEATURES, ...WEATHER_FEATURES];

/** Heating / cooling degree-hour bases (°C). */
export const HEATING_BASE = 15.5;
export const COOLING_BASE = 22;

/** Input column names, in order (stored in the artefact and checked on restore). */
export function mlFeatureNames(): readonly string[] {
  return NAMES;
}

interface CalendarInfo {
  readonly hour: number;
  readonly weekday: number;
  readonly holiday: boolean;
  readonly eve: boolean;
  readonly yearAngle: number;
}

const calendarCache = new Map<string, Map<number, CalendarInfo>>();

function calendarOf(t: number, tz: string, holidays: HolidayCalendar | undefined, country: string): CalendarInfo {
  const key = `${tz}|${country}`;
  let byHour = calendarCache.get(key);
  if (!byHour) {
    byHour = new Map();
    calendarCache.set(key, byHour);
  }
  const k = t / HOUR;
  let c = byHour.get(k);
  if (!c) {
    if (byHour.size > 500_000) byHour.clear();
    const date = localDate(t, tz);
    const kind = holidays?.kindOf(date) ?? null;
    const doy = (Date.parse(`${date}T00:00:00Z`) - Date.parse(`${date.slice(0, 4)}-01-01T00:00:00Z`)) / DAY;
    c = {
      hour: Math.floor(localMinuteOfDay(t, tz) / 60),
      weekday: localWeekday(t, tz),
      holiday: kind === 'public' || kind === 'religious' || kind === 'bridge',
      eve: holidays?.isEve(date) ?? false,
      yearAngle: (2 * Math.PI * doy) / 365.25,
    };
    byHour.set(k, c);
  }
  return c;
}

/** Prefix sums and lookups over one series. */
export class MlSeriesIndex {
  readonly series: SeriesData;
  private readonly sum: Float64Array;
  private readonly count: Float64Array;
  private readonly sq: Float64Array;
  private readonly holidays: HolidayCalendar | undefined;
  private readonly country: string;

  constructor(series: SeriesData, country: string) {
    this.series = series;
    this.country = country;
    const v = series.values;
    this.sum = new Float64Array(v.length + 1);
    this.count = new Float64Array(v.length + 1);
    this.sq = new Float64Array(v.length + 1);
    for (let i = 0; i < v.length; i++) {
      const ok = Number.isFinite(v[i]);
      this.sum[i + 1] = this.sum[i] + (ok ? v[i] : 0);
      this.sq[i + 1] = this.sq[i] + (ok ? v[i] * v[i] : 0);
      this.count[i + 1] = this.count[i] + (ok ? 1 : 0);
    }
    try {
      this.holidays = holidayCalendar(country);
    } catch {
      this.holidays = undefined; // unknown country: no holiday features
    }
  }

  /** Value of hour t, NaN when outside the grid or missing. The caller checks availability. */
  value(t: number): number {
    const i = (t - this.series.startMs) / HOUR;
    return i >= 0 && i < this.series.values.length ? this.series.values[i] : NaN;
  }

  temperature(t: number): number {
    const temp = this.series.temperature;
    if (!temp) return NaN;
    const i = (t - this.series.startMs) / HOUR;
    return i >= 0 && i < temp.length ? temp[i] : NaN;
  }

  private clampIndex(t: number): number {
    return Math.max(0, Math.min(this.series.values.length, Math.floor((t - this.series.startMs) / HOUR)));
  }

  /** Mean of the known values in [from, to), NaN when none (or fewer than `min`). */
  mean(from: number, to: number, min = 1): number {
    const a = this.clampIndex(from);
    const b = this.clampIndex(to);
    const n = b > a ? this.count[b] - this.count[a] : 0;
    return n >= min ? (this.sum[b] - this.sum[a]) / n : NaN;
  }

  /** The series' level at cut-off c: mean of the `days` days before c (≥ one day of values), NaN when not positive. */
  level(c: number, days: number): number {
    const m = this.mean(c - days * DAY, c, 24);
    return m > 0 ? m : NaN;
  }

  /** Value of hour t divided by the level at c. */
  scaledValue(t: number, c: number, levelDays: number): number {
    return this.value(t) / this.level(c, levelDays);
  }

  /** Earliest hour worth sampling: two weeks after the grid starts (lags and means exist). */
  firstUsableMs(): number {
    return this.series.startMs + 15 * DAY;
  }

  /** Why the series cannot be modelled at cut-off c, or undefined when it can (the quality gate). */
  gate(c: number, minDays: number): string | undefined {
    const from = c - minDays * DAY;
    const a = this.clampIndex(from);
    const b = this.clampIndex(c);
    const n = this.count[b] - this.count[a];
    const need = minDays * 24 * 0.8;
    if (from < this.series.startMs || n < need) return `${this.series.id}: ${Math.round(n / 24)} days of values in the ${minDays} days before the cut-off (at least ${Math.round(need / 24)} needed)`;
    const mean = (this.sum[b] - this.sum[a]) / n;
    const variance = (this.sq[b] - this.sq[a]) / n - mean * mean;
    if (!(mean > 0)) return `${this.series.id}: mean of the last ${minDays} days is not positive (${mean})`;
    if (!(variance > 1e-12 * mean * mean)) return `${this.series.id}: flat line over the last ${minDays} days`;
    return undefined;
  }

  calendar(t: number): CalendarInfo {
    return calendarOf(t, this.series.timezone, this.holidays, this.country);
  }
}

/**
 * Writes the input row of hour t as known at cut-off c into out[offset …].
 * False when the series has no level at c (nothing to scale by).
 */
export function writeMlFeatures(ix: MlSeriesIndex, t: number, c: number, levelDays: number, out: Float32Array, offset: number): boolean {
  const level = ix.level(c, levelDays);
  if (!Number.isFinite(level)) return false;
  const lead = Math.max(0, (t - c) / HOUR);
  const k = Math.max(1, Math.ceil((lead + 1) / 24));
  const m = Math.max(1, Math.ceil((lead + 1) / 168));
  const mean24 = ix.mean(c - DAY, c) / level;
  const mean168 = ix.mean(c - 7 * DAY, c) / level;
  const fallback = Number.isFinite(mean168) ? mean168 : Number.isFinite(mean24) ? mean24 : 1;
  let lagDay = ix.value(t - k * DAY) / level;
  let lagWeek = ix.value(t - m * 7 * DAY) / level;
  let lagWeek2 = ix.value(t - (m + 1) * 7 * DAY) / level;
  let last = ix.value(c - HOUR) / level;
  if (!Number.isFinite(lagWeek)) lagWeek = Number.isFinite(lagWeek2) ? lagWeek2 : Number.isFinite(lagDay) ? lagDay : fallback;
  if (!Number.isFinite(lagDay)) lagDay = lagWeek;
  if (!Number.isFinite(lagWeek2)) lagWeek2 = lagWeek;
  if (!Number.isFinite(last)) last = Number.isFinite(mean24) ? mean24 : fallback;

  let o = offset;
  out[o++] = lagDay;
  out[o++] = k / 7;
  out[o++] = lagWeek;
  out[o++] = lagWeek2;
  out[o++] = last;
  out[o++] = Number.isFinite(mean24) ? mean24 : fallback;
  out[o++] = fallback;
  out[o++] = Math.min(lead, 168) / 48;

  const cal = ix.calendar(t);
  for (let h = 0; h < 24; h++) out[o++] = h === cal.hour ? 1 : 0;
  for (let d = 1; d <= 7; d++) out[o++] = d === cal.weekday ? 1 : 0;
  out[o++] = cal.holiday ? 1 : 0;
  out[o++] = cal.eve ? 1 : 0;
  out[o++] = ix.calendar(t - k * DAY).holiday ? 1 : 0;
  out[o++] = ix.calendar(t - m * 7 * DAY).holiday ? 1 : 0;
  out[o++] = Math.sin(cal.yearAngle);
  out[o++] = Math.cos(cal.yearAngle);

  const temp = ix.temperature(t);
  const known = Number.isFinite(temp);
  const tempLag = ix.temperature(t - k * DAY);
  out[o++] = known ? temp / 10 : 0;
  out[o++] = known ? Math.max(0, HEATING_BASE - temp) / 10 : 0;
  out[o++] = known ? Math.max(0, temp - COOLING_BASE) / 10 : 0;
  out[o++] = known ? 1 : 0;
  out[o++] = known && Number.isFinite(tempLag) ? (temp - tempLag) / 10 : 0;
  return true;
}
