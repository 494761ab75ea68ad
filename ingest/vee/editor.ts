import { localDate } from '../../models/calendar.js';
import { channelByCode, type ChannelDef } from '../../models/channel.js';
import { MdmError } from '../../models/errors.js';
import { qualityCode, qualityName, sourceCode, sourceName, type NormalizedReading, type Quality, type Source } from '../../models/reading.js';
import { DAY_MS, formatInstant, isAligned } from '../../models/time.js';
import { veeHolidays } from '../../models/vee.js';
import type { Database } from '../../sql/database.js';
import { insertNotes } from '../../sql/reading-note.repository.js';
import { writeReadings } from '../../sql/reading-write.repository.js';
import {
  listIssues,
  listVeeSettings,
  loadRegisterMaps,
  loadValues,
  replaceIssuesInRange,
  resolveIssue,
  startsUnderOtherFailIssues,
  type IssueRow,
  type VeeMeterRow,
} from '../../sql/vee.repository.js';
import { resolveVeeParams } from './config.js';
import { likeDay, linearShare, type Estimate } from './estimate.js';
import { fitToRegister, isReference, registerCodeOf, registerReads, type SeriesPoint } from './evaluate.js';
import { registerWrapPoints, wrapPointOf } from './wrap-points.js';
import { runVee } from './runner.js';
import type { IngestListeners } from '../ingest-listeners.js';

/**
 * Manual corrections: edits (given values or an estimation method over a
 * range) and the resolution of validation issues. Every change is a new
 * version (history kept) written by the user's key name, with a note saying
 * why; affected open issues are closed as replaced and the days re-validated.
 */

export const EDIT_METHODS = ['linear', 'like-day', 'zero'] as const;
export type EditMethod = (typeof EDIT_METHODS)[number];

export interface EditInput {
  readonly meter: VeeMeterRow;
  readonly channel: ChannelDef;
  /** [fromMs, toMs) */
  readonly fromMs: number;
  readonly toMs: number;
  /** Replacement values (quality edited); or… */
  readonly values?: readonly { readonly startMs: number; readonly value: number }[];
  /** …an estimate of every interval of the range (quality estimated). */
  readonly method?: EditMethod;
  readonly reasonCode: string;
  readonly comment: string;
  /** API key name. */
  readonly user: string;
  /** The issue being resolved, noted with the values; without it, each value is noted with the open issue it answers (the gap it fills), if any. */
  readonly issueId?: number;
  readonly nowMs: number;
  /** What the re-validation of the edited days runs with (VEE alarms; runVee). */
  readonly listeners?: IngestListeners;
}

export interface EditedValue {
  readonly startMs: number;
  readonly value: number;
  readonly quality: Quality;
  readonly source: Source;
  readonly method: string | null;
}

export interface EditResult {
  /** Values stored as new versions. */
  readonly written: number;
  /** Values that already held exactly this (no new version). */
  readonly unchanged: number;
  /** Open issues of the range closed as replaced. */
  readonly issuesReplaced: number;
  readonly values: EditedValue[];
}

const LOOKBACK_DAYS = 63; // like days (up to 8 weeks) and a monthly register bracket

