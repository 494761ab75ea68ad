import type { ModbusDevice } from '../../models/modbus.js';
import { ModbusFailure, type RegisterReader } from './modbus-client.js';
import { afterPoll, INITIAL_STATUS, nextPollDelay, type PollStatus, type StatusEvent } from './device-status.js';
import { decodeBlock, planReads, type ReadBlock } from './register-map.js';
import type { Timers } from './timers.js';

/** One register-map entry's value from a poll. */
export interface PolledValue {
  /** Index in device.registers. */
  readonly index: number;
  readonly value: number;
  /** When its block's answer arrived (epoch ms). */
  readonly atMs: number;
  /** The raw registers, for dead letters of values that do not decode to a number. */
  readonly words: readonly number[];
}

export interface PollResult {
  readonly atMs: number;
  readonly values: readonly PolledValue[];
  /** The last failure, when any block could not be read after its retries. */
  readonly failure?: ModbusFailure;
}

/** Receives every finished poll with the status it led to. Errors are logged, never thrown into the loop. */
export type PollSink = (device: ModbusDevice, result: PollResult, status: PollStatus, event: StatusEvent | undefined) => Promise<void>;

export interface PollerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface DevicePollerDeps {
  readonly reader: RegisterReader;
  readonly sink: PollSink;
  readonly timers: Timers;
  readonly now: () => number;
  readonly log: PollerLog;
  /** Status to continue from (after a restart or a configuration change). */
  readonly status?: PollStatus;
}

/**
 * Polls one device on its own timer chain, so a slow or dead device only
 * delays itself. A poll reads every block (retrying each up to
 * device.retries times at once); when the device does not answer at all the
 * remaining blocks are skipped. The next poll is scheduled with
 * nextPollDelay (aligned when healthy, backing off when failing). Nothing a
 * device or the sink does can throw out of the loop.
 */
export class DevicePoller {
  private status: PollStatus;
  private timer: unknown;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly blocks: ReadBlock[];

  constructor(
    readonly device: ModbusDevice,
    private readonly deps: DevicePollerDeps,
  ) {
    this.status = deps.status ?? INITIAL_STATUS;
    this.blocks = planReads(device.registers);
  }

  get currentStatus(): PollStatus {
    return this.status;
  }

  /** First poll right away, then on schedule. */
  start(): void {
    this.schedule(0);
  }

  /** Stops scheduling, waits for a poll in flight, closes the connection. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
    await this.deps.reader.close().catch(() => {});
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = this.deps.timers.setTimeout(() => {
      this.timer = undefined;
      this.running = this.cycle().finally(() => (this.running = undefined));
    }, ms);
  }

  private async cycle(): Promise<void> {
    let result: PollResult;
    try {
      result = await this.pollOnce();
    } catch (err) {
      // pollOnce handles device errors; this is a bug or a decode error of our own
      result = { atMs: this.deps.now(), values: [], failure: new ModbusFailure('INTERNAL', (err as Error).message, { cause: err }) };
    }
    if (this.stopped) return; // a poll cut short by stop() is dropped; register state was not advanced
    const outcome = result.failure ? { ok: false as const, code: result.failure.code, message: result.failure.message } : { ok: true as const };
    const prev = this.status;
    const { status, event } = afterPoll(prev, outcome, result.atMs, this.device.failuresBeforeEvent);
    this.status = status;
    this.logTransition(prev, status, event);
    try {
      await this.deps.sink(this.device, result, status, event);
    } catch (err) {
      this.deps.log.error({ device: this.device.id, err: (err as Error).message }, 'modbus: storing a poll failed; the next poll carries on from the last stored state');
    }
    this.schedule(nextPollDelay(status, this.device, this.deps.now()));
  }

  private async pollOnce(): Promise<PollResult> {
    const values: PolledValue[] = [];
    let failure: ModbusFailure | undefined;
    for (const block of this.blocks) {
      if (this.stopped) break;
      let words: number[] | undefined;
      let blockFailure: ModbusFailure | undefined;
      for (let attempt = 0; attempt <= this.device.retries && !this.stopped; attempt++) {
        try {
          words = await this.deps.reader.read(block.function, block.address, block.count);
          break;
        } catch (err) {
          blockFailure = err instanceof ModbusFailure ? err : new ModbusFailure('MODBUS_ERROR', (err as Error).message, { cause: err });
        }
      }
      if (!words) {
        failure = blockFailure ?? new ModbusFailure('STOPPED', 'poller stopped during the poll');
        if (!failure.deviceAnswered) break; // unreachable: the other blocks would only time out too
        continue;
      }
      const atMs = this.deps.now();
      for (const v of decodeBlock(block, words, this.device.registers)) values.push({ ...v, atMs });
    }
    return { atMs: this.deps.now(), values, failure };
  }

  private logTransition(prev: PollStatus, next: PollStatus, event: StatusEvent | undefined): void {
    const ctx = { device: this.device.id, failures: next.consecutiveFailures, code: next.lastErrorCode, error: next.lastError };
    if (event === 'communication_failure') this.deps.log.error(ctx, `modbus: device offline after ${next.consecutiveFailures} failed polls`);
    else if (event === 'communication_restored') this.deps.log.info({ device: this.device.id }, 'modbus: device back online');
    else if (next.state === 'backoff' && prev.state !== 'backoff') this.deps.log.warn(ctx, 'modbus: poll failed; retrying with backoff');
  }
}
