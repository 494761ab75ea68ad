import { sql } from 'kysely';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEpiasCsv } from '../adapters/market/epias-csv.js';
import { imbalanceCost, imbalancePrices, TR_RULES } from '../market/imbalance.js';
import type { Role } from '../models/api-key.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * Issue 12, defects 3, 4 and 9 on the real EPİAŞ files as published (excerpts of
 * 27–28 March 2016, test/fixtures/data/README.md):
 * portfolio TRP, two meters sharing Turkey's real-time consumption ÷ 5 000
 * (TRP-A 60 %, TRP-B 40 %, kWh), the official load forecast plan ÷ 5 000 as its
 * day-ahead position, the PTF and SMF files imported as published, for
 * 27–28 March 2016 (Europe/Istanbul; the 27th has 23 hours).
 *
 * - 2016-03-27 02:00: the consumption file has `0,00` (not published): no value
 *   for either meter. Position 24 300 ÷ 5 000 = 4.86 MWh; before the fix the
 *   report read the hour as consumption 0, imbalance +4.86 MWh and 756 TRY of
 *   the day's cost, unflagged.
 * - 2016-03-27 04:00: PTF = SMF = 0 (not published): held as not yet
 *   published, the hour unpriced. 06:00–09:00 (and 28 March 02:00–04:00): SMF 0
 *   while PTF is not: SMF held, the hours unpriced.
 * - 2016-03-27 10:00: TRP-B's value is left out (a gap of one meter).
 * TRP-A has supplyStart 2016-03-27 and supplyEnd 2016-03-28; TRP-B no
 * supplyStart (a member from its first value) and supplyEnd 2016-03-28; TRP-GAS,
 * a gas meter without values, is never expected to have active import.
 */
const data = (name: string) => readFileSync(new URL(`./fixtures/data/epias-2016-2017/${name}`, import.meta.url));
const FROM_MS = Date.parse('2016-03-26T22:00:00Z'); // 27 March 00:00 +02:00
const TO_MS = Date.parse('2016-03-28T21:00:00Z'); // 29 March 00:00 +03:00
const inWindow = (ms: number) => ms >= FROM_MS && ms < TO_MS;
const HOUR = 3_600_000;
const consumption = new Map(
  parseEpiasCsv(data('GercekZamanliTuketim-2016-2017.csv'), { zeroMeansUnpublished: true })
    .rows.filter((r) => inWindow(r.startMs))
    .map((r) => [r.startMs, r.value]),
);
const plan = new Map(
  parseEpiasCsv(data('YukTahminPlani-2016-2017.csv'), { zeroMeansUnpublished: true })
    .rows.filter((r) => inWindow(r.startMs))
    .map((r) => [r.startMs, r.value]),
);
const ptfOf = new Map(parseEpiasCsv(data('PTF-2016-2017.csv')).rows.map((r) => [r.startMs, r.value]));
const smfOf = new Map(parseEpiasCsv(data('SMF-2016-2017.csv')).rows.map((r) => [r.startMs, r.value]));

const SHARE = { 'TRP-A': 0.6, 'TRP-B': 0.4 } as const;
const H0200 = Date.parse('2016-03-27T00:00:00Z'); // 02:00 +02:00: no consumption published
const H1000 = Date.parse('2016-03-27T07:00:00Z'); // 10:00 +03:00: TRP-B's value left out
/** Consumption of a meter in an hour, MWh (national ÷ 5 000 × share), as the test stored it; undefined = no value. */
const meterMWh = (meter: keyof typeof SHARE, ms: number): number | undefined => {
  if (meter === 'TRP-B' && ms === H1000) return undefined;
  const v = consumption.get(ms);
  return v === undefined ? undefined : (v * SHARE[meter] * 1000) / 5000 / 1000;
};
const iso = (ms: number) => new Date(ms).toISOString();
const q = (o: Record<string, string>) => new URLSearchParams(o).toString();
/** Figures are rounded to 10⁻⁶ of their unit at the edge (issue 12, defect 9). */
const printsClean = (x: number | null) => x === null || Math.round(x * 1e6) / 1e6 === x;

