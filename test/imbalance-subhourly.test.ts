import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FillMode } from '../models/market.js';
import { meterImbalance } from '../sql/imbalance.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * The per-meter imbalance statement gathers each meter's values one meter at a
 * time (sql/imbalance.repository.ts, docs/imbalance.md "Performance"): this
 * fixture pins, by hand, what that gathering must keep — quarter-hour values
 * summed into their hour, firm and VEE-estimated quarters apart, the newest
 * day-ahead forecast, and a nomination that is a meter's only row in an hour.
 *
 * Portfolio Q (TR, Europe/Istanbul), 2026-04-06, local hours g1 00:00 and g2 01:00:
 *   position     g1 4, g2 3 MWh
 *   prices       g1 PTF 100 SMF 120 (rule: +97, −123.6), g2 PTF 100 SMF 100 (+97, −103)
 *   Q15 (15 min) g1 four measured quarters of 250 kWh (1 MWh); g2 three measured quarters of 300 kWh and one
 *                estimated (quality estimated) quarter of 300 kWh: 45 firm minutes, no actual
 *   Q60          g1 2 000 kWh, g2 1 000 kWh
 *   QN           g2 500 kWh only (a member from g2, its first value); in g1 its nomination is its only row
 *   P50          Q15 1 000 / 1 000 kWh, Q60 3 000 / 1 000 kWh (newest run; an older run says 9 000), QN none
 *   nominations  g1: Q60 2, QN 2 MWh (Q15 none): g1's weights are the nominations
 * g1: allocated Q15 0, Q60 2, QN 2; actual 1, 2, 0 (QN is not a member yet: counts with what it has);
 *     q −1, 0, +2; portfolio 4 − 3 = +1 → cost 3; standalone 23.6, 0, 6 (Σ 29.6); meter costs 3 × 23.6 / 29.6, 0, 3 × 6 / 29.6
 * g2 (weights: forecasts 1, 1, none → allocated 1.5, 1.5, 0):
 *   fill=none     Q15 has no actual: the hour is left out
 *   fill=estimate Q15 0.9 + 0.3 = 1.2 provisional; Σ 2.7; portfolio +0.3 → cost 0.9;
 *                 q +0.3, +0.5, −0.5 → standalone 0.9, 1.5, 1.5 (Σ 3.9)
 *   fill=forecast Q15 0.9 + P50 1 × 15/60 = 1.15; Σ 2.65; portfolio +0.35 → cost 1.05;
 *                 q +0.35, +0.5, −0.5 → standalone 1.05, 1.5, 1.5 (Σ 4.05)
 */
const G1 = '2026-04-06T00:00:00+03:00';
const G2 = '2026-04-06T01:00:00+03:00';
const G3 = '2026-04-06T02:00:00+03:00';
const at = (local: string) => `2026-04-06T${local}:00+03:00`;
const enc = encodeURIComponent;

