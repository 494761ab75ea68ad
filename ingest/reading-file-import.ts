/**
 * One import path for readings files in every layout (adapters/file/
 * reading-layouts.ts) and container (CSV, xlsx, PTPiREE), used by `mdm import
 * readings` and POST /v1/readings/import alike: records are mapped to rows,
 * stored in chunks through the ingest pipeline (validated, versioned,
 * dead-lettered like every transport), and every reject is reported with its
 * file line and reason. Memory is bounded by the chunk, not the file.
 *
 * Dry run: each chunk goes through the same pipeline and merge in a
 * transaction that is rolled back (dryRunDatabase), so accepted / unchanged /
 * superseded are the write path's own classification, nothing is stored, no
 * dead letter is written and no listener runs. Chunks are rolled back one by
 * one, so a later chunk does not see an earlier one: a key repeated across
 * chunks of one file counts as accepted twice in a dry run, and as accepted
 * then unchanged (or superseded) in the real import.
 */
import type { KeyScope } from '../models/api-key.js';
import type { ReadingLimits } from '../models/input-bounds.js';
import type { Database, Session } from '../sql/database.js';
import { recordDeadLetters } from '../sql/dead-letter.repository.js';
import { detectDelimiter } from '../adapters/file/csv.js';
import type { ImportOptions } from '../adapters/file/import-options.js';
import { PTPIREE_QUALITY } from '../adapters/file/ptpiree.js';
import { layoutMapper, type ImportRecord, type RawRow, type RecordMapper } from '../adapters/file/reading-layouts.js';
import type { IngestListeners } from './ingest-listeners.js';
import { ingestReadings } from './pipeline.js';

export interface FileReject {
  readonly line: number;
  readonly reason: string;
  readonly raw: string;
}

export interface FileImportReport {
  /** Data records read (lines or rows after the header). */
  records: number;
  /** Readings the records held (a wide row holds many). */
  readings: number;
  accepted: number;
  unchanged: number;
  superseded: number;
  rejected: number;
  /** The first `keepRejects` rejects, in line order per chunk. */
  rejects: FileReject[];
  dryRun: boolean;
  /** Last line read; with `interrupted`, where to resume. */
  lastLine: number;
  interrupted: boolean;
}

export interface FileImportContext {
  readonly transport: 'file' | 'http';
  readonly principal: string | null;
  readonly scope?: KeyScope | null;
  /** File name, kept as the dead letters' topic. */
  readonly topic?: string | null;
  readonly limits?: ReadingLimits;
  readonly listeners?: IngestListeners;
  readonly dryRun?: boolean;
  /** Readings per ingest transaction. */
  readonly chunkRows?: number;
  /** Rejects kept in the report (all are counted and passed to onReject). */
  readonly keepRejects?: number;
  onReject?(r: FileReject): void;
  onProgress?(records: number, readings: number): void;
  readonly signal?: AbortSignal;
}

/** A file whose header cannot be used, or that has none. */
export class FileImportError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'FileImportError';
  }
}

export const FILE_IMPORT_CHUNK = 20_000;

/** Thrown inside a session to roll a dry run's transaction back; carries the result out. */
class DryRunRollback {
  constructor(readonly value: unknown) {}
}

/**
 * The same database whose sessions always roll back: the write path runs
 * whole (merge, classification, dead letters, VEE queue) and leaves nothing.
 */
export function dryRunDatabase(database: Database): Database {
  return {
    get db() {
      return database.db;
    },
    engine: database.engine,
    get flavour() {
      return database.flavour;
    },
    set flavour(f) {
      database.flavour = f;
    },
    async session<T>(fn: (s: Session) => Promise<T>, opts?: { transaction?: boolean }): Promise<T> {
      if (opts?.transaction === false) throw new Error('dry run: a session outside a transaction cannot be rolled back');
      try {
        await database.session(async (s) => {
          throw new DryRunRollback(await fn(s));
        });
      } catch (err) {
        if (err instanceof DryRunRollback) return err.value as T;
        throw err;
      }
      throw new Error('unreachable');
    },
    close: () => database.close(),
  };
}

interface Pending {
  rows: RawRow[];
  /** Per row: its record. */
  origin: ImportRecord[];
}

/**
 * Imports record batches (the first record is the header) with `opts`.
 * Throws FileImportError for a header that cannot be used (nothing stored);
 * every other problem is a reject with its line.
 */
