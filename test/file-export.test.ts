/**
 * Exports (issue 17): readings and aggregates as xlsx, an xlsx round trip
 * (export, then import the workbook as it is: every row unchanged), and
 * format= never silently ignored.
 */
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeterSchema } from '../models/meter.js';
import { upsertPositions, upsertPrices } from '../sql/market.repository.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

describe.each(FLAVOURS)('exports (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
    await upsertMeters(t.database, [MeterSchema.parse({ id: 'PL-1', timezone: 'Europe/Warsaw', intervalMinutes: 60, group: 'g' })]);
    // the autumn DST day: 25 hours, 02:00 twice
    const readings = Array.from({ length: 25 }, (_, i) => ({
      meter: 'PL-1',
      channel: 'active_import',
      start: new Date(Date.UTC(2026, 9, 24, 22) + i * 3_600_000).toISOString(),
      value: 1 + i / 4,
      ...(i === 4 ? { quality: 'estimated' } : {}),
    }));
    const r = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('gateway'), payload: { readings } });
    expect(r.json().accepted).toBe(25);
  });
  afterAll(() => t?.close());

  const range = 'from=2026-10-25T00:00:00%2B02:00&to=2026-10-26T00:00:00%2B01:00';

  it('readings as xlsx, imported back as they are: every row unchanged', async () => {
    const r = await t.app.inject({ method: 'GET', url: `/v1/meters/PL-1/readings?channel=active_import&${range}&format=xlsx`, headers: t.auth('admin') });
    expect(r.statusCode, r.body).toBe(200);
    expect(r.headers['content-type']).toBe(XLSX);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(r.rawPayload as unknown as ArrayBuffer);
    const ws = wb.worksheets[0];
    expect(ws.getRow(1).values).toEqual([undefined, 'meter', 'channel', 'unit', 'multiplier', 'start', 'value', 'quality', 'source']);
    expect(ws.rowCount).toBe(26);
    expect(ws.getRow(4).getCell(5).value).toBe('2026-10-25T02:00:00+02:00');
    expect(ws.getRow(5).getCell(5).value).toBe('2026-10-25T02:00:00+01:00');
    expect(ws.getRow(6).getCell(7).value).toBe('estimated');

    const back = await t.app.inject({ method: 'POST', url: '/v1/readings/import?layout=long&dryRun=true', headers: { ...t.auth('gateway'), 'content-type': XLSX }, payload: r.rawPayload });
    expect(back.statusCode, back.body).toBe(200);
    expect(back.json()).toMatchObject({ records: 25, accepted: 0, unchanged: 25, superseded: 0, rejected: 0 });
  });

  it('aggregates as xlsx: the csv columns, units in the header row', async () => {
    const r = await t.app.inject({ method: 'GET', url: `/v1/aggregate?group=g&channel=active_import&interval=day&${range}&format=xlsx`, headers: t.auth('admin') });
    expect(r.statusCode, r.body).toBe(200);
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(r.rawPayload as unknown as ArrayBuffer);
    const ws = wb.worksheets[0];
    expect(ws.getRow(1).values).toEqual([undefined, 'channel', 'unit', 'start', 'value', 'meters', 'intervals']);
    expect(ws.getRow(2).values).toEqual([undefined, 'active_import', 'kWh', '2026-10-25T00:00:00+02:00', 25 + (24 * 25) / 8, 1, 25]);
  });

  it('CSV for Turkish and Polish Excel: locale=tr gives ";", decimal comma and a UTF-8 BOM', async () => {
    const r = await t.app.inject({ method: 'GET', url: `/v1/meters/PL-1/readings?channel=active_import&${range}&format=csv&locale=tr`, headers: t.auth('admin') });
    expect(r.statusCode, r.body).toBe(200);
    const lines = r.body.split('\n');
    expect(lines[0]).toBe('\uFEFFmeter;channel;unit;multiplier;start;value;quality;source');
    expect(lines[2]).toBe('PL-1;active_import;kWh;1;2026-10-25T01:00:00+02:00;1,25;measured;http');
    const agg = await t.app.inject({ method: 'GET', url: `/v1/aggregate?group=g&channel=active_import&interval=day&${range}&format=csv&locale=pl`, headers: t.auth('admin') });
    expect(agg.body.split('\n')[1]).toBe('active_import;kWh;2026-10-25T00:00:00+02:00;100;1;25');
    const en = await t.app.inject({ method: 'GET', url: `/v1/meters/PL-1/readings?channel=active_import&${range}&format=csv`, headers: t.auth('admin') });
    expect(en.body.split('\n')[2]).toBe('PL-1,active_import,kWh,1,2026-10-25T01:00:00+02:00,1.25,measured,http');
  });

  it('market prices, positions and settlement differences as xlsx and as Turkish CSV (the shared report writer)', async () => {
    await upsertMeters(t.database, [MeterSchema.parse({ id: 'TR-X1', timezone: 'Europe/Istanbul', portfolio: 'PFX' })]);
    const h0 = Date.parse('2026-03-01T00:00:00+03:00');
    await upsertPrices(t.database, { area: 'TR', currency: 'TRY', source: 'test', rows: [0, 1].map((h) => ({ startMs: h0 + h * 3_600_000, ptf: 2500.5 + h, smf: 2600.25 })) });
    await upsertPositions(t.database, 'PFX', [{ startMs: h0, bilateral: 1.5, dayAhead: 0.25, intraday: 0 }]);
    const hours = 'from=2026-03-01T00:00:00%2B03:00&to=2026-03-01T02:00:00%2B03:00';
    const wbOf = async (url: string) => {
      const r = await t.app.inject({ method: 'GET', url, headers: t.auth('admin') });
      expect(r.statusCode, r.body).toBe(200);
      expect(r.headers['content-type']).toBe(XLSX);
      const wb = new ExcelJS.Workbook();
      await wb.xlsx.load(r.rawPayload as unknown as ArrayBuffer);
      return wb.worksheets[0];
    };
    const prices = await wbOf(`/v1/market/prices?area=TR&${hours}&format=xlsx`);
    expect(prices.getRow(1).values).toEqual([undefined, 'start', 'ptf', 'smf', 'positiveImbalance', 'negativeImbalance', 'systemDirection', 'source', 'unpublished']);
    expect(prices.getRow(3).values).toEqual([undefined, '2026-03-01T01:00:00+03:00', 2501.5, 2600.25, undefined, undefined, undefined, 'test', '']);
    const positions = await wbOf(`/v1/market/positions?portfolio=PFX&${hours}&format=xlsx`);
    expect(positions.getRow(2).values).toEqual([undefined, '2026-03-01T00:00:00+03:00', 1.5, 0.25, 0]);
    const tr = await t.app.inject({ method: 'GET', url: `/v1/market/prices?area=TR&${hours}&format=csv&locale=tr`, headers: t.auth('admin') });
    expect(tr.body.split('\n').slice(0, 2)).toEqual([
      '\uFEFFstart;ptf;smf;positiveImbalance;negativeImbalance;systemDirection;source;unpublished',
      '2026-03-01T00:00:00+03:00;2500,5;2600,25;;;;test;',
    ]);
    const diffs = await wbOf('/v1/settlement/differences?period=2026-03&format=xlsx');
    expect(diffs.getRow(1).getCell(1).value).toBe('meter');
  });

  it('format= is never silently ignored: a format a route does not offer, or format on a JSON-only route, is a 400', async () => {
    const pdf = await t.app.inject({ method: 'GET', url: `/v1/meters/PL-1/readings?channel=active_import&${range}&format=pdf`, headers: t.auth('admin') });
    expect(pdf.statusCode).toBe(400);
    const alarms = await t.app.inject({ method: 'GET', url: '/v1/alarms?format=csv', headers: t.auth('admin') });
    expect(alarms.statusCode).toBe(400);
    expect(alarms.json().message).toMatch(/answers JSON only/);
    const meters = await t.app.inject({ method: 'GET', url: '/v1/meters?format=xlsx', headers: t.auth('admin') });
    expect(meters.statusCode).toBe(400);
  });
});
