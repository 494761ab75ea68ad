/**
 * `npm run bench -- scale` (issue 19): HTTP ingest into one and into two
 * `mdm serve` instances on the same PostgreSQL database, each instance a
 * process of its own with every component on (as `npm start` runs it, MQTT
 * off), the load from a client process (bench/ingest-client.ts) that sends
 * request n to instance n mod 2. Each round: fresh tables, the whole load
 * into instance A, background work waited for; fresh tables, the whole load
 * split across A and B, waited for again. Rows per second and CPU per row
 * of each instance, the database backends and the client, from /proc.
 *
 * On the 2-core machine this runs on, the service and PostgreSQL already
 * share both cores with one instance: a second instance cannot add cores,
 * only overlap; expect far from 2× and read the CPU shares.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createApiKey } from '../sql/api-key.repository.js';
import { loadNow, median, type Bench, type BenchOptions, type BenchReport } from './bench.js';
import { openBenchDatabase } from './bench-database.js';
import { registerMeters } from './bench-service.js';
import { freePort, ServiceProcess } from './chaos-service.js';
import { procCpu, startCpuMeter } from './cpu-meter.js';
import { Client, freshTables, REQUEST_TIMEOUT_MS, startScriptNodeArgs, waitCaughtUp } from './ingest-served.js';

const TIMEOUT_MS = 20 * 60_000;

interface Round {
  readonly rowsPerS: number;
  /** µs of CPU per row: each instance, the database backends, the client. */
  readonly cpu: { readonly instances: readonly number[]; readonly backend: number; readonly client: number };
  readonly caughtUpS: number;
}

