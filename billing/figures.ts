import { DAY_MS, formatInstant } from '../models/time.js';
import type { CommodityInputs } from '../sql/billing-commodity.repository.js';
import type { MeterFigureRow } from '../sql/billing.repository.js';
import { commodityExtra, type CommodityExtra, type GasFigures, type HeatFigures } from './commodity-figures.js';
import type { PartFigures } from './parts.js';

/**
 * A meter's billing figures from its raw aggregate row, and the readiness
 * rules that decide whether it is billable. Pure: `now` comes in. Formulas
 * and rules: docs/billing.md.
 */

/** `figures_failed`: readiness could not compute the meter's figures from its stored data (billing/readiness.ts), never from billingFigures. */
/** `not_converted`, `missing_calorific_value`: gas meters with a gas area (billing/commodity-figures.ts). */
export const REASON_CODES = ['outside_supply', 'missing_data', 'no_recent_data', 'open_fail_issues', 'register_mismatch', 'figures_failed', 'not_converted', 'missing_calorific_value'] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

export interface Reason {
  readonly code: ReasonCode;
  readonly message: string;
}

export interface Completeness {
  /** Intervals of the meter's length in its billing window (743 hourly ones in a Warsaw March). */
  readonly expected: number;
  /** measured or validated */
  readonly measured: number;
  /** measured values VEE marked suspect */
  readonly suspect: number;
  readonly estimated: number;
  readonly edited: number;
  /** expected − the four above (a "missing" placeholder counts as missing); never negative. */
  readonly missing: number;
  /** (expected − missing) / expected; null for an empty window. */
  readonly completeness: number | null;
}

export interface BillingFigures {
  readonly meter: string;
  /** kWh, multiplier applied. */
  readonly activeImport: number;
  readonly activeExport: number;
  /** kvarh, multiplier applied. */
  readonly reactiveInductive: number;
  readonly reactiveCapacitive: number;
  /** reactive / active import; null when there is no active import. */
  readonly inductiveRatio: number | null;
  readonly capacitiveRatio: number | null;
  /** Active import per TOU bucket, kWh; absent for single-rate meters. */
  readonly tou?: Record<string, number>;
  /** Highest interval demand, kW = kWh × 60 / interval minutes × multiplier, and its interval start (local time). */
  readonly maxDemand: { kw: number; at: string } | null;
  /** Share of active import that is estimated or edited (0…1). */
  readonly estimatedShare: number;
  readonly completeness: number | null;
  readonly billable: boolean;
  readonly reasons: Reason[];
  readonly dataVersion: string;
  /** Meters of another commodity than electricity only (models/commodity.ts); absent for electricity, whose figures are as they always were. */
  readonly commodity?: 'gas' | 'water' | 'heat';
  /** Gas (Vm) and water, m³, multiplier applied. */
  readonly volume?: number;
  readonly gas?: GasFigures;
  readonly heat?: HeatFigures;
  /** Meters whose multiplier or tariff changes inside the window only: each part with its own (billing/parts.ts, docs/meters.md). */
  readonly parts?: PartFigures[];
}

export interface ReadinessParams {
  /** `no_recent_data` once the newest value is this many days older than the window end (or now). */
  readonly noDataDays: number;
}

const MICRO = 1e6;
/** Rounds to 10⁻⁶ (the resolution energies are summed at) so multiplied figures print cleanly. */
const round6 = (x: number) => Math.round(x * MICRO) / MICRO;
const ratio = (a: number, b: number) => (b === 0 ? null : round6(a / b));

/** Interval counts and completeness of active import. */
export function completenessOf(r: MeterFigureRow): Completeness {
  const present = r.measured + r.suspect + r.estimated + r.edited;
  const missing = Math.max(0, r.expected - present);
  return {
    expected: r.expected,
    measured: r.measured,
    suspect: r.suspect,
    estimated: r.estimated,
    edited: r.edited,
    missing,
    completeness: r.expected > 0 ? round6((r.expected - missing) / r.expected) : null,
  };
}

/**
 * Why a meter is not billable, in rule order; empty = billable.
 * `now` bounds the no-recent-data rule for a window that has not ended.
 */
export function readinessReasons(r: MeterFigureRow, p: ReadinessParams, now: number, extra?: CommodityExtra): Reason[] {
  const reasons: Reason[] = [];
  const from = r.windowFrom.getTime();
  const to = r.windowTo.getTime();
  if (!r.supplied) {
    const supply = `${r.supplyStart ?? '…'} to ${r.supplyEnd ?? '…'}`;
    reasons.push({ code: 'outside_supply', message: `supply dates (${supply}) do not overlap the period` });
    return reasons;
  }
  if (to <= from) return reasons; // the window has not begun yet (readiness clipped at now)
  const c = completenessOf(r);
  // What is counted: active import, or the primary channel of the meter's commodity (models/commodity.ts).
  const what = extra === undefined ? '' : extra.commodity === 'heat' ? 'heat energy register ' : 'volume ';
  if (c.missing > 0) {
    reasons.push({ code: 'missing_data', message: `${c.missing} of ${c.expected} ${what}intervals missing: send them, or estimate them (POST /v1/meters/:id/edits)` });
  }
  if (extra) for (const x of extra.reasons) if (x.code === 'missing_data') reasons.push(x);
  const end = Math.min(to, now);
  // A heat meter's newest value is its last register read (an instant); an interval's data reaches its end.
  const last = extra?.lastStart !== undefined ? extra.lastStart : r.lastStart;
  const covered = last ? last.getTime() + (extra?.lastStart !== undefined ? 0 : r.intervalMinutes * 60_000) : from;
  const silentDays = (end - covered) / DAY_MS;
  if (silentDays >= p.noDataDays) {
    const since = last ? `since ${formatInstant(covered, r.timezone)}` : 'in the whole window';
    reasons.push({ code: 'no_recent_data', message: `no ${what || 'active import '}data for ${Math.floor(silentDays)} days (${since})` });
  }
  if (r.openFailIssues > 0) {
    reasons.push({ code: 'open_fail_issues', message: `${r.openFailIssues} open validation issue(s) of severity fail: resolve them (GET /v1/validation/issues)` });
  }
  if (r.openSumCheckIssues > 0) {
    reasons.push({ code: 'register_mismatch', message: `${r.openSumCheckIssues} open sum_check issue(s): interval sum and register difference disagree` });
  }
  if (extra) for (const x of extra.reasons) if (x.code !== 'missing_data') reasons.push(x);
  return reasons;
}

