import { cpus, totalmem } from 'node:os';
import { sql } from 'kysely';
import { z } from 'zod';
import type { NormalizedReading } from '../models/reading.js';
import { formatInstant } from '../models/time.js';
import type { Database } from '../sql/database.js';
import { findMeterRefs } from '../sql/meter-lookup.repository.js';
import { loadNow, median, type Bench, type BenchOptions, type Figure, type Goal } from './bench.js';
import { checkpoint, emptyLoadTables, openBenchDatabase } from './bench-database.js';
import { registerMeters, startBenchService, withEmbeddedService, type BenchService } from './bench-service.js';
import { copyText, timeRawCopy, type StoredRows } from './copy-baseline.js';
import { BENCH_FROM_MS, BENCH_TZ, makeLoadProfile, type BenchRow, type LoadProfile } from './load-profile.js';
import { postBatches, timeGets } from './post-batches.js';
import { startCpuMeter } from './cpu-meter.js';
import { measureServed, MOSQUITTO_URL, startScriptNodeArgs, type CatchUp, type ServedRun } from './ingest-served.js';

const HOUR_MS = 3_600_000;
const TIMEOUT_MS = 15 * 60_000;
const REQUEST_TIMEOUT_MS = 120_000;
const AGGREGATE_RUNS = 5;
/** Issue 14: the started service against a raw text COPY of the same rows. */
const GOAL_RATIO = 0.8;

/** JSON bodies `{"readings": […]}` of `batchRows` rows each, serialised before any clock starts. */
function requestBodies(rows: readonly BenchRow[], batchRows: number): Uint8Array<ArrayBuffer>[] {
  const utf8 = new TextEncoder();
  const out: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i < rows.length; i += batchRows) out.push(utf8.encode(JSON.stringify({ readings: rows.slice(i, i + batchRows) })));
  return out;
}

/** The rows as readings stores them, for the raw COPY baselines (start text exactly as posted). */
async function storedRows(database: Database, profile: LoadProfile, rows: readonly BenchRow[]): Promise<StoredRows> {
  const refs = await findMeterRefs(database, profile.meterIds);
  const stored: NormalizedReading[] = rows.map((r, i) => ({
    meterId: refs.get(r.meter)!.id,
    channel: 1,
    startMs: BENCH_FROM_MS + (i % profile.hours) * HOUR_MS,
    value: r.value,
    intervalMinutes: 60,
    quality: 0, // measured
    source: 0, // http
  }));
  return { rows: stored, text: copyText(stored, (_, i) => rows[i].start) };
}

const rate = (rows: number, ms: number) => (rows / ms) * 1000;

interface LoadRun {
  readonly copyText: number[];
  readonly copyBinary: number[];
  readonly service: number[];
  /** CPU µs per row of each phase and round: this process (HTTP, JSON, validation, encoding) and the database backends. */
  readonly cpu: Record<'copyText' | 'copyBinary' | 'service', { self: number[]; backend: number[] }>;
  readonly aggregateGroupMs: number[];
  readonly aggregateListMs: number[];
}

/** Runs a phase under a CPU meter; the phase returns its wall time in ms. Records rows/s and CPU µs per row. */
async function phase(database: Database, rows: number, rates: number[], cpu: { self: number[]; backend: number[] }, fn: () => Promise<number>): Promise<void> {
  const stop = await startCpuMeter(database);
  const ms = await fn();
  const use = await stop();
  rates.push(rate(rows, ms));
  cpu.self.push((use.self / rows) * 1e6);
  if (use.backend !== null) cpu.backend.push((use.backend / rows) * 1e6);
}

/**
 * Rounds of: raw COPY text, raw COPY binary, then the service through HTTP
 * into emptied tables, counts checked; then GET /v1/aggregate timed over the
 * whole load, by group and by the full meters= list, its sums checked.
 */
