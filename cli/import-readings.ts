import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { CsvError } from '../adapters/file/csv.js';
import { importOptions, type ImportOptions } from '../adapters/file/import-options.js';
import { fileKindOf, recordsOf, XlsxSheetError } from '../adapters/file/import-records.js';
import { PtpireeError } from '../adapters/file/ptpiree.js';
import { DecodeError } from '../adapters/file/text-decode.js';
import { FileImportError, importReadingRecords, type FileImportReport } from '../ingest/reading-file-import.js';
import { readingCsvLayout, readingFromRecord, type ReadingCsvLayout } from '../adapters/file/reading-csv.js';
import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { ingestReadings } from '../ingest/pipeline.js';
import type { ReadingLimits } from '../models/input-bounds.js';
import { recordDeadLetters } from '../sql/dead-letter.repository.js';
import type { Database } from '../sql/database.js';
import { importFileSize, RejectsFile, runCsvImport, type CsvImportRun, type LineReject } from './csv-import.js';
import { CliError, type Io } from './io.js';
import { Progress } from './progress.js';

export interface ReadingsImportResult extends CsvImportRun {
  accepted: number;
  unchanged: number;
  superseded: number;
}

/** Rows per ingest transaction: large enough for COPY to pay off, small enough for PGlite's heap. */
export const READINGS_CHUNK = 20_000;

/**
 * `mdm import readings FILE.csv`: streams a long-format CSV through the ingest
 * pipeline (transport `file`, principal `cli`, topic = file name), so a file
 * row is validated, versioned and dead-lettered exactly like an HTTP row.
 * Reported indexes are CSV line numbers. Alarm rules run on the rows as on
 * every transport (ALARM_LISTENERS).
 */
export async function importReadings(
  database: Database,
  file: string,
  opts: { io: Io; rejectsPath: string; signal?: AbortSignal; chunkRows?: number; limits?: ReadingLimits },
): Promise<ReadingsImportResult> {
  const origin = { transport: 'file', principal: 'cli', topic: basename(file) } as const;
  const totals = { accepted: 0, unchanged: 0, superseded: 0 };
  let meterCol = -1;

  const run = await runCsvImport<ReadingCsvLayout, Record<string, unknown>>(
    file,
    {
      what: 'readings (meter,channel,start,value)',
      chunkRows: opts.chunkRows ?? READINGS_CHUNK,
      layout(header, delimiter) {
        const l = readingCsvLayout(header, delimiter);
        meterCol = l.columns.indexOf('meter');
        return l;
      },
      map: (layout, rec) => {
        const m = readingFromRecord(layout, rec);
        return 'row' in m ? { item: m.row } : m;
      },
      async store(items, unstored) {
        const out: LineReject[] = [...unstored];
        if (unstored.length) {
          await recordDeadLetters(
            database,
            origin,
            unstored.map((r) => ({ rowIndex: r.line, meter: meterOf(r.raw, meterCol), payload: r.raw, reason: r.reason })),
          );
        }
        // indexOffset makes the pipeline's indexes (and dead-letter row_index) line
        // numbers, which needs consecutive lines: a quoted newline, an empty line or
        // a malformed record splits the chunk into runs.
        for (const run of consecutiveRuns(items)) {
          const first = run[0].line;
          const res = await ingestReadings(
            database,
            run.map((m) => m.item),
            { ...origin, indexOffset: first, limits: opts.limits, listeners: ALARM_LISTENERS },
          );
          totals.accepted += res.accepted;
          totals.unchanged += res.unchanged;
          totals.superseded += res.superseded;
          for (const r of res.rejected) {
            // the pipeline names an in-batch conflict by its index in the batch
            const reason = r.reason.replace(/conflicts with row (\d+)/, 'conflicts with line $1');
            out.push({ line: r.index, reason, raw: run[r.index - first].raw });
          }
        }
        return out;
      },
    },
    opts,
  );
  return { ...run, ...totals };
}

/** Splits items into runs of consecutive line numbers. */
export function consecutiveRuns<T extends { line: number }>(items: readonly T[]): T[][] {
  const runs: T[][] = [];
  for (const it of items) {
    const cur = runs[runs.length - 1];
    if (cur && cur[cur.length - 1].line + 1 === it.line) cur.push(it);
    else runs.push([it]);
  }
  return runs;
}

// Best effort, for the dead-letter `meter` column of a malformed line.
function meterOf(raw: string, col: number): string | null {
  if (col < 0) return null;
  const v = raw.split(/[,;]/)[col]?.trim();
  return v && !v.includes('"') ? v : null;
}

