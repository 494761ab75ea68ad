import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DevicePoller, type PollResult } from '../adapters/modbus/device-poller.js';
import { afterPoll, INITIAL_STATUS, nextPollDelay, type PollStatus, type StatusEvent } from '../adapters/modbus/device-status.js';
import { ModbusFailure, type RegisterReader } from '../adapters/modbus/modbus-client.js';
import { realTimers } from '../adapters/modbus/timers.js';
import { ModbusDeviceSchema, type ModbusDevice } from '../models/modbus.js';

const T0 = Date.parse('2026-03-02T10:00:00.000Z');

function device(over: Partial<Record<string, unknown>> = {}): ModbusDevice {
  return ModbusDeviceSchema.parse({
    id: 'D1',
    transport: 'tcp',
    host: '127.0.0.1',
    pollIntervalMs: 1_000,
    timeoutMs: 200,
    retries: 1,
    failuresBeforeEvent: 3,
    backoffMaxMs: 5_000,
    registers: [
      { address: 0, type: 'uint16', meter: 'M1', channel: 'active_import_register' },
      { address: 10, function: 4, type: 'int16', meter: 'M1', channel: 'temperature' },
    ],
    ...over,
  });
}

/** A reader whose behaviour the test switches: answer, time out after `ms`, or raise a Modbus exception. */
function scriptedReader() {
  const r = {
    mode: 'ok' as 'ok' | 'timeout' | 'exception-fc4',
    delayMs: 0,
    calls: [] as { fn: number; address: number; at: number }[],
    reader: undefined as unknown as RegisterReader,
  };
  r.reader = {
    read: (fn, address, count) => {
      r.calls.push({ fn, address, at: Date.now() });
      if (r.mode === 'exception-fc4' && fn === 4) {
        return Promise.reject(new ModbusFailure('MODBUS_EXCEPTION_2', 'Modbus exception 2: Illegal data address', { modbusCode: 2 }));
      }
      if (r.mode === 'ok' && r.delayMs === 0) return Promise.resolve(Array.from({ length: count }, (_, i) => address + i + 1));
      return new Promise((resolve, reject) =>
        setTimeout(
          () => (r.mode === 'timeout' ? reject(new ModbusFailure('ETIMEDOUT', 'no answer within 200 ms')) : resolve(Array.from({ length: count }, (_, i) => address + i + 1))),
          r.mode === 'timeout' ? 200 : r.delayMs,
        ),
      );
    },
    close: async () => {},
  };
  return r;
}

function collect() {
  const polls: { atMs: number; result: PollResult; status: PollStatus; event?: StatusEvent }[] = [];
  return { polls, sink: async (_d: ModbusDevice, result: PollResult, status: PollStatus, event: StatusEvent | undefined) => void polls.push({ atMs: Date.now(), result, status, event }) };
}

const log = { info: () => {}, warn: () => {}, error: () => {} };

/** stop() waits for a poll in flight, so fake time has to move while it does. */
async function stopAll(...pollers: DevicePoller[]): Promise<void> {
  const stopping = Promise.all(pollers.map((p) => p.stop()));
  await vi.advanceTimersByTimeAsync(60_000);
  await stopping;
}

describe('poll status and backoff (pure)', () => {
  it('moves pending → backoff → offline (event once) → online (restored event)', () => {
    const fail = { ok: false, code: 'ETIMEDOUT', message: 'x' } as const;
    let s = INITIAL_STATUS;
    const events: (StatusEvent | undefined)[] = [];
    const states: string[] = [];
    for (const outcome of [fail, fail, fail, fail, { ok: true } as const, fail]) {
      const r = afterPoll(s, outcome, 1000, 3);
      s = r.status;
      states.push(s.state);
      events.push(r.event);
    }
    expect(states).toEqual(['backoff', 'backoff', 'offline', 'offline', 'online', 'backoff']);
    expect(events).toEqual([undefined, undefined, 'communication_failure', undefined, 'communication_restored', undefined]);
    expect(s).toMatchObject({ consecutiveFailures: 1, lastSuccessAtMs: 1000, lastErrorCode: 'ETIMEDOUT' });
  });

  it('waits for the next multiple of the poll interval when healthy and doubles while failing, capped', () => {
    const d = { pollIntervalMs: 900_000, backoffMaxMs: 300_000 };
    // healthy at 10:07:30 → next quarter hour 10:15:00 is 7.5 min away
    expect(nextPollDelay(INITIAL_STATUS, d, Date.parse('2026-03-02T10:07:30Z'))).toBe(450_000);
    expect(nextPollDelay(INITIAL_STATUS, d, Date.parse('2026-03-02T10:15:00Z'))).toBe(900_000);
    // failing: never below the poll interval, even with a smaller cap
    expect(nextPollDelay({ ...INITIAL_STATUS, consecutiveFailures: 1 }, d, 0)).toBe(900_000);
    const fast = { pollIntervalMs: 1_000, backoffMaxMs: 5_000 };
    expect([1, 2, 3, 4, 5, 50].map((n) => nextPollDelay({ ...INITIAL_STATUS, consecutiveFailures: n }, fast, 0))).toEqual([1_000, 2_000, 4_000, 5_000, 5_000, 5_000]);
  });
});