async function measureLoad(
  database: Database,
  service: BenchService,
  profile: LoadProfile,
  rows: readonly BenchRow[],
  meterIds: readonly string[],
  group: string,
  opts: BenchOptions,
  log: (line: string) => void,
  tag: string,
): Promise<LoadRun> {
  await registerMeters(service, meterIds, group, BENCH_TZ);
  const stored = await storedRows(database, profile, rows);
  const bodies = requestBodies(rows, opts.batchRows);
  const cpu = () => ({ self: [] as number[], backend: [] as number[] });
  const run: LoadRun = {
    copyText: [],
    copyBinary: [],
    service: [],
    cpu: { copyText: cpu(), copyBinary: cpu(), service: cpu() },
    aggregateGroupMs: [],
    aggregateListMs: [],
  };
  // Warm-up, not timed: the first tenth of the requests compiles the hot paths (JIT) and fills the caches.
  await postBatches(`${service.url}/v1/readings`, service.keys.gateway, bodies.slice(0, Math.ceil(bodies.length / 10)), opts.concurrency, REQUEST_TIMEOUT_MS);
  await emptyLoadTables(database);
  for (let round = 1; round <= opts.rounds; round++) {
    await checkpoint(database);
    await phase(database, rows.length, run.copyText, run.cpu.copyText, () => timeRawCopy(database, stored, 'text'));
    await checkpoint(database);
    await phase(database, rows.length, run.copyBinary, run.cpu.copyBinary, () => timeRawCopy(database, stored, 'binary'));
    await emptyLoadTables(database);
    await checkpoint(database);
    await phase(database, rows.length, run.service, run.cpu.service, async () => {
      const t = await postBatches(`${service.url}/v1/readings`, service.keys.gateway, bodies, opts.concurrency, REQUEST_TIMEOUT_MS);
      if (t.accepted !== rows.length || t.unchanged || t.superseded || t.rejected) {
        throw new Error(`${tag}: expected ${rows.length} accepted rows, got ${JSON.stringify(t)}`);
      }
      return t.ms;
    });
    const last = (xs: number[]) => Math.round(xs[xs.length - 1]).toLocaleString('en-US');
    log(`${tag} round ${round}/${opts.rounds}: COPY text ${last(run.copyText)} rows/s, COPY binary ${last(run.copyBinary)} rows/s, service ${last(run.service)} rows/s (load ${loadNow()})`);
  }

  // As autovacuum would within a minute of the load.
  if (database.engine === 'pg') await sql`VACUUM ANALYZE readings`.execute(database.db);
  const expected = rows.reduce((a, r) => a + r.value, 0);
  const range = `channel=active_import&from=${encodeURIComponent(formatInstant(BENCH_FROM_MS, BENCH_TZ))}&to=${encodeURIComponent(formatInstant(profile.toMs, BENCH_TZ))}&interval=day`;
  for (const [selector, into] of [
    [`group=${group}`, run.aggregateGroupMs],
    [`meters=${meterIds.join(',')}`, run.aggregateListMs],
  ] as const) {
    const { ms, body } = await timeGets(`${service.url}/v1/aggregate?${selector}&${range}`, service.keys.trader, AGGREGATE_RUNS, REQUEST_TIMEOUT_MS);
    const out = body as { meterCount: number; rows: { value: number; meters: number; intervals: number }[] };
    const sum = out.rows.reduce((a, r) => a + r.value, 0);
    const intervals = out.rows.reduce((a, r) => a + r.intervals, 0);
    if (out.meterCount !== meterIds.length || out.rows.length !== opts.days || intervals !== rows.length || Math.abs(sum - expected) > 1e-9 * Math.abs(expected)) {
      throw new Error(`${tag}: aggregate ${selector.slice(0, 20)}… returned ${out.rows.length} days, ${intervals} intervals, sum ${sum} (expected ${opts.days}, ${rows.length}, ${expected})`);
    }
    into.push(...ms);
  }
  log(`${tag} aggregate by day: group= ${median(run.aggregateGroupMs).toFixed(0)} ms, meters= ${median(run.aggregateListMs).toFixed(0)} ms (median of ${AGGREGATE_RUNS})`);
  return run;
}

