/**
 * Property tests (fast-check) of every pure parser on the ingest edge
 * (issue 11 "Proof"): nothing throws out of a parser except its documented
 * header error, and every input row comes out exactly once, as a row or as a
 * reject with a reason. Real files (excerpts as published, test/fixtures/data) are fed in mutated
 * (byte flips, deletions, insertions, truncation, re-encoding).
 * Seed: test/fuzz-arbitraries.ts (FUZZ_SEED, FUZZ_RUNS_FACTOR).
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvError, CsvHeaderError, CsvParser, csvLine, csvNumber, decodeCsvBytes, type CsvRecord, type Delimiter } from '../adapters/file/csv.js';
import { METER_COLUMNS, meterCsvLayout, meterFromRecord } from '../adapters/file/meter-csv.js';
import { parseProfileCoefficientCsv } from '../adapters/file/profile-coefficient-csv.js';
import { READING_COLUMNS, readingCsvLayout, readingFromRecord } from '../adapters/file/reading-csv.js';
import { parseSettlementCsv } from '../adapters/file/settlement-csv.js';
import { parseEpiasCsv, parseTurkishNumber } from '../adapters/market/epias-csv.js';
import { decodeRegisters, scaleValue } from '../adapters/modbus/register-decode.js';
import { decodeMessage } from '../adapters/mqtt/payload.js';
import { senmlToReadings } from '../adapters/mqtt/senml.js';
import type { TopicRoute } from '../adapters/mqtt/topics.js';
import { ndjsonLines, type NdjsonLine } from '../api/ndjson.js';
import { resolveChannel } from '../models/channel.js';
import { FIELD_LIMITS } from '../models/input-bounds.js';
import { parseInstant } from '../models/time.js';
import { REGISTER_TYPES, REGISTER_WORDS } from '../models/modbus.js';
import { checkCoefficientRows } from '../models/profile-coefficient.js';
import { chunked, fuzzParams, hostileNumber, hostileString, hostileValue, mutate, mutation, nested, nestedText } from './fuzz-arbitraries.js';

const DATA = new URL('./fixtures/data/', import.meta.url);
const PURE_RUNS = 200;
const FILE_RUNS = 60; // each run parses a real file excerpt

/** Runs `fn`; a throw of one of `allowed` becomes undefined, any other throw fails the property. */
function onlyThrows<T>(fn: () => T, allowed: readonly (new (...args: never[]) => Error)[]): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (allowed.some((a) => err instanceof a)) return undefined;
    throw err;
  }
}

/** Records of a whole text, as the importers see them. */
function recordsOf(text: string): { records: CsvRecord[]; delimiter: Delimiter } {
  const p = new CsvParser();
  const records = [...p.push(text), ...p.end()];
  return { records, delimiter: p.delimiter ?? ',' };
}

/** The first `lines` lines (at most) of a data file excerpt, as bytes. */
function excerpt(path: string, lines: number): Uint8Array {
  const bytes = readFileSync(new URL(path, DATA));
  let at = 0;
  for (let k = 0; k < lines && at >= 0; k++) at = bytes.indexOf(10, at + 1);
  return at < 0 ? bytes : bytes.subarray(0, at + 1);
}

const EOL = fc.constantFrom('\n', '\r\n', '\r');

/** A CSV cell: a value of the expected vocabulary or garbage, quoted or not. */
const cell = (vocabulary: readonly string[]) =>
  fc
    .tuple(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...vocabulary) }, { weight: 2, arbitrary: hostileString }, { weight: 1, arbitrary: hostileNumber.map(String) }), fc.nat({ max: 3 }))
    .map(([v, q]) => (q === 0 ? `"${v.replaceAll('"', '""')}"` : q === 1 ? `"${v}` : v));

/** A CSV text: header from `header`, data lines of cells from `vocabulary`, random delimiter, line ends and BOM. */
const csvText = (header: fc.Arbitrary<string[]>, vocabulary: readonly string[]) =>
  fc
    .record({
      header,
      lines: fc.array(fc.array(cell(vocabulary), { maxLength: 9 }), { maxLength: 25 }),
      delimiter: fc.constantFrom(',', ';'),
      eol: EOL,
      bom: fc.boolean(),
      trailing: fc.boolean(),
    })
    .map(({ header: h, lines, delimiter, eol, bom, trailing }) => (bom ? '\ufeff' : '') + [h.join(delimiter), ...lines.map((l) => l.join(delimiter))].join(eol) + (trailing ? eol : ''));

