import { bisect, failureMessage, type FailingItems } from '../models/failing-items.js';
import { findReadiness, readinessStateKey, selectedMeters, storeReadiness, type MeterSelector } from '../sql/billing.repository.js';
import type { Database } from '../sql/database.js';
import { isUnavailable } from '../sql/db-errors.js';
import { runBilling, type BillingRun } from './billing-run.js';
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
  /**
   * Meters whose figures failed (the periodic run's memory, keys
   * `readiness|<period>|<meter>`): one that waits for its retry is not
   * computed again, only reported with its last error.
   */
  readonly failing?: FailingItems;
}

const isolable = (err: unknown) => !isUnavailable(err);

/**
 * Readiness of the selected meters over `period`: one set-based billing run.
 * When that fails (not for an unreachable database), e.g. because one
 * meter's stored value overflows the energy sum, the run is repeated on
 * halves of the meters until the failing ones are found: they are reported
 * not billable with `figures_failed` and the error, every other meter is
 * checked as usual (issue 11). The figures then come from several
 * snapshots; dataVersion is the newest of them.
 */
export async function computeReadiness(database: Database, period: Period, o: ReadinessOptions): Promise<ReadinessResult> {
  const prefix = `readiness|${period.period}|`;
  const waiting = o.failing && (o.selector === undefined || 'all' in o.selector) ? o.failing.waitingKeys(prefix).map((k) => k.slice(prefix.length)) : [];
  const selector: MeterSelector = waiting.length ? { all: true, except: waiting } : (o.selector ?? { all: true });
  const failed = waiting.map((meter) => ({ meter, error: o.failing!.get(prefix + meter)?.error ?? 'failed before' }));
  const runs: BillingRun[] = [];
  const run = async (sel: MeterSelector) => {
    const r = await runBilling(database, {
      selector: sel,
      window: { kind: 'period', fromDate: period.fromDate, toDate: period.toDate },
      until: new Date(o.now),
      readiness: o.params,
      now: o.now,
    });
    runs.push(r);
    if (o.failing?.size) for (const f of r.figures) o.failing.succeed(prefix + f.meter);
  };
  try {
    await run(selector);
  } catch (err) {
    if (!isolable(err)) throw err;
    await bisect(await selectedMeters(database, selector), err, (part) => run({ meters: part }), {
      isolable,
      onFail: (meter, e) => {
        failed.push({ meter, error: failureMessage(e) });
        o.failing?.fail(prefix + meter, e, { stage: 'readiness', period: period.period, meter });
      },
    });
  }
  const figures = runs.length === 1 ? runs[0].figures : runs.flatMap((r) => r.figures).sort((a, b) => (a.meter < b.meter ? -1 : a.meter > b.meter ? 1 : 0));
  const notBillable = [
    ...figures.filter((f) => !f.billable).map((f) => ({ meter: f.meter, completeness: f.completeness, reasons: f.reasons })),
    ...failed.map((f) => ({
      meter: f.meter,
      completeness: null,
      reasons: [{ code: 'figures_failed' as const, message: `billing figures could not be computed from the stored data (${f.error}); correct the data, see docs/billing.md` }],
    })),
  ];
  return {
    period: period.period,
    computedAt: new Date(o.now).toISOString(),
    dataVersion: runs.reduce((v, r) => (r.dataVersion > v ? r.dataVersion : v), new Date(0).toISOString()),
    meters: figures.length + failed.length,
    billable: figures.length + failed.length - notBillable.length,
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
export async function readinessOf(database: Database, period: Period, o: ReadinessOptions & { maxAgeMs: number }): Promise<ReadinessResult & { source: 'stored' | 'computed' }> {
  if (o.selector !== undefined) return { ...(await computeReadiness(database, period, o)), source: 'computed' };
  const [stored, stateKey] = await Promise.all([findReadiness(database, period.period), readinessStateKey(database)]);
  if (stored && stored.stateKey === stateKey && o.now - stored.computedAt.getTime() < o.maxAgeMs && stored.computedAt.getTime() <= o.now) {
    return { ...(stored.result as unknown as ReadinessResult), source: 'stored' };
  }
  return { ...(await refreshReadiness(database, period, o)), source: 'computed' };
}
