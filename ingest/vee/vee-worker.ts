import { shiftDate } from '../../models/calendar.js';
import { CHANNELS } from '../../models/channel.js';
import { createFailingItems, failureReporter, type FailingItems } from '../../models/failing-items.js';
import type { IngestActivity } from '../../models/ingest-activity.js';
import { createPeriodic, silentLog, type ComponentLog, type Timers } from '../../models/periodic.js';
import type { Database } from '../../sql/database.js';
import { isUnavailable } from '../../sql/db-errors.js';
import { findVeeMeters } from '../../sql/vee.repository.js';
import { claimQueue, finishQueue, parkQueue, queueStats, type QueueEntry } from '../../sql/vee-queue.repository.js';
import type { IngestListeners } from '../ingest-listeners.js';
import { runVee, type VeeRunResult, type VeeTarget } from './runner.js';

/** Structurally the logger `mdm serve` hands its components (a pino child). */
export type WorkerLog = ComponentLog;

export interface VeeWorkerOptions {
  readonly database: Database;
  /** What the runs trigger (VEE alarms; cli/ wires it). */
  readonly listeners?: IngestListeners;
  readonly timers?: Timers;
  readonly now?: () => number;
  /** Queue entries (meter/channel/day) claimed per round (default 500). */
  readonly batchSize?: number;
  /** Pause when the queue is empty or after an error, ms (default 2 000). */
  readonly idleMs?: number;
  /** A claim older than this is taken over: its worker died (default 10 min). */
  readonly staleMs?: number;
  /** Rounds wait while ingest runs at a bulk rate, and start as soon as it ends (cli/ wires it; none: never wait). */
  readonly activity?: IngestActivity;
  /**
   * Rounds in flight at once (default 2 on a PostgreSQL server, 1 on PGlite):
   * one round validates in this thread while the other waits for the
   * database, so a backlog drains on both cores.
   */
  readonly lanes?: number;
}

export interface VeeWorker {
  readonly name: 'vee';
  readonly probe: { readonly name: string; check(): Promise<{ ok: boolean; [k: string]: unknown }> };
  start(log?: WorkerLog): Promise<void>;
  stop(): Promise<void>;
  /** One round: claim, validate, release. Resolves to the entries claimed (0 = queue empty). */
  drainOnce(): Promise<number>;
  /** Meter days that could not be validated (parked, retried with backoff) and meters whose VEE alarms failed: what the probe lists. */
  readonly failing: FailingItems;
}

/** A tick's lanes stop taking rounds after this long (the loop's next tick goes on at once): stop() and /health never wait longer. */
const LANE_BUDGET_MS = 5_000;
/** Queued local dates of a meter closer than this many days are validated as one range. */
const MERGE_GAP_DAYS = 3;

/**
 * Groups queue entries into validation targets: per meter, runs of dates
 * (all channels together: the rules of one channel read the others, e.g. the
 * register that brackets the intervals). A register read at local midnight
 * closes the bracket of the day before, so a queued register day also covers
 * the previous day. Pure.
 * @example queueTargets([{ meterId: 1, channel: 1, localDate: '2026-01-02' }], new Set([5])) // [{ meterId: 1, fromDate: '2026-01-02', toDate: '2026-01-02' }]
 */
export function queueTargets(entries: readonly QueueEntry[], registerChannels: ReadonlySet<number>): VeeTarget[] {
  const byMeter = new Map<number, Set<string>>();
  for (const e of entries) {
    const dates = byMeter.get(e.meterId) ?? byMeter.set(e.meterId, new Set()).get(e.meterId)!;
    dates.add(e.localDate);
    if (registerChannels.has(e.channel)) dates.add(shiftDate(e.localDate, -1));
  }
  const out: VeeTarget[] = [];
  for (const [meterId, set] of byMeter) {
    const dates = [...set].sort();
    let from = dates[0];
    let to = dates[0];
    for (const d of dates.slice(1)) {
      if (d <= shiftDate(to, MERGE_GAP_DAYS)) to = d;
      else {
        out.push({ meterId, fromDate: from, toDate: to });
        from = to = d;
      }
    }
    out.push({ meterId, fromDate: from, toDate: to });
  }
  return out;
}

/** Built-in register channels (codes 5, 6, 8, 11–18, 26, 27): a register read also validates the day before (its delta starts there). */
const REGISTER_CHANNELS = new Set(CHANNELS.filter((c) => c.kind === 'register').map((c) => c.code));

