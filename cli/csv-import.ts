/**
 * The skeleton shared by `mdm import readings` and `mdm import meters`: stream
 * the CSV, map records in chunks, store each chunk, write rejects to a CSV
 * (`line,reason,raw`), show progress, stop cleanly on Ctrl+C.
 */
import { closeSync, openSync, readSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { CsvError, CsvHeaderError, csvLine, detectDelimiter, readCsvFile, type CsvRecord, type Delimiter } from '../adapters/file/csv.js';
import { CliError, type Io } from './io.js';
import { xlsxAsCsv } from './xlsx-records.js';
import { Progress } from './progress.js';

export interface LineReject {
  readonly line: number;
  readonly reason: string;
  readonly raw: string;
}

export interface Mapped<T> {
  readonly line: number;
  readonly raw: string;
  readonly item: T;
}

export interface CsvImportSpec<L, T> {
  /** For messages: "readings", "meters". */
  readonly what: string;
  readonly chunkRows: number;
  layout(header: CsvRecord, delimiter: Delimiter): L;
  /** A record → an item, or why it cannot be one (these are rejected without reaching `store`). */
  map(layout: L, rec: CsvRecord): { item: T } | { reason: string };
  /** Stores one chunk; `unstored` are the records `map` refused, for bookkeeping. Returns every reject of the chunk. */
  store(items: readonly Mapped<T>[], unstored: readonly LineReject[]): Promise<LineReject[]>;
}

export interface CsvImportRun {
  readonly rows: number;
  readonly rejected: number;
  /** Set when rejects were written. */
  readonly rejectsPath?: string;
  readonly elapsedMs: number;
  /** Stopped early by a signal; lines up to `lastLine` were processed. */
  readonly interrupted: boolean;
  readonly lastLine: number;
}

/** `dir/readings.csv` → `dir/readings.rejects.csv` */
export function defaultRejectsPath(file: string): string {
  return file.replace(/(\.csv)?$/i, '.rejects.csv');
}

const REJECTS_HEADER = 'line,reason,raw\n';
const SHOWN_REJECTS = 10;

/** The size of an import's input file, after checking it is a readable regular file and not the rejects file too. */
export function importFileSize(file: string, rejectsPath: string): number {
  let size: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new Error('not a regular file');
    size = st.size;
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
  if (resolve(rejectsPath) === resolve(file)) throw new CliError('--rejects must name a file other than the input');
  return size;
}

export async function runCsvImport<L, T>(file: string, spec: CsvImportSpec<L, T>, opts: { io: Io; rejectsPath: string; signal?: AbortSignal }): Promise<CsvImportRun> {
  const { io } = opts;
  const size = importFileSize(file, opts.rejectsPath);
  const rejects = new RejectsFile(opts.rejectsPath);
  const progress = new Progress(io, basename(file), size);

  let layout: L | undefined;
  let rows = 0;
  let bytes = 0;
  let storedThrough = 0; // last line of the last stored chunk
  let lastLine = 0;
  let shown = 0;
  const pending: Mapped<T>[] = [];
  const unstored: LineReject[] = [];

  const flush = async () => {
    if (pending.length === 0 && unstored.length === 0) return;
    const out = await spec.store(pending, unstored);
    out.sort((x, y) => x.line - y.line);
    for (const r of out) {
      rejects.write(r);
      if (shown++ < SHOWN_REJECTS) {
        progress.done();
        io.err(`line ${r.line}: ${r.reason}\n`);
      }
    }
    pending.length = 0;
    unstored.length = 0;
    storedThrough = lastLine;
  };

  try {
    for await (const batch of /\.xlsx$/i.test(file) ? xlsxAsCsv(file, (b) => (bytes = b)) : readCsvFile(file, { onBytes: (b) => (bytes = b) })) {
      for (const rec of batch) {
        lastLine = rec.line;
        if (layout === undefined) {
          if (rec.error) throw new CsvHeaderError(rec.error, rec.line);
          layout = spec.layout(rec, detectDelimiter(rec.raw));
          continue;
        }
        rows++;
        const m = spec.map(layout, rec);
        if ('reason' in m) unstored.push({ line: rec.line, reason: m.reason, raw: rec.raw });
        else pending.push({ line: rec.line, raw: rec.raw, item: m.item });
        if (pending.length >= spec.chunkRows) await flush();
      }
      progress.update(bytes, rows);
      if (opts.signal?.aborted) break;
    }
    await flush();
  } catch (err) {
    // The records before a broken one are sound: store them, then stop.
    if (err instanceof CsvError) await flush().catch(() => {});
    progress.done();
    rejects.close();
    if (err instanceof CsvHeaderError) throw new CliError(`${file}: ${err.message}`);
    if (err instanceof CsvError) throw new CliError(`${file}: ${err.message}. ${storedLines(storedThrough)}`);
    throw new CliError(`${file}: stopped after line ${lastLine}: ${(err as Error).message}. ${storedLines(storedThrough)}`, { cause: err });
  }
  progress.done();
  rejects.close();
  if (layout === undefined) throw new CliError(`${file} is empty: the first line must be a header naming the ${spec.what} columns`);
  if (shown > SHOWN_REJECTS) io.err(`… and ${shown - SHOWN_REJECTS} more rejects in ${opts.rejectsPath}\n`);
  return {
    rows,
    rejected: rejects.count,
    rejectsPath: rejects.count ? opts.rejectsPath : undefined,
    elapsedMs: progress.elapsedMs(),
    interrupted: Boolean(opts.signal?.aborted),
    lastLine,
  };
}

function storedLines(through: number): string {
  return through > 0 ? `Lines up to ${through} are stored; re-running the import is safe (values already stored are left unchanged).` : 'Nothing was stored.';
}

/**
 * The rejects CSV, created on the first reject. A rejects file left by an
 * earlier import (recognised by its header) is removed at the start, so the
 * file on disk always belongs to the latest run.
 */
export class RejectsFile {
  private fd: number | undefined;
  count = 0;

  constructor(private readonly path: string) {
    if (startsWith(path, REJECTS_HEADER)) unlinkSync(path);
  }

  write(r: LineReject): void {
    if (this.fd === undefined) {
      try {
        this.fd = openSync(this.path, 'w');
      } catch (err) {
        throw new CliError(`cannot write the rejects file ${this.path}: ${(err as Error).message}`);
      }
      writeSync(this.fd, REJECTS_HEADER);
    }
    writeSync(this.fd, csvLine([r.line, r.reason, r.raw]));
    this.count++;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function startsWith(path: string, text: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const buf = Buffer.alloc(text.length);
    return readSync(fd, buf, 0, buf.length, 0) === buf.length && buf.toString('utf8') === text;
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
