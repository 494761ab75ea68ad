import { meterCsvLayout, meterFromRecord, type MeterCsvLayout } from '../adapters/file/meter-csv.js';
import { parseMeterRows } from '../models/meter.js';
import type { Database } from '../sql/database.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { runCsvImport, type CsvImportRun, type LineReject } from './csv-import.js';
import type { Io } from './io.js';

export interface MetersImportResult extends CsvImportRun {
  created: number;
  updated: number;
  unchanged: number;
}

export const METERS_CHUNK = 5_000;

/**
 * `mdm import meters FILE.csv`: upserts the meter registry from a CSV, with
 * the validation of `PUT /v1/meters` (parseMeterRows). A meter id given twice
 * in the file is rejected on its later lines: the first one stands.
 */
export async function importMeters(database: Database, file: string, opts: { io: Io; rejectsPath: string; signal?: AbortSignal; chunkRows?: number }): Promise<MetersImportResult> {
  const totals = { created: 0, updated: 0, unchanged: 0 };
  const firstLine = new Map<string, number>(); // id → line that registered it

  const run = await runCsvImport<MeterCsvLayout, Record<string, unknown>>(
    file,
    {
      what: 'meters (id,commodity,timezone,…)',
      chunkRows: opts.chunkRows ?? METERS_CHUNK,
      layout: meterCsvLayout,
      map(layout, rec) {
        const m = meterFromRecord(layout, rec);
        if ('reason' in m) return m;
        const id = m.row.id;
        if (typeof id === 'string') {
          const first = firstLine.get(id);
          if (first !== undefined) return { reason: `id: "${id}" is already on line ${first}; give each meter once per file` };
          firstLine.set(id, rec.line);
        }
        return { item: m.row };
      },
      async store(items, unstored) {
        const out: LineReject[] = [...unstored];
        const parsed = parseMeterRows(items.map((m) => m.item));
        for (const r of parsed.rejected) out.push({ line: items[r.index].line, reason: r.reason, raw: items[r.index].raw });
        const counts = await upsertMeters(
          database,
          parsed.valid.map((v) => v.meter),
        );
        totals.created += counts.created;
        totals.updated += counts.updated;
        totals.unchanged += counts.unchanged;
        return out;
      },
    },
    opts,
  );
  return { ...run, ...totals };
}
