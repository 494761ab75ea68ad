import { channelDef } from '../models/channel.js';
import { ruleApplies, silenceHoursFor, thresholdCode } from '../models/alarm.js';
import type { NormalizedReading } from '../models/reading.js';
import { closeAlarms, raiseAlarms, type CloseInput, type LifecycleCounts, type RaiseInput } from '../sql/alarm.repository.js';
import { metersWithActiveNoData } from '../sql/alarm-silence.repository.js';
import { lockRuleStates, saveRuleStates, type RuleStateRow } from '../sql/alarm-rule.repository.js';
import type { Database } from '../sql/database.js';
import { withRetry } from '../sql/db-errors.js';
import { alarmRules } from './rules.js';
import { evaluateThreshold } from './threshold.js';

/**
 * Alarm work after an ingest write (IngestListeners.readingsStored, run by
 * ingest/pipeline.ts), in its own transaction: threshold rules run over the
 * batch's values of their channel (state per rule and meter kept in
 * alarm_rule_state, row-locked, so batches of one meter evaluate in turn),
 * and open no_data alarms of meters whose batch holds a value newer than
 * their silence limit close. Returns at once when no threshold or silence
 * rule exists. `meters` gives each meter's group (the pipeline has looked
 * them up already); `requestId`, the ingest request's X-Request-Id, goes on
 * the transitions (and so on their hook deliveries).
 */
export async function evaluateReadingAlarms(
  database: Database,
  rows: readonly NormalizedReading[],
  meters: Iterable<{ readonly id: number; readonly group: string | null }>,
  nowMs: number = Date.now(),
  requestId?: string,
): Promise<LifecycleCounts> {
  const none = { opened: 0, repeated: 0, closed: 0 };
  if (rows.length === 0) return none;
  const rules = await alarmRules(database, nowMs);
  if (rules.thresholds.length === 0 && rules.silences.length === 0) return none;
  const groupOf = new Map<number, string | null>();
  for (const m of meters) groupOf.set(m.id, m.group);

  // Threshold rules: values per (rule, meter).
  const series = new Map<string, { ruleIndex: number; meterId: number; values: { atMs: number; value: number }[] }>();
  const channels = rules.thresholds.map((r) => channelDef(r.channel).code);
  if (rules.thresholds.length) {
    for (const row of rows) {
      for (let k = 0; k < rules.thresholds.length; k++) {
        if (row.channel !== channels[k] || !ruleApplies(rules.thresholds[k], groupOf.get(row.meterId) ?? null)) continue;
        const key = `${k}|${row.meterId}`;
        let s = series.get(key);
        if (!s) series.set(key, (s = { ruleIndex: k, meterId: row.meterId, values: [] }));
        s.values.push({ atMs: row.startMs, value: row.value });
      }
    }
  }

  // Silence: meters with an open no_data alarm and, in this batch, a value newer than their limit.
  const closesNoData: CloseInput[] = [];
  const silent = rules.silences.length ? await metersWithActiveNoData(database) : undefined;
  if (silent?.size) {
    const newest = new Map<number, number>();
    for (const row of rows) if (silent.has(row.meterId) && row.startMs > (newest.get(row.meterId) ?? -Infinity)) newest.set(row.meterId, row.startMs);
    for (const [meterId, ms] of newest) {
      const s = silenceHoursFor(rules.silences, groupOf.get(meterId) ?? null);
      if (s && ms >= nowMs - s.hours * 3_600_000) closesNoData.push({ meterId, code: 'no_data', atMs: nowMs, actor: 'data', comment: null, requestId });
    }
  }
  if (series.size === 0 && closesNoData.length === 0) return none;

  return withRetry(database, async (s) => {
    const out = { opened: 0, repeated: 0, closed: 0 };
    if (series.size) {
      const list = [...series.values()];
      const states = await lockRuleStates(
        s,
        list.map((x) => ({ ruleId: rules.thresholds[x.ruleIndex].id, meterId: x.meterId })),
      );
      const stateOf = new Map(states.map((st) => [`${st.ruleId}|${st.meterId}`, st]));
      const saved: RuleStateRow[] = [];
      const raises: RaiseInput[] = [];
      const closes: CloseInput[] = [];
      for (const x of list) {
        const rule = rules.thresholds[x.ruleIndex];
        const prev = stateOf.get(`${rule.id}|${x.meterId}`) ?? { ruleId: rule.id, meterId: x.meterId, sinceMs: null, active: false, lastMs: null };
        const { state, actions } = evaluateThreshold(rule, prev, x.values);
        saved.push({ ruleId: rule.id, meterId: x.meterId, ...state });
        const code = thresholdCode(rule.id, rule);
        // At most one raise and one clear matter per batch: the last of each, in order.
        for (const a of actions) {
          const limit = rule.condition === 'below' ? 'below' : 'above';
          if (a.kind === 'raise') {
            raises.push({
              meterId: x.meterId,
              code,
              severity: rule.severity,
              firstMs: a.atMs,
              lastMs: a.atMs,
              count: 1,
              source: 'rule',
              ruleId: rule.id,
              data: { channel: rule.channel, value: a.value, threshold: rule.threshold, condition: limit, since: new Date(a.sinceMs).toISOString() },
              requestId,
            });
          } else {
            closes.push({ meterId: x.meterId, code, atMs: a.atMs, actor: `rule:${rule.id}`, comment: `${rule.channel} back to ${a.value}`, requestId });
          }
        }
      }
      await saveRuleStates(s, saved);
      // A batch may raise, clear and raise again the same alarm: apply in rounds, time order.
      type Op = { at: number; r: RaiseInput; c?: undefined } | { at: number; c: CloseInput; r?: undefined };
      const ops: Op[] = [...raises.map((r) => ({ at: r.firstMs, r })), ...closes.map((c) => ({ at: c.atMs, c }))].sort((a, b) => a.at - b.at);
      const rounds: { raises: RaiseInput[]; closes: CloseInput[] }[] = [];
      const depth = new Map<string, number>();
      for (const op of ops) {
        const target = op.r ?? op.c;
        const key = `${target.meterId}|${target.code}`;
        const d = depth.get(key) ?? 0;
        depth.set(key, d + 1);
        const round = (rounds[d] ??= { raises: [], closes: [] });
        if (op.r) round.raises.push(op.r);
        else round.closes.push(op.c);
      }
      for (const r of rounds) {
        const raised = await raiseAlarms(s, r.raises);
        out.opened += raised.opened;
        out.repeated += raised.repeated;
        out.closed += await closeAlarms(s, r.closes);
      }
    }
    out.closed += await closeAlarms(s, closesNoData);
    return out;
  });
}
