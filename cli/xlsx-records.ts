import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { CsvRecord } from '../adapters/file/csv.js';

/**
 * An xlsx file's first sheet as CSV records, so that the CSV imports (`mdm
 * import meters`, `import settlement`…) take Excel files as they are: row
 * numbers are the records' lines, cells become text (numbers as written by
 * JavaScript, dates as `YYYY-MM-DD` or `YYYY-MM-DD HH:MM:SS`), every row is
 * checked by the import's own rules, rejects name the Excel row. Streamed
 * (exceljs's WorkbookReader), `onBytes` reports the bytes read.
 */
export async function* xlsxAsCsv(file: string, onBytes?: (bytes: number) => void): AsyncGenerator<CsvRecord[]> {
  const { xlsxRecords } = await import('../adapters/file/import-records.js'); // exceljs only when an xlsx is read
  let bytes = 0;
  const counted = async function* () {
    for await (const c of createReadStream(file, { highWaterMark: 1 << 20 })) {
      bytes += (c as Buffer).length;
      onBytes?.(bytes);
      yield c as Buffer;
    }
  };
  let width = -1; // the header's: Excel leaves trailing empty cells out, a CSV line has them
  for await (const batch of xlsxRecords(Readable.from(counted()))) {
    yield batch.map((r) => {
      const fields = r.cells.map((c) => String(c));
      if (width < 0) width = fields.length;
      while (fields.length < width) fields.push('');
      return { fields, line: r.line, raw: fields.map((f) => (/[",\r\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f)).join(','), ...(r.error ? { error: r.error } : {}) };
    });
  }
}
