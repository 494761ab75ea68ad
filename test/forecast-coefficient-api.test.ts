import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../models/api-key.js';
import { runForecast } from '../forecast/engine.js';
import { createForecastWorker, type ForecastEngine } from '../forecast/forecast-job.js';
import { monthTotals } from '../forecast/profiled-members.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * Forecast runs for meters without interval data (the profile coefficient
 * method, forecast/profiled-members.ts), hand-computed. Istanbul (UTC+3, no
 * DST), day-ahead of Monday 2026-03-16 issued 2026-03-15 09:30 (data cut-off
 * 09:00 = 06:00Z).
 * - Coefficients 2026-03, AYEDAS/single/residential, every day type: hours
 *   8–19 → 2, the others → 1: a day Σ = 36, March (31 days, 744 h) Σ = 1116.
 * - P1 (no March 2025 reads): register 1000 on 01-01, 2000 on 02-01, 3008 on
 *   03-01 → last full month Feb = 1008 kWh over 672 h → March = 1008 × 744/672
 *   = 1116 kWh → 2 kWh in hours 8–19, 1 in the others.
 * - P2 (multiplier 2): register 0 on 2025-03-01, 279 on 2025-04-01 → same month
 *   last year = 558 kWh (Feb 2026 would give another total: last year wins)
 *   → 1 kWh in hours 8–19, 0.5 in the others.
 * - PC commercial (no coefficients), PN residential without reads: not forecast.
 * - B1 interval meter (3 kWh every hour since 03-01): the stand-in engine gives
 *   every series it sees P50 5 (P10 4, P90 6).
 * Portfolio PX = 5 + P1 + P2: 8 in hours 8–19, 6.5 in the others.
 */
const H = 3_600_000;
const ist = (ms: number) => new Date(ms + 3 * H).toISOString().slice(0, 19) + '+03:00';
const at = (local: string) => Date.parse(`${local}+03:00`);
const ISSUE = '2026-03-15T09:30:00+03:00';
const D1 = at('2026-03-16T00:00:00');
const CUTOFF = Date.parse('2026-03-15T06:00:00Z');
const peak = (h: number) => h >= 8 && h <= 19;

const seen: { ids: string[]; aggregateLast: number }[] = [];
const constant: ForecastEngine = async (series, ctx, horizon) => {
  const agg = series.find((s) => s.id.startsWith('portfolio:'));
  const last = agg ? agg.values[Math.floor((ctx.dataCutoff - agg.startMs) / H) - 1] : NaN;
  seen.push({ ids: series.map((s) => s.id), aggregateLast: last });
  const rows = series.map(() => {
    const out = [];
    for (let t = horizon.fromMs; t < horizon.toMs; t += H) out.push({ start: t, p10: 4, p50: 5, p90: 6 });
    return out;
  });
  return { model: 'naive', rows, info: { standIn: 'constant 5' }, metrics: null };
};

/** The real engine (forecast/engine runForecast) as the job's engine. */
const real: ForecastEngine = async (series, ctx, horizon, opts) => {
  const r = await runForecast(series, ctx, horizon, opts);
  return { model: r.model, rows: r.rows, info: r.info, metrics: r.metrics };
};

const coefficients = ['workday', 'saturday', 'sunday'].flatMap((dayType) =>
  Array.from({ length: 24 }, (_, hour) => ({ period: '2026-03', region: 'AYEDAS', readingType: 'single', profileGroup: 'residential', dayType, hour, coefficient: peak(hour) ? 2 : 1 })),
);