export async function importReadingRecords(database: Database, batches: AsyncIterable<ImportRecord[]>, options: ImportOptions, ctx: FileImportContext): Promise<FileImportReport> {
  // a PTPiREE file arrives as long records with UTC starts (adapters/file/ptpiree.ts)
  const opts: ImportOptions = options.layout === 'ptpiree' ? { ...options, layout: 'long', columns: {}, qualityMap: { ...PTPIREE_QUALITY, ...options.qualityMap }, skipLines: 0 } : options;
  const dry = ctx.dryRun === true;
  const db = dry ? dryRunDatabase(database) : database;
  const chunkRows = ctx.chunkRows ?? FILE_IMPORT_CHUNK;
  const keep = ctx.keepRejects ?? Number.POSITIVE_INFINITY;
  const report: FileImportReport = { records: 0, readings: 0, accepted: 0, unchanged: 0, superseded: 0, rejected: 0, rejects: [], dryRun: dry, lastLine: 0, interrupted: false };
  const origin = { transport: ctx.transport, principal: ctx.principal, topic: ctx.topic ?? null };
  // one row per record (long, single): the pipeline's indexes, and the dead letters' row_index, are file lines
  const rowPerLine = opts.layout === 'long' || opts.layout === 'single';
  let mapper: RecordMapper | undefined;
  let pending: Pending = { rows: [], origin: [] };
  let unstored: { rec: ImportRecord; reason: string }[] = [];

  const reject = (r: FileReject) => {
    report.rejected++;
    if (report.rejects.length < keep) report.rejects.push(r);
    ctx.onReject?.(r);
  };

  const flush = async () => {
    const { rows, origin: from } = pending;
    pending = { rows: [], origin: [] };
    const bad = unstored;
    unstored = [];
    const out: FileReject[] = bad.map((b) => ({ line: b.rec.line, reason: b.reason, raw: b.rec.raw }));
    if (bad.length && !dry) {
      await recordDeadLetters(
        database,
        origin,
        bad.map((b) => ({ rowIndex: b.rec.line, meter: mapper?.meterOf(b.rec) ?? null, payload: b.rec.raw, reason: b.reason })),
      );
    }
    const runs = rowPerLine ? consecutive(rows, from) : [{ at: 0, n: rows.length }];
    for (const run of runs) {
      if (run.n === 0) continue;
      const offset = rowPerLine ? from[run.at].line : 0;
      const res = await ingestReadings(db, rows.slice(run.at, run.at + run.n), {
        transport: ctx.transport,
        principal: ctx.principal,
        scope: ctx.scope,
        topic: ctx.topic,
        indexOffset: offset,
        limits: ctx.limits,
        listeners: dry ? undefined : ctx.listeners,
      });
      report.accepted += res.accepted;
      report.unchanged += res.unchanged;
      report.superseded += res.superseded;
      const lineOf = (index: number) => from[run.at + index - offset]?.line ?? index;
      for (const r of res.rejected) {
        const rec = from[run.at + r.index - offset];
        // the pipeline names an in-batch conflict by its index in the batch
        const reason = r.reason.replace(/conflicts with row (\d+)/, (_, i) => `conflicts with line ${lineOf(Number(i))}`);
        out.push({ line: rec?.line ?? -1, reason: rowPerLine ? reason : `${describeRow(rows[run.at + r.index - offset])}: ${reason}`, raw: rec?.raw ?? '' });
      }
    }
    out.sort((a, b) => a.line - b.line);
    for (const r of out) reject(r);
  };

  // One chunk is written while the next is read and mapped: the file's parsing overlaps the database's work.
  // Chunks are still written one after the other, in file order (a later line supersedes an earlier one as before).
  let writing: Promise<void> = Promise.resolve();
  const flushBehind = async () => {
    await writing;
    writing = flush();
    writing.catch(() => {}); // awaited (and thrown) at the next chunk or at the end
  };

  for await (const batch of batches) {
    for (const rec of batch) {
      report.lastLine = rec.line;
      if (mapper === undefined) {
        if (rec.error) throw new FileImportError(`header (line ${rec.line}): ${rec.error}`);
        try {
          mapper = layoutMapper(rec, opts, opts.delimiter ?? detectDelimiter(rec.raw));
        } catch (err) {
          throw new FileImportError((err as Error).message, { cause: err });
        }
        continue;
      }
      report.records++;
      for (const item of mapper.map(rec)) {
        if ('reason' in item) unstored.push({ rec, reason: item.reason });
        else {
          pending.rows.push(item.row);
          pending.origin.push(rec);
          report.readings++;
        }
      }
      if (pending.rows.length >= chunkRows) await flushBehind();
    }
    ctx.onProgress?.(report.records, report.readings);
    if (ctx.signal?.aborted) {
      report.interrupted = true;
      break;
    }
  }
  await writing;
  if (mapper === undefined) throw new FileImportError('the file is empty: the first line must be the header');
  await flush();
  return report;
}

const describeRow = (r: RawRow | undefined) => (r ? `meter ${JSON.stringify(r.meter)} at ${r.start}` : 'row');

/** Runs of rows whose records are on consecutive lines, one row each (indexOffset needs it). */
function consecutive(rows: readonly RawRow[], from: readonly ImportRecord[]): { at: number; n: number }[] {
  const runs: { at: number; n: number }[] = [];
  for (let i = 0; i < rows.length; i++) {
    const cur = runs[runs.length - 1];
    if (cur && from[i - 1].line + 1 === from[i].line) cur.n++;
    else runs.push({ at: i, n: 1 });
  }
  return runs;
}
