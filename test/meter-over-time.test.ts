import { createVeeWorker } from '../ingest/vee/vee-worker.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metersInSupply, resolveTarget } from '../forecast/target.js';
import { maintainBillingRollup } from '../sql/billing-rollup.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * Issue 16's proof on every flavour, figures hand-computed:
 *
 * - EX (Istanbul, UTC+3, hourly, 6 register digits): 1 kWh every hour of March 2026 (744 kWh). Its device OLD reads
 *   999 900 at 1 March 00:00 and +24 a day, rolling over 1 000 000 → 0 on the 5th; it is exchanged on 10 March 12:00
 *   local (09:00Z) at the final read 128 (999 900 + 9.5 × 24 = 1 000 128); NEW starts at 0 and reads 12 at 11 March
 *   00:00, +24 a day, 516 at 1 April 00:00. Registers: OLD 228 + NEW 516 = 744 kWh, as the intervals.
 * - K (Istanbul, hourly): 1 kWh every hour of March; multiplier 1, 40 from 16 March: 15 × 24 × 1 + 16 × 24 × 40 = 15 720 kWh.
 * - Portfolio P: A (member since always) and B (in OTHER, joins P on 1 March 2026): 1 MWh an hour each on 28 February
 *   and 1 March; B is in March's imbalance and forecasts, not February's.
 */
const DAY = 86_400_000;
const MAR = Date.parse('2026-03-01T00:00:00+03:00');

function hourly(meter: string, fromMs: number, hours: number, value: number) {
  return Array.from({ length: hours }, (_, h) => ({ meter, channel: 'active_import', start: new Date(fromMs + h * 3_600_000).toISOString(), value }));
}

