/**
 * Timers passed into the poller so scheduling and backoff run on fake timers
 * in tests (after MQTT.js, which passes its keepalive timers in).
 */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The global timers, looked up at call time so vi.useFakeTimers() applies. */
export const realTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};