/** kWh (or kvarh) of µ-units, multiplier applied, at the summing resolution. */
const kwh = (micro: number, multiplier: number) => round6((micro / MICRO) * multiplier);

/**
 * Billing figures of one meter; `touBuckets`: its tariff's bucket names, in `r.tou` order (undefined = single-rate).
 * Keys in the order of the documented response (tou after the ratios). Written as two whole literals: an
 * object spread followed by more keys cost V8 ~13 µs a call (its slow clone path), and no closure is made
 * per call: the consumption route calls this for every meter (10 000 and more).
 */
export function billingFigures(
  r: MeterFigureRow,
  ctx: { touBuckets: readonly string[] | undefined; dataVersion: string; readiness: ReadinessParams; now: number; commodity?: CommodityInputs },
): BillingFigures {
  if (r.commodity !== undefined && r.commodity !== 'electricity') {
    const extra = commodityExtra(r, ctx.commodity);
    if (extra) return commodityFigures(r, extra, ctx);
  }
  const k = r.multiplier;
  const reasons = readinessReasons(r, ctx.readiness, ctx.now);
  const maxDemand = r.maxRate === null || r.maxRateAt === null ? null : { kw: round6(r.maxRate * k), at: formatInstant(r.maxRateAt.getTime(), r.timezone) };
  const estimatedShare = r.activeImport === 0 ? 0 : round6(r.estimatedEnergy / r.activeImport);
  const completeness = completenessOf(r).completeness;
  const names = ctx.touBuckets;
  // The figures are written out as whole object literals here and below, not assembled from spreads of shared parts:
  // assembled, `npm run bench -- billing` measured the pull for 10 000 meters at 455–602 ms instead of 318–347 ms.
  if (names === undefined) {
    return {
      meter: r.externalId,
      activeImport: kwh(r.activeImport, k),
      activeExport: kwh(r.activeExport, k),
      reactiveInductive: kwh(r.reactiveInductive, k),
      reactiveCapacitive: kwh(r.reactiveCapacitive, k),
      inductiveRatio: ratio(r.reactiveInductive, r.activeImport),
      capacitiveRatio: ratio(r.reactiveCapacitive, r.activeImport),
      maxDemand,
      estimatedShare,
      completeness,
      billable: reasons.length === 0,
      reasons,
      dataVersion: ctx.dataVersion,
    };
  }
  const tou: Record<string, number> = {};
  for (let i = 0; i < names.length; i++) tou[names[i]] = kwh(r.tou[i] ?? 0, k);
  return {
    meter: r.externalId,
    activeImport: kwh(r.activeImport, k),
    activeExport: kwh(r.activeExport, k),
    reactiveInductive: kwh(r.reactiveInductive, k),
    reactiveCapacitive: kwh(r.reactiveCapacitive, k),
    inductiveRatio: ratio(r.reactiveInductive, r.activeImport),
    capacitiveRatio: ratio(r.reactiveCapacitive, r.activeImport),
    tou,
    maxDemand,
    estimatedShare,
    completeness,
    billable: reasons.length === 0,
    reasons,
    dataVersion: ctx.dataVersion,
  };
}

/**
 * Figures of a gas, water or heat meter: the electricity fields as for every
 * meter (0 and null: it has none of those channels), the estimated share and
 * completeness of its primary channel, then its own figures
 * (billing/commodity-figures.ts). Keys in the documented order.
 */
function commodityFigures(r: MeterFigureRow, extra: CommodityExtra, ctx: { dataVersion: string; readiness: ReadinessParams; now: number }): BillingFigures {
  const k = r.multiplier;
  const reasons = readinessReasons(r, ctx.readiness, ctx.now, extra);
  const q = extra.primaryQuantity ?? 0;
  const maxDemand = r.maxRate === null || r.maxRateAt === null ? null : { kw: round6(r.maxRate * k), at: formatInstant(r.maxRateAt.getTime(), r.timezone) };
  return {
    meter: r.externalId,
    activeImport: kwh(r.activeImport, k),
    activeExport: kwh(r.activeExport, k),
    reactiveInductive: kwh(r.reactiveInductive, k),
    reactiveCapacitive: kwh(r.reactiveCapacitive, k),
    inductiveRatio: ratio(r.reactiveInductive, r.activeImport),
    capacitiveRatio: ratio(r.reactiveCapacitive, r.activeImport),
    maxDemand,
    estimatedShare: q === 0 ? 0 : round6(r.estimatedEnergy / q),
    completeness: completenessOf(r).completeness,
    billable: reasons.length === 0,
    reasons,
    dataVersion: ctx.dataVersion,
    commodity: extra.commodity,
    ...(extra.volume !== undefined ? { volume: extra.volume } : {}),
    ...(extra.gas !== undefined ? { gas: extra.gas } : {}),
    ...(extra.heat !== undefined ? { heat: extra.heat } : {}),
  };
}
