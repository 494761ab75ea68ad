import { startOfLocalDate, localDate, shiftDate } from '../../models/calendar.js';
import { channelByCode, type ChannelDef } from '../../models/channel.js';
import { primaryChannelCode, REGISTER_OF } from '../../models/commodity.js';
import type { Quality, Source } from '../../models/reading.js';
import { veeHolidays, type RuleName, type VeeFinding, type VeeParams, type VeePoint } from '../../models/vee.js';
import { conflictRule, type ValueChange } from './conflict-rule.js';
import { intervalShare, type ClassProfile } from './class-shape.js';
import { estimateGaps, scaleToRegister, type Estimate } from './estimate.js';
import { flatLineRule, gapRule, gapWindowEnd, highLowRule, negativeRule, spikeRule, zeroRunRule, type IntervalContext } from './interval-rules.js';
import { acrossExchange, registerRule, rolloverDelta, sumCheckRule } from './register-rules.js';
import { rangeRule, supplyRule, timeRule } from './time-range-rules.js';
import { wrapPointOf } from './wrap-points.js';
import { DAY_MS } from '../../models/time.js';

/**
 * The VEE decisions for one meter over a range of local days, without I/O:
 * stored values in, findings and value writes (suspect marks, estimates) out.
 * ingest/vee/runner.ts loads the inputs and stores the outputs.
 */

/** A stored value as the rules see it, with where it came from. */
export interface SeriesPoint extends VeePoint {
  readonly source: Source;
  /** Marked suspect by an earlier VEE run (not sent as suspect by the head-end). */
  readonly byVee: boolean;
  /** When its figure arrived from the meter side (epoch ms), for the time rule. */
  readonly receivedMs?: number;
}

export interface MeterInfo {
  readonly id: number;
  readonly timezone: string;
  readonly intervalMinutes: number;
  readonly commodity: string;
  /** Supply dates (local, inclusive); null = open. Without a supply start, expectations begin at the first value (or registration). */
  readonly supplyStart?: string | null;
  readonly supplyEnd?: string | null;
}

/** Consecutive local days sharing one set of parameters. */
export interface ParamSegment {
  readonly fromMs: number;
  readonly toMs: number;
  readonly params: VeeParams;
  /** Days outside the meter's supply dates: only the time rule looks at them (their values are suspect), nothing is expected or estimated. */
  readonly outsideSupply?: boolean;
}

export interface EvaluationInput {
  readonly meter: MeterInfo;
  /** Range under validation, [fromMs, toMs), on local-day boundaries. */
  readonly fromMs: number;
  readonly toMs: number;
  readonly nowMs: number;
  /** Cover [fromMs, toMs) in order. */
  readonly segments: readonly ParamSegment[];
  /** Stored values by channel code, oldest first, over the loaded window (history before, brackets after). */
  readonly series: ReadonlyMap<number, readonly SeriesPoint[]>;
  /** Values in [fromMs, toMs) re-sent with a different figure, by channel code. */
  readonly conflicts: ReadonlyMap<number, readonly ValueChange[]>;
  /** issueKey()s of accepted issues: such findings are neither reported again nor acted on. */
  readonly accepted: ReadonlySet<string>;
  /** The meter's profile-class shapes by channel code: the estimation fallback when no like day has data. */
  readonly classProfiles?: ReadonlyMap<number, ClassProfile>;
  /** Register channel code → wrap point from the Modbus register map of the device that reads it (ingest/vee/wrap-points.ts). */
  readonly wrapPoints?: ReadonlyMap<number, number>;
  /** Device exchanges on the metering point (epoch ms): register reads across one belong to two devices. */
  readonly exchangesMs?: readonly number[];
  /** Channel code → start of the channel's first stored value ever (any quality): where a meter without a supply start begins to be expected. */
  readonly firstValueMs?: ReadonlyMap<number, number>;
  /** When the meter was registered (meters.created_at), for a meter without a supply start and without any value. */
  readonly registeredMs?: number;
}

export interface EvaluatedFinding extends VeeFinding {
  readonly channel: number;
  /** `replaced` when every value it concerns was estimated in this run. */
  readonly status: 'open' | 'replaced';
  readonly resolution: string | null;
}

