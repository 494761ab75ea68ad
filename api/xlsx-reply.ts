import type { FastifyReply } from 'fastify';
import { csvStyle, type CsvLocale } from './csv-locale.js';

export const XLSX_TYPE = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';

/**
 * A report's rows as CSV in the locale's conventions (api/csv-locale.ts) or as
 * an xlsx workbook (issue 17: billing clerks and traders take them to Excel),
 * `name` + .csv/.xlsx as the download's file name; null is an empty cell.
 */
export async function sendTable(
  reply: FastifyReply,
  format: 'csv' | 'xlsx',
  locale: CsvLocale,
  name: string,
  head: readonly string[],
  cells: readonly (readonly (string | number | null)[])[],
): Promise<FastifyReply> {
  if (format === 'xlsx') return sendXlsx(reply, `${name}.xlsx`, name, head, cells);
  const style = csvStyle(locale);
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="${name.replace(/[^\w.-]/g, '_')}.csv"`)
    .send((style.bom + style.line(head) + cells.map((r) => style.line(r.map((v) => v ?? ''))).join('')) as never);
}

/**
 * Sends rows as an xlsx workbook of one sheet (format=xlsx): a bold header
 * row, numbers as numbers, times as the text the JSON carries (local time
 * with its offset: Excel has no zone, and the offset is what makes an hour of
 * the autumn DST change unambiguous). Report ranges are bounded, so the
 * workbook is built whole.
 */
export async function sendXlsx(reply: FastifyReply, filename: string, sheet: string, header: readonly string[], rows: readonly (readonly (string | number | null)[])[]): Promise<FastifyReply> {
  // Loaded on the first xlsx asked for: exceljs and its zip stack cost ~0.1 s of CPU at every start otherwise.
  const { default: ExcelJS } = await import('exceljs');
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet(sheet.slice(0, 31));
  ws.addRow([...header]).font = { bold: true };
  for (const r of rows) ws.addRow([...r]);
  ws.views = [{ state: 'frozen', ySplit: 1 }];
  const buf = Buffer.from(await wb.xlsx.writeBuffer());
  return reply
    .type(XLSX_TYPE)
    .header('content-disposition', `attachment; filename="${filename.replace(/[^\w.-]/g, '_')}"`)
    .send(buf);
}
