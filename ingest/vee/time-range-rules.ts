import type { ChannelName } from '../../models/channel.js';
import type { VeeFinding, VeeParams, VeePoint } from '../../models/vee.js';

/** Readings stamped in the future (beyond a clock tolerance) or older than the horizon. Pure: `nowMs` is passed in. */
export function timeRule(points: readonly VeePoint[], nowMs: number, lengthMs: number, p: VeeParams['time']): VeeFinding[] {
  const future = nowMs + p.futureMinutes * 60_000;
  const horizon = nowMs - p.horizonDays * 86_400_000;
  const out: VeeFinding[] = [];
  for (const x of points) {
    const why = x.startMs > future ? 'is in the future' : x.startMs < horizon ? `is older than the ${p.horizonDays}-day horizon` : undefined;
    if (why) out.push({ rule: 'time', severity: p.severity, fromMs: x.startMs, toMs: x.startMs + lengthMs, detail: `reading at ${new Date(x.startMs).toISOString()} ${why}`, suspectStarts: [x.startMs] });
  }
  return out;
}

/** Physical bounds for temperature (°C) and pressure (bar). */
export function rangeRule(points: readonly VeePoint[], channel: ChannelName, p: VeeParams['range']): VeeFinding[] {
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
