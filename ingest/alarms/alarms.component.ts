import { createFailingItems, failureReporter, type FailingItems } from '../../models/failing-items.js';
import type { Database } from '../../sql/database.js';
import { checkSilence } from './silence.js';

type LogFn = (objOrMsg: object | string, msg?: string) => void;
/** Structurally the logger `mdm serve` hands its components. */
export interface AlarmsLog {
  readonly info: LogFn;
  readonly error: LogFn;
  readonly warn?: LogFn;
  readonly debug?: LogFn;
}

/** Timers passed in so tests can drive the schedule. */
export interface AlarmsTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface AlarmsComponent {
  readonly name: 'alarms';
  readonly probe: { readonly name: string; check(): { ok: boolean; [k: string]: unknown } };
  start(log?: AlarmsLog): Promise<void>;
  stop(): Promise<void>;
  /** One silence check now (what the timer does). */
  tick(): Promise<void>;
  /** Meters whose alarm change failed, retried with backoff (what the probe lists). */
  readonly failing: FailingItems;
}

const silent: AlarmsLog = { info: () => {}, error: () => {} };
const KEY = 'silence|';
const realTimers: AlarmsTimers = { setTimeout: (fn, ms) => setTimeout(fn, ms).unref(), clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout) };

/**
 * The alarms part of `mdm serve`: every `intervalMs` the silence check
 * (ingest/alarms/silence.ts) opens no_data alarms for meters silent longer
 * than their silence rule allows, and closes those whose data came back. A
 * failed check is logged and retried at the next tick; /health shows the last.
 * A meter whose alarm change fails (issue 11) is left out, logged once at
 * error, listed in the probe under `failing` and retried with backoff (1 min
 * doubling to 1 h), while every other meter is checked; the probe stays ok.
 */
export function createAlarmsComponent(o: { database: Database; intervalMs: number; now?: () => number; timers?: AlarmsTimers }): AlarmsComponent {
  const now = o.now ?? Date.now;
  const timers = o.timers ?? realTimers;
  let log = silent;
  let timer: unknown;
  let running = false;
  let inFlight: Promise<unknown> = Promise.resolve();
  let last: { at: string; opened: number; closed: number; ms: number } | undefined;
  let lastError: string | undefined;
  const reporter = failureReporter(() => ({ warn: log.info, ...log }), 'alarms');
  const failing = createFailingItems({ now, report: reporter.report });

  async function tick(): Promise<void> {
    const t = now();
    const r = await checkSilence(o.database, t, { skip: failing.size ? (id) => failing.waiting(KEY + id) : undefined });
    for (const f of r.failed ?? []) failing.fail(KEY + f.meterId, f.error, { meter: f.meter ?? null, stage: 'silence check' });
    // A failing meter that was due and did not fail again went through.
    for (const k of failing.keys(KEY)) if (!failing.waiting(k)) failing.succeed(k);
    last = { at: new Date(t).toISOString(), opened: r.opened, closed: r.closed, ms: now() - t };
    if (r.opened + r.closed > 0) log.info({ opened: r.opened, closed: r.closed }, 'alarms: silence check');
    lastError = undefined;
  }

  const loop = () => {
    inFlight = tick()
      .catch((err: Error) => {
        lastError = err.message;
        log.error({ err: err.message }, 'alarms: silence check failed');
      })
      .finally(() => {
        reporter.endTick();
        if (running) timer = timers.setTimeout(loop, o.intervalMs);
      });
  };

  return {
    name: 'alarms',
    probe: { name: 'alarms', check: () => ({ ok: lastError === undefined, silenceCheck: last ?? null, ...failing.probe(), ...(lastError ? { error: lastError } : {}) }) },
    async start(l) {
      log = l ?? silent;
      running = true;
      timer = timers.setTimeout(loop, 0);
    },
    async stop() {
      running = false;
      timers.clearTimeout(timer);
      await inFlight;
    },
    tick,
    failing,
  };
}

/** `mdm serve` factory: off when ALARMS_SILENCE_INTERVAL_S is 0. */
export function alarmsComponent(ctx: { readonly config: { readonly ALARMS_SILENCE_INTERVAL_S: number }; readonly database: Database }): AlarmsComponent | undefined {
  if (ctx.config.ALARMS_SILENCE_INTERVAL_S === 0) return undefined;
  return createAlarmsComponent({ database: ctx.database, intervalMs: ctx.config.ALARMS_SILENCE_INTERVAL_S * 1000 });
}
