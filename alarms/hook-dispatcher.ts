import type { WorkMetrics } from '../models/work-metrics.js';
import type { Database } from '../sql/database.js';
import { isUnavailable } from '../sql/db-errors.js';
import { analyzeOutbox, claimDeliveries, deliveryStats, recordAttempts, releaseClaims, type AttemptRecord } from '../sql/hook.repository.js';
import { deliveryBody, deliveryHeaders, nextStep, type AttemptOutcome, type DeliveryToSend, type RetryPolicy } from './hook-delivery-policy.js';
import { createHttpPost, type HttpPost } from './hook-http-post.js';

type LogFn = (objOrMsg: object | string, msg?: string) => void;
/** Structurally the logger `mdm serve` hands its components (a pino child). */
export interface DispatcherLog {
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
}
const silent: DispatcherLog = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

export interface HookDispatcherOptions extends RetryPolicy {
  readonly database: Database;
  /** Per request: no response headers by then → a timeout (retried). */
  readonly timeoutMs: number;
  /** Pause between looks at the outbox when idle, ms. */
  readonly pollMs: number;
  /** Requests in flight at once (across alarms; one at a time per alarm and hook). */
  readonly concurrency: number;
  /** Sends one request; default node:http(s) with keep-alive (tests and benches may pass their own). */
  readonly post?: HttpPost;
  /** The signal that ends a request after `ms` (timeoutMs); default AbortSignal.timeout. Tests pass their own to fire it on cue instead of waiting on the clock. */
  readonly requestTimeout?: (ms: number) => AbortSignal;
  readonly random?: () => number;
  /** Delivery latency (transition → delivered or given up), for the instance's metrics. */
  readonly work?: WorkMetrics;
}

export interface HookDispatcher {
  readonly name: 'hooks';
  readonly probe: { readonly name: string; check(): Promise<{ ok: boolean; [k: string]: unknown }> };
  start(log?: DispatcherLog): Promise<void>;
  /** Stops claiming and waits for the requests in flight to be recorded. */
  stop(): Promise<void>;
  /** Looks at the outbox now instead of at the next poll (e.g. right after an alarm change). */
  wake(): void;
}

/** A claim is held for twice the request timeout (a wait for a slot, then the request) plus this, before another dispatcher may take it over. */
export const LEASE_MARGIN_MS = 2_000;
/** A claim slower than this suggests stale planner statistics (see analyzeOutbox)… */
const SLOW_CLAIM_MS = 25;
/** …which are refreshed at most this often. */
const ANALYZE_EVERY_MS = 10_000;

/** Delivery ends since start, for the probe. */
interface DeliveryCounts {
  delivered: number;
  failed: number;
  retried: number;
}

/**
 * The hook dispatcher, a `mdm serve` component: claims due deliveries from
 * the outbox (hook_deliveries, filled in the alarm change's transaction),
 * POSTs them signed, and records the outcome: delivered, retried later with
 * backoff (network error, timeout, 429, 5xx) or failed (other statuses, or
 * out of attempts). Up to `concurrency` requests run at once; the claim query
 * keeps transitions of one alarm to one hook in order. A delivery claimed by
 * a dispatcher that died is taken over once its lease (2 × timeout + 2 s) has
 * run out, and sent again under the same id.
 */
