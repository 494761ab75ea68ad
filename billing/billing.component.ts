import type { Database } from '../sql/database.js';
import type { ReadinessParams } from './figures.js';
import { parsePeriod, periodAt } from './period.js';
import { refreshReadiness, type ReadinessResult } from './readiness.js';

type LogFn = (objOrMsg: object | string, msg?: string) => void;
/** Structurally the logger `mdm serve` hands its components. */
export interface ReadinessLog {
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
}

/** Timers passed in so tests can drive the schedule. */
export interface ReadinessTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface ReadinessComponentOptions {
  readonly database: Database;
  readonly intervalMs: number;
  readonly params: ReadinessParams;
  readonly now?: () => number;
  readonly timers?: ReadinessTimers;
}

export interface ReadinessComponent {
  readonly name: 'billing-readiness';
  readonly probe: { readonly name: string; check(): { ok: boolean; [k: string]: unknown } };
  start(log?: ReadinessLog): Promise<void>;
  stop(): Promise<void>;
  /** One run now (also what the timer does): the current and the previous month. */
  runOnce(): Promise<ReadinessResult[]>;
}

const silent: ReadinessLog = { info: () => {}, warn: () => {}, error: () => {} };
const realTimers: ReadinessTimers = { setTimeout: (fn, ms) => setTimeout(fn, ms).unref(), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

/**
 * Periodic pre-billing check (`mdm serve` component): every `intervalMs`
 * it computes readiness of the current and the previous month (UTC months;
 * each meter's window is its own local month) and stores the results, which
 * GET /v1/billing/readiness then serves without recomputing. Not-billable
 * counts are logged at warn, so problems surface during the month. A failed
 * run is logged and retried at the next tick; /health shows the last run.
 */
export function createReadinessComponent(o: ReadinessComponentOptions): ReadinessComponent {
  const now = o.now ?? Date.now;
  const timers = o.timers ?? realTimers;
  let log = silent;
  let timer: unknown;
  let running = false;
  let inFlight: Promise<unknown> = Promise.resolve();
  let last: { at: string; ms: number; periods: Record<string, { meters: number; notBillable: number }> } | undefined;
  let lastError: string | undefined;

  async function runOnce(): Promise<ReadinessResult[]> {
    const t = now();
    const results: ReadinessResult[] = [];
    for (const p of [periodAt(t, -1), periodAt(t)]) {
      results.push(await refreshReadiness(o.database, parsePeriod(p)!, { params: o.params, now: t }));
    }
    last = {
      at: new Date(t).toISOString(),
      ms: now() - t,
      periods: Object.fromEntries(results.map((r) => [r.period, { meters: r.meters, notBillable: r.notBillable.length }])),
    };
    lastError = undefined;
    for (const r of results) {
      if (r.notBillable.length) log.warn({ period: r.period, meters: r.meters, notBillable: r.notBillable.length }, 'billing readiness: meters not billable');
      else log.info({ period: r.period, meters: r.meters }, 'billing readiness: every meter billable');
    }
    return results;
  }

  const tick = () => {
    inFlight = runOnce()
      .catch((err: Error) => {
        lastError = err.message;
        log.error({ err: err.message }, 'billing readiness run failed');
      })
      .finally(() => {
        if (running) timer = timers.setTimeout(tick, o.intervalMs);
      });
  };

  return {
    name: 'billing-readiness',
    probe: {
      name: 'billing-readiness',
      check: () => ({ ok: lastError === undefined, intervalMs: o.intervalMs, lastRun: last ?? null, ...(lastError ? { error: lastError } : {}) }),
    },
    async start(l) {
      log = l ?? silent;
      running = true;
      timer = timers.setTimeout(tick, 0); // first run right after start, off the start-up path
    },
    async stop() {
      running = false;
      timers.clearTimeout(timer);
      await inFlight;
    },
    runOnce,
  };
}

/** `mdm serve` factory: off when BILLING_READINESS_INTERVAL_MIN is 0. */
export function readinessComponent(ctx: {
  readonly config: { readonly BILLING_READINESS_INTERVAL_MIN: number; readonly BILLING_NO_DATA_DAYS: number };
  readonly database: Database;
}): ReadinessComponent | undefined {
  const minutes = ctx.config.BILLING_READINESS_INTERVAL_MIN;
  if (minutes === 0) return undefined;
  return createReadinessComponent({ database: ctx.database, intervalMs: minutes * 60_000, params: { noDataDays: ctx.config.BILLING_NO_DATA_DAYS } });
}
