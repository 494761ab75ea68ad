import { localDate, shiftDate, startOfLocalDate } from '../../models/calendar.js';
import type { VeeFinding, VeeParams, VeePoint } from '../../models/vee.js';

/** A value with the time its figure arrived: ingest_batches.received_at of the delivery (epoch ms), when known. */
export interface ArrivedPoint extends VeePoint {
  readonly receivedMs?: number;
}

/**
 * Future-dated values: stamped more than `futureMinutes` after they arrived,
 * or after now (a value may be judged before its arrival is known, and in
 * tests now may precede the arrival). A value is never suspect for its age:
 * years of loaded history are as plausible as today's reads (issue 12). One
 * finding per value. Pure: `nowMs` is passed in.
 * @example timeRule([{ startMs: Date.parse('2026-03-02T12:00Z'), value: 1, quality: 'measured', receivedMs: Date.parse('2026-03-01T12:00Z') }], Date.parse('2026-03-09T00:00Z'), 3_600_000, DEFAULT_VEE_PARAMS.time)
 * // [{ rule: 'time', detail: 'reading at 2026-03-02T12:00:00.000Z arrived at 2026-03-01T12:00:00.000Z, 1440 minutes before its time', … }]
 */
export function timeRule(points: readonly ArrivedPoint[], nowMs: number, lengthMs: number, p: VeeParams['time']): VeeFinding[] {
  const tolerance = p.futureMinutes * 60_000;
  const out: VeeFinding[] = [];
  for (const x of points) {
    const arrived = x.receivedMs !== undefined && x.receivedMs < nowMs ? x.receivedMs : undefined;
    if (x.startMs <= (arrived ?? nowMs) + tolerance) continue;
    const at = new Date(x.startMs).toISOString();
    const detail =
      arrived === undefined || x.startMs > nowMs + tolerance
        ? `reading at ${at} is in the future`
        : `reading at ${at} arrived at ${new Date(arrived).toISOString()}, ${Math.round((x.startMs - arrived) / 60_000)} minutes before its time`;
    out.push({ rule: 'time', severity: p.severity, fromMs: x.startMs, toMs: x.startMs + lengthMs, detail, suspectStarts: [x.startMs] });
  }
  return out;
}

/** A meter's supply dates: local dates in its time zone, inclusive; null = open. */
export interface SupplyPeriod {
  readonly timezone: string;
  readonly supplyStart?: string | null;
  readonly supplyEnd?: string | null;
}

/**
 * Values outside the meter's supply dates (before `supplyStart` or after
 * `supplyEnd`): not ours to bill, or stamped on the wrong meter. Rule `time`,
 * one finding per channel and local date, over the whole local day (so a run
 * of a day and one of a month report the same issue); every such value is
 * suspect. Pure.
 * @example supplyRule(pointsOf2024_01_31, { timezone: 'Europe/Istanbul', supplyStart: '2024-02-01' }, DEFAULT_VEE_PARAMS.time)
 * // [{ rule: 'time', detail: '24 values on 2024-01-31, before the meter\'s supply start 2024-02-01', … }]
 */
export function supplyRule(points: readonly VeePoint[], s: SupplyPeriod, p: VeeParams['time']): VeeFinding[] {
  const byDate = new Map<string, number[]>();
  for (const x of points) {
    const d = localDate(x.startMs, s.timezone);
    if ((s.supplyStart && d < s.supplyStart) || (s.supplyEnd && d > s.supplyEnd)) (byDate.get(d) ?? byDate.set(d, []).get(d)!).push(x.startMs);
  }
  return [...byDate].map(([d, starts]) => ({
    rule: 'time' as const,
    severity: p.severity,
    fromMs: startOfLocalDate(d, s.timezone),
    toMs: startOfLocalDate(shiftDate(d, 1), s.timezone),
    detail: `${starts.length} value${starts.length > 1 ? 's' : ''} on ${d}, ${s.supplyStart && d < s.supplyStart ? `before the meter's supply start ${s.supplyStart}` : `after the meter's supply end ${s.supplyEnd}`}`,
    suspectStarts: starts,
  }));
}

/** Physical bounds for temperature (°C) and pressure (bar). */
export function rangeRule(points: readonly VeePoint[], channel: string, p: VeeParams['range']): VeeFinding[] {
  const bounds = channel === 'temperature' ? p.temperature : channel === 'pressure' ? p.pressure : undefined;
  if (!bounds) return [];
  const [lo, hi] = bounds;
  return points
    .filter((x) => x.value < lo || x.value > hi)
    .map((x) => ({
      rule: 'range' as const,
      severity: p.severity,
      fromMs: x.startMs,
      toMs: x.startMs,
      detail: `${channel} ${x.value} outside the physical range [${lo}, ${hi}]`,
      suspectStarts: [x.startMs],
    }));
}
