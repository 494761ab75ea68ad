import { describe, expect, it } from 'vitest';
import type { FitContext, QuantileRow, SeriesData } from '../forecast/model.js';
import { coefficientModel } from '../forecast/models/coefficient.js';
import { naiveModel } from '../forecast/models/naive.js';
import { profileModel } from '../forecast/models/profile.js';
import { fitResidualQuantiles, quantileRow, quantileSorted, residualBand } from '../forecast/quantiles.js';
import { bedfordTemperature, building } from './forecast-fixture.js';

const H = 3_600_000;
const DAY = 86_400_000;

describe('residual quantiles', () => {
  it('type 6 positions: (n + 1)·p, clamped', () => {
    const s = Float64Array.from({ length: 9 }, (_, i) => i + 1); // 1 … 9
    expect(quantileSorted(s, 0.1)).toBe(1); // position 1
    expect(quantileSorted(s, 0.9)).toBe(9); // position 9
    expect(quantileSorted(s, 0.5)).toBe(5);
    expect(
      quantileSorted(
        Float64Array.from({ length: 19 }, (_, i) => i + 1),
        0.1,
      ),
    ).toBe(2); // position 20·0.1 = 2
    expect(quantileSorted(Float64Array.of(7), 0.9)).toBe(7);
    expect(quantileSorted(new Float64Array(0), 0.5)).toBeNaN();
  });
  it('buckets by day type × hour, fall back to the hour, then pooled', () => {
    // Hour 5 workday: 20 residuals −10 … 9 (bucket); hour 5 saturday: 3 residuals (too few → hour 5 pooled); hour 6: none (→ pooled).
    const hour: number[] = [],
      dayType: number[] = [],
      residual: number[] = [];
    for (let i = 0; i < 20; i++) hour.push(5), dayType.push(0), residual.push(i - 10);
    for (const r of [100, 200, 300]) hour.push(5), dayType.push(1), residual.push(r);
    hour.push(7), dayType.push(0), residual.push(NaN);
    const q = fitResidualQuantiles({ hour, dayType, residual }, { minCount: 20 });
    expect(q.count).toBe(23);
    // Workday bucket: sorted −10 … 9, position 2.1 → −8.9; position 18.9 → 7.9.
    expect(residualBand(q, 5, 0)[0]).toBeCloseTo(-8.9, 12);
    expect(residualBand(q, 5, 0)[1]).toBeCloseTo(7.9, 12);
    // Saturday hour 5 → the 23 residuals of hour 5: position 2.4 → −9 + 0.4 = −8.6; position 21.6 → 100 + 0.6·100 = 160.
    expect(residualBand(q, 5, 1)[0]).toBeCloseTo(-8.6, 12);
    expect(residualBand(q, 5, 1)[1]).toBeCloseTo(160, 12);
    expect(residualBand(q, 6, 0)).toEqual(q.pooled);
    expect(residualBand(fitResidualQuantiles({ hour: [], dayType: [], residual: [] }), 0, 0)).toEqual([0, 0]);
  });
  it('P10 ≤ P50 ≤ P90 even for one-sided residuals; floor', () => {
    const q = fitResidualQuantiles({ hour: [0, 0], dayType: [0, 0], residual: [5, 7] }, { minCount: 1 });
    expect(quantileRow(0, 10, 0, 0, q)).toEqual({ start: 0, p10: 10, p50: 10, p90: 17 });
    const neg = fitResidualQuantiles({ hour: [0], dayType: [0], residual: [-30] }, { minCount: 1 });
    expect(quantileRow(0, 10, 0, 0, neg, 0)).toEqual({ start: 0, p10: 0, p50: 10, p90: 10 });
  });
});

// Monday 2025-01-06 00:00 in Istanbul; no holidays until 23 April. values = 1000·day + local hour.
const S = Date.parse('2025-01-06T00:00:00+03:00');
const TR: FitContext = { issueTime: S + 20 * DAY + 10 * H, dataCutoff: S + 20 * DAY + 10 * H, country: 'TR' };
const dayHour = (days: number) => Float64Array.from({ length: days * 24 }, (_, i) => 1000 * Math.floor(i / 24) + (i % 24));
const day = (d: number) => ({ fromMs: S + d * DAY, toMs: S + (d + 1) * DAY });
const p50s = (rows: QuantileRow[]) => rows.map((r) => r.p50);