export function createHookDispatcher(opts: HookDispatcherOptions): HookDispatcher {
  const { database } = opts;
  let transport: { post: HttpPost; close(): void } | undefined;
  const random = opts.random ?? Math.random;
  const leaseMs = 2 * opts.timeoutMs + LEASE_MARGIN_MS; // a claimed delivery may wait for a slot (one request) before its own request
  let log = silent;
  let running = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pumping: Promise<void> | undefined;
  let again = false;
  /** Requests under way (each holds one of `concurrency` slots). */
  const inFlight = new Set<Promise<void>>();
  /** Claimed, waiting for a slot (at most `concurrency`). */
  const queued: DeliveryToSend[] = [];
  /** Attempt ends being written. */
  const recording = new Set<Promise<void>>();
  const counts: DeliveryCounts = { delivered: 0, failed: 0, retried: 0 };
  let lastError: string | undefined;
  const { record } = attemptRecorder(database);
  const refreshStatistics = statisticsRefresher(database);

  /**
   * Sends a claimed delivery. Its slot is free once the request has ended;
   * the outcome is written meanwhile (the row stays claimed until then, so
   * neither it nor the alarm's next transition can be claimed in between).
   */
  function track(d: DeliveryToSend): void {
    const request: Promise<void> = sendAttempt(transport!.post, d, opts)
      .then((outcome) => {
        const rec: Promise<void> = finishAttempt(d, outcome, { policy: opts, random, record, log, counts, work: opts.work })
          .catch((err: Error) => {
            lastError = err.message;
            log.error({ delivery: d.id, err: err.message }, 'hooks: recording a delivery attempt failed; the delivery is retried after its claim runs out');
          })
          .finally(() => {
            recording.delete(rec);
            wake(); // the alarm's next transition may be due now
          });
        recording.add(rec);
      })
      .finally(() => {
        inFlight.delete(request);
        startQueued();
        wake(); // a slot is free: claim more
      });
    inFlight.add(request);
  }

  /** Starts queued deliveries while slots are free. */
  function startQueued(): void {
    while (running && inFlight.size < opts.concurrency && queued.length) track(queued.shift()!);
  }

  /** Claims and starts deliveries until a claim finds fewer than it had room for. */
  async function pump(): Promise<void> {
    do {
      again = false;
      startQueued();
      const room = claimRoom(opts.concurrency, inFlight.size, queued.length);
      if (!running || room === 0) return;
      const t0 = performance.now();
      const claimed = await claimDeliveries(database, { limit: room, leaseMs });
      lastError = undefined;
      await refreshStatistics(performance.now() - t0);
      queued.push(...claimed);
      startQueued();
      if (claimed.length === room) again = true; // probably more waiting
    } while (again && running);
  }

  function wake(): void {
    if (!running) return;
    if (pumping) {
      again = true;
      return;
    }
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    pumping = pump()
      .catch((err: Error) => {
        lastError = err.message;
        log.error({ err: err.message }, 'hooks: claiming deliveries failed');
      })
      .finally(() => {
        pumping = undefined;
        if (!running) return;
        if (again) wake();
        else timer = setTimeout(wake, opts.pollMs);
      });
  }

  return {
    name: 'hooks',
    probe: { name: 'hooks', check: () => probeReport(database, () => ({ running, inFlight: inFlight.size, counts, lastError })) },
    async start(l) {
      log = l ?? silent;
      transport = opts.post ? { post: opts.post, close() {} } : createHttpPost({ maxSockets: opts.concurrency });
      running = true;
      wake();
    },
    async stop() {
      running = false;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      await pumping;
      await releaseUnsent(database, queued.splice(0), log);
      await Promise.allSettled([...inFlight]);
      await Promise.allSettled([...recording]);
      transport?.close();
    },
    wake,
  };
}

/**
 * How many deliveries to claim now: up to one round ahead of the slots, so
 * that a freed slot does not wait for a database round trip; while some are
 * queued, in batches of at least half a round (one claim statement per
 * batch, not per slot). 0: not now.
 */
function claimRoom(concurrency: number, inFlight: number, queued: number): number {
  const room = 2 * concurrency - inFlight - queued;
  return room <= 0 || (queued > 0 && room < Math.ceil(concurrency / 2)) ? 0 : room;
}

/** After a claim that took `claimMs`: a slow one refreshes the planner statistics (analyzeOutbox), at most every ANALYZE_EVERY_MS. */
function statisticsRefresher(database: Database): (claimMs: number) => Promise<void> {
  let lastAnalyze = -Infinity;
  return async (claimMs) => {
    if (claimMs > SLOW_CLAIM_MS && performance.now() - lastAnalyze > ANALYZE_EVERY_MS) {
      lastAnalyze = performance.now();
      await analyzeOutbox(database);
    }
  };
}

