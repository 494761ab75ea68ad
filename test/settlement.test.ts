import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../models/api-key.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * Settlement data on every flavour, hand-computed (Istanbul, UTC+3, January 2026):
 * - S1: hourly, multiplier 1. Measured 1, 2, 3 kWh at 00:00, 01:00, 02:00 on 01-01.
 *   v1 settles 1.5, 2, 3.5, 4 (03:00 has no measured value) → billing 11;
 *   v2 corrects 00:00 to 1.6 → billing 11.1; v1 re-sent afterwards changes nothing.
 *   Differences: measured 6 (3 h), settled 11.1 (4 h) → +5.1 kWh, +85 %.
 * - S2: hourly, multiplier 2. Measured 4 (×2 = 8 kWh) at 00:00; settled 10 kWh
 *   → stored as 5 before the multiplier; billing 10; difference +2 kWh, +25 %.
 * - S3: 15-minute, multiplier 1. Measured 1, 1, 2, 0 in 00:00–01:00; settled 8 via CSV
 *   → split in proportion: 2, 2, 4, 0.
 */
const H = (h: number, day = 1) => `2026-01-${String(day).padStart(2, '0')}T${String(h).padStart(2, '0')}:00:00+03:00`;

describe.each(FLAVOURS)('settlement (%s)', (flavour) => {
  let t: TestApp;
  const put = (body: unknown, role: Role = 'billing') => t.app.inject({ method: 'PUT', url: '/v1/settlement', headers: t.auth(role), payload: body as object });
  const putCsv = (text: string, query: string, role: Role = 'billing') =>
    t.app.inject({ method: 'PUT', url: `/v1/settlement?${query}`, headers: { ...t.auth(role), 'content-type': 'text/csv' }, payload: text });
  const get = (url: string, role: Role = 'billing') => t.app.inject({ method: 'GET', url, headers: t.auth(role) });
  const raw = async (meter: string, from: string, to: string) => {
    const res = await get(`/v1/meters/${meter}/readings?channel=active_import&from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`, 'viewer');
    expect(res.statusCode, res.body).toBe(200);
    return (res.json().rows as { start: string; value: number; quality: string; source: string }[]).map((r) => [r.start.slice(11, 16), r.value, r.quality, r.source]);
  };
  const billed = async (meter: string) => {
    const res = await get(`/v1/billing/consumption?period=2026-01&meters=${meter}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json().meters[0].activeImport as number;
  };

  beforeAll(async () => {
    t = await testApp(flavour);
    const m = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [{ id: 'S1' }, { id: 'S2', multiplier: 2 }, { id: 'S3', intervalMinutes: 15 }],
    });
    expect(m.statusCode, m.body).toBe(200);
    const r = await t.app.inject({
      method: 'POST',
      url: '/v1/readings',
      headers: t.auth('gateway'),
      payload: {
        readings: [
          { meter: 'S1', channel: 'active_import', start: H(0), value: 1 },
          { meter: 'S1', channel: 'active_import', start: H(1), value: 2 },
          { meter: 'S1', channel: 'active_import', start: H(2), value: 3 },
          { meter: 'S2', channel: 'active_import', start: H(0), value: 4 },
          { meter: 'S3', channel: 'active_import', start: '2026-01-01T00:00:00+03:00', value: 1 },
          { meter: 'S3', channel: 'active_import', start: '2026-01-01T00:15:00+03:00', value: 1 },
          { meter: 'S3', channel: 'active_import', start: '2026-01-01T00:30:00+03:00', value: 2 },
          { meter: 'S3', channel: 'active_import', start: '2026-01-01T00:45:00+03:00', value: 0 },
        ],
      },
    });
    expect(r.json()).toMatchObject({ accepted: 8, rejected: [] });
  });
  afterAll(() => t?.close());

  it('v1 supersedes the measured values in readings (history kept) and billing reports the settled figures', async () => {
    expect(await billed('S1')).toBe(6);
    const res = await put({
      period: '2026-01',
      version: 1,
      rows: [
        { meter: 'S1', start: H(0), withdrawal: 1.5 },
        { meter: 'S1', start: H(1), withdrawal: 2 },
        { meter: 'S1', start: H(2), withdrawal: 3.5, supply: 0 },
        { meter: 'S1', start: H(3), withdrawal: 4 },
        { meter: 'S2', start: H(0), withdrawal: 10 },
      ],
    });
    expect(res.statusCode, res.body).toBe(200);
    // 6 reading rows (S1 ×4, S1 02:00 supply, S2): 00:00–02:00 of S1 and S2 replace measured ones (quality validated differs even at equal value).
    expect(res.json()).toEqual({
      period: '2026-01',
      version: 1,
      stored: 5,
      unchanged: 0,
      applied: 5,
      heldByHigherVersion: 0,
      readings: { accepted: 2, unchanged: 0, superseded: 4 },
      rejected: [],
    });
    expect(await raw('S1', H(0), H(4))).toEqual([
      ['00:00', 1.5, 'validated', 'settlement'],
      ['01:00', 2, 'validated', 'settlement'],
      ['02:00', 3.5, 'validated', 'settlement'],
      ['03:00', 4, 'validated', 'settlement'],
    ]);
    expect(await raw('S2', H(0), H(1))).toEqual([['00:00', 5, 'validated', 'settlement']]); // 10 kWh / multiplier 2
    const hist = await get(`/v1/meters/S1/readings/history?channel=active_import&start=${encodeURIComponent(H(0))}`, 'viewer');
    expect(hist.json().versions.map((v: { version: number; value: number; source: string; current: boolean }) => [v.version, v.value, v.source, v.current])).toEqual([
      [1, 1, 'http', false],
      [2, 1.5, 'settlement', true],
    ]);
    expect(await billed('S1')).toBe(11);
    expect(await billed('S2')).toBe(10);

    // The head-end re-sends its figure (a no-op) and a changed one (dead-lettered, see settlement-late-measured.test.ts) for settled hours: settlement stays current.
    const resend = await t.app.inject({
      method: 'POST',
      url: '/v1/readings',
      headers: t.auth('gateway'),
      payload: {
        readings: [
          { meter: 'S1', channel: 'active_import', start: H(0), value: 1 },
          { meter: 'S1', channel: 'active_import', start: H(1), value: 2.2 },
        ],
      },
    });
    expect(resend.json()).toEqual({
      accepted: 0,
      unchanged: 1,
      superseded: 0,
      rejected: [{ index: 1, reason: 'hour is settled (settlement supersedes measured values); measured value 2.2 kept here, current settled value 2; value before the settlement 2' }],
    });
    expect((await raw('S1', H(0), H(2))).map((r) => r[1])).toEqual([1.5, 2]);
    expect(await billed('S1')).toBe(11);
  });

  it('v2 supersedes v1; v1 re-sent afterwards is kept but does not overwrite; a changed v1 figure is rejected', async () => {
    const v2 = await put({ period: '2026-01', version: 2, rows: [{ meter: 'S1', start: H(0), withdrawal: 1.6 }] });
    expect(v2.json()).toMatchObject({ stored: 1, applied: 1, heldByHigherVersion: 0, readings: { accepted: 0, unchanged: 0, superseded: 1 }, rejected: [] });
    expect(await billed('S1')).toBe(11.1);

    const again = await put({
      period: '2026-01',
      version: 1,
      rows: [
        { meter: 'S1', start: H(0), withdrawal: 1.5 },
        { meter: 'S1', start: H(1), withdrawal: 2 },
      ],
    });
    expect(again.json()).toMatchObject({ stored: 0, unchanged: 2, applied: 1, heldByHigherVersion: 1, readings: { accepted: 0, unchanged: 1, superseded: 0 }, rejected: [] });
    expect((await raw('S1', H(0), H(1)))[0]).toEqual(['00:00', 1.6, 'validated', 'settlement']);
    expect(await billed('S1')).toBe(11.1);

    const changed = await put({ period: '2026-01', version: 1, rows: [{ meter: 'S1', start: H(1), withdrawal: 2.2 }] });
    expect(changed.json().rejected).toEqual([{ index: 0, reason: expect.stringContaining('version 1 already holds this hour with withdrawal 2') }]);

    const stored = await get('/v1/settlement?period=2026-01&meter=S1');
    expect(stored.statusCode).toBe(200);
    const at0 = stored.json().rows.filter((r: { start: string }) => r.start === H(0));
    expect(at0.map((r: { version: number; withdrawal: number; applied: boolean; origin: string }) => [r.version, r.withdrawal, r.applied, r.origin])).toEqual([
      [1, 1.5, true, 'api'],
      [2, 1.6, true, 'api'],
    ]);
    const versions = await get(`/v1/meters/S1/readings/history?channel=active_import&start=${encodeURIComponent(H(0))}`, 'viewer');
    expect(versions.json().versions.map((v: { value: number }) => v.value)).toEqual([1, 1.5, 1.6]);
  });

  it('reports measured vs settled per meter (JSON and CSV)', async () => {
    const res = await get('/v1/settlement/differences?period=2026-01&meters=S1,S2', 'trader');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({
      period: '2026-01',
      unit: 'kWh',
      meters: [
        { meter: 'S1', version: 2, measuredKWh: 6, settlementKWh: 11.1, differenceKWh: 5.1, differencePercent: 85, hoursCompared: 3, hoursMissingMeasured: 1, hoursMissingSettlement: 0 },
        { meter: 'S2', version: 1, measuredKWh: 8, settlementKWh: 10, differenceKWh: 2, differencePercent: 25, hoursCompared: 1, hoursMissingMeasured: 0, hoursMissingSettlement: 0 },
      ],
    });
    const csv = await get('/v1/settlement/differences?period=2026-01&meters=S1&format=csv');
    expect(csv.headers['content-type']).toMatch(/^text\/csv/);
    expect(csv.body).toBe('meter,version,measuredKWh,settlementKWh,differenceKWh,differencePercent,hoursCompared,hoursMissingMeasured,hoursMissingSettlement\nS1,2,6,11.1,5.1,85,3,1,0\n');
    // S3 has measured data but no settlement yet.
    const s3 = await get('/v1/settlement/differences?period=2026-01&meters=S3');
    expect(s3.json().meters).toEqual([
      { meter: 'S3', version: null, measuredKWh: 4, settlementKWh: null, differenceKWh: null, differencePercent: null, hoursCompared: 0, hoursMissingMeasured: 0, hoursMissingSettlement: 1 },
    ]);
  });

  it('imports CSV with two versions, splitting hours over 15-minute intervals in proportion to the measured values', async () => {
    const res = await putCsv('meter;start;withdrawal;version\nS3;2026-01-01T00:00:00+03:00;8;1\nS3;2026-01-01T01:00:00+03:00;2,5;1\nS3;2026-01-01T01:00:00+03:00;3;2\nS3;x;1;abc\n', 'period=2026-01');
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body.rejected).toEqual([{ index: 5, reason: 'version must be a whole number ≥ 1, got "abc"' }]);
    expect(body.results.map((r: { version: number; stored: number; applied: number }) => [r.version, r.stored, r.applied])).toEqual([
      [1, 2, 2],
      [2, 1, 1],
    ]);
    // 00:00 hour: 8 × (1, 1, 2, 0) / 4; 01:00 hour (nothing measured): v2's 3 split equally.
    expect(await raw('S3', H(0), H(2))).toEqual([
      ['00:00', 2, 'validated', 'settlement'],
      ['00:15', 2, 'validated', 'settlement'],
      ['00:30', 4, 'validated', 'settlement'],
      ['00:45', 0, 'validated', 'settlement'],
      ['01:00', 0.75, 'validated', 'settlement'],
      ['01:15', 0.75, 'validated', 'settlement'],
      ['01:30', 0.75, 'validated', 'settlement'],
      ['01:45', 0.75, 'validated', 'settlement'],
    ]);
    expect(await billed('S3')).toBe(11);
    const stored = await get('/v1/settlement?period=2026-01&meter=S3&version=1');
    expect(stored.json().rows.map((r: { withdrawal: number; applied: boolean; origin: string }) => [r.withdrawal, r.applied, r.origin])).toEqual([
      [8, true, 'api:csv'],
      [2.5, true, 'api:csv'],
    ]);
    // Windows-1254 (Turkish Excel/EPİAŞ exports): "Çekiş" is 0xC7 e k i 0xFE.
    const win1254 = Buffer.concat([Buffer.from('EIC;Tarih;'), Buffer.from([0xc7]), Buffer.from('eki'), Buffer.from([0xfe]), Buffer.from(`\nS3;${H(2)};4\n`)]);
    const w = await t.app.inject({ method: 'PUT', url: '/v1/settlement?period=2026-01&version=1', headers: { ...t.auth('billing'), 'content-type': 'text/csv' }, payload: win1254 });
    expect(w.json().results).toMatchObject([{ version: 1, stored: 1, applied: 1, rejected: [] }]);
  });

  it('VEE does not report a settled hour as a conflict (settlement is not a meter delivery)', async () => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/validation/run', headers: t.auth('admin'), payload: { meters: ['S1'], from: '2026-01-01', to: '2026-01-02' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().findings.conflict ?? 0).toBe(0); // 00:00–02:00 have a measured version in the history and a settled one current
  });

  it('rejects bad rows with reasons (dead-lettered) and bad requests with 4xx', async () => {
    const res = await put({
      period: '2026-01',
      version: 3,
      rows: [
        { meter: 'S1', start: '2026-02-01T00:00:00+03:00', withdrawal: 1 },
        { meter: 'NOPE', start: H(5), withdrawal: 1 },
        { meter: 'S1', start: H(5), withdrawal: 1 },
        { meter: 'S1', start: H(5), withdrawal: 2 },
        { meter: 'S1', start: H(6), withdrawal: -1 },
        { meter: 'S1', start: '2026-01-01T06:30:00+03:00', withdrawal: 1 },
        { meter: 'S1', start: '2026-01-01T07:00:00', withdrawal: 1 },
        { meter: 'S1', start: H(8), withdrawal: 1, channel: 'x' },
      ],
    });
    expect(res.statusCode).toBe(200);
    const rejected = res.json().rejected as { index: number; reason: string }[];
    expect(rejected.map((r) => r.index)).toEqual([0, 1, 3, 4, 5, 6, 7]);
    expect(rejected[0].reason).toMatch(/outside period 2026-01/);
    expect(rejected[1].reason).toMatch(/unknown meter "NOPE"/);
    expect(rejected[2].reason).toMatch(/duplicate of row 2/);
    expect(rejected[3].reason).toMatch(/withdrawal must be a finite number ≥ 0/);
    expect(rejected[4].reason).toMatch(/not the start of a whole hour/);
    expect(rejected[5].reason).toMatch(/^start: /);
    expect(rejected[6].reason).toMatch(/unknown field "channel"/);
    expect(res.json()).toMatchObject({ stored: 1, applied: 1 });
    const letters = await get('/v1/rejects?transport=settlement', 'admin');
    expect(letters.json().rejects.length).toBeGreaterThanOrEqual(7);

    expect((await put({ period: '2026-13', version: 1, rows: [] })).statusCode).toBe(400);
    expect((await put({ period: '2026-01', version: 0, rows: [] })).statusCode).toBe(400);
    expect((await put({ period: '2026-01', rows: [] })).statusCode).toBe(400);
    expect((await put({ period: '2026-01', version: 1, rows: [], extra: 1 })).statusCode).toBe(400);
    expect((await putCsv('meter,start,withdrawal\nS1,2026-01-01T00:00:00+03:00,1\n', 'period=2026-01')).json().message).toMatch(/no version column/);
    expect((await putCsv('meter,start,withdrawal,version\n', '')).json().message).toMatch(/needs \?period=YYYY-MM/);
    expect((await putCsv('meter,when,withdrawal\n', 'period=2026-01&version=1')).statusCode).toBe(400);
    expect((await put({ period: '2026-01', version: 1, rows: [] }, 'trader')).statusCode).toBe(403);
    expect((await get('/v1/settlement/differences?period=2026-01', 'operator')).statusCode).toBe(403);
    expect((await get('/v1/settlement/differences?period=2026-1')).statusCode).toBe(400);
    expect((await get('/v1/settlement/differences?period=2026-01&meters=S1,NOPE')).json().message).toMatch(/"NOPE" not registered/);
  });
});
