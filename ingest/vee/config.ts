import type { z } from 'zod';
import { VeeParamsSchema, type VeeParams } from '../../models/vee.js';

/** One row of vee_settings: a partial override of the rule parameters. */
export interface VeeSetting {
  /** null = every profile class. */
  readonly profileClass: string | null;
  /** null = every commodity. */
  readonly commodity: string | null;
  /** First local date it applies to, YYYY-MM-DD. */
  readonly effectiveFrom: string;
  readonly params: Readonly<Record<string, unknown>>;
}

export interface ResolvedParams {
  /** Same key ⇔ same rows chosen ⇔ same parameters. */
  readonly key: string;
  readonly params: VeeParams;
}

/**
 * The parameters in force for a meter on a local date: the defaults, then
 * the newest row (effective_from ≤ date) of each level of specificity, least
 * specific first: any/any, any class/its commodity, its class/any commodity,
 * its class/its commodity. A rule object merges field by field (an override
 * `{"spike": {"k": 4}}` keeps the other spike fields); lists replace. Pure.
 * @example resolveVeeParams(rows, { profileClass: 'residential', commodity: 'electricity' }, '2026-03-01').params.spike.k
 */
export function resolveVeeParams(
  rows: readonly VeeSetting[],
  meter: { readonly profileClass: string | null; readonly commodity: string },
  date: string,
  cache: Map<string, VeeParams> = new Map(),
): ResolvedParams {
  const levels: [string | null, string | null][] = [
    [null, null],
    [null, meter.commodity],
    [meter.profileClass, null],
    [meter.profileClass, meter.commodity],
  ];
  const chosen: number[] = [];
  for (const [pc, co] of levels) {
    let best = -1;
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      if (r.profileClass !== pc || r.commodity !== co || r.effectiveFrom > date) continue;
      if (best < 0 || r.effectiveFrom > rows[best].effectiveFrom) best = i;
    }
    if (best >= 0 && !chosen.includes(best)) chosen.push(best);
  }
  const key = chosen.join(',');
  let params = cache.get(key);
  if (!params) {
    let merged: Record<string, unknown> = {};
    for (const i of chosen) merged = mergeOverride(merged, rows[i].params);
    params = VeeParamsSchema.parse(merged);
    cache.set(key, params);
  }
  return { key, params };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `over` on top of `base`: rule objects merge field by field, everything else replaces. */
export function mergeOverride(base: Readonly<Record<string, unknown>>, over: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = isPlainObject(v) && isPlainObject(out[k]) ? { ...(out[k] as object), ...v } : v;
  return out;
}

/**
 * Checks an override before it is stored: it must parse as rule parameters
 * (unknown rules or fields, wrong types and out-of-range values are refused).
 * Returns the readable problems, empty when it is fine.
 */
export function overrideProblems(params: unknown): string[] {
  if (!isPlainObject(params)) return ['params must be an object of rule parameters, e.g. {"spike": {"k": 4}}'];
  const parsed = VeeParamsSchema.safeParse(params);
  const problems = parsed.success ? [] : parsed.error.issues.map((i: z.core.$ZodIssue) => `${i.path.join('.') || 'params'}: ${i.message}`);
  if (isPlainObject(params.time) && 'horizonDays' in params.time) {
    problems.push(
      "time.horizonDays: no longer used: a value is not suspect for its age; the time rule judges it against the meter's supplyStart/supplyEnd and its arrival time (leave horizonDays out)",
    );
  }
  return problems;
}
