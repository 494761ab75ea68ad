/**
 * Settlement CSV (docs/settlement.md): one meter-hour per line, header
 * `meter,start,withdrawal,supply,version` (`supply` and `version` optional;
 * without `version` the caller gives one for the whole file). Column names
 * match case-insensitively, with aliases for the EPİAŞ/distribution exports:
 * meter = eic | meterId | sayac; start = hour | time | tarih; withdrawal =
 * consumption | cekis | çekiş; supply = injection | veris | veriş; version =
 * versiyon. `,` or `;`
 * delimited; with `;` a decimal comma is accepted. Rows are grouped by
 * version, each group is imported like one PUT /v1/settlement, lowest
 * version first. Pure: text in, groups and line rejects out.
 */
import { CsvHeaderError, CsvParser, csvNumber, type CsvRecord, type Delimiter } from './csv.js';

const ALIASES: Record<string, 'meter' | 'start' | 'withdrawal' | 'supply' | 'version'> = {
  meter: 'meter',
  eic: 'meter',
  meterid: 'meter',
  sayac: 'meter',
  start: 'start',
  hour: 'start',
  time: 'start',
  tarih: 'start',
  withdrawal: 'withdrawal',
  consumption: 'withdrawal',
  cekis: 'withdrawal',
  çekiş: 'withdrawal',
  supply: 'supply',
  injection: 'supply',
  veris: 'supply',
  veriş: 'supply',
  version: 'version',
  versiyon: 'version',
};

/** Largest version a CSV row may carry (PostgreSQL integer). */
export const MAX_VERSION = 2_147_483_647;

export interface SettlementCsvGroup {
  readonly version: number;
  readonly rows: Record<string, unknown>[];
  /** CSV line of each row. */
  readonly lines: number[];
}

export interface SettlementCsv {
  readonly groups: SettlementCsvGroup[];
  readonly rejected: { line: number; reason: string; raw: string }[];
}

/**
 * Parses a settlement CSV. Throws CsvHeaderError for a header that cannot be
 * read (unknown, duplicate or missing column; no version column and no
 * `defaultVersion`).
 * @example parseSettlementCsv('meter,start,withdrawal,version\nM1,2026-03-01T00:00:00+03:00,1.5,1\n')
 * // { groups: [{ version: 1, rows: [{ meter: 'M1', start: '2026-03-01T00:00:00+03:00', withdrawal: 1.5 }], lines: [2] }], rejected: [] }
 */
export function parseSettlementCsv(text: string, defaultVersion?: number): SettlementCsv {
  const parser = new CsvParser();
  const records = [...parser.push(text), ...parser.end()];
  const delimiter: Delimiter = parser.delimiter ?? ',';
  if (records.length === 0) throw new CsvHeaderError('the CSV is empty; expected a header meter,start,withdrawal[,supply][,version]');
  const header = records[0];
  const columns = header.fields.map((f) => {
    const name = ALIASES[f.trim().toLowerCase()];
    if (!name) throw new CsvHeaderError(`unknown column "${f}"; columns are meter, start, withdrawal and optionally supply, version`, header.line);
    return name;
  });
  for (const c of columns) if (columns.indexOf(c) !== columns.lastIndexOf(c)) throw new CsvHeaderError(`column "${c}" appears twice (or under two of its names)`, header.line);
  const missing = (['meter', 'start', 'withdrawal'] as const).filter((c) => !columns.includes(c));
  if (missing.length) throw new CsvHeaderError(`missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; expected meter${delimiter}start${delimiter}withdrawal`, header.line);
  if (!columns.includes('version') && defaultVersion === undefined) throw new CsvHeaderError('no version column: add one, or give the version with the request (?version=N)', header.line);

  const byVersion = new Map<number, SettlementCsvGroup>();
  const rejected: SettlementCsv['rejected'] = [];
  for (const rec of records.slice(1)) {
    const r = rowOf(rec, columns, delimiter, defaultVersion);
    if ('reason' in r) {
      rejected.push({ line: rec.line, reason: r.reason, raw: rec.raw });
      continue;
    }
    let g = byVersion.get(r.version);
    if (!g) byVersion.set(r.version, (g = { version: r.version, rows: [], lines: [] }));
    g.rows.push(r.row);
    g.lines.push(rec.line);
  }
  return { groups: [...byVersion.values()].sort((a, b) => a.version - b.version), rejected };
}

function rowOf(rec: CsvRecord, columns: readonly string[], delimiter: Delimiter, defaultVersion: number | undefined): { row: Record<string, unknown>; version: number } | { reason: string } {
  if (rec.error) return { reason: `malformed CSV: ${rec.error}` };
  if (rec.fields.length !== columns.length) return { reason: `expected ${columns.length} fields (${columns.join(delimiter)}), got ${rec.fields.length}` };
  const row: Record<string, unknown> = {};
  let version = defaultVersion;
  for (let i = 0; i < columns.length; i++) {
    const v = rec.fields[i].trim();
    const col = columns[i];
    if (v === '') continue;
    if (col === 'version') {
      const n = csvNumber(v, delimiter);
      // settlement_rows.version is a PostgreSQL integer: a larger one would fail the whole import in SQL
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) return { reason: `version must be a whole number ≥ 1, got "${v}"` };
      if (n > MAX_VERSION) return { reason: `version must be at most ${MAX_VERSION}, got "${v}"` };
      version = n;
    } else {
      row[col] = col === 'withdrawal' || col === 'supply' ? csvNumber(v, delimiter) : v;
    }
  }
  if (version === undefined) return { reason: 'version is empty: fill it in, or give the version with the request (?version=N)' };
  return { row, version };
}
