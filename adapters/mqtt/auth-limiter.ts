/**
 * Failed MQTT authentications per client address in a sliding window
 * (issue 11, defect 6): after `limit` failures within `windowMs`, CONNECTs
 * from that address are refused without a key look-up until the oldest of
 * those failures has left the window. Refused attempts do not count, so an
 * address that keeps trying gets `limit` guesses per window. Pure: the clock
 * is passed in.
 * @example
 * const w = new AuthFailureWindow({ limit: 2, windowMs: 60_000, now: () => t });
 * w.fail('10.0.0.7'); w.fail('10.0.0.7');
 * w.blockedFor('10.0.0.7') // 60 000 (ms until it may try again); 0 for any other address
 */
export interface AuthFailureWindowOptions {
  /** Failures allowed per address within the window; 0 = no limit. */
  readonly limit: number;
  readonly windowMs: number;
  readonly now: () => number;
  /** Addresses remembered at most; the least recently failing are forgotten first. */
  readonly maxAddresses?: number;
}

export class AuthFailureWindow {
  private readonly opts: AuthFailureWindowOptions;
  private readonly maxAddresses: number;
  /** Address → times of its last failures (at most `limit`), oldest first; Map order = least recently failing first. */
  private readonly failures = new Map<string, number[]>();

  constructor(opts: AuthFailureWindowOptions) {
    this.opts = opts;
    this.maxAddresses = opts.maxAddresses ?? 10_000;
  }

  /** Milliseconds until `address` may try to authenticate again; 0 when it may now. */
  blockedFor(address: string): number {
    const { limit, windowMs, now } = this.opts;
    if (limit <= 0) return 0;
    const times = this.recent(address);
    return times.length < limit ? 0 : times[times.length - limit] + windowMs - now();
  }

  /** Counts a failed authentication from `address`. */
  fail(address: string): void {
    const { limit, now } = this.opts;
    if (limit <= 0) return;
    const times = this.recent(address);
    times.push(now());
    if (times.length > limit) times.splice(0, times.length - limit);
    this.failures.delete(address);
    this.failures.set(address, times);
    if (this.failures.size > this.maxAddresses) this.failures.delete(this.failures.keys().next().value!);
  }

  /** Addresses remembered (for tests and /health). */
  get size(): number {
    return this.failures.size;
  }

  /** The failures of `address` still inside the window (older ones dropped). */
  private recent(address: string): number[] {
    const times = this.failures.get(address);
    if (!times) return [];
    const from = this.opts.now() - this.opts.windowMs;
    let k = 0;
    while (k < times.length && times[k] <= from) k++;
    if (k === times.length) {
      this.failures.delete(address);
      return [];
    }
    if (k) times.splice(0, k);
    return times;
  }
}