describe('naive model', () => {
  const s: SeriesData = { id: 'meter:M', timezone: 'Europe/Istanbul', startMs: S, values: dayHour(35) };
  it('d7: the same hour a week before; P90 = P50 + the constant 7 000 residual, P10 = P50', async () => {
    const fit = await naiveModel().fit([s], TR);
    const [rows] = await fit.predict(day(21)); // Monday 27 Jan, cut-off Sunday 10:00
    expect(p50s(rows)).toEqual(Array.from({ length: 24 }, (_, h) => 14_000 + h));
    expect(rows[3]).toEqual({ start: S + 21 * DAY + 3 * H, p10: 14_003, p50: 14_003, p90: 21_003 });
    expect(fit.kind).toBe('naive');
  });
  it('beyond 7 days the last known week repeats', async () => {
    const fit = await naiveModel().fit([s], TR);
    const [sun] = await fit.predict(day(27));
    const [mon] = await fit.predict(day(28));
    // Sunday day 27: 09:00 of day 20 is known (→ 20 009); 12:00 of day 20 is not (→ day 13: 13 012).
    expect([sun[9].p50, sun[12].p50]).toEqual([20_009, 13_012]);
    // Monday day 28: day 21 is after the cut-off → day 14.
    expect(mon[0].p50).toBe(14_000);
  });
  it('mean of D−7 and D−14', async () => {
    const [rows] = await (await naiveModel({ variant: 'mean-d7-d14' }).fit([s], TR)).predict(day(21));
    expect(rows[5].p50).toBe(10_505); // (14 005 + 7 005) / 2
  });
});

/** Istanbul series with a fixed shape per day type: workday 10 + h, saturday 5, sunday 3, holiday 1, eve afternoon 2. */
function shaped(days: number, startMs: number, scaleFrom = Infinity, scale = 1): Float64Array {
  const out = new Float64Array(days * 24);
  const eves = new Set(['2025-03-29']);
  const holidays = new Set(['2025-03-30', '2025-03-31', '2025-04-01']);
  for (let i = 0; i < out.length; i++) {
    const t = startMs + i * H;
    const date = new Date(t + 3 * H).toISOString().slice(0, 10);
    const h = new Date(t + 3 * H).getUTCHours();
    const wd = new Date(t + 3 * H).getUTCDay();
    let v = holidays.has(date) ? 1 : eves.has(date) && h >= 13 ? 2 : wd === 6 ? 5 : wd === 0 ? 3 : 10 + h;
    // An alternating ±0.01 keeps the flat-line detector quiet on constant day types.
    v += i % 2 ? 0.01 : -0.01;
    out[i] = i >= scaleFrom ? v * scale : v;
  }
  return out;
}