describe('monthTotals (the rule)', () => {
  const tz = 'Europe/Istanbul';
  it('same month last year first, else the last full month scaled by hours, else the one before; reasons otherwise', () => {
    const feb = [
      { atMs: at('2026-02-01T00:00:00'), value: 2000 },
      { atMs: at('2026-03-01T00:00:00'), value: 3008 },
    ];
    expect(monthTotals(feb, ['2026-03'], tz, CUTOFF, 1)).toEqual({ totals: { '2026-03': { kWh: 1116, basis: 'last full month 2026-02: 1008 kWh over 672 h, × 744/672 h' } } });
    const jan = [
      { atMs: at('2026-01-01T00:00:00'), value: 0 },
      { atMs: at('2026-02-01T00:00:00'), value: 744 },
    ];
    expect(monthTotals(jan, ['2026-03'], tz, CUTOFF, 2)).toMatchObject({ totals: { '2026-03': { kWh: 1488, basis: expect.stringMatching(/^last full month 2026-01/) } } });
    const ly = [...feb, { atMs: at('2025-03-01T00:00:00'), value: 0 }, { atMs: at('2025-04-01T00:00:00'), value: 279 }];
    expect(monthTotals(ly, ['2026-03'], tz, CUTOFF, 2)).toEqual({ totals: { '2026-03': { kWh: 558, basis: 'same month last year 2025-03: 558 kWh' } } });
    // A read after the cut-off is not known yet: February's closing read of 03-02 is not seen on 03-01 12:00, January is used.
    const late = [
      { atMs: at('2026-01-01T00:00:00'), value: 0 },
      { atMs: at('2026-02-01T00:00:00'), value: 2000 },
      { atMs: at('2026-03-02T00:00:00'), value: 3044 },
    ];
    expect(monthTotals(late, ['2026-03'], tz, at('2026-03-01T12:00:00'), 1)).toEqual({ totals: { '2026-03': { kWh: 2000, basis: 'last full month 2026-01: 2000 kWh over 744 h, × 744/744 h' } } });
    expect(monthTotals(late, ['2026-03'], tz, at('2026-03-02T12:00:00'), 1)).toMatchObject({ totals: { '2026-03': { basis: expect.stringMatching(/^last full month 2026-02: .* \(pro rata\)$/) } } });
    expect(monthTotals([], ['2026-03'], tz, CUTOFF, 1)).toEqual({
      reason: expect.stringMatching(/^no monthly total for 2026-03 from register reads .*2025-03: no register read.*2026-02: no register read.*2026-01: no register read/),
    });
  });
});