export interface ValueWrite {
  readonly channel: number;
  readonly startMs: number;
  readonly value: number;
  readonly quality: Quality;
  readonly source: Source;
  /** Estimates: how they were made and why. */
  readonly note?: { readonly method: string; readonly params: Readonly<Record<string, unknown>>; readonly reasonCode: string };
}

export interface Evaluation {
  readonly findings: EvaluatedFinding[];
  readonly writes: ValueWrite[];
}

export const issueKey = (channel: number, rule: string, fromMs: number, toMs: number): string => `${channel}|${rule}|${fromMs}|${toMs}`;

/** Rules whose findings span two register reads: they belong to a range that holds either read. */
const BRACKET_RULES: ReadonlySet<RuleName> = new Set(['register', 'sum_check']);

/**
 * Whether a finding belongs to a validation of [fromMs, toMs): it overlaps
 * it, or starts in it (zero-length findings of instantaneous values), or is a
 * register bracket closed by a read at fromMs (the midnight read that ends the
 * day before). sql/vee.repository.ts obsoletes open issues by the same test.
 */
export function inRange(f: { rule: RuleName; fromMs: number; toMs: number }, fromMs: number, toMs: number): boolean {
  return f.fromMs < toMs && (f.toMs > fromMs || f.fromMs >= fromMs || (BRACKET_RULES.has(f.rule) && f.toMs === fromMs));
}

// Interval channel → register channel whose reads bracket it, and the channel a commodity's meters are expected to deliver: models/commodity.ts.

/** As received from the meter side: what the value rules test. */
const isRaw = (x: VeePoint) => x.quality === 'measured' || x.quality === 'suspect';
/** Trusted values: what like days and linear estimates are computed from. */
export const isReference = (x: VeePoint) => x.quality === 'measured' || x.quality === 'validated' || x.quality === 'edited';
/**
 * What the spike and zero-run levels are computed from: the meter's own
 * figures, suspect ones included, so that marking a value suspect does not
 * move the level a re-run compares with (the statistics are robust to them).
 */
const isLevelSource = (x: VeePoint) => isReference(x) || x.quality === 'suspect';
/** Our own automatic estimates: recomputed on every run from the current data. */
const isAutoEstimate = (x: SeriesPoint) => x.quality === 'estimated' && x.source === 'estimated';

const RULE_PARAMS: Readonly<Record<RuleName, keyof VeeParams>> = {
  gap: 'gap',
  conflict: 'conflict',
  negative: 'negative',
  spike: 'spike',
  high_low: 'highLow',
  zero_run: 'zeroRun',
  flat_line: 'flatLine',
  sum_check: 'sumCheck',
  register: 'register',
  time: 'time',
  range: 'range',
};

/** Runs the rules configured for each segment over every channel of the meter, then decides suspect marks and estimates. */
export function evaluateMeter(input: EvaluationInput): Evaluation {
  const channels = new Set(input.series.keys());
  // The commodity's primary interval channel: gaps are counted even when the meter sent nothing on it.
  const primary = primaryChannelCode(input.meter.commodity);
  if (primary !== undefined) channels.add(primary);
  const findings: EvaluatedFinding[] = [];
  const writes: ValueWrite[] = [];
  for (const code of [...channels].sort((a, b) => a - b)) {
    const r = evaluateChannel(input, channelByCode(code));
    findings.push(...r.findings);
    writes.push(...r.writes);
  }
  return { findings, writes };
}

interface Found {
  readonly f: VeeFinding;
  readonly params: VeeParams;
}

