import { tzOffsetMinutes } from '../../models/time.js';
import { CsvParser } from '../file/csv.js';

/**
 * Hourly series exported from the EPİAŞ transparency platform as CSV, as
 * published: Windows-1254 header, `"Tarih","Saat","<series> (<unit>)"`, dates
 * `dd.mm.yyyy` or `dd/mm/yyyy`, hour `HH:MM` in Turkish local time
 * (Europe/Istanbul), Turkish numbers (`"26.298,80"` = 26298.80). Pure: bytes
 * in, hourly values and a list of everything that was not taken as is.
 *
 * Clock-change artefacts are reported, never double-counted: on 2016-03-27
 * Turkey moved from 03:00 to 04:00, and the files carry two "04:00" rows and no
 * 03:00; the first row of an hour is kept and the repeat is reported.
 */
export const EPIAS_TZ = 'Europe/Istanbul';

export interface EpiasRow {
  /** 1-based line in the file. */
  readonly line: number;
  /** Start of the hour (epoch ms). */
  readonly startMs: number;
  readonly value: number;
}

export type EpiasIssueKind = 'duplicate_hour' | 'nonexistent_hour' | 'unpublished' | 'bad_row';

export interface EpiasIssue {
  readonly line: number;
  readonly kind: EpiasIssueKind;
  readonly message: string;
}

export interface EpiasSeries {
  /** Series name and unit from the header, e.g. `Tüketim Miktarı`, `MWh`. */
  readonly name: string;
  readonly unit: string;
  readonly rows: EpiasRow[];
  readonly issues: EpiasIssue[];
}

export interface EpiasParseOptions {
  /**
   * A value of exactly 0 means "not published yet" (consumption, load
   * forecast): reported and left out. Off for prices, where 0 can be real.
   */
  readonly zeroMeansUnpublished?: boolean;
}

const DATE = /^(\d{2})[./](\d{2})[./](\d{4})$/;
const HOUR = /^(\d{2}):00$/;
const TURKISH_NUMBER = /^-?\d{1,3}(\.\d{3})*(,\d+)?$|^-?\d+(,\d+)?$/;

/** `"26.298,80"` → 26298.8; undefined when it is not a Turkish-format number or too large for a double (400 digits). */
export function parseTurkishNumber(text: string): number | undefined {
  const t = text.trim();
  if (!TURKISH_NUMBER.test(t)) return undefined;
  const n = Number(t.replace(/\./g, '').replace(',', '.'));
  return Number.isFinite(n) ? n : undefined;
}

/** Local wall time → instant in `tz`, or undefined when that wall time does not exist (skipped by a clock change). */
export function wallTimeToInstant(date: string, minuteOfDay: number, tz: string): number | undefined {
  const wall = Date.parse(`${date}T00:00:00Z`) + minuteOfDay * 60_000;
  let ms = wall - tzOffsetMinutes(tz, wall) * 60_000;
  ms = wall - tzOffsetMinutes(tz, ms) * 60_000;
  return ms + tzOffsetMinutes(tz, ms) * 60_000 === wall ? ms : undefined;
}

/**
 * Parses one EPİAŞ hourly CSV file.
 * @example parseEpiasCsv(readFileSync('PTF-2016-2017.csv')).rows[0] // { line: 2, startMs: …, value: 89.42 }
 */
export function parseEpiasCsv(bytes: Uint8Array, opts: EpiasParseOptions = {}): EpiasSeries {
  const text = new TextDecoder('windows-1254').decode(bytes);
  const parser = new CsvParser({ delimiter: ',' });
  const records = [...parser.push(text), ...parser.end()];
  const header = records.shift();
  const title = header?.fields[2] ?? '';
  const m = /^(.*?)\s*\(([^)]*)\)\s*$/.exec(title);
  const rows: EpiasRow[] = [];
  const issues: EpiasIssue[] = [];
  const seen = new Map<number, number>(); // startMs → line
  for (const r of records) {
    const [d, h, v] = r.fields;
    const dm = DATE.exec(d ?? '');
    const hm = HOUR.exec(h ?? '');
    const value = v === undefined ? undefined : parseTurkishNumber(v);
    const validDate = dm !== null && new Date(`${dm[3]}-${dm[2]}-${dm[1]}T00:00:00Z`).getUTCDate() === Number(dm[1]);
    if (r.error || r.fields.length !== 3 || !validDate || !hm || Number(hm[1]) > 23 || value === undefined) {
      issues.push({ line: r.line, kind: 'bad_row', message: `line ${r.line}: expected "dd.mm.yyyy","HH:00","1.234,56", got ${r.raw}` });
      continue;
    }
    const date = `${dm![3]}-${dm![2]}-${dm![1]}`;
    const startMs = wallTimeToInstant(date, Number(hm[1]) * 60, EPIAS_TZ);
    if (startMs === undefined) {
      issues.push({ line: r.line, kind: 'nonexistent_hour', message: `line ${r.line}: ${date} ${h} does not exist in ${EPIAS_TZ} (clock change); row left out` });
      continue;
    }
    const first = seen.get(startMs);
    if (first !== undefined) {
      issues.push({
        line: r.line,
        kind: 'duplicate_hour',
        message: `line ${r.line}: ${date} ${h} repeats line ${first} (a clock-change artefact: that day has ${hoursOf(date)} hours); the first row is kept, this one is left out`,
      });
      continue;
    }
    if (value === 0 && opts.zeroMeansUnpublished) {
      issues.push({ line: r.line, kind: 'unpublished', message: `line ${r.line}: ${date} ${h} is 0 (not published yet); left out` });
      continue;
    }
    seen.set(startMs, r.line);
    rows.push({ line: r.line, startMs, value });
  }
  return { name: m ? m[1] : title, unit: m ? m[2] : '', rows, issues };
}

function hoursOf(date: string): number {
  const start = wallTimeToInstant(date, 0, EPIAS_TZ)!;
  const next = new Date(Date.parse(`${date}T00:00:00Z`) + 86_400_000).toISOString().slice(0, 10);
  return (wallTimeToInstant(next, 0, EPIAS_TZ)! - start) / 3_600_000;
}
