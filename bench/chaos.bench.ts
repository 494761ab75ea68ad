import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { z } from 'zod';
import { sql } from 'kysely';
import { createApiKey } from '../sql/api-key.repository.js';
import { loadNow, percentile, type Bench, type BenchOptions, type Figure, type Goal } from './bench.js';
import { openBenchDatabase } from './bench-database.js';
import { forgetSession, HttpPool, MqttLoad, newTally, sendUntilAnswered, type HttpTally } from './chaos-clients.js';
import { chaosMeterId, ChaosData, markerMeters, PoisonDealer, type PoisonItem } from './chaos-load.js';
import { planHours, type Plan } from './chaos-plan.js';
import { POISON_KINDS } from './chaos-poison.js';
import { freePort, ServiceProcess } from './chaos-service.js';
import { Traffic } from './chaos-traffic.js';
import { judgeMemory, type MemoryVerdict } from './chaos-memory.js';
import { checkGoodRows, checkIntegrity, lastDeadLetterId, readDeadLetters, type DeadLetters, type GoodCheck } from './chaos-verify.js';
import { BENCH_TZ } from './load-profile.js';

/**
 * Issue 11 "Proof": hostile input never stops the pipeline. The service runs
 * as its own process (`node bin/mdm.js serve`, PostgreSQL server, Mosquitto
 * as external broker) and gets 1 000 meters of hourly readings over HTTP and
 * MQTT with 1 % poison of every kind in bench/chaos-poison.ts mixed in, while
 * it is killed with `kill -9` and started again (same database and port):
 *
 * 1. chaos: `--hours` of data (default 72) for every meter, `--kills` kills
 *    (default 3) at even shares of the progress. Then: acknowledged rows lost
 *    (0), good rows stored (100 %), poison dead-lettered or refused with a
 *    reason (100 %, per kind), duplicates and extra versions (0), 5xx (0),
 *    p99 acknowledgement latency, peak RSS.
 * 2. soak: the maximum ingest rate of the same traffic measured for
 *    `--probe-s` (default 20), then `--soak-s` (default 300) at half of it
 *    with readers (readings, aggregate, rejects) running; the service's RSS
 *    sampled every `--sample-s` (default 2) and its heap after each garbage
 *    collection read from `--trace-gc`: after the first 20 %, memory that
 *    stays (live heap after full collections, RSS outside V8's heap) must not
 *    grow (bench/chaos-memory.ts).
 */
const MOSQUITTO_URL = 'mqtt://127.0.0.1:1883';
const POISON_RATE = 0.01;
/** MQTT messages waiting for the service's ack at once: below Mosquitto's max_queued_messages (1 000). */
const ACK_WINDOW = 200;
/** After the last publish: wait for the service's acks while they keep coming (at most DRAIN_MS, giving up after DRAIN_STALL_MS without one). */
const DRAIN_MS = 300_000;
const DRAIN_STALL_MS = 45_000;
const MEMORY_SLOPE_GOAL = 2; // MB/min
/** Shorter soaks report the slope without judging it. */
const MEMORY_MIN_SOAK_S = 120;
const WARMUP_SHARE = 0.2;
const READERS = 2;

const Flags = z
  .object({
    hours: z.coerce.number().int().min(24).max(2400).multipleOf(24, 'whole days').default(72),
    kills: z.coerce.number().int().min(0).max(20).default(3),
    'probe-s': z.coerce.number().min(1).max(600).default(20),
    'soak-s': z.coerce.number().min(0).max(86_400).default(300),
    'sample-s': z.coerce.number().min(0.2).max(60).default(2),
  })
  .strict();
type ChaosFlags = z.infer<typeof Flags>;

