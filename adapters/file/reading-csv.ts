/**
 * Long-format readings CSV (`mdm import readings`): one reading per line,
 * header `meter,channel,start,value` plus optional `quality`, `source`,
 * `intervalMinutes`. Rows become the raw objects the ingest pipeline takes
 * (ingest/pipeline.ts), which does all value checks.
 */
import { csvNumber, CsvHeaderError, type CsvRecord, type Delimiter } from './csv.js';

export const READING_COLUMNS = ['meter', 'channel', 'start', 'value', 'quality', 'source', 'intervalMinutes'] as const;
const REQUIRED = ['meter', 'channel', 'start', 'value'] as const;
const NUMERIC = new Set(['value', 'intervalMinutes']);

export interface ReadingCsvLayout {
  /** Column name per position, as the pipeline knows it. */
  readonly columns: readonly string[];
  readonly delimiter: Delimiter;
}

/** Reads the header record; throws CsvHeaderError naming what is wrong. Column names match case-insensitively. */
export function readingCsvLayout(header: CsvRecord, delimiter: Delimiter): ReadingCsvLayout {
  const byLower = new Map(READING_COLUMNS.map((c) => [c.toLowerCase(), c as string]));
  const columns: string[] = [];
  for (const f of header.fields) {
    const name = byLower.get(f.trim().toLowerCase());
    if (!name) {
      throw new CsvHeaderError(`unknown column "${f}"; columns are ${REQUIRED.join(',')} and optionally ${READING_COLUMNS.slice(4).join(', ')}`, header.line);
    }
    if (columns.includes(name)) throw new CsvHeaderError(`column "${name}" appears twice`, header.line);
    columns.push(name);
  }
  const missing = REQUIRED.filter((c) => !columns.includes(c));
  if (missing.length) throw new CsvHeaderError(`missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}; expected ${REQUIRED.join(delimiter)}`, header.line);
  return { columns, delimiter };
}

/**
 * One CSV record → a raw reading row, or the reason it cannot be one (a
 * malformed record). Empty cells are left out; numbers are converted, other
 * text in a number column is passed on for the pipeline to reject.
 */
export function readingFromRecord(layout: ReadingCsvLayout, rec: CsvRecord): { row: Record<string, unknown> } | { reason: string } {
  if (rec.error) return { reason: `malformed CSV: ${rec.error}` };
  if (rec.fields.length !== layout.columns.length) {
    return { reason: `expected ${layout.columns.length} fields (${layout.columns.join(layout.delimiter)}), got ${rec.fields.length}` };
  }
  const row: Record<string, unknown> = {};
  for (let i = 0; i < rec.fields.length; i++) {
    const v = rec.fields[i];
    if (v === '') continue;
    const col = layout.columns[i];
    row[col] = NUMERIC.has(col) ? csvNumber(v, layout.delimiter) : v.trim();
  }
  return { row };
}
