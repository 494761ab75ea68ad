import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../models/api-key.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * Spreading profiled meters, February 2026 in Istanbul (28 days: Sundays 1, 8,
 * 15, 22; Saturdays 7, 14, 21, 28; 20 workdays; 672 hours), hand-computed:
 * - AYEDAS/single/residential coefficients: workday 1 every hour, saturday and
 *   sunday 2 → Σ = 20×24×1 + 8×24×2 = 864.
 * - "*"/single/residential: 1 every hour of every day type → Σ = 672.
 * - P1 (AYEDAS): register 1000 on 02-01 00:00, 1864 on 03-01 00:00 → 864 kWh →
 *   1 kWh per workday hour, 2 per weekend hour.
 * - P2 (OTHER → "*"), multiplier 2, total given 1344 kWh → 672 before the
 *   multiplier → 1 per hour; billing 1344.
 * - P6 (AYEDAS), 15-minute intervals, total given 864 kWh → like P1 per hour, in
 *   quarters: 0.25 per workday quarter-hour, 0.5 per weekend quarter-hour.
 * - P3 has measured interval data (skipped), P4 no profile class (skipped),
 *   P5 commercial without coefficients (skipped), NOPE unknown (skipped).
 */
const H = 3_600_000;
const FEB = Date.parse('2026-02-01T00:00:00+03:00');
const ist = (ms: number) => new Date(ms + 3 * H).toISOString().slice(0, 19) + '+03:00';

const rowsFor = (region: string, profileGroup: string, weight: (dayType: string) => number) =>
  ['workday', 'saturday', 'sunday'].flatMap((dayType) =>
    Array.from({ length: 24 }, (_, hour) => ({ period: '2026-02', region, readingType: 'single', profileGroup, dayType, hour, coefficient: weight(dayType) })),
  );

