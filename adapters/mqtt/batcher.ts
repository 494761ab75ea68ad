import { backoffDelay, type Backoff } from './backoff.js';

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

export interface BatcherOptions<T> {
  /** A batch is written once it holds this many rows… */
  readonly maxRows: number;
  /** …or once its oldest message has waited this long (ms). */
  readonly maxMs: number;
  /** Delays between retries of a batch whose write failed. */
  readonly retry: Backoff;
  rowsOf(item: T): number;
  /** Writes one batch; throwing retries the same batch after a backoff. */
  write(items: readonly T[]): Promise<void>;
  onRetry?(err: unknown, attempt: number, delayMs: number): void;
  readonly timers?: Timers;
}

/**
 * Groups messages into database batches bounded by rows and time, one batch
 * in flight at a time, in arrival order (so broker acknowledgements keep the
 * order MQTT requires, MQTT 3.1.1 §4.6). A failed batch is retried with
 * backoff until it succeeds or the batcher is abandoned: its messages stay
 * unacknowledged meanwhile, and the broker holds back the rest.
 */
export class Batcher<T> {
  private readonly opts: BatcherOptions<T>;
  private readonly timers: Timers;
  private queue: { item: T; at: number }[] = [];
  private queuedRows = 0;
  private timer: unknown = null;
  private writing = 0; // messages in the batch being written
  private draining = false;
  private abandoned = false;
  private idle: (() => void)[] = [];
  private wakeRetry: (() => void) | null = null;
  /** The last write error while retrying; cleared by the next success. */
  lastError: string | null = null;

  constructor(opts: BatcherOptions<T>) {
    this.opts = opts;
    this.timers = opts.timers ?? REAL_TIMERS;
  }

  push(item: T): void {
    if (this.abandoned) return;
    this.queue.push({ item, at: this.timers.now() });
    this.queuedRows += this.opts.rowsOf(item);
    this.schedule();
  }

  /** Messages waiting or being written. */
  get pending(): number {
    return this.queue.length + this.writing;
  }

  /** Writes everything queued now, without waiting for the time bound; resolves when idle. */
  drain(): Promise<void> {
    if (this.abandoned || this.pending === 0) return Promise.resolve();
    this.draining = true;
    const done = new Promise<void>((resolve) => this.idle.push(resolve));
    this.schedule();
    return done;
  }

  /** Stops without writing what is queued (a crash, as far as the broker can tell: nothing more is acknowledged). */
  abandon(): void {
    this.abandoned = true;
    this.queue = [];
    this.queuedRows = 0;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
    this.wakeRetry?.();
    for (const resolve of this.idle.splice(0)) resolve();
  }

  private schedule(): void {
    if (this.writing || this.abandoned || this.queue.length === 0) return;
    const now = this.timers.now();
    const due = this.queue[0].at + this.opts.maxMs;
    if (this.draining || this.queuedRows >= this.opts.maxRows || now >= due) {
      if (this.timer !== null) this.timers.clearTimeout(this.timer);
      this.timer = null;
      void this.run();
    } else if (this.timer === null) {
      this.timer = this.timers.setTimeout(() => {
        this.timer = null;
        this.schedule();
      }, due - now);
    }
  }

  private take(): T[] {
    const items: T[] = [];
    let rows = 0;
    while (this.queue.length) {
      const r = this.opts.rowsOf(this.queue[0].item);
      if (items.length && rows + r > this.opts.maxRows) break;
      items.push(this.queue.shift()!.item);
      rows += r;
    }
    this.queuedRows -= rows;
    return items;
  }

  private async run(): Promise<void> {
    const items = this.take();
    this.writing = items.length;
    for (let attempt = 0; !this.abandoned; attempt++) {
      try {
        await this.opts.write(items);
        this.lastError = null;
        break;
      } catch (err) {
        if (this.abandoned) break;
        const delay = backoffDelay(attempt, this.opts.retry);
        this.lastError = (err as Error)?.message ?? String(err);
        this.opts.onRetry?.(err, attempt, delay);
        await new Promise<void>((resolve) => {
          const h = this.timers.setTimeout(resolve, delay);
          this.wakeRetry = () => {
            this.timers.clearTimeout(h);
            resolve();
          };
        });
        this.wakeRetry = null;
      }
    }
    this.writing = 0;
    if (this.abandoned) return;
    if (this.queue.length === 0) {
      this.draining = false;
      for (const resolve of this.idle.splice(0)) resolve();
    }
    this.schedule();
  }
}