describe('CSV record parser', () => {
  it('never throws on small input, whatever the bytes, and chunking does not change the records', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), fc.array(fc.nat({ max: 400 }), { maxLength: 8 }), (text, cuts) => {
        const whole = recordsOf(text).records;
        const p = new CsvParser();
        const parts = chunked(text, cuts).flatMap((c) => p.push(c));
        const pieces = [...parts, ...p.end()];
        expect(pieces).toEqual(whole);
        // lines are increasing; a record is empty only when it has an error or is the parser's empty line
        for (let i = 1; i < whole.length; i++) expect(whole[i].line).toBeGreaterThan(whole[i - 1].line);
      }),
      fuzzParams(PURE_RUNS),
    );
  });

  it('round-trips any fields written by csvLine, with either delimiter', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(fc.oneof(hostileString, fc.double().map(String)), { minLength: 2, maxLength: 6 }), { minLength: 1, maxLength: 10 }),
        fc.constantFrom<Delimiter>(',', ';'),
        (rows, d) => {
          const clean = rows.map((r) => r.map((f) => f.replaceAll('\ufeff', ''))); // a BOM is only meaningful at the start
          const p = new CsvParser({ delimiter: d });
          const out = [...p.push(clean.map((r) => csvLine(r, d)).join('')), ...p.end()];
          expect(out.map((r) => r.fields)).toEqual(clean);
          expect(out.every((r) => r.error === undefined)).toBe(true);
        },
      ),
      fuzzParams(PURE_RUNS),
    );
  });

  it('an unterminated quote swallowing the file stops with a CsvError naming the line, not a RangeError', () => {
    const p = new CsvParser();
    p.push('meter,channel,start,value\nM1,"active_import');
    expect(() => {
      for (let i = 0; i < 20; i++) p.push('x'.repeat(100_000));
    }).toThrow(CsvError);
  });

  it('csvNumber gives a finite number or the text back, never NaN or ±Infinity', () => {
    fc.assert(
      fc.property(fc.oneof(hostileString, hostileNumber.map(String), fc.stringMatching(/^[+-]?\d{1,400}([.,]\d{0,5})?(e[+-]?\d{1,4})?$/)), fc.constantFrom<Delimiter>(',', ';'), (text, d) => {
        const n = csvNumber(text, d);
        if (typeof n === 'number') expect(Number.isFinite(n)).toBe(true);
        else expect(n).toBe(text);
      }),
      fuzzParams(PURE_RUNS),
    );
  });

  it('decodeCsvBytes never throws and keeps valid UTF-8 as is', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 300 }),
          fc.string({ unit: 'grapheme', maxLength: 100 }).map((s) => new TextEncoder().encode(s)),
        ),
        (bytes) => {
          const text = decodeCsvBytes(bytes);
          expect(typeof text).toBe('string');
          let utf8: string | undefined;
          try {
            utf8 = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
          } catch {
            utf8 = undefined;
          }
          if (utf8 !== undefined) expect(text).toBe(utf8);
        },
      ),
      fuzzParams(PURE_RUNS),
    );
  });

  it('real Cambridge Estates file, mutated: chunking does not change the records, none throws', () => {
    const bytes = excerpt('cambridge-estates/b101/electricity/2019.csv', 400);
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 6 }), fc.array(fc.nat({ max: 20_000 }), { maxLength: 5 }), (ms, cuts) => {
        const text = decodeCsvBytes(mutate(bytes, ms));
        const whole = recordsOf(text).records;
        const p = new CsvParser();
        const parts = [...chunked(text, cuts).flatMap((c) => p.push(c)), ...p.end()];
        expect(parts).toEqual(whole);
      }),
      fuzzParams(FILE_RUNS),
    );
  });
});

const READING_VOCABULARY = ['M1', 'active_import', '1.29.0', '2026-01-01T00:00:00+03:00', '9999-12-31T23:00:00Z', '1,5', '1.5', '1e999', 'measured', 'bogus', '15', '60', 'http'];

