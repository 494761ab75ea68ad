import { datesBetween, shiftDate, startOfLocalDate } from '../../models/calendar.js';
import { CHANNELS, channelByCode } from '../../models/channel.js';
import type { MeterFailure } from '../../models/failing-items.js';
import type { NormalizedReading } from '../../models/reading.js';
import { qualityCode, qualityName, sourceCode, sourceName } from '../../models/reading.js';
import { RULES, type RuleName, type VeeParams } from '../../models/vee.js';
import type { Database } from '../../sql/database.js';
import { exchangeInstants } from '../../sql/device.repository.js';
import { insertNotes, type NoteInput } from '../../sql/reading-note.repository.js';
import { writeReadings } from '../../sql/reading-write.repository.js';
import {
  findVeeMeters,
  listVeeSettings,
  loadAcceptedIssues,
  loadClassHourSums,
  loadConflicts,
  loadFirstValues,
  loadRegisterMaps,
  loadValues,
  storeIssues,
  type IssueInput,
  type MeterRange,
  type VeeMeterRow,
} from '../../sql/vee.repository.js';
import { classKey, classProfiles, type ClassProfile } from './class-shape.js';
import { resolveVeeParams, type VeeSetting } from './config.js';
import { evaluateMeter, issueKey, type EvaluatedFinding, type ParamSegment, type SeriesPoint, type ValueWrite } from './evaluate.js';
import type { ValueChange } from './conflict-rule.js';
import { registerWrapPoints } from './wrap-points.js';
import { DAY_MS } from '../../models/time.js';
import type { IngestListeners } from '../ingest-listeners.js';

/** Local days of one meter to validate, inclusive. */
export interface VeeTarget {
  readonly meterId: number;
  readonly fromDate: string;
  readonly toDate: string;
}

export interface VeeRunOptions {
  readonly nowMs: number;
  /** Meter ranges per load/store round trip (default 100). */
  readonly batchSize?: number;
  /** Who the writes are recorded as (ingest_batches.principal, resolved_by); default 'vee'. */
  readonly principal?: string;
  /** veeIssuesStoring: VEE alarms for the fail issues the run creates (wired by cli/ and api/); none: the issues are stored only. */
  readonly listeners?: IngestListeners;
}

export interface VeeRunResult {
  /** Meter ranges validated (days outside a meter's supply dates are validated by the time rule only). */
  readonly ranges: number;
  /** Stored values inside the validated ranges, all channels. */
  readonly values: number;
  readonly findings: Record<RuleName, number>;
  readonly issuesCreated: number;
  readonly issuesObsoleted: number;
  readonly markedSuspect: number;
  readonly estimated: number;
  /** Values VEE had marked suspect that no rule fails any more, back to measured. */
  readonly unmarked: number;
  /** Meters whose VEE alarms could not be raised (their issues are stored); absent when none. */
  readonly alarmFailures?: readonly MeterFailure[];
}

/** Days loaded after the range: register reads that close a bracket (monthly reads) and gap ends. */
const LOOKAHEAD_DAYS = 35;
/** Never less history than this: like days (4 weeks) and a monthly register bracket. */
const MIN_LOOKBACK_DAYS = 35;
/** A run covers at most this many days per meter range; longer targets are split. */
const MAX_RANGE_DAYS = 31;

/**
 * Validates, estimates and records: for each meter range, loads the values
 * (with their history window) in set-based statements, evaluates the rules in
 * force per day (ingest/vee/evaluate.ts), writes suspect marks and estimates
 * as new versions (transport 'vee'; history kept), notes how each estimate was
 * made, and stores the findings as issues (re-runs refresh, never duplicate;
 * issues that no longer reproduce become obsolete); around the issue store,
 * the `veeIssuesStoring` listener (VEE alarms for the issues created).
 */
