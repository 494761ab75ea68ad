import { median, medianAbsoluteDeviation } from 'simple-statistics';
import { dayTypeOf, localDate, localMinuteOfDay, shiftDate, startOfLocalDate } from '../../models/calendar.js';
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
  /** Days before a tested day whose totals the high/low rule compares with (default 28). */
  readonly referenceDays?: number;
}

const H = 3_600_000;

/**
 * Where the gap rule stops looking in [fromMs, toMs): missing intervals after
 * the last received one (`lastEndMs`, the end of the newest interval of the
 * channel, or -Infinity) are not gaps yet while the data may still come, i.e.
 * until they ended `graceHours` before `nowMs`. On the interval grid of fromMs.
 * @example gapWindowEnd(0, 24 * H, 10 * H, 30 * H, 24, H) // 10 h: data up to 10:00, now is 06:00 the next day
 */
export function gapWindowEnd(fromMs: number, toMs: number, lastEndMs: number, nowMs: number, graceHours: number, stepMs: number): number {
  const settled = fromMs + Math.floor((nowMs - graceHours * H - fromMs) / stepMs) * stepMs;
  return Math.max(fromMs, Math.min(toMs, Math.max(lastEndMs, settled)));
}

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
 * Spike: value above k × the robust level of the meter's own history, where
 * a level is median + 1.4826·MAD (the MAD scaled to a normal σ), taken at the
 * same local hour of day when the history holds at least a week of that hour
 * (a load profile's 14:00 is not its 03:00), else over the whole history; and
 * above the physical maximum maxKw × interval hours when a contracted power is known.
 */
export function spikeRule(points: readonly VeePoint[], ctx: IntervalContext, p: VeeParams['spike']): VeeFinding[] {
  const robust = (vs: number[]) => median(vs) + 1.4826 * medianAbsoluteDeviation(vs);
  const hist = ctx.history.filter((x) => x.value >= 0);
  const overall = hist.length >= 24 ? robust(hist.map((x) => x.value)) : undefined;
  const hourOf = (ms: number) => Math.floor(localMinuteOfDay(ms, ctx.timezone) / 60);
  const byHour = new Map<number, number[]>();
  for (const x of hist) {
    const h = hourOf(x.startMs);
    const list = byHour.get(h);
    if (list) list.push(x.value);
    else byHour.set(h, [x.value]);
  }
  const hourly = new Map<number, number>();
  for (const [h, vs] of byHour) if (vs.length >= (7 * 60) / Math.min(60, ctx.intervalMinutes)) hourly.set(h, robust(vs));
  const physical = p.maxKw !== undefined ? (p.maxKw * ctx.intervalMinutes) / 60 : undefined;
  const out: VeeFinding[] = [];
  for (const x of points) {
    let why: string | undefined;
    const atHour = hourly.get(hourOf(x.startMs));
    const level = atHour ?? overall;
    if (physical !== undefined && x.value > physical) why = `above the physical maximum ${physical} (${p.maxKw} kW × ${ctx.intervalMinutes} min)`;
    else if (level !== undefined && x.value >= p.minValue && x.value > p.k * level) {
      why = `above ${p.k} × robust level ${round(level)} of the meter's history${atHour === undefined ? '' : ' at this hour of day'}`;
    }
    if (why) {
      out.push({ rule: 'spike', severity: p.severity, fromMs: x.startMs, toMs: x.startMs + ctx.intervalMinutes * 60_000, detail: `value ${x.value} ${why}`, suspectStarts: [x.startMs] });
    }
  }
  return out;
}

/**
 * High/low: a complete local day whose total is outside [low, high] × the
 * average total of the complete days of the same day type in the
 * `referenceDays` before it (from the history and the earlier tested days).
 * Incomplete days (today so far, a day with gaps) are neither tested nor used
 * as reference: a part-day total says nothing about usage.
 */
export function highLowRule(points: readonly VeePoint[], ctx: IntervalContext, p: VeeParams['highLow']): VeeFinding[] {
  const hol = ctx.holidays ?? new Set<string>();
  const step = ctx.intervalMinutes * 60_000;
  const refDays = ctx.referenceDays ?? 28;
  type Day = { sum: number; n: number; from: number; starts: number[] };
  const totals = (pts: readonly VeePoint[], into: Map<string, Day>, keepStarts: boolean) => {
    for (const x of pts) {
      const d = localDate(x.startMs, ctx.timezone);
      let e = into.get(d);
      if (!e) into.set(d, (e = { sum: 0, n: 0, from: startOfLocalDate(d, ctx.timezone), starts: [] }));
      e.sum += x.value;
      e.n++;
      if (keepStarts) e.starts.push(x.startMs);
    }
    return into;
  };
  const complete = (d: string, e: Day) => e.n === Math.round((startOfLocalDate(shiftDate(d, 1), ctx.timezone) - e.from) / step);
  const tested = totals(points, new Map(), true);
  const all = totals(ctx.history, new Map(), false);
  for (const [d, e] of tested) if (!all.has(d)) all.set(d, e);
  const reference = [...all].filter(([d, e]) => complete(d, e)).map(([d, e]) => ({ d, type: dayTypeOf(d, hol), sum: e.sum }));
  const out: VeeFinding[] = [];
  for (const [d, e] of tested) {
    if (!complete(d, e)) continue;
    const type = dayTypeOf(d, hol);
    const earliest = shiftDate(d, -refDays);
    const ref = reference.filter((r) => r.type === type && r.d < d && r.d >= earliest);
    if (ref.length < 2) continue;
    const avg = ref.reduce((a, r) => a + r.sum, 0) / ref.length;
    if (avg <= 0) continue;
    const ratio = e.sum / avg;
    if (ratio < p.low || ratio > p.high) {
      out.push({
        rule: 'high_low',
        severity: p.severity,
        fromMs: e.from,
        toMs: startOfLocalDate(shiftDate(d, 1), ctx.timezone),
        detail: `daily total ${round(e.sum)} on ${d} is ${round(ratio)} × the average ${round(avg)} of ${type}s`,
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
  const zeroRuns = runs(points, ctx, (x) => x.value === 0, p.hours);
  if (zeroRuns.length === 0) return []; // most meters: the history's levels are not needed
  const usual = new Map<number, number[]>();
  for (const x of ctx.history) {
    const k = localMinuteOfDay(x.startMs, ctx.timezone);
    const list = usual.get(k);
    if (list) list.push(x.value);
    else usual.set(k, [x.value]);
  }
  const consumesAt = (ms: number) => {
    const v = usual.get(localMinuteOfDay(ms, ctx.timezone));
    return v !== undefined && median(v) > 0;
  };
  return zeroRuns.flatMap((run) =>
    run.some((x) => consumesAt(x.startMs)) ? [finding('zero_run', p.severity, run, ctx, `${run.length} consecutive zero intervals where the meter usually consumes`)] : [],
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
