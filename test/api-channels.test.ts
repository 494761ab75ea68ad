import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../models/api-key.js';
import { CHANNELS, resolveChannel } from '../models/channel.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * Issue 15, Channels and OBIS, through the real API on every flavour: the
 * registry (GET/PUT /v1/channels), OBIS codes as meters send them, register
 * reads per TOU register stored and served, and aggregates that follow the
 * channel's aggregation rule (voltage averaged, maximum demand maxed, never summed).
 */

type Row = { meter: string; channel: string; start: string; value: number };
const IST = 'Europe/Istanbul';

describe.each(FLAVOURS)('channel registry and OBIS (%s)', (flavour) => {
  let t: TestApp;
  const get = (url: string, role: Role = 'viewer') => t.app.inject({ method: 'GET', url, headers: t.auth(role) });
  const put = (name: string, payload: unknown, role: Role = 'admin') => t.app.inject({ method: 'PUT', url: `/v1/channels/${name}`, headers: t.auth(role), payload: payload as object });
  const post = (readings: Row[]) => t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('gateway'), payload: { readings } });
  const q = (params: Record<string, string>) => new URLSearchParams(params).toString();

  beforeAll(async () => {
    t = await testApp(flavour);
    const meters = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [
        // A Turkish three-time residential meter, read monthly; and two three-phase meters behind CTs.
        { id: 'TT1', timezone: IST, intervalMinutes: 60, tariff: 'three-time' },
        { id: 'V1', timezone: IST, intervalMinutes: 60, multiplier: 40, group: 'feeder' },
        { id: 'V2', timezone: IST, intervalMinutes: 60, multiplier: 1, group: 'feeder' },
      ],
    });
    expect(meters.json()).toMatchObject({ created: 3, rejected: [] });
  });
  afterAll(async () => {
    await t?.close();
  });

  it('GET /v1/channels lists the built-in channels with their definitions, to every role', async () => {
    const res = await get('/v1/channels', 'gateway');
    expect(res.statusCode, res.body).toBe(200);
    const channels = res.json().channels as { name: string; code: number; builtin: boolean }[];
    expect(channels.map((c) => c.name)).toEqual(CHANNELS.map((c) => c.name));
    expect(channels.find((c) => c.name === 'voltage_l1')).toEqual({
      name: 'voltage_l1',
      code: 20,
      unit: 'V',
      kind: 'instantaneous',
      aggregation: 'mean',
      commodities: ['electricity'],
      obis: '1-0:32.7.0',
      alsoObis: [],
      meaning: 'voltage L1',
      builtin: true,
    });
    expect(channels.find((c) => c.name === 'volume_register')).toMatchObject({ obis: '7-0:3.0.0', alsoObis: ['8-0:1.0.0', '9-0:1.0.0'], commodities: ['gas', 'water'] });
    expect((await t.app.inject({ method: 'GET', url: '/v1/channels' })).statusCode).toBe(401);
  });

  it('stores and serves register reads per TOU register (1.8.1/1.8.2/1.8.3), sent in any OBIS form', async () => {
    // Monthly reads of a three-time meter: T1 day, T2 peak, T3 night, as the head-end writes them.
    const res = await post([
      { meter: 'TT1', channel: '1.8.1', start: '2026-01-01T00:00:00+03:00', value: 1520.4 },
      { meter: 'TT1', channel: '1-0:1.8.2', start: '2026-01-01T00:00:00+03:00', value: 610.25 },
      { meter: 'TT1', channel: '1.0.1.8.3.255', start: '2026-01-01T00:00:00+03:00', value: 845 },
      { meter: 'TT1', channel: '1-0:1.8.1*255', start: '2026-02-01T00:00:00+03:00', value: 1711.9 },
      { meter: 'TT1', channel: '1-0:1.8.2&255', start: '2026-02-01T00:00:00+03:00', value: 688.75 },
      { meter: 'TT1', channel: 'active_import_register_t3', start: '2026-02-01T00:00:00+03:00', value: 960.5 },
      { meter: 'TT1', channel: '1-0:1.8.0', start: '2026-02-01T00:00:00+03:00', value: 3361.15 },
    ]);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 7, rejected: [] });

    const read = async (channel: string, interval = 'raw') => {
      const r = await get(`/v1/meters/TT1/readings?${q({ channel, from: '2026-01-01T00:00:00+03:00', to: '2026-03-01T00:00:00+03:00', interval })}`);
      expect(r.statusCode, r.body).toBe(200);
      return r.json();
    };
    const t1 = await read('1.8.1');
    expect(t1).toMatchObject({ meter: 'TT1', channel: 'active_import_register_t1', unit: 'kWh' });
    expect(t1.rows.map((r: { start: string; value: number }) => [r.start, r.value])).toEqual([
      ['2026-01-01T00:00:00+03:00', 1520.4],
      ['2026-02-01T00:00:00+03:00', 1711.9],
    ]);
    expect((await read('active_import_register_t2')).rows.map((r: { value: number }) => r.value)).toEqual([610.25, 688.75]);
    expect((await read('1-0:1.8.3')).rows.map((r: { value: number }) => r.value)).toEqual([845, 960.5]);
    // Bucketed by month, a register keeps its last value of the month as recorded.
    expect((await read('1.8.3', 'month')).rows.map((r: { start: string; value: number }) => [r.start, r.value])).toEqual([
      ['2026-01-01T00:00:00+03:00', 845],
      ['2026-02-01T00:00:00+03:00', 960.5],
    ]);
  });

  it('refuses a billing-period value and an unknown code with the reason and the known channels', async () => {
    const res = await post([
      { meter: 'TT1', channel: '1-0:1.8.1*03', start: '2026-02-01T00:00:00+03:00', value: 1 },
      { meter: 'TT1', channel: '1.8.9', start: '2026-02-01T00:00:00+03:00', value: 1 },
    ]);
    expect(res.statusCode).toBe(200);
    const reasons = res.json().rejected.map((r: { reason: string }) => r.reason);
    expect(reasons).toHaveLength(2);
    expect(reasons[0]).toMatch(/^unknown channel "1-0:1.8.1\*03": known channels: active_import, /);
    expect(reasons[0]).toMatch(/current values only/);
    expect(reasons[1]).toMatch(/^unknown channel "1.8.9": known channels: .*voltage_l1.*1\.8\.1/);
  });

  it('aggregates voltage as a mean and maximum demand as a max, never as a sum', async () => {
    // V1 (multiplier 40: CT 200/5) and V2; hourly L1 voltages and a demand register on 2026-03-02.
    const rows: Row[] = [];
    const volts = { V1: [230, 232, 234, 236], V2: [228, 229, 231, 232] };
    for (const [meter, vs] of Object.entries(volts)) vs.forEach((v, h) => rows.push({ meter, channel: h % 2 ? '32.7.0' : '1-0:32.7.0', start: `2026-03-02T0${h}:00:00+03:00`, value: v }));
    rows.push(
      { meter: 'V1', channel: '1.6.0', start: '2026-03-02T01:00:00+03:00', value: 1.2 },
      { meter: 'V1', channel: '1.6.0', start: '2026-03-02T02:00:00+03:00', value: 1.5 },
      { meter: 'V2', channel: '1-0:1.6.0', start: '2026-03-02T02:00:00+03:00', value: 45 },
    );
    const res = await post(rows);
    expect(res.json()).toMatchObject({ accepted: 11, rejected: [] });

    const day = { group: 'feeder', from: '2026-03-02T00:00:00+03:00', to: '2026-03-03T00:00:00+03:00', interval: 'day' };
    const voltage = await get(`/v1/aggregate?${q({ ...day, channel: 'voltage_l1' })}`, 'trader');
    expect(voltage.statusCode, voltage.body).toBe(200);
    // Mean of the 8 stored values (1852 / 8), no multiplier: a voltage is not scaled by the CT ratio. A sum would be 1852 (or 10 402 with multipliers).
    expect(voltage.json()).toMatchObject({ channel: 'voltage_l1', unit: 'V', aggregation: 'mean', rows: [{ start: '2026-03-02T00:00:00+03:00', value: 231.5, meters: 2, intervals: 8 }] });
    const hourly = await get(`/v1/aggregate?${q({ ...day, interval: 'hour', channel: '1-0:32.7.0*255' })}`, 'trader');
    expect(hourly.json().rows.map((r: { value: number }) => r.value)).toEqual([229, 230.5, 232.5, 234]);

    // Maximum demand: the largest value × multiplier (V1: 1.5 kW × 40 = 60 kW beats V2's 45 kW); a sum would be 147.
    const demand = await get(`/v1/aggregate?${q({ ...day, channel: '1.6.0' })}`, 'trader');
    expect(demand.json()).toMatchObject({ channel: 'active_import_max_demand', aggregation: 'max', rows: [{ value: 60, meters: 2, intervals: 3 }] });

    // One meter's readings bucketed by day follow the same rule: mean for voltage, max for demand.
    const one = async (channel: string) =>
      (await get(`/v1/meters/V1/readings?${q({ channel, from: day.from, to: day.to, interval: 'day' })}`)).json().rows.map((r: { value: number; count: number }) => [r.value, r.count]);
    expect(await one('voltage_l1')).toEqual([[233, 4]]);
    expect(await one('1.6.0')).toEqual([[1.5, 2]]);

    // A register index does not combine across meters.
    const reg = await get(`/v1/aggregate?${q({ ...day, channel: '1.8.1' })}`, 'trader');
    expect(reg.statusCode).toBe(400);
    expect(reg.json().message).toMatch(/active_import_register_t1 is a register channel aggregated by its last value/);
  });

  describe('user-defined channels', () => {
    it('PUT /v1/channels/:name defines a channel with a code from 1000; ingest resolves it by name and OBIS; GET lists it', async () => {
      const created = await put('active_import_register_t4', { unit: 'kWh', kind: 'register', obis: '1.8.4', meaning: 'import register, tariff 4' });
      expect(created.statusCode, created.body).toBe(201);
      const def = created.json();
      expect(def).toEqual({
        name: 'active_import_register_t4',
        code: def.code,
        unit: 'kWh',
        kind: 'register',
        aggregation: 'last',
        commodities: ['electricity'],
        obis: '1-0:1.8.4',
        alsoObis: [],
        meaning: 'import register, tariff 4',
        builtin: false,
      });
      expect(def.code).toBeGreaterThanOrEqual(1000);
      expect(resolveChannel('1-0:1.8.4*255')?.code).toBe(def.code);

      const again = await put('active_import_register_t4', { unit: 'kWh', kind: 'register', obis: '1-0:1.8.4', meaning: 'T4' });
      expect(again.statusCode).toBe(200);
      expect(again.json()).toMatchObject({ code: def.code, meaning: 'T4' });

      const second = await put('frequency', { unit: 'Hz', kind: 'instantaneous', obis: '1-0:14.7.0' });
      expect(second.statusCode).toBe(201);
      expect(second.json()).toMatchObject({ aggregation: 'mean', code: def.code + 1 });

      const res = await post([
        { meter: 'TT1', channel: '1.8.4', start: '2026-02-01T00:00:00+03:00', value: 12.5 },
        { meter: 'V1', channel: 'frequency', start: '2026-03-02T00:00:00+03:00', value: 49.98 },
        { meter: 'V1', channel: '14.7.0', start: '2026-03-02T01:00:00+03:00', value: 50.02 },
        { meter: 'V1', channel: 'no_such_channel', start: '2026-03-02T01:00:00+03:00', value: 1 },
      ]);
      expect(res.json()).toMatchObject({ accepted: 3 });
      expect(res.json().rejected[0].reason).toMatch(/^unknown channel "no_such_channel": known channels: .*active_import_register_t4, frequency/);

      const t4 = await get(`/v1/meters/TT1/readings?${q({ channel: 'active_import_register_t4', from: '2026-02-01T00:00:00+03:00', to: '2026-02-02T00:00:00+03:00' })}`);
      expect(t4.statusCode, t4.body).toBe(200);
      expect(t4.json()).toMatchObject({ channel: 'active_import_register_t4', unit: 'kWh', rows: [{ value: 12.5 }] });
      const hz = await get(`/v1/meters/V1/readings?${q({ channel: 'frequency', from: '2026-03-02T00:00:00+03:00', to: '2026-03-03T00:00:00+03:00', interval: 'day' })}`);
      expect(hz.json().rows.map((r: { value: number }) => r.value)).toEqual([50]);

      const list = (await get('/v1/channels')).json().channels as { name: string; builtin: boolean }[];
      expect(list.filter((c) => !c.builtin).map((c) => c.name)).toEqual(['active_import_register_t4', 'frequency']);
    });

    it('refuses a bad or taken name, a taken or malformed OBIS code, and non-admin roles', async () => {
      const cases: [string, unknown, number, RegExp][] = [
        ['voltage_l1', { unit: 'V', kind: 'instantaneous' }, 409, /built-in channel/],
        ['Bad-Name', { unit: 'V', kind: 'instantaneous' }, 400, /lower-case letters/],
        ['l1_volts', { unit: 'V', kind: 'instantaneous', obis: '1-0:32.7.0*255' }, 409, /obis 1-0:32.7.0 already belongs to channel voltage_l1/],
        ['t4_again', { unit: 'kWh', kind: 'register', obis: '1.0.1.8.4.255' }, 409, /already belongs to channel active_import_register_t4/],
        ['odd', { unit: 'kWh', kind: 'register', obis: '1.8' }, 400, /not an OBIS code/],
        ['old', { unit: 'kWh', kind: 'register', obis: '1.8.5*01' }, 400, /billing-period value/],
        ['weird', { unit: 'kWh', kind: 'gauge' }, 400, /kind/],
        ['extra', { unit: 'kWh', kind: 'register', colour: 'red' }, 400, /colour|unrecognized/i],
      ];
      for (const [name, body, status, message] of cases) {
        const res = await put(name, body);
        expect(res.statusCode, `${name}: ${res.body}`).toBe(status);
        expect(res.json().message, name).toMatch(message);
      }
      expect((await put('mine', { unit: 'V', kind: 'instantaneous' }, 'operator')).statusCode).toBe(403);
      expect((await put('mine', { unit: 'V', kind: 'instantaneous' }, 'gateway')).statusCode).toBe(403);
    });
  });
});