describe('readings CSV (mdm import readings)', () => {
  const header = fc.oneof(
    fc.shuffledSubarray<string>([...READING_COLUMNS], { minLength: 4 }),
    fc.array(fc.oneof(fc.constantFrom(...READING_COLUMNS, 'METER', ' value ', 'Value'), hostileString), { maxLength: 8 }),
  );

  it('a header is a layout or a CsvHeaderError; every record is a row or a reason', () => {
    fc.assert(
      fc.property(csvText(header, READING_VOCABULARY), (text) => {
        const { records, delimiter } = recordsOf(text);
        if (records.length === 0) return;
        const layout = onlyThrows(() => readingCsvLayout(records[0], delimiter), [CsvHeaderError]);
        if (!layout) return;
        for (const rec of records.slice(1)) {
          const r = readingFromRecord(layout, rec);
          if ('reason' in r) expect(r.reason).not.toBe('');
          else {
            for (const k of Object.keys(r.row)) expect(READING_COLUMNS as readonly string[]).toContain(k);
            for (const k of ['value', 'intervalMinutes']) if (typeof r.row[k] === 'number') expect(Number.isFinite(r.row[k])).toBe(true);
          }
        }
      }),
      fuzzParams(PURE_RUNS),
    );
  });

  it('a real series as a readings CSV, mutated: every record a row or a reason', () => {
    const lines = new TextDecoder().decode(excerpt('cambridge-estates/b109/electricity/2019.csv', 200)).trim().split('\n').slice(1);
    const text = 'meter;channel;start;value\n' + lines.map((l) => `B109;active_import;${l.replace(' ', 'T').split(',')[0]}Z;${l.split(',')[1]?.replace('.', ',')}`).join('\n');
    const bytes = new TextEncoder().encode(text);
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 8 }), (ms) => {
        const { records, delimiter } = recordsOf(decodeCsvBytes(mutate(bytes, ms)));
        const layout = records.length ? onlyThrows(() => readingCsvLayout(records[0], delimiter), [CsvHeaderError]) : undefined;
        if (!layout) return;
        for (const rec of records.slice(1)) {
          const r = readingFromRecord(layout, rec);
          expect('row' in r || r.reason.length > 0).toBe(true);
        }
      }),
      fuzzParams(FILE_RUNS),
    );
  });
});

describe('meters CSV (mdm import meters)', () => {
  const header = fc.oneof(
    fc.shuffledSubarray([...METER_COLUMNS, 'label.site', 'Label.Owner'], { minLength: 1 }).map((cols) => (cols.includes('id') ? cols : ['id', ...cols])),
    fc.array(fc.oneof(fc.constantFrom(...METER_COLUMNS, 'label.', 'label.x', 'ID'), hostileString), { maxLength: 6 }),
  );
  it('a header is a layout or a CsvHeaderError; every record is a row or a reason', () => {
    fc.assert(
      fc.property(csvText(header, ['M1', 'electricity', 'Europe/Istanbul', '60', '1,5', 'g1', '2026-01-01']), (text) => {
        const { records, delimiter } = recordsOf(text);
        if (records.length === 0) return;
        const layout = onlyThrows(() => meterCsvLayout(records[0], delimiter), [CsvHeaderError]);
        if (!layout) return;
        for (const rec of records.slice(1)) {
          const r = meterFromRecord(layout, rec);
          if ('reason' in r) expect(r.reason).not.toBe('');
          else for (const k of ['intervalMinutes', 'multiplier']) if (typeof r.row[k] === 'number') expect(Number.isFinite(r.row[k])).toBe(true);
        }
      }),
      fuzzParams(PURE_RUNS),
    );
  });
});

describe('settlement CSV', () => {
  const header = fc.oneof(
    fc.shuffledSubarray(['meter', 'start', 'withdrawal', 'supply', 'version'], { minLength: 3 }),
    fc.shuffledSubarray(['sayac', 'tarih', 'çekiş', 'veriş', 'versiyon'], { minLength: 3 }),
    fc.array(fc.oneof(fc.constantFrom('meter', 'EIC', 'start', 'withdrawal', 'version'), hostileString), { maxLength: 6 }),
  );
  it('throws only CsvHeaderError; every data record is in exactly one group row or reject', () => {
    fc.assert(
      fc.property(
        csvText(header, ['M1', '2026-03-01T00:00:00+03:00', '1,5', '1.5', '1', '2', '0', '-1', '1.5e3', '1e300', '99999999999', '1e999']),
        fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
        (text, v) => {
          const out = onlyThrows(() => parseSettlementCsv(text, v), [CsvHeaderError]);
          if (!out) return;
          const { records } = recordsOf(text);
          const lines = [...out.groups.flatMap((g) => g.lines), ...out.rejected.map((r) => r.line)].sort((a, b) => a - b);
          expect(lines).toEqual(records.slice(1).map((r) => r.line));
          for (const g of out.groups) {
            expect(Number.isInteger(g.version) && g.version >= 1 && g.version <= 2_147_483_647).toBe(true); // settlement_rows.version is an integer
            expect(g.rows).toHaveLength(g.lines.length);
            for (const row of g.rows) for (const k of ['withdrawal', 'supply']) if (typeof row[k] === 'number') expect(Number.isFinite(row[k])).toBe(true);
          }
          for (const r of out.rejected) expect(r.reason).not.toBe('');
        },
      ),
      fuzzParams(PURE_RUNS),
    );
  });
});

