import { CsvHeaderError } from '../adapters/file/csv.js';
import { changeCsvHeader, changeRowFromCsv, parseChangeRows } from '../models/meter-change.js';
import type { Database } from '../sql/database.js';
import { applyMeterChanges } from '../sql/meter-change.repository.js';
import { runCsvImport, type CsvImportRun, type LineReject } from './csv-import.js';
import type { Io } from './io.js';

export interface MeterChangesImportResult extends CsvImportRun {
  applied: number;
}

/**
 * `mdm import meter-changes FILE.csv`: the switching list as a file (joins,
 * leaves, dated attribute changes, device exchanges; docs/meters.md), with
 * the validation of `POST /v1/meters/changes`: each line applied on its own,
 * in file order; refused lines go to the rejects file with their reason.
 */
export async function importMeterChanges(database: Database, file: string, opts: { io: Io; rejectsPath: string; signal?: AbortSignal; by?: string }): Promise<MeterChangesImportResult> {
  let applied = 0;
  const run = await runCsvImport<string[], Record<string, unknown>>(
    file,
    {
      what: 'meter changes (action,meter,date,…)',
      chunkRows: 2_000,
      layout(header) {
        const h = changeCsvHeader(header.fields);
        if ('reason' in h) throw new CsvHeaderError(h.reason, header.line);
        return h.columns;
      },
      map(columns, rec) {
        if (rec.error) return { reason: `malformed CSV: ${rec.error}` };
        const r = changeRowFromCsv(columns, rec.fields);
        return 'reason' in r ? r : { item: r.row };
      },
      async store(items, unstored) {
        const out: LineReject[] = [...unstored];
        const parsed = parseChangeRows(items.map((m) => m.item));
        for (const r of parsed.rejected) out.push({ line: items[r.index].line, reason: r.reason, raw: items[r.index].raw });
        const result = await applyMeterChanges(database, parsed.valid, opts.by ?? 'mdm import meter-changes');
        for (const r of result.rejected) out.push({ line: items[r.index].line, reason: r.reason, raw: items[r.index].raw });
        applied += result.applied;
        return out.sort((a, b) => a.line - b.line);
      },
    },
    opts,
  );
  return { ...run, applied };
}
