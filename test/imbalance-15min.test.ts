import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { meterImbalance } from '../sql/imbalance.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * A 15-minute market (issue 16): area PL settles by 15 minutes from 2026-03-01 (PUT /v1/market/periods), TR stays
 * hourly. Portfolio W (PL, Europe/Warsaw) has a 15-minute meter W15 (300 kWh in every :15 quarter, 100 kWh in the
 * others) and an hourly meter W60 (2 000 kWh every hour), both supplied from 2026-03-01, on three local days:
 * 2026-03-28 (96 quarter-hours), 2026-03-29 (spring forward: 92), 2026-10-25 (fall back: 100).
 *
 * Hand-computed quarter-hour 2026-03-28 10:15+01:00: position dayAhead 1 MWh; PTF 400, SMF 300; rule PL k = 0.1
 * → positive min(400, 300) × 0.9 = 270, negative max × 1.1 = 440; nominations W15 0.2, W60 0.8 MWh.
 *   flat:    W60's 10:00 hour 2 000 kWh / 4 = 500 kWh → actual 0.3 + 0.5 = 0.8; imbalance +0.2 → cost (400 − 270) × 0.2 = 26;
 *            q W15 0.2 − 0.3 = −0.1 → standalone (440 − 400) × 0.1 = 4; q W60 0.8 − 0.5 = +0.3 → 130 × 0.3 = 39; Σ 43;
 *            meter costs 26 × 4 / 43, 26 × 39 / 43; netting benefit 17
 *   profile: shape of the hour (W15's quarters 100, 300, 100, 100) → W60 at 10:15 2 000 × 300 / 600 = 1 000 kWh;
 *            actual 1.3; imbalance −0.3 → cost 40 × 0.3 = 12; q W15 −0.1 → 4, q W60 0.8 − 1 = −0.2 → 8; Σ 12
 */
const DAYS = [
  { day: '2026-03-28', from: '2026-03-28T00:00:00+01:00', to: '2026-03-29T00:00:00+01:00', periods: 96 },
  { day: '2026-03-29', from: '2026-03-29T00:00:00+01:00', to: '2026-03-30T00:00:00+02:00', periods: 92 },
  { day: '2026-10-25', from: '2026-10-25T00:00:00+02:00', to: '2026-10-26T00:00:00+01:00', periods: 100 },
];
const Q = '2026-03-28T10:15:00+01:00';
const QUARTER_MS = 900_000;
const enc = encodeURIComponent;
const w15 = (ms: number) => (new Date(ms).getUTCMinutes() === 15 ? 300 : 100);

describe.each(FLAVOURS)('imbalance in a 15-minute market (%s)', (flavour) => {
  let t: TestApp;
  const put = (url: string, payload: unknown) => t.app.inject({ method: 'PUT', url, headers: t.auth('admin'), payload: payload as object });
  const periods = async (from: string, to: string, extra = '') => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/imbalance?portfolio=W&from=${enc(from)}&to=${enc(to)}&interval=period${extra}`, headers: t.auth('trader') });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().rows as Record<string, number & string & null>[];
  };

  beforeAll(async () => {
    t = await testApp(flavour);
    expect((await put('/v1/market/periods', { area: 'PL', effectiveFrom: '2026-03-01', minutes: 15, note: 'PL 15-minute MTU' })).statusCode).toBe(201);
    expect((await put('/v1/market/imbalance-rules', { area: 'PL', effectiveFrom: '2026-01-01', kPositive: 0.1, kNegative: 0.1 })).statusCode).toBe(201);
    expect((await put('/v1/portfolios/W', { area: 'PL', currency: 'PLN', timezone: 'Europe/Warsaw' })).statusCode).toBe(201);
    const meters = await put('/v1/meters', [
      { id: 'W15', portfolio: 'W', timezone: 'Europe/Warsaw', intervalMinutes: 15, supplyStart: '2026-03-01' },
      { id: 'W60', portfolio: 'W', timezone: 'Europe/Warsaw', intervalMinutes: 60, supplyStart: '2026-03-01' },
    ]);
    expect(meters.json()).toMatchObject({ rejected: [] });
    const readings: { meter: string; channel: string; start: string; value: number }[] = [];
    for (const d of DAYS) {
      for (let ms = Date.parse(d.from); ms < Date.parse(d.to); ms += QUARTER_MS) {
        const start = new Date(ms).toISOString();
        readings.push({ meter: 'W15', channel: 'active_import', start, value: w15(ms) });
        if (ms % 3_600_000 === 0) readings.push({ meter: 'W60', channel: 'active_import', start, value: 2000 });
      }
    }
    const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('admin'), payload: { readings } });
    expect(res.json()).toMatchObject({ accepted: readings.length, rejected: [] });
    expect((await put('/v1/market/prices', { area: 'PL', currency: 'PLN', prices: [{ start: Q, ptf: 400, smf: 300 }] })).statusCode).toBe(200);
    expect((await put('/v1/market/positions', { portfolio: 'W', positions: [{ start: Q, dayAhead: 1 }] })).statusCode).toBe(200);
    const nom = await put('/v1/market/nominations', {
      portfolio: 'W',
      nominations: [
        { meter: 'W15', start: Q, mwh: 0.2 },
        { meter: 'W60', start: Q, mwh: 0.8 },
      ],
    });
    expect(nom.json()).toMatchObject({ stored: 2 });
  });
  afterAll(() => t?.close());

  it('a :15 start is a period where the area settles by 15 minutes, and refused with the reason where by 60', async () => {
    const list = await t.app.inject({ method: 'GET', url: '/v1/market/periods?area=PL', headers: t.auth('trader') });
    expect(list.json().periods).toMatchObject([{ area: 'PL', effectiveFrom: '2026-03-01', minutes: 15, spread: 'flat' }]);
    const tr = await put('/v1/market/prices', { area: 'TR', currency: 'TRY', prices: [{ start: '2026-03-28T10:15:00+03:00', ptf: 1, smf: 1 }] });
    expect(tr.statusCode).toBe(400);
    expect(tr.json().details.rejected[0].reason).toMatch(/not the start of an hour: area TR settles by 60-minute periods/);
    const before = await put('/v1/market/prices', { area: 'PL', currency: 'PLN', prices: [{ start: '2026-02-28T10:15:00+01:00', ptf: 1, smf: 1 }] });
    expect(before.statusCode, 'before the switch PL settles hourly').toBe(400);
    const odd = await put('/v1/market/positions', { portfolio: 'W', positions: [{ start: '2026-03-28T10:20:00+01:00', dayAhead: 1 }] });
    expect(odd.json().details.rejected[0].reason).toMatch(/not the start of a 15-minute settlement period of area PL/);
    expect((await put('/v1/market/periods', { area: 'PL', effectiveFrom: '2027-01-01', minutes: 20 })).statusCode).toBe(400);
    const misaligned = await t.app.inject({ method: 'GET', url: `/v1/imbalance?portfolio=W&from=${enc('2026-03-28T10:05:00+01:00')}&to=${enc(DAYS[0].to)}`, headers: t.auth('trader') });
    expect(misaligned.statusCode).toBe(400);
    expect(misaligned.json().error).toBe('MDM_ERR_MISALIGNED_TIME');
  });

  it('a Warsaw day has 96, 92 or 100 quarter-hours; the hourly meter is spread flat and flagged, energy kept', async () => {
    for (const d of DAYS) {
      const rows = await periods(d.from, d.to);
      expect(rows, d.day).toHaveLength(d.periods);
      expect(new Set(rows.map((r) => r.start)).size).toBe(d.periods);
      expect(
        rows.every((r) => r.periodMinutes === 15 && r.spreadMeters === 1 && r.actualsComplete),
        d.day,
      ).toBe(true);
      let kwh = 0;
      for (let ms = Date.parse(d.from); ms < Date.parse(d.to); ms += QUARTER_MS) kwh += w15(ms) + (ms % 3_600_000 === 0 ? 2000 : 0);
      expect(
        rows.reduce((a, r) => a + r.consumptionMWh, 0),
        d.day,
      ).toBeCloseTo(kwh / 1000, 9);
    }
    const hours = await t.app.inject({ method: 'GET', url: `/v1/imbalance?portfolio=W&from=${enc(DAYS[1].from)}&to=${enc(DAYS[1].to)}&interval=hour`, headers: t.auth('trader') });
    expect(hours.json().rows).toHaveLength(23);
    expect(hours.json().rows.every((r: { hours: number }) => r.hours === 4)).toBe(true);
  });

  it('imbalance of one quarter-hour, hand-computed: flat spread', async () => {
    const [q] = (await periods(DAYS[0].from, DAYS[0].to)).filter((r) => r.start === Q);
    expect(q).toMatchObject({ periodMinutes: 15, consumptionMWh: 0.8, positionMWh: 1, imbalanceMWh: 0.2, positivePrice: 270, negativePrice: 440, priceSource: 'rule' });
    expect(q.imbalanceCost).toBeCloseTo(26, 6);
    expect(q.standaloneCost).toBeCloseTo(43, 6);
    expect(q.nettingBenefit).toBeCloseTo(17, 6);

    const { meters } = await meterImbalance(t.database, { portfolio: 'W', area: 'PL', timezone: 'Europe/Warsaw', from: new Date(Q), to: new Date(Date.parse(Q) + QUARTER_MS), fill: 'none' });
    const [m15, m60] = meters;
    expect(m15).toMatchObject({ meter: 'W15', spreadPeriods: 0 });
    expect(m60).toMatchObject({ meter: 'W60', spreadPeriods: 1 });
    expect(m15.energy).toBeCloseTo(0.3, 12);
    expect(m60.energy).toBeCloseTo(0.5, 12);
    expect(m15.imbalance).toBeCloseTo(-0.1, 12);
    expect(m60.imbalance).toBeCloseTo(0.3, 12);
    expect(m15.standalone).toBeCloseTo(4, 9);
    expect(m60.standalone).toBeCloseTo(39, 9);
    expect(m15.cost).toBeCloseTo((26 * 4) / 43, 9);
    expect(m60.cost).toBeCloseTo((26 * 39) / 43, 9);

    const day = await meterImbalance(t.database, { portfolio: 'W', area: 'PL', timezone: 'Europe/Warsaw', from: new Date(DAYS[1].from), to: new Date(DAYS[1].to), fill: 'none' });
    expect(day.meters.map((m) => [m.meter, m.spreadPeriods])).toEqual([
      ['W15', 0],
      ['W60', 92],
    ]);
  });

  it('spread=profile: the hourly value follows the shape of the quarter-hour meters', async () => {
    const [q] = (await periods(DAYS[0].from, DAYS[0].to, '&spread=profile')).filter((r) => r.start === Q);
    expect(q).toMatchObject({ consumptionMWh: 1.3, imbalanceMWh: -0.3, spreadMeters: 1 });
    expect(q.imbalanceCost).toBeCloseTo(12, 6);
    expect(q.standaloneCost).toBeCloseTo(12, 6);
  });
});