describe('profile coefficient CSV', () => {
  const header = fc.oneof(
    fc.constantFrom<string[]>(['region', 'readingType', 'profileGroup', 'date', 'hour', 'coefficient'], ['Dağıtım Şirketi', 'Okuma Tipi', 'Abone Grubu', 'Dönem', 'Gün Tipi', 'Saat', 'Katsayı']),
    fc.array(fc.oneof(fc.constantFrom('region', 'readingType', 'profileGroup', 'date', 'hour', 'coefficient', 'İ'), hostileString), { maxLength: 8 }),
  );
  const vocabulary = [
    '*',
    'single',
    'tek zamanlı',
    'mesken',
    '2026-01-01',
    '01.01.2026',
    '00.00.0000',
    '31.02.2026',
    '2026-13',
    'hafta içi',
    '0',
    '23',
    '24',
    '23:00',
    '0,0412',
    '0.0412',
    '1e999',
    '9'.repeat(400),
  ];
  /** Per-day layout with each column from its own vocabulary: rows that get past the parser into the row check. */
  const perDay = fc
    .array(
      fc.tuple(
        fc.constantFrom('*', 'EDAS-1', ''),
        fc.constantFrom('single', 'tek zamanlı', 'three-time', 'x'),
        fc.constantFrom('mesken', 'residential', ''),
        fc.oneof(
          fc.constantFrom('2026-01-01', '01.01.2026', '00.00.0000', '31.02.2026', '2026-99-99', '9999-12-31', '0000-01-01', '2026-1-1'),
          fc.date({ noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10)),
        ),
        fc.constantFrom('0', '23', '24', '23:00', '7:00', '-1'),
        fc.oneof(fc.constantFrom('0.0412', '1e999', '-0.1', 'NaN'), hostileNumber.map(String)),
      ),
      { maxLength: 20 },
    )
    .map((rows) => ['region,readingType,profileGroup,date,hour,coefficient', ...rows.map((r) => r.join(','))].join('\n'));
  it('throws only CsvHeaderError; every data record is a row or a reject; the rows check without throwing', () => {
    fc.assert(
      fc.property(fc.oneof(csvText(header, vocabulary), perDay), (text) => {
        const out = onlyThrows(() => parseProfileCoefficientCsv(text), [CsvHeaderError]);
        if (!out) return;
        const { records } = recordsOf(text);
        expect([...out.lines, ...out.rejected.map((r) => r.line)].sort((a, b) => a - b)).toEqual(records.slice(1).map((r) => r.line));
        for (const row of out.rows) if (typeof row.coefficient === 'number') expect(Number.isFinite(row.coefficient)).toBe(true);
        // models/profile-coefficient.ts takes the parsed rows next: one bad row rejects only itself
        const checked = checkCoefficientRows(out.rows);
        expect(checked.rows.length + checked.rejected.length).toBe(out.rows.length);
      }),
      fuzzParams(PURE_RUNS),
    );
  });
});

