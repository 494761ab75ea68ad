/**
 * `npm run bench -- import` (issue 17 "Proof"): a 10 M-row CSV and a 1 M-row
 * xlsx through `mdm import readings` as users run it (its own process, the
 * server database in DATABASE_URL), each next to a raw text `COPY` of the same
 * rows into an empty copy of the readings table; peak RSS of the importing
 * process (VmHWM). Goals: CSV ≥ 0.5× the raw COPY, peak RSS < 300 MB for
 * either file.
 *
 * The files are long layout (meter,channel,start,value), made by the bench
 * in a temporary directory: `--csv-rows` (default 10 000 000) and
 * `--xlsx-rows` (default 1 000 000) rows over `BENCH_METERS` meters, hourly,
 * values from the shared buildings' series.
 */
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { z } from 'zod';
import { MeterSchema } from '../models/meter.js';
import { formatInstant, HOUR_MS } from '../models/time.js';
import type { Database } from '../sql/database.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { loadNow, type Bench, type BenchOptions, type Figure, type Goal } from './bench.js';
import { openBenchDatabase } from './bench-database.js';
import { memoryOf } from './chaos-service.js';
import { BENCH_TZ, loadBuildingSeries } from './load-profile.js';

const BIN = fileURLToPath(new URL('../bin/mdm.js', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FROM_MS = Date.parse('2020-01-01T00:00:00+03:00');
/** Rows per COPY statement of the baseline (one string per statement; 10 M rows do not fit one). */
const COPY_CHUNK = 500_000;
const RSS_GOAL_MB = 300;
const RATIO_GOAL = 0.5;
const YEAR_HOURS = 8760;

const Flags = z
  .object({
    'csv-rows': z.coerce.number().int().min(1000).max(100_000_000).default(10_000_000),
    'xlsx-rows': z.coerce.number().int().min(0).max(10_000_000).default(1_000_000),
  })
  .strict();

function flagsOf(opts: BenchOptions) {
  const parsed = Flags.safeParse(opts.flags);
  if (!parsed.success) throw new Error(`bad import flags (--csv-rows, --xlsx-rows):\n${parsed.error.issues.map((i) => `  --${i.path.join('.')}: ${i.message}`).join('\n')}`);
  return parsed.data;
}

const meterId = (m: number) => `IMP-${String(m + 1).padStart(5, '0')}`;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** Row i of a file over `meters` meters: meter i mod meters, hour i div meters. */
class Rows {
  private readonly series: number[][];
  private readonly starts = new Map<number, string>();
  constructor(
    dataDir: string,
    readonly meters: number,
  ) {
    this.series = loadBuildingSeries(dataDir, YEAR_HOURS);
  }
  meter = (i: number) => i % this.meters;
  hour = (i: number) => Math.floor(i / this.meters);
  value(i: number): number {
    const m = this.meter(i);
    return Math.round(this.series[m % this.series.length][this.hour(i) % YEAR_HOURS] * (0.9 + (m % 7) * 0.03) * 1000) / 1000;
  }
  start(i: number): string {
    const h = this.hour(i);
    let s = this.starts.get(h);
    if (s === undefined) {
      if (this.starts.size > 10_000) this.starts.clear();
      s = formatInstant(FROM_MS + h * HOUR_MS, BENCH_TZ);
      this.starts.set(h, s);
    }
    return s;
  }
}

async function writeCsv(path: string, rows: Rows, n: number): Promise<void> {
  const out = createWriteStream(path);
  const write = (s: string) => (out.write(s) ? Promise.resolve() : new Promise<void>((r) => out.once('drain', () => r())));
  await write('meter,channel,start,value\n');
  let chunk = '';
  for (let i = 0; i < n; i++) {
    chunk += `${meterId(rows.meter(i))},active_import,${rows.start(i)},${rows.value(i)}\n`;
    if (chunk.length > 1 << 20) {
      await write(chunk);
      chunk = '';
    }
  }
  await write(chunk);
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

async function writeXlsx(path: string, rows: Rows, n: number): Promise<void> {
  const { default: ExcelJS } = await import('exceljs');
  const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ filename: path, useSharedStrings: false, useStyles: false });
  const ws = wb.addWorksheet('readings');
  ws.addRow(['meter', 'channel', 'start', 'value']).commit();
  for (let i = 0; i < n; i++) ws.addRow([meterId(rows.meter(i)), 'active_import', rows.start(i), rows.value(i)]).commit();
  ws.commit();
  await wb.commit();
}

/** `mdm import readings FILE` in its own process: wall time, peak RSS (VmHWM, polled), its summary line. */
async function runImport(file: string, databaseUrl: string): Promise<{ ms: number; peakMb: number; stdout: string; stderr: string }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [BIN, 'import', 'readings', file], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), DATABASE_URL: databaseUrl, LOG_LEVEL: 'warn', MDM_DATA_DIR: join(tmpdir(), 'mdm-import-bench-data') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-20_000)));
  let peakMb = 0;
  const poll = setInterval(() => {
    const m = child.pid ? memoryOf(child.pid) : undefined;
    if (m && Number.isFinite(m.peakMb)) peakMb = Math.max(peakMb, m.peakMb); // an exited (zombie) process has no VmHWM
  }, 100);
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  clearInterval(poll);
  if (code !== 0) throw new Error(`mdm import readings ${file} exited ${code}:\n${stderr.slice(-3000)}`);
  return { ms: performance.now() - t0, peakMb, stdout, stderr };
}