/**
 * Queued days later than this many days after now are not validated: such a
 * reading time (the year 9999) is implausible, and a day near the end of the
 * calendar cannot even be planned (its look-ahead window passes the year
 * 9999). They are parked like a failing day, with that reason.
 */
export const MAX_AHEAD_DAYS = 366;
const PLAIN_DATE = /^\d{4}-\d{2}-\d{2}$/;

const isolable = (err: unknown) => !isUnavailable(err);
const dayKey = (meterId: number, localDate: string) => `day|${meterId}|${localDate}`;
const alarmKey = (meterId: number) => `alarm|${meterId}`;

function groupBy<T, K>(xs: readonly T[], key: (x: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const x of xs) (out.get(key(x)) ?? out.set(key(x), []).get(key(x))!).push(x);
  return out;
}

/**
 * The VEE worker, a `mdm serve` component: drains vee_queue (filled by ingest
 * in the same transaction as the data) in rounds, validating each claimed
 * meter's days with runVee. Several instances may run it side by side
 * (claims use SKIP LOCKED).
 *
 * One bad meter day never stops the queue (issue 11): a round that fails
 * (for any reason but an unreachable database) is run again meter by meter,
 * and a meter that fails day by day. A day that still fails, or lies more
 * than MAX_AHEAD_DAYS after now, is parked (parkQueue) and retried with
 * backoff (1 min doubling to 1 h; at once when new data for it arrives),
 * logged once at error and listed in the probe under `failing`; the probe
 * stays ok. An unreachable database fails the round: its entries are taken
 * over after staleMs, as before.
 */
