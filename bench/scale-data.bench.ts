import { execFileSync } from 'node:child_process';
import { statfs } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { z } from 'zod';
import type { Database } from '../sql/database.js';
import { loadNow, median, percentile, type Bench, type BenchOptions, type Figure, type Goal } from './bench.js';
import { openBenchDatabase } from './bench-database.js';
import { registerMeters, startBenchService, withEmbeddedService, type BenchService } from './bench-service.js';
import { BENCH_TZ, benchMeterId } from './load-profile.js';
import { copyHours, expectedSum, scaleValues, type ValueOf } from './scale-load.js';
import {
  AGG_GROUP,
  catchUpRollup,
  measureAggregate,
  measureBilling,
  measureIngest,
  measureMeterMonthReads,
  MONTH,
  readingsStorage,
  vacuumReadings,
  warmUp,
  type IngestFigures,
  type Meters,
  type Storage,
  type Timed,
} from './scale-measure.js';
import { explainSize } from './scale-explain.js';
import { measureTimescaleSample, type TimescaleSample } from './scale-timescale.js';

/**
 * Issue 14 §4–§5 "Cost as data grows": hourly readings of `--meters` meters
 * loaded by binary COPY to each of `--hours` hours per meter (default 10 000
 * meters × 1 000 then 10 000 h: 10 M, then 100 M rows) into a fresh server
 * database; at each size, through the service's HTTP API: a fresh batch
 * (`--batch-meters` × 720 h) posted beside a raw text COPY of the same
 * rows, `--reads` meter-month reads of random meters (p50/p99), a
 * `--aggregate-meters` group's month by day, the billing pull for every
 * meter × January, and bytes per stored reading. Goal: no figure worse than
 * 2× from the first size to the last. The embedded flavour (PGlite) runs the
 * same at `--embedded-meters` × `--embedded-hours`, and a TimescaleDB sample
 * (`--sample-meters` × `--sample-hours`, the TimescaleDB build of PGlite)
 * gives bytes per reading before and after compression.
 */
const GROWTH_GOAL = 2;
/** Bytes a stored reading needs on the server while loading: table and index (~110 B) plus WAL and the rollup. */
const DISK_BYTES_PER_ROW = 200;

const hoursList = (def: string) =>
  z
    .string()
    .regex(/^\d+(,\d+)*$/, 'hours per meter at each size, comma-separated, e.g. 1000,10000')
    .default(def)
    .transform((s) => s.split(',').map(Number));
const int = (def: number, min: number, max: number) => z.coerce.number().int().min(min).max(max).default(def);
const PARTS = ['server', 'embedded', 'timescaledb'] as const;

const Flags = z
  .object({
    meters: int(10_000, 10, 100_000),
    hours: hoursList('1000,10000'),
    'batch-meters': int(1_000, 1, 100_000),
    'aggregate-meters': int(1_000, 1, 100_000),
    reads: int(100, 1, 10_000),
    'embedded-meters': int(100, 1, 10_000),
    'embedded-hours': hoursList('1000,10000'),
    'sample-meters': int(1_000, 1, 10_000),
    'sample-hours': int(1_000, 744, 20_000),
    'explain-log': z.string().min(1).optional(),
    only: z
      .string()
      .default(PARTS.join(','))
      .transform((s) => s.split(','))
      .pipe(z.array(z.enum(PARTS))),
  })
  .strict();
type ScaleFlags = z.infer<typeof Flags>;