describe('profile model', () => {
  const P = Date.parse('2025-03-03T00:00:00+03:00'); // Monday
  const cut = Date.parse('2025-04-04T10:00:00+03:00');
  const ctx: FitContext = { issueTime: cut, dataCutoff: cut, country: 'TR' };
  const at = (date: string) => ({ fromMs: Date.parse(`${date}T00:00:00+03:00`), toMs: Date.parse(`${date}T00:00:00+03:00`) + DAY });
  it('reproduces a fixed shape per day type × hour, holidays (bayram) included', async () => {
    const s: SeriesData = { id: 'm', timezone: 'Europe/Istanbul', startMs: P, values: shaped(40, P) };
    const fit = await profileModel().fit([s], ctx);
    const [sat] = await fit.predict(at('2025-04-05'));
    const [mon] = await fit.predict(at('2025-04-07'));
    const [pub] = await fit.predict(at('2025-04-23')); // public holiday (Wednesday): none seen yet → a sunday
    const [kurban] = await fit.predict(at('2025-06-06')); // Kurban Bayramı (Friday): the bayram ratio to sunday, 1/3
    expect(sat[0].p50).toBeCloseTo(5, 1);
    expect(mon[8].p50).toBeCloseTo(18, 1);
    expect(pub[8].p50).toBeCloseTo(3, 1);
    expect(kurban[8].p50).toBeCloseTo(1, 1);
    expect((fit.info.series as { method: string }[])[0].method).toBe('profile');
    expect(mon[8].p90 - mon[8].p10).toBeLessThan(0.1); // near-perfect history → a narrow band
  });
  it('scales the shape to the recent level', async () => {
    // January–February (no holidays); everything × 1.5 from Monday 3 Feb on, a week before the cut-off (Sunday 9 Feb 10:00).
    const s: SeriesData = { id: 'm', timezone: 'Europe/Istanbul', startMs: S, values: shaped(35, S, 28 * 24, 1.5) };
    const c = S + 34 * DAY + 10 * H;
    // A fixed 14-day half-life: with 5 days (a candidate the fit may choose) the shape itself takes up part of the new week.
    const fit = await profileModel({ halfLifeDays: 14 }).fit([s], { issueTime: c, dataCutoff: c, country: 'TR' });
    const [mon] = await fit.predict(day(35));
    expect((fit.info.series as { level: number }[])[0].level).toBeGreaterThan(1.2);
    for (const h of [0, 8, 17]) expect(Math.abs(mon[h].p50 / (1.5 * (10 + h)) - 1)).toBeLessThan(0.03);
  });
  it('temperature correction: load = 50 + 2 × heating degree hours → β_heat = 2', async () => {
    const n = 30 * 24;
    const temperature = Float64Array.from({ length: n + 48 }, (_, i) => 5 + 8 * Math.sin(i / 7) + 3 * Math.cos(i / 3.1));
    const values = Float64Array.from({ length: n }, (_, i) => 50 + 2 * Math.max(0, 15.5 - temperature[i]));
    const c = S + (n - 14) * H;
    temperature.fill(0.5, n - 14); // the forecast: 0.5 °C → 15 degree hours
    const s: SeriesData = { id: 'm', timezone: 'Europe/Istanbul', startMs: S, values, temperature };
    const fit = await profileModel().fit([s], { issueTime: c, dataCutoff: c, country: 'TR' });
    const info = (fit.info.series as { betaHeat: number[]; level: number }[])[0];
    expect(info.betaHeat).toEqual([2, 2, 2, 2]);
    expect(info.level).toBe(1);
    const [rows] = await fit.predict({ fromMs: S + n * H, toMs: S + (n + 24) * H });
    expect(rows[3].p50).toBeCloseTo(80, 6); // 50 + 2 × 15
  });
  it('quality gates: too little history or too many flat lines → naive, and says so', async () => {
    const short: SeriesData = { id: 'short', timezone: 'Europe/Istanbul', startMs: S, values: dayHour(10) };
    const flat = dayHour(35);
    flat.fill(0, 16 * 24); // zeros for the last 19 of 35 days: gaps in disguise
    const c = S + 34 * DAY;
    const fit = await profileModel().fit([short, { id: 'flat', timezone: 'Europe/Istanbul', startMs: S, values: flat }], { issueTime: c, dataCutoff: c, country: 'TR' });
    const info = fit.info.series as { method: string; fallback: string }[];
    expect(info.map((x) => x.method)).toEqual(['naive', 'naive']);
    expect(info[0].fallback).toMatch(/too little history: 10 usable days < 14/);
    expect(info[1].fallback).toMatch(/too many gaps\/flat lines/);
    expect(fit.info.fallbacks).toBe(2);
    const [shortRows] = await fit.predict(day(10));
    expect(shortRows[4].p50).toBe(3004); // naive D−7
  });
});

// Real data: one Cambridge building, October 2019 day-ahead, history from August 2019 (test/fixtures/data: 1 August to 20 November).
describe('real data (Cambridge building b0)', () => {
  const start = Date.parse('2019-08-01T00:00:00Z');
  const end = Date.parse('2019-11-20T09:00:00Z');
  const grid = (m: Map<number, number>) => Float64Array.from({ length: (end - start) / H }, (_, i) => m.get(start + i * H) ?? NaN);
  const values = grid(building('b0'));
  const temperature = grid(bedfordTemperature());
  const s: SeriesData = { id: 'b0', timezone: 'Europe/London', startMs: start, values, temperature };
  it('profile beats naive D−7 over three weeks of day-ahead forecasts (MAE)', async () => {
    const err = { naive: 0, profile: 0, hours: 0, covered: 0 };
    for (let d = 0; d < 21; d++) {
      const dayStart = Date.parse('2019-10-01T00:00:00Z') + d * DAY;
      const ctx: FitContext = { issueTime: dayStart - 14 * H, dataCutoff: dayStart - 14 * H, country: 'GB-ENG' };
      const [n] = await (await naiveModel().fit([s], ctx)).predict({ fromMs: dayStart, toMs: dayStart + DAY });
      const [p] = await (await profileModel().fit([s], ctx)).predict({ fromMs: dayStart, toMs: dayStart + DAY });
      for (let h = 0; h < 24; h++) {
        const y = values[(dayStart - start) / H + h];
        err.naive += Math.abs(n[h].p50 - y);
        err.profile += Math.abs(p[h].p50 - y);
        err.hours++;
        if (y >= p[h].p10 && y <= p[h].p90) err.covered++;
      }
    }
    expect(err.hours).toBe(504);
    expect(err.profile / err.hours).toBeLessThan(err.naive / err.hours);
    expect(err.covered / err.hours).toBeGreaterThan(0.5);
  });
});

