import type { AlarmSeverity, CodeMapRule, SilenceRule, ThresholdRule, VeeAlarmRule } from '../models/alarm.js';
import type { Database } from '../sql/database.js';
import { loadEnabledRules } from '../sql/alarm-rule.repository.js';

type WithId<T> = T & { readonly id: string };

/** The enabled alarm rules by kind, as the ingest, event and VEE paths use them. */
export interface AlarmRuleSet {
  readonly thresholds: readonly WithId<ThresholdRule>[];
  readonly silences: readonly WithId<SilenceRule>[];
  readonly vee: readonly WithId<VeeAlarmRule>[];
  /** Vendor code → alarm (or restore) code. */
  readonly mappings: ReadonlyMap<string, { code: string; severity?: AlarmSeverity }>;
}

/**
 * How long a process trusts its copy of the rules. Changes through this
 * process's API apply at once (invalidateAlarmRules); other processes pick
 * them up within this time.
 */
export const RULE_CACHE_MS = 5_000;

const cache = new WeakMap<Database, { until: number; set: Promise<AlarmRuleSet> }>();

/**
 * The enabled rules, from a per-database cache (one small query per
 * RULE_CACHE_MS at most), so ingest pays nothing measurable when there are
 * no rules.
 */
export function alarmRules(database: Database, now: number = Date.now()): Promise<AlarmRuleSet> {
  const hit = cache.get(database);
  if (hit && hit.until > now) return hit.set;
  const set = loadEnabledRules(database).then((rules) => {
    const out = {
      thresholds: [] as WithId<ThresholdRule>[],
      silences: [] as WithId<SilenceRule>[],
      vee: [] as WithId<VeeAlarmRule>[],
      mappings: new Map<string, { code: string; severity?: AlarmSeverity }>(),
    };
    for (const r of rules) {
      if (r.kind === 'threshold') out.thresholds.push(r);
      else if (r.kind === 'silence') out.silences.push(r);
      else if (r.kind === 'vee') out.vee.push(r);
      else out.mappings.set((r as CodeMapRule).vendorCode, { code: r.code, severity: r.severity });
    }
    return out;
  });
  cache.set(database, { until: now + RULE_CACHE_MS, set });
  set.catch(() => cache.delete(database)); // a failed load is retried by the next caller
  return set;
}

/** Forget the cached rules (after a rule changed). */
export function invalidateAlarmRules(database: Database): void {
  cache.delete(database);
}
