import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../models/api-key.js';
import { gasEnergy } from '../models/gas/energy.js';
import { calorificPeriods } from '../sql/calorific-value.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * Gas areas and calorific values over the API on real databases (issue 15):
 * presets, row-level rejects with reasons, versions (superseded / unchanged),
 * asOf and history, role checks, and the repository read billing uses.
 */
describe.each(FLAVOURS)('gas areas and calorific values API (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
  });
  afterAll(() => t?.close());

  const put = (area: string, body: unknown, role: Role = 'admin') => t.app.inject({ method: 'PUT', url: `/v1/gas-areas/${area}`, headers: t.auth(role), payload: body as object });
  const post = (values: unknown, role: Role = 'steward') => t.app.inject({ method: 'POST', url: '/v1/calorific-values', headers: t.auth(role), payload: { values } as object });
  const get = (url: string, role: Role = 'billing') => t.app.inject({ method: 'GET', url, headers: t.auth(role) });
  const JAN = '/v1/calorific-values?area=TR-IST&from=2026-01-01T00:00:00%2B03:00&to=2026-03-01T00:00:00%2B03:00';

  it('creates an area from a preset (201), replaces it (200), lists it', async () => {
    const first = await put('TR-IST', { preset: 'TR', name: 'İstanbul distribution' });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toEqual({
      code: 'TR-IST',
      name: 'İstanbul distribution',
      timezone: 'Europe/Istanbul',
      baseTemperatureC: 15,
      basePressureBar: 1.01325,
      combustionTemperatureC: 15,
      gasDayStartHour: 8,
      atmosphericPressureBar: 1.01325,
      note: null,
    });
    const again = await put('TR-IST', { preset: 'TR', name: 'İstanbul distribution', atmosphericPressureBar: 1.0 });
    expect(again.statusCode).toBe(200);
    expect(again.json().atmosphericPressureBar).toBe(1.0);
    expect((await put('NCG', { preset: 'EU', timezone: 'Europe/Berlin' })).statusCode).toBe(201);
    const list = await get('/v1/gas-areas');
    expect(list.json().areas.map((a: { code: string; gasDayStartHour: number }) => [a.code, a.gasDayStartHour])).toEqual([
      ['NCG', 6],
      ['TR-IST', 8],
    ]);
    expect((await get('/v1/gas-areas/NCG')).json()).toMatchObject({ baseTemperatureC: 0, combustionTemperatureC: 25 });
    expect((await get('/v1/gas-areas/NOPE')).statusCode).toBe(404);
  });

  it('refuses a bad area with a 400 and its reason', async () => {
    const missing = await put('X1', { timezone: 'Europe/Istanbul' });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().message).toContain('baseTemperatureC, basePressureBar, combustionTemperatureC, gasDayStartHour missing');
    expect((await put('X1', { preset: 'TR', timezone: 'Mars/Olympus' })).json().message).toContain('IANA');
    expect((await put('X1', { preset: 'TR', gasDayStartHour: 24 })).statusCode).toBe(400);
    expect((await put('X1', { preset: 'TR', basePressureBar: -1 })).statusCode).toBe(400);
    expect((await put('bad code!', { preset: 'TR' })).statusCode).toBe(400);
    expect((await put('X1', { preset: 'TR', extra: 1 })).statusCode).toBe(400);
  });

  it('role checks: admin and steward write, billing reads, trader neither', async () => {
    expect((await put('TR-ANK', { preset: 'TR' }, 'billing')).statusCode).toBe(403);
    expect((await post([{ area: 'TR-IST', validFrom: '2026-01-01', validTo: '2026-02-01', value: 10.6 }], 'billing')).statusCode).toBe(403);
    expect((await get('/v1/gas-areas', 'trader')).statusCode).toBe(403);
    expect((await get('/v1/gas-areas', 'steward')).statusCode).toBe(200);
    expect((await t.app.inject({ method: 'GET', url: '/v1/gas-areas' })).statusCode).toBe(401);
  });

  it('stores a month per gas day, in kcal/m³ as Turkey publishes, with row-level rejects', async () => {
    const res = await post([
      { area: 'TR-IST', validFrom: '2026-01-01', validTo: '2026-02-01', value: 9155, unit: 'kcal/m3', source: 'distributor' },
      { area: 'TR-IST', validFrom: '2026-02-01', validTo: '2026-03-01', value: 10.7 },
      { area: 'NOPE', validFrom: '2026-01-01', validTo: '2026-02-01', value: 10.6 },
      { area: 'TR-IST', validFrom: '2026-03-01', validTo: '2026-02-01', value: 10.6 },
      { area: 'TR-IST', validFrom: '2026-03-01', validTo: '2026-04-01', value: 9155 },
      { area: 'TR-IST', validFrom: '2026-01-15', validTo: '2026-01-20', value: 10.6 },
      { area: 'TR-IST', validFrom: '2026-02-30', validTo: '2026-04-01', value: 10.6 },
      { area: 'TR-IST', validFrom: '2026-04-01', validTo: '2027-06-01', value: 10.6 },
      { area: 'TR-IST', validFrom: '2026-04-01T00:00:00', validTo: '2026-05-01', value: 10.6 },
      { area: 'TR-IST', validFrom: '2026-04-01', validTo: '2026-05-01', value: 'ten' },
      'not an object',
    ]);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ inserted: 2, superseded: 0, unchanged: 0, rejectedCount: 9 });
    const reasons = Object.fromEntries(body.rejected.map((r: { index: number; reason: string }) => [r.index, r.reason]));
    expect(reasons[2]).toContain('gas area "NOPE" is not defined');
    expect(reasons[3]).toContain('validTo (2026-02-01) must be after validFrom');
    expect(reasons[4]).toContain('check the unit');
    expect(reasons[5]).toContain('overlaps the stored superior value');
    expect(reasons[6]).toContain('validFrom');
    expect(reasons[7]).toContain('at most 400');
    expect(reasons[8]).toContain('offset');
    expect(reasons[9]).toContain('value');
    expect(reasons[10]).toBeDefined();
    const stored = (await get(JAN)).json();
    expect(stored.unit).toBe('kWh/m3');
    expect(stored.values).toMatchObject([
      {
        kind: 'superior',
        // A gas day month: from 08:00 on the 1st (the TR gas day start) to 08:00 on the 1st of the next month.
        validFrom: '2026-01-01T08:00:00+03:00',
        validTo: '2026-02-01T08:00:00+03:00',
        valueReceived: 9155,
        unitReceived: 'kcal/m3',
        version: 1,
        current: true,
        source: 'distributor',
        receivedBy: 'test-steward',
        supersededAt: null,
      },
      { validFrom: '2026-02-01T08:00:00+03:00', kwhPerM3: 10.7, version: 1 },
    ]);
    expect(stored.values[0].kwhPerM3).toBeCloseTo(10.647265, 6);
  });

  it('a batch with only bad rows is a 400 with every reason; a malformed body too', async () => {
    const res = await post([{ area: 'TR-IST', validFrom: 'yesterday', validTo: '2026-02-01', value: 10 }]);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'MDM_ERR_INVALID_ROWS', details: { count: 1, rejected: [{ index: 0, reason: expect.stringContaining('validFrom') }] } });
    expect((await post([])).statusCode).toBe(400);
    expect((await t.app.inject({ method: 'POST', url: '/v1/calorific-values', headers: t.auth('admin'), payload: { rows: [] } })).statusCode).toBe(400);
    expect((await get('/v1/calorific-values?area=TR-IST&from=2026-01-01&to=2026-02-01T00:00:00Z')).statusCode).toBe(400);
    expect((await get('/v1/calorific-values?area=NOPE&from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z')).statusCode).toBe(404);
  });

  it('identical re-upload is unchanged; a different value supersedes and keeps the old version (history, asOf)', async () => {
    const before = (await get(JAN)).json().values[0];
    const same = await post([{ area: 'TR-IST', validFrom: '2026-01-01', validTo: '2026-02-01', value: 9155, unit: 'kcal/m3' }]);
    expect(same.json()).toMatchObject({ inserted: 0, superseded: 0, unchanged: 1, rejectedCount: 0 });
    const corrected = await post([{ area: 'TR-IST', validFrom: '2026-01-01', validTo: '2026-02-01', value: 10.61, source: 'corrected by the distributor' }]);
    expect(corrected.json()).toMatchObject({ inserted: 0, superseded: 1, unchanged: 0 });

    const now = (await get(JAN)).json().values;
    expect(now.map((v: { kwhPerM3: number; version: number }) => [v.kwhPerM3, v.version])).toEqual([
      [10.61, 2],
      [10.7, 1],
    ]);
    // As of the first version's arrival the bill used 9155 kcal/m³.
    const then = (await get(`${JAN}&asOf=${encodeURIComponent(before.receivedAt)}`)).json().values;
    expect(then.map((v: { valueReceived: number; version: number; current: boolean }) => [v.valueReceived, v.version, v.current])).toEqual([
      [9155, 1, false],
      [10.7, 1, true],
    ]);
    const history = (await get(`${JAN}&history=true`)).json().values;
    expect(history.map((v: { version: number; supersededAt: string | null }) => [v.version, v.supersededAt !== null])).toEqual([
      [1, true],
      [2, false],
      [1, false],
    ]);
    // Before anything arrived: nothing.
    expect((await get(`${JAN}&asOf=2020-01-01T00:00:00Z`)).json().values).toEqual([]);
  });

  it('rows of one batch are checked against each other: an overlap or a second row for a period is rejected; a typo in a field name too', async () => {
    const res = await post([
      { area: 'NCG', validFrom: '2026-04-01', validTo: '2026-05-01', value: 11.2, unit: 'kWh/m3' },
      { area: 'NCG', validFrom: '2026-04-15', validTo: '2026-05-15', value: 11.3 },
      { area: 'NCG', validFrom: '2026-04-01', validTo: '2026-05-01', value: 11.4 },
      { area: 'NCG', validFrom: '2026-05-01', validTo: '2026-06-01', valu: 11.4 },
      { area: 'NCG', kind: 'inferior', validFrom: '2026-04-15', validTo: '2026-05-15', value: 40.5, unit: 'MJ/m3' },
    ]);
    expect(res.json()).toMatchObject({ inserted: 2, rejectedCount: 3 });
    const reasons = res.json().rejected.map((r: { index: number; reason: string }) => [r.index, r.reason]);
    expect(reasons[0]).toEqual([1, expect.stringContaining('overlaps the stored superior value')]);
    expect(reasons[1]).toEqual([2, expect.stringContaining('as row 0')]);
    expect(reasons[2][0]).toBe(3);
    const inferior = (await get('/v1/calorific-values?area=NCG&kind=inferior&from=2026-04-01T00:00:00Z&to=2026-06-01T00:00:00Z')).json().values;
    // 06:00 Berlin summer time on 15 April is 04:00 UTC; 40.5 MJ = 11.25 kWh.
    expect(inferior).toMatchObject([{ kind: 'inferior', validFrom: '2026-04-15T06:00:00+02:00', kwhPerM3: 11.25 }]);
  });

  it('the repository read billing uses feeds gasEnergy', async () => {
    const periods = await calorificPeriods(t.database, { area: 'TR-IST', kind: 'superior', from: new Date('2026-01-01T00:00:00Z'), to: new Date('2026-03-01T00:00:00Z') });
    expect(periods.map((p) => [p.kwhPerM3, p.version])).toEqual([
      [10.61, 2],
      [10.7, 1],
    ]);
    // 07:00 local on 1 February is still the January gas day (the gas day starts at 08:00).
    const r = gasEnergy(
      [
        { startMs: Date.parse('2026-02-01T07:00:00+03:00'), vb: 10 },
        { startMs: Date.parse('2026-02-01T08:00:00+03:00'), vb: 10 },
      ],
      periods,
    );
    expect(r.ok && r.intervals.map((i) => i.kwhPerM3)).toEqual([10.61, 10.7]);
  });
});
