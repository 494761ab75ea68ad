/**
 * Property tests (fast-check) of the file import parsers (issue 17): whatever
 * the cells, a layout mapper returns rows or rejects with reasons and never
 * throws; mutated real files (the Windows-1250 wide-by-hour fixture, a
 * PTPiREE day) come out as records and rejects, or a file-level error of the
 * documented kinds, never anything else. Seed: test/fuzz-arbitraries.ts.
 */
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CsvError } from '../adapters/file/csv.js';
import { importOptions } from '../adapters/file/import-options.js';
import { csvRecords } from '../adapters/file/import-records.js';
import { parseNumber, resolveTimestamp } from '../adapters/file/import-values.js';
import { formatPtpiree, ptpireeRecords, PtpireeError } from '../adapters/file/ptpiree.js';
import { layoutMapper, LayoutError } from '../adapters/file/reading-layouts.js';
import { DecodeError } from '../adapters/file/text-decode.js';
import { fuzzParams, hostileString, mutate, mutation } from './fuzz-arbitraries.js';

const WIDE_HOUR = new Uint8Array(readFileSync(new URL('./fixtures/files/wide-hour-warsaw-dst.cp1250.csv', import.meta.url)));

const cell = fc.oneof(hostileString, fc.double(), fc.constantFrom('2026-10-25 02:00', '25.10.2026', '24:00', '1,5', '27.424,42', 'S', 'W', ''));
const layout = fc.constantFrom('long', 'wide-meter', 'wide-hour', 'single') as fc.Arbitrary<'long' | 'wide-meter' | 'wide-hour' | 'single'>;

describe('file import parsers under hostile input', () => {
  it('parseNumber and resolveTimestamp return a value or a reason, never throw', () => {
    fc.assert(
      fc.property(fc.oneof(hostileString, fc.double()), fc.constantFrom('.', ','), fc.constantFrom('', '.', ',', ' '), (c, d, t) => {
        const r = parseNumber(c as string | number, d as '.' | ',', t as '' | '.' | ',' | ' ');
        expect(typeof r === 'number' ? Number.isFinite(r) : typeof r.reason).toBe(typeof r === 'number' ? true : 'string');
      }),
      fuzzParams(2000),
    );
    fc.assert(
      fc.property(hostileString, fc.option(hostileString, { nil: undefined }), (d, t) => {
        const r = resolveTimestamp(d, t, { tz: 'Europe/Warsaw', seen: new Set() });
        expect(typeof r === 'number' ? Number.isFinite(r) : typeof r.reason === 'string').toBe(true);
      }),
      fuzzParams(2000),
    );
  });

  it('a mapper built from any header either refuses it (LayoutError) or maps any record to rows and reasons', () => {
    fc.assert(
      fc.property(layout, fc.array(cell, { minLength: 1, maxLength: 30 }), fc.array(fc.array(cell, { maxLength: 32 }), { maxLength: 5 }), (l, header, records) => {
        const o = importOptions({ layout: l, meter: 'M', timezone: 'Europe/Warsaw' });
        if (!o.ok) throw new Error(o.problems.join());
        let m;
        try {
          m = layoutMapper({ cells: header, line: 1, raw: '' }, o.options);
        } catch (err) {
          expect(err).toBeInstanceOf(LayoutError);
          return;
        }
        records.forEach((cells, i) => {
          for (const item of m.map({ cells, line: i + 2, raw: '' })) {
            if ('reason' in item) expect(item.reason.length).toBeGreaterThan(0);
            else expect(Number.isFinite(item.row.value) && typeof item.row.start === 'string').toBe(true);
          }
        });
      }),
      fuzzParams(1000),
    );
  });

  it('the mutated Windows-1250 wide-by-hour file: records, rejects or a documented file error', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 4 }), async (ms) => {
        const o = importOptions({ layout: 'wide-hour', timezone: 'Europe/Warsaw', encoding: 'windows-1250' });
        if (!o.ok) throw new Error();
        try {
          let mapper;
          for await (const batch of csvRecords(Readable.from([Buffer.from(mutate(WIDE_HOUR, ms))]), o.options)) {
            for (const rec of batch) {
              if (!mapper) mapper = layoutMapper(rec, o.options, ';');
              else mapper.map(rec);
            }
          }
        } catch (err) {
          expect([LayoutError, CsvError, DecodeError].some((k) => err instanceof k)).toBe(true);
        }
      }),
      fuzzParams(200),
    );
  });

  it('a mutated PTPiREE day is refused (checksum, lines, date) or read whole, never anything else', async () => {
    const day = formatPtpiree({
      ppe: 'P',
      date: '2026-10-25',
      channel: 'active_import',
      unit: 'kWh',
      intervalMinutes: 60,
      values: Array.from({ length: 25 }, () => ({ value: 1, quality: 'measured' as const })),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.boolean(), async (ms, verify) => {
        try {
          for await (const batch of ptpireeRecords(Readable.from([Buffer.from(mutate(day, ms))]), { verifyChecksum: verify })) expect(batch.length).toBeGreaterThan(1);
        } catch (err) {
          expect(err).toBeInstanceOf(PtpireeError);
        }
      }),
      fuzzParams(300),
    );
  });
});