/** Sizes must leave room for the month read (744 h) and for each size's fresh 720-hour batch before the next size's load. */
function flagsOf(opts: BenchOptions): ScaleFlags {
  const parsed = Flags.safeParse(opts.flags);
  if (!parsed.success) throw new Error(`bad scale-data flags:\n${parsed.error.issues.map((i) => `  --${i.path.join('.')}: ${i.message}`).join('\n')}`);
  const f = parsed.data;
  for (const [name, hours] of [
    ['hours', f.hours],
    ['embedded-hours', f['embedded-hours']],
  ] as const) {
    if (hours[0] < MONTH.to) throw new Error(`--${name}: the first size needs at least ${MONTH.to} hours (January is read)`);
    for (let i = 1; i < hours.length; i++) if (hours[i] < hours[i - 1] + 720) throw new Error(`--${name}: each size needs 720 hours more than the one before (its fresh batch lies there)`);
  }
  return f;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const rowsText = (n: number) => (n >= 1e6 ? `${+(n / 1e6).toFixed(1)} M` : n >= 1e3 ? `${+(n / 1e3).toFixed(1)} k` : String(n));

interface Size {
  /** `10 M`: meters × hours per meter, before the fresh batches and the warm-up. */
  readonly label: string;
  readonly hours: number;
  readonly storage: Storage;
  readonly copy: { rows: number; ms: number };
  readonly rollup: { ms: number; days: number; adopted: number };
  readonly ingest: IngestFigures;
  readonly reads: number[];
  readonly aggregate: Timed;
  readonly billing: Timed;
  readonly load: string;
}

interface Part {
  readonly tag: 'server' | 'embedded';
  readonly meters: number;
  readonly hours: readonly number[];
  readonly batchMeters: number;
  readonly aggregateMeters: number;
}

/** Registers the meters (the first ones in the aggregate group) through the API; database ids by bench index. */
async function registerAll(database: Database, service: BenchService, part: Part): Promise<Meters> {
  const external = Array.from({ length: part.meters }, (_, i) => benchMeterId(i));
  await registerMeters(service, external.slice(0, part.aggregateMeters), AGG_GROUP, BENCH_TZ);
  if (part.meters > part.aggregateMeters) await registerMeters(service, external.slice(part.aggregateMeters), 'scale', BENCH_TZ);
  const byExternal = new Map((await database.db.selectFrom('meters').select(['id', 'external_id']).execute()).map((r) => [r.external_id, r.id]));
  return { external, ids: external.map((e) => byExternal.get(e)!), aggregate: part.aggregateMeters };
}

/** Flushes the load's dirty pages so that a checkpoint does not land in a measure (server, superuser; skipped otherwise). */
async function checkpoint(database: Database): Promise<void> {
  if (database.engine === 'pg') await sql`CHECKPOINT`.execute(database.db).catch(() => {});
}

/** Every size of one flavour, growing the same database: load, catch up, measure, then post that size's fresh batch. */
async function runSizes(
  database: Database,
  service: BenchService,
  part: Part,
  valueAt: ValueOf,
  opts: BenchOptions,
  flags: ScaleFlags,
  log: (line: string) => void,
  explain?: (meters: Meters, label: string) => Promise<void>,
): Promise<Size[]> {
  const meters = await registerAll(database, service, part);
  const { id: batchId } = await database.db.insertInto('ingest_batches').values({ transport: 'bench', principal: 'scale-bench', detail: 'raw COPY' }).returning('id').executeTakeFirstOrThrow();
  const post = { batchRows: opts.batchRows, concurrency: opts.concurrency };
  await warmUp(service, meters, Math.max(1, Math.ceil(part.batchMeters / 10)), valueAt, post);
  const aggregateExpected = expectedSum(part.aggregateMeters, MONTH.from, MONTH.to, valueAt);
  const billingExpected = expectedSum(part.meters, MONTH.from, MONTH.to, valueAt);
  const out: Size[] = [];
  let loaded = 0;
  for (const [k, hours] of part.hours.entries()) {
    const label = rowsText(part.meters * hours);
    const tag = `${part.tag} ${label}`;
    const batchFrom = loaded; // the previous size's fresh batch: meters [0, batchMeters) × [loaded, loaded + 720)
    const copy = await copyHours(
      database,
      valueAt,
      { ids: meters.ids, hours: { from: loaded, to: hours }, skip: k > 0 ? (m, h) => m < part.batchMeters && h < batchFrom + 720 : undefined, markDirty: k > 0, batchId },
      log,
      tag,
    );
    await vacuumReadings(database, log, tag);
    const rollup = await catchUpRollup(database);
    log(`${tag}: rollup caught up: ${rollup.adopted} meters adopted, ${fmt(rollup.days)} meter days in ${(rollup.ms / 1000).toFixed(1)} s (load ${loadNow()})`);
    const storage = await readingsStorage(database);
    log(`${tag}: ${fmt(storage.rows)} readings, ${(storage.heap / 2 ** 30).toFixed(2)} GiB heap + ${(storage.index / 2 ** 30).toFixed(2)} GiB index = ${storage.perRow.toFixed(1)} B/reading`);
    await checkpoint(database);
    const reads = await measureMeterMonthReads(service, meters, flags.reads, 1000 + k);
    log(`${tag}: meter-month read p50 ${percentile(reads, 50).toFixed(1)} ms, p99 ${percentile(reads, 99).toFixed(1)} ms (${reads.length} random meters; load ${loadNow()})`);
    const aggregate = await measureAggregate(database, service, meters, aggregateExpected);
    log(`${tag}: aggregate of ${part.aggregateMeters} meters × month by day: ${aggregate.ms.map((x) => x.toFixed(0)).join(', ')} ms, CPU ${aggregate.cpuMs.toFixed(0)} ms each (load ${loadNow()})`);
    const billing = await measureBilling(database, service, meters, billingExpected);
    log(`${tag}: billing of ${part.meters} meters × month: ${billing.ms.map((x) => x.toFixed(0)).join(', ')} ms, CPU ${billing.cpuMs.toFixed(0)} ms each (load ${loadNow()})`);
    await explain?.(meters, label);
    await checkpoint(database);
    const ingest = await measureIngest(database, service, meters, part.batchMeters, hours, valueAt, post);
    log(
      `${tag}: fresh batch of ${fmt(ingest.rows)} rows: POST ${fmt(ingest.service)} rows/s, raw text COPY ${ingest.copyText.map(fmt).join(' / ')} rows/s (before / after) = ${(ingest.service / median(ingest.copyText)).toFixed(2)}× (load ${loadNow()})`,
    );
    out.push({ label, hours, storage, copy, rollup, ingest, reads, aggregate, billing, load: loadNow() });
    loaded = hours;
  }
  return out;
}

async function serverPart(part: Part, valueAt: ValueOf, opts: BenchOptions, flags: ScaleFlags, timeoutMs: number, log: (line: string) => void, onCleanup: (fn: () => Promise<void>) => void) {
  const bench = await openBenchDatabase(opts.databaseUrl, timeoutMs, log, onCleanup);
  let service: BenchService | undefined;
  try {
    const database = bench.database;
    const {
      rows: [server],
    } = await sql<{ version: string; settings: string; dir: string }>`
      SELECT split_part(version(), ' on ', 1) AS version,
             'shared_buffers=' || current_setting('shared_buffers') || ', work_mem=' || current_setting('work_mem') || ', max_parallel_workers_per_gather=' ||
             current_setting('max_parallel_workers_per_gather') || ', synchronous_commit=' || current_setting('synchronous_commit') ||
             ', autovacuum=' || current_setting('autovacuum') AS settings,
             current_setting('data_directory') AS dir`.execute(database.db);
    const free = await statfs(server.dir).then(
      (s) => s.bavail * s.bsize,
      () => undefined,
    );
    const need = part.meters * part.hours[part.hours.length - 1] * DISK_BYTES_PER_ROW;
    log(
      `server: ${server.version}, database ${bench.name}; ${free === undefined ? 'free disk unknown' : `${(free / 2 ** 30).toFixed(0)} GiB free`} at ${server.dir}, ~${(need / 2 ** 30).toFixed(0)} GiB needed`,
    );
    if (free !== undefined && free < need)
      throw new Error(`${(free / 2 ** 30).toFixed(0)} GiB free on the server's disk, the load needs ~${(need / 2 ** 30).toFixed(0)} GiB: use fewer --meters or --hours`);
    service = await startBenchService(database);
    onCleanup(service.close);
    const logFile = flags['explain-log'];
    const explain = logFile
      ? async (meters: Meters, label: string) => {
          const out = join(tmpdir(), `scale-data-explain-${label.replace(/\W+/g, '')}.txt`);
          const n = await explainSize(bench.url, bench.name, logFile, out, meters);
          log(`server ${label}: ${n} plans of the meter-month read, the aggregate and the billing pull (auto_explain, untimed run) in ${out}`);
        }
      : undefined;
    const sizes = await runSizes(database, service, part, valueAt, opts, flags, log, explain);
    return { sizes, version: server.version, settings: server.settings };
  } finally {
    await service?.close();
    await bench.drop();
    log(`server: dropped ${bench.name}`);
  }
}

async function embeddedPart(part: Part, valueAt: ValueOf, opts: BenchOptions, flags: ScaleFlags, log: (line: string) => void, onCleanup: (fn: () => Promise<void>) => void) {
  return withEmbeddedService('scale', onCleanup, (database, service) => runSizes(database, service, part, valueAt, opts, flags, log));
}

/** One size's figures; sizes after the first carry the first size's figure as a baseline, which prints the growth. */
function sizeFigures(tag: string, part: Part, s: Size, first: Size | undefined): Figure[] {
  const l = (what: string) => `${tag} ${s.label}: ${what}`;
  const base = (what: string) => (first ? [`${tag} ${first.label}: ${what}`] : []);
  const p99 = percentile(s.reads, 99);
  const cpuNote = s.ingest.cpuBackend === null ? 'this process (PGlite runs in it)' : 'this process + client backends; parallel workers not counted';
  return [
    { label: l('raw COPY text'), values: s.ingest.copyText, unit: 'rows/s', better: 'higher', note: `${fmt(s.ingest.rows)} fresh rows into an empty table LIKE readings, before and after` },
    {
      label: l('POST /v1/readings'),
      values: [s.ingest.service],
      unit: 'rows/s',
      better: 'higher',
      baselines: [l('raw COPY text'), ...base('POST /v1/readings')],
      note: `${part.batchMeters} meters × 720 h not stored yet, into ${fmt(s.storage.rows)} readings`,
    },
    { label: l('CPU of POST, this process'), values: [s.ingest.cpuSelf], unit: 'µs/row', better: 'lower' },
    ...(s.ingest.cpuBackend === null ? [] : [{ label: l('CPU of POST, database backends'), values: [s.ingest.cpuBackend], unit: 'µs/row', better: 'lower' } as Figure]),
    {
      label: l('meter-month read'),
      values: s.reads,
      unit: 'ms',
      better: 'lower',
      baselines: base('meter-month read'),
      note: `GET /v1/meters/:id/readings raw, 744 rows, ${s.reads.length} random meters; median = p50`,
    },
    { label: l('meter-month read p99'), values: [p99], unit: 'ms', better: 'lower', baselines: base('meter-month read p99') },
    {
      label: l(`GET /v1/aggregate ${part.aggregateMeters} meters`),
      values: s.aggregate.ms,
      unit: 'ms',
      better: 'lower',
      baselines: base(`GET /v1/aggregate ${part.aggregateMeters} meters`),
      note: 'group=, month by day',
    },
    { label: l('CPU per aggregate'), values: [s.aggregate.cpuMs], unit: 'ms', better: 'lower', baselines: base('CPU per aggregate'), note: cpuNote },
    {
      label: l(`GET /v1/billing/consumption ${part.meters} meters`),
      values: s.billing.ms,
      unit: 'ms',
      better: 'lower',
      baselines: base(`GET /v1/billing/consumption ${part.meters} meters`),
      note: `period=${MONTH.period}`,
    },
    { label: l('CPU per billing pull'), values: [s.billing.cpuMs], unit: 'ms', better: 'lower', baselines: base('CPU per billing pull'), note: cpuNote },
    { label: l('rollup catch-up'), values: [s.rollup.ms], unit: 'ms', better: 'lower', note: `${fmt(s.rollup.days)} meter days, ${s.rollup.adopted} meters adopted, after the load` },
    {
      label: l('bytes per reading'),
      values: [s.storage.perRow],
      unit: 'B',
      better: 'lower',
      baselines: base('bytes per reading'),
      note: `heap ${(s.storage.heap / s.storage.rows).toFixed(1)} + indexes ${(s.storage.index / s.storage.rows).toFixed(1)}, ${fmt(s.storage.rows)} rows`,
    },
  ];
}

/** How much worse the last size is than the first, per figure (1 = same, 2 = twice as slow or as big). */
function growth(first: Size, last: Size): { label: string; factor: number; detail: string }[] {
  const ratio = (s: Size) => s.ingest.service / median(s.ingest.copyText);
  const ms = (what: string, a: number, b: number) => ({ label: what, factor: b / a, detail: `${a.toFixed(1)} → ${b.toFixed(1)} ms` });
  return [
    // Against a raw COPY of the same rows taken beside it: other people's load on the shared machine moves both, the ratio keeps what the data's size does.
    {
      label: 'POST /v1/readings rows/s (÷ raw COPY beside it)',
      factor: ratio(first) / ratio(last),
      detail: `${ratio(first).toFixed(2)}× → ${ratio(last).toFixed(2)}× raw text COPY; ${fmt(first.ingest.service)} → ${fmt(last.ingest.service)} rows/s`,
    },
    ms('meter-month read p50', percentile(first.reads, 50), percentile(last.reads, 50)),
    ms('meter-month read p99', percentile(first.reads, 99), percentile(last.reads, 99)),
    ms('month aggregate (median)', median(first.aggregate.ms), median(last.aggregate.ms)),
    ms('billing pull (median)', median(first.billing.ms), median(last.billing.ms)),
    { label: 'bytes per reading', factor: last.storage.perRow / first.storage.perRow, detail: `${first.storage.perRow.toFixed(1)} → ${last.storage.perRow.toFixed(1)} B` },
  ];
}

function timescaleFigures(t: TimescaleSample, meters: number, hours: number): Figure[] {
  const at = `${meters} meters × ${hours} h = ${fmt(t.rows)} rows, ${t.chunks} chunks`;
  return [
    { label: 'timescaledb sample: bytes per reading', values: [t.before.perRow], unit: 'B', better: 'lower', note: `hypertable_size ÷ rows, uncompressed, ${at}` },
    {
      label: 'timescaledb sample: compressed',
      values: [t.after.perRow],
      unit: 'B',
      better: 'lower',
      baselines: ['timescaledb sample: bytes per reading'],
      note: `every chunk, migration 002's settings`,
    },
    { label: 'timescaledb sample: meter-month read', values: t.readsBefore, unit: 'ms', better: 'lower', note: 'uncompressed' },
    { label: 'timescaledb sample: meter-month read compressed', values: t.readsAfter, unit: 'ms', better: 'lower', baselines: ['timescaledb sample: meter-month read'] },
  ];
}

/** The code measured: other sessions change product code in the same tree while benches run. */
function codeState(): string {
  const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8' }).trimEnd(); // porcelain lines start with a space
  try {
    const dirty = git('status', '--porcelain', '--', 'api', 'billing', 'ingest', 'sql', 'models', 'market', 'alarms', 'forecast', 'cli', 'adapters')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(3));
    return `code: ${git('rev-parse', '--short', 'HEAD')}${dirty.length ? `, uncommitted changes at start in ${dirty.join(', ')}` : ', no uncommitted product change at start'}`;
  } catch {
    return 'code: not a git checkout';
  }
}

