import { backoffDelay } from './backoff.js';

/**
 * Items a background job could not process (a meter day of the billing
 * rollup, a meter in readiness, a VEE queue day, a meter's alarm…),
 * remembered between ticks, so one bad item never stops a job (issue 11):
 * the job isolates the item, goes on with the others, retries the item with
 * backoff and reports it in its /health probe. Pure: the clock comes in.
 */

/** One failing item as the health probe lists it. */
export interface FailingItem {
  readonly key: string;
  /** The newest failure's message, one line, bounded. */
  readonly error: string;
  /** First failure of the current streak (ISO-8601). */
  readonly since: string;
  readonly attempts: number;
  /** Not retried before this instant (ISO-8601). */
  readonly retryAt: string;
  /** What the job says about the item (meter id, local date…). */
  readonly [detail: string]: unknown;
}

/** A meter a set-based step could not process, and why (returned by the alarm steps, recorded by their component). */
export interface MeterFailure {
  readonly meterId: number;
  /** External id, when the step knows it. */
  readonly meter?: string;
  readonly error: unknown;
}

/** A change worth a log line: an item failed (`first`: it was not failing before), or it succeeded again. */
export type FailingEvent = { readonly kind: 'failed'; readonly item: FailingItem; readonly first: boolean } | { readonly kind: 'recovered'; readonly item: FailingItem };

export interface FailingItemsOptions {
  readonly now: () => number;
  /** Items remembered at most; beyond, the one failing longest is forgotten (default 10 000). */
  readonly capacity?: number;
  /** Items listed in the probe (default 20); `failingCount` has them all. */
  readonly shown?: number;
  /** First retry this long after the first failure, doubled per attempt up to retryMaxMs (defaults 1 min, 1 h). */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
  /** Told of every failure and recovery (the component logs: a first failure at error, a repeat at debug). */
  readonly report?: (e: FailingEvent) => void;
}

export interface FailingItems {
  /** Records a failure of `key`; `detail` is shown with it in the probe. */
  fail(key: string, err: unknown, detail?: Readonly<Record<string, unknown>>): FailingItem;
  /** Records a success of `key`; true when it was failing (reported as recovered). */
  succeed(key: string): boolean;
  /** Drops `key` without a report (the item no longer exists, e.g. a period no longer checked). */
  forget(key: string): void;
  has(key: string): boolean;
  /** Whether `key` is failing and its retry time has not come: leave it out now. */
  waiting(key: string): boolean;
  /** Keys (starting with `prefix`) waiting for their retry time. */
  waitingKeys(prefix?: string): string[];
  /** Every failing key (starting with `prefix`), waiting or due. */
  keys(prefix?: string): string[];
  get(key: string): FailingItem | undefined;
  readonly size: number;
  /** For a health probe: `{ failing: [oldest first, at most `shown`], failingCount }`, or `{}` when nothing fails. */
  probe(): { failing?: FailingItem[]; failingCount?: number };
}

const MAX_ERROR_CHARS = 300;

/** A failure's message as one bounded line (a database error keeps its SQLSTATE). */
export function failureMessage(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown } | null;
  const text = typeof e?.message === 'string' ? e.message : String(err);
  const code = typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? ` (SQLSTATE ${e.code})` : '';
  return `${text.replace(/\s+/g, ' ').trim().slice(0, MAX_ERROR_CHARS)}${code}`;
}

/**
 * @example
 * const f = createFailingItems({ now: () => t });
 * f.fail('rollup|7|2026-01-10', new Error('value out of range: overflow'), { meter: 'M7' });
 * f.waiting('rollup|7|2026-01-10') // true for the next minute, then 2, 4 … 60 minutes after each new failure
 */
