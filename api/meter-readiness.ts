import type { Period } from '../billing/period.js';
import { refreshReadiness, type ReadinessResult } from '../billing/readiness.js';
import type { Database } from '../sql/database.js';
import { findReadiness } from '../sql/billing.repository.js';
import { readinessComputedAt, type ReadinessView } from '../sql/meter-status.repository.js';
import type { AppConfig } from './app.js';

/** The billing route's defaults (api/routes/billing.route.ts): the same readiness, judged alike. */
const DEFAULTS = { BILLING_NO_DATA_DAYS: 3, BILLING_READINESS_INTERVAL_MIN: 60 };
/** Periods whose parsed readiness is kept (the console asks for one or two months). */
const KEEP = 4;

/**
 * A period's billing readiness for the meter list (GET /v1/meters with status): the stored result while it is
 * younger than the readiness interval and no meter was registered or changed since (the billing component
 * refreshes it; unlike GET /v1/billing/readiness a newer batch does not make it stale, so a busy registry's list
 * does not recompute it on every page: the response says when it was computed), else computed and stored now. The parsed not-billable list is kept in memory per
 * period and computation time, so a page reads one timestamp, not the whole stored result.
 */
export function createReadinessView(database: Database, config: AppConfig): (period: Period) => Promise<ReadinessView> {
  const settings = { ...DEFAULTS, ...config } as typeof DEFAULTS;
  const maxAgeMs = (settings.BILLING_READINESS_INTERVAL_MIN || 15) * 60_000;
  const params = { noDataDays: settings.BILLING_NO_DATA_DAYS };
  const kept = new Map<string, ReadinessView>();
  const computing = new Map<string, Promise<ReadinessView>>();

  const keep = (period: string, view: ReadinessView) => {
    kept.delete(period);
    kept.set(period, view);
    if (kept.size > KEEP) kept.delete(kept.keys().next().value!);
    return view;
  };
  const viewOf = (r: Pick<ReadinessResult, 'computedAt' | 'notBillable'>): ReadinessView => ({
    computedAt: new Date(r.computedAt),
    notBillable: r.notBillable.map((n) => ({ meter: n.meter, completeness: n.completeness })),
  });

  async function load(period: Period): Promise<ReadinessView> {
    const now = Date.now();
    const { computedAt: at, metersChangedAt } = await readinessComputedAt(database, period.period);
    // A meter registered or changed since (supply dates, zone, commodity…) would be missing or judged on old fields.
    const metersChanged = at !== undefined && metersChangedAt !== undefined && metersChangedAt > at;
    if (at && !metersChanged && now - at.getTime() < maxAgeMs && at.getTime() <= now) {
      const hit = kept.get(period.period);
      if (hit && hit.computedAt.getTime() === at.getTime()) return hit;
      const stored = await findReadiness(database, period.period);
      if (stored) return keep(period.period, { ...viewOf(stored.result as unknown as ReadinessResult), computedAt: stored.computedAt });
    }
    return keep(period.period, viewOf(await refreshReadiness(database, period, { params, now })));
  }

  return (period) => {
    let p = computing.get(period.period);
    if (!p) {
      p = load(period).finally(() => computing.delete(period.period));
      computing.set(period.period, p);
    }
    return p;
  };
}
