/**
 * The service under `npm run bench -- chaos`: `node bin/mdm.js serve` as its
 * own process (what `npm start` runs), started again on the same database and
 * port after each `kill -9`. Its resident memory is sampled from
 * /proc/<pid>/status (VmRSS; VmHWM is the kernel's own peak), and it runs
 * with `--trace-gc`: the heap after each collection is read from its output
 * (bench/chaos-memory.ts), which still goes to the log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { gcOf, isGcTrace, type GcEvent } from './chaos-memory.js';

const BIN = fileURLToPath(new URL('../bin/mdm.js', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const READY = 'Stop with Ctrl+C';

export interface RssSample {
  /** ms since the sampler started. */
  readonly t: number;
  readonly rssMb: number;
}

/** VmRSS and VmHWM of a process in MB, or undefined once it is gone. */
export function memoryOf(pid: number): { rssMb: number; peakMb: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  } catch {
    return undefined;
  }
}

/** A TCP port free on 127.0.0.1 right now. */
export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

export class ServiceProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private readonly log: WriteStream;
  private sampler: NodeJS.Timeout | undefined;
  private samplerStart = 0;
  /** Peak resident memory over every process started (MB). */
  peakMb = 0;
  samples: RssSample[] = [];
  /** Collections since the sampler started (V8's `--trace-gc`), `t` in ms on the samples' clock. */
  gcs: (GcEvent & { t: number })[] = [];
  starts = 0;
  /** ms from spawn to ready, per start. */
  readonly startMs: number[] = [];

  constructor(
    private readonly env: Record<string, string>,
    readonly logPath: string,
    /** Node's arguments before bin/mdm.js: V8's `--trace-gc` for the chaos bench (it reads the heap after each collection from it). */
    private readonly nodeArgs: readonly string[] = ['--trace-gc'],
  ) {
    this.log = createWriteStream(logPath, { flags: 'a' });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Starts `mdm serve` and resolves once it prints that it is running. */
  async start(timeoutMs = 120_000): Promise<void> {
    const t0 = performance.now();
    this.log.write(`\n==== start ${++this.starts} at ${new Date().toISOString()}\n`);
    const child = spawn(process.execPath, [...this.nodeArgs, BIN, 'serve'], { env: this.env, cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    let out = ''; // start-up text, without the GC trace
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => {
      this.log.write(d);
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        // timed by V8's clock (ms since the process started): its trace reaches the pipe in buffered chunks
        const gc = gcOf(line);
        if (gc && t0 + gc.atMs >= this.samplerStart) this.gcs.push({ ...gc, t: t0 + gc.atMs - this.samplerStart });
        if (!isGcTrace(line) && out.length < 10_000) out += `${line}\n`;
      }
      if (!isGcTrace(partial) && partial.includes(READY)) out += partial;
    });
    child.stderr!.on('data', (d: Buffer) => this.log.write(d));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.log.write(`\n==== exit code ${code} signal ${signal}\n`);
        resolve();
      }),
    );
    const deadline = t0 + timeoutMs;
    while (!out.includes(READY)) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`mdm serve exited while starting (see ${this.logPath}):\n${out.slice(-2000)}`);
      if (performance.now() > deadline) throw new Error(`mdm serve did not start within ${timeoutMs / 1000} s (see ${this.logPath})`);
      await new Promise((r) => setTimeout(r, 50));
    }
    this.startMs.push(performance.now() - t0);
  }

  /** `kill -9` the running process and wait until it is gone. */
  async kill9(): Promise<void> {
    const child = this.child;
    if (!child?.pid) return;
    this.notePeak();
    process.kill(child.pid, 'SIGKILL');
    await this.exited;
  }

  /** Graceful stop (SIGTERM), SIGKILL after `graceMs`. */
  async stop(graceMs = 20_000): Promise<void> {
    const child = this.child;
    this.stopSampling();
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    this.notePeak();
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    this.log.end();
  }

  private notePeak(): void {
    const m = this.pid ? memoryOf(this.pid) : undefined;
    if (m) this.peakMb = Math.max(this.peakMb, m.peakMb);
  }

  /** Samples VmRSS every `everyMs` into `samples` (cleared), and the peak. */
  startSampling(everyMs: number): void {
    this.stopSampling();
    this.samples = [];
    this.gcs = [];
    this.samplerStart = performance.now();
    const take = () => {
      const m = this.pid ? memoryOf(this.pid) : undefined;
      if (!m) return;
      this.peakMb = Math.max(this.peakMb, m.peakMb);
      this.samples.push({ t: performance.now() - this.samplerStart, rssMb: m.rssMb });
    };
    take();
    this.sampler = setInterval(take, everyMs);
  }

  stopSampling(): void {
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = undefined;
  }
}