export function createFailingItems(o: FailingItemsOptions): FailingItems {
  const capacity = o.capacity ?? 10_000;
  const shown = o.shown ?? 20;
  const base = o.retryBaseMs ?? 60_000;
  const max = o.retryMaxMs ?? 3_600_000;
  // Insertion order = order of first failure: the oldest is evicted first and listed first.
  const items = new Map<string, FailingItem & { retryMs: number }>();
  const iso = (ms: number) => new Date(ms).toISOString();
  const strip = ({ retryMs: _, ...item }: FailingItem & { retryMs: number }): FailingItem => item;

  return {
    fail(key, err, detail) {
      const t = o.now();
      const prev = items.get(key);
      const attempts = (prev?.attempts ?? 0) + 1;
      const wait = backoffDelay(attempts - 1, { initialMs: base, maxMs: max });
      const next = { ...detail, key, error: failureMessage(err), since: prev?.since ?? iso(t), attempts, retryAt: iso(t + wait), retryMs: t + wait };
      items.set(key, next);
      if (!prev && items.size > capacity) items.delete(items.keys().next().value!);
      const item = strip(next);
      o.report?.({ kind: 'failed', item, first: !prev });
      return item;
    },
    succeed(key) {
      const prev = items.get(key);
      if (!prev) return false;
      items.delete(key);
      o.report?.({ kind: 'recovered', item: strip(prev) });
      return true;
    },
    forget: (key) => void items.delete(key),
    has: (key) => items.has(key),
    waiting(key) {
      const it = items.get(key);
      return it !== undefined && it.retryMs > o.now();
    },
    waitingKeys(prefix = '') {
      const t = o.now();
      const out: string[] = [];
      for (const [k, it] of items) if (it.retryMs > t && k.startsWith(prefix)) out.push(k);
      return out;
    },
    keys: (prefix = '') => [...items.keys()].filter((k) => k.startsWith(prefix)),
    get(key) {
      const it = items.get(key);
      return it && strip(it);
    },
    get size() {
      return items.size;
    },
    probe() {
      if (items.size === 0) return {};
      const failing: FailingItem[] = [];
      for (const it of items.values()) {
        if (failing.length >= shown) break;
        failing.push(strip(it));
      }
      return { failing, failingCount: items.size };
    },
  };
}

/**
 * After `work(items)` failed as a whole with `err`, finds the items it fails
 * on by halving: each half is run again, a half that fails is halved
 * further, and a single item that fails is handed to `onFail`; every other
 * item is worked through. About 2·k·log₂(n) calls for k bad items among n.
 * An error `isolable` rejects (the database is unreachable) is thrown at
 * once: that is no item's fault.
 * @example
 * try { await refresh(ids) } catch (err) {
 *   if (isUnavailable(err)) throw err;
 *   await bisect(ids, err, refresh, { isolable: (e) => !isUnavailable(e), onFail: (id, e) => failing.fail(`m|${id}`, e) });
 * }
 */
export async function bisect<T>(
  items: readonly T[],
  err: unknown,
  work: (part: readonly T[]) => Promise<unknown>,
  o: { readonly isolable: (err: unknown) => boolean; readonly onFail: (item: T, err: unknown) => void | Promise<void> },
): Promise<void> {
  if (items.length === 0) return;
  if (items.length === 1) return void (await o.onFail(items[0], err));
  for (const part of [items.slice(0, items.length >> 1), items.slice(items.length >> 1)]) {
    try {
      await work(part);
    } catch (e) {
      if (!o.isolable(e)) throw e;
      await bisect(part, e, work, o);
    }
  }
}

type LogFn = (objOrMsg: object | string, msg?: string) => void;
/** Structurally a component's logger (a pino child); debug is optional. */
export interface FailureLog {
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
  readonly debug?: LogFn;
}

/**
 * The `report` of createFailingItems for a component's log: an item that
 * starts failing is logged once at error (at most `perTick` a tick; more
 * are logged at debug and counted in one warn by endTick), a repeated
 * failure at debug, a recovery at info. So a poisoned item is one error
 * line, not one per tick forever. `log` is read at each call: components
 * get their logger at start.
 */
export function failureReporter(log: () => FailureLog, what: string, perTick = 10): { report(e: FailingEvent): void; endTick(): void } {
  let firsts = 0;
  return {
    report(e) {
      const l = log();
      const debug = l.debug ?? (() => {});
      if (e.kind === 'recovered') return l.info({ item: e.item.key }, `${what}: item processed again after ${e.item.attempts} failure(s)`);
      if (!e.first) return debug({ item: e.item }, `${what}: item still failing`);
      if (++firsts <= perTick) l.error({ item: e.item }, `${what}: item failing, left out and retried later; everything else carries on (see /health)`);
      else debug({ item: e.item }, `${what}: item failing`);
    },
    endTick() {
      if (firsts > perTick) log().warn({ more: firsts - perTick }, `${what}: more items started failing than logged at error (see /health)`);
      firsts = 0;
    },
  };
}
