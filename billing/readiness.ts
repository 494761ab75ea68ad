import { findReadiness, readinessStateKey, storeReadiness, type MeterSelector } from '../sql/billing.repository.js';
import type { Database } from '../sql/database.js';
import { runBilling } from './billing-run.js';
import type { Reason, ReadinessParams } from './figures.js';
import type { Period } from './period.js';

/**
 * Pre-billing check of a period: the meters that are NOT billable and why.
 * For a period in progress every window is cut at `now`, so a meter is
 * reported for what has gone wrong so far (missing intervals up to now, no
 * data for N days), not for the days still to come. Results for all meters
 * are stored per period with the state they saw (billing_readiness);
 * `readinessOf` serves a stored result while that state is unchanged and the
 * result younger than `maxAgeMs`, and computes (and stores) a fresh one
 * otherwise.
 */
export interface ReadinessResult {
  readonly period: string;
  readonly computedAt: string;
  readonly dataVersion: string;
  /** Meters checked. */
  readonly meters: number;
  readonly billable: number;
  readonly notBillable: readonly { meter: string; completeness: number | null; reasons: readonly Reason[] }[];
}

export interface ReadinessOptions {
  readonly params: ReadinessParams;
  readonly now: number;
  readonly selector?: MeterSelector;
}

export async function computeReadiness(database: Database, period: Period, o: ReadinessOptions): Promise<ReadinessResult> {
  const run = await runBilling(database, {
    selector: o.selector ?? { all: true },
    window: { kind: 'period', fromDate: period.fromDate, toDate: period.toDate },
    until: new Date(o.now),
    readiness: o.params,
    now: o.now,
  });
  const notBillable = run.figures.filter((f) => !f.billable).map((f) => ({ meter: f.meter, completeness: f.completeness, reasons: f.reasons }));
  return {
    period: period.period,
    computedAt: new Date(o.now).toISOString(),
    dataVersion: run.dataVersion,
    meters: run.figures.length,
    billable: run.figures.length - notBillable.length,
    notBillable,
  };
}

/** Computes readiness of every meter for `period` and stores it; the periodic run. */
export async function refreshReadiness(database: Database, period: Period, o: ReadinessOptions): Promise<ReadinessResult> {
  const stateKey = await readinessStateKey(database);
  const result = await computeReadiness(database, period, o);
  await storeReadiness(database, { period: period.period, computedAt: new Date(o.now), stateKey, result: { ...result } });
  return result;
}

/** The stored result when still valid, else a fresh one (stored when it covers all meters). */
export async function readinessOf(
  database: Database,
  period: Period,
  o: ReadinessOptions & { maxAgeMs: number },
): Promise<ReadinessResult & { source: 'stored' | 'computed' }> {
  if (o.selector !== undefined) return { ...(await computeReadiness(database, period, o)), source: 'computed' };
  const [stored, stateKey] = await Promise.all([findReadiness(database, period.period), readinessStateKey(database)]);
  if (stored && stored.stateKey === stateKey && o.now - stored.computedAt.getTime() < o.maxAgeMs && stored.computedAt.getTime() <= o.now) {
    return { ...(stored.result as unknown as ReadinessResult), source: 'stored' };
  }
  return { ...(await refreshReadiness(database, period, o)), source: 'computed' };
}
