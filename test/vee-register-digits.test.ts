import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meterCsvLayout, meterFromRecord } from '../adapters/file/meter-csv.js';
import { storeDevices } from '../adapters/modbus/device-config.js';
import { createVeeWorker } from '../ingest/vee/vee-worker.js';
import { registerWrapPoints } from '../ingest/vee/wrap-points.js';
import { channelDef } from '../models/channel.js';
import { qualityName } from '../models/reading.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * Issue 12, defect 11 (rest): the register digits of a register meter no
 * Modbus device reads. `registerDigits` 6 → its registers wrap at 10^6, so
 * VEE calls 999 990.5 → 12.25 a rollover (21.75 kWh), not a reset; a device's
 * wrap point wins where a device reads the register.
 */

const MIN = 60_000;
const Q = 15 * MIN;
const REGISTER = channelDef('active_import_register').code;
const VOLUME = channelDef('volume_register').code;

describe('registerWrapPoints with register digits (pure)', () => {
  it('gives every register channel of the meter 10^digits, except a channel a device gives a wrap point, whatever the row order', () => {
    const device = { meterId: 1, entry: { address: 0, type: 'uint32', scale: 0.01, meter: 'M1', channel: 'active_import_register' } };
    for (const rows of [
      [device, { meterId: 1, registerDigits: 6 }],
      [{ meterId: 1, registerDigits: 6 }, device],
    ]) {
      const wraps = registerWrapPoints(rows).get(1)!;
      expect(wraps.get(REGISTER)).toBe(2 ** 32 * 0.01);
      expect(wraps.get(VOLUME)).toBe(1_000_000);
      expect(wraps.get(channelDef('active_import').code)).toBeUndefined(); // an interval channel never wraps
    }
    // A float register of a device says no wrap point: the meter's digits still apply.
    const float = { meterId: 2, entry: { address: 0, type: 'float32', meter: 'M2', channel: 'active_import_register' } };
    expect(
      registerWrapPoints([float, { meterId: 2, registerDigits: 8 }])
        .get(2)!
        .get(REGISTER),
    ).toBe(1e8);
    expect(registerWrapPoints([float]).get(2)).toBeUndefined();
  });
});

describe('meter CSV registerDigits column', () => {
  it('reads the column as a number (decimal comma dialect too)', () => {
    const layout = meterCsvLayout({ line: 1, raw: 'id;registerDigits', fields: ['id', 'registerDigits'] }, ';');
    expect(meterFromRecord(layout, { line: 2, raw: 'M1;6', fields: ['M1', '6'] })).toEqual({ row: { id: 'M1', registerDigits: 6 } });
    expect(meterFromRecord(layout, { line: 3, raw: 'M2;', fields: ['M2', ''] })).toEqual({ row: { id: 'M2' } });
  });
});

