import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeDevices } from '../adapters/modbus/device-config.js';
import { createModbusReader } from '../adapters/modbus/modbus-client.js';
import { createModbusPoller, type ModbusPoller } from '../adapters/modbus/modbus.component.js';
import { realTimers } from '../adapters/modbus/timers.js';
import { MeterSchema } from '../models/meter.js';
import { channelDef, type ChannelName } from '../models/channel.js';
import { qualityName, sourceName } from '../models/reading.js';
import type { Database } from '../sql/database.js';
import { listDevices } from '../sql/modbus-device.repository.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';
import { encode, freePort, startGarbageServer, startMeterSim, waitFor, type MeterSim } from './modbus-sim.js';

const T0 = Date.parse('2026-03-02T10:00:00Z');
const MIN = 60_000;

async function registerMeters(database: Database, ids: string[]): Promise<void> {
  await upsertMeters(
    database,
    ids.map((id) => MeterSchema.parse({ id, timezone: 'Europe/Warsaw', intervalMinutes: 15 })),
  );
}

async function rows(database: Database, meter: string, channel: ChannelName) {
  const r = await database.db
    .selectFrom('readings as r')
    .innerJoin('meters as m', 'm.id', 'r.meter_id')
    .select(['r.start', 'r.value', 'r.quality', 'r.source'])
    .where('m.external_id', '=', meter)
    .where('r.channel', '=', channelDef(channel).code)
    .orderBy('r.start')
    .execute();
  return r.map((x) => ({ at: x.start.toISOString().slice(11, 16), value: x.value, quality: qualityName(x.quality), source: sourceName(x.source) }));
}

async function events(database: Database, meter: string) {
  return database.db
    .selectFrom('meter_events as e')
    .innerJoin('meters as m', 'm.id', 'e.meter_id')
    .select(['e.code', 'e.at', 'e.data', 'e.transport', 'e.topic'])
    .where('m.external_id', '=', meter)
    .orderBy('e.at')
    .orderBy('e.id')
    .execute();
}

async function statusOf(database: Database, id: string) {
  return (await listDevices(database)).find((d) => d.id === id)?.status;
}