describe('EPİAŞ CSV', () => {
  /** Every record after the header ends as exactly one row or one issue; rows are finite and one per hour. */
  function checkSeries(bytes: Uint8Array, zero: boolean) {
    const s = parseEpiasCsv(bytes, { zeroMeansUnpublished: zero });
    const records = recordsOf(new TextDecoder('windows-1254').decode(bytes)).records;
    expect(s.rows.length + s.issues.length).toBe(Math.max(0, records.length - 1));
    expect(new Set(s.rows.map((r) => r.startMs)).size).toBe(s.rows.length);
    for (const r of s.rows) {
      expect(Number.isFinite(r.value)).toBe(true);
      expect(Number.isFinite(r.startMs)).toBe(true);
    }
    for (const i of s.issues) expect(i.message).not.toBe('');
  }

  it('parseTurkishNumber gives a finite number or undefined', () => {
    fc.assert(
      fc.property(fc.oneof(hostileString, fc.stringMatching(/^-?\d{1,400}(,\d{1,5})?$/), fc.stringMatching(/^-?\d{1,3}(\.\d{3}){0,120}(,\d+)?$/)), (t) => {
        const n = parseTurkishNumber(t);
        if (n !== undefined) expect(Number.isFinite(n)).toBe(true);
      }),
      fuzzParams(PURE_RUNS),
    );
  });

  it('generated files: never throws, every row accounted for', () => {
    const date = fc.oneof(
      fc.date({ min: new Date('2015-01-01'), max: new Date('2030-01-01'), noInvalidDate: true }).map((d) => d.toISOString().slice(0, 10).split('-').reverse().join('.')),
      fc.constantFrom('00.00.0000', '31.02.2016', '29.02.2017', '27/03/2016', '01.01.0000', '01.01.9999', '1.1.2016'),
      hostileString,
    );
    const hour = fc.oneof(
      fc.integer({ min: 0, max: 30 }).map((h) => `${String(h).padStart(2, '0')}:00`),
      hostileString,
    );
    const value = fc.oneof(fc.constantFrom('26.298,80', '0', '0,00', '-1,5', '9'.repeat(400), '1.234.567', ''), hostileString);
    const row = fc.tuple(date, hour, value).map((cells) => cells.map((c) => `"${c.replaceAll('"', '""')}"`).join(','));
    fc.assert(
      fc.property(fc.array(row, { maxLength: 40 }), fc.boolean(), (rows, zero) => {
        checkSeries(new TextEncoder().encode(['"Tarih","Saat","Tüketim Miktarı (MWh)"', ...rows].join('\r\n')), zero);
      }),
      fuzzParams(PURE_RUNS),
    );
  });

  it('real files (2016-03-27 clock change included), mutated and re-encoded: never throws, every row accounted for', () => {
    // The excerpts hold 27–28 March 2016 (line 6 holds the repeated 04:00 of 2016-03-27)
    const files = ['GercekZamanliTuketim-2016-2017.csv', 'PTF-2016-2017.csv'].map((f) => excerpt(`epias-2016-2017/${f}`, 2100));
    fc.assert(
      fc.property(fc.nat({ max: files.length - 1 }), fc.array(mutation, { maxLength: 8 }), fc.boolean(), fc.boolean(), (f, ms, utf8, zero) => {
        let bytes = files[f];
        if (utf8) bytes = new TextEncoder().encode(new TextDecoder('windows-1254').decode(bytes)); // an export saved as UTF-8
        checkSeries(mutate(bytes, ms), zero);
      }),
      fuzzParams(FILE_RUNS),
    );
  });
});

