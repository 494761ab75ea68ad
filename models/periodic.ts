/**
 * The periodic loop of the background components of `mdm serve` (alarms,
 * billing, EPİAŞ prices, the VEE worker, …): run a tick, then the next one
 * after a pause, one at a time; a tick that throws is reported and the loop
 * goes on; stop() ends the loop and waits for the tick in flight. Timers are
 * passed in so tests drive the schedule.
 */

/** Timers passed in so the loop runs on fake timers in tests. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/**
 * The global timers, looked up at call time (so vi.useFakeTimers() applies);
 * unref'd: a pending tick never keeps the process alive on its own.
 */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const h = setTimeout(fn, ms);
    (h as { unref?: () => void }).unref?.();
    return h;
  },
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

/**
 * The round of a job run every `everyMs` that instant `t` falls in: rounds
 * are aligned on the epoch, so every instance names the same round alike
 * (what ClaimRound claims, models/work-metrics.ts).
 */
export const roundSlot = (t: number, everyMs: number): Date => new Date(Math.floor(t / everyMs) * everyMs);

export type LogFn = (objOrMsg: object | string, msg?: string) => void;

/** Structurally the logger `mdm serve` hands its components (a pino child). */
export interface ComponentLog {
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
  readonly debug?: LogFn;
}

export const silentLog: ComponentLog = { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} };

export interface PeriodicOptions {
  /**
   * One round of the component's work. It may return the pause before the
   * next round in ms (e.g. 0 when more work is waiting); otherwise `everyMs`.
   */
  readonly tick: () => Promise<number | void>;
  /** Pause between rounds, ms (also after a failed round). */
  readonly everyMs: number;
  /** A round that threw: log it (the loop goes on; `lastError` holds the message until a round succeeds). */
  readonly onError: (err: Error) => void;
  /** After every round, failed or not (e.g. the end of a tick for the failure reporter). */
  readonly afterTick?: () => void;
  /** Pause before the first round (default 0: right after start, off the start-up path). */
  readonly firstDelayMs?: number;
  readonly timers?: Timers;
}

export interface Periodic {
  start(): void;
  /** Ends the loop and waits for the round in flight. */
  stop(): Promise<void>;
  /** Ends the loop without waiting (a caller that bounds the wait: settled()). */
  halt(): void;
  /** The round in flight (resolved when none): never rejects. */
  settled(): Promise<unknown>;
  /** Runs the next round now instead of after its pause (nothing when a round is in flight or the loop is stopped). */
  wake(): void;
  readonly running: boolean;
  /** The message of the last round's failure; undefined once a round succeeds. */
  readonly lastError: string | undefined;
}

/**
 * @example
 *   const loop = createPeriodic({ tick: () => checkSilence(db, Date.now()), everyMs: 300_000, onError: (err) => log.error({ err: err.message }, 'silence check failed') });
 *   loop.start(); … await loop.stop();
 */
export function createPeriodic(o: PeriodicOptions): Periodic {
  const timers = o.timers ?? realTimers;
  let running = false;
  let timer: unknown;
  let inFlight: Promise<unknown> = Promise.resolve();
  let lastError: string | undefined;

  const halt = () => {
    running = false;
    if (timer !== undefined) timers.clearTimeout(timer);
    timer = undefined;
  };
  const schedule = (ms: number) => {
    if (running) timer = timers.setTimeout(round, ms);
  };
  function round(): void {
    timer = undefined;
    let next = o.everyMs;
    inFlight = o
      .tick()
      .then(
        (ms) => {
          lastError = undefined;
          if (typeof ms === 'number') next = ms;
        },
        (err: unknown) => {
          const e = err instanceof Error ? err : new Error(String(err));
          lastError = e.message;
          try {
            o.onError(e);
          } catch {
            // a logger that throws must not end the loop
          }
        },
      )
      .finally(() => {
        try {
          o.afterTick?.();
        } finally {
          schedule(next);
        }
      })
      .catch(() => {}); // afterTick's own failure: the next round is scheduled all the same
  }

  return {
    start() {
      running = true;
      schedule(o.firstDelayMs ?? 0);
    },
    async stop() {
      halt();
      await inFlight;
    },
    halt,
    settled: () => inFlight,
    wake() {
      if (!running || timer === undefined) return;
      timers.clearTimeout(timer);
      schedule(0);
    },
    get running() {
      return running;
    },
    get lastError() {
      return lastError;
    },
  };
}