describe.each(FLAVOURS)('imbalance with quarter-hour meters and nominations (%s)', (flavour) => {
  let t: TestApp;
  const put = (url: string, payload: unknown) => t.app.inject({ method: 'PUT', url, headers: t.auth('admin'), payload: payload as object });
  const hours = async (fill: FillMode) => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/imbalance?portfolio=Q&from=${enc(G1)}&to=${enc(G3)}&fill=${fill}`, headers: t.auth('trader') });
    expect(res.statusCode).toBe(200);
    return res.json().rows as Record<string, unknown>[];
  };
  const perMeter = (fill: FillMode) => meterImbalance(t.database, { portfolio: 'Q', area: 'TR', timezone: 'Europe/Istanbul', from: new Date(G1), to: new Date(G3), fill });

  beforeAll(async () => {
    t = await testApp(flavour);
    expect((await put('/v1/portfolios/Q', { area: 'TR', currency: 'TRY', timezone: 'Europe/Istanbul' })).statusCode).toBe(201);
    const meters = await put('/v1/meters', [
      { id: 'Q15', portfolio: 'Q', timezone: 'Europe/Istanbul', intervalMinutes: 15 },
      { id: 'Q60', portfolio: 'Q', timezone: 'Europe/Istanbul', intervalMinutes: 60 },
      { id: 'QN', portfolio: 'Q', timezone: 'Europe/Istanbul', intervalMinutes: 60 },
    ]);
    expect(meters.json()).toMatchObject({ rejected: [] });
    const r = (meter: string, start: string, value: number, quality?: 'estimated') => ({ meter, channel: 'active_import', start, value, ...(quality ? { quality, source: 'estimated' } : {}) });
    const readings = [
      r('Q15', at('00:00'), 250),
      r('Q15', at('00:15'), 250),
      r('Q15', at('00:30'), 250),
      r('Q15', at('00:45'), 250),
      r('Q15', at('01:00'), 300),
      r('Q15', at('01:15'), 300),
      r('Q15', at('01:30'), 300),
      r('Q15', at('01:45'), 300, 'estimated'),
      r('Q60', G1, 2000),
      r('Q60', G2, 1000),
      r('QN', G2, 500),
    ];
    const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('admin'), payload: { readings } });
    expect(res.json()).toMatchObject({ accepted: readings.length, rejected: [] });
    const db = t.database.db;
    const run = async (issue: string, values: [string, string, number][]) => {
      const { id } = await db.insertInto('forecast_runs').values({ target: 'portfolio:Q', horizon: 'day-ahead', status: 'done', issue_time: issue }).returning('id').executeTakeFirstOrThrow();
      await db
        .insertInto('forecast_values')
        .values(values.map(([target, start, p50]) => ({ run_id: id, target, start: new Date(start), p50 })))
        .execute();
    };
    await run('2026-04-04T07:00:00Z', [['meter:Q60', G1, 9000]]);
    await run('2026-04-05T07:00:00Z', [
      ['meter:Q15', G1, 1000],
      ['meter:Q15', G2, 1000],
      ['meter:Q60', G1, 3000],
      ['meter:Q60', G2, 1000],
    ]);
    const nom = await put('/v1/market/nominations', {
      portfolio: 'Q',
      nominations: [
        { meter: 'Q60', start: G1, mwh: 2 },
        { meter: 'QN', start: G1, mwh: 2 },
      ],
    });
    expect(nom.json()).toMatchObject({ stored: 2 });
    expect(
      (
        await put('/v1/market/positions', {
          portfolio: 'Q',
          positions: [
            { start: G1, dayAhead: 4 },
            { start: G2, dayAhead: 3 },
          ],
        })
      ).statusCode,
    ).toBe(200);
    const prices = await put('/v1/market/prices', {
      area: 'TR',
      currency: 'TRY',
      prices: [
        { start: G1, ptf: 100, smf: 120 },
        { start: G2, ptf: 100, smf: 100 },
      ],
    });
    expect(prices.statusCode).toBe(200);
  });
  afterAll(() => t?.close());

  it('quarter-hours add up to their hour; a nomination alone puts a meter in the hour; 45 firm minutes are no actual', async () => {
    const [g1, g2] = await hours('none');
    expect(g1).toMatchObject({
      start: G1,
      consumptionMWh: 3,
      imbalanceMWh: 1,
      imbalanceCost: 3,
      standaloneCost: 29.6,
      actualsComplete: true,
      meters: { members: 2, withActuals: 2, provisional: 0, missing: 0 },
    });
    expect(g2).toMatchObject({
      start: G2,
      consumptionMWh: null,
      imbalanceMWh: null,
      missingActualHours: 1,
      actualsComplete: false,
      meters: { members: 3, withActuals: 2, provisional: 0, missing: 1 },
    });

    const { meters, totals } = await perMeter('none');
    expect(totals).toMatchObject({ hours: 2, missingActualHours: 1, missingMeterHours: 1, provisionalHours: 0 });
    expect(totals.position).toBeCloseTo(7, 12);
    expect(totals.missingPosition).toBeCloseTo(3, 12);
    expect(totals.energy).toBeCloseTo(3, 12);
    expect(totals.cost).toBeCloseTo(3, 12);
    expect(totals.standalone).toBeCloseTo(29.6, 12);
    const expected = {
      Q15: { energy: 1, imbalance: -1, standalone: 23.6, cost: (3 * 23.6) / 29.6, missingActualHours: 1 },
      Q60: { energy: 2, imbalance: 0, standalone: 0, cost: 0, missingActualHours: 0 },
      QN: { energy: 0, imbalance: 2, standalone: 6, cost: (3 * 6) / 29.6, missingActualHours: 0 },
    };
    expect(meters.map((m) => m.meter)).toEqual(['Q15', 'Q60', 'QN']);
    for (const m of meters) {
      const e = expected[m.meter as keyof typeof expected];
      for (const k of ['energy', 'imbalance', 'standalone', 'cost'] as const) expect(m[k], `${m.meter}.${k}`).toBeCloseTo(e[k], 10);
      expect(m.missingActualHours, m.meter).toBe(e.missingActualHours);
    }
  });

  it('fill=estimate completes the quarter-hour meter with its estimated quarter; fill=forecast with the P50 of the minutes not covered', async () => {
    for (const fill of ['estimate', 'estimate-or-forecast'] as const) {
      const g2 = (await hours(fill))[1];
      expect(g2, fill).toMatchObject({ consumptionMWh: 2.7, imbalanceMWh: 0.3, provisional: true, provisionalMWh: 1.2, meters: { members: 3, withActuals: 2, provisional: 1, missing: 0 } });
      expect(g2.imbalanceCost).toBeCloseTo(0.9, 6);
      expect(g2.standaloneCost).toBeCloseTo(3.9, 6);
    }
    const f2 = (await hours('forecast'))[1];
    expect(f2).toMatchObject({ consumptionMWh: 2.65, imbalanceMWh: 0.35, provisionalMWh: 1.15, meters: { provisional: 1, missing: 0 } });
    expect(f2.imbalanceCost).toBeCloseTo(1.05, 6);
    expect(f2.standaloneCost).toBeCloseTo(4.05, 6);

    const { meters, totals } = await perMeter('estimate');
    expect(totals).toMatchObject({ hours: 2, missingActualHours: 0, missingMeterHours: 0, provisionalHours: 1 });
    expect(totals.provisionalEnergy).toBeCloseTo(1.2, 12);
    expect(totals.energy).toBeCloseTo(5.7, 12);
    expect(totals.cost).toBeCloseTo(3.9, 12);
    expect(totals.standalone).toBeCloseTo(33.5, 12);
    const expected = {
      Q15: { energy: 2.2, imbalance: -0.7, standalone: 24.5, cost: (3 * 23.6) / 29.6 + (0.9 * 0.9) / 3.9, provisionalHours: 1, provisionalEnergy: 1.2 },
      Q60: { energy: 3, imbalance: 0.5, standalone: 1.5, cost: (0.9 * 1.5) / 3.9, provisionalHours: 0, provisionalEnergy: 0 },
      QN: { energy: 0.5, imbalance: 1.5, standalone: 7.5, cost: (3 * 6) / 29.6 + (0.9 * 1.5) / 3.9, provisionalHours: 0, provisionalEnergy: 0 },
    };
    for (const m of meters) {
      const e = expected[m.meter as keyof typeof expected];
      for (const k of ['energy', 'imbalance', 'standalone', 'cost', 'provisionalEnergy'] as const) expect(m[k], `${m.meter}.${k}`).toBeCloseTo(e[k], 10);
      expect(m.provisionalHours, m.meter).toBe(e.provisionalHours);
      expect(m.missingActualHours, m.meter).toBe(0);
    }
  });
});
