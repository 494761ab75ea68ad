import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CsvError, CsvHeaderError, CsvParser, csvLine, csvNumber, detectDelimiter, MAX_RECORD_CHARS, readCsvFile, type CsvRecord } from '../adapters/file/csv.js';
import { meterCsvLayout, meterFromRecord } from '../adapters/file/meter-csv.js';
import { readingCsvLayout, readingFromRecord } from '../adapters/file/reading-csv.js';

const parseAll = (text: string, chunks: string[] = [text]): CsvRecord[] => {
  const p = new CsvParser();
  return [...chunks.flatMap((c) => p.push(c)), ...p.end()];
};
const fieldsOf = (recs: CsvRecord[]) => recs.map((r) => r.fields);

// Every RFC 4180 feature in one file: quoted delimiter, doubled quotes, a
// newline and a CRLF inside quotes, an empty line, CRLF line ends, empty fields.
const TRICKY = 'meter,channel,start,value\r\n' + 'M1,active_import,2026-01-01T00:00:00Z,1.5\r\n' + '"M,2","say ""hi""","multi\nline",2\r\n' + '\r\n' + 'M3,,"a\r\nb",""\n' + 'M4,x,y,4';

describe('CsvParser', () => {
  it('parses quoted fields with delimiters, doubled quotes and newlines, keeping start lines and raw text', () => {
    const recs = parseAll(TRICKY);
    expect(fieldsOf(recs)).toEqual([
      ['meter', 'channel', 'start', 'value'],
      ['M1', 'active_import', '2026-01-01T00:00:00Z', '1.5'],
      ['M,2', 'say "hi"', 'multi\nline', '2'],
      ['M3', '', 'a\r\nb', ''],
      ['M4', 'x', 'y', '4'],
    ]);
    // line 3 spans 3–4, line 5 is empty, line 6 spans 6–7
    expect(recs.map((r) => r.line)).toEqual([1, 2, 3, 6, 8]);
    expect(recs[2].raw).toBe('"M,2","say ""hi""","multi\nline",2');
    expect(recs.every((r) => r.error === undefined)).toBe(true);
  });

  it('gives the same records whatever the chunk boundaries (every 2-way split and char by char)', () => {
    const whole = parseAll(TRICKY);
    for (let cut = 0; cut <= TRICKY.length; cut++) {
      expect(parseAll(TRICKY, [TRICKY.slice(0, cut), TRICKY.slice(cut)]), `split at ${cut}`).toEqual(whole);
    }
    expect(parseAll(TRICKY, [...TRICKY])).toEqual(whole);
  });

  it('strips a UTF-8 BOM and detects the ; delimiter from the header', () => {
    const p = new CsvParser();
    const recs = [...p.push('\uFEFFmeter;channel;start;value\nM1;active_import;"2026;x";1,5\n'), ...p.end()];
    expect(p.delimiter).toBe(';');
    expect(fieldsOf(recs)).toEqual([
      ['meter', 'channel', 'start', 'value'],
      ['M1', 'active_import', '2026;x', '1,5'],
    ]);
    // BOM split from the rest of the file, header split before its line end
    expect(parseAll('\uFEFFa;b\n1;2', ['\uFEFF', 'a;', 'b\n1;2'])).toEqual(parseAll('a;b\n1;2'));
    expect(detectDelimiter('a,b;c,d')).toBe(',');
    expect(detectDelimiter('"a,b";c;d')).toBe(';');
  });

  it('flags malformed records instead of guessing silently', () => {
    const recs = parseAll('a,b\n"x"y,2\nok,3\n"open,4\nmore\n');
    expect(recs[1]).toMatchObject({ line: 2, fields: ['xy', '2'] });
    expect(recs[1].error).toMatch(/after the closing quote of field 1/);
    expect(recs[2]).toMatchObject({ line: 3, fields: ['ok', '3'] });
    expect(recs[2].error).toBeUndefined();
    expect(recs[3]).toMatchObject({ line: 4, fields: ['open,4\nmore\n'] });
    expect(recs[3].error).toMatch(/unterminated quoted field \(opened on line 4\)/);
  });

  it('stops with a CsvError when one record grows past the limit (a quote never closed)', () => {
    const p = new CsvParser({ delimiter: ',' });
    p.push('a,b\n1,"');
    expect(() => p.push('x'.repeat(MAX_RECORD_CHARS + 1))).toThrow(CsvError);
  });

  it('csvLine output parses back to the same fields', () => {
    const rows = [
      ['1', 'reason, with comma', 'raw "quoted"\nline'],
      ['2', ' padded ', ''],
    ];
    expect(fieldsOf(parseAll(rows.map((r) => csvLine(r)).join('')))).toEqual(rows);
  });
});

