import { formatInstant } from '../models/time.js';
import type { TouPlan } from '../models/tou-plan.js';
import type { DatedPart } from '../sql/billing-segments.repository.js';
import type { MeterFigureRow } from '../sql/billing.repository.js';

/**
 * A meter's billing window in parts with one multiplier and one tariff each
 * (dated attributes, issue 16; docs/meters.md): the figures add the parts,
 * each with its own multiplier, and show them in `parts`. Pure.
 */

/** One part as the figures show it (kWh/kvarh, its multiplier applied). */
export interface PartFigures {
  readonly from: string;
  readonly to: string;
  readonly multiplier: number;
  readonly tariff: string;
  readonly activeImport: number;
  readonly activeExport: number;
  readonly reactiveInductive: number;
  readonly reactiveCapacitive: number;
  /** Active import per TOU bucket of the part's tariff; absent for a single-rate part. */
  readonly tou?: Record<string, number>;
}

/** A figure row whose energies already carry the parts' multipliers (multiplier 1), with the parts to show. */
export type PartedRow = MeterFigureRow & { readonly parts?: PartFigures[] };

const MICRO = 1e6;
const round6 = (x: number) => Math.round(x * MICRO) / MICRO;

/**
 * The meter's row for the figures: one part → the row with the part's
 * multiplier and tariff; several → energies, TOU buckets (by name, into the
 * last part's tariff), estimated energy and max demand as Σ/max of
 * part × its multiplier, in µ-units with multiplier 1; counts, completeness,
 * issues and the window stay the whole window's (`r`).
 * @example combineParts(row, [{ fromMs, toMs: mid, multiplier: 10, tariff: 'single', row: a }, { fromMs: mid, toMs, multiplier: 40, tariff: 'single', row: b }], plan).activeImport
 * // a.activeImport × 10 + b.activeImport × 40
 */
export function combineParts(r: MeterFigureRow, parts: readonly DatedPart[], plan: TouPlan): PartedRow {
  if (parts.length === 1) return { ...r, multiplier: parts[0].multiplier, tariff: parts[0].tariff, tou: parts[0].row.tou };
  const last = parts[parts.length - 1];
  const names = plan.bucketsByTariff.get(last.tariff) ?? [];
  const tou = names.map(() => 0);
  let ai = 0;
  let ae = 0;
  let ri = 0;
  let rc = 0;
  let est = 0;
  let maxRate: number | null = null;
  let maxRateAt: Date | null = null;
  const shown: PartFigures[] = [];
  for (const p of parts) {
    const k = p.multiplier;
    const x = p.row;
    const m = (micro: number) => Math.round(micro * k);
    ai += m(x.activeImport);
    ae += m(x.activeExport);
    ri += m(x.reactiveInductive);
    rc += m(x.reactiveCapacitive);
    est += m(x.estimatedEnergy);
    if (x.maxRate !== null && (maxRate === null || x.maxRate * k > maxRate)) {
      maxRate = x.maxRate * k;
      maxRateAt = x.maxRateAt;
    }
    const own = plan.bucketsByTariff.get(p.tariff);
    let partTou: Record<string, number> | undefined;
    if (own?.length) {
      partTou = {};
      for (let j = 0; j < own.length; j++) {
        partTou[own[j]] = round6(((x.tou[j] ?? 0) / MICRO) * k);
        const i = names.indexOf(own[j]);
        if (i >= 0) tou[i] += m(x.tou[j] ?? 0);
      }
    }
    const part = {
      from: formatInstant(p.fromMs, r.timezone),
      to: formatInstant(p.toMs, r.timezone),
      multiplier: k,
      tariff: p.tariff,
      activeImport: round6((x.activeImport / MICRO) * k),
      activeExport: round6((x.activeExport / MICRO) * k),
      reactiveInductive: round6((x.reactiveInductive / MICRO) * k),
      reactiveCapacitive: round6((x.reactiveCapacitive / MICRO) * k),
    };
    shown.push(partTou ? { ...part, tou: partTou } : part);
  }
  return {
    ...r,
    multiplier: 1,
    tariff: last.tariff,
    activeImport: ai,
    activeExport: ae,
    reactiveInductive: ri,
    reactiveCapacitive: rc,
    estimatedEnergy: est,
    tou,
    maxRate,
    maxRateAt,
    parts: shown,
  };
}
