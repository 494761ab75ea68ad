import { MINUTE_MS, tzOffsetMinutes } from '../models/time.js';

/**
 * Settlement periods (the market time unit) of a market area over time
 * (issue 16, migration 031): 60 minutes until the area switches, e.g. 15
 * minutes from a local date on. Pure: the schedule is read by
 * sql/market.repository.ts, the zone is the area's (models/market.ts
 * areaTimezone). A switch takes effect at local midnight of its date; an area
 * without a row settles hourly.
 */

export const PERIOD_MINUTES = [15, 30, 60] as const;
export type PeriodMinutes = (typeof PERIOD_MINUTES)[number];
/** How an hourly value is split into the shorter periods of its hour: equal parts, or the shape of the portfolio's meters that measure at the period. */
export const SPREAD_RULES = ['flat', 'profile'] as const;
export type SpreadRule = (typeof SPREAD_RULES)[number];

export interface MarketPeriod {
  /** First local date (YYYY-MM-DD, the area's zone) the period applies to. */
  readonly effectiveFrom: string;
  readonly minutes: number;
  readonly spread: SpreadRule;
}

/** A run of periods of one length: [startMs, endMs), its first index in the grid. */
export interface GridSegment {
  readonly startMs: number;
  readonly endMs: number;
  readonly minutes: number;
  readonly first: number;
}

/** The settlement periods of a range, in order: index i ↔ one period. */
export interface PeriodGrid {
  readonly fromMs: number;
  readonly toMs: number;
  /** Number of periods. */
  readonly n: number;
  readonly segments: readonly GridSegment[];
  /** The spread rule in force at the range's start (the default for hourly values). */
  readonly spread: SpreadRule;
}

/** UTC instant of local midnight of `date` (YYYY-MM-DD) in `tz`. */
export function localMidnightMs(date: string, tz: string): number {
  const [y, m, d] = date.split('-').map(Number);
  const wall = Date.UTC(y, m - 1, d);
  let ms = wall - tzOffsetMinutes(tz, wall) * MINUTE_MS;
  ms = wall - tzOffsetMinutes(tz, ms) * MINUTE_MS; // the offset at the instant itself (a switch on the eve)
  return ms;
}

/** The schedule's switches as instants, oldest first: [switchMs, period]. */
function switches(schedule: readonly MarketPeriod[], tz: string): [number, MarketPeriod][] {
  return schedule.map((p) => [localMidnightMs(p.effectiveFrom, tz), p] as [number, MarketPeriod]).sort((a, b) => a[0] - b[0]);
}

const HOURLY: MarketPeriod = { effectiveFrom: '0001-01-01', minutes: 60, spread: 'flat' };

/**
 * The period in force at `ms`: the row with the latest switch at or before it; none → 60 minutes, flat.
 * @example periodAt([{ effectiveFrom: '2025-10-01', minutes: 15, spread: 'flat' }], Date.parse('2025-10-01T00:15:00+02:00'), 'Europe/Warsaw').minutes // 15
 */
export function periodAt(schedule: readonly MarketPeriod[], ms: number, tz: string): MarketPeriod {
  let cur = HOURLY;
  for (const [at, p] of switches(schedule, tz)) if (at <= ms) cur = p;
  return cur;
}

/** True when `ms` starts a settlement period of `minutes` (every zone in use has whole-quarter offsets: a quarter-hour is one in UTC and local time). */
export function startsPeriod(ms: number, minutes: number, tz: string): boolean {
  if (minutes === 60 || minutes === 30) {
    const local = ms / MINUTE_MS + tzOffsetMinutes(tz, ms);
    return Number.isInteger(local) && ((local % minutes) + minutes) % minutes === 0;
  }
  return ms % (minutes * MINUTE_MS) === 0;
}

/**
 * The periods of [fromMs, toMs): one segment per period length in force (a switch inside the range starts a new
 * segment). Throws a reason when a bound is not a period start.
 * @example periodGrid([], 'Europe/Istanbul', Date.parse('2026-04-06T00:00+03:00'), Date.parse('2026-04-07T00:00+03:00')).n // 24
 */