/**
 * The day's figures by hand from the files with the pure rules of market/imbalance.ts:
 * hours with a missing actual are left out; an hour whose SMF is 0 is unpriced (its zero is
 * held as not yet published: every price 0, or SMF 0 while PTF is not); no forecasts, so the
 * position is split equally between the two meters for the standalone costs.
 */
function expectedDay(fromMs: number, toMs: number) {
  let consumptionMWh = 0,
    imbalanceMWh = 0,
    cost = 0,
    standalone = 0,
    position = 0,
    missingPosition = 0,
    missing = 0,
    unpriced = 0;
  const rule = TR_RULES[0];
  for (let h = fromMs; h < toMs; h += HOUR) {
    const pos = (plan.get(h) ?? 0) / 5000;
    position += pos;
    const a = meterMWh('TRP-A', h),
      b = meterMWh('TRP-B', h);
    const ptf = ptfOf.get(h)!,
      smf = smfOf.get(h)!;
    const priced = smf !== 0;
    if (!priced) unpriced++;
    if (a === undefined || b === undefined) {
      missing++;
      missingPosition += pos;
      continue;
    }
    consumptionMWh += a + b;
    imbalanceMWh += pos - a - b;
    if (!priced) continue;
    const prices = imbalancePrices({ ptf, smf }, rule);
    cost += imbalanceCost(pos - a - b, ptf, prices);
    standalone += imbalanceCost(pos / 2 - a, ptf, prices) + imbalanceCost(pos / 2 - b, ptf, prices);
  }
  return { consumptionMWh, imbalanceMWh, cost, standalone, position, missingPosition, missing, unpriced };
}