describe('Modbus register decoding', () => {
  const spec = fc.record({ type: fc.constantFrom(...REGISTER_TYPES), wordOrder: fc.constantFrom('big' as const, 'little' as const), byteSwap: fc.boolean() });

  it('any 16-bit words of the right count decode to a number; integers stay in their range', () => {
    fc.assert(
      fc.property(spec, fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 4, maxLength: 4 }), (s, all) => {
        const v = decodeRegisters(all.slice(0, REGISTER_WORDS[s.type]), s);
        expect(typeof v).toBe('number');
        const bits = { uint16: 16, int16: 16, uint32: 32, int32: 32, uint64: 64 }[s.type as string];
        if (bits !== undefined) {
          expect(Number.isInteger(v)).toBe(true);
          const signed = s.type.startsWith('int');
          expect(v).toBeGreaterThanOrEqual(signed ? -(2 ** (bits - 1)) : 0);
          expect(v).toBeLessThanOrEqual(signed ? 2 ** (bits - 1) : 2 ** bits);
        }
        if (s.type === 'float32' && Number.isFinite(v)) expect(Math.fround(v)).toBe(Math.fround(v)); // a float32 value
      }),
      fuzzParams(PURE_RUNS),
    );
  });

  it('wrong word counts or values out of 0..65535 are a RangeError, nothing else', () => {
    fc.assert(
      fc.property(spec, fc.array(fc.oneof(fc.integer({ min: -70_000, max: 140_000 }), hostileNumber), { maxLength: 6 }), (s, words) => {
        onlyThrows(() => decodeRegisters(words, s), [RangeError]);
      }),
      fuzzParams(PURE_RUNS),
    );
  });

  it('round-trips what an encoder wrote in every word order and byte swap', () => {
    fc.assert(
      fc.property(spec, fc.double({ noNaN: true }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), (s, d, big) => {
        const n = REGISTER_WORDS[s.type];
        const buf = Buffer.alloc(8);
        let expected: number;
        switch (s.type) {
          case 'uint16':
            expected = Number(big % 65_536n);
            buf.writeUInt16BE(expected);
            break;
          case 'int16':
            expected = Number(big % 65_536n) - 32_768;
            buf.writeInt16BE(expected);
            break;
          case 'uint32':
            expected = Number(big % 2n ** 32n);
            buf.writeUInt32BE(expected);
            break;
          case 'int32':
            expected = Number(big % 2n ** 32n) - 2 ** 31;
            buf.writeInt32BE(expected);
            break;
          case 'float32':
            buf.writeFloatBE(d);
            expected = buf.readFloatBE(0);
            break;
          case 'float64':
            expected = d;
            buf.writeDoubleBE(d);
            break;
          case 'uint64':
            expected = Number(big);
            buf.writeBigUInt64BE(big);
            break;
        }
        const words = Array.from({ length: n }, (_, i) => (s.byteSwap ? buf.readUInt16LE(i * 2) : buf.readUInt16BE(i * 2)));
        if (s.wordOrder === 'little') words.reverse();
        const v = decodeRegisters(words, s);
        if (s.type === 'float32') expect(Math.fround(v)).toBe(expected);
        else expect(v).toBe(expected);
      }),
      fuzzParams(PURE_RUNS),
    );
  });

  it('scaleValue never throws and keeps finite values finite unless the product overflows', () => {
    fc.assert(
      fc.property(hostileNumber, fc.oneof(fc.constantFrom(1, 0.1, 0.01, 0.001, 10, 1000), hostileNumber), (v, scale) => {
        const out = scaleValue(v, scale);
        if (Number.isFinite(v) && Number.isFinite(scale) && Number.isFinite(v * scale)) expect(Number.isFinite(out)).toBe(true);
      }),
      fuzzParams(PURE_RUNS),
    );
  });
});

/** SenML records: mostly well-formed, any field possibly hostile, must-understand fields, 20 000-deep values. */
const senmlRecord = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record(
      {
        bn: fc.oneof(fc.constantFrom('M1/', 'M1:', '', 'M2/', 'M1/1-0:'), hostileValue),
        bt: fc.oneof(fc.constantFrom(1_767_225_600, 0, -1, 2 ** 28, 253_402_300_799, 1e300), hostileValue),
        bu: fc.oneof(fc.constantFrom('Wh', 'kWh', 'MWh', 'J', 'Cel', 'Pa', 'furlong'), hostileValue),
        bv: fc.oneof(fc.constantFrom(0, 1.7976931348623157e308), hostileValue),
        n: fc.oneof(fc.constantFrom('active_import', '1.8.0', 'temperature', 'pressure', 'M1/active_import', 'x'), hostileValue),
        u: fc.oneof(fc.constantFrom('Wh', 'kWh', 'MWh', 'J', 'Cel', 'Pa', 'furlong'), hostileValue),
        v: hostileValue,
        t: fc.oneof(fc.constantFrom(0, 3600, -60, 1e300), hostileValue),
        vs: hostileValue,
        s: hostileValue,
        x_: hostileValue,
        ext: hostileValue,
      },
      { requiredKeys: [] },
    ),
  },
  { weight: 1, arbitrary: hostileValue },
);

