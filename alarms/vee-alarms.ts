import { ruleApplies, veeCode } from '../models/alarm.js';
import { bisect, type MeterFailure } from '../models/failing-items.js';
import { raiseAlarms, type LifecycleCounts, type RaiseInput } from '../sql/alarm.repository.js';
import type { Database } from '../sql/database.js';
import { isUnavailable, withRetry } from '../sql/db-errors.js';
import { failIssuesAfter, newestValidationIssueId } from '../sql/vee-alarm.repository.js';
import { alarmRules } from './rules.js';

/**
 * The newest validation issue id before a VEE run stores its issues, or
 * undefined when no VEE alarm rule exists (then the run does nothing more).
 * With raiseVeeAlarms after the store, only issues created by the run raise
 * alarms: a re-validation that finds the same issue again repeats nothing.
 */
export async function veeAlarmWatermark(database: Database): Promise<number | undefined> {
  const { vee } = await alarmRules(database);
  if (vee.length === 0) return undefined;
  return newestValidationIssueId(database);
}

/**
 * VEE alarms around a run's issue store (IngestListeners.veeIssuesStoring,
 * run by ingest/vee/runner.ts): the watermark before the store, then the
 * step that raises alarms for the fail issues created since on the given
 * meters; undefined when no VEE alarm rule exists.
 */
export async function veeIssueAlarms(database: Database): Promise<((meterIds: readonly number[]) => Promise<LifecycleCounts & { failed?: MeterFailure[] }>) | undefined> {
  const watermark = await veeAlarmWatermark(database);
  return watermark === undefined ? undefined : (meterIds) => raiseVeeAlarms(database, watermark, meterIds);
}

/**
 * Raises alarms for the fail issues created after `afterId` on the given
 * meters, per VEE alarm rule (its VEE rules, groups, and whether issues VEE
 * already replaced by an automatic estimate count). One alarm per meter and
 * code (`vee_<rule>` by default); several issues of a run repeat it.
 * When the raise fails (not for an unreachable database), it is done again
 * on halves of the meters: the meters it still fails for come back in
 * `failed`, the others' alarms are raised (issue 11).
 */
export async function raiseVeeAlarms(database: Database, afterId: number, meterIds: readonly number[]): Promise<LifecycleCounts & { failed?: MeterFailure[] }> {
  const { vee } = await alarmRules(database);
  if (vee.length === 0 || meterIds.length === 0) return { opened: 0, repeated: 0, closed: 0 };
  const issues = await failIssuesAfter(database, afterId, meterIds);
  const raises = new Map<string, RaiseInput & { count: number; lastMs: number; firstMs: number }>();
  for (const i of issues) {
    const fromMs = new Date(i.fromTs).getTime();
    const codes = new Set<string>();
    for (const r of vee) {
      if (!ruleApplies(r, i.group) || (r.veeRules && !r.veeRules.includes(i.rule as never)) || (i.status === 'replaced' && !r.includeEstimated)) continue;
      const code = veeCode(i.rule, r);
      if (codes.has(code)) continue;
      codes.add(code);
      const key = `${i.meterId}|${code}`;
      const data = { issue: i.id, veeRule: i.rule, channel: i.channel, from: new Date(i.fromTs).toISOString(), to: new Date(i.toTs).toISOString(), detail: i.detail, status: i.status };
      const prev = raises.get(key);
      if (prev) raises.set(key, { ...prev, count: prev.count + 1, firstMs: Math.min(prev.firstMs, fromMs), lastMs: Math.max(prev.lastMs, fromMs), data });
      else raises.set(key, { meterId: i.meterId, code, severity: r.severity, firstMs: fromMs, lastMs: fromMs, count: 1, source: 'vee', ruleId: r.id, data, actor: `vee:${r.id}` });
    }
  }
  if (raises.size === 0) return { opened: 0, repeated: 0, closed: 0 };
  return raiseIsolated(database, [...raises.values()]);
}

/**
 * Raises alarms in one transaction; when that fails for a reason other
 * than an unreachable database, again per halves of the meters until the
 * meters it fails for are found (returned in `failed`, the rest raised).
 */
async function raiseIsolated(database: Database, inputs: readonly RaiseInput[]): Promise<LifecycleCounts & { failed?: MeterFailure[] }> {
  const counts = { opened: 0, repeated: 0, closed: 0 };
  const run = async (part: readonly RaiseInput[]) => {
    const r = await withRetry(database, (s) => raiseAlarms(s, part));
    counts.opened += r.opened;
    counts.repeated += r.repeated;
  };
  try {
    await run(inputs);
    return counts;
  } catch (err) {
    if (isUnavailable(err)) throw err;
    const byMeter = new Map<number, RaiseInput[]>();
    for (const r of inputs) (byMeter.get(r.meterId) ?? byMeter.set(r.meterId, []).get(r.meterId)!).push(r);
    const failed: MeterFailure[] = [];
    await bisect([...byMeter.keys()], err, (ids) => run(ids.flatMap((id) => byMeter.get(id)!)), {
      isolable: (e) => !isUnavailable(e),
      onFail: (meterId, error) => void failed.push({ meterId, error }),
    });
    return { ...counts, failed };
  }
}