export interface ReadingsFileImportResult extends FileImportReport {
  readonly rejectsPath?: string;
  readonly elapsedMs: number;
}

/**
 * `mdm import readings FILE --layout … [--dry-run]`: a CSV or xlsx file in any
 * layout (docs/import.md) through the import path the API uses
 * (ingest/reading-file-import.ts). Rejects go to the rejects CSV with their
 * line; a dry run stores nothing and reports what the import would do.
 */
export async function importReadingsFile(
  database: Database,
  file: string,
  opts: { io: Io; rejectsPath: string; options: ImportOptions; dryRun?: boolean; signal?: AbortSignal; limits?: ReadingLimits; chunkRows?: number },
): Promise<ReadingsFileImportResult> {
  const size = importFileSize(file, opts.rejectsPath);
  const { io, options } = opts;
  const rejects = new RejectsFile(opts.rejectsPath);
  const progress = new Progress(io, basename(file), size);
  let bytes = 0;
  const counted = async function* () {
    for await (const c of createReadStream(file, { highWaterMark: 1 << 20 })) {
      bytes += (c as Buffer).length;
      yield c as Buffer;
    }
  };
  const records = recordsOf(Readable.from(counted()), fileKindOf(file), options);
  let shown = 0;
  try {
    const report = await importReadingRecords(database, records, options, {
      transport: 'file',
      principal: 'cli',
      topic: basename(file),
      limits: opts.limits,
      listeners: ALARM_LISTENERS,
      dryRun: opts.dryRun,
      chunkRows: opts.chunkRows ?? READINGS_CHUNK,
      keepRejects: 0,
      signal: opts.signal,
      onReject(r) {
        rejects.write(r);
        if (shown++ < 10) {
          progress.done();
          io.err(`line ${r.line}: ${r.reason}\n`);
        }
      },
      onProgress: (_records, readings) => progress.update(bytes, readings),
    });
    if (shown > 10) io.err(`… and ${shown - 10} more rejects in ${opts.rejectsPath}\n`);
    return { ...report, rejectsPath: rejects.count ? opts.rejectsPath : undefined, elapsedMs: progress.elapsedMs() };
  } catch (err) {
    if (err instanceof FileImportError || err instanceof DecodeError || err instanceof XlsxSheetError || err instanceof CsvError || err instanceof PtpireeError)
      throw new CliError(`${file}: ${err.message}`);
    throw new CliError(`${file}: stopped: ${(err as Error).message}`, { cause: err });
  } finally {
    progress.done();
    rejects.close();
  }
}

/**
 * Flags (over a stored preset's options) → ImportOptions. `--map time=Tarih`
 * (or `value=3`: a 1-based position), `--meter-map "Licznik 1=PL0001"`,
 * `--quality-map E=estimated`. Throws CliError listing every bad flag.
 */
export function fileImportOptions(values: Record<string, unknown>, preset?: object): ImportOptions {
  const v = values as Record<string, string | string[] | boolean | undefined>;
  const pairs = (flag: string): Record<string, string> | undefined => {
    const list = v[flag] as string[] | undefined;
    if (!list) return undefined;
    const out: Record<string, string> = {};
    for (const item of list) {
      const eq = item.lastIndexOf('=');
      if (eq <= 0) throw new CliError(`--${flag} ${JSON.stringify(item)}: write NAME=VALUE`);
      out[item.slice(0, eq)] = item.slice(eq + 1);
    }
    return out;
  };
  const base = (preset ?? {}) as Record<string, unknown>;
  const columns = pairs('map');
  const input: Record<string, unknown> = { ...base };
  const set = (key: string, value: unknown) => {
    if (value !== undefined) input[key] = value;
  };
  set('layout', v.layout);
  set('meter', v.meter);
  set('channel', v.channel);
  set('timezone', v.timezone);
  set('dateOrder', v['date-order']);
  set('decimal', v.decimal);
  set('thousands', v.thousands);
  set('delimiter', v.delimiter);
  set('encoding', v.encoding);
  set('skipLines', v['skip-lines'] === undefined ? undefined : Number(v['skip-lines']));
  set('sheet', v.sheet);
  if (columns) input.columns = { ...((base.columns as object) ?? {}), ...columns };
  set('meters', pairs('meter-map'));
  set('qualityMap', pairs('quality-map'));
  set('ignore', v.ignore);
  set('intervalMinutes', v['interval-minutes'] === undefined ? undefined : Number(v['interval-minutes']));
  if (v['no-checksum']) input.verifyChecksum = false;
  const r = importOptions(input);
  if (!r.ok) throw new CliError(`bad import options: ${r.problems.join('; ')}`);
  return r.options;
}