describe('SenML mapping', () => {
  it('never throws; every record is one row (finite value, valid time, known channel) or one reject with a bounded reason', () => {
    fc.assert(
      fc.property(fc.array(senmlRecord, { maxLength: 12 }), fc.option(fc.constantFrom('M1', 'M2'), { nil: undefined }), (pack, meter) => {
        const r = senmlToReadings(pack, { meter, nowMs: Date.UTC(2026, 0, 1) });
        expect([...r.indexOf, ...r.rejected.map((x) => x.index)].sort((a, b) => a - b)).toEqual(pack.map((_, i) => i));
        expect(r.rows).toHaveLength(r.indexOf.length);
        for (const row of r.rows) {
          expect(Number.isFinite(row.value)).toBe(true);
          expect(Number.isNaN(Date.parse(row.start))).toBe(false);
          expect(resolveChannel(row.channel)).toBeDefined();
          expect(row.meter).not.toBe('');
        }
        for (const x of r.rejected) {
          expect(x.reason).not.toBe('');
          expect(x.reason.length).toBeLessThanOrEqual(FIELD_LIMITS.comment);
        }
      }),
      fuzzParams(PURE_RUNS),
    );
  });
});

const ROUTES: TopicRoute[] = [
  { kind: 'meter-readings', meter: 'M1' },
  { kind: 'gateway-readings', gateway: 'gw-1' },
  { kind: 'meter-events', meter: 'M1' },
];

/** MQTT payloads: random bytes, JSON of the documented shapes with hostile insides, truncations, NUL, 20 000-deep nesting. */
const payload: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc
    .oneof(
      fc.array(fc.oneof(senmlRecord, hostileValue), { maxLength: 8 }),
      fc.record(
        {
          id: hostileValue,
          ack: fc.oneof(fc.boolean(), hostileValue),
          gateway: hostileValue,
          readings: fc.oneof(fc.array(senmlRecord, { maxLength: 5 }), hostileValue),
          events: hostileValue,
          rows: hostileValue,
        },
        { requiredKeys: [] },
      ),
      hostileValue,
    )
    .chain((v) => {
      let text: string;
      try {
        text = JSON.stringify(v) ?? 'null';
      } catch {
        text = nestedText(20_000); // too deep for JSON.stringify: send it as text
      }
      return fc.oneof(
        fc.constant(text),
        fc.nat({ max: text.length }).map((k) => text.slice(0, k)),
      );
    })
    .map((t) => new TextEncoder().encode(t)),
  fc
    .constantFrom(
      nestedText(20_000),
      `{"readings":${nestedText(20_000)}}`,
      `[{"channel":"active_import","start":"2026-01-01T00:00:00Z","value":${nestedText(20_000)}}]`,
      '[{"n":"M1/active_import","v":' + nestedText(20_000) + '}]',
      '[]',
      '{}',
      'null',
      '"\\u0000"',
    )
    .map((t) => new TextEncoder().encode(t)),
);

describe('MQTT payload decoding', () => {
  it('never throws; invalid payloads carry a reason; SenML records are rows or rejects', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ROUTES), payload, fc.option(fc.constant('application/senml+json'), { nil: undefined }), (route, bytes, contentType) => {
        const d = decodeMessage(route, bytes, { nowMs: Date.UTC(2026, 0, 1), contentType });
        if (d.kind === 'invalid') expect(d.reason).not.toBe('');
        if (d.kind === 'readings' && d.format === 'senml') {
          expect(d.indexOf).toHaveLength(d.rows.length);
          for (const r of d.rejected) expect(r.reason).not.toBe('');
        }
      }),
      fuzzParams(PURE_RUNS),
    );
  });

  it('a value nested 20 000 levels deep inside a SenML pack is refused with a reason, not thrown', () => {
    const pack = [{ bn: 'M1/', n: 'active_import', v: nested(20_000) }];
    const r = senmlToReadings(pack, { nowMs: 0 });
    expect(r.rows).toEqual([]);
    expect(r.rejected).toEqual([{ index: 0, reason: expect.stringMatching(/v must be a finite number/), meter: 'M1' }]);
  });
});