export async function runVee(database: Database, targets: readonly VeeTarget[], opts: VeeRunOptions): Promise<VeeRunResult> {
  const result = {
    ranges: 0,
    values: 0,
    findings: Object.fromEntries(RULES.map((r) => [r, 0])) as Record<RuleName, number>,
    issuesCreated: 0,
    issuesObsoleted: 0,
    markedSuspect: 0,
    estimated: 0,
    unmarked: 0,
  };
  if (targets.length === 0) return result;
  const meters = new Map((await findVeeMeters(database, { ids: [...new Set(targets.map((t) => t.meterId))] })).map((m) => [m.id, m]));
  const settings: VeeSetting[] = await listVeeSettings(database);
  const cache = new Map<string, VeeParams>();
  const plans: Plan[] = [];
  for (const t of targets) {
    const meter = meters.get(t.meterId);
    if (meter) plans.push(...planTarget(meter, t, settings, cache));
  }
  const profiles = await loadProfiles(database, plans);
  const batchSize = opts.batchSize ?? 100;
  for (let i = 0; i < plans.length; i += batchSize) await runBatch(database, plans.slice(i, i + batchSize), opts, result, profiles);
  return result;
}

interface Plan {
  readonly meter: VeeMeterRow;
  readonly fromMs: number;
  readonly toMs: number;
  readonly segments: ParamSegment[];
  /** Loaded window: history before, brackets after. */
  readonly loadFromMs: number;
  readonly loadToMs: number;
}

/**
 * Splits a target into ≤ 31-day ranges and each into segments of equal
 * parameters and equal supply state: days outside the meter's supply dates
 * are segments of their own (values there are suspect; nothing is expected).
 */
function planTarget(meter: VeeMeterRow, t: VeeTarget, settings: readonly VeeSetting[], cache: Map<string, VeeParams>): Plan[] {
  if (t.fromDate > t.toDate) return [];
  const tz = meter.timezone;
  const days = datesBetween(t.fromDate, t.toDate);
  const outside = (d: string) => (meter.supplyStart !== null && d < meter.supplyStart) || (meter.supplyEnd !== null && d > meter.supplyEnd);
  const plans: Plan[] = [];
  for (let i = 0; i < days.length; i += MAX_RANGE_DAYS) {
    const chunk = days.slice(i, i + MAX_RANGE_DAYS);
    const segments: ParamSegment[] = [];
    let key = '';
    let lookback = MIN_LOOKBACK_DAYS;
    for (const d of chunk) {
      const r = resolveVeeParams(settings, meter, d, cache);
      lookback = Math.max(lookback, r.params.historyDays, r.params.estimation.likeDayWeeks * 7);
      const fromMs = startOfLocalDate(d, tz);
      const toMs = startOfLocalDate(shiftDate(d, 1), tz);
      const outsideSupply = outside(d);
      const segKey = `${r.key}|${outsideSupply}`;
      if (segments.length && segKey === key) segments[segments.length - 1] = { ...segments[segments.length - 1], toMs };
      else segments.push({ fromMs, toMs, params: r.params, ...(outsideSupply ? { outsideSupply } : {}) });
      key = segKey;
    }
    const fromMs = segments[0].fromMs;
    const toMs = segments[segments.length - 1].toMs;
    plans.push({ meter, fromMs, toMs, segments, loadFromMs: fromMs - (lookback + 1) * DAY_MS, loadToMs: toMs + LOOKAHEAD_DAYS * DAY_MS });
  }
  return plans;
}

/** Interval channels whose gaps are estimated: the ones a class shape is built for. */
const ESTIMATED_CHANNELS = CHANNELS.filter((c) => c.kind === 'interval').map((c) => c.code);

/**
 * Class shapes of the profile classes of the planned meters, once per run,
 * from the class members' values over the run's whole history window.
 */