function evaluateChannel(input: EvaluationInput, def: ChannelDef): Evaluation {
  const { meter } = input;
  const all = input.series.get(def.code) ?? [];
  const step = def.kind === 'interval' ? meter.intervalMinutes * 60_000 : 0;
  const found = new Map<string, Found>();
  const add = (fs: readonly VeeFinding[], params: VeeParams, segFrom: number, segTo: number) => {
    for (const f of fs) {
      if (!inRange(f, segFrom, segTo)) continue;
      const key = issueKey(def.code, f.rule, f.fromMs, f.toMs);
      if (!input.accepted.has(key) && !found.has(key)) found.set(key, { f, params });
    }
  };

  for (const seg of input.segments) {
    const P = seg.params;
    const inSeg = all.filter((x) => x.startMs >= seg.fromMs && x.startMs < seg.toMs);
    const raw = inSeg.filter(isRaw);
    if (seg.outsideSupply) {
      if (P.time.enabled) add(supplyRule(raw, meter, P.time), P, seg.fromMs, seg.toMs);
      continue;
    }
    if (P.time.enabled) add(timeRule(raw, input.nowMs, step, P.time), P, seg.fromMs, seg.toMs);
    if (P.conflict.enabled) add(conflictRule(input.conflicts.get(def.code) ?? [], step, P.conflict), P, seg.fromMs, seg.toMs);
    if (def.kind === 'interval') addIntervalFindings(input, def, all, inSeg, raw, seg, add);
    else if (def.kind === 'register') {
      if (P.register.enabled)
        add(
          registerRule(
            all.filter((x) => x.quality !== 'missing'),
            { ...P.register, rolloverAt: wrapPointOf(input.wrapPoints, def.code, P), exchangesMs: input.exchangesMs },
          ),
          P,
          seg.fromMs,
          seg.toMs,
        );
    } else if (P.range.enabled) add(rangeRule(raw, def.name, P.range), P, seg.fromMs, seg.toMs);
  }
  if (def.kind !== 'interval') return finish(input, def, all, [...found.values()], new Map(), new Map());

  let plan = planEstimates(input, def, all, [...found.values()]);
  // High/low judges a day's total as it will stand after this run's estimates,
  // so that filling a day's gaps does not make a re-run find something new.
  const after = withEstimates(all, plan.estimates);
  let more = false;
  for (const seg of input.segments) {
    const P = seg.params;
    if (!P.highLow.enabled || seg.outsideSupply) continue;
    const points = after.filter((x) => x.startMs >= seg.fromMs && x.startMs < seg.toMs);
    const history = after.filter((x) => x.startMs < seg.fromMs && x.startMs >= seg.fromMs - P.historyDays * DAY_MS);
    const ctx: IntervalContext = {
      intervalMinutes: meter.intervalMinutes,
      timezone: meter.timezone,
      fromMs: seg.fromMs,
      toMs: seg.toMs,
      history,
      holidays: veeHolidays(P, seg.fromMs, seg.toMs),
      referenceDays: P.historyDays,
    };
    const before = found.size;
    add(highLowRule(points, ctx, P.highLow), P, seg.fromMs, seg.toMs);
    more ||= found.size > before && P.highLow.autoEstimate && P.highLow.severity === 'fail';
  }
  if (more) plan = planEstimates(input, def, all, [...found.values()]);
  return finish(input, def, all, [...found.values()], plan.reasons, plan.estimates);
}

function addIntervalFindings(
  input: EvaluationInput,
  def: ChannelDef,
  all: readonly SeriesPoint[],
  inSeg: readonly SeriesPoint[],
  raw: readonly SeriesPoint[],
  seg: ParamSegment,
  add: (fs: readonly VeeFinding[], params: VeeParams, from: number, to: number) => void,
): void {
  const { meter } = input;
  const P = seg.params;
  const step = meter.intervalMinutes * 60_000;
  const present = inSeg.filter((x) => x.quality !== 'missing');
  const ref = all.filter((x) => x.startMs >= seg.fromMs - P.historyDays * DAY_MS && x.startMs < seg.toMs && isLevelSource(x));
  const ctx: IntervalContext = {
    intervalMinutes: meter.intervalMinutes,
    timezone: meter.timezone,
    fromMs: seg.fromMs,
    toMs: seg.toMs,
    history: ref,
    holidays: veeHolidays(P, seg.fromMs, seg.toMs),
    referenceDays: P.historyDays,
  };
  const push = (fs: readonly VeeFinding[]) => add(fs, P, seg.fromMs, seg.toMs);

  if (P.gap.enabled) {
    // Per local day, so a gap found by a day's run and by a month's run is the same issue.
    let last = -Infinity;
    for (const x of all) if (x.quality !== 'missing') last = x.startMs + step;
    const expected = expectedFrom(input, def.code);
    let i = 0;
    for (let day = seg.fromMs; day < seg.toMs; ) {
      const next = startOfLocalDate(shiftDate(localDate(day, meter.timezone), 1), meter.timezone);
      const pts: SeriesPoint[] = [];
      while (i < present.length && present[i].startMs < next) pts.push(present[i++]);
      const end = gapWindowEnd(day, next, last, input.nowMs, P.gap.graceHours, step);
      // The day's first expected interval, on the day's grid: nothing is missing before the meter was expected.
      const from = expected <= day ? day : day + Math.ceil((expected - day) / step) * step;
      if (from < end) push(gapRule(pts, { ...ctx, fromMs: from, toMs: end }, P.gap));
      day = next;
    }
  }
  if (P.negative.enabled) push(negativeRule(raw, ctx, P.negative));
  if (P.spike.enabled) push(spikeRule(raw, ctx, P.spike));
  // Run rules see the whole loaded window, so a run crossing the range edge is found whole.
  const rawWindow = all.filter(isRaw);
  if (P.zeroRun.enabled) push(zeroRunRule(rawWindow, ctx, P.zeroRun));
  if (P.flatLine.enabled) push(flatLineRule(rawWindow, ctx, P.flatLine));
  const reads = registerReads(input.series, def);
  if (P.sumCheck.enabled && reads.length > 1) {
    push(
      sumCheckRule(
        reads,
        all.filter((x) => x.quality !== 'missing'),
        meter.intervalMinutes,
        { ...P.sumCheck, rolloverAt: wrapPointOf(input.wrapPoints, registerCodeOf(input.series, def), P), exchangesMs: input.exchangesMs },
      ),
    );
  }
}