async function serverFlavour(opts: BenchOptions, profile: LoadProfile, log: (line: string) => void, onCleanup: (fn: () => Promise<void>) => void) {
  const bench = await openBenchDatabase(opts.databaseUrl, TIMEOUT_MS, log, onCleanup);
  let service: BenchService | undefined;
  try {
    const database = bench.database;
    const {
      rows: [{ version, sc, sb }],
    } = await sql<{ version: string; sc: string; sb: string }>`
      SELECT split_part(version(), ' on ', 1) AS version, current_setting('synchronous_commit') AS sc, current_setting('shared_buffers') AS sb`.execute(database.db);
    log(`server: ${version}, flavour ${database.flavour}, database ${bench.name}`);
    service = await startBenchService(database);
    onCleanup(service.close);
    const run = await measureLoad(database, service, profile, profile.rows, profile.meterIds, 'bench', opts, log, 'server');
    return { run, version, flavour: database.flavour, settings: `synchronous_commit=${sc}, shared_buffers=${sb}` };
  } finally {
    await service?.close();
    await bench.drop();
  }
}

async function embeddedFlavour(opts: BenchOptions, profile: LoadProfile, log: (line: string) => void, onCleanup: (fn: () => Promise<void>) => void) {
  return withEmbeddedService('embedded', onCleanup, (database, service) => {
    const meters = Math.min(opts.embeddedMeters, profile.meterIds.length);
    const rows = profile.rows.slice(0, meters * profile.hours); // meter-major: the first `meters` meters
    return measureLoad(database, service, profile, rows, profile.meterIds.slice(0, meters), 'bench-embedded', opts, log, 'embedded');
  });
}

/** CPU per row by phase: where the time goes, whatever the machine's other load. */
function cpuFigures(tag: string, run: LoadRun): Figure[] {
  const out: Figure[] = [];
  const phases = [
    ['raw COPY text', run.cpu.copyText],
    ['raw COPY binary', run.cpu.copyBinary],
    ['POST /v1/readings', run.cpu.service],
  ] as const;
  for (const [name, cpu] of phases) {
    if (name === 'POST /v1/readings') out.push({ label: `${tag}: CPU ${name}, this process`, values: cpu.self, unit: 'µs/row', better: 'lower', note: 'HTTP, JSON, checks, encoding' });
    if (cpu.backend.length) out.push({ label: `${tag}: CPU ${name}, database backends`, values: cpu.backend, unit: 'µs/row', better: 'lower' });
  }
  return out;
}

/** The served figures (issue 14): the started service against the raw text COPY of the same round. */
function servedFigures(r: ServedRun, opts: BenchOptions): Figure[] {
  const base = ['served: raw COPY text'];
  return [
    { label: 'served: raw COPY text', values: r.copyText.rowsPerS, unit: 'rows/s', better: 'higher', note: `${r.rows} rows, one statement` },
    { label: 'served: POST /v1/readings', values: r.http.rowsPerS, unit: 'rows/s', better: 'higher', baselines: base, note: `${opts.batchRows} rows × ${opts.concurrency} in flight` },
    { label: 'served: MQTT gateway messages (Mosquitto)', values: r.mqtt.rowsPerS, unit: 'rows/s', better: 'higher', baselines: base, note: 'publish → service ack after commit' },
    { label: 'served: CPU raw COPY text, database backends', values: r.copyText.backendCpu, unit: 'µs/row', better: 'lower' },
    { label: 'served: CPU POST, service process', values: r.http.serviceCpu, unit: 'µs/row', better: 'lower', note: 'all its threads' },
    { label: 'served: CPU POST, database backends', values: r.http.backendCpu, unit: 'µs/row', better: 'lower' },
    { label: 'served: CPU POST, client process', values: r.http.clientCpu, unit: 'µs/row', better: 'lower' },
    { label: 'served: CPU MQTT, service process', values: r.mqtt.serviceCpu, unit: 'µs/row', better: 'lower' },
    { label: 'served: CPU MQTT, database backends', values: r.mqtt.backendCpu, unit: 'µs/row', better: 'lower' },
    { label: 'served: background caught up after POST', values: r.httpCatchUp.s, unit: 's', better: 'lower', note: 'VEE queue and billing dirty days empty' },
    { label: 'served: background CPU after POST', values: r.httpCatchUp.cpu, unit: 'µs/row', better: 'lower', note: 'service + backends' },
  ];
}

