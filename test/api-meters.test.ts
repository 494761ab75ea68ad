import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../models/api-key.js';
import type { MeterOut } from '../models/meter.js';
import { createApiKey } from '../sql/api-key.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

describe.each(FLAVOURS)('meters API (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
  });
  afterAll(() => t?.close());

  const put = (body: unknown, headers: Record<string, string> = t.auth('admin')) => t.app.inject({ method: 'PUT', url: '/v1/meters', headers, payload: body as object });
  const get = (url: string, role: Role = 'viewer') => t.app.inject({ method: 'GET', url, headers: t.auth(role) });
  const getMeter = async (id: string): Promise<MeterOut> => {
    const res = await get(`/v1/meters/${encodeURIComponent(id)}`);
    expect(res.statusCode).toBe(200);
    return res.json();
  };

  it('creates meters with defaults and returns them one by one', async () => {
    const res = await put([
      { id: 'E-001', group: 'north', portfolio: 'P1', profileClass: 'residential', labels: { feeder: 'F7' } },
      { id: 'E-002', group: 'north', portfolio: 'P2', timezone: 'Europe/Warsaw', intervalMinutes: 15, multiplier: 40, tariff: 'three-time' },
      { id: 'G-ABC-1', commodity: 'gas', group: 'south', portfolio: 'P1', supplyStart: '2026-01-01', supplyEnd: '2026-12-31', region: 'Bogazici' },
      { id: 'WS-ist', commodity: 'weather', group: 'south' },
    ]);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ created: 4, updated: 0, unchanged: 0, rejected: [] });

    const e1 = await getMeter('E-001');
    expect(e1).toMatchObject({
      id: 'E-001',
      commodity: 'electricity',
      timezone: 'Europe/Istanbul',
      intervalMinutes: 60,
      multiplier: 1,
      group: 'north',
      portfolio: 'P1',
      profileClass: 'residential',
      tariff: 'single',
      region: null,
      labels: { feeder: 'F7' },
      supplyStart: null,
      supplyEnd: null,
      weatherStation: null,
    });
    expect(Date.parse(e1.createdAt)).not.toBeNaN();
    expect(await getMeter('E-002')).toMatchObject({ timezone: 'Europe/Warsaw', intervalMinutes: 15, multiplier: 40, tariff: 'three-time' });
    expect(await getMeter('G-ABC-1')).toMatchObject({ commodity: 'gas', supplyStart: '2026-01-01', supplyEnd: '2026-12-31', region: 'Bogazici' });
  });

  it('counts updated and unchanged meters; only changed ones move updatedAt; a PUT replaces the whole meter', async () => {
    const before = { e1: await getMeter('E-001'), e2: await getMeter('E-002') };
    await new Promise((r) => setTimeout(r, 5)); // updatedAt has millisecond resolution in the API
    const res = await put([
      { id: 'E-001', group: 'north', portfolio: 'P1', profileClass: 'residential', labels: { feeder: 'F7' } }, // as stored
      { id: 'E-002', group: 'north', timezone: 'Europe/Warsaw', intervalMinutes: 15, multiplier: 80, tariff: 'three-time' }, // multiplier changed, portfolio left out
    ]);
    expect(res.json()).toEqual({ created: 0, updated: 1, unchanged: 1, rejected: [] });

    const e1 = await getMeter('E-001');
    expect(e1.updatedAt).toBe(before.e1.updatedAt);
    const e2 = await getMeter('E-002');
    expect(e2).toMatchObject({ multiplier: 80, portfolio: null });
    expect(e2.createdAt).toBe(before.e2.createdAt);
    expect(Date.parse(e2.updatedAt)).toBeGreaterThan(Date.parse(before.e2.updatedAt));

    // Put the portfolio back for the listing tests below.
    expect((await put([{ ...stripOut(e2), portfolio: 'P2' }])).json()).toMatchObject({ updated: 1 });
  });

  it('stores the valid rows and rejects the bad ones with the field and reason', async () => {
    const res = await put([
      { id: 'BAD-TZ', timezone: 'Mars/Olympus_Mons' },
      { id: 'OK-1', group: 'east' },
      { id: 'BAD-COMMODITY', commodity: 'oil' },
      { id: 'BAD-INTERVAL', intervalMinutes: 45 },
      { id: 'BAD-SUPPLY', supplyStart: '2026-06-01', supplyEnd: '2026-05-31' },
      { id: 'OK-1', group: 'west' },
      { commodity: 'gas' },
      'E-009',
      { id: 'BAD-FIELD', colour: 'blue' },
      { id: 'OK-2', group: 'east' },
    ]);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ created: 2, updated: 0, unchanged: 0 });
    expect(body.rejected.map((r: { index: number }) => r.index)).toEqual([0, 2, 3, 4, 5, 6, 7, 8]);
    const reason = (i: number) => body.rejected.find((r: { index: number }) => r.index === i).reason;
    expect(reason(0)).toMatch(/^timezone: unknown IANA time zone/);
    expect(reason(2)).toMatch(/^commodity: .*"electricity"\|"gas"/);
    expect(reason(3)).toBe('intervalMinutes: must be 15, 30 or 60, got 45');
    expect(reason(4)).toBe('supplyEnd: must not be before supplyStart');
    expect(reason(5)).toMatch(/^id: duplicate of row 1/);
    expect(reason(6)).toMatch(/^id: is required/);
    expect(reason(7)).toMatch(/^row must be a meter object/);
    expect(reason(8)).toMatch(/unknown field "colour"/);

    expect((await getMeter('OK-1')).group).toBe('east'); // the first of the duplicates stands
    for (const id of ['BAD-TZ', 'BAD-COMMODITY', 'BAD-INTERVAL', 'BAD-SUPPLY', 'BAD-FIELD']) {
      expect((await get(`/v1/meters/${id}`)).statusCode).toBe(404);
    }
  });

  it('answers 400 for a body that is not an array', async () => {
    for (const json of ['{"id":"E-001"}', '"E-001"', 'null', '42']) {
      const res = await t.app.inject({ method: 'PUT', url: '/v1/meters', headers: { ...t.auth('admin'), 'content-type': 'application/json' }, payload: json });
      expect(res.statusCode, json).toBe(400);
      expect(res.json()).toMatchObject({ error: 'MDM_ERR_VALIDATION', message: expect.stringMatching(/array/) });
    }
  });

  it('answers 404 with the catalogue message for an unknown meter', async () => {
    const res = await get('/v1/meters/NOPE-1');
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({ error: 'MDM_ERR_UNKNOWN_METER', message: 'meter "NOPE-1" is not registered: register it with PUT /v1/meters first' });
  });

  // Registry so far: E-001 north/P1, E-002 north/P2, G-ABC-1 gas south/P1, OK-1 east, OK-2 east, WS-ist weather south.
  it('lists meters with each filter', async () => {
    const ids = async (query: string) => {
      const res = await get(`/v1/meters${query}`);
      expect(res.statusCode).toBe(200);
      return (res.json().meters as MeterOut[]).map((m) => m.id);
    };
    expect(await ids('')).toEqual(['E-001', 'E-002', 'G-ABC-1', 'OK-1', 'OK-2', 'WS-ist']);
    expect(await ids('?group=north')).toEqual(['E-001', 'E-002']);
    expect(await ids('?portfolio=P1')).toEqual(['E-001', 'G-ABC-1']);
    expect(await ids('?commodity=gas')).toEqual(['G-ABC-1']);
    expect(await ids('?commodity=weather&group=south')).toEqual(['WS-ist']);
    expect(await ids('?q=abc')).toEqual(['G-ABC-1']);
    expect(await ids('?q=IST')).toEqual(['WS-ist']);
    expect(await ids('?q=%25')).toEqual([]); // a literal %, not a wildcard
    expect(await ids('?group=north&portfolio=P2')).toEqual(['E-002']);
    expect(await ids('?group=nowhere')).toEqual([]);
    const full = (await get('/v1/meters?group=north')).json();
    expect(full.nextCursor).toBeNull();
    expect(full.meters[0]).toMatchObject({ id: 'E-001', labels: { feeder: 'F7' } });
  });

  it('pages through the registry with the cursor', async () => {
    const seen: string[] = [];
    const cursors: (string | null)[] = [];
    let url = '/v1/meters?limit=4';
    for (;;) {
      const page = (await get(url, 'billing')).json();
      expect(page.meters.length).toBeLessThanOrEqual(4);
      seen.push(...page.meters.map((m: MeterOut) => m.id));
      cursors.push(page.nextCursor);
      if (!page.nextCursor) break;
      url = `/v1/meters?limit=4&cursor=${encodeURIComponent(page.nextCursor)}`;
    }
    expect(seen).toEqual(['E-001', 'E-002', 'G-ABC-1', 'OK-1', 'OK-2', 'WS-ist']);
    expect(cursors).toEqual(['OK-1', null]);
    // Exactly a page's worth: no empty page after it.
    const two = (await get('/v1/meters?group=north&limit=2')).json();
    expect(two.nextCursor).toBeNull();
    const filtered = (await get('/v1/meters?portfolio=P1&limit=1')).json();
    expect(filtered.meters.map((m: MeterOut) => m.id)).toEqual(['E-001']);
    const next = (await get(`/v1/meters?portfolio=P1&limit=1&cursor=${filtered.nextCursor}`)).json();
    expect(next).toMatchObject({ meters: [{ id: 'G-ABC-1' }], nextCursor: null });
  });

  it('rejects bad list parameters with 400', async () => {
    for (const q of ['limit=0', 'limit=1001', 'limit=ten', 'commodity=oil', 'colour=blue']) {
      const res = await get(`/v1/meters?${q}`);
      expect(res.statusCode, q).toBe(400);
      expect(res.json().error).toBe('MDM_ERR_VALIDATION');
    }
  });

  it('answers 401 without a key or with a bad one, 403 for the wrong role', async () => {
    const none = await t.app.inject({ method: 'GET', url: '/v1/meters' });
    expect(none.statusCode).toBe(401);
    expect(none.json().error).toBe('MDM_ERR_UNAUTHORIZED');
    const bad = await t.app.inject({ method: 'PUT', url: '/v1/meters', headers: { authorization: 'Bearer mdm_not-a-key' }, payload: [] });
    expect(bad.statusCode).toBe(401);
    for (const role of ['viewer', 'billing', 'trader'] as const) {
      const res = await put([{ id: 'X-403' }], t.auth(role));
      expect(res.statusCode, role).toBe(403);
      expect(res.json()).toMatchObject({ error: 'MDM_ERR_FORBIDDEN', message: expect.stringContaining(`role ${role} may not meters:write`) });
    }
    const gw = await get('/v1/meters', 'gateway');
    expect(gw.statusCode).toBe(403);
    expect((await get('/v1/meters/E-001', 'gateway')).statusCode).toBe(403);
    expect((await get('/v1/meters/X-403')).statusCode).toBe(404); // nothing was written
  });

  it('lets a gateway key write meters, and a scoped one only inside its scope', async () => {
    expect((await put([{ id: 'GW-FREE', group: 'south' }], t.auth('gateway'))).json()).toEqual({ created: 1, updated: 0, unchanged: 0, rejected: [] });

    const scoped = await createApiKey(t.database, { name: 'gw-north', role: 'gateway', scope: { groups: ['north'], meterPrefixes: ['NX-'] } });
    const headers = { authorization: `Bearer ${scoped.key}` };
    const res = await put(
      [
        { id: 'NX-1', group: 'south' }, // id prefix in scope
        { id: 'N-NEW', group: 'north' }, // group in scope
        { id: 'S-NEW', group: 'south' }, // neither
        { id: 'G-ABC-1', commodity: 'gas', group: 'north' }, // stored in south: may not pull it into north
        { id: 'E-001', group: 'north', portfolio: 'P1', profileClass: 'residential', labels: { feeder: 'F9' } }, // stored in north
        { id: 'N-BAD', group: 'north', intervalMinutes: 45 },
      ],
      headers,
    );
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ created: 2, updated: 1, unchanged: 0 });
    expect(body.rejected.map((r: { index: number }) => r.index)).toEqual([2, 3, 5]);
    expect(body.rejected[0].reason).toMatch(/"S-NEW" with group "south" is outside this key's scope \(groups north or id prefixes NX-\)/);
    expect(body.rejected[1].reason).toMatch(/"G-ABC-1" is registered in group "south", outside this key's scope/);
    expect(body.rejected[2].reason).toMatch(/^intervalMinutes:/);
    expect((await getMeter('G-ABC-1')).group).toBe('south');
    expect((await getMeter('E-001')).labels).toEqual({ feeder: 'F9' });
    expect((await get('/v1/meters/S-NEW')).statusCode).toBe(404);
  });

  it('lists meters with their status (last value, completeness, billable, alarms), filtered and sorted over the registry in keyset pages', async () => {
    expect((await put([{ id: 'ST-1' }, { id: 'ST-2' }, { id: 'ST-3' }])).json()).toMatchObject({ created: 3, rejected: [] });
    // January 2026 in Istanbul (UTC+3): 744 hours. ST-1 has them all, ST-2 the first half, ST-3 none.
    const from = Date.parse('2026-01-01T00:00:00+03:00');
    const hours = (meter: string, n: number) => Array.from({ length: n }, (_, i) => ({ meter, channel: 'active_import', start: new Date(from + i * 3_600_000).toISOString(), value: 1 + (i % 5) }));
    const readings = [...hours('ST-1', 744), ...hours('ST-2', 372)];
    const posted = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: { ...t.auth('gateway'), 'content-type': 'application/json' }, payload: { readings } });
    expect(posted.json()).toMatchObject({ accepted: readings.length });
    const ev = await t.app.inject({ method: 'POST', url: '/v1/events', headers: t.auth('gateway'), payload: { events: [{ meter: 'ST-3', code: 'tamper', at: '2026-01-10T10:00:00Z' }] } });
    expect(ev.json()).toMatchObject({ accepted: 1 });

    const list = async (query: string, role: Role = 'admin') => {
      const res = await get(`/v1/meters?q=ST-&period=2026-01&${query}`, role);
      expect(res.statusCode, res.body).toBe(200);
      return res.json() as { meters: (MeterOut & { status: Record<string, unknown> })[]; nextCursor: string | null; period: string; readinessComputedAt: string | null };
    };
    const ids = async (query: string, role: Role = 'admin') => (await list(query, role)).meters.map((m) => m.id);

    const page = await list('status=true');
    expect(page.period).toBe('2026-01');
    expect(Date.parse(page.readinessComputedAt!)).not.toBeNaN();
    const byId = Object.fromEntries(page.meters.map((m) => [m.id, m.status]));
    expect(byId['ST-1']).toEqual({ lastValueAt: '2026-01-31T20:00:00.000Z', lastValue: 1 + (743 % 5), lastChannel: 'active_import', completeness: 1, billable: true, openAlarms: 0 });
    expect(byId['ST-2']).toMatchObject({ lastValueAt: '2026-01-16T08:00:00.000Z', completeness: 0.5, billable: false, openAlarms: 0 });
    expect(byId['ST-3']).toMatchObject({ lastValueAt: null, lastValue: null, completeness: 0, billable: false, openAlarms: 1 });
    // The same figures as the billing readiness of the period.
    const readiness = (await get('/v1/billing/readiness?period=2026-01&meters=ST-1,ST-2,ST-3', 'admin')).json();
    expect(readiness.notBillable.map((n: { meter: string; completeness: number }) => [n.meter, n.completeness])).toEqual([
      ['ST-2', 0.5],
      ['ST-3', 0],
    ]);

    expect(await ids('sort=completeness')).toEqual(['ST-3', 'ST-2', 'ST-1']);
    expect(await ids('sort=completeness&order=desc')).toEqual(['ST-1', 'ST-2', 'ST-3']);
    expect(await ids('sort=lastValueAt&order=desc')).toEqual(['ST-1', 'ST-2', 'ST-3']); // no value: last in either order
    expect(await ids('sort=lastValueAt')).toEqual(['ST-2', 'ST-1', 'ST-3']);
    expect(await ids('sort=openAlarms&order=desc')).toEqual(['ST-3', 'ST-1', 'ST-2']);
    expect(await ids('sort=id&order=desc')).toEqual(['ST-3', 'ST-2', 'ST-1']);
    expect(await ids('completenessBelow=0.9')).toEqual(['ST-2', 'ST-3']);
    expect(await ids('completenessBelow=0.5')).toEqual(['ST-3']);
    expect(await ids('billable=false')).toEqual(['ST-2', 'ST-3']);
    expect(await ids('billable=true')).toEqual(['ST-1']);
    expect(await ids('billable=false&openAlarms=false')).toEqual(['ST-2']);

    // Keyset pages of one meter follow the sort to the end.
    for (const query of ['sort=completeness', 'sort=lastValueAt&order=desc', 'sort=openAlarms&order=desc', 'sort=id&order=desc']) {
      const seen: string[] = [];
      let cursor: string | null = '';
      while (cursor !== null) {
        const p = await list(`${query}&limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        seen.push(...p.meters.map((m) => m.id));
        cursor = p.nextCursor;
      }
      expect(seen, query).toEqual(await ids(query));
    }

    // A role sees only what it may read, and may not sort or filter by the rest.
    const viewer = await list('status=true', 'viewer');
    expect(viewer.readinessComputedAt).toBeNull();
    expect(viewer.meters.find((m) => m.id === 'ST-3')!.status).toMatchObject({ completeness: null, billable: null, openAlarms: 1 });
    for (const [query, role] of [
      ['sort=completeness', 'viewer'],
      ['billable=false', 'viewer'],
      ['completenessBelow=0.5', 'operator'],
      ['sort=openAlarms', 'trader'],
    ] as const) {
      const res = await get(`/v1/meters?${query}`, role);
      expect(res.statusCode, query).toBe(403);
      expect(res.json().error).toBe('MDM_ERR_FORBIDDEN');
    }
    for (const query of ['sort=completeness&cursor=nonsense', 'completenessBelow=2', 'sort=size', 'period=2026-13&status=true']) {
      expect((await get(`/v1/meters?${query}`, 'admin')).statusCode, query).toBe(400);
    }
    // Documented in the OpenAPI document, the one contract.
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    expect(doc.paths['/v1/meters'].get.parameters.map((p: { name: string }) => p.name)).toEqual(
      expect.arrayContaining(['status', 'period', 'completenessBelow', 'billable', 'sort', 'order', 'cursor']),
    );
    expect(Object.keys(doc.paths['/v1/meters'].get.responses['200'].content['application/json'].schema.properties)).toEqual(
      expect.arrayContaining(['meters', 'nextCursor', 'period', 'readinessComputedAt']),
    );
  });

  it('takes 10 000 meters in one request and refuses 10 001 with 413', async () => {
    const many = Array.from({ length: 10_000 }, (_, i) => ({ id: `BULK-${String(i).padStart(5, '0')}`, group: 'bulk', multiplier: (i % 7) + 1 }));
    const ok = await put(many);
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ created: 10_000, updated: 0, unchanged: 0, rejected: [] });
    many[9_999] = { ...many[9_999], multiplier: 99 };
    expect((await put(many)).json()).toEqual({ created: 0, updated: 1, unchanged: 9_999, rejected: [] });
    expect(await getMeter('BULK-09999')).toMatchObject({ multiplier: 99, group: 'bulk' });

    const last = (await get('/v1/meters?group=bulk&limit=1000&cursor=BULK-08999')).json();
    expect(last.meters).toHaveLength(1000);
    expect(last.meters[0].id).toBe('BULK-09000');
    expect(last.meters[999]).toMatchObject({ id: 'BULK-09999', multiplier: 99 });
    expect(last.nextCursor).toBeNull();

    const tooMany = await put([...many, { id: 'BULK-10000' }]);
    expect(tooMany.statusCode).toBe(413);
    expect(tooMany.json()).toEqual({
      error: 'MDM_ERR_BATCH_TOO_LARGE',
      message: 'PUT /v1/meters takes at most 10000 meters per request, got 10001: split the array into several requests',
    });
    expect((await get('/v1/meters/BULK-10000')).statusCode).toBe(404);
  });

  it("filters by region, profile class, tariff, a label and open alarms (the console's meter list)", async () => {
    const meters = [
      { id: 'F-1', region: 'Marmara', profileClass: 'residential', tariff: 'three-time', labels: { feeder: 'F12', street: 'a=b' } },
      { id: 'F-2', region: 'Marmara', profileClass: 'commercial', labels: { feeder: 'F13' } },
      { id: 'F-3', region: 'Ege', profileClass: 'residential', tariff: 'three-time' },
    ];
    expect((await put(meters)).json()).toMatchObject({ created: 3, rejected: [] });
    const ev = await t.app.inject({ method: 'POST', url: '/v1/events', headers: t.auth('gateway'), payload: { events: [{ meter: 'F-2', code: 'tamper', at: '2026-03-01T10:00:00Z' }] } });
    expect(ev.json()).toMatchObject({ accepted: 1 });
    const ids = async (query: string) => {
      const res = await get(`/v1/meters?q=F-&${query}`);
      expect(res.statusCode, res.body).toBe(200);
      return (res.json().meters as MeterOut[]).map((m) => m.id);
    };
    expect(await ids('region=Marmara')).toEqual(['F-1', 'F-2']);
    expect(await ids('profileClass=residential')).toEqual(['F-1', 'F-3']);
    expect(await ids('tariff=three-time&region=Ege')).toEqual(['F-3']);
    expect(await ids('label=feeder%3DF12')).toEqual(['F-1']);
    expect(await ids('label=street%3Da%3Db')).toEqual(['F-1']); // the value may hold =
    expect(await ids('label=feeder%3D')).toEqual([]);
    expect(await ids('openAlarms=true')).toEqual(['F-2']);
    expect(await ids('openAlarms=false')).toEqual(['F-1', 'F-3']);
    const bad = await get('/v1/meters?label=feeder');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/label/);
    expect((await get('/v1/meters?openAlarms=yes')).statusCode).toBe(400);
  });
});

/** A MeterOut back into the PUT shape. */
function stripOut(m: MeterOut): Record<string, unknown> {
  const { createdAt: _c, updatedAt: _u, ...rest } = m;
  return rest;
}
