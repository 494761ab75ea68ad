/**
 * Streaming CSV record parser (RFC 4180): quoted fields with `""` escapes and
 * embedded delimiters/newlines, CRLF or LF line ends, UTF-8 with an optional
 * BOM, `,` or `;` delimiter detected from the header line. The parser is pure
 * (feed it text chunks, get complete records back); `readCsvFile` wraps it
 * around a file stream so a 100 MB file is never held in memory.
 */
import { createReadStream } from 'node:fs';

export type { Delimiter } from '../../models/csv-format.js';
import type { Delimiter } from '../../models/csv-format.js';

export interface CsvRecord {
  readonly fields: string[];
  /** 1-based line on which the record starts (a quoted newline makes a record span lines). */
  readonly line: number;
  /** The record as written in the file, without its line end. */
  readonly raw: string;
  /** Set when the record is malformed (text after a closing quote, unterminated quote). */
  readonly error?: string;
}

/** A problem that stops parsing (the rest of the file cannot be read reliably). */
export class CsvError extends Error {
  constructor(
    message: string,
    readonly line: number,
  ) {
    super(`line ${line}: ${message}`);
    this.name = 'CsvError';
  }
}

const QUOTE = 34; // "
const LF = 10;
const CR = 13;

/** One record longer than this is almost always an unterminated quote swallowing the file. */
export const MAX_RECORD_CHARS = 1 << 20;

/**
 * Picks the delimiter of a header line: the one of `,`/`;` that occurs more
 * often outside quotes (`,` on a tie, e.g. a one-column file).
 */
export function detectDelimiter(headerLine: string): Delimiter {
  let commas = 0;
  let semis = 0;
  let quoted = false;
  for (let i = 0; i < headerLine.length; i++) {
    const c = headerLine[i];
    if (c === '"') quoted = !quoted;
    else if (!quoted && c === ',') commas++;
    else if (!quoted && c === ';') semis++;
  }
  return semis > commas ? ';' : ',';
}

/**
 * Incremental parser: `push(chunk)` returns the records completed by that
 * chunk, `end()` the last one. Empty lines are skipped (but counted).
 * @example
 * const p = new CsvParser();
 * p.push('a,b\n1,"x\ny"\n'); // [{fields:['a','b'],line:1,…}, {fields:['1','x\ny'],line:2,…}]
 */
export class CsvParser {
  private rest = '';
  private line = 1;
  private started = false;
  private delim: number;

  constructor(opts: { delimiter?: Delimiter } = {}) {
    this.delim = opts.delimiter ? opts.delimiter.charCodeAt(0) : -1;
  }

  /** The delimiter in use (known once the header line has been seen). */
  get delimiter(): Delimiter | undefined {
    return this.delim < 0 ? undefined : (String.fromCharCode(this.delim) as Delimiter);
  }

  push(chunk: string): CsvRecord[] {
    return this.parse(this.rest + chunk, false);
  }

  end(): CsvRecord[] {
    return this.parse(this.rest, true);
  }

  private parse(buf: string, final: boolean): CsvRecord[] {
    if (!this.started) {
      if (buf.charCodeAt(0) === 0xfeff) buf = buf.slice(1);
      else if (buf.length === 0 && !final) return [];
      this.started = true;
    }
    if (this.delim < 0) {
      const nl = buf.indexOf('\n');
      if (nl < 0 && !final) {
        if (buf.length > MAX_RECORD_CHARS) throw new CsvError(`no line end in the first ${MAX_RECORD_CHARS} characters: is this a CSV file?`, 1);
        this.rest = buf;
        return [];
      }
      this.delim = detectDelimiter(nl < 0 ? buf : buf.slice(0, nl)).charCodeAt(0);
    }
    const out: CsvRecord[] = [];
    let pos = 0;
    while (pos < buf.length) {
      const r = this.record(buf, pos, final);
      if (!r) break;
      if (r.record) out.push(r.record);
      pos = r.next;
    }
    this.rest = buf.slice(pos);
    if (!final && this.rest.length > MAX_RECORD_CHARS) {
      throw new CsvError(`record longer than ${MAX_RECORD_CHARS} characters: is a quoted field missing its closing quote?`, this.line);
    }
    return out;
  }

