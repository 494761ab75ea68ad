/**
 * `npm run bench` runs every bench below; `npm run bench -- ingest` runs one.
 * Add a bench: write bench/<name>.bench.ts exporting a `Bench`, list it in
 * BENCHES. Each bench stops itself: past its `timeoutMs` the guard runs its
 * registered cleanups (drop databases, close servers) and exits with code 3.
 * Arguments starting with `--` are flags for the benches (`npm run bench --
 * chaos --soak-s 30`), passed on as BenchOptions.flags.
 */
import { z } from 'zod';
import { formatReport, type Bench, type BenchOptions } from './bench.js';
import { alarmsBench } from './alarms.bench.js';
import { billingBench } from './billing.bench.js';
import { chaosBench } from './chaos.bench.js';
import { fleetBench } from './fleet.bench.js';
import { forecastBench } from './forecast.bench.js';
import { forecastLoadBench } from './forecast-load.bench.js';
import { DEFAULT_BENCH_DATABASE_URL } from './bench-database.js';
import { imbalanceBench } from './imbalance.bench.js';
import { importBench } from './import.bench.js';
import { ingestBench } from './ingest.bench.js';
import { mqttBench } from './mqtt.bench.js';
import { scaleBench } from './scale.bench.js';
import { scaleDataBench } from './scale-data.bench.js';
import { veeBench } from './vee.bench.js';

export const BENCHES: Readonly<Record<string, Bench>> = {
  alarms: alarmsBench,
  billing: billingBench,
  chaos: chaosBench,
  fleet: fleetBench,
  forecast: forecastBench,
  'forecast-load': forecastLoadBench,
  imbalance: imbalanceBench,
  import: importBench,
  ingest: ingestBench,
  mqtt: mqttBench,
  scale: scaleBench,
  'scale-data': scaleDataBench,
  vee: veeBench,
};

const count = (def: number, max: number) => z.coerce.number().int().min(1).max(max).default(def);

/** Environment of the benches, validated once; everything else gets the typed result. */
const EnvSchema = z.object({
  BENCH_DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .default(DEFAULT_BENCH_DATABASE_URL)
    .describe('Server on which each run creates and drops its own database mdm_bench_<ms>_<pid>'),
  BENCH_DATA_DIR: z.string().min(1).default('../shared/data'),
  BENCH_METERS: count(1000, 100_000),
  BENCH_DAYS: count(30, 366),
  BENCH_BATCH_ROWS: count(10_000, 100_000),
  BENCH_CONCURRENCY: count(3, 16),
  BENCH_ROUNDS: count(3, 20),
  BENCH_EMBEDDED_METERS: count(100, 10_000),
});

function options(env: NodeJS.ProcessEnv, flags: Readonly<Record<string, string>>): BenchOptions {
  const parsed = EnvSchema.safeParse(Object.fromEntries(Object.keys(EnvSchema.shape).flatMap((k) => (env[k] ? [[k, env[k]]] : []))));
  if (!parsed.success) {
    throw new Error(`bad bench settings:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`);
  }
  const e = parsed.data;
  return {
    databaseUrl: e.BENCH_DATABASE_URL,
    dataDir: e.BENCH_DATA_DIR,
    meters: e.BENCH_METERS,
    days: e.BENCH_DAYS,
    batchRows: e.BENCH_BATCH_ROWS,
    concurrency: e.BENCH_CONCURRENCY,
    rounds: e.BENCH_ROUNDS,
    embeddedMeters: e.BENCH_EMBEDDED_METERS,
    flags,
  };
}

/** Splits the arguments into bench names and `--name value` / `--name=value` flags. */
function parseArgs(argv: readonly string[]): { names: string[]; flags: Record<string, string> } {
  const names: string[] = [];
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      names.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1);
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags[a.slice(2)] = argv[++i];
    else flags[a.slice(2)] = 'true';
  }
  return { names, flags };
}

const log = (line: string) => process.stderr.write(`[bench] ${line}\n`);

/** Runs one bench under its time bound; resolves to true when every goal passed. */
async function runGuarded(bench: Bench, opts: BenchOptions): Promise<boolean> {
  const cleanups: (() => Promise<void>)[] = [];
  let timer: NodeJS.Timeout | undefined;
  const timeoutMs = bench.timeoutFor?.(opts) ?? bench.timeoutMs;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`bench ${bench.name} ran past its ${timeoutMs / 1000} s bound and was stopped`)), timeoutMs);
  });
  try {
    const report = await Promise.race([bench.run(opts, log, (fn) => cleanups.push(fn)), expired]);
    process.stdout.write(`${formatReport(bench.name, report)}\n\n`);
    return report.goals.every((g) => g.pass);
  } catch (err) {
    // Cleanups are idempotent: the bench's own finally blocks may be running them too.
    await Promise.race([Promise.allSettled(cleanups.reverse().map((fn) => fn())), new Promise((r) => setTimeout(r, 30_000).unref())]);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const parsed = parseArgs(argv);
  const names = parsed.names.length ? parsed.names : Object.keys(BENCHES);
  const unknown = names.filter((n) => !BENCHES[n]);
  if (unknown.length) {
    process.stderr.write(`unknown bench ${unknown.join(', ')}; known: ${Object.keys(BENCHES).join(', ')}\n`);
    return 2;
  }
  const opts = options(process.env, parsed.flags);
  let allPassed = true;
  for (const name of names) {
    log(`${name}: ${BENCHES[name].summary}`);
    try {
      allPassed = (await runGuarded(BENCHES[name], opts)) && allPassed;
    } catch (err) {
      process.stderr.write(`bench ${name} failed: ${(err as Error).stack ?? String(err)}\n`);
      return 3;
    }
  }
  return allPassed ? 0 : 1;
}

// Exit explicitly: a stopped bench may leave sockets or timers behind.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(3);
  },
);
