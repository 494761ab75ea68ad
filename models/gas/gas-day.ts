import { shiftDate } from '../calendar.js';
import { DAY_MS, HOUR_MS, isValidTimeZone, MINUTE_MS, tzOffsetMinutes } from '../time.js';
import { fail, finite, type GasResult } from './result.js';

/**
 * Gas days: the day of gas balancing and daily calorific values, from a
 * start hour in local time to the same hour the next day (EU: 06:00–06:00,
 * Regulation (EU) 2017/459 art. 3 — 05:00–05:00 UTC in winter, 04:00–04:00 UTC
 * in summer; Turkey: see docs/commodities.md "Gas day"). A gas day is named by
 * the local date on which it starts, and lasts 23 h on the spring-forward day
 * and 25 h on the fall-back day. Pure.
 */

/** Most gas days one call reports (≈ 11 years). */
export const MAX_GAS_DAYS = 4000;

/** One interval of consumption: its start instant and its value (m³ or kWh). */
export interface GasInterval {
  readonly startMs: number;
  readonly value: number;
}

export interface GasDayOptions {
  /** IANA zone of the area, e.g. Europe/Istanbul. */
  readonly timezone: string;
  /** Local hour (0–23) at which the gas day starts. */
  readonly startHour: number;
  /** Interval length in minutes (default 60); must divide 60. */
  readonly intervalMinutes?: number;
  /** First and last gas day (YYYY-MM-DD, inclusive) to report; default the days the intervals touch. */
  readonly fromDay?: string;
  readonly toDay?: string;
}

export interface GasDayTotal {
  /** Local date on which the gas day starts. */
  readonly gasDay: string;
  readonly startMs: number;
  /** Exclusive. */
  readonly endMs: number;
  /** Hours in the gas day: 24, or 23 / 25 on a clock-change day. */
  readonly hours: number;
  /** Intervals the day should have. */
  readonly expected: number;
  /** Intervals present. */
  readonly present: number;
  /** Sum of the present values: a missing interval is never taken as zero. */
  readonly sum: number;
  /** present / expected. */
  readonly coverage: number;
  readonly complete: boolean;
  /** Start instants of the missing intervals (at most 100 listed; `expected - present` counts them all). */
  readonly missingStarts: readonly number[];
}

const MAX_LISTED_MISSING = 100;

/**
 * Start instant of gas day `date` (local date YYYY-MM-DD at `startHour` local time in `tz`).
 * On a spring-forward day whose start hour falls in the skipped hour, the gas day starts at the first instant after it.
 * @example gasDayStart('2026-03-29', 6, 'Europe/Berlin') // Date.UTC(2026, 2, 29, 4) (06:00 CEST)
 */
export function gasDayStart(date: string, startHour: number, tz: string): number {
  const wall = Date.parse(`${date}T00:00:00Z`) + startHour * HOUR_MS;
  let ms = wall - tzOffsetMinutes(tz, wall) * MINUTE_MS;
  for (let i = 0; i < 2; i++) ms = wall - tzOffsetMinutes(tz, ms) * MINUTE_MS;
  return ms;
}

/**
 * The gas day (local start date) instant `ms` belongs to.
 * @example gasDayOf(Date.UTC(2026, 0, 15, 3), 8, 'Europe/Istanbul') // '2026-01-14' (06:00 local is before the 08:00 start)
 */
export function gasDayOf(ms: number, startHour: number, tz: string): string {
  const wall = ms + tzOffsetMinutes(tz, ms) * MINUTE_MS - startHour * HOUR_MS;
  const date = new Date(Math.floor(wall / DAY_MS) * DAY_MS).toISOString().slice(0, 10);
  // A wall clock that jumps (spring forward past the start hour) can leave the instant just before its day's computed start.
  if (ms < gasDayStart(date, startHour, tz)) return shiftDate(date, -1);
  if (ms >= gasDayStart(shiftDate(date, 1), startHour, tz)) return shiftDate(date, 1);
  return date;
}

/**
 * Consumption per gas day with counts and coverage: every expected interval
 * of every day from the first to the last is accounted for, and one that is
 * missing is listed, never summed as 0. A duplicate start, a start off the
 * interval grid, a non-finite value or a bad option is a reason, not a guess.
 * @example gasDayTotals([{ startMs: Date.UTC(2026, 0, 15, 5), value: 2 }], { timezone: 'Europe/Istanbul', startHour: 8 })
 * // { ok: true, days: [{ gasDay: '2026-01-15', expected: 24, present: 1, sum: 2, coverage: 1/24, complete: false, … }] }
 */