  /**
   * Parses one record starting at `pos`. Returns undefined when the buffer
   * ends before the record does (and more input may come).
   */
  private record(buf: string, pos: number, final: boolean): { record?: CsvRecord; next: number } | undefined {
    const d = this.delim;
    const n = buf.length;
    const fields: string[] = [];
    let newlines = 0; // inside quoted fields
    let error: string | undefined;
    let i = pos;
    for (;;) {
      // one field starting at i
      if (i < n && buf.charCodeAt(i) === QUOTE) {
        const openedOn = this.line + newlines;
        let value = '';
        let from = i + 1;
        for (;;) {
          const q = buf.indexOf('"', from);
          if (q < 0) {
            if (!final) return undefined;
            const text = buf.slice(from);
            newlines += countNewlines(text);
            fields.push(value + text);
            error = `unterminated quoted field (opened on line ${openedOn})`;
            i = n;
            break;
          }
          if (q + 1 >= n && !final) return undefined; // cannot tell `"` from `""` yet
          const part = buf.slice(from, q);
          newlines += countNewlines(part);
          if (buf.charCodeAt(q + 1) === QUOTE) {
            value += part + '"';
            from = q + 2;
            continue;
          }
          value += part;
          i = q + 1;
          // text between the closing quote and the delimiter/line end is malformed; keep it
          let j = i;
          while (j < n && buf.charCodeAt(j) !== d && buf.charCodeAt(j) !== LF && buf.charCodeAt(j) !== CR) j++;
          if (j > i) {
            error ??= `unexpected text after the closing quote of field ${fields.length + 1}: quotes inside a quoted field must be doubled ("")`;
            value += buf.slice(i, j);
            i = j;
          }
          fields.push(value);
          break;
        }
      } else {
        let j = i;
        while (j < n) {
          const c = buf.charCodeAt(j);
          if (c === d || c === LF || c === CR) break;
          j++;
        }
        fields.push(buf.slice(i, j));
        i = j;
      }
      // after a field: delimiter, line end or end of input
      if (i >= n) {
        if (!final) return undefined;
        return this.finish(buf, pos, n, n, fields, newlines, error);
      }
      const c = buf.charCodeAt(i);
      if (c === d) {
        i++;
        continue;
      }
      if (c === CR) {
        if (i + 1 >= n && !final) return undefined; // CRLF split across chunks
        return this.finish(buf, pos, i, buf.charCodeAt(i + 1) === LF ? i + 2 : i + 1, fields, newlines, error);
      }
      return this.finish(buf, pos, i, i + 1, fields, newlines, error);
    }
  }

  private finish(buf: string, pos: number, end: number, next: number, fields: string[], newlines: number, error: string | undefined) {
    const line = this.line;
    this.line += newlines + (next > end ? 1 : 0);
    if (end === pos) return { next }; // empty line
    return { record: { fields, line, raw: buf.slice(pos, end), ...(error ? { error } : {}) }, next };
  }
}

function countNewlines(s: string): number {
  let k = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) k++;
  return k;
}

// CSV output (csvField, csvLine) is formatting, pure: models/csv-format.ts; re-exported for the parser's users.
export { csvField, csvLine } from '../../models/csv-format.js';

/**
 * Reads a CSV file as batches of records, one batch per stream chunk.
 * `onBytes` reports bytes read so far (for progress). Invalid UTF-8 stops the
 * read with a CsvError naming the line.
 */
export async function* readCsvFile(path: string, opts: { delimiter?: Delimiter; onBytes?: (bytes: number) => void; chunkBytes?: number } = {}): AsyncGenerator<CsvRecord[]> {
  const parser = new CsvParser({ delimiter: opts.delimiter });
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let bytes = 0;
  let lastLine = 1;
  const decode = (buf?: Buffer) => {
    try {
      return buf ? decoder.decode(buf, { stream: true }) : decoder.decode();
    } catch {
      throw new CsvError('the file is not valid UTF-8: save it as UTF-8 (with or without BOM)', lastLine);
    }
  };
  for await (const chunk of createReadStream(path, { highWaterMark: opts.chunkBytes ?? 1 << 20 })) {
    bytes += (chunk as Buffer).length;
    const records = parser.push(decode(chunk as Buffer));
    opts.onBytes?.(bytes);
    if (records.length) {
      lastLine = records[records.length - 1].line;
      yield records;
    }
  }
  const tail = [...parser.push(decode()), ...parser.end()];
  if (tail.length) yield tail;
}

/**
 * A whole CSV file's bytes → text: UTF-8 when the bytes are valid UTF-8, else
 * Windows-1254 (what EPİAŞ publishes and Turkish Excel saves). For files read
 * at once (settlement, profile coefficients); readCsvFile streams UTF-8 only.
 */
export function decodeCsvBytes(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return new TextDecoder('windows-1254').decode(bytes);
  }
}

const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const DECIMAL_COMMA = /^[+-]?\d+,\d+$/;

/**
 * Converts a number cell to a number. With `;` as delimiter a decimal comma is
 * accepted (`1,5` as written by Excel in Turkish/Polish/German locales).
 * Anything else comes back unchanged, so the validator downstream rejects it
 * with its own reason instead of the row silently losing its value; so does
 * a number too large for a double (`1e999`, 400 digits), which would
 * otherwise become Infinity and be reported as `null`.
 * @example csvNumber('1,5', ';') // 1.5
 * @example csvNumber('n/a', ',') // 'n/a'
 * @example csvNumber('1e999', ',') // '1e999'
 */
export function csvNumber(text: string, delimiter: Delimiter = ','): number | string {
  const t = text.trim();
  let n = NaN;
  if (NUMBER.test(t)) n = Number(t);
  else if (delimiter === ';' && DECIMAL_COMMA.test(t)) n = Number(t.replace(',', '.'));
  return Number.isFinite(n) ? n : text;
}

/** A header that cannot be imported (unknown, duplicate or missing column). */
export class CsvHeaderError extends Error {
  constructor(message: string, line = 1) {
    super(`header (line ${line}): ${message}`);
    this.name = 'CsvHeaderError';
  }
}
