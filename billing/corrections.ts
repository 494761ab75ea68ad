import type { BillingFigures } from './figures.js';

/**
 * Re-billing: what changed in a meter's figures between the closed snapshot
 * and now. Pure.
 */

export interface FieldChange {
  readonly closed: number | null;
  readonly current: number | null;
  /** current − closed (a missing side counts as 0). */
  readonly delta: number;
}

/** Figures compared, as dotted paths: energies, TOU buckets, max demand, shares; volume, gas Vb and energy, heat energy. */
function numericFields(f: Partial<BillingFigures>): Map<string, number | null> {
  const out = new Map<string, number | null>();
  for (const k of ['activeImport', 'activeExport', 'reactiveInductive', 'reactiveCapacitive', 'inductiveRatio', 'capacitiveRatio'] as const) {
    if (k in f) out.set(k, f[k] ?? null);
  }
  for (const [name, v] of Object.entries(f.tou ?? {})) out.set(`tou.${name}`, v);
  out.set('maxDemand.kw', f.maxDemand?.kw ?? null);
  for (const k of ['estimatedShare', 'completeness'] as const) if (k in f) out.set(k, f[k] ?? null);
  // Gas, water and heat meters (billing/commodity-figures.ts): absent for electricity, so its changes are as before.
  if (f.volume !== undefined) out.set('volume', f.volume);
  if (f.gas !== undefined) for (const k of ['volumeBase', 'volumeBaseCoverage', 'energy', 'energyCoverage'] as const) out.set(`gas.${k}`, f.gas[k] ?? null);
  if (f.heat !== undefined) out.set('heat.energy', f.heat.energy ?? null);
  return out;
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * Fields whose value differs (figures are exact sums, so any difference is a
 * real change), plus maxDemand.at and billable when they changed.
 * @example figureChanges({ activeImport: 100, … }, { activeImport: 112.5, … })
 * // { activeImport: { closed: 100, current: 112.5, delta: 12.5 } }
 */
export function figureChanges(closed: Partial<BillingFigures>, current: Partial<BillingFigures>): Record<string, FieldChange | { closed: unknown; current: unknown }> {
  const a = numericFields(closed);
  const b = numericFields(current);
  const changes: Record<string, FieldChange | { closed: unknown; current: unknown }> = {};
  for (const key of new Set([...a.keys(), ...b.keys()])) {
    const x = a.get(key) ?? null;
    const y = b.get(key) ?? null;
    if (x !== y) changes[key] = { closed: x, current: y, delta: round6((y ?? 0) - (x ?? 0)) };
  }
  const atA = closed.maxDemand?.at ?? null;
  const atB = current.maxDemand?.at ?? null;
  if (atA !== atB) changes['maxDemand.at'] = { closed: atA, current: atB };
  if (closed.billable !== current.billable) changes.billable = { closed: closed.billable ?? null, current: current.billable ?? null };
  return changes;
}