/** Raw text COPY of the same n rows into an empty LIKE-readings table, in COPY_CHUNK-row statements; ms of the COPYs only. */
async function timeRawCopy(database: Database, rows: Rows, n: number, ids: readonly number[]): Promise<number> {
  await sql`DROP TABLE IF EXISTS readings_import_baseline`.execute(database.db);
  await sql`CREATE TABLE readings_import_baseline (LIKE readings INCLUDING ALL)`.execute(database.db);
  let ms = 0;
  for (let i0 = 0; i0 < n; i0 += COPY_CHUNK) {
    const parts: string[] = [];
    for (let i = i0; i < Math.min(n, i0 + COPY_CHUNK); i++) parts.push(`${ids[rows.meter(i)]}\t1\t${rows.start(i)}\t${rows.value(i)}\t60\t0\t4\t1\t0\n`);
    const text = parts.join('');
    const t0 = performance.now();
    await database.session((s) => s.raw.copyFrom('COPY readings_import_baseline FROM STDIN', text), { transaction: false });
    ms += performance.now() - t0;
  }
  const {
    rows: [{ count }],
  } = await sql<{ count: number }>`SELECT count(*)::int AS count FROM readings_import_baseline`.execute(database.db);
  if (count !== n) throw new Error(`raw COPY stored ${count} rows, expected ${n}`);
  await sql`DROP TABLE readings_import_baseline`.execute(database.db);
  return ms;
}

export const importBench: Bench = {
  name: 'import',
  summary: 'mdm import readings of a 10 M-row CSV and a 1 M-row xlsx (its own process, server database) next to a raw COPY of the same rows; peak RSS',
  timeoutMs: 90 * 60_000,
  async run(opts, log, onCleanup) {
    const flags = flagsOf(opts);
    const meters = Math.min(opts.meters, 10_000);
    const dir = mkdtempSync(join(tmpdir(), 'mdm-import-bench-'));
    onCleanup(async () => rmSync(dir, { recursive: true, force: true }));
    const rows = new Rows(opts.dataDir, meters);
    const figures: Figure[] = [];
    const goals: Goal[] = [];
    const context: string[] = [];
    try {
      for (const kind of ['csv', 'xlsx'] as const) {
        const n = kind === 'csv' ? flags['csv-rows'] : flags['xlsx-rows'];
        if (n === 0) continue;
        const file = join(dir, `readings.${kind}`);
        const tw = performance.now();
        if (kind === 'csv') await writeCsv(file, rows, n);
        else await writeXlsx(file, rows, n);
        const mb = statSync(file).size / 1e6;
        log(`import: ${kind} of ${fmt(n)} rows written (${mb.toFixed(0)} MB, ${((performance.now() - tw) / 1000).toFixed(0)} s)`);
        const bench = await openBenchDatabase(opts.databaseUrl, this.timeoutMs, log, onCleanup);
        try {
          const { database } = bench;
          const { rows: stored } = await (async () => {
            const list = Array.from({ length: meters }, (_, m) => MeterSchema.parse({ id: meterId(m), timezone: BENCH_TZ }));
            await upsertMeters(database, list);
            return sql<{ id: number; external_id: string }>`SELECT id, external_id FROM meters WHERE external_id LIKE 'IMP-%'`.execute(database.db);
          })();
          const idOf = new Map(stored.map((r) => [r.external_id, r.id]));
          const ids = Array.from({ length: meters }, (_, m) => idOf.get(meterId(m))!);
          const copyMs = await timeRawCopy(database, rows, n, ids);
          log(`import: raw COPY of the ${fmt(n)} rows: ${(copyMs / 1000).toFixed(1)} s (load ${loadNow()})`);
          const r = await runImport(file, bench.url);
          const {
            rows: [{ count }],
          } = await sql<{ count: number }>`SELECT count(*)::int AS count FROM readings`.execute(database.db);
          if (count !== n) throw new Error(`mdm import readings stored ${count} rows of ${n}: ${r.stdout.slice(-2000)}`);
          const rate = (n / r.ms) * 1000;
          const copyRate = (n / copyMs) * 1000;
          log(
            `import: mdm import readings ${kind}: ${(r.ms / 1000).toFixed(1)} s, ${fmt(rate)} rows/s (${(rate / copyRate).toFixed(2)}× raw COPY), peak RSS ${r.peakMb.toFixed(0)} MB (load ${loadNow()})`,
          );
          context.push(`${kind}: ${fmt(n)} rows, ${meters} meters hourly, ${mb.toFixed(0)} MB; the import's own summary: ${r.stdout.trim().split('\n').slice(-3).join(' | ').slice(0, 300)}`);
          figures.push(
            { label: `raw text COPY of the ${kind} rows`, values: [copyRate], unit: 'rows/s', better: 'higher' },
            { label: `mdm import readings (${kind})`, values: [rate], unit: 'rows/s', better: 'higher', baselines: [`raw text COPY of the ${kind} rows`] },
            { label: `peak RSS of mdm import readings (${kind})`, values: [r.peakMb], unit: 'MB', better: 'lower' },
          );
          if (kind === 'csv')
            goals.push({ label: `CSV import ≥ ${RATIO_GOAL}× raw COPY`, pass: rate / copyRate >= RATIO_GOAL, detail: `${(rate / copyRate).toFixed(2)}× (${fmt(rate)} vs ${fmt(copyRate)} rows/s)` });
          goals.push({ label: `peak RSS < ${RSS_GOAL_MB} MB (${kind}, ${fmt(n)} rows)`, pass: r.peakMb < RSS_GOAL_MB, detail: `${r.peakMb.toFixed(0)} MB` });
        } finally {
          await bench.drop();
          rmSync(file, { force: true });
          rmSync(`${file.replace(/\.(csv|xlsx)$/, '')}.rejects.csv`, { force: true });
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return {
      context: [`the importer as users run it: node bin/mdm.js import readings FILE (DATABASE_URL = a fresh bench database), long layout; load ${loadNow()} at the end`, ...context],
      figures,
      goals,
    };
  },
};
