import { cpus, totalmem } from 'node:os';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { sql } from 'kysely';
import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { createMqttComponent, type CommittedMessage, type MqttComponent } from '../adapters/mqtt/component.js';
import { loadConfig } from '../models/config.js';
import { createApiKey } from '../sql/api-key.repository.js';
import type { Database } from '../sql/database.js';
import { freePort } from './chaos-service.js';
import { loadNow, median, percentile, type Bench, type BenchOptions, type Figure, type Goal } from './bench.js';
import { openBenchDatabase } from './bench-database.js';
import { registerMeters, startBenchService, type BenchService } from './bench-service.js';
import { BENCH_TZ, makeLoadProfile, type LoadProfile } from './load-profile.js';
import { postBatches } from './post-batches.js';

/**
 * Issue 3 "Benchmark": 1 000 meters × 24 h hourly published over MQTT, as
 * per-meter messages and as gateway batches, through Mosquitto on loopback
 * and through the embedded broker; readings/s from the first publish to the
 * last row committed, publish→committed latency per message, and POST
 * /v1/readings on the same rows in the same run as the baseline.
 */
const MOSQUITTO_URL = 'mqtt://127.0.0.1:1883';
const TIMEOUT_MS = 10 * 60_000;
const RUN_TIMEOUT_MS = 120_000;
const PUBLISHERS = 4; // gateway connections publishing at once
const METERS_PER_GATEWAY_MESSAGE = 100; // 2 400 rows per gateway message
const GOAL_RATIO = 0.8;
const GOAL_RATE = 50_000;

type Shape = 'per-meter' | 'gateway';
type Broker = 'mosquitto' | 'embedded';

interface Message {
  readonly topic: string;
  readonly body: Buffer;
  readonly rows: number;
  /** Publishing connection. */
  readonly publisher: number;
}

interface RunResult {
  readonly rate: number;
  readonly p50: number;
  readonly p99: number;
}

const gatewayId = (k: number) => `bench-gw-${k}`;

/** The same rows as MQTT messages: one per meter (rows without `meter`), or one per 100 meters on a gateway topic. */
function mqttMessages(profile: LoadProfile, shape: Shape): Message[] {
  const out: Message[] = [];
  const byMeter = (m: number) => profile.rows.slice(m * profile.hours, (m + 1) * profile.hours);
  if (shape === 'per-meter') {
    profile.meterIds.forEach((id, m) => {
      const rows = byMeter(m).map((r) => ({ channel: r.channel, start: r.start, value: r.value }));
      out.push({ topic: `mdm/v1/meters/${id}/readings`, body: Buffer.from(JSON.stringify(rows)), rows: rows.length, publisher: m % PUBLISHERS });
    });
  } else {
    for (let m = 0, g = 0; m < profile.meterIds.length; m += METERS_PER_GATEWAY_MESSAGE, g++) {
      const rows = profile.rows.slice(m * profile.hours, (m + METERS_PER_GATEWAY_MESSAGE) * profile.hours);
      const k = g % PUBLISHERS;
      out.push({ topic: `mdm/v1/gateways/${gatewayId(k)}/readings`, body: Buffer.from(JSON.stringify(rows)), rows: rows.length, publisher: k });
    }
  }
  return out;
}

/** The same rows as POST /v1/readings bodies, shaped like the MQTT messages. */
function httpBodies(profile: LoadProfile, shape: Shape): Uint8Array<ArrayBuffer>[] {
  const per = shape === 'per-meter' ? profile.hours : METERS_PER_GATEWAY_MESSAGE * profile.hours;
  const utf8 = new TextEncoder();
  const out: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i < profile.rows.length; i += per) out.push(utf8.encode(JSON.stringify({ readings: profile.rows.slice(i, i + per) })));
  return out;
}

function connect(url: string, opts: mqtt.IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => {
      c.end(true);
      reject(err);
    });
  });
}

async function emptyReadings(database: Database): Promise<void> {
  await sql`TRUNCATE readings, reading_history, ingest_batches, rejects`.execute(database.db);
  if (database.engine === 'pg') await sql`CHECKPOINT`.execute(database.db).catch(() => {});
}

async function storedCount(database: Database): Promise<{ readings: number; rejects: number }> {
  const { rows } = await sql<{ readings: number; rejects: number }>`SELECT (SELECT count(*) FROM readings)::int AS readings, (SELECT count(*) FROM rejects)::int AS rejects`.execute(database.db);
  return rows[0];
}

/**
 * One measured MQTT run: the service's MQTT component and the publishers are
 * connected before the clock starts; every message is published at once
 * (QoS 1) and the run ends when the component has committed the last one.
 */