function flagsOf(opts: BenchOptions): ChaosFlags {
  const parsed = Flags.safeParse(opts.flags);
  if (!parsed.success) throw new Error(`bad chaos flags (--hours, --kills, --probe-s, --soak-s, --sample-s):\n${parsed.error.issues.map((i) => `  --${i.path.join('.')}: ${i.message}`).join('\n')}`);
  return parsed.data;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const pct = (a: number, b: number) => (b === 0 ? '—' : `${((100 * a) / b).toFixed(a === b ? 0 : 2)} %`);

/** Everything one run needs. */
interface Ctx {
  readonly base: string;
  readonly adminKey: string;
  readonly gatewayKey: string;
  readonly service: ServiceProcess;
  readonly mqtt: MqttLoad;
  readonly data: ChaosData;
  readonly meters: number;
  readonly tally: HttpTally;
  readonly deadline: number;
  readonly log: (line: string) => void;
  nextId: () => number;
}

/** PUT /v1/meters in chunks: the bench meters, or the poison markers that must pass the meter check. */
async function registerMeters(ctx: Ctx, ids: readonly string[], group: string): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (let i = 0; i < ids.length; i += 10_000) {
      const body = Buffer.from(JSON.stringify(ids.slice(i, i + 10_000).map((id) => ({ id, group, timezone: BENCH_TZ, intervalMinutes: 60, commodity: 'electricity' }))));
      const res = await sendUntilAnswered(
        agent,
        new URL('/v1/meters', ctx.base),
        'PUT',
        { authorization: `Bearer ${ctx.adminKey}`, 'content-type': 'application/json' },
        body,
        ctx.tally,
        ctx.deadline,
      );
      const out = res.status === 200 ? (JSON.parse(res.text) as { rejected?: unknown[] }) : undefined;
      if (!out || out.rejected?.length) throw new Error(`PUT /v1/meters answered ${res.status}: ${res.text.slice(0, 500)}`);
    }
  } finally {
    agent.destroy();
  }
}

function newTraffic(ctx: Ctx): { traffic: Traffic; pool: HttpPool } {
  let traffic!: Traffic;
  const pool = new HttpPool(() => ctx.base, ctx.gatewayKey, { concurrency: 3, deadline: ctx.deadline, tally: ctx.tally, onResult: (r) => traffic.onHttp(r) });
  traffic = new Traffic(pool, ctx.mqtt);
  return { traffic, pool };
}

/** Waits until the sent traffic is answered: HTTP idle, MQTT PUBACKed and acked by the service (or DRAIN_MS passed). */
async function settle(ctx: Ctx, traffic: Traffic, pool: HttpPool): Promise<number> {
  await pool.idle();
  await ctx.mqtt.flushed();
  const missing = await ctx.mqtt.drain(DRAIN_STALL_MS, DRAIN_MS);
  traffic.markPubacked();
  return missing;
}

/** Waits (up to 60 s) for the dead letters of whole MQTT messages, which cannot ask for an ack. */
async function awaitMessageLetters(_ctx: Ctx, database: Parameters<typeof readDeadLetters>[0], traffic: Traffic, afterId: number): Promise<DeadLetters> {
  const wanted = traffic.items.filter((s) => s.item.kind.where === 'mqtt-message' && s.item.kind.expect === 'dead-letter').map((s) => s.item.seq);
  const until = performance.now() + 60_000;
  for (;;) {
    const dl = await readDeadLetters(database, afterId);
    if (wanted.every((seq) => dl.bySeq.has(seq)) || performance.now() > until) return dl;
    await sleep(1000);
  }
}

interface KindRow {
  readonly kind: string;
  readonly where: string;
  readonly expect: string;
  transports: Set<string>;
  sent: number;
  ok: number;
  example?: string;
}

/** What became of every poison item, by kind. */
function poisonTable(traffic: Traffic, dl: DeadLetters): KindRow[] {
  const rows = new Map<string, KindRow>();
  for (const { item, transport, messageId } of traffic.items) {
    const k = item.kind;
    let r = rows.get(k.kind);
    if (!r) rows.set(k.kind, (r = { kind: k.kind, where: k.where, expect: k.expect, transports: new Set(), sent: 0, ok: 0 }));
    r.transports.add(transport);
    r.sent++;
    const outcome = itemOutcome(item, transport, messageId, traffic, dl);
    if (outcome.ok) r.ok++;
    r.example ??= outcome.reason;
  }
  return [...rows.values()];
}