describe('DevicePoller on fake timers', () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.setSystemTime(T0 + 300);
  });
  afterEach(() => vi.useRealTimers());

  it('polls at once, then on the aligned schedule, reading every block', async () => {
    const r = scriptedReader();
    const c = collect();
    const p = new DevicePoller(device(), { reader: r.reader, sink: c.sink, timers: realTimers, now: Date.now, log });
    p.start();
    await vi.advanceTimersByTimeAsync(2_800);
    await p.stop();
    // start at +300 ms, then the next whole seconds: +1000, +2000, +3000
    expect(c.polls.map((x) => x.atMs - T0)).toEqual([300, 1_000, 2_000, 3_000]);
    expect(r.calls.slice(0, 2).map((x) => [x.fn, x.address])).toEqual([
      [3, 0],
      [4, 10],
    ]);
    expect(c.polls[0].result.values.map((v) => [v.index, v.value])).toEqual([
      [0, 1],
      [1, 11],
    ]);
    expect(c.polls.every((x) => x.status.state === 'online')).toBe(true);
  });

  it('retries, backs off P, 2P, 4P… up to the cap, goes offline once, and recovers', async () => {
    const r = scriptedReader();
    r.mode = 'timeout';
    const c = collect();
    const p = new DevicePoller(device(), { reader: r.reader, sink: c.sink, timers: realTimers, now: Date.now, log });
    p.start();
    // each failed poll: 2 attempts × 200 ms timeout; then waits 1 s, 2 s, 4 s, 5 s, 5 s
    await vi.advanceTimersByTimeAsync(20_000);
    const fails = c.polls.map((x) => x.atMs - T0);
    expect(fails).toEqual([700, 2_100, 4_500, 8_900, 14_300, 19_700]);
    // unreachable: the second block is not tried after the first timed out
    expect(r.calls.filter((x) => x.fn === 4)).toHaveLength(0);
    expect(r.calls).toHaveLength(12);
    expect(c.polls.map((x) => x.status.state)).toEqual(['backoff', 'backoff', 'offline', 'offline', 'offline', 'offline']);
    expect(c.polls.map((x) => x.event).filter(Boolean)).toEqual(['communication_failure']);
    expect(c.polls.at(-1)!.status).toMatchObject({ consecutiveFailures: 6, lastErrorCode: 'ETIMEDOUT', lastSuccessAtMs: null });

    r.mode = 'ok';
    await vi.advanceTimersByTimeAsync(5_000);
    await p.stop();
    const back = c.polls.find((x) => x.status.state === 'online')!;
    expect(back.event).toBe('communication_restored');
    expect(back.atMs - T0).toBe(19_700 + 5_000);
  });

  it('keeps reading the other blocks after an exception response and reports it', async () => {
    const r = scriptedReader();
    r.mode = 'exception-fc4';
    const c = collect();
    const p = new DevicePoller(device({ retries: 0 }), { reader: r.reader, sink: c.sink, timers: realTimers, now: Date.now, log });
    p.start();
    await vi.advanceTimersByTimeAsync(10);
    await p.stop();
    expect(c.polls[0].result.values.map((v) => v.index)).toEqual([0]);
    expect(c.polls[0].status).toMatchObject({ state: 'backoff', lastErrorCode: 'MODBUS_EXCEPTION_2' });
    expect(c.polls[0].status.lastError).toMatch(/Modbus exception 2: Illegal data address/);
  });

  it('a slow device does not delay another one', async () => {
    const slow = scriptedReader();
    slow.delayMs = 30_000;
    const fast = scriptedReader();
    const cs = collect();
    const cf = collect();
    const ps = new DevicePoller(device({ id: 'SLOW' }), { reader: slow.reader, sink: cs.sink, timers: realTimers, now: Date.now, log });
    const pf = new DevicePoller(device({ id: 'FAST' }), { reader: fast.reader, sink: cf.sink, timers: realTimers, now: Date.now, log });
    ps.start();
    pf.start();
    await vi.advanceTimersByTimeAsync(10_000);
    expect(cs.polls).toHaveLength(0);
    expect(cf.polls).toHaveLength(11); // +300 ms, then every second up to +10 s
    await stopAll(ps, pf);
  });

  it('survives a sink that throws and stops cleanly mid-poll', async () => {
    const r = scriptedReader();
    r.delayMs = 500;
    let calls = 0;
    const errors: string[] = [];
    const p = new DevicePoller(device(), {
      reader: r.reader,
      sink: async () => {
        calls++;
        throw new Error('database down');
      },
      timers: realTimers,
      now: Date.now,
      log: { ...log, error: (o: object) => errors.push((o as { err: string }).err) },
    });
    p.start();
    await vi.advanceTimersByTimeAsync(3_000);
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(errors[0]).toBe('database down');
    await vi.advanceTimersByTimeAsync(200); // a poll is in flight
    const stopping = p.stop();
    await vi.advanceTimersByTimeAsync(1_000);
    await stopping;
    const after = calls;
    await vi.advanceTimersByTimeAsync(5_000);
    expect(calls).toBe(after);
  });
});