/**
 * Where intervals of a channel begin to be expected (epoch ms; -Infinity =
 * always, within the validated range): from the supply start when the meter
 * has one (the range is clipped to it); else from the channel's first stored
 * value, or the meter's first value on any channel, or its registration.
 */
export function expectedFrom(input: Pick<EvaluationInput, 'meter' | 'firstValueMs' | 'registeredMs'>, channel: number): number {
  if (input.meter.supplyStart) return -Infinity;
  const own = input.firstValueMs?.get(channel);
  if (own !== undefined) return own;
  const any = input.firstValueMs?.size ? Math.min(...input.firstValueMs.values()) : undefined;
  return any ?? input.registeredMs ?? -Infinity;
}

/** Usable reads of the register that brackets an interval channel (none for channels without one). */
export function registerReads(series: EvaluationInput['series'], def: ChannelDef): readonly SeriesPoint[] {
  const code = registerCodeOf(series, def);
  return code === undefined ? [] : (series.get(code) ?? []).filter((x) => x.quality !== 'missing' && x.quality !== 'suspect');
}

/** Code of the register channel that brackets an interval channel, when the series holds it. */
export function registerCodeOf(series: EvaluationInput['series'], def: ChannelDef): number | undefined {
  const reg = REGISTER_OF[def.name];
  return reg ? [...series.keys()].find((c) => channelByCode(c).name === reg) : undefined;
}

/** Whether a finding's rule is set to replace what it finds by estimates (gaps always can; values when they fail). */
function autoEstimates(x: Found, kind: ChannelDef['kind']): boolean {
  const p = x.params[RULE_PARAMS[x.f.rule]] as { autoEstimate?: boolean };
  return kind === 'interval' && p.autoEstimate === true && (x.f.rule === 'gap' || x.f.severity === 'fail');
}

/** Interval starts a finding would have estimated: a gap's missing intervals, or its suspect values inside the range. */
function targetsOf(x: Found, input: EvaluationInput, byStart: ReadonlyMap<number, SeriesPoint>, step: number): number[] {
  if (x.f.rule !== 'gap') return x.f.suspectStarts.filter((t) => t >= input.fromMs && t < input.toMs && isRawAt(byStart, t));
  const ts: number[] = [];
  for (let t = x.f.fromMs; t < x.f.toMs; t += step) ts.push(t);
  return ts;
}

