import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createModbusPoller } from '../adapters/modbus/modbus.component.js';
import { FLAVOURS } from './helpers.js';
import { testApp, type TestApp } from './api-helpers.js';
import { encode, startMeterSim, waitFor } from './modbus-sim.js';

describe.each(FLAVOURS)('PUT/GET /v1/modbus/devices (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
    const res = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [
        { id: 'API-M1', timezone: 'Europe/Warsaw', intervalMinutes: 15 },
        { id: 'API-M2', timezone: 'Europe/Warsaw', intervalMinutes: 15 },
      ],
    });
    expect(res.statusCode).toBe(200);
  });
  afterAll(() => t?.close());

  const device = (over: Record<string, unknown> = {}) => ({
    id: 'PLC-1',
    transport: 'tcp',
    host: '127.0.0.1',
    port: 1502,
    registers: [{ address: 0, type: 'uint32', scale: 0.001, meter: 'API-M1', channel: '1.8.0' }],
    ...over,
  });

  it('is admin only', async () => {
    for (const role of ['gateway', 'viewer', 'billing'] as const) {
      const put = await t.app.inject({ method: 'PUT', url: '/v1/modbus/devices', headers: t.auth(role), payload: [device()] });
      expect(put.statusCode).toBe(403);
      expect(put.json()).toMatchObject({ error: 'MDM_ERR_FORBIDDEN' });
      expect(put.json().message).toMatch(/may not devices:admin/);
      expect((await t.app.inject({ method: 'GET', url: '/v1/modbus/devices', headers: t.auth(role) })).statusCode).toBe(403);
    }
    expect((await t.app.inject({ method: 'GET', url: '/v1/modbus/devices' })).statusCode).toBe(401);
  });

  it('answers 400 when no device is valid, naming the field and the reason', async () => {
    const notArray = await t.app.inject({ method: 'PUT', url: '/v1/modbus/devices', headers: t.auth('admin'), payload: { id: 'x' } });
    expect(notArray.statusCode).toBe(400);
    expect(notArray.json().error).toBe('MDM_ERR_VALIDATION');

    const bad = await t.app.inject({
      method: 'PUT',
      url: '/v1/modbus/devices',
      headers: t.auth('admin'),
      payload: [device({ registers: [{ address: 0, type: 'int24', meter: 'API-M1', channel: '1.8.0' }] }), device({ id: 'PLC-2', port: 70000 })],
    });
    expect(bad.statusCode).toBe(400);
    const body = bad.json();
    expect(body.error).toBe('MDM_ERR_INVALID_ROWS');
    expect(body.message).toMatch(/^no device stored: 2 rejected; row 0 \("PLC-1"\): registers\.0\.type: /);
    expect(body.details).toEqual([
      { index: 0, id: 'PLC-1', reason: expect.stringMatching(/^registers\.0\.type: .*uint16/) },
      { index: 1, id: 'PLC-2', reason: expect.stringMatching(/^port: /) },
    ]);
    const list = await t.app.inject({ method: 'GET', url: '/v1/modbus/devices', headers: t.auth('admin') });
    expect(list.json()).toEqual({ devices: [] });
  });

  it('stores valid devices, rejects the others per row, and lists them with status', async () => {
    const res = await t.app.inject({
      method: 'PUT',
      url: '/v1/modbus/devices',
      headers: t.auth('admin'),
      payload: [
        device(),
        device({ id: 'PLC-2', registers: [{ address: 0, meter: 'NOT-REGISTERED', channel: '1.8.0' }] }),
        device({ id: 'PLC-3', registers: [{ address: 4, type: 'float32', meter: 'API-M1', channel: 'active_import_register' }] }),
        device({ id: 'RTU-1', transport: 'rtu', path: '/dev/ttyUSB0', host: undefined, port: undefined, enabled: false, registers: [{ address: 0, meter: 'API-M2', channel: 'temperature' }] }),
      ],
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      created: 2,
      updated: 0,
      unchanged: 0,
      rejected: [
        { index: 1, id: 'PLC-2', reason: 'meter "NOT-REGISTERED" not registered: register them with PUT /v1/meters first' },
        { index: 2, id: 'PLC-3', reason: 'registers.0: meter "API-M1" channel active_import_register is already read by device "PLC-1"' },
      ],
    });

    const again = await t.app.inject({
      method: 'PUT',
      url: '/v1/modbus/devices',
      headers: t.auth('admin'),
      payload: [
        device(),
        device({ id: 'RTU-1', transport: 'rtu', path: '/dev/ttyUSB1', host: undefined, port: undefined, enabled: false, registers: [{ address: 0, meter: 'API-M2', channel: 'temperature' }] }),
      ],
    });
    expect(again.json()).toMatchObject({ created: 0, updated: 1, unchanged: 1, rejected: [] });

    const list = await t.app.inject({ method: 'GET', url: '/v1/modbus/devices', headers: t.auth('admin') });
    expect(list.statusCode).toBe(200);
    const devices = list.json().devices;
    expect(devices.map((d: { id: string }) => d.id)).toEqual(['PLC-1', 'RTU-1']);
    expect(devices[0]).toMatchObject({
      config: { id: 'PLC-1', port: 1502, unitId: 1, pollIntervalMs: 60_000, registers: [{ channel: 'active_import_register', rolloverAt: 4294967.296, wordOrder: 'big' }] },
      status: { state: 'pending', lastPollAt: null, lastSuccessAt: null, consecutiveFailures: 0, lastError: null, lastErrorCode: null },
    });
    expect(devices[1]).toMatchObject({ config: { transport: 'rtu', path: '/dev/ttyUSB1', parity: 'even', baudRate: 9600 }, status: { state: 'disabled' } });
  });

  it('shows a polled device online and its readings through the readings API', async () => {
    let wh = 1_234_000;
    // counts 1 Wh up per poll (on the read of its first register)
    const sim = await startMeterSim({ holding: (a) => (a < 2 ? encode('uint32', a === 0 ? ++wh : wh)[a] : undefined) });
    const res = await t.app.inject({
      method: 'PUT',
      url: '/v1/modbus/devices',
      headers: t.auth('admin'),
      payload: [device({ id: 'PLC-1', port: sim.port, pollIntervalMs: 200, timeoutMs: 2_000 })],
    });
    expect(res.json()).toMatchObject({ updated: 1 });
    const poller = createModbusPoller({ database: t.database, reloadMs: 100 });
    const since = new Date(Date.now() - 60_000).toISOString();
    await poller.start();
    try {
      const online = await waitFor(
        async () => {
          const list = await t.app.inject({ method: 'GET', url: '/v1/modbus/devices', headers: t.auth('admin') });
          const d = list.json().devices.find((x: { id: string }) => x.id === 'PLC-1');
          return d.status.state === 'online' ? d.status : undefined;
        },
        10_000,
        'PLC-1 online',
      );
      expect(online).toMatchObject({ consecutiveFailures: 0, lastErrorCode: null });
      expect(Date.parse(online.lastSuccessAt)).toBeGreaterThan(Date.parse(since));
    } finally {
      await poller.stop();
      await sim.close();
    }
    const q = new URLSearchParams({ channel: '1.8.0', from: since, to: new Date(Date.now() + 60_000).toISOString() });
    const readings = await t.app.inject({ method: 'GET', url: `/v1/meters/API-M1/readings?${q}`, headers: t.auth('viewer') });
    expect(readings.statusCode).toBe(200);
    const rows = readings.json().rows as { value: number; source: string; quality: string }[];
    expect(rows.length).toBeGreaterThan(0);
    // 1234000 + k Wh × 0.001 = 1234.00k kWh at the k-th poll (a poll that timed out under load skips a k)
    expect(rows.every((r) => r.source === 'modbus' && r.quality === 'measured')).toBe(true);
    const ks = rows.map((r) => Math.round((r.value - 1234) * 1000));
    expect(rows.map((r) => r.value)).toEqual(ks.map((k) => Number((1234 + k / 1000).toFixed(3))));
    expect(ks[0]).toBeGreaterThanOrEqual(1);
    expect(ks).toEqual([...new Set(ks)].sort((a, b) => a - b));
  });
});
