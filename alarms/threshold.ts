import type { ThresholdRule } from '../models/alarm.js';

/** Where one rule stands for one meter between batches (alarm_rule_state). */
export interface ThresholdState {
  /** Time of the first value of the current violation run; null = not violating. */
  readonly sinceMs: number | null;
  /** True while the rule's alarm is raised. */
  readonly active: boolean;
  /** Newest value time evaluated; older values arriving later are ignored. */
  readonly lastMs: number | null;
}

export const IDLE: ThresholdState = { sinceMs: null, active: false, lastMs: null };

export type ThresholdAction =
  | { readonly kind: 'raise'; readonly atMs: number; readonly sinceMs: number; readonly value: number }
  | { readonly kind: 'clear'; readonly atMs: number; readonly value: number };

type Params = Pick<ThresholdRule, 'condition' | 'threshold' | 'hysteresis' | 'minDurationMinutes'>;

/**
 * Runs a threshold rule over new values of one meter (any order; sorted
 * here). A value violates when it is beyond the threshold (below: v <
 * threshold; above: v > threshold); it clears when it is back past the
 * hysteresis band (below: v ≥ threshold + hysteresis; above: v ≤ threshold −
 * hysteresis); in the band the previous status holds. The alarm is raised
 * once the run has lasted minDurationMinutes (from its first value to the
 * current one) and cleared by the first clearing value. Values at or before
 * `state.lastMs` were evaluated already (or arrive late) and are skipped. Pure.
 * @example
 * evaluateThreshold({ condition: 'below', threshold: 0.5, hysteresis: 0.1, minDurationMinutes: 15 }, IDLE,
 *   [{ atMs: 0, value: 0.4 }, { atMs: 900_000, value: 0.45 }])
 * // { state: { sinceMs: 0, active: true, lastMs: 900000 }, actions: [{ kind: 'raise', atMs: 900000, sinceMs: 0, value: 0.45 }] }
 */
export function evaluateThreshold(rule: Params, state: ThresholdState, values: readonly { readonly atMs: number; readonly value: number }[]): { state: ThresholdState; actions: ThresholdAction[] } {
  const sorted = [...values].sort((a, b) => a.atMs - b.atMs);
  const below = rule.condition === 'below';
  const durationMs = rule.minDurationMinutes * 60_000;
  let { sinceMs, active, lastMs } = state;
  const actions: ThresholdAction[] = [];
  for (const { atMs, value } of sorted) {
    if (lastMs !== null && atMs <= lastMs) continue;
    lastMs = atMs;
    const violates = below ? value < rule.threshold : value > rule.threshold;
    const clears = below ? value >= rule.threshold + rule.hysteresis : value <= rule.threshold - rule.hysteresis;
    if (violates) {
      sinceMs ??= atMs;
      if (!active && atMs - sinceMs >= durationMs) {
        active = true;
        actions.push({ kind: 'raise', atMs, sinceMs, value });
      }
    } else if (clears) {
      sinceMs = null;
      if (active) {
        active = false;
        actions.push({ kind: 'clear', atMs, value });
      }
    }
    // In the band: the run (or the calm) goes on.
  }
  return { state: { sinceMs, active, lastMs }, actions };
}