/** Applies an edit (see EditInput). Throws MDM_ERR_VALIDATION / MDM_ERR_MISALIGNED_TIME / MDM_ERR_CANNOT_ESTIMATE / MDM_ERR_CONFLICT with what to change. */
export async function applyEdit(database: Database, e: EditInput): Promise<EditResult> {
  const { meter, channel } = e;
  const tz = meter.timezone;
  const step = meter.intervalMinutes * 60_000;
  if ((e.values === undefined) === (e.method === undefined)) {
    throw new MdmError('MDM_ERR_VALIDATION', ['give either values (replacement figures) or method (linear, like-day or zero), not both and not neither']);
  }
  let made: { startMs: number; value: number; method: string | null; params: Readonly<Record<string, unknown>> | null }[];
  if (e.values) {
    const seen = new Set<number>();
    for (const v of e.values) {
      const at = formatInstant(v.startMs, tz);
      if (v.startMs < e.fromMs || v.startMs >= e.toMs) throw new MdmError('MDM_ERR_VALIDATION', [`values: start ${at} is outside from..to`]);
      if (channel.kind === 'interval' && !isAligned(v.startMs, meter.intervalMinutes, tz)) {
        throw new MdmError('MDM_ERR_MISALIGNED_TIME', [`values: start ${at} is not aligned to the meter's ${meter.intervalMinutes}-minute intervals`]);
      }
      if (seen.has(v.startMs)) throw new MdmError('MDM_ERR_VALIDATION', [`values: start ${at} is given twice`]);
      seen.add(v.startMs);
    }
    made = e.values.map((v) => ({ startMs: v.startMs, value: v.value, method: null, params: null }));
  } else {
    made = await estimateRange(database, e, step);
  }

  const quality: Quality = e.values ? 'edited' : 'estimated';
  const rows: NormalizedReading[] = made
    .map((m) => ({
      meterId: meter.id,
      channel: channel.code,
      startMs: m.startMs,
      value: m.value,
      intervalMinutes: channel.kind === 'interval' ? meter.intervalMinutes : null,
      quality: qualityCode(quality),
      source: sourceCode('manual'),
    }))
    .sort((a, b) => a.startMs - b.startMs);
  // Before the write: the open issues this edit answers (it replaces them below).
  const answered = e.issueId === undefined ? await openIssuesOf(database, e) : [];
  const counts = await writeReadings(database, rows, { transport: 'edit', principal: e.user, detail: `${e.reasonCode}: ${e.comment}`.slice(0, 1000) });
  await insertNotes(
    database,
    made.map((m) => ({
      meterId: meter.id,
      channel: channel.code,
      startMs: m.startMs,
      value: m.value,
      quality: qualityCode(quality),
      method: m.method,
      params: m.params,
      reasonCode: e.reasonCode,
      comment: e.comment,
      issueId: e.issueId ?? issueAt(answered, m.startMs),
    })),
    e.user,
  );
  const issuesReplaced = await replaceIssuesInRange(database, {
    meterId: meter.id,
    channel: channel.code,
    from: new Date(e.fromMs),
    to: new Date(e.toMs),
    by: e.user,
    comment: `${e.values ? 'edited' : `estimated (${e.method})`}: ${e.reasonCode}: ${e.comment}`,
  });
  // The rules that read other values (sum check, high/low, conflicts) see the new figures at once.
  await runVee(database, [{ meterId: meter.id, fromDate: localDate(e.fromMs, tz), toDate: localDate(e.toMs - 1, tz) }], { nowMs: e.nowMs, listeners: e.listeners });
  return {
    written: counts.accepted + counts.superseded,
    unchanged: counts.unchanged,
    issuesReplaced,
    values: made.map((m) => ({ startMs: m.startMs, value: m.value, quality, source: 'manual' as const, method: m.method })),
  };
}

/** Open issues of the edit's meter and channel overlapping its range (an edit spans at most 31 days). */
async function openIssuesOf(database: Database, e: EditInput): Promise<IssueRow[]> {
  return listIssues(database, { meter: e.meter.externalId, channel: e.channel.code, status: 'open', from: new Date(e.fromMs), to: new Date(e.toMs), limit: 10_000 });
}

/** The issue a value at `startMs` answers: a gap holding it first, else the newest issue holding it; null when none. */
function issueAt(issues: readonly IssueRow[], startMs: number): number | null {
  const holds = (i: IssueRow) => i.fromTs.getTime() <= startMs && (startMs < i.toTs.getTime() || startMs === i.fromTs.getTime());
  const found = issues.filter(holds); // newest first (listIssues)
  return (found.find((i) => i.rule === 'gap') ?? found[0])?.id ?? null;
}