/**
 * Writes attempt ends: `record` queues one and resolves to false when its
 * claim had run out. Ends arriving while a write runs go together in the
 * next statement. When a batch is refused (not for an unreachable
 * database), each end is written on its own, so that one end the database
 * refuses (issue 11) does not send the others' deliveries again.
 */
function attemptRecorder(database: Database): { record(r: AttemptRecord): Promise<boolean> } {
  let toRecord: { record: AttemptRecord; done: (recorded: boolean) => void; fail: (err: Error) => void }[] = [];
  let flushing = false;

  async function flush(): Promise<void> {
    if (flushing) return;
    flushing = true;
    try {
      while (toRecord.length) {
        const batch = toRecord;
        toRecord = [];
        try {
          const recorded = await recordAttempts(
            database,
            batch.map((b) => b.record),
          );
          for (const b of batch) b.done(recorded.has(b.record.id));
        } catch (err) {
          if (isUnavailable(err) || batch.length === 1) {
            for (const b of batch) b.fail(err as Error);
            continue;
          }
          for (const b of batch) {
            try {
              b.done((await recordAttempts(database, [b.record])).has(b.record.id));
            } catch (e) {
              b.fail(e as Error);
            }
          }
        }
      }
    } finally {
      flushing = false;
    }
  }

  return {
    record: (r) =>
      new Promise<boolean>((done, fail) => {
        toRecord.push({ record: r, done, fail });
        void flush();
      }),
  };
}

/** One POST of a delivery (body and signature built now), as an outcome: the response, a timeout or a network error. Never throws. */
async function sendAttempt(post: HttpPost, d: DeliveryToSend, o: Pick<HookDispatcherOptions, 'timeoutMs' | 'requestTimeout'>): Promise<AttemptOutcome> {
  const sentAt = Date.now();
  let body: string;
  let headers: Record<string, string>;
  try {
    body = deliveryBody(d, sentAt);
    headers = deliveryHeaders(d, body, sentAt);
  } catch (err) {
    // A stored transition the body cannot be built from (issue 11): this delivery fails after its attempts, the others go on.
    return { kind: 'network', message: `the delivery could not be built from its stored transition: ${(err as Error)?.message ?? String(err)}` };
  }
  const signal = o.requestTimeout ? o.requestTimeout(o.timeoutMs) : AbortSignal.timeout(o.timeoutMs);
  try {
    const res = await post(d.url, headers, body, signal);
    return { kind: 'response', status: res.status, retryAfter: res.retryAfter, text: res.text || undefined };
  } catch (err) {
    if (signal.aborted) return { kind: 'timeout', timeoutMs: o.timeoutMs };
    const e = err as Error & { code?: string };
    return { kind: 'network', message: e.code && !e.message.includes(e.code) ? `${e.code}: ${e.message}` : e.message };
  }
}

