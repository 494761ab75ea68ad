import { DAY_MS, tzOffsetMinutes } from './time.js';

/**
 * Local calendar arithmetic over epoch milliseconds, DST-aware: a local day in
 * Europe/Warsaw is 23 h on the last Sunday of March and 25 h on the last Sunday
 * of October. Pure.
 */

// Day numbers (days since 1970-01-01) ⇄ `YYYY-MM-DD`, memoised: VEE and billing turn
// every value of a month into its local date, and a date string costs ~0.3 µs to build.
const dateOfDay = new Map<number, string>();
const dayOfDate = new Map<string, number>();

function dateText(day: number): string {
  let s = dateOfDay.get(day);
  if (s === undefined) {
    if (dateOfDay.size > 100_000) dateOfDay.clear();
    s = new Date(day * DAY_MS).toISOString().slice(0, 10);
    dateOfDay.set(day, s);
  }
  return s;
}

function dayNumber(date: string): number {
  let d = dayOfDate.get(date);
  if (d === undefined) {
    if (dayOfDate.size > 100_000) dayOfDate.clear();
    d = Math.floor(Date.parse(`${date}T00:00:00Z`) / DAY_MS);
    dayOfDate.set(date, d);
  }
  return d;
}

/** Local calendar date `YYYY-MM-DD` of instant `ms` in `tz`. */
export function localDate(ms: number, tz: string): string {
  return dateText(Math.floor((ms + tzOffsetMinutes(tz, ms) * 60_000) / DAY_MS));
}

/**
 * The local date of instants in `tz` as a day number (days since 1970-01-01;
 * `dateText` of it is localDate), for many instants that come mostly in
 * time order: the exact bounds of the last day are kept, so the other
 * instants of that day cost two comparisons, not an offset lookup. Ingest
 * computes the validation and billing days of every row with it.
 */
export function localDayCounter(tz: string): (ms: number) => number {
  let from = Number.POSITIVE_INFINITY;
  let to = Number.NEGATIVE_INFINITY;
  let day = 0;
  return (ms) => {
    if (ms >= from && ms < to) return day;
    day = Math.floor((ms + tzOffsetMinutes(tz, ms) * 60_000) / DAY_MS);
    from = startOfLocalDate(dateText(day), tz);
    to = startOfLocalDate(dateText(day + 1), tz);
    if (!(ms >= from && ms < to)) to = from = Number.NaN; // a zone whose midnight is odd: no shortcut
    return day;
  };
}

/** Minutes since local midnight of instant `ms` in `tz` (wall clock: 03:00 on a spring-forward day is 180). */
export function localMinuteOfDay(ms: number, tz: string): number {
  const local = ms + tzOffsetMinutes(tz, ms) * 60_000;
  return Math.floor((((local % DAY_MS) + DAY_MS) % DAY_MS) / 60_000);
}

/** ISO weekday of the local date: 1 = Monday … 7 = Sunday. */
export function localWeekday(ms: number, tz: string): number {
  const d = new Date(ms + tzOffsetMinutes(tz, ms) * 60_000).getUTCDay();
  return d === 0 ? 7 : d;
}

/** Instant at which the local date `date` (YYYY-MM-DD) begins in `tz`. */
export function startOfLocalDate(date: string, tz: string): number {
  const wall = Date.parse(`${date}T00:00:00Z`);
  let ms = wall - tzOffsetMinutes(tz, wall) * 60_000;
  // The offset at local midnight may differ from the one at UTC midnight: settle it.
  for (let i = 0; i < 2; i++) ms = wall - tzOffsetMinutes(tz, ms) * 60_000;
  return ms;
}

/** Start of the local day containing `ms`. */
export function startOfLocalDay(ms: number, tz: string): number {
  return startOfLocalDate(localDate(ms, tz), tz);
}

/** Start of the local day after the one containing `ms`. */
export function startOfNextLocalDay(ms: number, tz: string): number {
  return startOfLocalDay(startOfLocalDay(ms, tz) + 26 * 3_600_000, tz);
}

/** The calendar date `days` after (or before, when negative) `date`, both `YYYY-MM-DD`. */
export function shiftDate(date: string, days: number): string {
  return dateText(dayNumber(date) + days);
}

/** The local dates `YYYY-MM-DD` from `from` to `to` inclusive. */
export function datesBetween(from: string, to: string): string[] {
  const out: string[] = [];
  for (let d = Date.parse(`${from}T00:00:00Z`); d <= Date.parse(`${to}T00:00:00Z`); d += DAY_MS) out.push(new Date(d).toISOString().slice(0, 10));
  return out;
}

/** Day types used for like-day comparisons and profiles. */
export type DayType = 'workday' | 'saturday' | 'sunday' | 'holiday';

/** Day type of a local date; `holidays` is the set of local dates that count as public holidays. */
export function dayTypeOf(date: string, holidays: ReadonlySet<string> = new Set()): DayType {
  if (holidays.has(date)) return 'holiday';
  const wd = (((dayNumber(date) + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday; 0 = Sunday
  return wd === 6 ? 'saturday' : wd === 0 ? 'sunday' : 'workday';
}

/** Local month `YYYY-MM` → [start, end) instants in `tz`. */
export function localMonthRange(period: string, tz: string): { fromMs: number; toMs: number } {
  const [y, m] = period.split('-').map(Number);
  const next = m === 12 ? `${y + 1}-01` : `${y}-${String(m + 1).padStart(2, '0')}`;
  return { fromMs: startOfLocalDate(`${period}-01`, tz), toMs: startOfLocalDate(`${next}-01`, tz) };
}
