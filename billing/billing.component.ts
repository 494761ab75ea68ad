import { createFailingItems, failureReporter, type FailingItems } from '../models/failing-items.js';
import type { IngestActivity } from '../models/ingest-activity.js';
import { createPeriodic, roundSlot, silentLog, type ComponentLog, type Timers } from '../models/periodic.js';
import type { ClaimRound } from '../models/work-metrics.js';
import { maintainBillingRollup } from '../sql/billing-rollup.repository.js';
import type { Database } from '../sql/database.js';
import type { ReadinessParams } from './figures.js';
import { parsePeriod, periodAt } from './period.js';
import { refreshReadiness, type ReadinessResult } from './readiness.js';

export interface BillingComponentOptions {
  readonly database: Database;
  /** Rollup maintenance every this many ms; 0 = off (billing then reads the readings, slower). */
  readonly rollupMs: number;
  /** Readiness of the current and previous month every this many ms; 0 = off. */
  readonly readinessMs: number;
  readonly params: ReadinessParams;
  readonly now?: () => number;
  readonly timers?: Timers;
  /** Ticks wait while ingest runs at a bulk rate, and run as soon as it ends (cli/ wires it; none: never wait). */
  readonly activity?: IngestActivity;
  /** Instances sharing the database compute each round of readiness once: the one that claims it (mdm serve wires it; none: always). */
  readonly claimRound?: ClaimRound;
}

export interface BillingComponent {
  readonly name: 'billing';
  readonly probe: { readonly name: string; check(): { ok: boolean; [k: string]: unknown } };
  start(log?: ComponentLog): Promise<void>;
  stop(): Promise<void>;
  /** One tick now (what the timer does): rollup maintenance, then readiness when due. */
  tick(): Promise<void>;
  /** Meter days, meters and readiness meters that failed, retried with backoff (what the probe lists). */
  readonly failing: FailingItems;
}

/**
 * The billing part of `mdm serve`. Each tick it brings the daily rollup up
 * to date (days ingest marked dirty, meters to adopt; at most one tick's
 * length of work, the rest next tick), and, every `readinessMs`, computes
 * readiness of the current and the previous month (UTC months; each meter's
 * window is its own local month) and stores it, which GET
 * /v1/billing/readiness then serves without recomputing. Not-billable counts
 * are logged at warn, so problems surface during the month. A failed tick is
 * logged and retried at the next; /health shows the last runs.
 *
 * One meter's bad data never stops the others (issue 11): an item the
 * rollup or readiness cannot process (a meter day, a meter) is isolated,
 * logged once at error, listed in the probe under `failing` (with the
 * error, since when, attempts and the next retry) and retried with backoff
 * (1 min doubling to 1 h); the probe stays `ok`. `ok: false` is kept for a
 * tick that failed as a whole (database unreachable).
 */
export function createBillingComponent(o: BillingComponentOptions): BillingComponent {
  const now = o.now ?? Date.now;
  const tickMs = o.rollupMs > 0 ? o.rollupMs : o.readinessMs;
  let log = silentLog;
  let nextReadiness = 0;
  let rollup: { at: string; adopted: number; refreshed: number; ms: number } | undefined;
  let readiness: { at: string; ms: number; periods: Record<string, { meters: number; notBillable: number }> } | undefined;
  const reporter = failureReporter(() => log, 'billing');
  const failing = createFailingItems({ now, report: reporter.report });

  async function runReadiness(t: number): Promise<ReadinessResult[]> {
    const results: ReadinessResult[] = [];
    const periods = [periodAt(t, -1), periodAt(t)];
    // Meters failing in a month no longer checked are forgotten.
    for (const k of failing.keys('readiness|')) if (!periods.includes(k.split('|')[1])) failing.forget(k);
    for (const p of periods) results.push(await refreshReadiness(o.database, parsePeriod(p)!, { params: o.params, now: t, failing }));
    readiness = {
      at: new Date(t).toISOString(),
      ms: now() - t,
      periods: Object.fromEntries(results.map((r) => [r.period, { meters: r.meters, notBillable: r.notBillable.length }])),
    };
    for (const r of results) {
      if (r.notBillable.length) log.warn({ period: r.period, meters: r.meters, notBillable: r.notBillable.length }, 'billing readiness: meters not billable');
      else log.info({ period: r.period, meters: r.meters }, 'billing readiness: every meter billable');
    }
    return results;
  }

  async function tick(): Promise<void> {
    const t = now();
    if (o.rollupMs > 0) {
      const done = await maintainBillingRollup(o.database, { budgetMs: o.rollupMs, now, failing });
      rollup = { at: new Date(t).toISOString(), ...done, ms: now() - t };
      if (done.adopted + done.refreshed > 0) log.info(done, 'billing rollup maintained');
    }
    if (o.readinessMs > 0 && now() >= nextReadiness) {
      nextReadiness = now() + o.readinessMs;
      if (!o.claimRound || (await o.claimRound('billing.readiness', roundSlot(now(), o.readinessMs)))) await runReadiness(now());
    }
  }

  const yieldToIngest = o.activity?.gate();
  let unsubscribe: (() => void) | undefined;
  const loop = createPeriodic({
    // Ingest first: during a bulk load ask again shortly; right after it, the days it marked are rolled up.
    tick: async () => yieldToIngest?.() || tick(),
    everyMs: tickMs,
    timers: o.timers,
    onError: (err) => log.error({ err: err.message }, 'billing maintenance failed'),
    afterTick: () => reporter.endTick(),
  });

  return {
    name: 'billing',
    probe: {
      name: 'billing',
      check: () => ({ ok: loop.lastError === undefined, rollup: rollup ?? null, readiness: readiness ?? null, ...failing.probe(), ...(loop.lastError ? { error: loop.lastError } : {}) }),
    },
    async start(l) {
      log = l ?? silentLog;
      unsubscribe = o.activity?.onQuiet(() => loop.wake());
      loop.start(); // first tick right after start, off the start-up path
    },
    stop: () => {
      unsubscribe?.();
      return loop.stop();
    },
    tick,
    failing,
  };
}

/** `mdm serve` factory: off when both BILLING_ROLLUP_INTERVAL_S and BILLING_READINESS_INTERVAL_MIN are 0. */
export function billingComponent(ctx: {
  readonly config: { readonly BILLING_ROLLUP_INTERVAL_S: number; readonly BILLING_READINESS_INTERVAL_MIN: number; readonly BILLING_NO_DATA_DAYS: number };
  readonly database: Database;
  readonly activity?: IngestActivity;
  readonly claimRound?: ClaimRound;
}): BillingComponent | undefined {
  const c = ctx.config;
  if (c.BILLING_ROLLUP_INTERVAL_S === 0 && c.BILLING_READINESS_INTERVAL_MIN === 0) return undefined;
  return createBillingComponent({
    database: ctx.database,
    rollupMs: c.BILLING_ROLLUP_INTERVAL_S * 1000,
    readinessMs: c.BILLING_READINESS_INTERVAL_MIN * 60_000,
    params: { noDataDays: c.BILLING_NO_DATA_DAYS },
    activity: ctx.activity,
    claimRound: ctx.claimRound,
  });
}