/** Every interval of [fromMs, toMs) estimated by the requested method, scaled to bracketing register reads (not for zero). */
async function estimateRange(database: Database, e: EditInput, step: number): Promise<{ startMs: number; value: number; method: string; params: Record<string, unknown> }[]> {
  const { meter, channel } = e;
  if (channel.kind !== 'interval') {
    throw new MdmError('MDM_ERR_CANNOT_ESTIMATE', [`${channel.name} is a ${channel.kind} channel: estimation applies to interval channels; send values instead`]);
  }
  if (!isAligned(e.fromMs, meter.intervalMinutes, meter.timezone) || !isAligned(e.toMs, meter.intervalMinutes, meter.timezone)) {
    throw new MdmError('MDM_ERR_MISALIGNED_TIME', [`from and to must be on the meter's ${meter.intervalMinutes}-minute interval boundaries to estimate a range`]);
  }
  const targets: number[] = [];
  for (let t = e.fromMs; t < e.toMs; t += step) targets.push(t);
  if (e.method === 'zero') return targets.map((startMs) => ({ startMs, value: 0, method: 'zero', params: {} }));

  const rows = await loadValues(database, [{ meterId: meter.id, fromMs: e.fromMs - LOOKBACK_DAYS * DAY_MS, toMs: e.toMs + 35 * DAY_MS }]);
  const series = new Map<number, SeriesPoint[]>();
  for (const r of rows) {
    const list = series.get(r.channel) ?? series.set(r.channel, []).get(r.channel)!;
    list.push({ startMs: r.startMs, value: r.value, quality: qualityName(r.quality), source: sourceName(r.source), byVee: r.byVee });
  }
  const inRange = (t: number) => t >= e.fromMs && t < e.toMs;
  const known = (series.get(channel.code) ?? []).filter((x) => !inRange(x.startMs) && x.quality !== 'missing' && x.quality !== 'suspect');
  const P = resolveVeeParams(await listVeeSettings(database), meter, localDate(e.fromMs, meter.timezone)).params;
  let made: Estimate[];
  if (e.method === 'linear') {
    const at = new Map(known.map((x) => [x.startMs, x.value]));
    made = linearShare(targets, at.get(e.fromMs - step), at.get(e.toMs));
  } else {
    made = likeDay(targets, {
      intervalMinutes: meter.intervalMinutes,
      timezone: meter.timezone,
      history: known.filter(isReference),
      holidays: veeHolidays(P, e.fromMs, e.toMs),
      likeDayWeeks: P.estimation.likeDayWeeks,
    });
  }
  const impossible = made.find((x) => x.method === 'none');
  if (impossible) {
    throw new MdmError('MDM_ERR_CANNOT_ESTIMATE', [
      e.method === 'linear'
        ? 'linear estimation needs a stored value just before from or at to; there is none: use like-day, or send values'
        : `no like-day history for ${formatInstant(impossible.startMs, meter.timezone)} (same day type, previous ${P.estimation.likeDayWeeks} weeks): use linear, or send values`,
    ]);
  }
  const out = new Map(made.map((x) => [x.startMs, x]));
  const wraps = registerWrapPoints(await loadRegisterMaps(database, [meter.id])).get(meter.id);
  fitToRegister(out, new Map(known.map((x) => [x.startMs, x.value])), registerReads(series, channel), step, wrapPointOf(wraps, registerCodeOf(series, channel), P));
  return [...out.values()].map((x) => ({ startMs: x.startMs, value: x.value, method: x.method, params: { ...x.params } }));
}

/**
 * Accepts an open issue as is: the issue is closed as accepted, and its
 * values that are suspect — unless another open fail issue still covers them
 * — become `validated` (a new version, figure and source unchanged, noted
 * with the comment). The rules leave validated values alone from then on.
 */
export async function acceptIssue(database: Database, issue: IssueRow, meter: VeeMeterRow, user: string, comment: string): Promise<{ validated: number }> {
  const closed = await resolveIssue(database, { id: issue.id, status: 'accepted', by: user, comment });
  if (!closed) throw new MdmError('MDM_ERR_CONFLICT', [`issue ${issue.id} is no longer open`]);
  const kind = channelByCode(issue.channel).kind;
  const from = issue.fromTs.getTime();
  // Interval values in [from, to); register and instantaneous issues name reads at both ends (a decrease suspects the later read).
  const to = kind === 'interval' ? issue.toTs.getTime() : issue.toTs.getTime() + 1;
  const rows = (await loadValues(database, [{ meterId: issue.meterId, fromMs: from, toMs: to }])).filter((r) => r.channel === issue.channel && r.quality === qualityCode('suspect'));
  const others = await startsUnderOtherFailIssues(database, { meterId: issue.meterId, channel: issue.channel, starts: rows.map((r) => new Date(r.startMs)), exceptId: issue.id });
  const take = rows.filter((r) => !others.has(r.startMs));
  if (take.length === 0) return { validated: 0 };
  const validated = qualityCode('validated');
  await writeReadings(
    database,
    take.map((r) => ({
      meterId: issue.meterId,
      channel: r.channel,
      startMs: r.startMs,
      value: r.value,
      intervalMinutes: kind === 'interval' ? meter.intervalMinutes : null,
      quality: validated,
      source: r.source,
    })),
    { transport: 'edit', principal: user, detail: `accepted issue ${issue.id}: ${comment}`.slice(0, 1000) },
  );
  await insertNotes(
    database,
    take.map((r) => ({
      meterId: issue.meterId,
      channel: r.channel,
      startMs: r.startMs,
      value: r.value,
      quality: validated,
      method: null,
      params: null,
      reasonCode: 'accepted',
      comment,
      issueId: issue.id,
    })),
    user,
  );
  return { validated: take.length };
}
