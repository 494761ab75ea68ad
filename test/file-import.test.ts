/**
 * Readings files in the layouts utilities exchange (issue 17) through the one
 * import path (ingest/reading-file-import.ts) on real databases: wide by hour
 * on the DST days of Europe/Warsaw (23 and 25 columns) in Windows-1250 with
 * Polish meter names and decimal commas, the Cambridge file as published
 * (single meter, UTC without offset), the EPİAŞ consumption file as published
 * (Windows-1254, date and hour columns, Turkish numbers, local time), wide by
 * meter with a DST flag column, xlsx written by exceljs, and dry runs.
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importOptions, type ImportOptionsInput } from '../adapters/file/import-options.js';
import { csvRecords, xlsxRecords } from '../adapters/file/import-records.js';
import { importReadingRecords, FileImportError } from '../ingest/reading-file-import.js';
import { MeterSchema } from '../models/meter.js';
import type { Database } from '../sql/database.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

const WIDE_HOUR = 'test/fixtures/files/wide-hour-warsaw-dst.cp1250.csv';
const CAMBRIDGE = 'test/fixtures/data/cambridge-estates/b0/electricity/2018.csv';
const EPIAS = 'test/fixtures/data/epias-2016-2017/GercekZamanliTuketim-2016-2017.csv';

const opts = (o: ImportOptionsInput) => {
  const r = importOptions(o);
  if (!r.ok) throw new Error(r.problems.join('; '));
  return r.options;
};
const ctx = { transport: 'file', principal: 'test' } as const;

async function readings(database: Database, meter: string) {
  return database.db
    .selectFrom('readings')
    .innerJoin('meters', 'meters.id', 'readings.meter_id')
    .select(['readings.start', 'readings.value', 'readings.quality'])
    .where('meters.external_id', '=', meter)
    .orderBy('readings.start')
    .execute();
}

describe.each(FLAVOURS)('readings files in every layout (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await upsertMeters(database, [
      MeterSchema.parse({ id: 'Łódź-Bałuty-01', timezone: 'Europe/Warsaw', intervalMinutes: 60 }),
      MeterSchema.parse({ id: 'Kraków-Śródmieście-7', timezone: 'Europe/Warsaw', intervalMinutes: 60 }),
      MeterSchema.parse({ id: 'b0', timezone: 'Europe/London', intervalMinutes: 60 }),
      MeterSchema.parse({ id: 'TR-NATIONAL', timezone: 'Europe/Istanbul', intervalMinutes: 60 }),
      MeterSchema.parse({ id: 'M1', timezone: 'Europe/Warsaw', intervalMinutes: 60 }),
      MeterSchema.parse({ id: 'M2', timezone: 'Europe/Warsaw', intervalMinutes: 60 }),
    ]);
  });
  afterAll(() => database?.close());

  it('wide by hour, Windows-1250, decimal comma: 24, 23 and 25 values by the local day; bad rows rejected with their line', async () => {
    const o = opts({ layout: 'wide-hour', timezone: 'Europe/Warsaw', encoding: 'windows-1250' });
    const dry = await importReadingRecords(database, csvRecords(createReadStream(WIDE_HOUR), o), o, { ...ctx, dryRun: true });
    expect(dry).toMatchObject({ records: 7, accepted: 24 + 23 + 25 + 25 + 23, unchanged: 0, superseded: 0, rejected: 3, dryRun: true });
    expect(await readings(database, 'Łódź-Bałuty-01')).toHaveLength(0); // a dry run stores nothing

    const r = await importReadingRecords(database, csvRecords(createReadStream(WIDE_HOUR), o), o, ctx);
    expect(r).toMatchObject({ records: 7, accepted: 24 + 23 + 25 + 25 + 23, rejected: 3, dryRun: false });
    expect(r.rejects.map((x) => x.line)).toEqual([6, 7, 8]);
    expect(r.rejects[0].reason).toMatch(/2026-03-29 has 23 hours in Europe\/Warsaw .*column 26 holds a value: the spring DST day has no 02:00 hour/);
    expect(r.rejects[1].reason).toMatch(/interval 4 \(column 6, "H4"\): value "n\/d" is not a number/);
    expect(r.rejects[2].reason).toMatch(/date "2026-02-30" is not a date/);

    const rows = await readings(database, 'Łódź-Bałuty-01');
    expect(rows).toHaveLength(24 + 23 + 25);
    const at = (iso: string) => rows.find((x) => x.start.toISOString() === iso)?.value;
    // 29 March: local midnight is 23:00Z the day before (CET); the 3rd value (index 2) is 03:00 CEST = 01:00Z
    expect(at('2026-03-28T23:00:00.000Z')).toBe(2);
    expect(at('2026-03-29T01:00:00.000Z')).toBe(2.2);
    expect(at('2026-03-29T21:00:00.000Z')).toBe(4.2); // the 23rd and last value: 23:00 CEST
    // 25 October: 02:00 CEST (00:00Z) and 02:00 CET (01:00Z) are the 3rd and 4th values; the 25th is 23:00 CET = 22:00Z
    expect(at('2026-10-25T00:00:00.000Z')).toBe(3.2);
    expect(at('2026-10-25T01:00:00.000Z')).toBe(3.3);
    expect(at('2026-10-25T22:00:00.000Z')).toBe(5.4);

    // the same file again: every stored value is unchanged
    const again = await importReadingRecords(database, csvRecords(createReadStream(WIDE_HOUR), o), o, { ...ctx, dryRun: true });
    expect(again).toMatchObject({ accepted: 0, unchanged: 120, superseded: 0, rejected: 3 });
  });

  it('the Cambridge file as published: single meter, datetime in UTC without offset', async () => {
    const o = opts({ layout: 'single', meter: 'b0', timezone: 'UTC' });
    const r = await importReadingRecords(database, csvRecords(createReadStream(CAMBRIDGE), o), o, ctx);
    expect(r).toMatchObject({ records: 167, accepted: 167, rejected: 0 });
    const rows = await readings(database, 'b0');
    expect(rows[0]).toMatchObject({ start: new Date('2018-03-19T00:00:00Z'), value: 26.2 });
  });

  it('a single-meter file without a timezone is refused row by row with the fix, and without a meter as a whole', async () => {
    const o = opts({ layout: 'single', meter: 'b0' });
    const r = await importReadingRecords(database, csvRecords(Readable.from([Buffer.from('datetime,value\n2018-03-19 00:00:00,1\n')]), o), o, { ...ctx, dryRun: true });
    expect(r.rejects).toEqual([{ line: 2, reason: expect.stringMatching(/has no UTC offset: name the time zone of the file/), raw: '2018-03-19 00:00:00,1' }]);
    const noMeter = opts({ layout: 'single', timezone: 'UTC' });
    await expect(importReadingRecords(database, csvRecords(Readable.from([Buffer.from('datetime,value\n')]), noMeter), noMeter, ctx)).rejects.toThrow(FileImportError);
  });

  it('the EPİAŞ consumption file as published: Windows-1254, Tarih + Saat, 27.424,42, local hours with the clock-change artefact', async () => {
    const o = opts({ layout: 'single', meter: 'TR-NATIONAL', timezone: 'Europe/Istanbul', decimal: ',', thousands: '.' });
    const r = await importReadingRecords(database, csvRecords(createReadStream(EPIAS), o), o, ctx);
    // 48 lines; 27 March 2016 has no 03:00 line and two 04:00 lines: the second 04:00 conflicts with the first
    expect(r.records).toBe(48);
    expect(r.accepted).toBe(47);
    expect(r.rejects).toHaveLength(1);
    expect(r.rejects[0]).toMatchObject({ line: 6, reason: expect.stringMatching(/line 5/) });
    const rows = await readings(database, 'TR-NATIONAL');
    expect(rows[0]).toMatchObject({ start: new Date('2016-03-26T22:00:00Z'), value: 27424.42 });
  });

  it('wide by meter: a time column, one column per meter; the repeated hour told apart by order or by a DST flag', async () => {
    const csv = [
      'time,dst,M1,M2',
      '2026-10-25 01:00,,1,10',
      '2026-10-25 02:00,S,2,20',
      '2026-10-25 02:00,W,3,30',
      '2026-10-25 03:00,,4,',
      '2026-03-29 02:00,,5,50', // skipped by the clocks
      '2026-10-25 05:00,,x,60',
    ].join('\n');
    const o = opts({ layout: 'wide-meter', timezone: 'Europe/Warsaw' });
    const r = await importReadingRecords(database, csvRecords(Readable.from([Buffer.from(csv)]), o), o, ctx);
    expect(r).toMatchObject({ records: 6, readings: 8, accepted: 8, rejected: 2 });
    expect(r.rejects[0]).toMatchObject({ line: 6, reason: expect.stringMatching(/does not exist in Europe\/Warsaw: the clocks skip that hour/) });
    expect(r.rejects[1]).toMatchObject({ line: 7, reason: expect.stringMatching(/meter "M1" \(column 3\): value "x" is not a number/) });
    const m1 = await readings(database, 'M1');
    expect(m1.map((x) => [x.start.toISOString(), x.value])).toEqual([
      ['2026-10-24T23:00:00.000Z', 1],
      ['2026-10-25T00:00:00.000Z', 2],
      ['2026-10-25T01:00:00.000Z', 3],
      ['2026-10-25T02:00:00.000Z', 4],
    ]);
    // by order, without a flag: the first 02:00 is summer time
    const o2 = opts({ layout: 'wide-meter', timezone: 'Europe/Warsaw', dateOrder: 'dmy' });
    const csv2 = 'Data;M2\n25.10.2026 02:00;20\n25.10.2026 02:00;31\n';
    const r2 = await importReadingRecords(database, csvRecords(Readable.from([Buffer.from(csv2)]), o2), o2, { ...ctx, dryRun: true });
    expect(r2).toMatchObject({ accepted: 0, unchanged: 1, superseded: 1, rejected: 0 });
  });

  it('xlsx written by exceljs: dates, numbers and a quality column mapped to ours', async () => {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('Odczyty');
    ws.addRow(['Meter', 'Start', 'kWh', 'Status']);
    ws.addRow(['M2', new Date(Date.UTC(2026, 0, 5, 10, 0)), 1.5, 'E']);
    ws.addRow(['M2', new Date(Date.UTC(2026, 0, 5, 11, 0)), 2.25, 'A']);
    ws.addRow(['M2', new Date(Date.UTC(2026, 0, 5, 12, 0)), 'abc', 'A']);
    ws.addRow(['M2', new Date(Date.UTC(2026, 0, 5, 13, 0)), 3, '??']);
    const buf = Buffer.from(await wb.xlsx.writeBuffer());
    const o = opts({ layout: 'long', timezone: 'Europe/Warsaw', columns: { time: 'Start', value: 'kWh' } });
    const r = await importReadingRecords(database, xlsxRecords(Readable.from([buf])), o, ctx);
    expect(r).toMatchObject({ records: 4, accepted: 2, rejected: 2 });
    expect(r.rejects.map((x) => x.line)).toEqual([4, 5]);
    expect(r.rejects[1].reason).toMatch(/quality flag "\?\?" is not known/);
    const m2 = await readings(database, 'M2');
    const jan = m2.filter((x) => x.start.getUTCMonth() === 0);
    expect(jan.map((x) => [x.start.toISOString(), x.value])).toEqual([
      ['2026-01-05T09:00:00.000Z', 1.5], // 10:00 in Warsaw (CET)
      ['2026-01-05T10:00:00.000Z', 2.25],
    ]);
  });

  it('a header that names no time column is refused before anything is stored', async () => {
    const o = opts({ layout: 'wide-meter' });
    await expect(importReadingRecords(database, csvRecords(Readable.from([Buffer.from('foo,M1\n1,2\n')]), o), o, ctx)).rejects.toThrow(/no timestamp column/);
  });
});

describe('header names', () => {
  it('match in any case, Turkish dotted and dotless i alike', async () => {
    const { layoutMapper } = await import('../adapters/file/reading-layouts.js');
    const o = opts({ layout: 'single', meter: 'M', timezone: 'Europe/Istanbul', decimal: ',', thousands: '.' });
    for (const header of [
      ['TARİH', 'SAAT', 'TÜKETİM'],
      ['DATE', 'TIME', 'VALUE'],
      ['tarih', 'saat', 'Tüketim Miktarı (MWh)'],
    ]) {
      const m = layoutMapper({ cells: header, line: 1, raw: header.join(';') }, o, ';');
      expect(m.map({ cells: ['27.03.2016', '01:00', '25.949,63'], line: 2, raw: '' })).toEqual([{ row: { meter: 'M', channel: 'active_import', start: '2016-03-26T23:00:00.000Z', value: 25949.63 } }]);
    }
  });
});