describe.each(FLAVOURS)('profile coefficients and spreading (%s)', (flavour) => {
  let t: TestApp;
  const get = (url: string, role: Role = 'admin') => t.app.inject({ method: 'GET', url, headers: t.auth(role) });
  const spread = (body: unknown, role: Role = 'admin') => t.app.inject({ method: 'POST', url: '/v1/profiles/spread', headers: t.auth(role), payload: body as object });

  beforeAll(async () => {
    t = await testApp(flavour);
    const m = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [
        { id: 'P1', profileClass: 'residential', region: 'AYEDAS' },
        { id: 'P2', profileClass: 'residential', region: 'OTHER', multiplier: 2 },
        { id: 'P3', profileClass: 'residential', region: 'AYEDAS' },
        { id: 'P4' },
        { id: 'P5', profileClass: 'commercial', region: 'AYEDAS' },
        { id: 'P6', profileClass: 'residential', region: 'AYEDAS', intervalMinutes: 15 },
      ],
    });
    expect(m.statusCode, m.body).toBe(200);
    const r = await t.app.inject({
      method: 'POST',
      url: '/v1/readings',
      headers: t.auth('gateway'),
      payload: {
        readings: [
          { meter: 'P1', channel: 'active_import_register', start: ist(FEB), value: 1000 },
          { meter: 'P1', channel: 'active_import_register', start: ist(FEB + 672 * H), value: 1864 },
          { meter: 'P3', channel: 'active_import', start: ist(FEB + 5 * H), value: 1 },
          { meter: 'P5', channel: 'active_import_register', start: ist(FEB), value: 0 },
          { meter: 'P5', channel: 'active_import_register', start: ist(FEB + 672 * H), value: 10 },
        ],
      },
    });
    expect(r.json()).toMatchObject({ rejected: [] });
  });
  afterAll(() => t?.close());

  it('imports coefficients as JSON (re-import: unchanged or updated) and as an EPİAŞ-vocabulary CSV', async () => {
    const json = [...rowsFor('AYEDAS', 'residential', (d) => (d === 'workday' ? 1 : 2)), ...rowsFor('*', 'residential', () => 1)];
    const put = (payload: object) => t.app.inject({ method: 'PUT', url: '/v1/profiles/coefficients', headers: t.auth('billing'), payload });
    const first = await put({ coefficients: json });
    expect(first.json()).toEqual({ inserted: 144, updated: 0, unchanged: 0, rejected: [] });
    const again = await put({ coefficients: [json[0], { ...json[1], coefficient: 5 }, { ...json[1], coefficient: 1 }] });
    expect(again.json()).toMatchObject({ inserted: 0, updated: 1, unchanged: 1, rejected: [{ index: 2, reason: expect.stringMatching(/duplicate of row 1/) }] });
    await put({ coefficients: [json[1]] }); // back to 1

    const csv =
      'Dağıtım Şirketi;Okuma Tipi;Abone Grubu;Tarih;Saat;Katsayı\nBEDAS;Tek Zamanlı;mesken;02.02.2026;00:00;0,0412\nBEDAS;Tek Zamanlı;mesken;02.02.2026;01:00;0,5\nBEDAS;Tek Zamanlı;mesken;31.02.2026;01:00;1\n';
    const res = await t.app.inject({
      method: 'PUT',
      url: '/v1/profiles/coefficients',
      headers: { ...t.auth('admin'), 'content-type': 'text/csv; charset=windows-1254' },
      payload: Buffer.from(new TextEncoder().encode(csv.replace(/[ğşıŞ]/g, ''))), // plain ASCII fits both charsets
    });
    expect(res.statusCode, res.body).toBe(400); // header without its Turkish letters is not a known column
    const utf8 = await t.app.inject({ method: 'PUT', url: '/v1/profiles/coefficients', headers: { ...t.auth('admin'), 'content-type': 'text/csv' }, payload: csv });
    expect(utf8.json()).toEqual({ inserted: 2, updated: 0, unchanged: 0, rejected: [{ index: 4, reason: 'date must be a calendar date YYYY-MM-DD, got "2026-02-31"' }] });
    const win = await t.app.inject({
      method: 'PUT',
      url: '/v1/profiles/coefficients',
      headers: { ...t.auth('admin'), 'content-type': 'text/csv; charset=windows-1254' },
      payload: Buffer.from(
        new TextDecoder()
          .decode(new TextEncoder().encode(csv))
          .split('')
          .map((c) => ({ ğ: 0xf0, ş: 0xfe, ı: 0xfd, Ş: 0xde })[c] ?? c.charCodeAt(0)),
      ),
    });
    expect(win.json()).toMatchObject({ inserted: 0, unchanged: 2 });
    const stored = await get('/v1/profiles/coefficients?period=2026-02&region=BEDAS', 'trader');
    expect(stored.json().coefficients).toEqual([
      { period: '2026-02', region: 'BEDAS', readingType: 'single', profileGroup: 'mesken', date: '2026-02-02', dayType: null, hour: 0, coefficient: 0.0412 },
      { period: '2026-02', region: 'BEDAS', readingType: 'single', profileGroup: 'mesken', date: '2026-02-02', dayType: null, hour: 1, coefficient: 0.5 },
    ]);
  });

  it('spreads register deltas and given totals into hourly estimates that billing counts', async () => {
    const totals = [
      { meter: 'P2', kWh: 1344 },
      { meter: 'P6', kWh: 864 },
    ];
    const res = await spread({ period: '2026-02', meters: ['P1', 'P2', 'P3', 'P4', 'P5', 'P6', 'NOPE'], totals });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ period: '2026-02', spread: 3, skipped: 4, readings: { accepted: 672 + 672 + 2688, unchanged: 0, superseded: 0 } });
    const by = Object.fromEntries(body.meters.map((m: { meter: string }) => [m.meter, m]));
    expect(by.P1).toEqual({ meter: 'P1', status: 'spread', totalKWh: 864, totalFrom: 'register', hours: 672, reason: null });
    expect(by.P2).toEqual({ meter: 'P2', status: 'spread', totalKWh: 1344, totalFrom: 'request', hours: 672, reason: null });
    expect(by.P3.reason).toMatch(/has 1 interval value\(s\) of its own/);
    expect(by.P4.reason).toMatch(/no profileClass/);
    expect(by.P5.reason).toMatch(/no profile coefficient for 672 hour\(s\)/);
    expect(by.P5.totalKWh).toBe(10);
    expect(by.NOPE.reason).toMatch(/unknown meter/);

    const day = async (meter: string, from: number) => {
      const r = await get(`/v1/meters/${meter}/readings?channel=active_import&from=${encodeURIComponent(ist(from))}&to=${encodeURIComponent(ist(from + 2 * H))}`);
      return r.json().rows.map((x: { value: number; quality: string; source: string }) => [x.value, x.quality, x.source]);
    };
    expect(await day('P1', FEB)).toEqual([
      [2, 'estimated', 'profile'],
      [2, 'estimated', 'profile'],
    ]); // Sunday
    expect(await day('P1', FEB + 24 * H)).toEqual([
      [1, 'estimated', 'profile'],
      [1, 'estimated', 'profile'],
    ]); // Monday
    expect(await day('P2', FEB)).toEqual([
      [1, 'estimated', 'profile'],
      [1, 'estimated', 'profile'],
    ]);
    expect((await day('P6', FEB)).slice(0, 5)).toEqual(Array(5).fill([0.5, 'estimated', 'profile'])); // Sunday 00:00–01:15
    expect((await day('P6', FEB + 24 * H)).slice(0, 2)).toEqual([
      [0.25, 'estimated', 'profile'],
      [0.25, 'estimated', 'profile'],
    ]); // Monday

    const bill = await get('/v1/billing/consumption?period=2026-02&meters=P1,P2,P6', 'billing');
    expect(bill.json().meters.map((m: { meter: string; activeImport: number }) => [m.meter, m.activeImport])).toEqual([
      ['P1', 864],
      ['P2', 1344],
      ['P6', 864],
    ]);
    const notes = await get(`/v1/meters/P1/edits?channel=active_import&from=${encodeURIComponent(ist(FEB))}&to=${encodeURIComponent(ist(FEB + H))}`);
    expect(notes.statusCode, notes.body).toBe(200);
    expect(notes.json().notes).toMatchObject([
      { method: 'profile-coefficients', reasonCode: 'profiled', params: { total: 864, totalFrom: 'register', coefficient: 2, coefficientOf: 'sunday h0 2026-02', prorated: false } },
    ]);

    // Re-run: nothing changes. Default selection (meters with a profile class): P1, P2, P3, P5, P6.
    const again = await spread({ period: '2026-02', totals });
    expect(again.json()).toMatchObject({ spread: 3, skipped: 2, readings: { accepted: 0, unchanged: 4032, superseded: 0 } });
    // A different total for P2: new versions of its 672 hours (history kept).
    const changed = await spread({ period: '2026-02', meters: ['P2'], totals: [{ meter: 'P2', kWh: 2688 }] });
    expect(changed.json()).toMatchObject({ spread: 1, readings: { accepted: 0, unchanged: 0, superseded: 672 } });
    expect(await day('P2', FEB)).toEqual([
      [2, 'estimated', 'profile'],
      [2, 'estimated', 'profile'],
    ]);
  });

  it('refuses bad requests', async () => {
    expect((await spread({ period: '2026-02' }, 'billing')).statusCode).toBe(403);
    expect((await spread({ period: '2026-2' })).statusCode).toBe(400);
    expect((await spread({ period: '2026-02', totals: [{ meter: 'P2', kWh: -1 }] })).statusCode).toBe(400);
    expect(
      (
        await spread({
          period: '2026-02',
          totals: [
            { meter: 'P2', kWh: 1 },
            { meter: 'P2', kWh: 2 },
          ],
        })
      ).json().message,
    ).toMatch(/given twice/);
    const bad = await t.app.inject({ method: 'PUT', url: '/v1/profiles/coefficients', headers: t.auth('admin'), payload: { rows: [] } });
    expect(bad.statusCode).toBe(400);
    expect((await t.app.inject({ method: 'PUT', url: '/v1/profiles/coefficients', headers: t.auth('trader'), payload: { coefficients: [] } })).statusCode).toBe(403);
  });
});
