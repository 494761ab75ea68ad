import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseEpiasCsv, parseTurkishNumber, wallTimeToInstant } from '../adapters/market/epias-csv.js';

const dir = new URL('./fixtures/data/epias-2016-2017/', import.meta.url);
const load = (name: string) => readFileSync(new URL(name, dir));

/**
 * Excerpts of the published files (test/fixtures/data/README.md): 27–28 March 2016,
 * header, encoding (Windows-1254) and quirks as published. Line 2 is 2016-03-27 00:00.
 */
describe('EPİAŞ CSV files (as published)', () => {
  it('parses Turkish numbers and local wall times', () => {
    expect(parseTurkishNumber('26.298,80')).toBe(26298.8);
    expect(parseTurkishNumber('89,42')).toBe(89.42);
    expect(parseTurkishNumber('1.234.567')).toBe(1234567);
    expect(parseTurkishNumber('12a')).toBeUndefined();
    // 2016-03-27 03:00 did not exist in Turkey (03:00 → 04:00); 04:00 was UTC+3.
    expect(wallTimeToInstant('2016-03-27', 180, 'Europe/Istanbul')).toBeUndefined();
    expect(wallTimeToInstant('2016-03-27', 240, 'Europe/Istanbul')).toBe(Date.parse('2016-03-27T01:00:00Z'));
  });

  it('real-time consumption: every row, the 2016-03-27 artefact reported, no double count', () => {
    const s = parseEpiasCsv(load('GercekZamanliTuketim-2016-2017.csv'), { zeroMeansUnpublished: true });
    expect(s).toMatchObject({ name: 'Tüketim Miktarı', unit: 'MWh' });
    // 48 data rows (27 March: 24 lines for its 23 hours, 04:00 twice; 28 March: 24) = 46 kept + 1 repeated 04:00 + 1 unpublished zero (02:00).
    expect(s.rows.length + s.issues.length).toBe(48);
    expect(s.issues.map((i) => [i.line, i.kind])).toEqual([
      [4, 'unpublished'],
      [6, 'duplicate_hour'],
    ]);
    expect(s.issues[1].message).toMatch(/2016-03-27 04:00 repeats line 5 .*that day has 23 hours/);
    expect(s.rows[0]).toEqual({ line: 2, startMs: Date.parse('2016-03-26T22:00:00Z'), value: 27424.42 }); // "27.03.2016","00:00","27.424,42"
    const at = (iso: string) => s.rows.find((r) => r.startMs === Date.parse(iso))?.value;
    expect(at('2016-03-27T01:00:00Z')).toBe(24776.94); // the first 04:00 row is kept
    expect(new Set(s.rows.map((r) => r.startMs)).size).toBe(s.rows.length);
  });

  it('prices keep zeros (a PTF of 0 can be real) and use dd/mm/yyyy', () => {
    const ptf = parseEpiasCsv(load('PTF-2016-2017.csv'));
    expect(ptf).toMatchObject({ name: 'PTF', unit: 'TL/MWh' });
    expect(ptf.rows[0]).toMatchObject({ line: 2, value: 140 }); // "27/03/2016","00:00","140,00"
    expect(ptf.issues.map((i) => i.kind)).toEqual(['duplicate_hour']);
    expect(ptf.rows).toHaveLength(47); // 23 + 24 hours
  });

  it('reports a malformed row by line, never throws', () => {
    const s = parseEpiasCsv(new TextEncoder().encode('"Tarih","Saat","PTF (TL/MWh)"\n"01/01/2016","00:00","89,42"\n"32/01/2016","xx","1"\n"30/02/2016","01:00","1"\n'));
    expect(s.rows).toHaveLength(1);
    expect(s.issues).toEqual([
      { line: 3, kind: 'bad_row', message: 'line 3: expected "dd.mm.yyyy","HH:00","1.234,56", got "32/01/2016","xx","1"' },
      { line: 4, kind: 'bad_row', message: 'line 4: expected "dd.mm.yyyy","HH:00","1.234,56", got "30/02/2016","01:00","1"' },
    ]);
  });
});