describe.each(FLAVOURS)('imbalance on real EPİAŞ data: missing actuals and unpublished prices (%s)', (flavour) => {
  let t: TestApp;
  const get = (url: string, role: Role = 'trader') => t.app.inject({ method: 'GET', url, headers: t.auth(role) });
  const put = (url: string, payload: unknown) => t.app.inject({ method: 'PUT', url, headers: t.auth('admin'), payload: payload as object });
  const putCsv = (url: string, body: Buffer) => t.app.inject({ method: 'PUT', url, headers: { ...t.auth('admin'), 'content-type': 'text/csv' }, payload: body });
  const day27 = q({ portfolio: 'TRP', from: '2016-03-27T00:00:00+02:00', to: '2016-03-28T00:00:00+03:00' });
  const rowAt = (rows: { start: string }[], start: string) => rows.find((r) => r.start === start) as Record<string, unknown>;

  beforeAll(async () => {
    t = await testApp(flavour);
    expect((await put('/v1/portfolios/TRP', { area: 'TR', currency: 'TRY', timezone: 'Europe/Istanbul' })).statusCode).toBe(201);
    const meters = await put('/v1/meters', [
      { id: 'TRP-A', portfolio: 'TRP', timezone: 'Europe/Istanbul', intervalMinutes: 60, supplyStart: '2016-03-27', supplyEnd: '2016-03-28' },
      { id: 'TRP-B', portfolio: 'TRP', timezone: 'Europe/Istanbul', intervalMinutes: 60, supplyEnd: '2016-03-28' },
      { id: 'TRP-GAS', portfolio: 'TRP', commodity: 'gas', timezone: 'Europe/Istanbul', intervalMinutes: 60, supplyStart: '2016-01-01' }, // never has active import: not expected
    ]);
    expect(meters.json()).toMatchObject({ rejected: [] });
    const readings = (['TRP-A', 'TRP-B'] as const).flatMap((meter) =>
      [...consumption.keys()].filter((ms) => meterMWh(meter, ms) !== undefined).map((ms) => ({ meter, channel: 'active_import', start: iso(ms), value: meterMWh(meter, ms)! * 1000 })),
    );
    expect(consumption.has(H0200)).toBe(false); // the file's 0,00: not published
    const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('admin'), payload: { readings } });
    expect(res.json()).toMatchObject({ accepted: readings.length, rejected: [] });
    const pos = await put('/v1/market/positions', { portfolio: 'TRP', positions: [...plan].map(([ms, mwh]) => ({ start: iso(ms), dayAhead: mwh / 5000 })) });
    expect(pos.json()).toMatchObject({ stored: plan.size });
  });
  afterAll(() => t?.close());

  it('imports the PTF and SMF files: zeros that look unpublished are reported by line and held, in either order', async () => {
    const ptf = (await putCsv('/v1/market/prices?area=TR', data('PTF-2016-2017.csv'))).json();
    // Without SMF yet, every PTF of 0 is "every price of the hour 0": 1 hour (27 March 04:00; 2 lines, one the repeated 04:00).
    expect(ptf).toMatchObject({ kind: 'ptf', stored: 47, suspiciousCount: 1, unpublished: 1 });
    expect(ptf.suspicious.find((s: { line: number }) => s.line === 5)).toEqual({
      start: '2016-03-27T04:00:00+03:00',
      line: 5,
      columns: ['ptf'],
      reason: 'every price of the hour is 0 (ptf): held as not yet published; confirmZeros=true stores them as real prices',
      storedAs: 'unpublished',
    });
    const smf = (await putCsv('/v1/market/prices?area=TR', data('SMF-2016-2017.csv'))).json();
    // 1 hour with PTF = SMF = 0 and 7 with SMF 0 while PTF is not (27 March 06:00–09:00, 28 March 02:00–04:00).
    expect(smf).toMatchObject({ kind: 'smf', stored: 47, suspiciousCount: 8, unpublished: 8 });
    const byStart = new Map(smf.suspicious.map((s: { start: string }) => [s.start, s]));
    expect(byStart.get('2016-03-27T04:00:00+03:00')).toMatchObject({ line: 5, columns: ['ptf', 'smf'], storedAs: 'unpublished' });
    expect(byStart.get('2016-03-27T06:00:00+03:00')).toMatchObject({ line: 8, columns: ['smf'], reason: expect.stringMatching(/^SMF is 0 while PTF is 85: held/) });
    expect(smf.suspicious.filter((s: { columns: string[] }) => s.columns.length === 1).length).toBe(7);

    // Read back: a held price is null and named; the hour's other price stays.
    const prices = (await get(`/v1/market/prices?${q({ area: 'TR', from: '2016-03-27T02:00:00+02:00', to: '2016-03-27T07:00:00+03:00' })}`)).json().prices;
    expect(prices.map((p: { start: string; ptf: number | null; smf: number | null; unpublished: string[] }) => [p.start, p.ptf, p.smf, p.unpublished])).toEqual([
      ['2016-03-27T02:00:00+02:00', 174.99, 20, []],
      ['2016-03-27T04:00:00+03:00', null, null, ['ptf', 'smf']],
      ['2016-03-27T05:00:00+03:00', 85, 20.07, []],
      ['2016-03-27T06:00:00+03:00', 85, null, ['smf']],
    ]);

    // The other order (SMF first, then PTF) holds the same columns of the same hours.
    await putCsv('/v1/market/prices?area=T2&kind=smf', data('SMF-2016-2017.csv'));
    const ptfAfter = (await putCsv('/v1/market/prices?area=T2&kind=ptf', data('PTF-2016-2017.csv'))).json();
    expect(ptfAfter).toMatchObject({ suspiciousCount: 8, unpublished: 8 });
    const { rows: flags } = await sql<{ area: string; n: number; cols: string }>`
      SELECT area, count(*)::int AS n, string_agg(extract(epoch FROM start)::bigint || ':' || array_to_string(unpublished, '|'), ',' ORDER BY start) AS cols
      FROM market_prices WHERE area IN ('TR', 'T2') AND unpublished IS NOT NULL GROUP BY area ORDER BY area`.execute(t.database.db);
    expect(flags.map((f) => f.n)).toEqual([8, 8]);
    expect(flags[0].cols).toBe(flags[1].cols);
  });

  it('TRP on 2016-03-27: the hour without consumption is left out and flagged, not consumption 0 and +4.86 MWh', async () => {
    const body = (await get(`/v1/imbalance?${day27}&interval=hour`)).json();
    expect(body.rows).toHaveLength(23);
    expect(body).toMatchObject({ fill: 'none', missingActualHours: 2 });
    const h02 = rowAt(body.rows, '2016-03-27T02:00:00+02:00');
    expect(h02.positionMWh).toBe(4.86);
    expect(h02.consumptionMWh).not.toBe(0);
    expect(h02.imbalanceMWh).not.toBe(4.86);
    expect(h02).toMatchObject({
      consumptionMWh: null,
      imbalanceMWh: null,
      imbalanceCost: null, // was 756 TRY of the day's 777
      standaloneCost: null,
      actualsComplete: false,
      missingActualHours: 1,
      missingPositionMWh: 4.86,
      meters: { members: 2, withActuals: 0, provisional: 0, missing: 2 },
      ptf: 174.99,
      smf: 20,
      priced: true,
    });
    // One meter of two without a value: the hour's imbalance is unknown, so it is left out too.
    expect(rowAt(body.rows, '2016-03-27T10:00:00+03:00')).toMatchObject({ consumptionMWh: null, actualsComplete: false, meters: { members: 2, withActuals: 1, missing: 1 } });
    // PTF = SMF = 0 (not published): unpriced, not a cost of 0 at prices of 0.
    const h04 = rowAt(body.rows, '2016-03-27T04:00:00+03:00');
    expect(h04).toMatchObject({ ptf: null, smf: null, priced: false, unpricedHours: 1, unpublishedPriceHours: 1, imbalanceCost: null, actualsComplete: true, positionMWh: 0 });
    expect(h04.consumptionMWh).toBe(4.955388); // (24 776.94 × 0.6 + × 0.4) ÷ 5 000
    expect(rowAt(body.rows, '2016-03-27T06:00:00+03:00')).toMatchObject({ ptf: 85, smf: null, priced: false, imbalanceCost: null });
    const h05 = rowAt(body.rows, '2016-03-27T05:00:00+03:00');
    expect(h05).toMatchObject({ priced: true, actualsComplete: true, meters: { members: 2, withActuals: 2, provisional: 0, missing: 0 } });
    for (const r of body.rows) for (const v of Object.values(r)) if (typeof v === 'number') expect(printsClean(v), `${r.start}: ${v}`).toBe(true);

    // The day, by hand from the files.
    const e = expectedDay(FROM_MS, Date.parse('2016-03-27T21:00:00Z'));
    expect(e).toMatchObject({ missing: 2, unpriced: 5 });
    const [d] = (await get(`/v1/imbalance?${day27}&interval=day`)).json().rows;
    expect(d).toMatchObject({ hours: 23, missingActualHours: 2, unpricedHours: 5, unpublishedPriceHours: 5, actualsComplete: false, priced: false });
    expect(d.positionMWh).toBeCloseTo(e.position, 6);
    expect(d.missingPositionMWh).toBeCloseTo(e.missingPosition, 6);
    expect(d.consumptionMWh).toBeCloseTo(e.consumptionMWh, 6);
    expect(d.imbalanceMWh).toBeCloseTo(e.imbalanceMWh, 6);
    expect(d.imbalanceCost).toBeCloseTo(e.cost, 6);
    expect(d.standaloneCost).toBeCloseTo(e.standalone, 6);
    expect(d.imbalanceMWh).toBeCloseTo(d.positionMWh - d.missingPositionMWh - d.consumptionMWh, 6);
    for (const v of Object.values(d)) if (typeof v === 'number') expect(printsClean(v), String(v)).toBe(true);
  });

  it('per-meter report: each meter counts its own missing hours; the supply period bounds what is expected', async () => {
    const body = (await get(`/v1/imbalance/meters?${q({ portfolio: 'TRP', period: '2016-03', sort: 'meter', order: 'asc' })}`)).json();
    // Members on 27 and 28 March only (supplyStart / first value, supplyEnd): 23 + 24 hours.
    const e = expectedDay(FROM_MS, TO_MS);
    expect(body.totals).toMatchObject({
      hours: 47,
      missingActualHours: 2,
      missingMeterHours: 3,
      unpricedHours: e.unpriced,
      unpublishedPriceHours: e.unpriced,
      actualsComplete: false,
      provisionalHours: 0,
    });
    expect(body.totals.energyMWh).toBeCloseTo(e.consumptionMWh, 6);
    expect(body.totals.imbalanceCost).toBeCloseTo(e.cost, 6);
    expect(body.totals.standaloneCost).toBeCloseTo(e.standalone, 6);
    expect(body.meters.map((m: { meter: string; missingActualHours: number }) => [m.meter, m.missingActualHours])).toEqual([
      ['TRP-A', 1],
      ['TRP-B', 2],
    ]);
    const sum = (k: string) => body.meters.reduce((a: number, m: Record<string, number>) => a + m[k], 0);
    expect(sum('energyMWh')).toBeCloseTo(body.totals.energyMWh, 5);
    expect(sum('imbalanceMWh')).toBeCloseTo(body.totals.imbalanceMWh, 5);
    expect(sum('imbalanceCost')).toBeCloseTo(body.totals.imbalanceCost, 5);
    for (const m of body.meters) for (const v of Object.values(m)) if (typeof v === 'number') expect(printsClean(v), String(v)).toBe(true);
  });

  it('fill=forecast and fill=estimate count the missing meter-hours with declared provisional values', async () => {
    // A day-ahead run issued the day before: P50 (kWh) from the load plan for both meters at 02:00 and TRP-B at 10:00.
    const db = t.database.db;
    const { id } = await db
      .insertInto('forecast_runs')
      .values({ target: 'portfolio:TRP', horizon: 'day-ahead', status: 'done', issue_time: '2016-03-26T08:00:00Z' })
      .returning('id')
      .executeTakeFirstOrThrow();
    const p50 = (meter: keyof typeof SHARE, ms: number) => ({ run_id: id, target: `meter:${meter}`, start: new Date(ms), p50: (plan.get(ms)! * SHARE[meter] * 1000) / 5000 });
    await db
      .insertInto('forecast_values')
      .values([p50('TRP-A', H0200), p50('TRP-B', H0200), p50('TRP-B', H1000)])
      .execute();

    // Without a fill nothing changes: a forecast is not an actual.
    expect(rowAt((await get(`/v1/imbalance?${day27}`)).json().rows, '2016-03-27T02:00:00+02:00')).toMatchObject({ consumptionMWh: null, missingActualHours: 1 });

    const fc = (await get(`/v1/imbalance?${day27}&fill=forecast`)).json();
    expect(fc).toMatchObject({ fill: 'forecast', missingActualHours: 0, provisionalHours: 2 });
    const h02 = rowAt(fc.rows, '2016-03-27T02:00:00+02:00');
    expect(h02).toMatchObject({
      consumptionMWh: 4.86, // 24 300 ÷ 5 000, from the forecast
      imbalanceMWh: 0,
      provisional: true,
      provisionalMWh: 4.86,
      actualsComplete: false,
      missingActualHours: 0,
      meters: { members: 2, withActuals: 0, provisional: 2, missing: 0 },
    });
    expect(h02.imbalanceCost).toBe(0);
    const h10 = rowAt(fc.rows, '2016-03-27T10:00:00+03:00');
    expect(h10).toMatchObject({ provisional: true, meters: { members: 2, withActuals: 1, provisional: 1, missing: 0 } });
    expect(h10.consumptionMWh).toBeCloseTo(meterMWh('TRP-A', H1000)! + (plan.get(H1000)! * 0.4) / 5000, 6);

    // A VEE estimate of TRP-B at 10:00 (quality estimated): used by fill=estimate, never as an actual.
    const est = await t.app.inject({
      method: 'POST',
      url: '/v1/readings',
      headers: t.auth('admin'),
      payload: { readings: [{ meter: 'TRP-B', channel: 'active_import', start: iso(H1000), value: 2100, quality: 'estimated', source: 'estimated' }] },
    });
    expect(est.json()).toMatchObject({ accepted: 1, rejected: [] });
    expect(rowAt((await get(`/v1/imbalance?${day27}`)).json().rows, '2016-03-27T10:00:00+03:00')).toMatchObject({ consumptionMWh: null, meters: { missing: 1 } });
    const es = (await get(`/v1/imbalance?${day27}&fill=estimate`)).json();
    expect(es).toMatchObject({ missingActualHours: 1, provisionalHours: 1 }); // 02:00 has no estimate
    const e10 = rowAt(es.rows, '2016-03-27T10:00:00+03:00');
    expect(e10).toMatchObject({ provisional: true, provisionalMWh: 2.1, meters: { withActuals: 1, provisional: 1, missing: 0 } });
    expect(e10.consumptionMWh).toBeCloseTo(meterMWh('TRP-A', H1000)! + 2.1, 6);
    const both = (await get(`/v1/imbalance?${day27}&fill=estimate-or-forecast`)).json();
    expect(both).toMatchObject({ missingActualHours: 0, provisionalHours: 2 });
    expect(rowAt(both.rows, '2016-03-27T10:00:00+03:00').provisionalMWh).toBe(2.1);

    const month = (await get(`/v1/imbalance/meters?${q({ portfolio: 'TRP', period: '2016-03', sort: 'meter', order: 'asc', fill: 'estimate-or-forecast' })}`)).json();
    expect(month.totals).toMatchObject({ missingActualHours: 0, missingMeterHours: 0, provisionalHours: 2 });
    expect(month.meters.map((m: { meter: string; missingActualHours: number; provisionalHours: number }) => [m.meter, m.missingActualHours, m.provisionalHours])).toEqual([
      ['TRP-A', 0, 1],
      ['TRP-B', 0, 2],
    ]);
    expect((await get(`/v1/imbalance?${day27}&fill=guess`)).statusCode).toBe(400);
  });

  it('confirmZeros=true stores the zeros as real prices; a later write without it judges the hours again', async () => {
    const confirmed = (await putCsv('/v1/market/prices?area=TR&confirmZeros=true', data('SMF-2016-2017.csv'))).json();
    expect(confirmed).toMatchObject({ suspiciousCount: 8, unpublished: 0 });
    expect(confirmed.suspicious[0]).toMatchObject({ storedAs: 'confirmed', reason: expect.stringMatching(/stored as real zeros/) });
    const h04 = rowAt((await get(`/v1/imbalance?${day27}`)).json().rows, '2016-03-27T04:00:00+03:00');
    expect(h04).toMatchObject({ ptf: 0, smf: 0, priced: true, unpricedHours: 0, imbalanceCost: 0 });
    expect((await putCsv('/v1/market/prices?area=TR', data('SMF-2016-2017.csv'))).json()).toMatchObject({ suspiciousCount: 8, unpublished: 8 });
    expect(rowAt((await get(`/v1/imbalance?${day27}`)).json().rows, '2016-03-27T04:00:00+03:00')).toMatchObject({ ptf: null, priced: false });

    // JSON rows: every price 0 and SMF 0 with a PTF are held; a PTF of 0 with an SMF is a real price.
    const rows = [
      { start: '2030-01-01T00:00:00+03:00', ptf: 0, smf: 0 },
      { start: '2030-01-01T01:00:00+03:00', ptf: 50, smf: 0 },
      { start: '2030-01-01T02:00:00+03:00', ptf: 0, smf: 30 },
      { start: '2030-01-01T03:00:00+03:00', ptf: 40, smf: 41 },
    ];
    const json = (await put('/v1/market/prices', { area: 'TR', currency: 'TRY', prices: rows })).json();
    expect(json).toMatchObject({ stored: 4, unpublished: 2, suspiciousCount: 2 });
    expect(json.suspicious.map((s: { index: number; columns: string[]; storedAs: string }) => [s.index, s.columns, s.storedAs])).toEqual([
      [0, ['ptf', 'smf'], 'unpublished'],
      [1, ['smf'], 'unpublished'],
    ]);
    const ok = (await put('/v1/market/prices?confirmZeros=true', { area: 'TR', currency: 'TRY', prices: rows.slice(0, 2) })).json();
    expect(ok).toMatchObject({
      unpublished: 0,
      suspiciousCount: 2,
      suspicious: [
        { index: 0, storedAs: 'confirmed' },
        { index: 1, storedAs: 'confirmed' },
      ],
    });
    const back = (await get(`/v1/market/prices?${q({ area: 'TR', from: '2030-01-01T00:00:00+03:00', to: '2030-01-01T02:00:00+03:00' })}`)).json().prices;
    expect(back.map((p: { smf: number | null; unpublished: string[] }) => [p.smf, p.unpublished])).toEqual([
      [0, []],
      [0, []],
    ]);
  });
});