function itemOutcome(item: PoisonItem, transport: 'http' | 'mqtt', messageId: number | undefined, traffic: Traffic, dl: DeadLetters): { ok: boolean; reason?: string } {
  const k = item.kind;
  if (k.expect === 'dead-letter') {
    const reasons = (dl.bySeq.get(item.seq) ?? []).filter((r) => r.trim() !== '');
    // dead-lettered with its whole message (its good rows too: they show as missing good rows)
    const whole = messageId !== undefined ? dl.wholeMessages.get(messageId) : undefined;
    if (reasons.length === 0 && whole) return { ok: true, reason: `whole message: ${whole}` };
    return { ok: reasons.length > 0, reason: reasons[0] };
  }
  if (k.expect === 'refused') {
    const a = traffic.requestAnswers.get(item.seq);
    if (!a) return { ok: false };
    let body: { error?: unknown; message?: unknown } = {};
    try {
      body = JSON.parse(a.text) as typeof body;
    } catch {
      // not JSON: not a clear error
    }
    if (a.status >= 400 && a.status < 500) {
      const ok = typeof body.error === 'string' && typeof body.message === 'string';
      return { ok, reason: `${a.status} ${typeof body.message === 'string' ? body.message : a.text.slice(0, 100)}` };
    }
    // or taken in and every row of it rejected with a reason (a 20 000-deep row clipped and refused on its own)
    const r = body as { accepted?: number; unchanged?: number; superseded?: number; rejected?: { reason?: unknown }[] };
    const ok =
      a.status === 200 && r.accepted === 0 && r.unchanged === 0 && r.superseded === 0 && (r.rejected?.length ?? 0) > 0 && r.rejected!.every((x) => typeof x.reason === 'string' && x.reason !== '');
    return { ok, reason: `${a.status} ${ok ? `every row rejected: ${String(r.rejected![0].reason)}` : a.text.slice(0, 100)}` };
  }
  // noop: acknowledged, nothing stored, nothing rejected
  if (transport === 'http') {
    const a = traffic.requestAnswers.get(item.seq);
    const ok = a?.status === 200 && /"accepted":0,"unchanged":0,"superseded":0,"rejected":\[\]/.test(a.text);
    return { ok, reason: a ? `${a.status} ${a.text.slice(0, 100)}` : undefined };
  }
  const ack = traffic.noopAcks.get(item.seq);
  return { ok: ack !== undefined && ack.stored === 0 && ack.rejected.length === 0, reason: ack ? `ack ${ack.status}, ${ack.stored} stored` : undefined };
}

/** The kill -9 schedule: at each threshold of progress, kill and start again. */
async function killAtProgress(ctx: Ctx, progress: () => number, thresholds: readonly number[], running: () => boolean): Promise<number[]> {
  const downtimes: number[] = [];
  for (const t of thresholds) {
    while (running() && progress() < t) await sleep(50);
    if (!running()) break;
    const t0 = performance.now();
    await ctx.service.kill9();
    ctx.log(`kill -9 at ${(progress() * 100).toFixed(0)} % of the good rows acknowledged; starting again`);
    await ctx.service.start();
    downtimes.push(performance.now() - t0);
  }
  return downtimes;
}

/** Reader loops (readings, aggregate, rejects) until `stop()`; latencies per kind. */
async function readLoops(ctx: Ctx, lastHour: () => number, stop: () => boolean): Promise<{ count: number; failed: number; ms: number[] }> {
  const out = { count: 0, failed: 0, ms: [] as number[] };
  const loop = async (k: number) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = k; !stop(); i++) {
        const h1 = Math.max(24, lastHour());
        const from = encodeURIComponent(ctx.data.start(h1 - 24));
        const to = encodeURIComponent(ctx.data.start(h1));
        const path = [
          `/v1/meters/${chaosMeterId((i * 7919) % ctx.meters)}/readings?channel=active_import&from=${from}&to=${to}`,
          `/v1/aggregate?group=chaos&channel=active_import&from=${from}&to=${to}&interval=hour`,
          '/v1/rejects?limit=100',
        ][i % 3];
        const t0 = performance.now();
        const res = await sendUntilAnswered(agent, new URL(path, ctx.base), 'GET', { authorization: `Bearer ${ctx.adminKey}` }, undefined, ctx.tally, ctx.deadline);
        out.ms.push(performance.now() - t0);
        out.count++;
        if (res.status !== 200) out.failed++;
        await sleep(50);
      }
    } finally {
      agent.destroy();
    }
  };
  await Promise.all(Array.from({ length: READERS }, (_, k) => loop(k)));
  return out;
}