describe('NDJSON line splitting', () => {
  const MAX = 64;
  const line = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)),
    fc.string({ unit: 'binary', maxLength: 30 }).filter((s) => !s.includes('\n')),
    fc.constantFrom('', '  ', '{"a":1}\r', nestedText(20_000), 'x'.repeat(MAX + 1), `"${'y'.repeat(200)}"`),
  );

  async function collect(chunks: readonly Uint8Array[]): Promise<NdjsonLine[]> {
    async function* source() {
      for (const c of chunks) yield Buffer.from(c);
    }
    const out: NdjsonLine[] = [];
    for await (const l of ndjsonLines(source(), MAX)) out.push(l);
    return out;
  }

  it('one result per line whatever the chunking (multi-byte characters split too); lines over the limit are never accepted', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(line, { maxLength: 12 }), fc.boolean(), fc.array(fc.nat({ max: 41_000 }), { maxLength: 8 }), async (lines, trailing, cuts) => {
        const text = lines.join('\n') + (trailing ? '\n' : '');
        const bytes = new TextEncoder().encode(text);
        const out = await collect(chunked(bytes, cuts));
        const segments = new TextDecoder().decode(bytes).split('\n'); // lone surrogates came out as U+FFFD
        if (segments[segments.length - 1].trim() === '') segments.pop();
        expect(out.map((l) => l.index)).toEqual(segments.map((_, i) => i));
        out.forEach((l, i) => {
          const seg = segments[i].endsWith('\r') ? segments[i].slice(0, -1) : segments[i];
          if (l.ok === false) expect(l.reason).not.toBe('');
          if (seg.length > MAX)
            expect(l.ok).toBe(false); // over-long: rejected, not buffered and parsed
          else if (l.ok === true) expect(l.value).toEqual(JSON.parse(seg));
        });
      }),
      fuzzParams(PURE_RUNS),
    );
  });
});

describe('what the fuzzers found (regressions)', () => {
  it('a number cell too large for a double stays text for the validator, not Infinity (reported as null)', () => {
    expect(csvNumber('6e700', ',')).toBe('6e700');
    expect(csvNumber('9'.repeat(400), ';')).toBe('9'.repeat(400));
    expect(csvNumber('1,5', ';')).toBe(1.5);
    const layout = readingCsvLayout({ fields: ['meter', 'channel', 'start', 'value'], line: 1, raw: '' }, ',');
    expect(readingFromRecord(layout, { fields: ['M1', 'active_import', '2026-01-01T00:00:00Z', '1e999'], line: 2, raw: '' })).toEqual({
      row: { meter: 'M1', channel: 'active_import', start: '2026-01-01T00:00:00Z', value: '1e999' },
    });
  });

  it('an EPİAŞ value of 400 digits is a bad row, not Infinity', () => {
    expect(parseTurkishNumber('9'.repeat(400))).toBeUndefined();
    const s = parseEpiasCsv(new TextEncoder().encode(`"Tarih","Saat","PTF (TL/MWh)"\n"01.01.2016","00:00","${'9'.repeat(400)}"\n`));
    expect(s.rows).toEqual([]);
    expect(s.issues.map((i) => i.kind)).toEqual(['bad_row']);
  });

  it('a settlement version past a PostgreSQL integer is a line reject, not a failed import', () => {
    const r = parseSettlementCsv('meter,start,withdrawal,version\nM1,2026-01-01T00:00:00Z,1,1e300\nM1,2026-01-01T01:00:00Z,1,2147483647\n');
    expect(r.rejected).toEqual([{ line: 2, reason: 'version must be at most 2147483647, got "1e300"', raw: 'M1,2026-01-01T00:00:00Z,1,1e300' }]);
    expect(r.groups.map((g) => g.version)).toEqual([2_147_483_647]);
  });

  it('SenML: a 20 000-character name is quoted bounded; bv + v past a double is refused', () => {
    const long = senmlToReadings([{ bn: 'x'.repeat(20_000), n: 'active_import', v: 1 }], { nowMs: 0 });
    expect(long.rejected[0].reason.length).toBeLessThan(FIELD_LIMITS.comment);
    const over = senmlToReadings([{ bn: 'M1/', bv: 1.7976931348623157e308, n: 'active_import', v: 1.7976931348623157e308 }], { nowMs: 0 });
    expect(over.rows).toEqual([]);
    expect(over.rejected[0].reason).toMatch(/overflows a double in kWh/);
    const mwh = senmlToReadings([{ bn: 'M1/', n: 'active_import', u: 'MWh', v: 1e306 }], { nowMs: 0 });
    expect(mwh.rejected[0].reason).toMatch(/overflows/);
  });
});

describe('timestamps (models/time.ts, every transport)', () => {
  it('an offset is accepted only as RFC 3339 allows it: hours 00–23, minutes 00–59', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 99 }), fc.integer({ min: 0, max: 99 }), fc.constantFrom('+', '-'), (hh, mm, sign) => {
        const text = `2026-01-01T00:00:00${sign}${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}`;
        expect(parseInstant(text).ok, text).toBe(hh <= 23 && mm <= 59);
      }),
      fuzzParams(PURE_RUNS),
    );
  });
});
