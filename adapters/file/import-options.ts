/**
 * How a readings file is laid out and written: the options of `mdm import
 * readings` and POST /v1/readings/import, and what a named mapping preset
 * stores. One zod schema, so the CLI, the API and the presets table accept and
 * refuse the same things (docs/import.md).
 */
import { z } from 'zod';
import { QUALITIES } from '../../models/reading.js';
import { isValidTimeZone } from '../../models/time.js';
import { ENCODINGS } from './text-decode.js';

export const LAYOUTS = ['long', 'wide-meter', 'wide-hour', 'single', 'ptpiree'] as const;
export type Layout = (typeof LAYOUTS)[number];

/** A column: its header name (case-insensitive), or its 1-based position (a number, or digits). */
const ColumnRef = z.union([z.string().min(1).max(200), z.number().int().min(1).max(10_000)]);

export const ColumnMappingSchema = z
  .object({
    meter: ColumnRef.optional().describe('Meter id column (long, wide-hour)'),
    channel: ColumnRef.optional().describe('Channel column (long)'),
    time: ColumnRef.optional().describe('Timestamp column (date and time in one cell), or the time of day when `date` is given too'),
    date: ColumnRef.optional().describe('Date column (wide-hour; or with `time` when date and time are two cells)'),
    value: ColumnRef.optional().describe('Value column (long, single)'),
    quality: ColumnRef.optional().describe('Quality flag column, mapped with qualityMap'),
    dst: ColumnRef.optional().describe('DST flag column: tells the two 02:00 hours of the autumn change apart (1/S/A/summer = the first, 0/W/B/winter = the second)'),
    source: ColumnRef.optional(),
    intervalMinutes: ColumnRef.optional(),
  })
  .strict();
export type ColumnMapping = z.infer<typeof ColumnMappingSchema>;

export const ImportOptionsSchema = z
  .object({
    layout: z.enum(LAYOUTS).default('long'),
    meter: z.string().min(1).max(200).optional().describe('The meter of a single-meter file (and of a wide-hour or PTPiREE file without a meter column)'),
    channel: z.string().min(1).max(60).optional().describe('Channel of every value when the file has no channel column; default active_import'),
    timezone: z
      .string()
      .refine(isValidTimeZone, 'not an IANA time zone (e.g. Europe/Warsaw, Europe/Istanbul, UTC)')
      .optional()
      .describe('Zone of timestamps written without an offset; wide-hour and PTPiREE days are local days in it'),
    dateOrder: z.enum(['dmy', 'mdy']).default('dmy').describe('Dates not in ISO order: 27.03.2016 (dmy) or 03/27/2016 (mdy)'),
    decimal: z.enum(['auto', '.', ',']).default('auto').describe('Decimal mark; auto: "." and, in ;-separated files, also ","'),
    thousands: z.enum(['', '.', ',', ' ', "'"]).default('').describe('Thousands separator, when numbers have one (27.424,42: decimal=, thousands=.)'),
    delimiter: z.enum([',', ';']).optional().describe('Default: detected from the header line'),
    encoding: z.enum(ENCODINGS).default('auto').describe('auto: UTF-8, else Windows-1254; name windows-1250 for Polish files'),
    skipLines: z.number().int().min(0).max(1000).default(0).describe('Lines before the header line (titles, notes)'),
    sheet: z.string().min(1).max(200).optional().describe('xlsx: the worksheet name; default the first sheet'),
    columns: ColumnMappingSchema.default({}).describe('Column mapping by header name or 1-based position'),
    meters: z.record(z.string().max(200), z.string().min(1).max(200)).optional().describe('wide-meter: header → meter id, when headers are names rather than ids'),
    ignore: z.array(ColumnRef).max(1000).optional().describe('Columns to leave out (wide layouts: otherwise every unmapped column is a meter or a value column)'),
    intervalMinutes: z
      .union([z.literal(15), z.literal(30), z.literal(60)])
      .optional()
      .describe('wide-hour: length of a value column; default from the column count (≤25 → 60, ≤50 → 30, else 15)'),
    qualityMap: z.record(z.string().max(60), z.enum(QUALITIES)).optional().describe('The file\u2019s quality flags → ours, e.g. {"E":"estimated","0":"measured"}'),
    verifyChecksum: z.boolean().default(true).describe('PTPiREE: refuse a file whose CRC-16/XMODEM does not match'),
  })
  .strict();
export type ImportOptions = z.infer<typeof ImportOptionsSchema>;
export type ImportOptionsInput = z.input<typeof ImportOptionsSchema>;

/** Parses options; throws a list of readable problems. */
export function importOptions(input: unknown): { ok: true; options: ImportOptions } | { ok: false; problems: string[] } {
  const r = ImportOptionsSchema.safeParse(input);
  if (r.success) return { ok: true, options: r.data };
  return { ok: false, problems: r.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`) };
}