/**
 * Dispatches hour after hour from `hour0` until `until()` says stop; `rate`
 * (good rows/s) paces the hours, none = as fast as the service takes them.
 * Poison meters of each hour are registered before it is sent.
 */
async function streamHours(ctx: Ctx, dealer: PoisonDealer, traffic: Traffic, hour0: number, until: () => boolean, rate?: number): Promise<number> {
  const t0 = performance.now();
  let h = hour0;
  while (!until()) {
    const plan: Plan = planHours(ctx.data, dealer, ctx.meters, h, 1, ctx.nextId);
    const markers = markerMeters(dealer.items.slice(-countItems(plan)));
    if (markers.length) await registerMeters(ctx, markers, 'chaos-poison');
    if (rate) {
      const due = t0 + (traffic.dispatchedRows / rate) * 1000;
      if (due > performance.now()) await sleep(due - performance.now());
    }
    await traffic.dispatch(plan);
    h++;
  }
  return h;
}

const countItems = (plan: Plan): number => plan.http.reduce((a, j) => a + (j.request ? 1 : j.poison.length), 0) + plan.mqtt.reduce((a, j) => a + (j.message ? 1 : j.poison.length), 0);

interface PhaseResult {
  readonly traffic: Traffic;
  readonly good: GoodCheck;
  readonly dl: DeadLetters;
  readonly table: KindRow[];
  readonly missingAcks: number;
}

async function verifyPhase(ctx: Ctx, database: Parameters<typeof readDeadLetters>[0], traffic: Traffic, afterId: number, missingAcks: number): Promise<PhaseResult> {
  const dl = await awaitMessageLetters(ctx, database, traffic, afterId);
  const good = await checkGoodRows(database, ctx.data, traffic.ledger);
  return { traffic, good, dl, table: poisonTable(traffic, dl), missingAcks };
}