/** Minutes the whole run may take: the server load dominates (~0.8 min per million rows on the 2-core machine, with its catch-up and VACUUM). */
function timeoutFor(opts: BenchOptions): number {
  const f = flagsOf(opts);
  const serverRows = f.only.includes('server') ? f.meters * f.hours[f.hours.length - 1] : 0;
  return (15 + (0.8 * serverRows) / 1e6) * 60_000;
}

export const scaleDataBench: Bench = {
  name: 'scale-data',
  summary:
    'cost as data grows: ingest, meter-month read, 1 000-meter aggregate, billing pull and bytes per reading at 10 M and 100 M readings (server), embedded beside, TimescaleDB compression on a sample',
  timeoutMs: timeoutFor({ flags: {} } as BenchOptions),
  timeoutFor,
  async run(opts, log, onCleanup) {
    const flags = flagsOf(opts);
    const loadStart = loadNow();
    const valueAt = scaleValues(opts.dataDir);
    const figures: Figure[] = [];
    const goals: Goal[] = [];
    const notes: string[] = [];
    const context: string[] = [];
    const cpu = cpus();
    context.push(codeState());
    context.push(`machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average ${loadStart} at start`);
    context.push(
      `data: hourly active import from 2019-01-01 (${BENCH_TZ}), Cambridge building shapes ±10 %; each size's fresh batch (720 h after its last hour) is posted after its reads and stays; ${opts.batchRows} rows per request, ${opts.concurrency} in flight`,
    );

    if (flags.only.includes('timescaledb')) {
      const t = await measureTimescaleSample(flags['sample-meters'], flags['sample-hours'], Math.min(flags.reads, 20), valueAt, log);
      figures.push(...timescaleFigures(t, flags['sample-meters'], flags['sample-hours']));
      notes.push(
        `TimescaleDB (its PGlite build), measured at ${flags['sample-meters']} meters × ${flags['sample-hours']} h = ${fmt(t.rows)} readings: ${t.before.perRow.toFixed(1)} B/reading uncompressed, ${t.after.perRow.toFixed(1)} compressed (${(t.before.perRow / t.after.perRow).toFixed(1)}× smaller; ${(t.compressMs / 1000).toFixed(1)} s to compress)`,
      );
    }

    const parts: { part: Part; sizes: Size[] }[] = [];
    if (flags.only.includes('embedded')) {
      const part: Part = { tag: 'embedded', meters: flags['embedded-meters'], hours: flags['embedded-hours'], batchMeters: flags['embedded-meters'], aggregateMeters: flags['embedded-meters'] };
      parts.push({ part, sizes: await embeddedPart(part, valueAt, opts, flags, log, onCleanup) });
    }
    if (flags.only.includes('server')) {
      const part: Part = {
        tag: 'server',
        meters: flags.meters,
        hours: flags.hours,
        batchMeters: Math.min(flags['batch-meters'], flags.meters),
        aggregateMeters: Math.min(flags['aggregate-meters'], flags.meters),
      };
      const server = await serverPart(part, valueAt, opts, flags, timeoutFor(opts), log, onCleanup);
      context.push(`server: ${server.version}, ${server.settings} (as configured)`);
      parts.unshift({ part, sizes: server.sizes });
    }

    for (const { part, sizes } of parts) {
      context.push(
        `${part.tag}: ${part.meters} meters × ${part.hours.join(' then ')} h (${sizes.map((s) => `${s.label}: ${fmt(s.storage.rows)} readings stored, load ${s.load}`).join('; ')}); loaded by binary COPY at ${sizes.map((s) => fmt((s.copy.rows / s.copy.ms) * 1000)).join(', ')} rows/s`,
      );
      sizes.forEach((s, i) => figures.push(...sizeFigures(part.tag, part, s, i > 0 ? sizes[0] : undefined)));
      if (sizes.length < 2) continue;
      const first = sizes[0];
      const last = sizes[sizes.length - 1];
      for (const g of growth(first, last)) {
        const line = `${g.label} ${first.label} → ${last.label}: ${g.factor.toFixed(2)}× (${g.detail})`;
        if (part.tag === 'server')
          goals.push({ label: `server ${g.label} degrades ≤ ${GROWTH_GOAL}× from ${first.label} to ${last.label}`, pass: g.factor <= GROWTH_GOAL, detail: `${g.factor.toFixed(2)}× (${g.detail})` });
        else notes.push(`embedded ${line}`);
      }
    }
    context[1] += `, ${loadNow()} at end`;
    return { context, figures, goals, notes };
  },
};
