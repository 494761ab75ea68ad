import { median, medianAbsoluteDeviation } from 'simple-statistics';
import { dayTypeOf, localDate, localMinuteOfDay } from '../../models/calendar.js';
import type { VeeFinding, VeeParams, VeePoint } from '../../models/vee.js';

/**
 * Rules over interval energy series (active/reactive energy, volume). Each
 * takes the points under test (sorted by start), the meter's context and its
 * own earlier history, and returns findings. Pure.
 */
export interface IntervalContext {
  readonly intervalMinutes: number;
  readonly timezone: string;
  /** Range under test, [fromMs, toMs). */
  readonly fromMs: number;
  readonly toMs: number;
  /** The meter's earlier values (e.g. previous 4 weeks), for robust levels. */
  readonly history: readonly VeePoint[];
  readonly holidays?: ReadonlySet<string>;
}

const H = 3_600_000;

/** Runs of consecutive missing intervals in [fromMs, toMs), DST-safe (intervals are fixed lengths of absolute time). */
export function gapRule(points: readonly VeePoint[], ctx: IntervalContext, p: VeeParams['gap']): VeeFinding[] {
  const step = ctx.intervalMinutes * 60_000;
  const present = new Set(points.map((x) => x.startMs));
  const out: VeeFinding[] = [];
  let runStart: number | null = null;
  const flush = (end: number) => {
    if (runStart === null) return;
    const n = (end - runStart) / step;
    out.push({ rule: 'gap', severity: p.severity, fromMs: runStart, toMs: end, detail: `${n} interval${n > 1 ? 's' : ''} missing`, suspectStarts: [] });
    runStart = null;
  };
  for (let t = ctx.fromMs; t < ctx.toMs; t += step) {
    if (present.has(t)) flush(t);
    else if (runStart === null) runStart = t;
  }
  flush(ctx.toMs);
  return out;
}

/** Negative consumption on an interval energy channel. */
export function negativeRule(points: readonly VeePoint[], ctx: IntervalContext, p: VeeParams['negative']): VeeFinding[] {
  return points
    .filter((x) => x.value < 0)
    .map((x) => ({
      rule: 'negative' as const,
      severity: p.severity,
      fromMs: x.startMs,
      toMs: x.startMs + ctx.intervalMinutes * 60_000,
      detail: `negative consumption ${x.value}`,
      suspectStarts: [x.startMs],
    }));
}

/**
 * Spike: value above k × robust level of the meter's own history, where the
 * level is median + 1.4826·MAD (the MAD scaled to a normal σ); and above the
 * physical maximum maxKw × interval hours when a contracted power is known.
 */
export function spikeRule(points: readonly VeePoint[], ctx: IntervalContext, p: VeeParams['spike']): VeeFinding[] {
  const hist = ctx.history.map((x) => x.value).filter((v) => v >= 0);
  const level = hist.length >= 24 ? median(hist) + 1.4826 * medianAbsoluteDeviation(hist) : undefined;
  const physical = p.maxKw !== undefined ? (p.maxKw * ctx.intervalMinutes) / 60 : undefined;
  const out: VeeFinding[] = [];
  for (const x of points) {
    let why: string | undefined;
    if (physical !== undefined && x.value > physical) why = `above the physical maximum ${physical} (${p.maxKw} kW × ${ctx.intervalMinutes} min)`;
    else if (level !== undefined && x.value >= p.minValue && x.value > p.k * level) why = `above ${p.k} × robust level ${round(level)} of the meter's history`;
    if (why) {
      out.push({ rule: 'spike', severity: p.severity, fromMs: x.startMs, toMs: x.startMs + ctx.intervalMinutes * 60_000, detail: `value ${x.value} ${why}`, suspectStarts: [x.startMs] });
    }
  }
  return out;
}

/**
 * High/low: a local day's total outside [low, high] × the meter's average
 * daily total for the same day type in its history. Only complete days count.
 */