describe.each(FLAVOURS)('forecast runs with profiled members (%s)', (flavour) => {
  let t: TestApp;
  const inject = (method: 'GET' | 'POST' | 'PUT', url: string, role: Role = 'admin', payload?: unknown) =>
    t.app.inject({ method, url, headers: t.auth(role), ...(payload === undefined ? {} : { payload: payload as object }) });
  const queue = async (body: object) => {
    const res = await inject('POST', '/v1/forecasts/runs', 'admin', body);
    expect(res.statusCode, res.body).toBe(202);
    return res.json().id as number;
  };
  const work = (engine: ForecastEngine = constant) => createForecastWorker({ database: t.database, engine, pollMs: 60_000 }).tick();

  beforeAll(async () => {
    t = await testApp(flavour);
    const m = await inject('PUT', '/v1/meters', 'admin', [
      { id: 'B1', portfolio: 'PX' },
      { id: 'P1', portfolio: 'PX', profileClass: 'residential', region: 'AYEDAS' },
      { id: 'P2', portfolio: 'PX', profileClass: 'residential', region: 'AYEDAS', multiplier: 2 },
      { id: 'PC', portfolio: 'PX', profileClass: 'commercial', region: 'AYEDAS' },
      { id: 'PN', portfolio: 'PX', profileClass: 'residential', region: 'AYEDAS' },
    ]);
    expect(m.statusCode, m.body).toBe(200);
    const c = await inject('PUT', '/v1/profiles/coefficients', 'billing', { coefficients });
    expect(c.statusCode, c.body).toBe(200);
    const reg = (meter: string, local: string, value: number) => ({ meter, channel: 'active_import_register', start: ist(at(local)), value });
    const interval = [];
    for (let ms = at('2026-03-01T00:00:00'); ms < CUTOFF; ms += H) interval.push({ meter: 'B1', channel: 'active_import', start: ist(ms), value: 3 });
    const r = await inject('POST', '/v1/readings', 'gateway', {
      readings: [
        reg('P1', '2026-01-01T00:00:00', 1000),
        reg('P1', '2026-02-01T00:00:00', 2000),
        reg('P1', '2026-03-01T00:00:00', 3008),
        reg('P2', '2025-03-01T00:00:00', 0),
        reg('P2', '2025-04-01T00:00:00', 279),
        reg('P2', '2026-02-01T00:00:00', 500),
        reg('P2', '2026-03-01T00:00:00', 1000),
        reg('PC', '2026-02-01T00:00:00', 0),
        reg('PC', '2026-03-01T00:00:00', 100),
        ...interval,
      ],
    });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ rejected: [] });
  });
  afterAll(() => t?.close());

  it('a portfolio of an interval meter and profiled meters: profiled rows = the spread monthly total, the portfolio sums them, metadata says who and why; two members not forecast make the run partial', async () => {
    seen.length = 0;
    const id = await queue({ target: 'portfolio:PX', horizon: 'day-ahead', issueTime: ISSUE });
    await work();
    const run = (await inject('GET', `/v1/forecasts/runs/${id}`, 'trader')).json();
    expect(run, JSON.stringify(run)).toMatchObject({ status: 'partial', model: 'naive', from: '2026-03-15T21:00:00.000Z', to: '2026-03-16T21:00:00.000Z' });
    // Energy of the 30 days before the cut-off: B1 3 kWh × 720 h; P1 1116 kWh and P2 558 kWh of March (744 h) × 720/744; PC, PN unknown.
    expect(run.coverage).toMatchObject({ members: 5, forecast: 3, share: 0.6, energyShare: 1, energyUnknown: 2, notForecast: [{ meter: 'PC' }, { meter: 'PN' }] });
    expect(run.coverage.notForecast[0].reason).toMatch(
      /^no interval value in the 366 days before the data cut-off, and the profile coefficient method could not forecast it: no profile coefficient for 744 hour/,
    );
    expect(run.warnings[0]).toMatch(/^2 of 5 member\(s\) not forecast; .*\(2 member\(s\) without a value then\): the target's values leave them out\. PC \(/);
    expect(run.holidayCalendar).toEqual({ country: 'TR', source: 'time zone Europe/Istanbul' });
    // The engine saw only the interval member and an aggregate of it (3, not NaN from the members without interval data).
    expect(seen).toEqual([{ ids: ['meter:B1', 'portfolio:PX'], aggregateLast: 3 }]);
    expect(run.metadata.profileCoefficients).toMatchObject({
      members: [
        {
          meter: 'P1',
          method: 'coefficients',
          why: 'no interval value in the 14 days before the data cut-off',
          profileClass: 'residential',
          region: 'AYEDAS',
          tariff: 'single',
          totals: { '2026-03': { kWh: 1116, basis: 'last full month 2026-02: 1008 kWh over 672 h, × 744/672 h' } },
        },
        { meter: 'P2', method: 'coefficients', totals: { '2026-03': { kWh: 558, basis: 'same month last year 2025-03: 558 kWh' } } },
      ],
      toEngine: [],
      notForecast: [
        { meter: 'PC', reason: expect.stringMatching(/^no profile coefficient for 744 hour\(s\) \(region "\*", reading type single, profile group "commercial"\).*PUT \/v1\/profiles\/coefficients/) },
        { meter: 'PN', reason: expect.stringMatching(/^no monthly total for 2026-03 from register reads/) },
      ],
    });
    expect(run.metadata.profileCoefficients.members).toHaveLength(2);

    const p1 = (await inject('GET', '/v1/forecasts?target=meter:P1&horizon=day-ahead&for=2026-03-16', 'trader')).json();
    expect(p1.run.id).toBe(id);
    expect(p1.rows).toHaveLength(24);
    p1.rows.forEach((r: { start: string; p10: number; p50: number; p90: number }, h: number) => {
      expect(Date.parse(r.start)).toBe(D1 + h * H);
      expect(r.p50).toBeCloseTo(peak(h) ? 2 : 1, 6);
      expect(r.p10).toBeCloseTo(r.p50 * 0.75, 6);
      expect(r.p90).toBeCloseTo(r.p50 * 1.25, 6);
    });
    const p2 = (await inject('GET', '/v1/forecasts?target=meter:P2&horizon=day-ahead&for=2026-03-16', 'trader')).json();
    expect(p2.rows.map((r: { p50: number }) => Math.round(r.p50 * 1e6) / 1e6)).toEqual(Array.from({ length: 24 }, (_, h) => (peak(h) ? 1 : 0.5)));

    const px = (await inject('GET', '/v1/forecasts?target=portfolio:PX&horizon=day-ahead&for=2026-03-16', 'trader')).json();
    expect(px).toMatchObject({ status: 'partial', unit: 'kWh', coverage: { members: 5, forecast: 3 }, run: { id, status: 'partial' } });
    expect(px.warnings[0]).toMatch(/^2 of 5 member\(s\) not forecast/);
    expect(px.rows).toHaveLength(24);
    px.rows.forEach((r: { p10: number; p50: number; p90: number }, h: number) => {
      expect(r.p50).toBeCloseTo(peak(h) ? 8 : 6.5, 6);
      expect(r.p10 < r.p50 && r.p50 < r.p90).toBe(true);
    });
    const stored = await t.database.db
      .selectFrom('forecast_values')
      .select(['target', sql<number>`count(*)::int`.as('n')])
      .where('run_id', '=', id)
      .groupBy('target')
      .orderBy('target')
      .execute();
    expect(stored).toEqual([
      { target: 'meter:B1', n: 24 },
      { target: 'meter:P1', n: 24 },
      { target: 'meter:P2', n: 24 },
      { target: 'portfolio:PX', n: 24 },
    ]);
  });

  it('a meter with register reads only is forecast on its own (no engine call); one without coefficients fails with the reason', async () => {
    seen.length = 0;
    const ok = await queue({ target: 'meter:P1', horizon: 'day-ahead', issueTime: ISSUE });
    const bad = await queue({ target: 'meter:PC', horizon: 'day-ahead', issueTime: ISSUE });
    await work();
    expect(seen).toEqual([]);
    const r1 = (await inject('GET', `/v1/forecasts/runs/${ok}`, 'trader')).json();
    expect(r1).toMatchObject({
      status: 'done',
      model: 'profile',
      metadata: { engine: { skipped: expect.stringMatching(/no member with interval data/) }, profileCoefficients: { members: [{ meter: 'P1' }], notForecast: [] } },
    });
    const rows = (await inject('GET', `/v1/forecasts?target=meter:P1&for=2026-03-16`, 'trader')).json();
    expect(rows.run.id).toBe(ok);
    expect(rows.rows.reduce((s: number, r: { p50: number }) => s + r.p50, 0)).toBeCloseTo(12 * 2 + 12 * 1, 6);
    const r2 = (await inject('GET', `/v1/forecasts/runs/${bad}`, 'trader')).json();
    expect(r2.status).toBe('failed');
    expect(r2.error).toMatch(
      /^meter:PC: no usable active import before the data cut-off \S+: no value is stored in the history window: store readings first\. The profile coefficient method could not forecast it either \(PC: no profile coefficient for 744 hour/,
    );
  });

  it('with the real engine (naive requested: D−7 of B1 = 3 kWh every hour), the portfolio is 3 + P1 + P2', async () => {
    const id = await queue({ target: 'portfolio:PX', horizon: 'day-ahead', issueTime: ISSUE, model: 'naive' });
    await work(real);
    const run = (await inject('GET', `/v1/forecasts/runs/${id}`, 'trader')).json();
    expect(run, JSON.stringify(run.error)).toMatchObject({ status: 'partial', model: 'naive', metadata: { profileCoefficients: { members: [{ meter: 'P1' }, { meter: 'P2' }] } } });
    const px = (await inject('GET', '/v1/forecasts?target=portfolio:PX&horizon=day-ahead&for=2026-03-16', 'trader')).json();
    expect(px.run.id).toBe(id);
    expect(px.rows.map((r: { p50: number }) => Math.round(r.p50 * 1e6) / 1e6)).toEqual(Array.from({ length: 24 }, (_, h) => (peak(h) ? 6 : 4.5)));
    const b1 = (await inject('GET', '/v1/forecasts?target=meter:B1&horizon=day-ahead&for=2026-03-16', 'trader')).json();
    expect(b1.rows.map((r: { p50: number }) => r.p50)).toEqual(Array(24).fill(3));
  });
});