describe.each(FLAVOURS)('meters over time: exchanges, dated multiplier and membership in figures (%s)', (flavour) => {
  let t: TestApp;
  const get = (url: string, role: 'admin' | 'billing' | 'trader' = 'admin') => t.app.inject({ method: 'GET', url, headers: t.auth(role) });
  const send = (method: 'POST' | 'PUT', url: string, payload: unknown) => t.app.inject({ method, url, headers: t.auth('admin'), payload: payload as object });

  beforeAll(async () => {
    t = await testApp(flavour);
    const meters = await send('PUT', '/v1/meters', [
      { id: 'EX', timezone: 'Europe/Istanbul', registerDigits: 6 },
      { id: 'K', timezone: 'Europe/Istanbul' },
      { id: 'T', timezone: 'Europe/Istanbul' },
      { id: 'A', portfolio: 'P', timezone: 'Europe/Istanbul' },
      { id: 'B', portfolio: 'OTHER', timezone: 'Europe/Istanbul' },
    ]);
    expect(meters.json()).toMatchObject({ created: 5, rejected: [] });
    const registers: { meter: string; channel: string; start: string; value: number }[] = [];
    const reg = (ms: number, value: number) => registers.push({ meter: 'EX', channel: 'active_import_register', start: new Date(ms).toISOString(), value });
    for (let d = 0; d <= 9; d++) reg(MAR + d * DAY, (999_900 + 24 * d) % 1_000_000);
    for (let d = 10; d <= 31; d++) reg(MAR + d * DAY, 12 + 24 * (d - 10));
    const feb28 = MAR - DAY;
    const readings = [...hourly('EX', MAR, 744, 1), ...hourly('K', MAR, 744, 1), ...hourly('T', MAR, 744, 1), ...hourly('A', feb28, 48, 1000), ...hourly('B', feb28, 48, 1000), ...registers];
    const stored = await send('POST', '/v1/readings', { readings });
    expect(stored.json()).toMatchObject({ accepted: readings.length, rejected: [] });
    const changes = await send('POST', '/v1/meters/changes', {
      changes: [
        { action: 'exchange', meter: 'EX', at: '2026-03-10T12:00:00+03:00', finalRead: 128, initialRead: 0, device: { serial: 'NEW', registerDigits: 6 } },
        { action: 'set', meter: 'K', attribute: 'multiplier', value: 40, date: '2026-03-16' },
        { action: 'set', meter: 'T', attribute: 'tariff', value: 'three-time', date: '2026-03-16' },
        { action: 'leave', meter: 'B', portfolio: 'OTHER', date: '2026-03-01' },
        { action: 'join', meter: 'B', portfolio: 'P', date: '2026-03-01' },
      ],
    });
    expect(changes.json()).toEqual({ applied: 5, rejected: [] });
    const prices = await send('PUT', '/v1/market/prices', {
      area: 'TR',
      currency: 'TRY',
      prices: Array.from({ length: 48 }, (_, h) => ({ start: new Date(feb28 + h * 3_600_000).toISOString(), ptf: 100, smf: 120 })),
    });
    expect(prices.statusCode).toBe(200);
  });
  afterAll(() => t?.close());

  const consumption = async (meter: string, period: string, asOf?: string) => {
    const res = await get(`/v1/billing/consumption?period=${period}&meters=${meter}${asOf ? `&asOf=${encodeURIComponent(asOf)}` : ''}`, 'billing');
    expect(res.statusCode).toBe(200);
    return res.json().meters[0];
  };

  it('a device exchange mid-month: the intervals bill 744 kWh, the registers the same device by device (rollover, no negative delta)', async () => {
    expect((await consumption('EX', '2026-03')).activeImport).toBe(744);
    const res = await get('/v1/meters/EX/register-consumption?period=2026-03', 'billing');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.energy).toBe(744);
    expect(body.devices.map((d: { serial: string; startRead: number; endRead: number; rollovers: number; delta: number }) => [d.serial, d.startRead, d.endRead, d.rollovers, d.delta])).toEqual([
      ['EX', 999_900, 128, 1, 228],
      ['NEW', 0, 516, 0, 516],
    ]);
    expect(body.devices.map((d: { from: string; to: string }) => [d.from, d.to])).toEqual([
      ['2026-02-28T21:00:00.000Z', '2026-03-10T09:00:00.000Z'],
      ['2026-03-10T09:00:00.000Z', '2026-03-31T21:00:00.000Z'],
    ]);
  });

  it('VEE reads the registers device by device: the old register’s rollover is a warn, the drop to the new device’s reads at the exchange is not a reset', async () => {
    const worker = createVeeWorker({ database: t.database, now: () => Date.now() });
    while ((await worker.drainOnce()) > 0);
    const issues = await t.database.db
      .selectFrom('validation_issues as v')
      .innerJoin('meters as m', 'm.id', 'v.meter_id')
      .select(['v.rule', 'v.severity', 'v.detail'])
      .where('m.external_id', '=', 'EX')
      .where('v.rule', 'in', ['register', 'sum_check'])
      .orderBy('v.id')
      .execute();
    expect(issues).toEqual([{ rule: 'register', severity: 'warn', detail: 'register rolled over from 999996 to 20 (wraps at 1000000): consumption 24' }]);
  });

  it('a multiplier change mid-month splits the month: 15 days × 1 + 16 days × 40, from the readings and from the rollup', async () => {
    const march = await consumption('K', '2026-03');
    expect(march.activeImport).toBe(15 * 24 + 16 * 24 * 40);
    expect(march.maxDemand).toEqual({ kw: 40, at: '2026-03-16T00:00:00+03:00' });
    expect(march.parts.map((p: { from: string; to: string; multiplier: number; activeImport: number }) => [p.from, p.to, p.multiplier, p.activeImport])).toEqual([
      ['2026-03-01T00:00:00+03:00', '2026-03-16T00:00:00+03:00', 1, 360],
      ['2026-03-16T00:00:00+03:00', '2026-04-01T00:00:00+03:00', 40, 15_360],
    ]);
    expect(march.completeness).toBe(1);
    await maintainBillingRollup(t.database);
    expect(await consumption('K', '2026-03')).toEqual(march);
    // asOf covers the registry: at the data version (which covers the change) the same figures; just before the change, multiplier 1 all month.
    expect(await consumption('K', '2026-03', march.dataVersion)).toEqual(march);
    const registry = (await get('/v1/meters/K/attributes')).json().versions.find((v: { attribute: string; validFrom: string | null }) => v.attribute === 'multiplier' && v.validFrom);
    expect(Date.parse(march.dataVersion)).toBeGreaterThanOrEqual(Date.parse(registry.recordedAt));
    const asBefore = await consumption('K', '2026-03', new Date(Date.parse(registry.recordedAt) - 1).toISOString());
    expect(asBefore.parts).toBeUndefined();
    expect(asBefore.activeImport).toBe(744);
    expect(asBefore.maxDemand).toEqual({ kw: 1, at: '2026-03-01T00:00:00+03:00' });
  });

  it('a tariff change mid-month: single-rate until the 15th, three-time TOU buckets from the 16th (T1 06–17, T2 17–22, T3 22–06 local)', async () => {
    const march = await consumption('T', '2026-03');
    expect(march.activeImport).toBe(744);
    expect(march.tou).toEqual({ T1: 16 * 11, T2: 16 * 5, T3: 16 * 8 });
    expect(march.parts.map((p: { tariff: string; activeImport: number; tou?: object }) => [p.tariff, p.activeImport, p.tou])).toEqual([
      ['single', 360, undefined],
      ['three-time', 384, { T1: 176, T2: 80, T3: 128 }],
    ]);
    expect((await consumption('T', '2026-02')).tou).toBeUndefined(); // February: single-rate
  });

  it('a member joining on the 1st is in that month’s imbalance and not the month before', async () => {
    const feb = (await get('/v1/imbalance/meters?portfolio=P&period=2026-02&sort=meter&order=asc', 'trader')).json();
    expect(feb.meters.map((m: { meter: string }) => m.meter)).toEqual(['A']);
    expect(feb.meters[0].energyMWh).toBe(24);
    const mar = (await get('/v1/imbalance/meters?portfolio=P&period=2026-03&sort=meter&order=asc', 'trader')).json();
    expect(mar.meters.map((m: { meter: string; energyMWh: number }) => [m.meter, m.energyMWh])).toEqual([
      ['A', 24],
      ['B', 24],
    ]);
    // OTHER keeps B for February only.
    const other = (await get('/v1/imbalance/meters?portfolio=OTHER&period=2026-02&sort=meter&order=asc', 'trader')).json();
    expect(other.meters.map((m: { meter: string; energyMWh: number }) => [m.meter, m.energyMWh])).toEqual([['B', 24]]);
    expect((await get('/v1/imbalance/meters?portfolio=OTHER&period=2026-03', 'trader')).json().meters).toEqual([]);
  });

  it('a member joining on the 1st is forecast with the portfolio for that month and not before', async () => {
    const r = await resolveTarget(t.database, { kind: 'portfolio', id: 'P' });
    if (!r.ok) throw new Error(r.reason);
    const ids = (fromMs: number) => metersInSupply(r.target.meters, fromMs, fromMs + DAY).map((m) => m.externalId);
    expect(ids(MAR - DAY)).toEqual(['A']);
    expect(ids(MAR)).toEqual(['A', 'B']);
    const other = await resolveTarget(t.database, { kind: 'portfolio', id: 'OTHER' });
    if (!other.ok) throw new Error(other.reason);
    expect(metersInSupply(other.target.meters, MAR, MAR + DAY)).toEqual([]);
  });

  it('the aggregate of a portfolio counts a member only from the day it joined', async () => {
    const from = encodeURIComponent('2026-02-28T00:00:00+03:00');
    const to = encodeURIComponent('2026-03-02T00:00:00+03:00');
    const p = (await get(`/v1/aggregate?portfolio=P&channel=active_import&interval=day&from=${from}&to=${to}`, 'trader')).json();
    expect(p.rows.map((r: { start: string; value: number; meters: number }) => [r.start, r.value, r.meters])).toEqual([
      ['2026-02-28T00:00:00+03:00', 24_000, 1],
      ['2026-03-01T00:00:00+03:00', 48_000, 2],
    ]);
    const other = (await get(`/v1/aggregate?portfolio=OTHER&channel=active_import&interval=day&from=${from}&to=${to}`, 'trader')).json();
    expect(other.rows.map((r: { start: string; value: number; meters: number }) => [r.start, r.value, r.meters])).toEqual([['2026-02-28T00:00:00+03:00', 24_000, 1]]);
  });

  it('billing by portfolio takes the members of the period', async () => {
    const feb = (await get('/v1/billing/consumption?period=2026-02&portfolio=P', 'billing')).json();
    expect(feb.meters.map((m: { meter: string }) => m.meter)).toEqual(['A']);
    const mar = (await get('/v1/billing/consumption?period=2026-03&portfolio=P', 'billing')).json();
    expect(mar.meters.map((m: { meter: string }) => m.meter)).toEqual(['A', 'B']);
  });
});