export function periodGrid(schedule: readonly MarketPeriod[], tz: string, fromMs: number, toMs: number): PeriodGrid {
  const sw = switches(schedule, tz);
  const cuts: [number, MarketPeriod][] = [[fromMs, periodAt(schedule, fromMs, tz)]];
  for (const [at, p] of sw) if (at > fromMs && at < toMs) cuts.push([at, p]);
  const segments: GridSegment[] = [];
  let first = 0;
  for (let i = 0; i < cuts.length; i++) {
    const [startMs, p] = cuts[i];
    const endMs = i + 1 < cuts.length ? cuts[i + 1][0] : toMs;
    const step = p.minutes * MINUTE_MS;
    if (!startsPeriod(startMs, p.minutes, tz)) throw new RangeError(`${new Date(startMs).toISOString()} is not the start of a ${p.minutes}-minute settlement period`);
    if (!startsPeriod(endMs, p.minutes, tz)) throw new RangeError(`${new Date(endMs).toISOString()} is not the end of a ${p.minutes}-minute settlement period`);
    const n = Math.round((endMs - startMs) / step);
    if (n > 0) segments.push({ startMs, endMs, minutes: p.minutes, first });
    first += Math.max(0, n);
  }
  return { fromMs, toMs, n: first, segments, spread: cuts[0][1].spread };
}

/** The hourly grid of [fromMs, fromMs + n hours) (an area that never switched). */
export function hourlyGrid(fromMs: number, n: number): PeriodGrid {
  const toMs = fromMs + n * 60 * MINUTE_MS;
  return { fromMs, toMs, n, segments: n ? [{ startMs: fromMs, endMs: toMs, minutes: 60, first: 0 }] : [], spread: 'flat' };
}

function segmentOf(g: PeriodGrid, ms: number): GridSegment | undefined {
  const s = g.segments;
  if (s.length === 1) return s[0];
  for (let i = s.length - 1; i >= 0; i--) if (ms >= s[i].startMs) return s[i];
  return s[0];
}

/** Index of the period that contains `ms` (may be < 0 or ≥ n outside the range). */
export function periodIndex(g: PeriodGrid, ms: number): number {
  const s = segmentOf(g, ms);
  if (!s) return -1;
  return s.first + Math.floor((ms - s.startMs) / (s.minutes * MINUTE_MS));
}

/** Index of the first period that starts at or after `ms`. */
export function periodIndexCeil(g: PeriodGrid, ms: number): number {
  const s = segmentOf(g, ms);
  if (!s) return 0;
  return s.first + Math.ceil((ms - s.startMs) / (s.minutes * MINUTE_MS));
}

/** Start and length (minutes) of every period, in order. */
export function periodTable(g: PeriodGrid): { start: Float64Array; minutes: Int16Array } {
  const start = new Float64Array(g.n);
  const minutes = new Int16Array(g.n);
  for (const s of g.segments) {
    const step = s.minutes * MINUTE_MS;
    for (let i = s.first, t = s.startMs; t < s.endMs; i++, t += step) {
      start[i] = t;
      minutes[i] = s.minutes;
    }
  }
  return { start, minutes };
}

/** The shortest period of the grid (60 when empty). */
export const shortestPeriod = (g: PeriodGrid): number => g.segments.reduce((a, s) => Math.min(a, s.minutes), 60);

export interface StartProblem {
  readonly index: number;
  readonly reason: string;
}

/**
 * Period starts of a batch (epoch ms already parsed; NaN: the row has its own reason) checked against the area's
 * settlement period in force at each: a `:15` start is a period start where the area settles by 15 minutes, and
 * refused with the reason where it settles hourly. Each start once.
 */
export function checkPeriodStarts(ms: readonly number[], starts: readonly string[], schedule: readonly MarketPeriod[], area: string, tz: string, firstIndex = 0, unique = true): StartProblem[] {
  const problems: StartProblem[] = [];
  const seen = new Map<number, number>();
  ms.forEach((t, i) => {
    if (t !== t) return;
    const index = i + firstIndex;
    const p = periodAt(schedule, t, tz);
    if (!startsPeriod(t, p.minutes, tz)) {
      problems.push({
        index,
        reason:
          p.minutes === 60
            ? `start ${starts[i]} is not the start of an hour: area ${area} settles by 60-minute periods on that date (minutes and seconds must be 0)`
            : `start ${starts[i]} is not the start of a ${p.minutes}-minute settlement period of area ${area}`,
      });
      return;
    }
    const dup = seen.get(t);
    if (unique && dup !== undefined) {
      problems.push({ index, reason: `start ${starts[i]} repeats row ${dup}: one row per settlement period` });
      return;
    }
    seen.set(t, index);
  });
  return problems;
}
