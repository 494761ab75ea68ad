import { z } from 'zod';
import { csvLine, type Delimiter } from '../models/csv-format.js';

/**
 * CSV exports in the conventions of the spreadsheet that opens them
 * (issue 17): `en` is the RFC 4180 default (`,`, decimal point, no BOM);
 * `tr` and `pl` are what Turkish and Polish Excel read on a double-click: `;`
 * between fields, a decimal comma, and a UTF-8 BOM (without it Excel takes
 * the file for the Windows code page and garbles ş, ğ, İ, ą, ł, ż).
 */
export const CsvLocaleQuery = z.enum(['en', 'tr', 'pl']).default('en').describe('format=csv: en (",", decimal point), tr or pl (";", decimal comma, UTF-8 BOM for Excel)');
export type CsvLocale = z.infer<typeof CsvLocaleQuery>;

export interface CsvStyle {
  readonly bom: string;
  line(fields: readonly (string | number)[]): string;
}

export function csvStyle(locale: CsvLocale): CsvStyle {
  if (locale === 'en') return { bom: '', line: (f) => csvLine(f) };
  const delimiter: Delimiter = ';';
  return {
    bom: '\uFEFF',
    line: (f) =>
      csvLine(
        f.map((v) => (typeof v === 'number' ? String(v).replace('.', ',') : v)),
        delimiter,
      ),
  };
}
