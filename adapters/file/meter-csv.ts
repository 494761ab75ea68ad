/**
 * Meter registry CSV (`mdm import meters`): one meter per line, columns named
 * like the Meter fields (models/meter.ts) plus `label.<key>` columns for
 * labels. Rows become the raw objects parseMeterRows validates.
 */
import { csvNumber, CsvHeaderError, type CsvRecord, type Delimiter } from './csv.js';

export const METER_COLUMNS = [
  'id',
  'commodity',
  'timezone',
  'intervalMinutes',
  'multiplier',
  'group',
  'portfolio',
  'profileClass',
  'tariff',
  'region',
  'supplyStart',
  'supplyEnd',
  'weatherStation',
  'registerDigits',
  'gasArea',
] as const;
const NUMERIC = new Set(['intervalMinutes', 'multiplier', 'registerDigits']);
const LABEL = /^label\.(.+)$/i;

export interface MeterCsvLayout {
  /** Per position: a Meter field, or `{ label }` for a label column. */
  readonly columns: readonly (string | { label: string })[];
  readonly delimiter: Delimiter;
}

/** Reads the header record; throws CsvHeaderError naming what is wrong. Field names match case-insensitively. */
export function meterCsvLayout(header: CsvRecord, delimiter: Delimiter): MeterCsvLayout {
  const byLower = new Map(METER_COLUMNS.map((c) => [c.toLowerCase(), c as string]));
  const columns: (string | { label: string })[] = [];
  const seen = new Set<string>();
  for (const f of header.fields) {
    const t = f.trim();
    const label = LABEL.exec(t);
    const col = label ? { label: label[1] } : byLower.get(t.toLowerCase());
    if (!col) throw new CsvHeaderError(`unknown column "${f}"; columns are ${METER_COLUMNS.join(', ')} and label.<key>`, header.line);
    const key = typeof col === 'string' ? col : `label.${col.label}`;
    if (seen.has(key)) throw new CsvHeaderError(`column "${key}" appears twice`, header.line);
    seen.add(key);
    columns.push(col);
  }
  if (!seen.has('id')) throw new CsvHeaderError('missing column id (the external meter id)', header.line);
  return { columns, delimiter };
}

/** One CSV record → a raw meter object, or the reason it cannot be one. Empty cell = field absent. */
export function meterFromRecord(layout: MeterCsvLayout, rec: CsvRecord): { row: Record<string, unknown> } | { reason: string } {
  if (rec.error) return { reason: `malformed CSV: ${rec.error}` };
  if (rec.fields.length !== layout.columns.length) return { reason: `expected ${layout.columns.length} fields, got ${rec.fields.length}` };
  const row: Record<string, unknown> = {};
  const labels: Record<string, string> = {};
  let hasLabels = false;
  for (let i = 0; i < rec.fields.length; i++) {
    const v = rec.fields[i].trim();
    if (v === '') continue;
    const col = layout.columns[i];
    if (typeof col === 'string') {
      row[col] = NUMERIC.has(col) ? csvNumber(v, layout.delimiter) : v;
    } else {
      labels[col.label] = v;
      hasLabels = true;
    }
  }
  if (hasLabels) row.labels = labels;
  return { row };
}
