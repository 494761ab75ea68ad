import { createHttpPost, type HttpPost } from '../alarms/hook-http-post.js';

/**
 * Request timeouts on cue, for hook dispatcher tests (issue 13: no test waits
 * on the wall clock). The dispatcher asks `requestTimeout` for the signal of
 * each request (its timeoutMs, recorded in `asked`); the signal fires only
 * when the test calls `timeOut` (one delivery's request in flight, as if its
 * timeout had run out) or `timeOutAll`. On a loaded machine a slow answer is
 * therefore never taken for a timeout, and a hung request is given up exactly
 * when the test says so. Requests go out over the dispatcher's own node:http
 * transport (createHttpPost); `close()` ends its connections.
 */
export interface CuedTimeouts {
  readonly post: HttpPost;
  readonly requestTimeout: (ms: number) => AbortSignal;
  /** timeoutMs of every request sent so far. */
  readonly asked: number[];
  /** Fires the timeout of `delivery`'s request in flight (throws if there is none). */
  timeOut(delivery: string): void;
  /** Fires the timeouts of every request in flight; how many. */
  timeOutAll(): number;
  close(): void;
}

export function cuedTimeouts(maxSockets: number): CuedTimeouts {
  const transport = createHttpPost({ maxSockets });
  const asked: number[] = [];
  const controllers = new Map<AbortSignal, AbortController>();
  /** delivery id (webhook-id) → the signal of its request in flight. */
  const inFlight = new Map<string, AbortSignal>();
  const fire = (signal: AbortSignal) => controllers.get(signal)?.abort(new DOMException('The operation was aborted due to timeout', 'TimeoutError'));
  return {
    asked,
    requestTimeout(ms) {
      asked.push(ms);
      const c = new AbortController();
      controllers.set(c.signal, c);
      return c.signal;
    },
    async post(url, headers, body, signal) {
      const id = headers['webhook-id'] ?? '';
      inFlight.set(id, signal);
      try {
        return await transport.post(url, headers, body, signal);
      } finally {
        if (inFlight.get(id) === signal) inFlight.delete(id);
        controllers.delete(signal);
      }
    },
    timeOut(delivery) {
      const signal = inFlight.get(delivery);
      if (!signal) throw new Error(`no request of delivery ${delivery} in flight`);
      fire(signal);
    },
    timeOutAll() {
      const all = [...inFlight.values()];
      for (const s of all) fire(s);
      return all.length;
    },
    close: () => transport.close(),
  };
}