/** Records how an attempt ended (delivered, retried later, failed; batched with other ends by the recorder), counts and logs it. */
async function finishAttempt(
  d: DeliveryToSend,
  outcome: AttemptOutcome,
  c: {
    readonly policy: RetryPolicy;
    readonly random: () => number;
    readonly record: (r: AttemptRecord) => Promise<boolean>;
    readonly log: DispatcherLog;
    readonly counts: DeliveryCounts;
    readonly work?: WorkMetrics;
  },
): Promise<void> {
  const step = nextStep(outcome, d.attempts, c.policy, Date.now(), c.random);
  const httpStatus = outcome.kind === 'response' ? outcome.status : null;
  // A receiver's answer may hold NUL, which a text column refuses: the error would never be recorded.
  const error = step.status === 'delivered' ? null : step.error.replace(/\u0000/g, '');
  const recorded = await c.record({ id: d.id, attempt: d.attempts, status: step.status, delayMs: step.status === 'pending' ? step.delayMs : 0, httpStatus, error });
  if (!recorded) {
    c.log.warn({ delivery: d.id, attempt: d.attempts }, 'hooks: the claim ran out before the attempt ended; another dispatcher owns the delivery now');
    return;
  }
  // The request that made the transition (X-Request-Id), on the delivery's lines as on the request's.
  const traced = typeof d.payload.requestId === 'string' ? { reqId: d.payload.requestId } : {};
  if (step.status !== 'pending') c.work?.delivery(step.status, Math.max(0, Date.now() - new Date(d.at).getTime()) / 1000);
  if (step.status === 'delivered') {
    c.counts.delivered++;
    c.log.debug({ delivery: d.id, hook: d.hookId, alarm: d.alarmId, transition: d.transition, attempts: d.attempts, ...traced }, 'hooks: delivered');
  } else if (step.status === 'failed') {
    c.counts.failed++;
    c.log.warn({ delivery: d.id, hook: d.hookId, alarm: d.alarmId, transition: d.transition, attempts: d.attempts, error, ...traced }, 'hooks: delivery failed');
  } else {
    c.counts.retried++;
    c.log.debug({ delivery: d.id, hook: d.hookId, attempt: d.attempts, retryInMs: step.delayMs, error, ...traced }, 'hooks: delivery will be retried');
  }
}

/** What the probe reports: the outbox (pending, failed, oldest pending) and this dispatcher's state (`now`, read once the outbox figures are in). */
async function probeReport(
  database: Database,
  now: () => { readonly running: boolean; readonly inFlight: number; readonly counts: Readonly<DeliveryCounts>; readonly lastError: string | undefined },
): Promise<{ ok: boolean; [k: string]: unknown }> {
  const s = await deliveryStats(database);
  const live = now();
  return {
    ok: live.running && live.lastError === undefined,
    pending: s.pending,
    failed: s.failed,
    oldestPendingAt: s.oldestPending ? new Date(s.oldestPending).toISOString() : null,
    inFlight: live.inFlight,
    delivered: live.counts.delivered,
    retried: live.counts.retried,
    gaveUp: live.counts.failed,
    ...(live.lastError ? { error: live.lastError } : {}),
  };
}

/** On stop: claimed deliveries not sent yet go back to the outbox now instead of once their claims run out. */
async function releaseUnsent(database: Database, unsent: readonly DeliveryToSend[], log: DispatcherLog): Promise<void> {
  await releaseClaims(database, unsent).catch((err: Error) =>
    log.warn({ err: err.message, deliveries: unsent.length }, 'hooks: releasing unsent claims failed; they go out once their claims run out'),
  );
}

/** `mdm serve` component factory (cli/components.ts); HOOK_CONCURRENCY=0 turns it off. */
export function hooksComponent(ctx: {
  database: Database;
  work?: WorkMetrics;
  config: { HOOK_TIMEOUT_MS: number; HOOK_MAX_ATTEMPTS: number; HOOK_BACKOFF_BASE_MS: number; HOOK_BACKOFF_MAX_MS: number; HOOK_POLL_MS: number; HOOK_CONCURRENCY: number };
}): HookDispatcher | undefined {
  const c = ctx.config;
  if (c.HOOK_CONCURRENCY === 0) return undefined;
  return createHookDispatcher({
    database: ctx.database,
    timeoutMs: c.HOOK_TIMEOUT_MS,
    maxAttempts: c.HOOK_MAX_ATTEMPTS,
    backoffBaseMs: c.HOOK_BACKOFF_BASE_MS,
    backoffMaxMs: c.HOOK_BACKOFF_MAX_MS,
    pollMs: c.HOOK_POLL_MS,
    concurrency: c.HOOK_CONCURRENCY,
    work: ctx.work,
  });
}
