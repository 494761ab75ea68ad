import { z } from 'zod';
import { idText, plausibleDate } from './input-schemas.js';
import { attributeValueText, DATED_ATTRIBUTES, type DatedAttribute } from './meter-attribute.js';
import { ExchangeSchema } from './meter-device.js';

/**
 * Bulk registry changes (issue 16): the monthly switching list of the market
 * operator, device exchanges and dated attribute changes, as JSON rows
 * (`POST /v1/meters/changes`) or CSV lines (`text/csv`, `mdm import meter-changes`).
 * Each row is validated and applied on its own (atomically): a bad row is
 * reported with its index and reason, the others are applied. Pure.
 */

/** Most rows one request or file takes. */
export const MAX_CHANGE_ROWS = 20_000;

const meter = idText().min(1).describe('External meter id (the metering point)');
const date = plausibleDate().describe('First local date (the meter’s zone) the change holds');

export const JoinSchema = z.object({ action: z.literal('join'), meter, portfolio: idText().min(1).describe('Portfolio the meter joins'), date }).strict();
export const LeaveSchema = z
  .object({ action: z.literal('leave'), meter, date, portfolio: idText().min(1).nullish().describe('Portfolio it leaves; when given, it must be the one it is in on that date') })
  .strict();
export const SetSchema = z
  .object({
    action: z.literal('set'),
    meter,
    attribute: z.enum(DATED_ATTRIBUTES).describe('portfolio, tariff, multiplier, profileClass, supplyStart or supplyEnd'),
    value: z.union([z.string(), z.number(), z.null()]).describe('New value (null clears it)'),
    date,
  })
  .strict();
export const ExchangeRowSchema = ExchangeSchema.extend({ action: z.literal('exchange'), meter }).strict();

export const ChangeRowSchema = z.discriminatedUnion('action', [JoinSchema, LeaveSchema, SetSchema, ExchangeRowSchema]);
export type ChangeRow = z.output<typeof ChangeRowSchema>;

/** A validated change in the shape the repository applies. */
export type MeterChange =
  | { readonly kind: 'attribute'; readonly meter: string; readonly attribute: DatedAttribute; readonly value: string | null; readonly date: string; readonly expect?: { readonly portfolio: string } }
  | { readonly kind: 'exchange'; readonly meter: string; readonly exchange: z.output<typeof ExchangeSchema> };

export interface ChangeRowsResult {
  readonly valid: { index: number; change: MeterChange }[];
  readonly rejected: { index: number; reason: string }[];
}

const issueText = (i: z.core.$ZodIssue) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message);

/**
 * Validates raw change rows one by one. `join`/`leave` become portfolio
 * changes, `set` an attribute change with its value checked.
 * @example parseChangeRows([{ action: 'join', meter: 'M1', portfolio: 'P', date: '2027-03-01' }]).valid[0].change
 * // { kind: 'attribute', meter: 'M1', attribute: 'portfolio', value: 'P', date: '2027-03-01' }
 */
export function parseChangeRows(raw: readonly unknown[]): ChangeRowsResult {
  const valid: ChangeRowsResult['valid'] = [];
  const rejected: ChangeRowsResult['rejected'] = [];
  for (let index = 0; index < raw.length; index++) {
    const p = ChangeRowSchema.safeParse(raw[index]);
    if (!p.success) {
      rejected.push({ index, reason: p.error.issues.map(issueText).join('; ') });
      continue;
    }
    const r = p.data;
    if (r.action === 'join') valid.push({ index, change: { kind: 'attribute', meter: r.meter, attribute: 'portfolio', value: r.portfolio, date: r.date } });
    else if (r.action === 'leave')
      valid.push({ index, change: { kind: 'attribute', meter: r.meter, attribute: 'portfolio', value: null, date: r.date, ...(r.portfolio ? { expect: { portfolio: r.portfolio } } : {}) } });
    else if (r.action === 'set') {
      const v = attributeValueText(r.attribute, r.value);
      if (!v.ok) rejected.push({ index, reason: v.reason });
      else valid.push({ index, change: { kind: 'attribute', meter: r.meter, attribute: r.attribute, value: v.text, date: r.date } });
    } else {
      const { action: _a, meter: m, ...exchange } = r;
      valid.push({ index, change: { kind: 'exchange', meter: m, exchange } });
    }
  }
  return { valid, rejected };
}

/** CSV columns of a change file; a row uses the ones its action needs, the others stay empty. */
export const CHANGE_COLUMNS = [
  'action',
  'meter',
  'date',
  'portfolio',
  'attribute',
  'value',
  'at',
  'finalRead',
  'initialRead',
  'serial',
  'make',
  'model',
  'registerDigits',
  'deviceMultiplier',
] as const;
const NUMERIC = new Set(['finalRead', 'initialRead', 'registerDigits', 'deviceMultiplier']);
const DEVICE = new Set(['serial', 'make', 'model', 'registerDigits', 'deviceMultiplier']);

/**
 * One CSV record (fields by the header's column names) → a raw change row for
 * parseChangeRows, or the reason it cannot be one. Empty cell = absent;
 * `value` empty = null (a cleared attribute). Decimal commas are read.
 */
export function changeRowFromCsv(header: readonly string[], fields: readonly string[]): { row: Record<string, unknown> } | { reason: string } {
  if (fields.length !== header.length) return { reason: `expected ${header.length} fields, got ${fields.length}` };
  const row: Record<string, unknown> = {};
  const device: Record<string, unknown> = {};
  for (let i = 0; i < header.length; i++) {
    const col = header[i];
    const text = fields[i].trim();
    if (text === '') {
      if (col === 'value') row.value = null;
      continue;
    }
    const v = NUMERIC.has(col) ? (Number.isFinite(Number(text.replace(',', '.'))) ? Number(text.replace(',', '.')) : text) : text;
    if (DEVICE.has(col)) device[col === 'deviceMultiplier' ? 'multiplier' : col] = v;
    else row[col] = v;
  }
  if (Object.keys(device).length) row.device = device;
  if (row.action !== 'set') delete row.value;
  return { row };
}

/** Reads the header: column names in CHANGE_COLUMNS (case-insensitive), `action` and `meter` required; or the reason. */
export function changeCsvHeader(fields: readonly string[]): { columns: string[] } | { reason: string } {
  const byLower = new Map(CHANGE_COLUMNS.map((c) => [c.toLowerCase(), c as string]));
  const columns: string[] = [];
  for (const f of fields) {
    const c = byLower.get(f.trim().toLowerCase());
    if (!c) return { reason: `unknown column "${f}"; columns are ${CHANGE_COLUMNS.join(', ')}` };
    if (columns.includes(c)) return { reason: `column "${c}" appears twice` };
    columns.push(c);
  }
  for (const need of ['action', 'meter']) if (!columns.includes(need)) return { reason: `missing column ${need}` };
  return { columns };
}