describe.each(FLAVOURS)('Modbus TCP poller against a meter simulator (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
  });
  afterAll(() => database?.close());

  it('reads float32/uint32 in both word orders and uint16/int16 input registers, stores register reads and derived intervals, unwraps a rollover and flags a reset', async () => {
    // Simulated clock: each poll moves it 5 minutes, so 15-min intervals close within a second of real time.
    const clock = { ms: T0 };
    const resetAt = T0 + 50 * MIN; // the energy meter is reset to 0 at 10:50
    // 1.2 kWh/h from 1000 kWh; after the reset from 0
    const kwh = () => (clock.ms < resetAt ? 1000 + (1.2 * (clock.ms - T0)) / 3_600_000 : (1.2 * (clock.ms - resetAt)) / 3_600_000);
    const wh = () => Math.round(kwh() * 1000);
    // gas counter in 0.01 m³ steps, 0.3 m³ per 5 min, from 65500: wraps past 65535 on the second poll
    const gas = () => (65_500 + 30 * Math.round((clock.ms - T0) / (5 * MIN))) % 65_536;
    const sim = await startMeterSim({
      holding: (a) =>
        ({
          0: encode('float32', kwh())[0],
          1: encode('float32', kwh())[1],
          2: encode('float32', kwh(), 'little')[0],
          3: encode('float32', kwh(), 'little')[1],
          10: encode('uint32', wh())[0],
          11: encode('uint32', wh())[1],
          12: encode('uint32', wh(), 'little')[0],
          13: encode('uint32', wh(), 'little')[1],
        })[a],
      input: (a) => (a === 0 ? gas() : a === 1 ? encode('int16', -55)[0] : undefined),
    });
    await registerMeters(database, ['SIM-F32B', 'SIM-F32L', 'SIM-U32B', 'SIM-U32L', 'SIM-GAS']);
    const stored = await storeDevices(database, [
      {
        id: 'SIM',
        transport: 'tcp',
        host: '127.0.0.1',
        port: sim.port,
        pollIntervalMs: 100,
        timeoutMs: 10_000, // the simulated clock assumes no poll times out; PGlite on this thread can stall answers
        registers: [
          { address: 0, type: 'float32', meter: 'SIM-F32B', channel: '1.8.0' },
          { address: 2, type: 'float32', wordOrder: 'little', meter: 'SIM-F32L', channel: 'active_import_register' },
          { address: 10, type: 'uint32', scale: 0.001, meter: 'SIM-U32B', channel: '1-0:1.8.0*255' },
          { address: 12, type: 'uint32', wordOrder: 'little', scale: 0.001, meter: 'SIM-U32L', channel: 'active_import_register' },
          { address: 0, function: 4, type: 'uint16', scale: 0.01, meter: 'SIM-GAS', channel: 'volume_register' },
          { address: 1, function: 4, type: 'int16', scale: 0.1, meter: 'SIM-GAS', channel: 'temperature' },
        ],
      },
    ]);
    expect(stored).toMatchObject({ created: 1, rejected: [] });

    const poller = createModbusPoller({
      database,
      now: () => clock.ms,
      readerFactory: (d) => {
        const real = createModbusReader(d, { timers: realTimers });
        return {
          read: (fn, address, count) => {
            if (fn === 3 && address === 0) clock.ms += 5 * MIN; // the first block of each poll
            return real.read(fn, address, count);
          },
          close: real.close,
        };
      },
    });
    await poller.start();
    try {
      await waitFor(() => clock.ms >= T0 + 85 * MIN, 30_000, 'the simulated clock to reach 11:25');
    } finally {
      await poller.stop();
      await sim.close();
    }

    // Register reads at every poll, 10:05 … 11:20, identical for the four encodings.
    const f32b = await rows(database, 'SIM-F32B', 'active_import_register');
    expect(f32b.slice(0, 3)).toEqual([
      { at: '10:05', value: 1000.1, quality: 'measured', source: 'modbus' },
      { at: '10:10', value: 1000.2, quality: 'measured', source: 'modbus' },
      { at: '10:15', value: 1000.3, quality: 'measured', source: 'modbus' },
    ]);
    for (const m of ['SIM-F32L', 'SIM-U32B', 'SIM-U32L']) expect(await rows(database, m, 'active_import_register')).toEqual(f32b);
    // the reset read at 10:50 is flagged suspect
    expect(f32b.find((r) => r.at === '10:50')).toEqual({ at: '10:50', value: 0, quality: 'suspect', source: 'modbus' });
    expect(f32b.find((r) => r.at === '11:20')).toEqual({ at: '11:20', value: 0.6, quality: 'measured', source: 'modbus' });

    // Intervals: [10:00) began at the first read (10:05) and is not emitted; 0.3 kWh per quarter hour;
    // [10:45) is dropped by the reset at 10:50 and [11:00) restarts from it. Nothing near 1000 kWh.
    const expected = [
      { at: '10:15', value: 0.3, quality: 'measured', source: 'modbus' },
      { at: '10:30', value: 0.3, quality: 'measured', source: 'modbus' },
      { at: '11:00', value: 0.3, quality: 'measured', source: 'modbus' },
    ];
    for (const m of ['SIM-F32B', 'SIM-F32L', 'SIM-U32B', 'SIM-U32L']) expect(await rows(database, m, 'active_import')).toEqual(expected);
    const resets = (await events(database, 'SIM-U32B')).filter((e) => e.code === 'register_reset');
    expect(resets).toHaveLength(1);
    expect(resets[0]).toMatchObject({ at: new Date(resetAt), transport: 'modbus', data: { device: 'SIM', previous: 1000.9, current: 0, channel: 'active_import_register' } });

    // Gas: 655.00 + 0.30 per poll, wrapping at 65536 × 0.01 = 655.36 m³: 655.30 → 0.24 is a rollover, 0.3 m³ per poll.
    const gasRegs = await rows(database, 'SIM-GAS', 'volume_register');
    expect(gasRegs.slice(0, 3).map((r) => [r.at, r.value])).toEqual([
      ['10:05', 655.3],
      ['10:10', 0.24],
      ['10:15', 0.54],
    ]);
    const volume = await rows(database, 'SIM-GAS', 'volume');
    expect(volume.slice(0, 4)).toEqual([
      { at: '10:15', value: 0.9, quality: 'measured', source: 'modbus' },
      { at: '10:30', value: 0.9, quality: 'measured', source: 'modbus' },
      { at: '10:45', value: 0.9, quality: 'measured', source: 'modbus' },
      { at: '11:00', value: 0.9, quality: 'measured', source: 'modbus' },
    ]);
    const temps = await rows(database, 'SIM-GAS', 'temperature');
    expect(temps.length).toBe(gasRegs.length);
    expect(new Set(temps.map((t) => t.value))).toEqual(new Set([-5.5]));

    expect(await statusOf(database, 'SIM')).toMatchObject({ state: 'online', consecutiveFailures: 0, lastError: null });
    // the state the next poll continues from survives a restart
    const state = await database.db.selectFrom('modbus_register_state').selectAll().where('device_id', '=', 'SIM').execute();
    expect(state).toHaveLength(5);
  });

  it('backs off a device that stops answering, stores communication_failure after N failures and recovers; exception, garbage and refused devices fail without stopping the others', async () => {
    const healthy = await startMeterSim({ holding: (a) => (a < 2 ? encode('uint32', Math.floor(Date.now() / 1000) - 1_700_000_000)[a] : undefined) });
    const flaky = await startMeterSim({ holding: (a) => (a < 2 ? encode('uint32', 42)[a] : undefined) });
    const slow: MeterSim = await startMeterSim({ holding: () => 1 });
    slow.silent = true;
    const partial = await startMeterSim({ holding: (a) => (a < 2 ? encode('float32', NaN)[a] : a === 5 ? 7 : undefined) });
    const garbage = await startGarbageServer();
    const closedPort = await freePort();
    const meters = ['F-OK', 'F-FLAKY', 'F-SLOW', 'F-EXC', 'F-GARBAGE', 'F-REFUSED'];
    await registerMeters(database, meters);
    const reg = (meter: string, extra = {}) => ({ address: 0, type: 'uint32', meter, channel: 'active_import_register', ...extra });
    // Generous timeouts for devices that answer: PGlite runs on this thread and can hold the simulators' answers up.
    const fast = { pollIntervalMs: 100, timeoutMs: 1_000, retries: 1, failuresBeforeEvent: 3, backoffMaxMs: 1_000, transport: 'tcp', host: '127.0.0.1' };
    const res = await storeDevices(database, [
      { ...fast, id: 'OK', port: healthy.port, registers: [reg('F-OK')] },
      { ...fast, id: 'FLAKY', port: flaky.port, timeoutMs: 300, registers: [reg('F-FLAKY')] },
      { ...fast, id: 'SLOW', port: slow.port, timeoutMs: 3_000, retries: 0, registers: [reg('F-SLOW')] },
      {
        ...fast,
        id: 'EXC',
        port: partial.port,
        registers: [
          { address: 0, type: 'float32', meter: 'F-EXC', channel: 'active_import_register' },
          { address: 5, type: 'uint16', meter: 'F-EXC', channel: 'pressure' },
          { address: 9, type: 'uint16', meter: 'F-EXC', channel: 'temperature' },
        ],
      },
      { ...fast, id: 'GARBAGE', port: garbage.port, registers: [reg('F-GARBAGE')] },
      { ...fast, id: 'REFUSED', port: closedPort, registers: [reg('F-REFUSED')] },
    ]);
    expect(res.rejected).toEqual([]);

    const poller: ModbusPoller = createModbusPoller({ database, reloadMs: 200 });
    await poller.start();
    try {
      await waitFor(async () => (await statusOf(database, 'FLAKY'))?.state === 'online', 10_000, 'FLAKY online');
      flaky.silent = true;
      const offline = await waitFor(
        async () => {
          const s = await statusOf(database, 'FLAKY');
          return s?.state === 'offline' ? s : undefined;
        },
        15_000,
        'FLAKY offline',
      );
      expect(offline).toMatchObject({ consecutiveFailures: 3, lastErrorCode: 'ETIMEDOUT' });
      expect(offline.lastError).toMatch(/no answer within 300 ms/);
      const failure = (await events(database, 'F-FLAKY')).filter((e) => e.code === 'communication_failure');
      expect(failure).toHaveLength(1);
      expect(failure[0]).toMatchObject({ transport: 'modbus', topic: `modbus-tcp://127.0.0.1:${flaky.port}/1`, data: { device: 'FLAKY', consecutiveFailures: 3, errorCode: 'ETIMEDOUT' } });

      flaky.silent = false;
      await waitFor(async () => (await statusOf(database, 'FLAKY'))?.state === 'online', 10_000, 'FLAKY back online');
      expect((await events(database, 'F-FLAKY')).map((e) => e.code)).toEqual(['communication_failure', 'communication_restored']);

      // the slow device's first 1.5 s timeout did not hold up the healthy one
      const slowStatus = await waitFor(
        async () => {
          const s = await statusOf(database, 'SLOW');
          return s && s.consecutiveFailures >= 1 ? s : undefined;
        },
        10_000,
        'SLOW to fail',
      );
      expect(slowStatus.lastErrorCode).toBe('ETIMEDOUT');
      // While SLOW waited 3 s for an answer, OK kept reading; a shared loop would have stalled it for the whole
      // wait (0 reads in it). How many is no goal here: every poll also waits for its database writes, which
      // all devices share (one PGlite connection), so under load a cycle can take far longer than 100 ms.
      const slowWindowEnd = Date.parse(slowStatus.lastPollAt!);
      await waitFor(async () => Date.parse((await statusOf(database, 'OK'))?.lastPollAt ?? '0') > slowWindowEnd, 10_000, 'OK to store a poll after the window');
      const okDuringSlowWait = await database.db
        .selectFrom('readings as r')
        .innerJoin('meters as m', 'm.id', 'r.meter_id')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('m.external_id', '=', 'F-OK')
        .where('r.start', '>', new Date(slowWindowEnd - 2_900))
        .where('r.start', '<', new Date(slowWindowEnd - 100))
        .executeTakeFirstOrThrow();
      expect(Number(okDuringSlowWait.n)).toBeGreaterThanOrEqual(1);

      const exc = await waitFor(
        async () => {
          const s = await statusOf(database, 'EXC');
          return s?.lastErrorCode === 'MODBUS_EXCEPTION_2' ? s : undefined;
        },
        10_000,
        'EXC to fail with exception 2',
      );
      expect(exc.lastError).toMatch(/at 9 .*Modbus exception 2: Illegal data address/);
      // the block that did answer was stored; the NaN float went to the dead letters with its registers
      expect((await rows(database, 'F-EXC', 'pressure'))[0]).toMatchObject({ value: 7, quality: 'measured' });
      expect(await rows(database, 'F-EXC', 'active_import_register')).toEqual([]);
      const dead = await database.db.selectFrom('rejects').selectAll().where('meter', '=', 'F-EXC').execute();
      expect(dead[0]).toMatchObject({ transport: 'modbus', principal: 'modbus:EXC' });
      expect(dead[0].reason).toMatch(/register 0 \(float32\) decoded to NaN, not a number: check type, wordOrder and byteSwap/);
      expect(JSON.parse(dead[0].payload)).toMatchObject({ registers: '7fc0 0000' });

      const g = await waitFor(
        async () => {
          const s = await statusOf(database, 'GARBAGE');
          return s?.lastErrorCode === 'BAD_RESPONSE' ? s : undefined;
        },
        10_000,
        'GARBAGE to fail with a malformed response',
      );
      expect(g.state).toMatch(/backoff|offline/);
      expect(g.lastError).toMatch(/malformed response/);
      const refused = await waitFor(
        async () => {
          const s = await statusOf(database, 'REFUSED');
          return s?.lastErrorCode === 'ECONNREFUSED' ? s : undefined;
        },
        10_000,
        'REFUSED to be refused',
      );
      expect(refused).toMatchObject({ state: expect.stringMatching(/backoff|offline/), lastSuccessAt: null });
      // every stored device (SIM of the previous test too) has a poller; none disabled yet
      expect(poller.probe.check()).toMatchObject({ ok: true, devices: (await listDevices(database)).length, disabled: 0 });

      // disabling a device through the table stops it and shows it as disabled
      await storeDevices(database, [{ ...fast, id: 'REFUSED', port: closedPort, enabled: false, registers: [reg('F-REFUSED')] }]);
      await waitFor(async () => (await statusOf(database, 'REFUSED'))?.state === 'disabled', 5_000, 'REFUSED disabled');
    } finally {
      await poller.stop();
      await Promise.all([healthy.close(), flaky.close(), slow.close(), partial.close(), garbage.close()]);
    }
    // The healthy device's reads are ~100 ms apart: the others' timeouts did not delay it.
    const ok = await rows(database, 'F-OK', 'active_import_register');
    expect(ok.every((r) => r.quality === 'measured')).toBe(true);
    expect(await statusOf(database, 'OK')).toMatchObject({ state: 'online', consecutiveFailures: 0 });
  });

  it('loads MODBUS_DEVICES_FILE at start and keeps retrying a device whose meter is not registered yet', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mdm-modbus-'));
    const sim = await startMeterSim({ holding: (a) => (a < 2 ? encode('uint32', 777)[a] : undefined) });
    const file = join(dir, 'devices.json');
    await writeFile(
      file,
      JSON.stringify({
        devices: [
          { id: 'FILE-1', transport: 'tcp', host: '127.0.0.1', port: sim.port, pollIntervalMs: 100, registers: [{ address: 0, type: 'uint32', meter: 'FILE-M1', channel: '1.8.0' }] },
          { id: 'FILE-BAD', transport: 'tcp', host: '127.0.0.1', registers: [] },
        ],
      }),
    );
    const warnings: string[] = [];
    // (devices of the other tests are in the table too, failing: keep only what is about the file)
    const log = { debug: () => {}, info: () => {}, error: () => {}, warn: (_o: object | string, m?: string) => void (m?.includes('MODBUS_DEVICES_FILE') && warnings.push(m)) };
    const poller = createModbusPoller({ database, devicesFile: file, reloadMs: 100 });
    try {
      await poller.start(log);
      expect(warnings).toEqual([expect.stringMatching(/not loaded yet \(retried every reload\): meter "FILE-M1" not registered/), expect.stringMatching(/not loaded: registers: Too small/i)]);
      expect(poller.probe.check()).toMatchObject({ fileInvalid: 1, fileWaiting: 1 });
      expect(await statusOf(database, 'FILE-1')).toBeUndefined();
      await registerMeters(database, ['FILE-M1']);
      await waitFor(async () => (await statusOf(database, 'FILE-1'))?.state === 'online', 10_000, 'FILE-1 online');
      expect((await rows(database, 'FILE-M1', 'active_import_register'))[0]).toMatchObject({ value: 777, source: 'modbus' });
      expect(poller.probe.check()).toMatchObject({ fileInvalid: 1, fileWaiting: 0 });
    } finally {
      await poller.stop();
      await sim.close();
    }
    await writeFile(file, '{"devices": [');
    await expect(createModbusPoller({ database, devicesFile: file }).start()).rejects.toThrow(/MODBUS_DEVICES_FILE .*devices\.json is not valid JSON/);
    await expect(createModbusPoller({ database, devicesFile: join(dir, 'missing.json') }).start()).rejects.toThrow(/MODBUS_DEVICES_FILE .*missing\.json cannot be read/);
    await rm(dir, { recursive: true });
  });
});