/** What to estimate and why (auto-estimating findings, our earlier estimates), and the estimates. */
function planEstimates(input: EvaluationInput, def: ChannelDef, all: readonly SeriesPoint[], found: readonly Found[]) {
  const step = input.meter.intervalMinutes * 60_000;
  const byStart = found.length ? new Map(all.map((x) => [x.startMs, x])) : NO_POINTS; // most channels: nothing found
  const reasons = new Map<number, Set<string>>();
  const want = (t: number, why: string) => (reasons.get(t) ?? reasons.set(t, new Set()).get(t)!).add(why);
  for (const x of found) if (autoEstimates(x, def.kind)) for (const t of targetsOf(x, input, byStart, step)) want(t, x.f.rule);
  const supplied = (t: number) => input.segments.some((s) => !s.outsideSupply && t >= s.fromMs && t < s.toMs);
  for (const x of all) if (x.startMs >= input.fromMs && x.startMs < input.toMs && isAutoEstimate(x) && supplied(x.startMs)) want(x.startMs, 're-estimate');
  dropLongRuns(reasons, step, input.segments[0].params.estimation.maxHours * 3_600_000);
  // Values failing a rule are no basis for estimates, whether or not they are marked yet.
  const failing = new Set<number>();
  for (const x of found) if (x.f.severity === 'fail') for (const t of x.f.suspectStarts) failing.add(t);
  const estimates = reasons.size ? estimate(input, def, all, reasons, failing, input.segments[0].params) : new Map<number, Estimate>();
  return { reasons, estimates };
}

/** The stored series with estimates in place of (or added for) their intervals. */
function withEstimates(all: readonly SeriesPoint[], estimates: ReadonlyMap<number, Estimate>): SeriesPoint[] {
  if (estimates.size === 0) return all.filter((x) => x.quality !== 'missing');
  const out: SeriesPoint[] = [];
  for (const x of all) if (!estimates.has(x.startMs) && x.quality !== 'missing') out.push(x);
  for (const e of estimates.values()) out.push({ startMs: e.startMs, value: e.value, quality: 'estimated', source: 'estimated', byVee: false });
  return out.sort((a, b) => a.startMs - b.startMs);
}

/** Findings → value writes: estimates, suspect marks, and un-marks of values no rule fails any more. */
function finish(
  input: EvaluationInput,
  def: ChannelDef,
  all: readonly SeriesPoint[],
  found: readonly Found[],
  reasons: ReadonlyMap<number, ReadonlySet<string>>,
  estimates: ReadonlyMap<number, Estimate>,
): Evaluation {
  const step = input.meter.intervalMinutes * 60_000;
  const suspect = new Set<number>();
  for (const x of found) if (x.f.severity === 'fail') for (const t of x.f.suspectStarts) if (!estimates.has(t)) suspect.add(t);
  const byStart = found.length || estimates.size ? new Map(all.map((x) => [x.startMs, x])) : NO_POINTS;

  const writes: ValueWrite[] = [];
  for (const [t, e] of estimates) {
    const cur = byStart.get(t);
    if (cur && cur.value === e.value && cur.quality === 'estimated' && cur.source === 'estimated') continue;
    writes.push({
      channel: def.code,
      startMs: t,
      value: e.value,
      quality: 'estimated',
      source: 'estimated',
      note: { method: e.method, params: e.params, reasonCode: [...reasons.get(t)!].sort().join(',') },
    });
  }
  for (const t of suspect) {
    const cur = byStart.get(t);
    if (cur?.quality === 'measured') writes.push({ channel: def.code, startMs: t, value: cur.value, quality: 'suspect', source: cur.source });
  }
  for (const x of all) {
    if (x.startMs < input.fromMs || x.startMs >= input.toMs || x.quality !== 'suspect' || !x.byVee || suspect.has(x.startMs) || estimates.has(x.startMs)) continue;
    writes.push({ channel: def.code, startMs: x.startMs, value: x.value, quality: 'measured', source: x.source });
  }

  const findings = found.map((x): EvaluatedFinding => {
    const ts = autoEstimates(x, def.kind) ? targetsOf(x, input, byStart, step) : [];
    const done = ts.length > 0 && ts.every((t) => estimates.has(t));
    const methods = [...new Set(ts.map((t) => estimates.get(t)?.method))].join(', ');
    return { ...x.f, channel: def.code, status: done ? 'replaced' : 'open', resolution: done ? `estimated automatically (${methods})` : null };
  });
  return { findings, writes };
}

const NO_POINTS: ReadonlyMap<number, SeriesPoint> = new Map();

function isRawAt(byStart: ReadonlyMap<number, SeriesPoint>, t: number): boolean {
  const x = byStart.get(t);
  return x !== undefined && isRaw(x);
}

