import { cpus, totalmem } from 'node:os';
import { sql } from 'kysely';
import { runBilling } from '../billing/billing-run.js';
import { parsePeriod } from '../billing/period.js';
import type { NormalizedReading } from '../models/reading.js';
import { toCopyBinary } from '../sql/reading-write.repository.js';
import { maintainBillingRollup } from '../sql/billing-rollup.repository.js';
import { createEmbeddedDatabase, type Database } from '../sql/database.js';
import { migrate } from '../sql/migrator.js';
import { loadNow, median, type Bench, type Figure } from './bench.js';
import { openBenchDatabase } from './bench-database.js';
import { startBenchService } from './bench-service.js';
import { loadBuildingSeries } from './load-profile.js';
import { timeGets } from './post-batches.js';
import { seededRandom } from '../models/random.js';
import { loadGas, timeGasPull } from './billing-gas.js';

/**
 * GET /v1/billing/consumption for 10 000 meters × one month hourly (7.2 M
 * rows) on the server flavour: goal < 500 ms (issue 14 §3; issue 4 had
 * < 2 s). The readings go in by raw binary COPY (the write path is the ingest
 * bench's business), then VACUUM ANALYZE as autovacuum would, then the daily
 * rollup is built (ingest keeps it current; a COPY bypasses ingest, so it is
 * built here, timed apart). The GET is timed through HTTP, median of 3, its
 * totals checked against the loaded values; asOf is timed once. Then the
 * same pull for 100 meters on the embedded flavour (in-memory PGlite, issue
 * 14 §5), so users see when to move to a server. Then the gas variant
 * (issue 15, bench/billing-gas.ts): 10 000 gas meters × the month of volume,
 * temperature and pressure in the same database, billed with conversion to
 * base conditions and energy (`--gas-meters N` sets the count, 0 leaves it out).
 */
const METERS = 10_000;
const EMBEDDED_METERS = 100;
const PERIOD = '2019-04'; // 30 days: 720 hourly intervals per meter, no DST change in either zone
const HOURS = 720;
const RUNS = 3;
const GOAL_MS = 500;
const GAS_METERS = 10_000;
const TIMEOUT_MS = 30 * 60_000;
const REQUEST_TIMEOUT_MS = 120_000;
const COPY_METERS = 500; // meters per COPY (360 000 rows, ~22 MB binary)
const WARSAW_EVERY = 10; // every 10th meter in Europe/Warsaw, the rest in Europe/Istanbul
const ESTIMATED_EVERY = 97; // every 97th interval stored as estimated

/** 2019-04-01 00:00 local → epoch ms. Istanbul is UTC+3 all year; Warsaw is on CEST (UTC+2) all April. */
const FROM_MS = { ist: Date.UTC(2019, 2, 31, 21), waw: Date.UTC(2019, 2, 31, 22) };

const multiplierOf = (i: number) => [1, 10, 40][i % 3];

/** Meters straight into the table: ids BILL-00001…, half three-time, every 10th in Warsaw. */
export async function insertMeters(database: Database, meters = METERS): Promise<void> {
  await sql`
    INSERT INTO meters (external_id, commodity, timezone, interval_minutes, multiplier, tariff, "group", portfolio)
    SELECT 'BILL-' || lpad(i::text, 5, '0'), 'electricity',
           CASE WHEN (i - 1) % ${sql.lit(WARSAW_EVERY)} = 0 THEN 'Europe/Warsaw' ELSE 'Europe/Istanbul' END, 60,
           (ARRAY[1, 10, 40])[(i - 1) % 3 + 1], CASE WHEN (i - 1) % 2 = 0 THEN 'three-time' ELSE 'single' END, 'bench', 'bench'
    FROM generate_series(1, ${sql.lit(meters)}) i`.execute(database.db);
}

/**
 * Hourly active import of every meter by binary COPY, in chunks; returns
 * Σ value × multiplier (kWh) to check the API's totals against.
 */