export function createVeeWorker(opts: VeeWorkerOptions): VeeWorker {
  const { database } = opts;
  const now = opts.now ?? Date.now;
  const batchSize = opts.batchSize ?? 500;
  const idleMs = opts.idleMs ?? 2_000;
  const staleMs = opts.staleMs ?? 600_000;
  let log: ComponentLog = silentLog;
  let processed = 0;
  let lastRoundAt: number | undefined;
  const reporter = failureReporter(() => log, 'vee');
  const failing = createFailingItems({ now, report: reporter.report });

  /** Records a day that cannot be validated and parks its entries until the retry time. */
  async function park(meterId: number, localDate: string, entries: readonly QueueEntry[], err: unknown, claimedAt: Date): Promise<void> {
    const key = dayKey(meterId, localDate);
    const meter = failing.get(key)?.meter ?? (await findVeeMeters(database, { ids: [meterId] }))[0]?.externalId ?? null;
    const item = failing.fail(key, err, { meter, localDate });
    await parkQueue(database, entries, { claimedAt, retryAt: new Date(item.retryAt), staleMs });
  }

  /** Validates entries (their targets): the result, or the error when it failed for a reason an item can cause (an unreachable database throws). */
  async function validate(entries: readonly QueueEntry[], nowMs: number, onAlarmFailures: (r: VeeRunResult) => void): Promise<{ ok: true; r: VeeRunResult } | { ok: false; err: unknown }> {
    try {
      const r = await runVee(database, queueTargets(entries, REGISTER_CHANNELS), { nowMs, listeners: opts.listeners });
      onAlarmFailures(r);
      return { ok: true, r };
    } catch (err) {
      if (!isolable(err)) throw err;
      return { ok: false, err };
    }
  }

  async function drainOnce(): Promise<number> {
    const claimedAt = new Date(now());
    const entries = await claimQueue(database, { limit: batchSize, claimedAt, staleBefore: new Date(claimedAt.getTime() - staleMs) });
    if (entries.length === 0) return 0;
    const started = now();
    const nowMs = claimedAt.getTime();
    const latest = shiftDate(claimedAt.toISOString().slice(0, 10), MAX_AHEAD_DAYS);
    const plausible = entries.filter((e) => PLAIN_DATE.test(e.localDate) && e.localDate <= latest);
    const far = entries.filter((e) => !(PLAIN_DATE.test(e.localDate) && e.localDate <= latest));
    for (const [key, list] of groupBy(far, (e) => `${e.meterId}|${e.localDate}`)) {
      const date = key.slice(key.indexOf('|') + 1);
      await park(
        list[0].meterId,
        date,
        list,
        new Error(`local date ${date} is more than ${MAX_AHEAD_DAYS} days after now: an implausible reading time, not validated (correct or delete the reading)`),
        claimedAt,
      );
    }
    const done: QueueEntry[] = [];
    const alarmFailures = new Map<number, unknown>();
    const alarms = (r: VeeRunResult) => {
      for (const f of r.alarmFailures ?? []) alarmFailures.set(f.meterId, f.error);
    };
    const whole = await validate(plausible, nowMs, alarms);
    if (whole.ok) {
      done.push(...plausible);
      const r = whole.r;
      if (plausible.length)
        log.info(
          {
            entries: plausible.length,
            meters: new Set(plausible.map((e) => e.meterId)).size,
            issuesCreated: r.issuesCreated,
            issuesObsoleted: r.issuesObsoleted,
            markedSuspect: r.markedSuspect,
            estimated: r.estimated,
            ms: now() - started,
          },
          'vee: validated queued meter days',
        );
    } else {
      log.warn({ err: (whole.err as Error)?.message, entries: plausible.length }, 'vee: round failed; validating meter by meter');
      for (const list of groupBy(plausible, (e) => e.meterId).values()) {
        if ((await validate(list, nowMs, alarms)).ok) {
          done.push(...list);
          continue;
        }
        for (const [date, day] of groupBy(list, (e) => e.localDate)) {
          const r = await validate(day, nowMs, alarms);
          if (r.ok) done.push(...day);
          else await park(day[0].meterId, date, day, r.err, claimedAt);
        }
      }
    }
    await finishQueue(database, done, claimedAt);
    if (alarmFailures.size) {
      const names = new Map((await findVeeMeters(database, { ids: [...alarmFailures.keys()] })).map((m) => [m.id, m.externalId]));
      for (const [id, err] of alarmFailures) failing.fail(alarmKey(id), err, { meter: names.get(id) ?? null, stage: 'vee alarms (the issues are stored; the alarm was not raised)' });
    }
    if (failing.size) {
      for (const e of done) failing.succeed(dayKey(e.meterId, e.localDate));
      for (const id of new Set(done.map((e) => e.meterId))) if (!alarmFailures.has(id)) failing.succeed(alarmKey(id));
    }
    processed += done.length;
    lastRoundAt = now();
    return entries.length;
  }

  const yieldToIngest = opts.activity?.gate();
  const lanes = opts.lanes ?? (database.engine === 'pg' ? 2 : 1);
  /** Rounds in `lanes` lanes until the queue runs short, ingest takes over or LANE_BUDGET_MS passes; true when more is probably waiting. */
  async function drainLanes(): Promise<boolean> {
    if (lanes === 1) return (await drainOnce()) >= batchSize; // a full round: more is probably waiting
    const until = now() + LANE_BUDGET_MS;
    let more = false;
    // Every lane settles before the tick ends (a failed lane does not leave the other running past stop()).
    const settled = await Promise.allSettled(
      Array.from({ length: lanes }, async () => {
        while ((await drainOnce()) >= batchSize) {
          if (now() < until && !yieldToIngest?.()) continue;
          more = true;
          return;
        }
      }),
    );
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    return more;
  }
  let unsubscribe: (() => void) | undefined;
  const loop = createPeriodic({
    // Ingest first (a bulk load in progress: ask again shortly).
    tick: async () => yieldToIngest?.() || ((await drainLanes()) ? 0 : idleMs),
    everyMs: idleMs,
    timers: opts.timers,
    onError: (err) => log.error({ err: err.message }, 'vee: queue round failed'),
    afterTick: () => reporter.endTick(),
  });

  return {
    name: 'vee',
    probe: {
      name: 'vee',
      async check() {
        const q = await queueStats(database);
        return {
          ok: loop.running && loop.lastError === undefined,
          pending: q.pending,
          oldestQueuedAt: q.oldest ? q.oldest.toISOString() : null,
          processed,
          lastRoundAt: lastRoundAt === undefined ? null : new Date(lastRoundAt).toISOString(),
          ...failing.probe(),
          ...(loop.lastError ? { error: loop.lastError } : {}),
        };
      },
    },
    async start(l) {
      log = l ?? silentLog;
      unsubscribe = opts.activity?.onQuiet(() => loop.wake());
      loop.start();
    },
    stop: () => {
      unsubscribe?.();
      return loop.stop();
    },
    drainOnce,
    failing,
  };
}

/** `mdm serve` component factory (cli/components.ts). */
export function veeComponent(ctx: { database: Database; listeners?: IngestListeners; activity?: IngestActivity }): VeeWorker {
  return createVeeWorker({ database: ctx.database, listeners: ctx.listeners, activity: ctx.activity });
}