describe.each(FLAVOURS)("VEE and a meter's register digits (%s)", (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
  });
  afterAll(() => t?.close());

  const put = (body: unknown) => t.app.inject({ method: 'PUT', url: '/v1/meters', headers: t.auth('admin'), payload: body as object });
  const meter = async (id: string) => (await t.app.inject({ method: 'GET', url: `/v1/meters/${id}`, headers: t.auth('viewer') })).json();

  async function reads(id: string) {
    const rows = await t.database.db
      .selectFrom('readings as r')
      .innerJoin('meters as m', 'm.id', 'r.meter_id')
      .select(['r.value', 'r.quality', 'r.version'])
      .where('m.external_id', '=', id)
      .where('r.channel', '=', REGISTER)
      .orderBy('r.start')
      .execute();
    return rows.map((r) => [r.value, qualityName(r.quality), r.version]);
  }

  async function issues(id: string) {
    return t.database.db
      .selectFrom('validation_issues as v')
      .innerJoin('meters as m', 'm.id', 'v.meter_id')
      .select(['v.rule', 'v.severity', 'v.detail'])
      .where('m.external_id', '=', id)
      .where('v.rule', '=', 'register')
      .orderBy('v.id')
      .execute();
  }

  it('registerDigits is set, returned and checked through PUT /v1/meters', async () => {
    const res = await put([
      { id: 'REG-6', intervalMinutes: 15, registerDigits: 6 },
      { id: 'REG-NONE', intervalMinutes: 15 },
      { id: 'REG-DEV', intervalMinutes: 15, registerDigits: 6 },
      { id: 'BAD-1', registerDigits: 13 },
      { id: 'BAD-2', registerDigits: 6.5 },
      { id: 'BAD-3', registerDigits: '6' },
    ]);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ created: 3, updated: 0, unchanged: 0 });
    expect(body.rejected.map((r: { index: number; reason: string }) => [r.index, r.reason])).toEqual([
      [3, 'registerDigits: must be 4–12 (integer digits of the register display), got 13'],
      [4, 'registerDigits: must be a whole number of digits, 4–12, got 6.5'],
      [5, 'registerDigits: must be a whole number of digits, 4–12, got "6"'],
    ]);
    expect(await meter('REG-6')).toMatchObject({ id: 'REG-6', registerDigits: 6 });
    expect(await meter('REG-NONE')).toMatchObject({ id: 'REG-NONE', registerDigits: null });
    // Sent again as stored: unchanged; a new digit count is a change.
    expect((await put([{ id: 'REG-6', intervalMinutes: 15, registerDigits: 6 }])).json()).toMatchObject({ unchanged: 1 });
    expect((await put([{ id: 'REG-NONE', intervalMinutes: 15, registerDigits: 7 }])).json()).toMatchObject({ updated: 1 });
    expect((await put([{ id: 'REG-NONE', intervalMinutes: 15 }])).json()).toMatchObject({ updated: 1 });
    expect(await meter('REG-NONE')).toMatchObject({ registerDigits: null });
  });

  it('999 990.5 → 12.25 on a six-digit register is a rollover (measured, a warn issue); without registerDigits a reset; a device wrap point wins', async () => {
    expect(
      await storeDevices(t.database, [
        { id: 'PLC-D', transport: 'tcp', host: '127.0.0.1', registers: [{ address: 0, type: 'uint32', scale: 0.01, meter: 'REG-DEV', channel: 'active_import_register' }] },
      ]),
    ).toMatchObject({ created: 1, rejected: [] });
    const t0 = Math.floor((Date.now() - 3 * 60 * MIN) / Q) * Q;
    const at = (k: number) => new Date(t0 + k * Q).toISOString();
    const series = (id: string, values: number[]) => values.map((value, k) => ({ meter: id, channel: 'active_import_register', start: at(k), value }));
    const posted = await t.app.inject({
      method: 'POST',
      url: '/v1/readings',
      headers: t.auth('gateway'),
      payload: { readings: [...series('REG-6', [999_980, 999_990.5, 12.25, 30]), ...series('REG-NONE', [999_980, 999_990.5, 12.25, 30]), ...series('REG-DEV', [42_949_663.51, 8.77, 20])] },
    });
    expect(posted.json()).toMatchObject({ accepted: 11, rejected: [] });

    const worker = createVeeWorker({ database: t.database, now: () => Date.now() });
    while ((await worker.drainOnce()) > 0);

    expect(await reads('REG-6')).toEqual([
      [999_980, 'measured', 1],
      [999_990.5, 'measured', 1],
      [12.25, 'measured', 1],
      [30, 'measured', 1],
    ]);
    expect(await issues('REG-6')).toEqual([{ rule: 'register', severity: 'warn', detail: 'register rolled over from 999990.5 to 12.25 (wraps at 1000000): consumption 21.75' }]);

    expect((await reads('REG-NONE')).map((r) => r[1])).toEqual(['measured', 'measured', 'suspect', 'measured']);
    expect(await issues('REG-NONE')).toEqual([
      { rule: 'register', severity: 'fail', detail: 'register decreased from 999990.5 to 12.25: meter reset or replaced (no wrap point known for this register)' },
    ]);

    // The device's uint32 of 0.01 kWh wraps at 42 949 672.96, not at the meter's 10^6.
    expect((await reads('REG-DEV')).map((r) => r[1])).toEqual(['measured', 'measured', 'measured']);
    expect(await issues('REG-DEV')).toEqual([{ rule: 'register', severity: 'warn', detail: 'register rolled over from 42949663.51 to 8.77 (wraps at 42949672.96): consumption 18.22' }]);
  });
});