describe('readCsvFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdm-csv-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('streams a file in small chunks, with multi-byte characters split across chunks', async () => {
    const path = join(dir, 'utf8.csv');
    const lines = ['meter,channel'];
    for (let i = 0; i < 200; i++) lines.push(`Şişli-${i},"ölçü ""${i}"" °C"`);
    writeFileSync(path, '\uFEFF' + lines.join('\r\n') + '\r\n');
    const seen: number[] = [];
    const recs: CsvRecord[] = [];
    for await (const batch of readCsvFile(path, { chunkBytes: 7, onBytes: (b) => seen.push(b) })) recs.push(...batch);
    expect(recs).toHaveLength(201);
    expect(recs[200]).toMatchObject({ line: 201, fields: ['Şişli-199', 'ölçü "199" °C'] });
    expect(seen.length).toBeGreaterThan(100);
    expect(seen[seen.length - 1]).toBe(Buffer.byteLength('\uFEFF' + lines.join('\r\n') + '\r\n'));
  });

  it('rejects a file that is not UTF-8', async () => {
    const path = join(dir, 'latin1.csv');
    writeFileSync(path, Buffer.concat([Buffer.from('meter,channel\nM1,'), Buffer.from([0xfc, 0x0a])]));
    const read = async () => {
      for await (const _ of readCsvFile(path)) void _;
    };
    await expect(read()).rejects.toThrow(/not valid UTF-8/);
  });
});

describe('CSV rows → readings and meters', () => {
  const rec = (fields: string[], line = 2, error?: string): CsvRecord => ({ fields, line, raw: fields.join(','), ...(error ? { error } : {}) });

  it('maps reading rows: numbers converted, empty cells absent, bad numbers passed on as text', () => {
    const layout = readingCsvLayout(rec(['Meter', 'channel', 'start', 'value', 'quality'], 1), ',');
    expect(readingFromRecord(layout, rec(['M1', '1.29.0', '2026-01-01T00:00:00Z', ' 2.5e1 ', '']))).toEqual({
      row: { meter: 'M1', channel: '1.29.0', start: '2026-01-01T00:00:00Z', value: 25 },
    });
    expect(readingFromRecord(layout, rec(['M1', 'x', 's', 'abc', 'estimated']))).toEqual({
      row: { meter: 'M1', channel: 'x', start: 's', value: 'abc', quality: 'estimated' },
    });
    expect(readingFromRecord(layout, rec(['M1', 'x', 's']))).toEqual({ reason: 'expected 5 fields (meter,channel,start,value,quality), got 3' });
    expect(readingFromRecord(layout, rec(['M1', 'x', 's', '1', ''], 2, 'unterminated quoted field'))).toEqual({ reason: 'malformed CSV: unterminated quoted field' });
    // decimal comma only with the ; delimiter
    const semi = readingCsvLayout(rec(['meter', 'channel', 'start', 'value'], 1), ';');
    expect(readingFromRecord(semi, rec(['M1', 'c', 's', '1,25']))).toEqual({ row: { meter: 'M1', channel: 'c', start: 's', value: 1.25 } });
    expect(csvNumber('1,25', ',')).toBe('1,25');
    expect(csvNumber('NaN')).toBe('NaN');
  });

  it('refuses a readings header with unknown, duplicate or missing columns', () => {
    expect(() => readingCsvLayout(rec(['meter', 'channel', 'start', 'value', 'unit'], 1), ',')).toThrow(CsvHeaderError);
    expect(() => readingCsvLayout(rec(['meter', 'channel', 'start', 'value', 'Value'], 1), ',')).toThrow(/appears twice/);
    expect(() => readingCsvLayout(rec(['meter', 'start', 'value'], 1), ',')).toThrow(/missing column channel/);
  });

  it('maps meter rows with label.<key> columns and numeric fields', () => {
    const layout = meterCsvLayout(rec(['id', 'intervalMinutes', 'multiplier', 'group', 'label.feeder', 'label.Substation'], 1), ',');
    expect(meterFromRecord(layout, rec(['M1', '15', '40', '', 'F-12', 'TS-3']))).toEqual({
      row: { id: 'M1', intervalMinutes: 15, multiplier: 40, labels: { feeder: 'F-12', Substation: 'TS-3' } },
    });
    expect(meterFromRecord(layout, rec(['M2', '', 'x', 'g', '', '']))).toEqual({ row: { id: 'M2', multiplier: 'x', group: 'g' } });
    expect(() => meterCsvLayout(rec(['id', 'colour'], 1), ',')).toThrow(/unknown column "colour"/);
    expect(() => meterCsvLayout(rec(['commodity'], 1), ',')).toThrow(/missing column id/);
  });
});
