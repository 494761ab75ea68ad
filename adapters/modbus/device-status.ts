import type { DeviceState, DeviceStatus, ModbusDevice } from '../../models/modbus.js';
import { backoffDelay } from '../../models/backoff.js';

/** Status as the poller keeps it (epoch ms); DeviceStatus is its API/storage form. */
export interface PollStatus {
  readonly state: DeviceState;
  readonly consecutiveFailures: number;
  readonly lastPollAtMs: number | null;
  readonly lastSuccessAtMs: number | null;
  readonly lastError: string | null;
  readonly lastErrorCode: string | null;
}

export const INITIAL_STATUS: PollStatus = {
  state: 'pending',
  consecutiveFailures: 0,
  lastPollAtMs: null,
  lastSuccessAtMs: null,
  lastError: null,
  lastErrorCode: null,
};

export type PollOutcome = { readonly ok: true } | { readonly ok: false; readonly code: string; readonly message: string };

/** Event a status change stores for the device's meters. */
export type StatusEvent = 'communication_failure' | 'communication_restored';

/**
 * The status after a poll. A failed poll moves to 'backoff'; the
 * `failuresBeforeEvent`-th failure in a row moves to 'offline' and asks for a
 * communication_failure event (once per outage); the first success after
 * 'offline' asks for communication_restored. Pure.
 * @example afterPoll({ ...INITIAL_STATUS, state: 'backoff', consecutiveFailures: 2 }, { ok: false, code: 'ETIMEDOUT', message: '…' }, 0, 3)
 * // { status: { state: 'offline', consecutiveFailures: 3, … }, event: 'communication_failure' }
 */
export function afterPoll(prev: PollStatus, outcome: PollOutcome, atMs: number, failuresBeforeEvent: number): { status: PollStatus; event?: StatusEvent } {
  if (outcome.ok) {
    const status: PollStatus = { state: 'online', consecutiveFailures: 0, lastPollAtMs: atMs, lastSuccessAtMs: atMs, lastError: prev.lastError, lastErrorCode: prev.lastErrorCode };
    return prev.state === 'offline' ? { status, event: 'communication_restored' } : { status };
  }
  const failures = prev.consecutiveFailures + 1;
  const status: PollStatus = {
    state: failures >= failuresBeforeEvent ? 'offline' : 'backoff',
    consecutiveFailures: failures,
    lastPollAtMs: atMs,
    lastSuccessAtMs: prev.lastSuccessAtMs,
    lastError: outcome.message,
    lastErrorCode: outcome.code,
  };
  return failures === failuresBeforeEvent ? { status, event: 'communication_failure' } : { status };
}

/**
 * Milliseconds until the next poll. Online: the next multiple of
 * pollIntervalMs on the UTC clock (a 15-min poll reads at :00, :15, :30, :45,
 * so reads land on interval boundaries). Failing: pollIntervalMs doubled per
 * consecutive failure (P, 2P, 4P …), capped at backoffMaxMs but never below P.
 * Pure.
 * @example nextPollDelay({ ...INITIAL_STATUS, state: 'backoff', consecutiveFailures: 3 }, { pollIntervalMs: 1000, backoffMaxMs: 300000 }, 0) // 4000
 */
export function nextPollDelay(status: PollStatus, d: Pick<ModbusDevice, 'pollIntervalMs' | 'backoffMaxMs'>, nowMs: number): number {
  const p = d.pollIntervalMs;
  if (status.consecutiveFailures === 0) return p - (((nowMs % p) + p) % p);
  const cap = Math.max(p, d.backoffMaxMs);
  return backoffDelay(status.consecutiveFailures - 1, { initialMs: p, maxMs: cap });
}

/** API/storage form. */
export function toDeviceStatus(s: PollStatus): DeviceStatus {
  return {
    state: s.state,
    lastPollAt: s.lastPollAtMs === null ? null : new Date(s.lastPollAtMs).toISOString(),
    lastSuccessAt: s.lastSuccessAtMs === null ? null : new Date(s.lastSuccessAtMs).toISOString(),
    consecutiveFailures: s.consecutiveFailures,
    lastError: s.lastError,
    lastErrorCode: s.lastErrorCode,
  };
}

export function fromDeviceStatus(s: DeviceStatus): PollStatus {
  return {
    state: s.state,
    consecutiveFailures: s.consecutiveFailures,
    lastPollAtMs: s.lastPollAt === null ? null : Date.parse(s.lastPollAt),
    lastSuccessAtMs: s.lastSuccessAt === null ? null : Date.parse(s.lastSuccessAt),
    lastError: s.lastError,
    lastErrorCode: s.lastErrorCode,
  };
}
