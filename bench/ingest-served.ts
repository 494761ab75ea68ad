/**
 * `npm run bench -- ingest`, the served part (issue 14 §1): the product as a
 * user meets it. The real service (`node bin/mdm.js serve`, every component
 * on with its defaults, as `npm start` runs it) in its own process on a
 * fresh server database, Mosquitto as its external broker; the load driven
 * from a second process (bench/ingest-client.ts) over HTTP and over MQTT;
 * the raw text COPY of the same rows from this process, in the same round.
 *
 * Each round: raw text COPY into an empty copy of `readings`; then the
 * readings tables emptied and every request posted (`concurrency` in
 * flight), answers checked; the background work the load queued (VEE's
 * meter days, billing's dirty days) waited for; then the same rows again as
 * MQTT gateway messages through Mosquitto, each acknowledged by the service
 * after its commit, and the background waited for again. CPU per row of the
 * service process (all its threads) and of the database backends is read
 * from /proc for each phase.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { createApiKey } from '../sql/api-key.repository.js';
import type { Database } from '../sql/database.js';
import { loadNow, type BenchOptions } from './bench.js';
import { checkpoint, emptyLoadTables, openBenchDatabase } from './bench-database.js';
import { registerMeters } from './bench-service.js';
import { forgetSession } from './chaos-clients.js';
import { freePort, ServiceProcess } from './chaos-service.js';
import { timeRawCopy, type StoredRows } from './copy-baseline.js';
import { startCpuMeter, type CpuUse } from './cpu-meter.js';
import type { ClientAnswer, ClientCommand } from './ingest-client.js';

export const MOSQUITTO_URL = 'mqtt://127.0.0.1:1883';
const CLIENT = fileURLToPath(new URL('./ingest-client.ts', import.meta.url));
export const REQUEST_TIMEOUT_MS = 120_000;
const MQTT_TIMEOUT_MS = 300_000;
const CATCH_UP_TIMEOUT_MS = 180_000;
/** Meters per MQTT gateway message: 5 × 720 h = 3 600 rows, about the service's MQTT batch (MQTT_BATCH_MAX_ROWS 5 000). */
const METERS_PER_MESSAGE = 5;
const MQTT_PUBLISHERS = 4;
/** Messages awaiting the service's ack at once (the broker queues the rest for the service's session). */
const MQTT_WINDOW = 24;

/** One phase's figures: wall time, and CPU µs per row of the service process and the database backends. */
export interface ServedPhase {
  readonly rowsPerS: number[];
  readonly serviceCpu: number[];
  readonly backendCpu: number[];
  /** Client process CPU µs per row (not the service's: reported to show it is small). */
  readonly clientCpu: number[];
}

export interface CatchUp {
  /** Seconds from the end of the load until VEE's queue and billing's dirty days were empty. */
  readonly s: number[];
  /** The load's own seconds, for the goal "caught up within the time the ingest took". */
  readonly loadS: number[];
  /** CPU of the service and the backends in that time, µs per row of the load. */
  readonly cpu: number[];
}

export interface ServedRun {
  readonly copyText: ServedPhase;
  readonly http: ServedPhase;
  readonly mqtt: ServedPhase;
  readonly httpCatchUp: CatchUp;
  readonly mqttCatchUp: CatchUp;
  readonly serviceLog: string;
  readonly rows: number;
  readonly settings: string;
}

export const phase = (): ServedPhase => ({ rowsPerS: [], serviceCpu: [], backendCpu: [], clientCpu: [] });
const catchUp = (): CatchUp => ({ s: [], loadS: [], cpu: [] });

/** Node's flags in package.json's `start` script (`node <flags> bin/mdm.js serve`): the service is measured as `npm start` runs it. */
export function startScriptNodeArgs(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.split(/\s+/);
  const bin = words.indexOf('bin/mdm.js');
  if (words[0] !== 'node' || bin < 0 || words[bin + 1] !== 'serve') throw new Error(`package.json start script is not "node … bin/mdm.js serve": ${pkg.scripts.start}`);
  return words.slice(1, bin);
}

/** The client process, one command at a time. */
export class Client {
  private readonly child: ChildProcess;
  private waiting: ((a: ClientAnswer) => void) | undefined;

  constructor() {
    this.child = fork(CLIENT, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (a: ClientAnswer) => this.waiting?.(a));
    this.child.on('exit', (code) => this.waiting?.({ error: `client exited with code ${code}` }));
  }

  get pid(): number {
    return this.child.pid!;
  }

