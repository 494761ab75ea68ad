import { localDate, shiftDate, startOfLocalDate } from '../models/calendar.js';
import { HOUR_MS, tzOffsetMinutes } from '../models/time.js';
import type { HorizonName, QuantileRow } from './model.js';

/**
 * Forecast horizons (issue 5, "Horizons and targets"): which hours a forecast
 * issued at `issueTime` covers, and up to when it may read data. Local days
 * follow the target's time zone, so a day-ahead forecast for the day the
 * clocks change has 23 or 25 hours. Pure.
 *
 * | horizon | hours forecast | data up to |
 * |---|---|---|
 * | intraday | from the next whole hour to the end of the local day (issued in the day's last hour: to the end of the next day) | the issue time (whole hours) |
 * | day-ahead | the local day D+1 (23/24/25 hours) | the cut-off on D (default 10:00 local), or the issue time when earlier |
 * | week-ahead | local days D+1 … D+7 | the issue time |
 * | month-ahead | D+1 up to the same day a month later (exclusive), hourly | the issue time |
 * | long-term | the 12 local calendar months after the current one, hourly, reported as monthly energy (monthlyTotals) | the issue time |
 *
 * D is the local date of the issue time.
 */

export interface HorizonWindow {
  /** First hour forecast (ms), inclusive. */
  readonly fromMs: number;
  /** End (ms), exclusive. */
  readonly toMs: number;
  /** Only values with start + 1 h ≤ dataCutoff may be used (ms, whole hour, ≤ issueTime). */
  readonly dataCutoff: number;
}

export interface HorizonOptions {
  /** Local wall time `HH:MM` on D up to which day-ahead data is taken; default 10:00. */
  readonly dayAheadCutoff?: string;
}

export const DEFAULT_DAY_AHEAD_CUTOFF = '10:00';
const HHMM = /^([01]\d|2[0-3]):([0-5]\d)$/;

/** Minutes since midnight of an `HH:MM` text; throws on anything else. */
export function parseCutoff(text: string): number {
  const m = HHMM.exec(text);
  if (!m) throw new Error(`cut-off "${text}" is not a local time HH:MM, e.g. 10:00`);
  return Number(m[1]) * 60 + Number(m[2]);
}

/**
 * Instant of local wall time `minuteOfDay` on `date` in `tz`. A wall time the
 * clocks skip (02:30 on a spring-forward day) maps to the instant one offset
 * later (03:30), so it still orders correctly.
 */
export function localTimeOn(date: string, minuteOfDay: number, tz: string): number {
  const wall = Date.parse(`${date}T00:00:00Z`) + minuteOfDay * 60_000;
  let ms = wall - tzOffsetMinutes(tz, wall) * 60_000;
  ms = wall - tzOffsetMinutes(tz, ms) * 60_000;
  return ms;
}

const floorHour = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS;
const ceilHour = (ms: number) => Math.ceil(ms / HOUR_MS) * HOUR_MS;

/** Local date `months` calendar months after `date` (day clamped to the month's length). */
function addMonths(date: string, months: number): string {
  const [y, m, d] = date.split('-').map(Number);
  const total = y * 12 + (m - 1) + months;
  const ny = Math.floor(total / 12);
  const nm = (total % 12) + 1;
  const last = new Date(Date.UTC(ny, nm, 0)).getUTCDate();
  return `${String(ny).padStart(4, '0')}-${String(nm).padStart(2, '0')}-${String(Math.min(d, last)).padStart(2, '0')}`;
}

/**
 * The hours a forecast of horizon `name` issued at `issueTime` covers, in the
 * local time of `timezone`, and its data cut-off.
 * @example
 * // Issued 2026-10-24 09:30 in Warsaw (the clocks go back on the 25th): 25 hours, data up to 09:00.
 * horizonWindow('day-ahead', Date.parse('2026-10-24T07:30:00Z'), 'Europe/Warsaw')
 * // → { fromMs: 2026-10-24T22:00Z, toMs: 2026-10-25T23:00Z, dataCutoff: 2026-10-24T07:00Z }
 */
export function horizonWindow(name: HorizonName, issueTime: number, timezone: string, opts: HorizonOptions = {}): HorizonWindow {
  const d = localDate(issueTime, timezone);
  const dayStart = (offset: number) => startOfLocalDate(shiftDate(d, offset), timezone);
  const upToIssue = floorHour(issueTime);
  switch (name) {
    case 'intraday': {
      const fromMs = ceilHour(issueTime);
      const end = dayStart(1);
      return { fromMs, toMs: fromMs < end ? end : dayStart(2), dataCutoff: upToIssue };
    }
    case 'day-ahead': {
      const cutoff = localTimeOn(d, parseCutoff(opts.dayAheadCutoff ?? DEFAULT_DAY_AHEAD_CUTOFF), timezone);
      return { fromMs: dayStart(1), toMs: dayStart(2), dataCutoff: floorHour(Math.min(issueTime, cutoff)) };
    }
    case 'week-ahead':
      return { fromMs: dayStart(1), toMs: dayStart(8), dataCutoff: upToIssue };
    case 'month-ahead': {
      const from = shiftDate(d, 1);
      return { fromMs: dayStart(1), toMs: startOfLocalDate(addMonths(from, 1), timezone), dataCutoff: upToIssue };
    }
    case 'long-term': {
      const firstOfNext = addMonths(`${d.slice(0, 8)}01`, 1);
      return {
        fromMs: startOfLocalDate(firstOfNext, timezone),
        toMs: startOfLocalDate(addMonths(firstOfNext, 12), timezone),
        dataCutoff: upToIssue,
      };
    }
  }
}

/**
 * The day-ahead issue time on local date `date`: the cut-off itself (the
 * moment a trader's bid goes in with all data up to then).
 */
export function dayAheadIssueTime(date: string, timezone: string, dayAheadCutoff = DEFAULT_DAY_AHEAD_CUTOFF): number {
  return localTimeOn(date, parseCutoff(dayAheadCutoff), timezone);
}

export interface MonthlyTotal {
  /** Local month `YYYY-MM`. */
  readonly month: string;
  readonly hours: number;
  readonly p10: number;
  readonly p50: number;
  readonly p90: number;
}

/**
 * Hourly rows summed per local month (long-term horizon: monthly energy).
 * P50 sums exactly; P10/P90 are the sums of the hourly quantiles, which is the
 * band when the hourly errors within a month move together (the usual case
 * for a wrong temperature normal or level) and wider than the band of
 * independent hourly errors: read it as a conservative band.
 */
export function monthlyTotals(rows: readonly QuantileRow[], timezone: string): MonthlyTotal[] {
  const out = new Map<string, { hours: number; p10: number; p50: number; p90: number }>();
  for (const r of rows) {
    const month = localDate(r.start, timezone).slice(0, 7);
    let t = out.get(month);
    if (!t) out.set(month, (t = { hours: 0, p10: 0, p50: 0, p90: 0 }));
    t.hours++;
    t.p10 += r.p10;
    t.p50 += r.p50;
    t.p90 += r.p90;
  }
  return [...out].map(([month, t]) => ({ month, ...t }));
}