async function loadProfiles(database: Database, plans: readonly Plan[]): Promise<Map<string, ClassProfile>> {
  const classes = [...new Set(plans.flatMap((p) => (p.meter.profileClass ? [p.meter.profileClass] : [])))];
  if (classes.length === 0) return new Map();
  const from = new Date(Math.min(...plans.map((p) => p.loadFromMs)));
  const to = new Date(Math.max(...plans.map((p) => p.toMs)));
  const { sums, days } = await loadClassHourSums(database, { classes, channels: ESTIMATED_CHANNELS, from, to });
  return classProfiles(sums, days);
}

async function runBatch(
  database: Database,
  plans: readonly Plan[],
  opts: VeeRunOptions,
  result: { -readonly [K in keyof VeeRunResult]: VeeRunResult[K] },
  profiles: ReadonlyMap<string, ClassProfile>,
): Promise<void> {
  const windows: MeterRange[] = plans.map((p) => ({ meterId: p.meter.id, fromMs: p.loadFromMs, toMs: p.loadToMs }));
  const ranges: MeterRange[] = plans.map((p) => ({ meterId: p.meter.id, fromMs: p.fromMs, toMs: p.toMs }));
  const [values, conflicts, accepted] = [await loadValues(database, windows), await loadConflicts(database, ranges), await loadAcceptedIssues(database, ranges)];
  const meterIds = [...new Set(plans.map((p) => p.meter.id))];
  const wraps = registerWrapPoints(await loadRegisterMaps(database, meterIds));
  const exchanges = await exchangeInstants(database, meterIds);
  const firsts = new Map<number, Map<number, number>>();
  for (const f of await loadFirstValues(database, meterIds)) (firsts.get(f.meterId) ?? firsts.set(f.meterId, new Map()).get(f.meterId)!).set(f.channel, f.startMs);

  const series = plans.map(() => new Map<number, SeriesPoint[]>());
  for (const r of values) {
    const byChannel = series[r.i];
    let list = byChannel.get(r.channel);
    if (!list) byChannel.set(r.channel, (list = []));
    const point = { startMs: r.startMs, value: r.value, quality: qualityName(r.quality), source: sourceName(r.source), byVee: r.byVee };
    list.push(r.receivedMs === null ? point : { ...point, receivedMs: r.receivedMs });
  }
  const changes = plans.map(() => new Map<number, ValueChange[]>());
  for (const c of conflicts) {
    const m = changes[c.i];
    (m.get(c.channel) ?? m.set(c.channel, []).get(c.channel)!).push({ startMs: c.start.getTime(), oldValue: c.oldValue, newValue: c.newValue });
  }
  const acceptedKeys = plans.map(() => new Set<string>());
  for (const a of accepted) acceptedKeys[a.i].add(issueKey(a.channel, a.rule, a.fromTs.getTime(), a.toTs.getTime()));

  const writes = new Map<string, { meter: VeeMeterRow; w: ValueWrite; issue: IssueKeyOf | null }>();
  const issues = new Map<string, IssueInput>();
  plans.forEach((p, i) => {
    const ev = evaluateMeter({
      meter: p.meter,
      fromMs: p.fromMs,
      toMs: p.toMs,
      nowMs: opts.nowMs,
      segments: p.segments,
      series: series[i],
      conflicts: changes[i],
      accepted: acceptedKeys[i],
      classProfiles: classProfilesOf(p.meter.profileClass, profiles),
      wrapPoints: wraps.get(p.meter.id),
      exchangesMs: exchanges.get(p.meter.id),
      firstValueMs: firsts.get(p.meter.id),
      registeredMs: p.meter.createdAt.getTime(),
    });
    result.ranges++;
    for (const list of series[i].values()) for (const x of list) if (x.startMs >= p.fromMs && x.startMs < p.toMs) result.values++;
    const answered = findingOfEstimate(ev.findings);
    for (const w of ev.writes) writes.set(`${p.meter.id}|${w.channel}|${w.startMs}`, { meter: p.meter, w, issue: w.note ? answered(w.channel, w.startMs, w.note.reasonCode) : null });
    for (const f of ev.findings) {
      issues.set(`${p.meter.id}|${issueKey(f.channel, f.rule, f.fromMs, f.toMs)}`, {
        meterId: p.meter.id,
        channel: f.channel,
        rule: f.rule,
        severity: f.severity,
        fromMs: f.fromMs,
        toMs: f.toMs,
        detail: f.detail,
        status: f.status,
        resolution: f.resolution,
      });
    }
  });

  const principal = opts.principal ?? 'vee';
  const notes: NoteInput[] = [];
  if (writes.size) {
    const rows: NormalizedReading[] = [];
    for (const { meter, w, issue } of writes.values()) {
      const quality = qualityCode(w.quality);
      rows.push({
        meterId: meter.id,
        channel: w.channel,
        startMs: w.startMs,
        value: w.value,
        intervalMinutes: channelByCode(w.channel).kind === 'interval' ? meter.intervalMinutes : null,
        quality,
        source: sourceCode(w.source),
      });
      if (w.quality === 'estimated') result.estimated++;
      else if (w.quality === 'suspect') result.markedSuspect++;
      else result.unmarked++;
      if (w.note)
        notes.push({
          meterId: meter.id,
          channel: w.channel,
          startMs: w.startMs,
          value: w.value,
          quality,
          method: w.note.method,
          params: w.note.params,
          reasonCode: w.note.reasonCode,
          comment: null,
          issue,
        });
    }
    rows.sort((a, b) => a.meterId - b.meterId || a.channel - b.channel || a.startMs - b.startMs);
    await writeReadings(database, rows, { transport: 'vee', principal, detail: 'validation run' });
  }
  for (const f of issues.values()) result.findings[f.rule]++;
  const afterIssues = await opts.listeners?.veeIssuesStoring?.(database); // VEE alarms; undefined without VEE alarm rules
  const stored = await storeIssues(database, ranges, [...issues.values()], principal);
  // After the issues: an estimate's note links to the issue it answers (the gap it fills).
  await insertNotes(database, notes, principal);
  if (afterIssues !== undefined) {
    const raised = await afterIssues(plans.map((p) => p.meter.id));
    if (raised.failed?.length) result.alarmFailures = [...(result.alarmFailures ?? []), ...raised.failed];
  }
  result.issuesCreated += stored.created;
  result.issuesObsoleted += stored.obsoleted;
}