const Flags = z.object({ only: z.enum(['served']).optional() }).strict();

/**
 * Goal lines of the served measurement. Each round runs the COPY and the
 * service within a minute: the ratio per round cancels most of the machine's
 * other load, which moves both together; the goal takes the median of the
 * rounds' ratios. The issue's "raw COPY" is a psql-style text COPY.
 */
function servedGoals(served: ServedRun, opts: BenchOptions): { goals: Goal[]; notes: string[] } {
  const k = (x: number) => Math.round(x).toLocaleString('en-US');
  const ratios = (xs: readonly number[], base: readonly number[]) => xs.map((v, i) => v / base[i]);
  const list = (xs: readonly number[]) => xs.map((r) => r.toFixed(2)).join(', ');
  const httpRatios = ratios(served.http.rowsPerS, served.copyText.rowsPerS);
  const mqttRatios = ratios(served.mqtt.rowsPerS, served.copyText.rowsPerS);
  const caughtUp = (c: CatchUp) => c.s.filter((s, i) => s <= c.loadS[i]).length * 2 > c.s.length;
  return {
    goals: [
      {
        label: `served POST /v1/readings ≥ ${GOAL_RATIO}× raw text COPY`,
        pass: median(httpRatios) >= GOAL_RATIO,
        detail: `${median(httpRatios).toFixed(2)}× (median of the ${opts.rounds} rounds' ratios ${list(httpRatios)}; medians ${k(median(served.http.rowsPerS))} / ${k(median(served.copyText.rowsPerS))} rows/s)`,
      },
      {
        label: 'served: background work (VEE, billing rollup) caught up within the time the HTTP load took',
        pass: caughtUp(served.httpCatchUp),
        detail: `caught up ${list(served.httpCatchUp.s)} s after loads of ${list(served.httpCatchUp.loadS)} s`,
      },
    ],
    notes: [
      `served MQTT through Mosquitto: ${median(mqttRatios).toFixed(2)}× raw text COPY (rounds ${list(mqttRatios)}); background caught up ${list(served.mqttCatchUp.s)} s after loads of ${list(served.mqttCatchUp.loadS)} s`,
      `the served service's log: ${served.serviceLog}`,
    ],
  };
}

/**
 * Issue 2 "Benchmark": the service's write rate through POST /v1/readings
 * against a raw COPY of the same rows, on the server flavour; GET
 * /v1/aggregate over the month; the embedded flavour on a smaller load.
 */
