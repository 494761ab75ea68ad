import { isAligned } from '../models/time.js';

/**
 * Register reads → interval consumption. Pure: the caller keeps the state
 * between reads (sql/modbus-device.repository.ts persists it).
 *
 * Rule (docs/modbus.md, "From register reads to intervals"):
 * - Consumption between two consecutive reads (t0, v0) and (t1, v1) is
 *   d = v1 − v0, spread linearly over [t0, t1): an interval [b, e) receives
 *   d × |[b, e) ∩ [t0, t1)| / (t1 − t0). Intervals are aligned in the meter's
 *   local time (isAligned), so DST days simply have 23 or 25 hourly intervals.
 * - An interval is emitted once a read at or after its end arrives, never
 *   twice. The interval in which reading starts (first read, or restart after
 *   a reset, jump or gap) is not emitted unless the read falls exactly on its
 *   start: consumption before the first read is unknown.
 * - Quality: 'measured' when both boundaries of the interval are "pinned" (a
 *   read within `pinToleranceMs` of the boundary, default 10 % of the
 *   interval), 'estimated' otherwise (the interval lies inside a longer span
 *   between reads and its value is a linear share).
 * - d < 0 with `rolloverAt`: the counter wrapped when v1 + rolloverAt − v0 is
 *   at most 10 % of rolloverAt (and within maxDeltaPerHour, when set); the
 *   wrapped delta is used. Any other decrease is a reset.
 * - Reset (decrease that is no rollover) and jump (increase above
 *   maxDeltaPerHour × max(t1 − t0, one interval)): no consumption is derived
 *   for [t0, t1]; the pending interval is dropped and reading restarts at
 *   (t1, v1). The caller flags the read.
 * - Reads more than `maxGapMs` apart: same restart, the gap stays empty.
 */

export type { RegisterState } from '../models/modbus.js';
import type { RegisterState } from '../models/modbus.js';

export interface RegisterRead {
  readonly atMs: number;
  /** Register value in the channel unit (after scale). */
  readonly value: number;
}

export interface DeltaOptions {
  readonly intervalMinutes: number;
  readonly timezone: string;
  /** Value at which the counter wraps to 0; undefined: never wraps (a decrease is a reset). */
  readonly rolloverAt?: number;
  readonly maxDeltaPerHour?: number;
  readonly maxGapMs: number;
  /** Default: 10 % of the interval. */
  readonly pinToleranceMs?: number;
}

export interface DerivedInterval {
  readonly startMs: number;
  readonly value: number;
  readonly quality: 'measured' | 'estimated';
}

export type DeltaFlag =
  | { readonly kind: 'first' }
  | { readonly kind: 'stale'; readonly lastAtMs: number }
  | { readonly kind: 'invalid' }
  | { readonly kind: 'rollover'; readonly previous: number; readonly current: number; readonly delta: number }
  | { readonly kind: 'reset'; readonly previous: number; readonly current: number; readonly previousAtMs: number }
  | { readonly kind: 'jump'; readonly previous: number; readonly current: number; readonly previousAtMs: number; readonly limit: number }
  | { readonly kind: 'gap'; readonly previousAtMs: number };

export interface DeltaResult {
  /** undefined only when there was no state and the read was not a finite number. */
  readonly state: RegisterState | undefined;
  readonly intervals: DerivedInterval[];
  /** Consumption between the previous read and this one (after rollover); undefined when none was derived. */
  readonly delta?: number;
  readonly flag?: DeltaFlag;
}

/** Share of rolloverAt a wrapped delta may reach and still count as a rollover. */
export const ROLLOVER_WINDOW = 0.1;
/** Decreases this small (relative) are float noise, not resets. */
const NOISE = 1e-9;
const QUARTER_MS = 15 * 60_000; // every UTC offset in use is a multiple of 15 min, so every local boundary lies on this grid

/** Start of the local interval that holds `ms`. */
export function intervalStartOf(ms: number, intervalMinutes: number, tz: string): number {
  let q = Math.floor(ms / QUARTER_MS) * QUARTER_MS;
  for (let i = 0; i <= 12; i++, q -= QUARTER_MS) if (isAligned(q, intervalMinutes, tz)) return q;
  throw new Error(`no ${intervalMinutes}-minute boundary in ${tz} within 3 h before ${new Date(ms).toISOString()}`);
}

