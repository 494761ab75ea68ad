import { backoffDelay, type Backoff } from '../../models/backoff.js';

/** Clock and timers, passed in so tests can drive them. */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const REAL_TIMERS: Timers = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export interface BatcherOptions<T, R> {
  /** A batch is written once it holds this many rows… */
  readonly maxRows: number;
  /** …or once its oldest message has waited this long (ms). */
  readonly maxMs: number;
  /** Batches written at the same time (default 1). */
  readonly concurrency?: number;
  /** Delays between retries of a batch whose write failed. */
  readonly retry: Backoff;
  rowsOf(item: T): number;
  /** Items sharing a key (a meter) are never written by two batches at once, so the later one lands last. */
  keysOf?(item: T): readonly string[];
  /** Writes one batch; throwing retries the same batch after a backoff. */
  write(items: readonly T[]): Promise<R>;
  /** Called once per written batch, in arrival order of the items (after every earlier batch). */
  settle(items: readonly T[], result: R): void;
  onRetry?(err: unknown, attempt: number, delayMs: number): void;
  readonly timers?: Timers;
}

interface Batch<T, R> {
  readonly items: T[];
  readonly keys: Set<string>;
  done: boolean;
  result?: R;
}

/**
 * Groups messages into database batches bounded by rows and time, writes up
 * to `concurrency` of them at once, and settles them in arrival order (so
 * broker acknowledgements keep the order MQTT requires, MQTT 3.1.1 §4.6). A
 * failed batch is retried with backoff until it succeeds or the batcher is
 * abandoned; it and everything after it stay unsettled meanwhile, and the
 * broker holds back the rest.
 */
export class Batcher<T, R = void> {
  private readonly opts: BatcherOptions<T, R>;
  private readonly timers: Timers;
  private readonly concurrency: number;
  private queue: { item: T; at: number }[] = [];
  private queuedRows = 0;
  private batches: Batch<T, R>[] = []; // written or being written, not yet settled, oldest first
  private writing = 0;
  private timer: unknown = null;
  private draining = false;
  private abandoned = false;
  private idle: (() => void)[] = [];
  private wakers = new Set<() => void>();
  /** The last write error while retrying; cleared by the next success. */
  lastError: string | null = null;

  constructor(opts: BatcherOptions<T, R>) {
    this.opts = opts;
    this.timers = opts.timers ?? REAL_TIMERS;
    this.concurrency = Math.max(1, opts.concurrency ?? 1);
  }

  push(item: T): void {
    if (this.abandoned) return;
    this.queue.push({ item, at: this.timers.now() });
    this.queuedRows += this.opts.rowsOf(item);
    this.schedule();
  }

  /** Messages waiting, being written, or written and waiting for an earlier batch. */
  get pending(): number {
    return this.queue.length + this.batches.reduce((n, b) => n + b.items.length, 0);
  }

  /** Writes everything queued now, without waiting for the time bound; resolves when idle. */
  drain(): Promise<void> {
    if (this.abandoned || this.pending === 0) return Promise.resolve();
    this.draining = true;
    const done = new Promise<void>((resolve) => this.idle.push(resolve));
    this.schedule();
    return done;
  }

  /** Stops without writing what is queued nor settling anything more (a crash, as far as the broker can tell). */
  abandon(): void {
    this.abandoned = true;
    this.queue = [];
    this.queuedRows = 0;
    this.batches = [];
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    for (const wake of this.wakers) wake();
    for (const resolve of this.idle.splice(0)) resolve();
  }

  private schedule(): void {
    while (!this.abandoned && this.queue.length && this.writing < this.concurrency) {
      const now = this.timers.now();
      const due = this.queue[0].at + this.opts.maxMs;
      if (!this.draining && this.queuedRows < this.opts.maxRows && now < due) {
        if (this.timer === null) {
          this.timer = this.timers.setTimeout(() => {
            this.timer = null;
            this.schedule();
          }, due - now);
        }
        return;
      }
      const batch = this.take();
      if (!batch) return; // the oldest message waits for a batch writing its meter
      if (this.timer !== null) this.timers.clearTimeout(this.timer);
      this.timer = null;
      void this.run(batch);
    }
  }

  /** The next batch from the head of the queue, stopping at a message whose meter is being written. */
  private take(): Batch<T, R> | undefined {
    const busy = new Set<string>();
    for (const b of this.batches) if (!b.done) for (const k of b.keys) busy.add(k);
    const items: T[] = [];
    const keys = new Set<string>();
    let rows = 0;
    while (this.queue.length) {
      const item = this.queue[0].item;
      const r = this.opts.rowsOf(item);
      if (items.length && rows + r > this.opts.maxRows) break;
      const ks = this.opts.keysOf?.(item) ?? [];
      if (ks.some((k) => busy.has(k))) break;
      for (const k of ks) keys.add(k);
      items.push(item);
      rows += r;
      this.queue.shift();
    }
    if (items.length === 0) return undefined;
    this.queuedRows -= rows;
    const batch: Batch<T, R> = { items, keys, done: false };
    this.batches.push(batch);
    return batch;
  }

  private async run(batch: Batch<T, R>): Promise<void> {
    this.writing++;
    for (let attempt = 0; !this.abandoned; attempt++) {
      try {
        batch.result = await this.opts.write(batch.items);
        batch.done = true;
        this.lastError = null;
        break;
      } catch (err) {
        if (this.abandoned) break;
        const delay = backoffDelay(attempt, this.opts.retry);
        this.lastError = (err as Error)?.message ?? String(err);
        this.opts.onRetry?.(err, attempt, delay);
        await new Promise<void>((resolve) => {
          const h = this.timers.setTimeout(() => {
            this.wakers.delete(wake);
            resolve();
          }, delay);
          const wake = () => {
            this.timers.clearTimeout(h);
            resolve();
          };
          this.wakers.add(wake);
        });
      }
    }
    this.writing--;
    if (this.abandoned) return;
    while (this.batches.length && this.batches[0].done) {
      const b = this.batches.shift()!;
      this.opts.settle(b.items, b.result as R);
    }
    if (this.queue.length === 0 && this.batches.length === 0) {
      this.draining = false;
      for (const resolve of this.idle.splice(0)) resolve();
    }
    this.schedule();
  }
}