  async send<K extends ClientCommand['cmd']>(c: Extract<ClientCommand, { cmd: K }>): Promise<Extract<ClientAnswer, { ok: K }>> {
    const answer = await new Promise<ClientAnswer>((resolve) => {
      this.waiting = resolve;
      this.child.send(c);
    });
    this.waiting = undefined;
    if ('error' in answer) throw new Error(`ingest client (${c.cmd}): ${answer.error}`);
    if (answer.ok !== c.cmd) throw new Error(`ingest client answered ${answer.ok} to ${c.cmd}`);
    return answer as Extract<ClientAnswer, { ok: K }>;
  }

  close(): void {
    if (this.child.connected) this.child.disconnect();
    this.child.kill();
  }
}

/** The load's tables emptied and the previous phase's dirty pages flushed (the service keeps running). */
export async function freshTables(database: Database): Promise<void> {
  await emptyLoadTables(database);
  await checkpoint(database);
}

/** Background work the load queued and that is not done yet: VEE meter days and billing dirty days. */
async function backlog(database: Database): Promise<number> {
  const {
    rows: [r],
  } = await sql<{ n: number }>`SELECT (SELECT count(*) FROM vee_queue)::int + (SELECT count(*) FROM billing_dirty)::int AS n`.execute(database.db);
  return r.n;
}