export function gasDayTotals(intervals: readonly GasInterval[], opts: GasDayOptions): GasResult<{ days: GasDayTotal[] }> {
  const step = opts.intervalMinutes ?? 60;
  if (!Number.isInteger(opts.startHour) || opts.startHour < 0 || opts.startHour > 23) return fail(`gas day start hour must be an integer 0–23, got ${opts.startHour}`);
  if (!Number.isInteger(step) || step <= 0 || 60 % step !== 0) return fail(`interval minutes must divide 60 (1, 5, 15, 30, 60…), got ${step}`);
  if (!isValidTimeZone(opts.timezone)) return fail(`unknown time zone "${opts.timezone}": use an IANA name such as Europe/Istanbul`);
  const tz = opts.timezone;
  const byStart = new Map<number, number>();
  for (let i = 0; i < intervals.length; i++) {
    const { startMs, value } = intervals[i];
    if (!finite(startMs) || Math.abs(startMs) > 8.64e15) return fail(`interval ${i}: start is not an instant`);
    if (!finite(value)) return fail(`interval ${i} (${new Date(startMs).toISOString()}): value must be a finite number, got ${value}`);
    if (startMs % (step * MINUTE_MS) !== 0) return fail(`interval ${i} (${new Date(startMs).toISOString()}): start is not on the ${step}-minute grid`);
    if (byStart.has(startMs)) return fail(`interval ${i} (${new Date(startMs).toISOString()}): the same start appears twice; send one value per interval`);
    byStart.set(startMs, value);
  }
  let from = opts.fromDay;
  let to = opts.toDay;
  if (from === undefined || to === undefined) {
    if (byStart.size === 0 && (from ?? to) === undefined) return { ok: true, days: [] };
    const starts = [...byStart.keys()];
    from ??= starts.length ? gasDayOf(Math.min(...starts), opts.startHour, tz) : to;
    to ??= starts.length ? gasDayOf(Math.max(...starts), opts.startHour, tz) : from;
  }
  if (!/^\d{4}-\d{2}-\d{2}$/.test(from!) || !/^\d{4}-\d{2}-\d{2}$/.test(to!) || Number.isNaN(Date.parse(`${from}T00:00:00Z`)) || Number.isNaN(Date.parse(`${to}T00:00:00Z`))) {
    return fail(`gas days must be dates YYYY-MM-DD, got ${from}..${to}`);
  }
  const count = Math.round((Date.parse(`${to}T00:00:00Z`) - Date.parse(`${from}T00:00:00Z`)) / DAY_MS) + 1;
  if (count < 1) return fail(`gas day range ${from}..${to} is inverted`);
  if (count > MAX_GAS_DAYS) return fail(`${count} gas days asked; at most ${MAX_GAS_DAYS} per call`);
  const days: GasDayTotal[] = [];
  let date = from!;
  let startMs = gasDayStart(date, opts.startHour, tz);
  for (let d = 0; d < count; d++) {
    const next = shiftDate(date, 1);
    const endMs = gasDayStart(next, opts.startHour, tz);
    let present = 0;
    let sum = 0;
    const missingStarts: number[] = [];
    // Intervals are counted on the UTC grid: a zone with a 30- or 45-minute offset still has whole UTC intervals.
    const first = Math.ceil(startMs / (step * MINUTE_MS)) * step * MINUTE_MS;
    let expected = 0;
    for (let t = first; t < endMs; t += step * MINUTE_MS) {
      expected++;
      const v = byStart.get(t);
      if (v === undefined) {
        if (missingStarts.length < MAX_LISTED_MISSING) missingStarts.push(t);
      } else {
        present++;
        sum += v;
      }
    }
    days.push({
      gasDay: date,
      startMs,
      endMs,
      hours: (endMs - startMs) / HOUR_MS,
      expected,
      present,
      sum,
      coverage: expected ? present / expected : 0,
      complete: present === expected,
      missingStarts,
    });
    date = next;
    startMs = endMs;
  }
  return { ok: true, days };
}
