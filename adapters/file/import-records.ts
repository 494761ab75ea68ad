/**
 * Files → batches of ImportRecord, streamed (constant memory whatever the
 * file size): CSV in any of the encodings of text-decode.ts with lines to
 * skip before the header, and xlsx through exceljs's streaming reader
 * (`ExcelJS.stream.xlsx.WorkbookReader`: rows are parsed as the zip is read;
 * only shared strings are kept, as Excel files keep them).
 */
import type { Readable } from 'node:stream';
import { CsvParser, type CsvRecord, type Delimiter } from './csv.js';
import type { ImportRecord } from './reading-layouts.js';
import type { ImportOptions } from './import-options.js';
import { ptpireeRecords } from './ptpiree.js';
import { decodeChunks, type Encoding } from './text-decode.js';

/** A record longer than this many cells is not a readings row (a runaway xlsx row). */
const MAX_CELLS = 10_000;

/**
 * CSV bytes → record batches. `skipLines` drops that many lines before the
 * header (their line numbers still count, so rejects name the file's lines).
 */
export async function* csvRecords(
  bytes: AsyncIterable<Uint8Array>,
  opts: { encoding?: Encoding; delimiter?: Delimiter; skipLines?: number; onBytes?: (n: number) => void } = {},
): AsyncGenerator<ImportRecord[]> {
  const parser = new CsvParser({ delimiter: opts.delimiter });
  let skip = opts.skipLines ?? 0;
  const offset = skip;
  const rec = (r: CsvRecord): ImportRecord => ({ cells: r.fields, line: r.line + offset, raw: r.raw, ...(r.error ? { error: r.error } : {}) });
  for await (let text of decodeChunks(bytes, opts.encoding, opts.onBytes)) {
    while (skip > 0 && text.length > 0) {
      const nl = text.indexOf('\n');
      if (nl < 0) {
        text = '';
        break;
      }
      text = text.slice(nl + 1);
      skip--;
    }
    if (!text) continue;
    const out = parser.push(text);
    if (out.length) yield out.map(rec);
  }
  const tail = parser.end();
  if (tail.length) yield tail.map(rec);
}

/** The delimiter a CSV parser settled on, for decimal-comma defaults: `;` files are the European Excel ones. */
export type { Delimiter };

/** One xlsx cell value → text (dates as local wall time `YYYY-MM-DD HH:MM:SS`, as Excel stores them: no zone) or a number. */
export function xlsxCell(v: unknown): string | number {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' || typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (v instanceof Date) {
    if (Number.isNaN(v.getTime())) return '';
    const iso = v.toISOString();
    return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : iso.slice(0, 19).replace('T', ' '); // a date cell: the date alone
  }
  if (typeof v === 'object') {
    const o = v as { richText?: { text: string }[]; result?: unknown; text?: unknown; error?: string; sharedFormula?: unknown; formula?: unknown };
    if (o.richText) return o.richText.map((r) => r.text).join('');
    if ('result' in o || 'formula' in o || 'sharedFormula' in o) return xlsxCell(o.result);
    if (typeof o.text === 'string') return o.text;
    if (o.error) return `#ERROR ${o.error}`;
  }
  return String(v);
}

/**
 * xlsx (a path or a stream) → record batches of one worksheet (by name, or the
 * first one). Line numbers are Excel row numbers; empty rows are skipped.
 */
export async function* xlsxRecords(input: string | Readable, opts: { sheet?: string; skipLines?: number; batchRows?: number } = {}): AsyncGenerator<ImportRecord[]> {
  const { default: ExcelJS } = await import('exceljs'); // on the first xlsx only (startup cost otherwise)
  const reader = new ExcelJS.stream.xlsx.WorkbookReader(input, { worksheets: 'emit', sharedStrings: 'cache', styles: 'cache', hyperlinks: 'ignore', entries: 'ignore' });
  const batchRows = opts.batchRows ?? 5_000;
  const skip = opts.skipLines ?? 0;
  const names: string[] = [];
  let found = false;
  for await (const sheet of reader) {
    const name = (sheet as unknown as { name: string }).name;
    names.push(name);
    if (found || (opts.sheet !== undefined && name !== opts.sheet)) {
      // the rest of a sheet we do not read must still be consumed for the zip stream to go on
      for await (const _ of sheet) void _;
      continue;
    }
    found = true;
    let batch: ImportRecord[] = [];
    for await (const row of sheet) {
      if (row.number <= skip) continue;
      const values = row.values as unknown[];
      if (values.length - 1 > MAX_CELLS) {
        batch.push({ cells: [], line: row.number, raw: '', error: `row has ${values.length - 1} cells (at most ${MAX_CELLS})` });
        continue;
      }
      const cells: (string | number)[] = [];
      for (let i = 1; i < values.length; i++) cells.push(xlsxCell(values[i]));
      while (cells.length && cells[cells.length - 1] === '') cells.pop();
      if (cells.length === 0) continue;
      batch.push({ cells, line: row.number, raw: cells.map((c) => String(c)).join(','), sparse: true });
      if (batch.length >= batchRows) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  }
  if (!found)
    throw new XlsxSheetError(
      opts.sheet ? `the workbook has no sheet ${JSON.stringify(opts.sheet)}; it has ${names.map((n) => JSON.stringify(n)).join(', ') || 'none'}` : 'the workbook has no worksheet',
    );
}

export class XlsxSheetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'XlsxSheetError';
  }
}

export type FileKind = 'csv' | 'xlsx';

/** The kind of a file by its name: `.xlsx` is a workbook, everything else text. */
export const fileKindOf = (name: string): FileKind => (/\.xlsx$/i.test(name) ? 'xlsx' : 'csv');

/**
 * A file's bytes → its records, by layout and kind: PTPiREE (text, verified
 * checksum), xlsx (a workbook), else CSV. The one dispatcher of the CLI and the API.
 */
export function recordsOf(input: Readable, kind: FileKind, o: ImportOptions, onBytes?: (n: number) => void): AsyncIterable<ImportRecord[]> {
  if (o.layout === 'ptpiree') {
    return ptpireeRecords(input, { meter: o.meter, timezone: o.timezone, encoding: o.encoding, verifyChecksum: o.verifyChecksum, dateOrder: o.dateOrder });
  }
  if (kind === 'xlsx') return xlsxRecords(input, { sheet: o.sheet, skipLines: o.skipLines });
  return csvRecords(input, { encoding: o.encoding, delimiter: o.delimiter, skipLines: o.skipLines, onBytes });
}