describe('profile coefficient method (no interval data)', () => {
  const meter = { region: null, tariff: 'single' as const, profileClass: 'residential', timezone: 'Europe/Istanbul' };
  const row = (period: string, dayType: 'workday' | 'saturday' | 'sunday' | 'holiday', hour: number, coefficient: number) => ({
    period,
    region: '*',
    readingType: 'single' as const,
    profileGroup: 'residential',
    date: null,
    dayType,
    hour,
    coefficient,
  });
  const empty: SeriesData = { id: 'meter:P', timezone: 'Europe/Istanbul', startMs: Date.parse('2025-01-01T00:00:00+03:00'), values: new Float64Array(0) };
  const ctx: FitContext = { issueTime: Date.parse('2025-04-20T10:00:00+03:00'), dataCutoff: Date.parse('2025-04-20T10:00:00+03:00'), country: 'TR' };
  it('spreads a monthly total by day type × hour shares, Turkish holidays as sundays', async () => {
    // April 2025: workdays 1 per hour and 3 at 18:00; weekends 2; holidays (1 Apr bayram, 23 Apr) take sunday's 2.
    const coefficients = [
      ...Array.from({ length: 24 }, (_, h) => row('2025-04', 'workday', h, h === 18 ? 3 : 1)),
      ...Array.from({ length: 24 }, (_, h) => row('2025-04', 'saturday', h, 2)),
      ...Array.from({ length: 24 }, (_, h) => row('2025-04', 'sunday', h, 2)),
    ];
    // Σ = 10 off days × 24 × 2 + 20 workdays × (23 + 3) = 480 + 520 = 1 000 → 7 200 / 1 000 = 7.2 per coefficient unit.
    const fit = await coefficientModel({ coefficients, targets: { 'meter:P': { meter, monthlyTotals: { '2025-04': 7200 } } } }).fit([empty], ctx);
    const from = Date.parse('2025-04-23T00:00:00+03:00');
    const [rows] = await fit.predict({ fromMs: from, toMs: from + 2 * DAY });
    expect(rows[0].p50).toBeCloseTo(14.4, 6); // holiday
    expect(rows[24 + 18]).toEqual({ start: from + 42 * H, p10: expect.closeTo(16.2, 6), p50: expect.closeTo(21.6, 6), p90: expect.closeTo(27, 6) });
    expect(rows[24 + 3].p50).toBeCloseTo(7.2, 6);
    expect(fit.kind).toBe('profile');
  });
  it('annual total over the year; unknown series NaN; missing coefficients are an error', async () => {
    const coefficients = Array.from({ length: 12 }, (_, m) => `2025-${String(m + 1).padStart(2, '0')}`).flatMap((p) =>
      (['workday', 'saturday', 'sunday'] as const).flatMap((d) => Array.from({ length: 24 }, (_, h) => row(p, d, h, 1))),
    );
    const model = coefficientModel({ coefficients, targets: { 'meter:P': { meter, annualTotal: 8760 } } });
    const fit = await model.fit([empty, { ...empty, id: 'meter:Q' }], ctx);
    const from = Date.parse('2025-05-05T00:00:00+03:00');
    const [p, q] = await fit.predict({ fromMs: from, toMs: from + DAY });
    expect(p.every((r) => Math.abs(r.p50 - 1) < 1e-9)).toBe(true); // 8 760 over 8 760 equal hours
    expect(q[0].p50).toBeNaN();
    expect((fit.info.series as { missing?: string }[])[1].missing).toMatch(/no meter\/total/);
    const jan26 = Date.parse('2026-01-05T00:00:00+03:00');
    await expect(fit.predict({ fromMs: jan26, toMs: jan26 + DAY })).rejects.toThrow(/no profile coefficient/);
  });
});
