/**
 * POST /v1/readings/import and the import presets (issue 17) on real
 * databases: the Windows-1250 wide-by-hour file with its charset, a dry run
 * then the import, a preset used by name, xlsx made by exceljs, a PTPiREE day,
 * and the 4xx of a file that cannot be read.
 */
import { readFileSync } from 'node:fs';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatPtpiree } from '../adapters/file/ptpiree.js';
import { MeterSchema } from '../models/meter.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

const WIDE_HOUR = readFileSync('test/fixtures/files/wide-hour-warsaw-dst.cp1250.csv');
const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

describe.each(FLAVOURS)('POST /v1/readings/import (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
    await upsertMeters(t.database, [
      MeterSchema.parse({ id: 'Łódź-Bałuty-01', timezone: 'Europe/Warsaw', intervalMinutes: 60 }),
      MeterSchema.parse({ id: 'Kraków-Śródmieście-7', timezone: 'Europe/Warsaw', intervalMinutes: 60 }),
      MeterSchema.parse({ id: '590310600000000001', timezone: 'Europe/Warsaw', intervalMinutes: 60 }),
    ]);
  });
  afterAll(() => t?.close());

  const post = (query: string, payload: Buffer | string, contentType = 'text/csv', role: 'admin' | 'gateway' | 'viewer' = 'gateway') =>
    t.app.inject({ method: 'POST', url: `/v1/readings/import?${query}`, headers: { ...t.auth(role), 'content-type': contentType }, payload });

  it('dry run, then the import, of a wide-by-hour file sent with charset=windows-1250', async () => {
    const q = 'layout=wide-hour&timezone=Europe/Warsaw';
    const dry = await post(`${q}&dryRun=true`, WIDE_HOUR, 'text/csv; charset=windows-1250');
    expect(dry.statusCode, dry.body).toBe(200);
    expect(dry.json()).toMatchObject({ dryRun: true, records: 7, readings: 120, accepted: 120, unchanged: 0, rejected: 3 });
    expect(dry.json().rejects.map((r: { line: number }) => r.line)).toEqual([6, 7, 8]);
    const count = async () =>
      (
        await t.database.db
          .selectFrom('readings')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n;
    expect(Number(await count())).toBe(0);
    const real = await post(q, WIDE_HOUR, 'text/csv; charset=windows-1250');
    expect(real.json()).toMatchObject({ dryRun: false, accepted: 120, rejected: 3 });
    expect(Number(await count())).toBe(120);
    // the rejects are kept like every transport's
    const rejects = await t.app.inject({ method: 'GET', url: '/v1/rejects?limit=10', headers: t.auth('admin') });
    expect(rejects.json().rejects.some((r: { reason: string }) => /n\/d/.test(r.reason))).toBe(true);
    // and exported for the data steward: CSV for Polish Excel, or xlsx
    const csv = await t.app.inject({ method: 'GET', url: '/v1/rejects?limit=10&format=csv&locale=pl', headers: t.auth('admin') });
    expect(csv.body.split('\n')[0]).toBe('\uFEFFid;receivedAt;transport;principal;topic;rowIndex;meter;reason;payload;batchId');
    expect(csv.body).toMatch(/;7;Kraków-Śródmieście-7;"interval 4 \(column 6, ""H4""\): value ""n\/d"" is not a number";/);
    const xlsx = await t.app.inject({ method: 'GET', url: '/v1/rejects?limit=10&format=xlsx', headers: t.auth('admin') });
    expect(xlsx.headers['content-type']).toBe(XLSX);
  });

  it('a saved preset imports the same file by name; presets are listed, replaced and deleted', async () => {
    const put = await t.app.inject({
      method: 'PUT',
      url: '/v1/import-presets/pl-osd-daily',
      headers: t.auth('admin'),
      payload: { options: { layout: 'wide-hour', timezone: 'Europe/Warsaw', encoding: 'windows-1250' }, description: 'Polish daily profiles' },
    });
    expect(put.statusCode, put.body).toBe(201);
    const again = await post('preset=pl-osd-daily&dryRun=true', WIDE_HOUR);
    expect(again.json()).toMatchObject({ accepted: 0, unchanged: 120, superseded: 0, rejected: 3 });
    const bad = await t.app.inject({ method: 'PUT', url: '/v1/import-presets/x', headers: t.auth('admin'), payload: { options: { layout: 'sideways' } } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/layout/);
    const list = await t.app.inject({ method: 'GET', url: '/v1/import-presets', headers: t.auth('admin') });
    expect(list.json().presets.map((p: { name: string }) => p.name)).toEqual(['pl-osd-daily']);
    expect((await post('preset=nope', WIDE_HOUR)).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'DELETE', url: '/v1/import-presets/pl-osd-daily', headers: t.auth('admin') })).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'DELETE', url: '/v1/import-presets/pl-osd-daily', headers: t.auth('admin') })).statusCode).toBe(404);
  });

  it('an xlsx upload (exceljs), wide by meter with local times', async () => {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('Arkusz1');
    ws.addRow(['Czas', 'Licznik A', 'Licznik B']);
    ws.addRow([new Date(Date.UTC(2026, 1, 2, 0, 0)), 1.25, 2.5]);
    ws.addRow([new Date(Date.UTC(2026, 1, 2, 1, 0)), 1.5, null]);
    const buf = Buffer.from(await wb.xlsx.writeBuffer());
    const meters = encodeURIComponent(JSON.stringify({ 'Licznik A': 'Łódź-Bałuty-01', 'Licznik B': 'Kraków-Śródmieście-7' }));
    const r = await post(`layout=wide-meter&timezone=Europe/Warsaw&meters=${meters}`, buf, XLSX);
    expect(r.statusCode, r.body).toBe(200);
    expect(r.json()).toMatchObject({ records: 2, readings: 3, accepted: 3, rejected: 0 });
    const got = await t.app.inject({
      method: 'GET',
      url: `/v1/meters/${encodeURIComponent('Łódź-Bałuty-01')}/readings?channel=active_import&from=2026-02-02T00:00:00%2B01:00&to=2026-02-02T02:00:00%2B01:00`,
      headers: t.auth('admin'),
    });
    expect(got.json().rows.map((x: { start: string; value: number }) => [x.start, x.value])).toEqual([
      ['2026-02-02T00:00:00+01:00', 1.25],
      ['2026-02-02T01:00:00+01:00', 1.5],
    ]);
  });

  it('a PTPiREE day: imported with its qualities; a damaged checksum is a 400 and nothing is stored', async () => {
    const file = formatPtpiree({
      ppe: '590310600000000001',
      date: '2026-10-25',
      channel: 'active_import',
      unit: 'kWh',
      intervalMinutes: 60,
      values: Array.from({ length: 25 }, (_, i) => ({ value: i + 0.5, quality: i === 3 ? ('estimated' as const) : ('measured' as const) })),
    });
    const ok = await post('layout=ptpiree', Buffer.from(file), 'text/plain');
    expect(ok.statusCode, ok.body).toBe(200);
    expect(ok.json()).toMatchObject({ records: 25, accepted: 25, rejected: 0 });
    const got = await t.app.inject({
      method: 'GET',
      url: '/v1/meters/590310600000000001/readings?channel=active_import&from=2026-10-25T00:00:00%2B02:00&to=2026-10-26T00:00:00%2B01:00',
      headers: t.auth('admin'),
    });
    const rows = got.json().rows as { start: string; quality: string }[];
    expect(rows).toHaveLength(25);
    expect(rows[2].start).toBe('2026-10-25T02:00:00+02:00');
    expect(rows[3]).toMatchObject({ start: '2026-10-25T02:00:00+01:00', quality: 'estimated' });
    const damaged = Buffer.from(file);
    damaged[damaged.indexOf('0.500')] = '7'.charCodeAt(0);
    const bad = await post('layout=ptpiree', damaged, 'text/plain');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/checksum .* does not match/);
  });

  it('async=true: 202 with a job; the job reports progress and, at the end, the same report (or the 4xx a header error would be)', async () => {
    const start = await post('layout=wide-hour&timezone=Europe/Warsaw&encoding=windows-1250&dryRun=true&async=true', WIDE_HOUR);
    expect(start.statusCode, start.body).toBe(202);
    const job = start.json();
    expect(job).toMatchObject({ status: 'running', totalBytes: WIDE_HOUR.length });
    expect(start.headers.location).toBe(`/v1/readings/import/jobs/${job.id}`);
    const poll = async (id: string) => {
      for (;;) {
        const r = await t.app.inject({ method: 'GET', url: `/v1/readings/import/jobs/${id}`, headers: t.auth('gateway') });
        if (r.json().status !== 'running') return r.json();
        await new Promise((resolve) => setImmediate(resolve));
      }
    };
    const done = await poll(job.id);
    expect(done).toMatchObject({ status: 'done', progress: 1, bytesRead: WIDE_HOUR.length, records: 7, readings: 120, error: null });
    expect(done.report).toMatchObject({ dryRun: true, records: 7, rejected: 3 });
    // the admin sees every job (other keys see their own)
    expect((await t.app.inject({ method: 'GET', url: `/v1/readings/import/jobs/${job.id}`, headers: t.auth('admin') })).statusCode).toBe(200);

    const bad = await post('layout=single&timezone=UTC&async=true', 'datetime,value\n2026-01-01 00:00,1\n');
    expect(bad.statusCode).toBe(202);
    const failed = await poll(bad.json().id);
    expect(failed).toMatchObject({ status: 'failed', report: null, error: { error: 'MDM_ERR_CSV_FORMAT', message: expect.stringMatching(/needs the meter/) } });
    expect((await t.app.inject({ method: 'GET', url: `/v1/readings/import/jobs/${crypto.randomUUID()}`, headers: t.auth('gateway') })).statusCode).toBe(404);
  });

  it('4xx: a header that does not fit, options that are wrong, a role that may not write, a CSV sent as xlsx', async () => {
    const noMeter = await post('layout=single&timezone=UTC', 'datetime,value\n2026-01-01 00:00,1\n');
    expect(noMeter.statusCode).toBe(400);
    expect(noMeter.json().message).toMatch(/needs the meter/);
    const badTz = await post('layout=single&meter=x&timezone=Mars/Base', 'datetime,value\n');
    expect(badTz.statusCode).toBe(400);
    expect(badTz.json().message).toMatch(/timezone/);
    expect((await post('layout=long', 'meter,channel,start,value\n', 'text/csv', 'viewer')).statusCode).toBe(403);
    const notXlsx = await post('layout=long', 'meter,channel,start,value\n', XLSX);
    expect(notXlsx.statusCode).toBe(400);
    const empty = await post('layout=long', '');
    expect(empty.statusCode).toBe(400);
  });
});
