/**
 * The one exponential backoff of the service (MQTT reconnects and batch
 * retries, Modbus polls of a failing device, hook deliveries, the failing
 * items of the background jobs): initial × 2^step, capped.
 */

/** Exponential backoff bounds, in milliseconds. */
export interface Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
}

/**
 * Delay before retry number `attempt` (0-based): initial × 2^attempt, capped.
 * @example backoffDelay(3, { initialMs: 500, maxMs: 30_000 }) // 4000
 */
export function backoffDelay(attempt: number, b: Backoff): number {
  return Math.min(b.maxMs, b.initialMs * 2 ** Math.min(attempt, 30));
}