export const chaosBench: Bench = {
  name: 'chaos',
  summary:
    'kill -9 three times under 1 000 meters of HTTP + MQTT traffic with 1 % poison of every kind; then a soak at half the maximum rate with readers (memory that stays: live heap after full GCs, RSS outside the heap)',
  timeoutMs: 60 * 60_000,
  timeoutFor(opts) {
    const f = flagsOf(opts);
    return (20 * 60 + f.hours * 3 + f['probe-s'] + f['soak-s'] * 1.5) * 1000 + 3 * DRAIN_MS;
  },
  async run(opts, log, onCleanup) {
    const flags = flagsOf(opts);
    const loadStart = loadNow();
    const run = `${process.pid}-${Date.now().toString(36)}`;
    const data = new ChaosData(opts.dataDir);
    const bench = await openBenchDatabase(opts.databaseUrl, this.timeoutFor!(opts), log, onCleanup);
    const database = bench.database;
    const {
      rows: [{ version }],
    } = await sql<{ version: string }>`SELECT split_part(version(), ' on ', 1) AS version`.execute(database.db);
    const gatewayKey = (await createApiKey(database, { name: 'chaos-gateway', role: 'gateway' })).key;
    const adminKey = `chaos-admin-${randomBytes(16).toString('hex')}`;
    const dataDir = mkdtempSync(join(tmpdir(), 'mdm-chaos-'));
    const port = await freePort();
    const clientId = `mdm-chaos-${run}`;
    const service = new ServiceProcess(
      {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? tmpdir(),
        DATABASE_URL: bench.url,
        HOST: '127.0.0.1',
        PORT: String(port),
        MDM_DATA_DIR: dataDir,
        MQTT_URL: MOSQUITTO_URL,
        MQTT_CLIENT_ID: clientId,
        MQTT_SHARE_GROUP: `chaos-${run}`,
        MDM_BOOTSTRAP_ADMIN_KEY: adminKey,
        LOG_LEVEL: 'warn',
        // e.g. `--import ./bench/chaos-leak.mjs`: a leak injected to check that the memory goal catches one (docs/performance.md)
        ...(process.env.CHAOS_SERVICE_NODE_OPTIONS ? { NODE_OPTIONS: process.env.CHAOS_SERVICE_NODE_OPTIONS } : {}),
      },
      join(tmpdir(), `mdm-chaos-${run}.log`),
    );
    let id = 1_000_000; // above any id a poison wrapper carries
    let current: Traffic | undefined; // the phase whose books the acks go to
    const mqtt = new MqttLoad(MOSQUITTO_URL, run, ACK_WINDOW, (s) => current?.onMqttAck(s));
    const ctx: Ctx = {
      base: `http://127.0.0.1:${port}`,
      adminKey,
      gatewayKey,
      service,
      mqtt,
      data,
      meters: opts.meters,
      tally: newTally(),
      deadline: performance.now() + this.timeoutFor!(opts),
      log,
      nextId: () => id++,
    };
    const cleanup = async () => {
      await service.stop().catch(() => {});
      await mqtt.close();
      await forgetSession(MOSQUITTO_URL, clientId); // the service's persistent session
      rmSync(dataDir, { recursive: true, force: true });
    };
    onCleanup(cleanup);
    log(`service log: ${service.logPath}`);

    const figures: Figure[] = [];
    const goals: Goal[] = [];
    const notes: string[] = [];
    const one = (label: string, value: number, unit: string, better: 'higher' | 'lower', note?: string) => {
      if (Number.isFinite(value)) figures.push({ label, values: [value], unit, better, ...(note ? { note } : {}) });
    };
    let phase1: PhaseResult | undefined;
    let phase2: PhaseResult | undefined;
    let downtimes: number[] = [];
    let soak: { target: number; achieved: number; probe: number; reads: { count: number; failed: number; ms: number[] }; memory: MemoryVerdict; samples: number } | undefined;
    try {
      await service.start();
      await mqtt.start();
      service.startSampling(1000);

      // ---- phase 1: the whole plan at full speed, kill -9 at even shares of the progress
      const dealer1 = new PoisonDealer(data, POISON_RATE, 1, 'chaos');
      const plan1 = planHours(data, dealer1, opts.meters, 0, flags.hours, ctx.nextId);
      await registerMeters(
        ctx,
        Array.from({ length: opts.meters }, (_, m) => chaosMeterId(m)),
        'chaos',
      );
      await registerMeters(ctx, markerMeters(dealer1.items), 'chaos-poison');
      log(
        `phase 1: ${fmt(plan1.goodRows)} good rows + ${dealer1.items.length} poison items (${new Set(dealer1.items.map((i) => i.kind.kind)).size} kinds) in ${plan1.http.length} requests and ${plan1.mqtt.length} messages; ${flags.kills} × kill -9`,
      );
      const { traffic, pool } = newTraffic(ctx);
      current = traffic;
      let running = true;
      const thresholds = Array.from({ length: flags.kills }, (_, k) => (k + 1) / (flags.kills + 1));
      const killer = killAtProgress(
        ctx,
        () => traffic.ackedRows / plan1.goodRows,
        thresholds,
        () => running,
      );
      const t1 = performance.now();
      await traffic.dispatch(plan1);
      await pool.idle();
      await killer.then((d) => (downtimes = d)).finally(() => (running = false));
      const missing1 = await settle(ctx, traffic, pool);
      log(`phase 1 sent and answered in ${((performance.now() - t1) / 1000).toFixed(1)} s; ${missing1} MQTT messages without the service's ack`);
      const integrity1 = await checkIntegrity(database);
      phase1 = await verifyPhase(ctx, database, traffic, 0, missing1);
      pool.close();

      // ---- phase 2: the maximum rate, then the soak at half of it with readers
      if (flags['soak-s'] > 0) {
        const afterId = await lastDeadLetterId(database);
        const dealer2 = new PoisonDealer(data, POISON_RATE, 1_000_000, 'soak');
        const probe = newTraffic(ctx);
        current = probe.traffic;
        const tp = performance.now();
        let hour = await streamHours(ctx, dealer2, probe.traffic, flags.hours, () => performance.now() - tp > flags['probe-s'] * 1000);
        await settle(ctx, probe.traffic, probe.pool);
        const probeRate = (probe.traffic.ackedRows / (probe.traffic.lastAckAt - tp)) * 1000;
        log(`maximum rate: ${fmt(probeRate)} good rows/s acknowledged over ${((probe.traffic.lastAckAt - tp) / 1000).toFixed(1)} s; soak at ${fmt(probeRate / 2)} rows/s for ${flags['soak-s']} s`);

        // the soak continues the probe's books: one traffic for both
        const { traffic: t2, pool: pool2 } = newTraffic(ctx);
        for (const s of probe.traffic.ledger.slices) t2.ledger.slices.push(s);
        for (const x of probe.traffic.ledger.extras) t2.ledger.extras.push(x);
        t2.items.push(...probe.traffic.items);
        probe.traffic.requestAnswers.forEach((v, k) => t2.requestAnswers.set(k, v));
        probe.traffic.noopAcks.forEach((v, k) => t2.noopAcks.set(k, v));
        current = t2;
        service.startSampling(flags['sample-s'] * 1000);
        const ts = performance.now();
        let soakOver = false;
        const readers = readLoops(
          ctx,
          () => hour,
          () => soakOver,
        );
        hour = await streamHours(ctx, dealer2, t2, hour, () => performance.now() - ts > flags['soak-s'] * 1000, probeRate / 2);
        const achieved = (t2.dispatchedRows / (performance.now() - ts)) * 1000;
        soakOver = true;
        const reads = await readers;
        const missing2 = await settle(ctx, t2, pool2);
        service.stopSampling();
        const samples = service.samples;
        const judgedTo = samples.length ? samples[samples.length - 1].t + 1 : 0;
        const memory = judgeMemory(
          samples.map((x) => ({ t: x.t, mb: x.rssMb })),
          service.gcs,
          judgedTo * WARMUP_SHARE,
          judgedTo,
        );
        log(
          `soak: ${fmt(achieved)} rows/s sent, ${reads.count} reads; memory that stays ${memory.slope.toFixed(2)} MB/min (live heap ${memory.live.slope.toFixed(2)}, outside the heap ${memory.outside.slope.toFixed(2)}); raw RSS ${memory.rssSlope.toFixed(2)} MB/min`,
        );
        t2.mismatches.push(...probe.traffic.mismatches);
        t2.mismatchCount += probe.traffic.mismatchCount;
        phase2 = await verifyPhase(ctx, database, t2, afterId, missing2);
        soak = { target: probeRate / 2, achieved, probe: probeRate, reads, memory, samples: samples.length };
        // the probe's latencies belong to the soak figures too
        t2.httpLatency.push(...probe.traffic.httpLatency);
        t2.mqttLatency.push(...probe.traffic.mqttLatency);
        pool2.close();
        probe.pool.close();
      }
      const integrity = await checkIntegrity(database);

      // ---- report
      const phases = [phase1, phase2].filter((p): p is PhaseResult => p !== undefined);
      const sum = (f: (p: PhaseResult) => number) => phases.reduce((a, p) => a + f(p), 0);
      const lost = sum((p) => p.good.lost);
      const goodTotal = sum((p) => p.good.total);
      const goodStored = sum((p) => p.good.stored + p.good.replaced);
      goals.push({
        label: 'acknowledged rows lost = 0',
        pass: lost === 0,
        detail: `${lost} lost (chaos ${phase1.good.lost}${phase2 ? `, soak ${phase2.good.lost}` : ''})${
          phases.flatMap((p) => p.good.examples).length
            ? `; e.g. ${phases
                .flatMap((p) => p.good.examples)
                .slice(0, 3)
                .join('; ')}`
            : ''
        }`,
      });
      goals.push({
        label: 'good rows stored = 100 %',
        pass: goodStored === goodTotal,
        detail: `${fmt(goodStored)} / ${fmt(goodTotal)} = ${pct(goodStored, goodTotal)} (${sum((p) => p.good.replaced)} of them replaced by VEE since, kept in the history; not stored: ${sum((p) => p.good.missing)} missing, ${sum((p) => p.good.estimated)} gaps VEE filled with estimates, ${sum((p) => p.good.wrong)} with another value)`,
      });
      const kinds = phases.flatMap((p) => p.table);
      const poisonSent = kinds.filter((k) => k.expect !== 'noop').reduce((a, k) => a + k.sent, 0);
      const poisonOk = kinds.filter((k) => k.expect !== 'noop').reduce((a, k) => a + k.ok, 0);
      goals.push({
        label: 'poison dead-lettered (or refused) with a reason = 100 %',
        pass: poisonOk === poisonSent,
        detail: `${fmt(poisonOk)} / ${fmt(poisonSent)} = ${pct(poisonOk, poisonSent)}; ${new Set(kinds.map((k) => k.kind)).size} kinds (table below)`,
      });
      const noopSent = kinds.filter((k) => k.expect === 'noop').reduce((a, k) => a + k.sent, 0);
      const noopOk = kinds.filter((k) => k.expect === 'noop').reduce((a, k) => a + k.ok, 0);
      goals.push({ label: 'empty batches acknowledged, nothing stored', pass: noopOk === noopSent, detail: `${noopOk} / ${noopSent}` });
      goals.push({
        label: 'duplicates = 0',
        pass: integrity.duplicateKeys === 0 && integrity.identicalVersions === 0,
        detail: `${integrity.duplicateKeys} keys with two current rows, ${integrity.identicalVersions} versions repeating the value and quality before them (after chaos: ${integrity1.identicalVersions}); ${fmt(integrity.laterVersions)} later versions in all (VEE marks values validated)`,
      });
      goals.push({ label: 'no 5xx answers', pass: ctx.tally.fiveXx === 0, detail: `${ctx.tally.fiveXx}${ctx.tally.fiveXxBodies.length ? `; e.g. ${ctx.tally.fiveXxBodies[0]}` : ''}` });
      const mismatches = sum((p) => p.traffic.mismatchCount);
      goals.push({
        label: 'every answer accounts for every row (HTTP 200 bodies, MQTT acks)',
        pass: mismatches === 0,
        detail: `${mismatches} answers off${
          mismatches
            ? `; e.g. ${phases
                .flatMap((p) => p.traffic.mismatches)
                .slice(0, 2)
                .join('; ')}`
            : ''
        }`,
      });
      goals.push({
        label: 'every MQTT message acknowledged by the service',
        pass: sum((p) => p.missingAcks) === 0,
        detail: `${sum((p) => p.missingAcks)} without an ack (${DRAIN_STALL_MS / 1000} s without a new ack ends the wait) (${mqtt.duplicateAcks} acked twice after redelivery, ${mqtt.publishErrors} publish errors)`,
      });
      goals.push({
        label: `kill -9 × ${flags.kills}`,
        pass: downtimes.length === flags.kills,
        detail: `${downtimes.length} done; down→ready ${downtimes.map((d) => `${(d / 1000).toFixed(1)} s`).join(', ') || '—'}`,
      });
      if (soak && flags['soak-s'] < MEMORY_MIN_SOAK_S) {
        notes.push(`memory not judged: a soak under ${MEMORY_MIN_SOAK_S} s is too short for the levels of its halves (memory that stays ${soak.memory.slope.toFixed(2)} MB/min)`);
      } else if (soak) {
        const m = soak.memory;
        const levels = (f: typeof m.live) => f.levels.map((x) => x.mb.toFixed(1)).join(' → ') || '—';
        goals.push({
          label: `memory that stays flat in the soak (≤ ${MEMORY_SLOPE_GOAL} MB/min)`,
          pass: Number.isFinite(m.slope) && m.slope <= MEMORY_SLOPE_GOAL,
          detail: `${m.slope.toFixed(2)} MB/min = live heap ${m.live.slope.toFixed(2)} (lowest after a full GC per half: ${levels(m.live)} MB, ${m.fullGcs} full GCs) + outside V8's heap ${m.outside.slope.toFixed(2)} (RSS − committed heap, median per half: ${levels(m.outside)} MB, ${m.outsideSamples} samples), negative parts as 0; after the first ${WARMUP_SHARE * 100} %; raw RSS slope ${m.rssSlope.toFixed(2)} MB/min (V8's heap sawtooth, not judged)`,
        });
      }
      if (soak) goals.push({ label: 'readers answered 200', pass: soak.reads.failed === 0, detail: `${soak.reads.count - soak.reads.failed} / ${soak.reads.count}` });

      one('chaos: HTTP ack p50', percentile(phase1.traffic.httpLatency, 50), 'ms', 'lower', 'first send → 200, retries included');
      one('chaos: HTTP ack p99', percentile(phase1.traffic.httpLatency, 99), 'ms', 'lower');
      one('chaos: MQTT ack p50', percentile(phase1.traffic.mqttLatency, 50), 'ms', 'lower', 'publish → service ack');
      one('chaos: MQTT ack p99', percentile(phase1.traffic.mqttLatency, 99), 'ms', 'lower');
      one('restart: kill -9 → ready', downtimes.length ? Math.max(...downtimes) : NaN, 'ms', 'lower', 'slowest of the kills');
      one('peak RSS of the service', service.peakMb, 'MB', 'lower', 'VmHWM, every process');
      if (soak && phase2) {
        one('maximum ingest rate', soak.probe, 'rows/s', 'higher', `good rows acknowledged, HTTP + MQTT, ${flags['probe-s']} s`);
        one('soak rate', soak.achieved, 'rows/s', 'higher', `target ${fmt(soak.target)}`);
        one('soak: HTTP ack p99', percentile(phase2.traffic.httpLatency, 99), 'ms', 'lower');
        one('soak: MQTT ack p99', percentile(phase2.traffic.mqttLatency, 99), 'ms', 'lower');
        one('soak: read p99', percentile(soak.reads.ms, 99), 'ms', 'lower', `${READERS} readers: readings, aggregate, rejects`);
        one('soak: memory that stays, slope', soak.memory.slope, 'MB/min', 'lower', 'live heap after full GCs + RSS outside the heap');
        one('soak: raw RSS slope', soak.memory.rssSlope, 'MB/min', 'lower', `${soak.samples} samples every ${flags['sample-s']} s; the heap's sawtooth`);
      }
      notes.push(
        'poison kinds (sent = items over every phase; ok = dead letter with the marker and a reason; whole HTTP requests: 4xx {error, message} or 200 with every row rejected with a reason; empty batches acknowledged):',
      );
      const merged = new Map<string, KindRow>();
      for (const k of kinds) {
        const m = merged.get(k.kind);
        if (!m) merged.set(k.kind, { ...k, transports: new Set(k.transports) });
        else {
          m.sent += k.sent;
          m.ok += k.ok;
          k.transports.forEach((t) => m.transports.add(t));
          m.example ??= k.example;
        }
      }
      const width = Math.max(...POISON_KINDS.map((k) => k.kind.length));
      for (const k of merged.values()) {
        notes.push(
          `  ${k.ok === k.sent ? 'ok  ' : 'MISS'} ${k.kind.padEnd(width)}  ${[...k.transports].join('+').padEnd(9)} ${String(k.ok).padStart(4)} / ${String(k.sent).padEnd(4)} ${(k.example ?? '(no reason found)').replace(/\s+/g, ' ').slice(0, 90)}`,
        );
      }
      const unsent = POISON_KINDS.filter((k) => !merged.has(k.kind)).map((k) => k.kind);
      if (unsent.length) notes.push(`  kinds not sent (too little traffic for their turn): ${unsent.join(', ')}`);
      notes.push(`HTTP: ${ctx.tally.networkErrors} connection errors retried, ${ctx.tally.rateLimited} answers 429; service log ${service.logPath}`);
    } finally {
      await cleanup();
    }
    const cpu = cpus();
    return {
      context: [
        `machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? '?'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; load average ${loadStart} at start, ${loadNow()} at end`,
        `service: node bin/mdm.js serve (own process, ${service.starts} starts), ${version} (fresh database, dropped at the end), Mosquitto at ${MOSQUITTO_URL} (external broker, persistent session)`,
        `chaos: ${opts.meters} meters × ${flags.hours} h hourly (HTTP half: batches of 1 h × 500 meters; MQTT: gateway messages of 1 h × 100 meters, per-meter topics and SenML one day each), 1 % poison of ${POISON_KINDS.length} kinds, kill -9 × ${flags.kills}`,
        `soak: ${flags['soak-s']} s at half the rate measured over ${flags['probe-s']} s, ${READERS} readers; MQTT: ${ACK_WINDOW} messages at most awaiting the service's ack`,
      ],
      figures,
      goals,
      notes,
    };
  },
};