async function mqttRun(database: Database, broker: Broker, messages: readonly Message[], gatewayKeys: readonly string[], onCleanup: (fn: () => Promise<void>) => void): Promise<RunResult> {
  const run = `${process.pid}-${Date.now().toString(36)}`;
  const port = broker === 'embedded' ? await freePort() : 0;
  const env: Record<string, string> =
    broker === 'embedded' ? { MQTT_PORT: String(port), HOST: '127.0.0.1' } : { MQTT_URL: MOSQUITTO_URL, MQTT_CLIENT_ID: `mdm-bench-${run}`, MQTT_SHARE_GROUP: `bench-${run}` };
  const published = new Map<string, number[]>(); // topic → publish times, FIFO (one publisher per topic keeps order)
  const latencies: number[] = [];
  const total = messages.reduce((a, m) => a + m.rows, 0);
  let committedRows = 0;
  let lastCommit = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  const onCommitted = (batch: readonly CommittedMessage[]) => {
    const now = performance.now();
    for (const m of batch) {
      const t = published.get(m.topic)?.shift();
      if (t !== undefined) latencies.push(now - t);
      committedRows += m.outcome.stored + m.outcome.rejected.length;
    }
    lastCommit = now;
    if (committedRows >= total) done();
  };
  const component: MqttComponent = createMqttComponent({ config: loadConfig(env), database, listeners: ALARM_LISTENERS, onCommitted });
  const clients: MqttClient[] = [];
  const cleanup = async () => {
    for (const c of clients.splice(0)) await c.endAsync(true).catch(() => {});
    await component.stop().catch(() => {});
    if (broker === 'mosquitto') {
      // Remove the bench's persistent session from the broker.
      const c = await connect(MOSQUITTO_URL, { clientId: `mdm-bench-${run}`, clean: true, protocolVersion: 5, properties: { sessionExpiryInterval: 0 } }).catch(() => undefined);
      await c?.endAsync();
    }
  };
  onCleanup(cleanup);
  try {
    await component.start();
    const url = broker === 'embedded' ? `mqtt://127.0.0.1:${port}` : MOSQUITTO_URL;
    for (let k = 0; k < PUBLISHERS; k++) {
      const auth = broker === 'embedded' ? { username: gatewayId(k), password: gatewayKeys[k] } : {};
      clients.push(await connect(url, { clientId: `bench-pub-${run}-${k}`, clean: true, ...auth }));
    }
    const t0 = performance.now();
    for (const m of messages) {
      let times = published.get(m.topic);
      if (!times) published.set(m.topic, (times = []));
      times.push(performance.now());
      clients[m.publisher].publish(m.topic, m.body, { qos: 1 });
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      finished,
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`${broker}: ${committedRows}/${total} rows committed after ${RUN_TIMEOUT_MS / 1000} s`)), RUN_TIMEOUT_MS))),
    ]).finally(() => clearTimeout(timer));
    return { rate: (total / (lastCommit - t0)) * 1000, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  } finally {
    await cleanup();
  }
}

async function checkStored(database: Database, expected: number, tag: string): Promise<void> {
  const c = await storedCount(database);
  if (c.readings !== expected || c.rejects !== 0) throw new Error(`${tag}: expected ${expected} readings and no rejects, found ${c.readings} readings and ${c.rejects} rejects`);
}

async function mosquittoReachable(): Promise<string | null> {
  try {
    const c = await connect(MOSQUITTO_URL, { clientId: `bench-probe-${process.pid}` });
    await c.endAsync();
    return null;
  } catch (err) {
    return (err as Error).message || 'connection refused';
  }
}

