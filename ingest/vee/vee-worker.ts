import { shiftDate } from '../../models/calendar.js';
import type { Database } from '../../sql/database.js';
import { claimQueue, finishQueue, queueStats, type QueueEntry } from '../../sql/vee-queue.repository.js';
import { runVee, type VeeTarget } from './runner.js';

/** Timers passed in so the polling loop runs on fake timers in tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The global timers, looked up at call time so vi.useFakeTimers() applies. */
const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

type LogFn = (objOrMsg: object | string, msg?: string) => void;
/** Structurally the logger `mdm serve` hands its components (a pino child). */
export interface WorkerLog {
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
}
const silent: WorkerLog = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

export interface VeeWorkerOptions {
  readonly database: Database;
  readonly timers?: Timers;
  readonly now?: () => number;
  /** Queue entries (meter/channel/day) claimed per round (default 500). */
  readonly batchSize?: number;
  /** Pause when the queue is empty or after an error, ms (default 2 000). */
  readonly idleMs?: number;
  /** A claim older than this is taken over: its worker died (default 10 min). */
  readonly staleMs?: number;
}

export interface VeeWorker {
  readonly name: 'vee';
  readonly probe: { readonly name: string; check(): Promise<{ ok: boolean; [k: string]: unknown }> };
  start(log?: WorkerLog): Promise<void>;
  stop(): Promise<void>;
  /** One round: claim, validate, release. Resolves to the entries claimed (0 = queue empty). */
  drainOnce(): Promise<number>;
}

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

const REGISTER_CHANNELS = new Set([5, 6, 8]);

/**
 * The VEE worker, a `mdm serve` component: drains vee_queue (filled by ingest
 * in the same transaction as the data) in rounds, validating each claimed
 * meter's days with runVee. A round that fails as a whole is retried meter by
 * meter; a meter that still fails is logged and its entries stay claimed, to
 * be taken over after staleMs. Several instances may run it side by side
 * (claims use SKIP LOCKED).
 */
export function createVeeWorker(opts: VeeWorkerOptions): VeeWorker {
  const { database } = opts;
  const timers = opts.timers ?? realTimers;
  const now = opts.now ?? Date.now;
  const batchSize = opts.batchSize ?? 500;
  const idleMs = opts.idleMs ?? 2_000;
  const staleMs = opts.staleMs ?? 600_000;
  let log = silent;
  let running = false;
  let timer: unknown;
  let current: Promise<void> = Promise.resolve();
  let processed = 0;
  let lastError: string | undefined;
  let lastRoundAt: number | undefined;

  async function drainOnce(): Promise<number> {
    const claimedAt = new Date(now());
    const entries = await claimQueue(database, { limit: batchSize, claimedAt, staleBefore: new Date(claimedAt.getTime() - staleMs) });
    if (entries.length === 0) return 0;
    const started = now();
    const targets = queueTargets(entries, REGISTER_CHANNELS);
    let done = entries;
    try {
      const r = await runVee(database, targets, { nowMs: claimedAt.getTime() });
      log.info({ entries: entries.length, meters: new Set(targets.map((t) => t.meterId)).size, issuesCreated: r.issuesCreated, issuesObsoleted: r.issuesObsoleted, markedSuspect: r.markedSuspect, estimated: r.estimated, ms: now() - started }, 'vee: validated queued meter days');
    } catch (err) {
      log.warn({ err: (err as Error).message, entries: entries.length }, 'vee: round failed; validating meter by meter');
      const failed = new Set<number>();
      for (const t of targets) {
        try {
          const r = await runVee(database, [t], { nowMs: claimedAt.getTime() });
          log.debug({ meterId: t.meterId, from: t.fromDate, to: t.toDate, issuesCreated: r.issuesCreated }, 'vee: meter validated');
        } catch (e) {
          failed.add(t.meterId);
          log.error({ meterId: t.meterId, from: t.fromDate, to: t.toDate, err: (e as Error).message }, 'vee: validating a meter failed; retried after the claim goes stale');
        }
      }
      done = entries.filter((e) => !failed.has(e.meterId));
    }
    await finishQueue(database, done, claimedAt);
    processed += done.length;
    lastRoundAt = now();
    return entries.length;
  }

  const schedule = (ms: number) => {
    if (running) timer = timers.setTimeout(() => (current = tick()), ms);
  };
  async function tick(): Promise<void> {
    timer = undefined;
    try {
      const n = await drainOnce();
      lastError = undefined;
      schedule(n >= batchSize ? 0 : idleMs); // a full round: more is probably waiting
    } catch (err) {
      lastError = (err as Error).message;
      log.error({ err: lastError }, 'vee: queue round failed');
      schedule(idleMs);
    }
  }

  return {
    name: 'vee',
    probe: {
      name: 'vee',
      async check() {
        const q = await queueStats(database);
        return {
          ok: running && lastError === undefined,
          pending: q.pending,
          oldestQueuedAt: q.oldest ? q.oldest.toISOString() : null,
          processed,
          lastRoundAt: lastRoundAt === undefined ? null : new Date(lastRoundAt).toISOString(),
          ...(lastError ? { error: lastError } : {}),
        };
      },
    },
    async start(l) {
      log = l ?? silent;
      running = true;
      schedule(0);
    },
    async stop() {
      running = false;
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
      await current;
    },
    drainOnce,
  };
}

/** `mdm serve` component factory (cli/components.ts). */
export function veeComponent(ctx: { database: Database }): VeeWorker {
  return createVeeWorker({ database: ctx.database });
}
