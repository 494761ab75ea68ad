/**
 * Readings file imports run as jobs (POST /v1/readings/import?async=true):
 * the upload is spooled to a temporary file, the request answers 202 with the
 * job, and the import runs in the background while GET
 * /v1/readings/import/jobs/{id} reports its progress (bytes read of the file,
 * records, readings) and, at the end, the report. Jobs live in this process
 * (a restart forgets them; the rows a job stored stay stored, and re-sending
 * the file is safe); the last MAX_FINISHED are kept after they end. Closing
 * the app stops running jobs at their next chunk and waits for them.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FileImportReport } from '../ingest/reading-file-import.js';

export type JobStatus = 'running' | 'done' | 'failed' | 'stopped';

export interface ImportJob {
  readonly id: string;
  readonly principal: string;
  status: JobStatus;
  readonly createdAt: Date;
  finishedAt: Date | null;
  readonly totalBytes: number;
  bytesRead: number;
  records: number;
  readings: number;
  report: Omit<FileImportReport, 'interrupted'> | null;
  error: { error: string; message: string } | null;
}

const MAX_FINISHED = 100;

export class ImportJobs {
  private readonly jobs = new Map<string, ImportJob>();
  private readonly running = new Set<Promise<void>>();
  private readonly stop = new AbortController();

  get signal(): AbortSignal {
    return this.stop.signal;
  }

  get(id: string): ImportJob | undefined {
    return this.jobs.get(id);
  }

  /**
   * Spools `body` to a temporary file (the caller bounds its size), then runs
   * `run` on a stream of it in the background. Returns the job once the upload
   * is on disk.
   */
  async start(
    principal: string,
    body: AsyncIterable<Buffer>,
    run: (input: Readable, job: ImportJob, signal: AbortSignal) => Promise<Omit<FileImportReport, 'interrupted'> & { interrupted?: boolean }>,
    describeError: (err: unknown) => { error: string; message: string },
  ): Promise<ImportJob> {
    const dir = await mkdtemp(join(tmpdir(), 'mdm-import-'));
    const file = join(dir, 'upload');
    try {
      await pipeline(Readable.from(body), createWriteStream(file));
    } catch (err) {
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    const job: ImportJob = {
      id: randomUUID(),
      principal,
      status: 'running',
      createdAt: new Date(),
      finishedAt: null,
      totalBytes: (await stat(file)).size,
      bytesRead: 0,
      records: 0,
      readings: 0,
      report: null,
      error: null,
    };
    this.jobs.set(job.id, job);
    const counted = async function* () {
      for await (const c of createReadStream(file, { highWaterMark: 1 << 20 })) {
        job.bytesRead += (c as Buffer).length;
        yield c as Buffer;
      }
    };
    const p = (async () => {
      try {
        const { interrupted, ...report } = await run(Readable.from(counted()), job, this.stop.signal);
        job.report = report;
        job.status = interrupted ? 'stopped' : 'done';
      } catch (err) {
        job.error = describeError(err);
        job.status = 'failed';
      } finally {
        job.finishedAt = new Date();
        await rm(dir, { recursive: true, force: true });
        this.prune();
      }
    })();
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
    return job;
  }

  /** Stops running jobs at their next chunk and waits for them (app close). */
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.allSettled([...this.running]);
  }

  private prune(): void {
    const finished = [...this.jobs.values()].filter((j) => j.status !== 'running');
    for (const j of finished.slice(0, Math.max(0, finished.length - MAX_FINISHED))) this.jobs.delete(j.id);
  }
}