export const mqttBench: Bench = {
  name: 'mqtt',
  summary: 'MQTT ingest (Mosquitto and embedded broker, per-meter and gateway messages) vs POST /v1/readings on the same rows',
  timeoutMs: TIMEOUT_MS,
  async run(opts: BenchOptions, log, onCleanup) {
    const loadStart = loadNow();
    const profile = makeLoadProfile(opts.dataDir, opts.meters, 1);
    const n = profile.rows.length;
    log(`data: ${opts.meters} meters × 24 h hourly = ${n} rows from ${profile.buildings} Cambridge buildings (2019), ${BENCH_TZ}`);
    const mosquittoDown = await mosquittoReachable();
    if (mosquittoDown) log(`Mosquitto not reachable at ${MOSQUITTO_URL} (${mosquittoDown}): measuring the embedded broker only`);
    const brokers: Broker[] = mosquittoDown ? ['embedded'] : ['mosquitto', 'embedded'];

    const bench = await openBenchDatabase(opts.databaseUrl, TIMEOUT_MS, log, onCleanup);
    let service: BenchService | undefined;
    const values = new Map<string, number[]>();
    const push = (label: string, v: number) => values.set(label, [...(values.get(label) ?? []), v]);
    let version = '';
    try {
      const database = bench.database;
      [{ version }] = (await sql<{ version: string }>`SELECT split_part(version(), ' on ', 1) AS version`.execute(database.db)).rows;
      service = await startBenchService(database);
      onCleanup(service.close);
      await registerMeters(service, profile.meterIds, 'bench', BENCH_TZ);
      const gatewayKeys: string[] = [];
      for (let k = 0; k < PUBLISHERS; k++) gatewayKeys.push((await createApiKey(database, { name: gatewayId(k), role: 'gateway' })).key);
      const shapes: Shape[] = ['per-meter', 'gateway'];
      const mqttMsgs = { 'per-meter': mqttMessages(profile, 'per-meter'), gateway: mqttMessages(profile, 'gateway') };
      const bodies = { 'per-meter': httpBodies(profile, 'per-meter'), gateway: httpBodies(profile, 'gateway') };

      for (let round = 1; round <= opts.rounds; round++) {
        const line: string[] = [];
        for (const shape of shapes) {
          await emptyReadings(database);
          const t = await postBatches(`${service.url}/v1/readings`, service.keys.gateway, bodies[shape], opts.concurrency, RUN_TIMEOUT_MS);
          if (t.accepted !== n || t.rejected) throw new Error(`HTTP ${shape}: expected ${n} accepted rows, got ${JSON.stringify(t)}`);
          push(`HTTP ${shape}`, (n / t.ms) * 1000);
          line.push(`HTTP ${shape} ${Math.round((n / t.ms) * 1000)}/s`);
          for (const broker of brokers) {
            await emptyReadings(database);
            const r = await mqttRun(database, broker, mqttMsgs[shape], gatewayKeys, onCleanup);
            await checkStored(database, n, `${broker} ${shape}`);
            push(`${broker} ${shape}`, r.rate);
            push(`${broker} ${shape} p50`, r.p50);
            push(`${broker} ${shape} p99`, r.p99);
            line.push(`${broker} ${shape} ${Math.round(r.rate)}/s p50 ${r.p50.toFixed(0)} ms p99 ${r.p99.toFixed(0)} ms`);
          }
        }
        log(`round ${round}/${opts.rounds}: ${line.join(', ')} (load ${loadNow()})`);
      }
    } finally {
      await service?.close();
      await bench.drop();
    }

    const figures: Figure[] = [];
    const goals: Goal[] = [];
    const perMessage = { 'per-meter': `${opts.meters} messages × 24 rows`, gateway: `${opts.meters / METERS_PER_GATEWAY_MESSAGE} messages × ${METERS_PER_GATEWAY_MESSAGE * 24} rows` };
    for (const shape of ['per-meter', 'gateway'] as const) {
      figures.push({
        label: `HTTP ${shape}`,
        values: values.get(`HTTP ${shape}`)!,
        unit: 'readings/s',
        better: 'higher',
        note: `POST /v1/readings, ${perMessage[shape].replace('messages', 'requests')}, ${opts.concurrency} in flight`,
      });
      for (const broker of brokers) {
        const label = `${broker} ${shape}`;
        figures.push({ label, values: values.get(label)!, unit: 'readings/s', better: 'higher', baselines: [`HTTP ${shape}`], note: `${perMessage[shape]}, ${PUBLISHERS} publishers, QoS 1` });
        figures.push({ label: `${label} p50`, values: values.get(`${label} p50`)!, unit: 'ms', better: 'lower', note: 'publish → committed' });
        figures.push({ label: `${label} p99`, values: values.get(`${label} p99`)!, unit: 'ms', better: 'lower' });
        const rate = median(values.get(label)!);
        const http = median(values.get(`HTTP ${shape}`)!);
        goals.push({
          label: `${label} ≥ ${GOAL_RATIO}× HTTP`,
          pass: rate >= GOAL_RATIO * http,
          detail: `${Math.round(rate).toLocaleString('en-US')} / ${Math.round(http).toLocaleString('en-US')} = ${(rate / http).toFixed(2)}× (medians)`,
        });
        goals.push({
          label: `${label} ≥ ${GOAL_RATE.toLocaleString('en-US')} readings/s`,
          pass: rate >= GOAL_RATE,
          detail: `${Math.round(rate).toLocaleString('en-US')} readings/s (median of ${opts.rounds})`,
        });
      }
    }
    if (mosquittoDown) goals.push({ label: 'Mosquitto measured', pass: false, detail: `not reachable at ${MOSQUITTO_URL}: ${mosquittoDown}` });
    const cpu = cpus();
    return {
      context: [
        `machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average ${loadStart} at start, ${loadNow()} at end`,
        `database: ${version} (fresh database per run, dropped at the end); brokers: ${brokers.map((b) => (b === 'mosquitto' ? `Mosquitto at ${MOSQUITTO_URL}` : 'embedded aedes')).join(', ')}`,
        `load: ${opts.meters} meters × 24 h hourly = ${n} readings per run, ${opts.rounds} round(s), emptied tables before each run; MQTT batches: defaults (5000 rows / 25 ms)`,
        'readings/s: first publish → last row committed (MQTT), first request → last answer (HTTP); latency: publish → the batch holding the message committed and acknowledged',
      ],
      figures,
      goals,
    };
  },
};