/** Runs of targets longer than `maxMs` are left to a person. */
function dropLongRuns(reasons: Map<number, Set<string>>, step: number, maxMs: number): void {
  const ts = [...reasons.keys()].sort((a, b) => a - b);
  let i = 0;
  while (i < ts.length) {
    let j = i + 1;
    while (j < ts.length && ts[j] === ts[j - 1] + step) j++;
    if ((j - i) * step > maxMs) for (let k = i; k < j; k++) reasons.delete(ts[k]);
    i = j;
  }
}

/**
 * Estimates for the target starts: linear / like-day by gap length, then
 * scaled to the register difference in every bracket of two register reads
 * whose other intervals are all known. A run of targets with one interval nobody could estimate is left out whole.
 */
function estimate(input: EvaluationInput, def: ChannelDef, all: readonly SeriesPoint[], reasons: ReadonlyMap<number, unknown>, failing: ReadonlySet<number>, P: VeeParams): Map<number, Estimate> {
  const { meter } = input;
  const step = meter.intervalMinutes * 60_000;
  const known = all.filter((x) => !reasons.has(x.startMs) && !failing.has(x.startMs) && x.quality !== 'missing' && x.quality !== 'suspect');
  const history = known.filter(isReference);
  const profile = input.classProfiles?.get(def.code);
  // The class fallback's daily energy: the meter's own average day when it has history, else its class's.
  const ownDaily = history.length ? (history.reduce((a, x) => a + x.value, 0) / history.length) * (1440 / meter.intervalMinutes) : undefined;
  const targets = [...reasons.keys()];
  let first = Infinity,
    last = -Infinity;
  for (const t of targets) (first = Math.min(first, t)), (last = Math.max(last, t));
  const made = estimateGaps(targets, known, {
    intervalMinutes: meter.intervalMinutes,
    timezone: meter.timezone,
    history,
    holidays: targets.length ? veeHolidays(P, first, last + step) : new Set(P.holidays),
    maxLinearHours: P.estimation.maxLinearHours,
    likeDayWeeks: P.estimation.likeDayWeeks,
    classShape: profile ? intervalShare(profile, meter.intervalMinutes) : undefined,
    dailyEnergy: ownDaily ?? profile?.dailyEnergy,
  });
  // All or nothing per run of consecutive targets: a half-filled gap would come back as a smaller gap on the next run.
  const out = new Map<number, Estimate>();
  let run: Estimate[] = [];
  const flush = () => {
    if (run.every((e) => e.method !== 'none')) for (const e of run) out.set(e.startMs, e);
    run = [];
  };
  for (const e of made) {
    if (run.length && e.startMs !== run[run.length - 1].startMs + step) flush();
    run.push(e);
  }
  flush();
  fitToRegister(out, new Map(known.map((x) => [x.startMs, x.value])), registerReads(input.series, def), step, wrapPointOf(input.wrapPoints, registerCodeOf(input.series, def), P), input.exchangesMs);
  return out;
}

/**
 * Scales the estimates inside every bracket of two register reads whose
 * other intervals are all known, so that the bracket adds up to the register
 * difference (both as recorded: the multiplier cancels). In place.
 */
export function fitToRegister(
  estimates: Map<number, Estimate>,
  known: ReadonlyMap<number, number>,
  reads: readonly VeePoint[],
  stepMs: number,
  rolloverAt: number | undefined,
  exchangesMs?: readonly number[],
): void {
  for (let i = 1; i < reads.length; i++) {
    const a = reads[i - 1];
    const b = reads[i];
    if (acrossExchange(a, b, exchangesMs)) continue;
    const diff = b.value >= a.value ? b.value - a.value : rolloverDelta(a.value, b.value, rolloverAt);
    if (diff === undefined) continue;
    const inBracket: Estimate[] = [];
    let knownSum = 0;
    let complete = true;
    for (let t = a.startMs; t < b.startMs; t += stepMs) {
      const e = estimates.get(t);
      if (e) inBracket.push(e);
      else if (known.has(t)) knownSum += known.get(t)!;
      else complete = false;
    }
    if (!complete || inBracket.length === 0) continue;
    for (const e of scaleToRegister(inBracket, knownSum, diff)) estimates.set(e.startMs, e);
  }
}