export function highLowRule(points: readonly VeePoint[], ctx: IntervalContext, p: VeeParams['highLow']): VeeFinding[] {
  const hol = ctx.holidays ?? new Set<string>();
  const totals = (pts: readonly VeePoint[]) => {
    const m = new Map<string, { sum: number; n: number; from: number; to: number; starts: number[] }>();
    for (const x of pts) {
      const d = localDate(x.startMs, ctx.timezone);
      const e = m.get(d) ?? { sum: 0, n: 0, from: x.startMs, to: x.startMs, starts: [] };
      e.sum += x.value;
      e.n++;
      e.from = Math.min(e.from, x.startMs);
      e.to = Math.max(e.to, x.startMs + ctx.intervalMinutes * 60_000);
      e.starts.push(x.startMs);
      m.set(d, e);
    }
    return m;
  };
  const byType = new Map<string, number[]>();
  for (const [d, e] of totals(ctx.history)) {
    const t = dayTypeOf(d, hol);
    byType.set(t, [...(byType.get(t) ?? []), e.sum]);
  }
  const out: VeeFinding[] = [];
  for (const [d, e] of totals(points)) {
    const ref = byType.get(dayTypeOf(d, hol));
    if (!ref || ref.length < 2) continue;
    const avg = ref.reduce((a, b) => a + b, 0) / ref.length;
    if (avg <= 0) continue;
    const ratio = e.sum / avg;
    if (ratio < p.low || ratio > p.high) {
      out.push({
        rule: 'high_low',
        severity: p.severity,
        fromMs: e.from,
        toMs: e.to,
        detail: `daily total ${round(e.sum)} on ${d} is ${round(ratio)} × the average ${round(avg)} of ${dayTypeOf(d, hol)}s`,
        suspectStarts: e.starts,
      });
    }
  }
  return out;
}

/**
 * Zero run: at least `hours` of consecutive zeros, where the meter's history
 * shows consumption at those local times of day (median > 0).
 */
export function zeroRunRule(points: readonly VeePoint[], ctx: IntervalContext, p: VeeParams['zeroRun']): VeeFinding[] {
  const usual = new Map<number, number[]>();
  for (const x of ctx.history) {
    const k = localMinuteOfDay(x.startMs, ctx.timezone);
    usual.set(k, [...(usual.get(k) ?? []), x.value]);
  }
  const consumesAt = (ms: number) => {
    const v = usual.get(localMinuteOfDay(ms, ctx.timezone));
    return v !== undefined && median(v) > 0;
  };
  return runs(points, ctx, (x) => x.value === 0, p.hours).flatMap((run) =>
    run.some((x) => consumesAt(x.startMs))
      ? [finding('zero_run', p.severity, run, ctx, `${run.length} consecutive zero intervals where the meter usually consumes`)]
      : [],
  );
}

/** Flat line: at least `hours` of the same non-zero value. */
export function flatLineRule(points: readonly VeePoint[], ctx: IntervalContext, p: VeeParams['flatLine']): VeeFinding[] {
  const out: VeeFinding[] = [];
  const minLen = Math.ceil((p.hours * H) / (ctx.intervalMinutes * 60_000));
  let i = 0;
  while (i < points.length) {
    let j = i + 1;
    while (j < points.length && points[j].value === points[i].value && points[j].startMs === points[j - 1].startMs + ctx.intervalMinutes * 60_000) j++;
    if (points[i].value !== 0 && j - i >= minLen) {
      out.push(finding('flat_line', p.severity, points.slice(i, j), ctx, `${j - i} consecutive intervals of ${points[i].value}`));
    }
    i = j;
  }
  return out;
}

function runs(points: readonly VeePoint[], ctx: IntervalContext, pred: (x: VeePoint) => boolean, hours: number): VeePoint[][] {
  const step = ctx.intervalMinutes * 60_000;
  const minLen = Math.ceil((hours * H) / step);
  const out: VeePoint[][] = [];
  let cur: VeePoint[] = [];
  for (const x of points) {
    if (pred(x) && (cur.length === 0 || x.startMs === cur[cur.length - 1].startMs + step)) cur.push(x);
    else {
      if (cur.length >= minLen) out.push(cur);
      cur = pred(x) ? [x] : [];
    }
  }
  if (cur.length >= minLen) out.push(cur);
  return out;
}

function finding(rule: VeeFinding['rule'], severity: VeeFinding['severity'], run: readonly VeePoint[], ctx: IntervalContext, detail: string): VeeFinding {
  return {
    rule,
    severity,
    fromMs: run[0].startMs,
    toMs: run[run.length - 1].startMs + ctx.intervalMinutes * 60_000,
    detail,
    suspectStarts: run.map((x) => x.startMs),
  };
}

const round = (v: number) => Math.round(v * 1000) / 1000;