/** Waits until the backlog is empty; returns seconds since `since` (performance.now()). */
export async function waitCaughtUp(database: Database, since: number): Promise<number> {
  for (;;) {
    if ((await backlog(database)) === 0) return (performance.now() - since) / 1000;
    if (performance.now() - since > CATCH_UP_TIMEOUT_MS) throw new Error(`background work not caught up within ${CATCH_UP_TIMEOUT_MS / 1000} s of the load`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function record(p: ServedPhase, rows: number, ms: number, use: CpuUse, clientCpuS: number): void {
  p.rowsPerS.push((rows / ms) * 1000);
  if (use.processes !== null) p.serviceCpu.push((use.processes / rows) * 1e6);
  if (use.backend !== null) p.backendCpu.push((use.backend / rows) * 1e6);
  p.clientCpu.push((clientCpuS / rows) * 1e6);
}

/** Times the background catch-up after a load of `rows` that took `loadMs`. */
async function recordCatchUp(c: CatchUp, database: Database, servicePid: number, rows: number, loadMs: number): Promise<void> {
  const t0 = performance.now();
  const stop = await startCpuMeter(database, [servicePid]);
  c.s.push(await waitCaughtUp(database, t0));
  const use = await stop();
  c.loadS.push(loadMs / 1000);
  c.cpu.push((((use.processes ?? 0) + (use.backend ?? 0)) / rows) * 1e6);
}

/**
 * The served measurement. `stored` gives the raw COPY's rows (meter ids as
 * the database assigned them: computed after the meters are registered).
 */
export async function measureServed(
  opts: BenchOptions,
  meterIds: readonly string[],
  storedOf: (database: Database) => Promise<StoredRows>,
  log: (line: string) => void,
  onCleanup: (fn: () => Promise<void>) => void,
): Promise<ServedRun> {
  const bench = await openBenchDatabase(opts.databaseUrl, 15 * 60_000, log, onCleanup);
  const database = bench.database;
  const dataDir = mkdtempSync(join(tmpdir(), 'mdm-ingest-served-'));
  const [port, mqttPort] = [await freePort(), await freePort()];
  const run = `${Date.now()}-${process.pid}`;
  const clientId = `mdm-bench-ingest-${run}`;
  const adminKey = `bench-admin-${randomBytes(16).toString('hex')}`;
  const serviceLog = join(tmpdir(), `mdm-ingest-served-${run}.log`);
  const service = new ServiceProcess(
    {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmpdir(),
      DATABASE_URL: bench.url,
      HOST: '127.0.0.1',
      PORT: String(port),
      MQTT_PORT: String(mqttPort), // unused with MQTT_URL; keeps a stray embedded broker off 1883
      MQTT_URL: MOSQUITTO_URL,
      MQTT_CLIENT_ID: clientId,
      MDM_DATA_DIR: dataDir,
      MDM_BOOTSTRAP_ADMIN_KEY: adminKey,
    },
    serviceLog,
    // Node's flags as `npm start` gives them, then e.g. INGEST_SERVICE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof"
    [...startScriptNodeArgs(), ...(process.env.INGEST_SERVICE_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [])],
  );
  const client = new Client();
  const cleanup = async () => {
    client.close();
    await service.stop();
    await forgetSession(MOSQUITTO_URL, clientId).catch(() => {});
    rmSync(dataDir, { recursive: true, force: true });
    await bench.drop();
  };
  onCleanup(cleanup);
  try {
    const {
      rows: [{ sc, sb }],
    } = await sql<{ sc: string; sb: string }>`SELECT current_setting('synchronous_commit') AS sc, current_setting('shared_buffers') AS sb`.execute(database.db);
    // Diagnosis: INGEST_DB_LOG_MS=0 logs every statement of the bench database with its duration to the server's log.
    const logMs = process.env.INGEST_DB_LOG_MS;
    if (logMs !== undefined && /^\d+$/.test(logMs)) await sql`ALTER DATABASE ${sql.id(bench.name)} SET log_min_duration_statement = ${sql.lit(Number(logMs))}`.execute(database.db);
    await service.start();
    const pid = service.pid!;
    log(`served: mdm serve pid ${pid} on :${port}, database ${bench.name}, broker ${MOSQUITTO_URL}; its log: ${serviceLog}`);
    const prepared = await client.send({ cmd: 'prepare', dataDir: opts.dataDir, meters: opts.meters, days: opts.days, batchRows: opts.batchRows, metersPerMessage: METERS_PER_MESSAGE });
    if (prepared.meterIds.join() !== meterIds.join()) throw new Error('the client built other meters than the bench');
    const keys = {
      admin: adminKey,
      gateway: (await createApiKey(database, { name: 'bench-gateway', role: 'gateway' })).key,
      trader: '',
    };
    await registerMeters({ url: `http://127.0.0.1:${port}`, keys, close: async () => {} }, meterIds, 'bench', 'Europe/Istanbul');
    const stored = await storedOf(database);
    const rows = prepared.rows;
    const http = (share: number) => client.send({ cmd: 'http', url: `http://127.0.0.1:${port}/v1/readings`, key: keys.gateway, concurrency: opts.concurrency, share, timeoutMs: REQUEST_TIMEOUT_MS });
    const checkHttp = (t: Extract<ClientAnswer, { ok: 'http' }>, expected: number) => {
      const s = t.totals;
      if (s.accepted !== expected || s.unchanged || s.superseded || s.rejected) throw new Error(`served HTTP: expected ${expected} accepted rows, got ${JSON.stringify(s)}`);
    };

    // Warm-up, not timed: a tenth of the requests and of the messages, then the background work they queued.
    checkHttp(await http(0.1), Math.min(rows, Math.ceil(prepared.requests / 10) * opts.batchRows));
    await waitCaughtUp(database, performance.now());
    await freshTables(database);

    const out: ServedRun = {
      copyText: phase(),
      http: phase(),
      mqtt: phase(),
      httpCatchUp: catchUp(),
      mqttCatchUp: catchUp(),
      serviceLog,
      rows,
      settings: `synchronous_commit=${sc}, shared_buffers=${sb}`,
    };
    for (let round = 1; round <= opts.rounds; round++) {
      await freshTables(database);
      {
        const stop = await startCpuMeter(database, [pid]);
        const ms = await timeRawCopy(database, stored, 'text');
        record(out.copyText, rows, ms, await stop(), 0);
      }
      await freshTables(database);
      {
        const stop = await startCpuMeter(database, [pid]);
        const t = await http(1);
        const use = await stop();
        checkHttp(t, rows);
        record(out.http, rows, t.totals.ms, use, t.cpuS);
        await recordCatchUp(out.httpCatchUp, database, pid, rows, t.totals.ms);
      }
      await freshTables(database);
      {
        const stop = await startCpuMeter(database, [pid]);
        const t = await client.send({ cmd: 'mqtt', url: MOSQUITTO_URL, run, publishers: MQTT_PUBLISHERS, window: MQTT_WINDOW, timeoutMs: MQTT_TIMEOUT_MS });
        const use = await stop();
        if (t.stored !== rows || t.rejected) throw new Error(`served MQTT: expected ${rows} stored rows, got ${t.stored} stored, ${t.rejected} rejected (${t.reasons.join('; ')})`);
        record(out.mqtt, rows, t.ms, use, t.cpuS);
        await recordCatchUp(out.mqttCatchUp, database, pid, rows, t.ms);
      }
      const last = (xs: number[]) => Math.round(xs[xs.length - 1]).toLocaleString('en-US');
      const lastF = (xs: number[]) => xs[xs.length - 1].toFixed(1);
      log(
        `served round ${round}/${opts.rounds}: COPY text ${last(out.copyText.rowsPerS)} rows/s; HTTP ${last(out.http.rowsPerS)} rows/s ` +
          `(service ${lastF(out.http.serviceCpu)} + db ${lastF(out.http.backendCpu)} µs/row, caught up ${lastF(out.httpCatchUp.s)} s after); ` +
          `MQTT ${last(out.mqtt.rowsPerS)} rows/s (service ${lastF(out.mqtt.serviceCpu)} + db ${lastF(out.mqtt.backendCpu)} µs/row, caught up ${lastF(out.mqttCatchUp.s)} s after) (load ${loadNow()})`,
      );
    }
    return out;
  } finally {
    await cleanup();
  }
}