export async function copyReadings(database: Database, dataDir: string, log: (line: string) => void, meters = METERS): Promise<number> {
  const series = loadBuildingSeries(dataDir, HOURS);
  const rand = seededRandom(20190401);
  const ids = new Map((await database.db.selectFrom('meters').select(['id', 'external_id']).execute()).map((r) => [r.external_id, r.id]));
  const { id: batchId } = await database.db.insertInto('ingest_batches').values({ transport: 'bench', principal: 'billing-bench', detail: 'raw COPY' }).returning('id').executeTakeFirstOrThrow();
  let total = 0;
  const t0 = performance.now();
  for (let first = 0; first < meters; first += COPY_METERS) {
    const rows: NormalizedReading[] = [];
    for (let i = first; i < Math.min(first + COPY_METERS, meters); i++) {
      const meterId = ids.get(`BILL-${String(i + 1).padStart(5, '0')}`)!;
      const from = i % WARSAW_EVERY === 0 ? FROM_MS.waw : FROM_MS.ist;
      const shape = series[i % series.length];
      for (let h = 0; h < HOURS; h++) {
        const value = Math.round(shape[h] * (0.9 + 0.2 * rand()) * 1000) / 1000; // Wh resolution
        total += value * multiplierOf(i);
        rows.push({ meterId, channel: 1, startMs: from + h * 3_600_000, value, intervalMinutes: null, quality: h % ESTIMATED_EVERY === 0 ? 2 : 0, source: 0 });
      }
    }
    // COPY cannot name batch_id's value per row: a column default set for the load does.
    await database.session(async ({ db, raw }) => {
      await sql`ALTER TABLE readings ALTER COLUMN batch_id SET DEFAULT ${sql.lit(batchId)}`.execute(db);
      await raw.copyFrom('COPY readings (meter_id, channel, start, value, interval_minutes, quality, source) FROM STDIN (FORMAT binary)', toCopyBinary(rows));
      await sql`ALTER TABLE readings ALTER COLUMN batch_id DROP DEFAULT`.execute(db);
    });
  }
  log(`COPY of ${(meters * HOURS).toLocaleString('en-US')} rows: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return total;
}

interface Consumption {
  dataVersion: string;
  meters: { meter: string; activeImport: number; completeness: number; tou?: Record<string, number>; estimatedShare: number }[];
}

function check(body: Consumption, expectedTotal: number, meters = METERS): void {
  const total = body.meters.reduce((a, m) => a + m.activeImport, 0);
  const incomplete = body.meters.filter((m) => m.completeness !== 1).length;
  const withTou = body.meters.filter((m) => m.tou !== undefined).length;
  if (body.meters.length !== meters || incomplete || withTou !== meters / 2 || Math.abs(total - expectedTotal) > 1e-6 * expectedTotal) {
    throw new Error(`billing answered ${body.meters.length} meters, ${incomplete} incomplete, ${withTou} with TOU, Σ activeImport ${total} (expected ${meters}, 0, ${meters / 2}, ${expectedTotal})`);
  }
}

/**
 * The embedded flavour's pull: EMBEDDED_METERS meters × the month loaded the
 * same way into an in-memory PGlite, rolled up, then GET through HTTP,
 * median of RUNS.
 */
async function embeddedPull(dataDir: string, log: (line: string) => void, onCleanup: (fn: () => Promise<void>) => void): Promise<number[]> {
  const database = await createEmbeddedDatabase(undefined);
  onCleanup(() => database.close());
  try {
    await migrate(database);
    await insertMeters(database, EMBEDDED_METERS);
    const expectedTotal = await copyReadings(database, dataDir, log, EMBEDDED_METERS);
    await sql`VACUUM ANALYZE`.execute(database.db);
    await maintainBillingRollup(database);
    await sql`VACUUM ANALYZE`.execute(database.db);
    const service = await startBenchService(database);
    try {
      const json = await timeGets(`${service.url}/v1/billing/consumption?period=${PERIOD}`, service.keys.admin, RUNS, REQUEST_TIMEOUT_MS);
      check(json.body as Consumption, expectedTotal, EMBEDDED_METERS);
      log(`embedded GET consumption, ${EMBEDDED_METERS} meters: ${json.ms.map((x) => x.toFixed(0)).join(', ')} ms (load ${loadNow()})`);
      return json.ms;
    } finally {
      await service.close();
    }
  } finally {
    await database.close();
  }
}

export const billingBench: Bench = {
  name: 'billing',
  summary: `GET /v1/billing/consumption for ${METERS} meters × ${HOURS} h (server flavour, raw COPY load), goal < ${GOAL_MS} ms; ${EMBEDDED_METERS} meters on the embedded flavour`,
  timeoutMs: TIMEOUT_MS,
  async run(opts, log, onCleanup) {
    const loadStart = loadNow();
    const bench = await openBenchDatabase(opts.databaseUrl, TIMEOUT_MS, log, onCleanup);
    try {
      const database = bench.database;
      const {
        rows: [server],
      } = await sql<{ version: string; workers: string; sb: string }>`
        SELECT split_part(version(), ' on ', 1) AS version, current_setting('max_parallel_workers_per_gather') AS workers, current_setting('shared_buffers') AS sb`.execute(database.db);
      log(`server: ${server.version}, database ${bench.name}`);
      await insertMeters(database);
      const expectedTotal = await copyReadings(database, opts.dataDir, log);
      await sql`VACUUM ANALYZE readings`.execute(database.db);
      await sql`ANALYZE meters`.execute(database.db);
      // COPY bypasses ingest, which marks the days it writes: maintenance adopts the meters and rolls up all their days.
      const r0 = performance.now();
      const rolled = await maintainBillingRollup(database);
      const rollupMs = performance.now() - r0;
      log(`rollup of ${rolled.adopted} meters, ${rolled.refreshed.toLocaleString('en-US')} meter days: ${(rollupMs / 1000).toFixed(1)} s (load ${loadNow()})`);
      // As autovacuum would: the rollup emptied billing_dirty (300 000 rows) and filled billing_daily and billing_monthly.
      await sql`VACUUM ANALYZE billing_daily, billing_monthly, billing_dirty`.execute(database.db);

      const period = parsePeriod(PERIOD)!;
      const window = { kind: 'period' as const, fromDate: period.fromDate, toDate: period.toDate };
      const sqlMs: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const t0 = performance.now();
        await runBilling(database, { selector: { all: true }, window, readiness: { noDataDays: 3 }, now: Date.now() });
        sqlMs.push(performance.now() - t0);
      }
      log(`figures without HTTP: ${sqlMs.map((x) => x.toFixed(0)).join(', ')} ms (load ${loadNow()})`);

      const service = await startBenchService(database);
      onCleanup(service.close);
      try {
        const url = `${service.url}/v1/billing/consumption?period=${PERIOD}`;
        const json = await timeGets(url, service.keys.admin, RUNS, REQUEST_TIMEOUT_MS);
        check(json.body as Consumption, expectedTotal);
        log(`GET consumption (JSON): ${json.ms.map((x) => x.toFixed(0)).join(', ')} ms (load ${loadNow()})`);
        const dataVersion = (json.body as Consumption).dataVersion;
        const asOf = await timeGets(`${url}&asOf=${encodeURIComponent(dataVersion)}`, service.keys.admin, 1, REQUEST_TIMEOUT_MS);
        check(asOf.body as Consumption, expectedTotal);
        const group = await timeGets(`${url}&group=bench`, service.keys.admin, 1, REQUEST_TIMEOUT_MS);
        log(`asOf=${dataVersion}: ${asOf.ms[0].toFixed(0)} ms; group=: ${group.ms[0].toFixed(0)} ms`);

        const gasMeters = gasMeterCount(opts.flags);
        let gasMs: number[] = [];
        if (gasMeters > 0) {
          const gas = await loadGas(database, { dataDir: opts.dataDir, meters: gasMeters, hours: HOURS, fromMs: FROM_MS.ist, monthFrom: period.fromDate, monthTo: period.toDate });
          log(`gas: COPY of ${gas.rows.toLocaleString('en-US')} rows (volume, temperature, pressure): ${(gas.copyMs / 1000).toFixed(1)} s, rolled up`);
          gasMs = await timeGasPull(service, PERIOD, gas, RUNS, REQUEST_TIMEOUT_MS, log);
        }

        await service.close();
        await bench.drop();
        const embedded = await embeddedPull(opts.dataDir, log, onCleanup);
        const med = median(json.ms);
        const figures: Figure[] = [
          { label: 'GET /v1/billing/consumption (JSON)', values: json.ms, unit: 'ms', better: 'lower', note: `${METERS} meters, ${(METERS * HOURS).toLocaleString('en-US')} rows` },
          { label: 'figures in process (no HTTP)', values: sqlMs, unit: 'ms', better: 'lower', note: 'schedules + one statement + mapping' },
          { label: 'GET … &asOf=<dataVersion>', values: asOf.ms, unit: 'ms', better: 'lower', note: 'rollup rows received by then' },
          { label: 'rollup build after the COPY', values: [rollupMs], unit: 'ms', better: 'lower', note: `${rolled.refreshed} meter days; ingest keeps it current` },
          { label: 'GET … &group=', values: group.ms, unit: 'ms', better: 'lower' },
          ...(gasMs.length
            ? [
                {
                  label: `GET /v1/billing/consumption, ${gasMeters} gas meters (group=)`,
                  values: gasMs,
                  unit: 'ms',
                  better: 'lower' as const,
                  note: `Vm, T, p × ${HOURS} h each → Vb per interval, kWh by calorific value; beside the electricity figure above`,
                },
              ]
            : []),
          {
            label: `embedded: GET /v1/billing/consumption, ${EMBEDDED_METERS} meters`,
            values: embedded,
            unit: 'ms',
            better: 'lower',
            note: `in-memory PGlite, ${(EMBEDDED_METERS * HOURS).toLocaleString('en-US')} rows`,
          },
        ];
        const cpu = cpus();
        return {
          context: [
            `machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average ${loadStart} at start, ${loadNow()} at end`,
            `server: ${server.version}, max_parallel_workers_per_gather=${server.workers}, shared_buffers=${server.sb} (as configured)`,
            `load: ${METERS} meters × ${HOURS} hourly intervals (${PERIOD}) = ${(METERS * HOURS).toLocaleString('en-US')} rows by raw COPY; half three-time, 1 in ${WARSAW_EVERY} in Warsaw, multipliers 1/10/40`,
            `embedded: the same load for ${EMBEDDED_METERS} meters in an in-memory PGlite (one connection, WebAssembly), after the server database is dropped`,
          ],
          figures,
          goals: [{ label: `GET /v1/billing/consumption < ${GOAL_MS} ms`, pass: med < GOAL_MS, detail: `median of ${RUNS}: ${med.toFixed(0)} ms (load ${loadNow()})` }],
        };
      } finally {
        await service.close();
      }
    } finally {
      await bench.drop();
    }
  },
};

/** `--gas-meters N` (0–100 000; default 10 000; 0: no gas variant). */
function gasMeterCount(flags: Readonly<Record<string, string>>): number {
  const text = flags['gas-meters'];
  if (text === undefined) return GAS_METERS;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 100_000) throw new Error(`--gas-meters: a whole number 0–100000, got "${text}"`);
  return n;
}