/** Start of the local interval after the one starting at `startMs`. */
export function nextIntervalStart(startMs: number, intervalMinutes: number, tz: string): number {
  let q = startMs + QUARTER_MS;
  for (let i = 0; i <= 12; i++, q += QUARTER_MS) if (isAligned(q, intervalMinutes, tz)) return q;
  throw new Error(`no ${intervalMinutes}-minute boundary in ${tz} within 3 h after ${new Date(startMs).toISOString()}`);
}

function restart(read: RegisterRead, o: DeltaOptions): RegisterState {
  const start = intervalStartOf(read.atMs, o.intervalMinutes, o.timezone);
  return { lastAtMs: read.atMs, lastValue: read.value, pendingStartMs: start, pendingValue: 0, pendingStart: start === read.atMs ? 'pinned' : 'partial' };
}

/** 10⁻⁶ of the channel unit (mWh for kWh): hides float noise of the linear shares. */
const round6 = (v: number) => Math.round(v * 1e6) / 1e6;

/**
 * Applies one register read to the state of its meter channel.
 * @example
 * // 15-min intervals, reads at 10:00 (100 kWh) and 10:30 (103 kWh): the 3 kWh are
 * // shared linearly; 10:15 has no read near it, so both intervals are estimates.
 * applyRegisterRead(applyRegisterRead(undefined, { atMs: t1000, value: 100 }, o).state, { atMs: t1030, value: 103 }, o)
 * // → intervals [{ startMs: t1000, value: 1.5, quality: 'estimated' }, { startMs: t1015, value: 1.5, quality: 'estimated' }]
 */
export function applyRegisterRead(state: RegisterState | undefined, read: RegisterRead, o: DeltaOptions): DeltaResult {
  if (!Number.isFinite(read.value)) return { state, intervals: [], flag: { kind: 'invalid' } };
  if (!state) return { state: restart(read, o), intervals: [], flag: { kind: 'first' } };
  if (read.atMs <= state.lastAtMs) return { state, intervals: [], flag: { kind: 'stale', lastAtMs: state.lastAtMs } };
  const span = read.atMs - state.lastAtMs;
  if (span > o.maxGapMs) return { state: restart(read, o), intervals: [], flag: { kind: 'gap', previousAtMs: state.lastAtMs } };

  const intervalMs = o.intervalMinutes * 60_000;
  const limit = o.maxDeltaPerHour === undefined ? Infinity : (o.maxDeltaPerHour * Math.max(span, intervalMs)) / 3_600_000;
  let delta = read.value - state.lastValue;
  let flag: DeltaFlag | undefined;
  if (delta < 0) {
    if (-delta <= NOISE * Math.max(1, Math.abs(state.lastValue))) {
      delta = 0;
    } else {
      const wrapped = o.rolloverAt === undefined ? NaN : read.value + o.rolloverAt - state.lastValue;
      if (wrapped >= 0 && wrapped <= ROLLOVER_WINDOW * o.rolloverAt! && wrapped <= limit) {
        delta = wrapped;
        flag = { kind: 'rollover', previous: state.lastValue, current: read.value, delta: wrapped };
      } else {
        return { state: restart(read, o), intervals: [], flag: { kind: 'reset', previous: state.lastValue, current: read.value, previousAtMs: state.lastAtMs } };
      }
    }
  }
  if (delta > limit) {
    return { state: restart(read, o), intervals: [], flag: { kind: 'jump', previous: state.lastValue, current: read.value, previousAtMs: state.lastAtMs, limit } };
  }

  const tolerance = o.pinToleranceMs ?? intervalMs / 10;
  const rate = delta / span;
  const intervals: DerivedInterval[] = [];
  let start = state.pendingStartMs;
  let acc = state.pendingValue;
  let startKind = state.pendingStart;
  let cursor = state.lastAtMs;
  for (;;) {
    const end = nextIntervalStart(start, o.intervalMinutes, o.timezone);
    if (read.atMs < end) {
      acc += rate * (read.atMs - cursor);
      break;
    }
    acc += rate * (end - cursor);
    const endPinned = Math.min(end - state.lastAtMs, read.atMs - end) <= tolerance;
    if (startKind !== 'partial') intervals.push({ startMs: start, value: round6(acc), quality: startKind === 'pinned' && endPinned ? 'measured' : 'estimated' });
    startKind = endPinned ? 'pinned' : 'loose';
    acc = 0;
    cursor = end;
    start = end;
    if (read.atMs === end) break;
  }
  return {
    state: { lastAtMs: read.atMs, lastValue: read.value, pendingStartMs: start, pendingValue: acc, pendingStart: startKind },
    intervals,
    delta,
    flag,
  };
}
