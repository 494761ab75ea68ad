import { createFailingItems, failureReporter, type FailingItems } from '../models/failing-items.js';
import { createPeriodic, roundSlot, silentLog, type ComponentLog, type Timers } from '../models/periodic.js';
import type { ClaimRound } from '../models/work-metrics.js';
import type { Database } from '../sql/database.js';
import { checkSilence } from './silence.js';

export interface AlarmsComponent {
  readonly name: 'alarms';
  readonly probe: { readonly name: string; check(): { ok: boolean; [k: string]: unknown } };
  start(log?: ComponentLog): Promise<void>;
  stop(): Promise<void>;
  /** One silence check now (what the timer does). */
  tick(): Promise<void>;
  /** Meters whose alarm change failed, retried with backoff (what the probe lists). */
  readonly failing: FailingItems;
}

const KEY = 'silence|';

/**
 * The alarms part of `mdm serve`: every `intervalMs` the silence check
 * (alarms/silence.ts) opens no_data alarms for meters silent longer
 * than their silence rule allows, and closes those whose data came back. A
 * failed check is logged and retried at the next tick; /health shows the last.
 * A meter whose alarm change fails (issue 11) is left out, logged once at
 * error, listed in the probe under `failing` and retried with backoff (1 min
 * doubling to 1 h), while every other meter is checked; the probe stays ok.
 * With `claimRound` (mdm serve), instances sharing the database run each
 * round of the check once: the instance that claims the round checks.
 */
export function createAlarmsComponent(o: { database: Database; intervalMs: number; now?: () => number; timers?: Timers; claimRound?: ClaimRound }): AlarmsComponent {
  const now = o.now ?? Date.now;
  let log = silentLog;
  let last: { at: string; opened: number; closed: number; ms: number } | undefined;
  const reporter = failureReporter(() => log, 'alarms');
  const failing = createFailingItems({ now, report: reporter.report });

  async function tick(): Promise<void> {
    const t = now();
    const r = await checkSilence(o.database, t, { skip: failing.size ? (id) => failing.waiting(KEY + id) : undefined });
    for (const f of r.failed ?? []) failing.fail(KEY + f.meterId, f.error, { meter: f.meter ?? null, stage: 'silence check' });
    // A failing meter that was due and did not fail again went through.
    for (const k of failing.keys(KEY)) if (!failing.waiting(k)) failing.succeed(k);
    last = { at: new Date(t).toISOString(), opened: r.opened, closed: r.closed, ms: now() - t };
    if (r.opened + r.closed > 0) log.info({ opened: r.opened, closed: r.closed }, 'alarms: silence check');
  }

  const loop = createPeriodic({
    tick: async () => {
      if (!o.claimRound || (await o.claimRound('alarms.silence', roundSlot(now(), o.intervalMs)))) await tick();
    },
    everyMs: o.intervalMs,
    timers: o.timers,
    onError: (err) => log.error({ err: err.message }, 'alarms: silence check failed'),
    afterTick: () => reporter.endTick(),
  });

  return {
    name: 'alarms',
    probe: { name: 'alarms', check: () => ({ ok: loop.lastError === undefined, silenceCheck: last ?? null, ...failing.probe(), ...(loop.lastError ? { error: loop.lastError } : {}) }) },
    async start(l) {
      log = l ?? silentLog;
      loop.start();
    },
    stop: () => loop.stop(),
    tick,
    failing,
  };
}

/** `mdm serve` factory: off when ALARMS_SILENCE_INTERVAL_S is 0. */
export function alarmsComponent(ctx: { readonly config: { readonly ALARMS_SILENCE_INTERVAL_S: number }; readonly database: Database; readonly claimRound?: ClaimRound }): AlarmsComponent | undefined {
  if (ctx.config.ALARMS_SILENCE_INTERVAL_S === 0) return undefined;
  return createAlarmsComponent({ database: ctx.database, intervalMs: ctx.config.ALARMS_SILENCE_INTERVAL_S * 1000, claimRound: ctx.claimRound });
}