export const ingestBench: Bench = {
  name: 'ingest',
  summary: 'POST /v1/readings vs raw COPY (server flavour), GET /v1/aggregate by day, embedded rows/s',
  timeoutMs: TIMEOUT_MS,
  async run(opts, log, onCleanup) {
    const loadStart = loadNow();
    const profile = makeLoadProfile(opts.dataDir, opts.meters, opts.days);
    log(`data: ${opts.meters} meters × ${opts.days} days hourly = ${profile.rows.length} rows from ${profile.buildings} Cambridge buildings (2019), ±10 % noise, ${BENCH_TZ}`);
    const parsed = Flags.safeParse(opts.flags);
    if (!parsed.success) throw new Error(`bad ingest flags (--only served): ${parsed.error.issues.map((i) => i.message).join('; ')}`);
    const served = await measureServed(opts, profile.meterIds, (database) => storedRows(database, profile, profile.rows), log, onCleanup);
    const cpu = cpus();
    const context = [
      `machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average ${loadStart} at start`,
      `served: ${['node', ...startScriptNodeArgs()].join(' ')} bin/mdm.js serve with every component on and its defaults (as npm start runs it), MQTT through ${MOSQUITTO_URL}; the client (bench/ingest-client.ts) in a process of its own; ${served.settings}`,
      `load: ${opts.meters} meters × ${opts.days} days hourly = ${profile.rows.length} rows, ${opts.batchRows} rows per request, ${opts.concurrency} in flight, ${opts.rounds} round(s), fresh tables each round after an untimed warm-up on a tenth of the requests`,
    ];
    if (parsed.data.only === 'served') return { context: [...context, `load average ${loadNow()} at end`], figures: servedFigures(served, opts), ...servedGoals(served, opts) };
    const server = await serverFlavour(opts, profile, log, onCleanup);
    const embedded = await embeddedFlavour(opts, profile, log, onCleanup);

    const n = profile.rows.length;
    const en = Math.min(opts.embeddedMeters, opts.meters) * profile.hours;
    const figures: Figure[] = [
      ...servedFigures(served, opts),
      { label: 'in-process: raw COPY text', values: server.run.copyText, unit: 'rows/s', better: 'higher', note: `${n} rows` },
      { label: 'in-process: raw COPY binary', values: server.run.copyBinary, unit: 'rows/s', better: 'higher', baselines: ['in-process: raw COPY text'] },
      {
        label: 'in-process: POST /v1/readings',
        values: server.run.service,
        unit: 'rows/s',
        better: 'higher',
        baselines: ['in-process: raw COPY text', 'in-process: raw COPY binary'],
        note: 'buildApp in this process, no background components',
      },
      ...cpuFigures('in-process', server.run),
      { label: 'server: GET /v1/aggregate group=', values: server.run.aggregateGroupMs, unit: 'ms', better: 'lower', note: `${opts.meters} meters, month by day` },
      { label: 'server: GET /v1/aggregate meters=', values: server.run.aggregateListMs, unit: 'ms', better: 'lower', note: `${opts.meters} ids listed` },
      { label: 'embedded: raw COPY text', values: embedded.copyText, unit: 'rows/s', better: 'higher', note: `${en} rows` },
      { label: 'embedded: POST /v1/readings', values: embedded.service, unit: 'rows/s', better: 'higher', baselines: ['embedded: raw COPY text'] },
      { label: 'embedded: GET /v1/aggregate group=', values: embedded.aggregateGroupMs, unit: 'ms', better: 'lower' },
    ];
    const k = (x: number) => Math.round(x).toLocaleString('en-US');
    const ratios = (xs: readonly number[], base: readonly number[]) => xs.map((v, i) => v / base[i]);
    const binaryRatios = ratios(server.run.service, server.run.copyBinary);
    const inProcessRatios = ratios(server.run.service, server.run.copyText);
    const list = (xs: readonly number[]) => xs.map((r) => r.toFixed(2)).join(', ');
    const { goals, notes } = servedGoals(served, opts);
    notes.push(
      `in-process (buildApp, no background components): ${median(inProcessRatios).toFixed(2)}× text COPY, ${median(binaryRatios).toFixed(2)}× binary COPY (rounds ${list(binaryRatios)})`,
      `embedded (PGlite): ${k(median(embedded.service))} rows/s through POST /v1/readings for ${Math.min(opts.embeddedMeters, opts.meters)} meters × ${opts.days} days`,
    );
    return {
      context: [...context, `in-process and embedded: ${server.version}, flavour ${server.flavour} (the bench changes no setting); embedded ${en} rows; load average ${loadNow()} at end`],
      figures,
      goals,
      notes,
    };
  },
};