type IssueKeyOf = { readonly rule: string; readonly fromMs: number; readonly toMs: number };

/**
 * The finding an estimate answers, among one meter's findings of the run: the
 * gap whose range holds its start, else a rule of its reasons that marked the
 * value suspect; null for re-estimates of earlier estimates (no finding now).
 */
function findingOfEstimate(findings: readonly EvaluatedFinding[]): (channel: number, startMs: number, reasonCode: string) => IssueKeyOf | null {
  const byChannel = new Map<number, EvaluatedFinding[]>();
  for (const f of findings) (byChannel.get(f.channel) ?? byChannel.set(f.channel, []).get(f.channel)!).push(f);
  return (channel, startMs, reasonCode) => {
    const reasons = reasonCode.split(',');
    const holds = (f: EvaluatedFinding) => (f.rule === 'gap' ? f.fromMs <= startMs && startMs < f.toMs : f.suspectStarts.includes(startMs));
    const candidates = (byChannel.get(channel) ?? []).filter((f) => reasons.includes(f.rule) && holds(f));
    const f = candidates.find((x) => x.rule === 'gap') ?? candidates[0];
    return f ? { rule: f.rule, fromMs: f.fromMs, toMs: f.toMs } : null;
  };
}

function classProfilesOf(profileClass: string | null, profiles: ReadonlyMap<string, ClassProfile>): Map<number, ClassProfile> | undefined {
  if (!profileClass) return undefined;
  const out = new Map<number, ClassProfile>();
  for (const code of ESTIMATED_CHANNELS) {
    const p = profiles.get(classKey(profileClass, code));
    if (p) out.set(code, p);
  }
  return out;
}