export const scaleBench: Bench = {
  name: 'scale',
  summary: 'HTTP ingest into 1 and 2 mdm serve instances on one database (processes of their own, every component on)',
  timeoutMs: TIMEOUT_MS,
  async run(opts: BenchOptions, log, onCleanup): Promise<BenchReport> {
    const bench = await openBenchDatabase(opts.databaseUrl, TIMEOUT_MS, log, onCleanup);
    const { database } = bench;
    const run = `${Date.now()}-${process.pid}`;
    const adminKey = `bench-admin-${randomBytes(16).toString('hex')}`;
    const instance = async (name: string) => {
      const dataDir = mkdtempSync(join(tmpdir(), `mdm-scale-${name}-`));
      const port = await freePort();
      const env = {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? tmpdir(),
        DATABASE_URL: bench.url,
        HOST: '127.0.0.1',
        PORT: String(port),
        MQTT_PORT: '0', // MQTT off: this bench measures HTTP
        MDM_DATA_DIR: dataDir,
        MDM_BOOTSTRAP_ADMIN_KEY: adminKey,
      };
      const service = new ServiceProcess(env, join(tmpdir(), `mdm-scale-${name}-${run}.log`), startScriptNodeArgs());
      return { name, service, port, url: `http://127.0.0.1:${port}`, dataDir };
    };
    const a = await instance('a');
    const b = await instance('b');
    const client = new Client();
    onCleanup(async () => {
      client.close();
      for (const i of [a, b]) {
        await i.service.stop();
        rmSync(i.dataDir, { recursive: true, force: true });
      }
      await bench.drop();
    });
    try {
      await a.service.start();
      const prepared = await client.send({ cmd: 'prepare', dataDir: opts.dataDir, meters: opts.meters, days: opts.days, batchRows: opts.batchRows, metersPerMessage: 5 });
      const gateway = (await createApiKey(database, { name: 'bench-gateway', role: 'gateway' })).key;
      await registerMeters({ url: a.url, keys: { admin: adminKey, gateway, trader: '' }, close: async () => {} }, prepared.meterIds, 'bench', 'Europe/Istanbul');
      await b.service.start();
      log(
        `scale: instances a (pid ${a.service.pid}, :${a.port}) and b (pid ${b.service.pid}, :${b.port}) on ${bench.name}; ${prepared.rows.toLocaleString('en-US')} rows in ${prepared.requests} requests`,
      );
      // Concurrency: the same requests in flight in total, at least one per instance.
      const concurrency = Math.max(2, opts.concurrency);
      const load = async (targets: readonly (typeof a)[], share = 1): Promise<Round> => {
        await freshTables(database);
        const stop = await startCpuMeter(
          database,
          targets.map((t) => t.service.pid!),
        );
        const perPid = targets.map((t) => ({ t, before: procCpu(t.service.pid!) ?? 0 }));
        const t = await client.send({ cmd: 'http', url: targets.map((x) => `${x.url}/v1/readings`), key: gateway, concurrency, share, timeoutMs: REQUEST_TIMEOUT_MS });
        const use = await stop();
        const rows = t.totals.accepted;
        if (share === 1 && (rows !== prepared.rows || t.totals.rejected || t.totals.unchanged)) throw new Error(`scale: expected ${prepared.rows} accepted rows, got ${JSON.stringify(t.totals)}`);
        const instances = perPid.map((p) => (((procCpu(p.t.service.pid!) ?? p.before) - p.before) / rows) * 1e6);
        const caughtUpS = await waitCaughtUp(database, performance.now());
        return { rowsPerS: (rows / t.totals.ms) * 1000, cpu: { instances, backend: ((use.backend ?? 0) / rows) * 1e6, client: (t.cpuS / rows) * 1e6 }, caughtUpS };
      };
      await load([a, b], 0.1); // warm-up of both instances, not timed
      const one: Round[] = [];
      const two: Round[] = [];
      for (let round = 1; round <= opts.rounds; round++) {
        one.push(await load([a]));
        two.push(await load([a, b]));
        const [x, y] = [one.at(-1)!, two.at(-1)!];
        log(
          `scale round ${round}/${opts.rounds}: 1 instance ${Math.round(x.rowsPerS).toLocaleString('en-US')} rows/s (service ${x.cpu.instances[0].toFixed(1)} + db ${x.cpu.backend.toFixed(1)} µs/row); ` +
            `2 instances ${Math.round(y.rowsPerS).toLocaleString('en-US')} rows/s (services ${y.cpu.instances.map((c) => c.toFixed(1)).join(' + ')} + db ${y.cpu.backend.toFixed(1)} µs/row) (load ${loadNow()})`,
        );
      }
      const ratio = median(two.map((r) => r.rowsPerS)) / median(one.map((r) => r.rowsPerS));
      return {
        context: [
          `two mdm serve processes (node ${startScriptNodeArgs().join(' ')} bin/mdm.js serve, every component on, MQTT off) on one PostgreSQL database; the client in its own process, request n to instance n mod 2`,
          `load: ${opts.meters} meters × ${opts.days} days hourly = ${prepared.rows.toLocaleString('en-US')} rows, ${opts.batchRows} rows per request, ${concurrency} in flight in total, ${opts.rounds} round(s), fresh tables each`,
        ],
        figures: [
          { label: '1 instance: POST /v1/readings', values: one.map((r) => r.rowsPerS), unit: 'rows/s', better: 'higher' },
          { label: '2 instances: POST /v1/readings (split)', values: two.map((r) => r.rowsPerS), unit: 'rows/s', better: 'higher', baselines: ['1 instance: POST /v1/readings'] },
          { label: '1 instance: CPU of the instance', values: one.map((r) => r.cpu.instances[0]), unit: 'µs/row', better: 'lower' },
          { label: '1 instance: CPU of the database backends', values: one.map((r) => r.cpu.backend), unit: 'µs/row', better: 'lower' },
          { label: '2 instances: CPU of instance a', values: two.map((r) => r.cpu.instances[0]), unit: 'µs/row', better: 'lower' },
          { label: '2 instances: CPU of instance b', values: two.map((r) => r.cpu.instances[1]), unit: 'µs/row', better: 'lower' },
          { label: '2 instances: CPU of the database backends', values: two.map((r) => r.cpu.backend), unit: 'µs/row', better: 'lower' },
          { label: '1 instance: background caught up after the load', values: one.map((r) => r.caughtUpS), unit: 's', better: 'lower' },
          { label: '2 instances: background caught up after the load', values: two.map((r) => r.caughtUpS), unit: 's', better: 'lower' },
        ],
        goals: [],
        notes: [
          `2 instances / 1 instance: ${ratio.toFixed(2)}× (median rows/s). On ${cpus().length} cores the instances and PostgreSQL share the same CPUs: a second instance overlaps the first's waits, it cannot add cores (load ${loadNow()} at the end)`,
        ],
      };
    } finally {
      client.close();
      for (const i of [a, b]) {
        await i.service.stop();
        rmSync(i.dataDir, { recursive: true, force: true });
      }
      await bench.drop();
    }
  },
};
