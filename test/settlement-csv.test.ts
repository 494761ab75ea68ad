import { describe, expect, it } from 'vitest';
import { CsvHeaderError } from '../adapters/file/csv.js';
import { parseSettlementCsv } from '../adapters/file/settlement-csv.js';

describe('parseSettlementCsv', () => {
  it('reads aliases, decimal commas with ";", groups by version (lowest first) and rejects bad lines', () => {
    const text = 'EIC;Tarih;Çekiş;Veriş;Version\nM1;2026-01-01T00:00:00+03:00;1,5;0,25;2\nM1;2026-01-01T01:00:00+03:00;2;;1\nM1;2026-01-01T02:00:00+03:00;3\nM2;x;y;;0\n';
    const r = parseSettlementCsv(text);
    expect(r.groups).toEqual([
      { version: 1, rows: [{ meter: 'M1', start: '2026-01-01T01:00:00+03:00', withdrawal: 2 }], lines: [3] },
      { version: 2, rows: [{ meter: 'M1', start: '2026-01-01T00:00:00+03:00', withdrawal: 1.5, supply: 0.25 }], lines: [2] },
    ]);
    expect(r.rejected.map((x) => [x.line, x.reason])).toEqual([
      [4, 'expected 5 fields (meter;start;withdrawal;supply;version), got 3'],
      [5, 'version must be a whole number ≥ 1, got "0"'],
    ]);
  });
  it('takes the version from the caller without a version column; passes text numbers on for the row check', () => {
    const r = parseSettlementCsv('meter,start,withdrawal\nM1,2026-01-01T00:00:00Z,abc\n', 3);
    expect(r.groups).toEqual([{ version: 3, rows: [{ meter: 'M1', start: '2026-01-01T00:00:00Z', withdrawal: 'abc' }], lines: [2] }]);
  });
  it('refuses a header it cannot read', () => {
    expect(() => parseSettlementCsv('meter,start,withdrawal\n')).toThrow(/no version column/);
    expect(() => parseSettlementCsv('meter,start,kwh,version\n')).toThrow(CsvHeaderError);
    expect(() => parseSettlementCsv('meter,eic,start,withdrawal,version\n')).toThrow(/appears twice/);
    expect(() => parseSettlementCsv('meter,withdrawal,version\n')).toThrow(/missing column start/);
    expect(() => parseSettlementCsv('')).toThrow(/empty/);
  });
});
