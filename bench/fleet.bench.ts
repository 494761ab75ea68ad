/**
 * `npm run bench -- fleet` (issue 19 "Proof"): three `mdm serve` processes on
 * one PostgreSQL database and the local Mosquitto, every component on, one of
 * them killed with `kill -9` mid-run and started again by a supervisor:
 *
 * - 1 000 meters of hourly readings, half over HTTP (requests spread over the
 *   live instances), half over MQTT (Mosquitto splits them through the shared
 *   subscription `$share/<group>/…`; the service acks each message);
 * - Modbus meters (simulators behind proxies that tell client connections
 *   apart), leased to one instance each;
 * - a hook receiver (the docs' signature check) getting the alarms' opened,
 *   acknowledged and closed transitions, the three made on three different
 *   instances (an event over HTTP, then acknowledge and close);
 * - periodic jobs every few seconds (silence check 5 s, billing readiness
 *   1 min) and a forecast schedule due during the run.
 *
 * Afterwards, from the database, the simulators, the receiver and /metrics
 * of every instance: every acknowledged reading stored once (no duplicate,
 * no identical extra version), each round of a periodic job run by one
 * instance (the rounds the instances report running add up to the rounds
 * claimed), each scheduled forecast run queued once, each device polled by
 * one connection at a time and taken over after the kill, each alarm's
 * transitions delivered in order. Goals printed PASS/MISS.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { z } from 'zod';
import { createApiKey } from '../sql/api-key.repository.js';
import { listJobTicks } from '../sql/job-tick.repository.js';
import { leaseHolders } from '../sql/modbus-device.repository.js';
import { startReceiver, type TestReceiver } from '../test/hook-receiver.js';
import { loadNow, type Bench, type BenchOptions, type Goal } from './bench.js';
import { openBenchDatabase } from './bench-database.js';
import { HttpPool, MqttLoad, forgetSession, newTally, sendUntilAnswered, type HttpTally } from './chaos-clients.js';
import { chaosMeterId, ChaosData, PoisonDealer } from './chaos-load.js';
import { planHours } from './chaos-plan.js';
import { freePort, ServiceProcess } from './chaos-service.js';
import { Traffic } from './chaos-traffic.js';
import { checkGoodRows, checkIntegrity } from './chaos-verify.js';
import { judgeDevice, startFleetDevice, type FleetDevice } from './fleet-devices.js';
import { MOSQUITTO_URL } from './ingest-served.js';
import { BENCH_TZ } from './load-profile.js';

const SECRET = 'fleet-bench-secret-0123456789';
const ACK_WINDOW = 200;
const SILENCE_S = 5;
/** The Modbus lease of a killed instance runs out after this (the poller's default: 3 × the 5 s reload, at least 15 s), then the next reload takes it. */
const TAKEOVER_GOAL_S = 25;

const Flags = z
  .object({
    hours: z.coerce.number().int().min(24).max(720).multipleOf(24, 'whole days').default(72),
    rate: z.coerce.number().int().min(100).max(100_000).default(1500),
    devices: z.coerce.number().int().min(1).max(50).default(6),
    alarms: z.coerce.number().int().min(1).max(500).default(30),
    'kill-at': z.coerce.number().min(0.1).max(0.9).default(0.4),
    'down-s': z.coerce.number().min(0).max(120).default(30),
  })
  .strict();
type FleetFlags = z.infer<typeof Flags>;

function flagsOf(opts: BenchOptions): FleetFlags {
  const parsed = Flags.safeParse(opts.flags);
  if (!parsed.success)
    throw new Error(`bad fleet flags (--hours, --rate, --devices, --alarms, --kill-at, --down-s):\n${parsed.error.issues.map((i) => `  --${i.path.join('.')}: ${i.message}`).join('\n')}`);
  return parsed.data;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

interface Instance {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly service: ServiceProcess;
  readonly dataDir: string;
  readonly clientId: string;
  up: boolean;
}

/** `mdm_job_rounds_total` of one scrape: job → outcome → count. */
type Rounds = Map<string, { ran: number; skipped: number }>;

function roundsOf(text: string): Rounds {
  const out: Rounds = new Map();
  for (const m of text.matchAll(/^mdm_job_rounds_total\{job="([^"]+)",outcome="(ran|skipped)"\} (\d+)/gm)) {
    const r = out.get(m[1]) ?? { ran: 0, skipped: 0 };
    r[m[2] as 'ran' | 'skipped'] += Number(m[3]);
    out.set(m[1], r);
  }
  return out;
}

function addRounds(into: Rounds, more: Rounds): void {
  for (const [job, r] of more) {
    const t = into.get(job) ?? { ran: 0, skipped: 0 };
    into.set(job, { ran: t.ran + r.ran, skipped: t.skipped + r.skipped });
  }
}

export const fleetBench: Bench = {
  name: 'fleet',
  summary:
    'three mdm serve processes on one PostgreSQL and Mosquitto (HTTP + MQTT readings, Modbus devices, alarms to a hook, periodic jobs, a forecast schedule), one killed with kill -9 and restarted: every acked reading once, each job round once, devices taken over, per-alarm delivery order',
  timeoutMs: 30 * 60_000,
  async run(opts, log, onCleanup) {
    const flags = flagsOf(opts);
    const meters = Math.min(opts.meters, 2000);
    const run = `${process.pid}-${Date.now().toString(36)}`;
    const data = new ChaosData(opts.dataDir);
    const bench = await openBenchDatabase(opts.databaseUrl, this.timeoutMs, log, onCleanup);
    const { database } = bench;
    const adminKey = `fleet-admin-${randomBytes(16).toString('hex')}`;
    const tally: HttpTally = newTally();
    const deadline = performance.now() + this.timeoutMs;
    const devices: FleetDevice[] = [];
    let receiver: TestReceiver | undefined;
    const instances: Instance[] = [];
    let traffic: Traffic | undefined;
    const mqtt = new MqttLoad(MOSQUITTO_URL, `fleet-${run}`, ACK_WINDOW, (s) => traffic?.onMqttAck(s));
    const agent = new Agent({ keepAlive: true, maxSockets: 4 });
    // A forecast schedule due during the run: every hour at the minute the run starts (the bench meters' zone has whole-hour offsets).
    const dueMinute = new Date().getUTCMinutes();
    const instance = async (name: string): Promise<Instance> => {
      const dataDir = mkdtempSync(join(tmpdir(), `mdm-fleet-${name}-`));
      const port = await freePort();
      const clientId = `mdm-fleet-${run}-${name}`;
      const env = {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? tmpdir(),
        DATABASE_URL: bench.url,
        HOST: '127.0.0.1',
        PORT: String(port),
        MDM_DATA_DIR: dataDir,
        MQTT_URL: MOSQUITTO_URL,
        MQTT_CLIENT_ID: clientId,
        MQTT_SHARE_GROUP: `fleet-${run}`,
        MDM_BOOTSTRAP_ADMIN_KEY: adminKey,
        LOG_LEVEL: 'warn',
        ALARMS_SILENCE_INTERVAL_S: String(SILENCE_S),
        BILLING_READINESS_INTERVAL_MIN: '1',
        FORECAST_POLL_S: '2',
        FORECAST_SCHEDULE: `day-ahead@*:${String(dueMinute).padStart(2, '0')} portfolio:FLEET`,
        HOOK_POLL_MS: '100',
      };
      return { name, port, url: `http://127.0.0.1:${port}`, dataDir, clientId, up: false, service: new ServiceProcess(env, join(tmpdir(), `mdm-fleet-${name}-${run}.log`), []) };
    };
    let cleaned = false;
    const cleanup = async () => {
      if (cleaned) return;
      cleaned = true;
      await mqtt.close();
      agent.destroy();
      for (const i of instances) {
        await i.service.stop();
        rmSync(i.dataDir, { recursive: true, force: true });
        await forgetSession(MOSQUITTO_URL, i.clientId);
      }
      for (const d of devices) await d.close();
      await receiver?.close();
    };
    onCleanup(cleanup);

    const live = () => instances.filter((i) => i.up);
    let turn = 0;
    /** An API call on the next live instance (round robin), the way a load balancer spreads them. */
    const call = async (method: string, path: string, body?: unknown, key = adminKey, on?: Instance) => {
      const target = on ?? live()[turn++ % live().length];
      const res = await sendUntilAnswered(
        agent,
        new URL(path, target.url),
        method,
        { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body === undefined ? undefined : Buffer.from(JSON.stringify(body)),
        tally,
        deadline,
      );
      if (res.status >= 400 || res.status === 0) throw new Error(`${method} ${path} on ${target.name}: ${res.status} ${res.text.slice(0, 300)}`);
      return { instance: target.name, json: res.text ? (JSON.parse(res.text) as Record<string, unknown>) : {} };
    };
    const scrape = async (i: Instance): Promise<Rounds> => {
      const res = await sendUntilAnswered(agent, new URL('/metrics', i.url), 'GET', { authorization: `Bearer ${adminKey}` }, undefined, tally, deadline);
      return roundsOf(res.text);
    };

    try {
      for (const name of ['a', 'b', 'c']) instances.push(await instance(name));
      const [a] = instances;
      await a.service.start();
      a.up = true;
      const gatewayKey = (await createApiKey(database, { name: 'fleet-gateway', role: 'gateway' })).key;

      // Registry: the reading meters (ten in portfolio FLEET, for the forecast schedule), the Modbus meters, the alarm meters.
      const ids = Array.from({ length: meters }, (_, m) => chaosMeterId(m));
      for (let i = 0; i < ids.length; i += 5000) {
        await call(
          'PUT',
          '/v1/meters',
          ids.slice(i, i + 5000).map((id, k) => ({ id, group: 'chaos', timezone: BENCH_TZ, intervalMinutes: 60, ...(i + k < 10 ? { portfolio: 'FLEET' } : {}) })),
        );
      }
      for (let d = 0; d < flags.devices; d++) devices.push(await startFleetDevice(`FLEET-D${d + 1}`, `FLEET-DM${d + 1}`));
      await call(
        'PUT',
        '/v1/meters',
        devices.map((d) => ({ id: d.meter, group: 'fleet-modbus', timezone: BENCH_TZ })),
      );
      await call(
        'PUT',
        '/v1/modbus/devices',
        devices.map((d) => ({
          id: d.id,
          transport: 'tcp',
          host: '127.0.0.1',
          port: d.port,
          pollIntervalMs: 1000,
          registers: [{ address: 0, type: 'float32', meter: d.meter, channel: 'active_import_register' }],
        })),
      );
      const alarmMeters = Array.from({ length: flags.alarms }, (_, k) => `FLEET-AM${String(k + 1).padStart(3, '0')}`);
      await call(
        'PUT',
        '/v1/meters',
        alarmMeters.map((id) => ({ id, group: 'fleet-alarms', timezone: BENCH_TZ })),
      );
      receiver = await startReceiver(SECRET, () => ({ status: 200 }));
      await call('POST', '/v1/hooks', { url: receiver.url, secret: SECRET, filter: { groups: ['fleet-alarms'] } });

      for (const i of instances.slice(1)) {
        await i.service.start();
        i.up = true;
      }
      log(
        `fleet: instances ${instances.map((i) => `${i.name} (pid ${i.service.pid}, :${i.port})`).join(', ')} on ${bench.name}; ${fmt(meters)} meters × ${flags.hours} h at ${fmt(flags.rate)} rows/s`,
      );
      const t0 = performance.now();
      const startedAt = new Date();

      // Readings: hour after hour, paced; HTTP to the live instances, MQTT through Mosquitto.
      await mqtt.start(2);
      const pool = new HttpPool(() => live()[turn++ % live().length].url, gatewayKey, { concurrency: 3, deadline, tally, onResult: (r) => traffic?.onHttp(r) });
      const sent = new Traffic(pool, mqtt);
      traffic = sent;
      const dealer = new PoisonDealer(data, 0, 1, 'fleet');
      let nextId = 1;
      const totalRows = meters * flags.hours;
      const stream = (async () => {
        for (let h = 0; h < flags.hours; h++) {
          const due = t0 + (sent.dispatchedRows / flags.rate) * 1000;
          if (due > performance.now()) await sleep(due - performance.now());
          await sent.dispatch(planHours(data, dealer, meters, h, 1, () => nextId++));
        }
      })();

      // Alarms: each opened by an event on one instance, acknowledged on the next, closed on the one after.
      const alarmFlow = (async () => {
        const flows: Promise<void>[] = [];
        for (let k = 0; k < alarmMeters.length; k++) {
          const m = alarmMeters[k];
          flows.push(
            (async () => {
              await call('POST', '/v1/events', { events: [{ meter: m, code: 'cover_opened', at: new Date().toISOString() }] });
              const listed = (await call('GET', `/v1/alarms?meter=${m}&code=cover_open`)).json as { alarms: { id: number }[] };
              const id = listed.alarms[0]?.id;
              if (id === undefined) throw new Error(`no alarm for ${m}`);
              await sleep(500);
              await call('POST', `/v1/alarms/${id}/acknowledge`, { comment: 'crew on the way' });
              await sleep(500);
              await call('POST', `/v1/alarms/${id}/close`, { comment: 'seal replaced' });
            })(),
          );
          await sleep(Math.max(200, ((totalRows / flags.rate) * 1000) / alarmMeters.length));
        }
        await Promise.all(flows);
      })();
      alarmFlow.catch(() => {}); // awaited below; a failure must not end the process before the instances are stopped

      // The kill: at `kill-at` of the rows, the instance holding the most devices; started again `down-s` later.
      const rounds: Rounds = new Map();
      let killAt = 0;
      let killed: Instance | undefined;
      /** The killed process: its pid and when its counters were last read (rounds it claimed after that died with it, counted from job_ticks). */
      let killedAt: { pid: number; scrapedAt: Date } | undefined;
      let heldByKilled: string[] = [];
      let takeoverS: number | undefined;
      const chaos = (async () => {
        while (sent.ackedRows < flags['kill-at'] * totalRows && performance.now() < deadline) await sleep(50);
        const holders = await leaseHolders(database);
        const pidOf = (holder: string) => Number(holder.split(':')[1]);
        const load = instances.map((i) => ({ i, held: [...holders].filter(([, h]) => pidOf(h) === i.service.pid).map(([d]) => d) }));
        load.sort((x, y) => y.held.length - x.held.length);
        killed = load[0].i;
        heldByKilled = load[0].held;
        const scrapedAt = new Date();
        addRounds(rounds, await scrape(killed)); // what it ran until now: its counters die with it
        killedAt = { pid: killed.service.pid!, scrapedAt };
        killed.up = false;
        killAt = performance.now();
        await killed.service.kill9();
        log(`fleet: kill -9 ${killed.name} (pid ${pidOf(holders.get(heldByKilled[0] ?? '') ?? ':0')}, ${heldByKilled.length} device(s)) at ${fmt(sent.ackedRows)} acked rows`);
        // Its devices go to the others once its leases run out.
        const gone = new Set(heldByKilled);
        while (performance.now() < deadline) {
          const now = await leaseHolders(database);
          if ([...gone].every((d) => now.has(d) && instances.some((i) => i !== killed && pidOf(now.get(d)!) === i.service.pid))) break;
          await sleep(250);
        }
        takeoverS = (performance.now() - killAt) / 1000;
        const rest = flags['down-s'] * 1000 - (performance.now() - killAt);
        if (rest > 0) await sleep(rest);
        await killed.service.start();
        killed.up = true;
        log(`fleet: ${killed.name} started again (pid ${killed.service.pid}); its devices taken over after ${takeoverS.toFixed(1)} s`);
      })();
      for (const p of [stream, chaos]) p.catch(() => {}); // awaited below

      await Promise.all([stream, chaos]);
      await alarmFlow;
      await pool.idle();
      await mqtt.flushed();
      const missingAcks = await mqtt.drain(45_000, 300_000);
      sent.markPubacked();
      // Deliveries drain, the periodic jobs go on for a few more rounds.
      const until = performance.now() + 120_000;
      for (;;) {
        const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM hook_deliveries WHERE status IN ('pending', 'delivering')`.execute(database.db);
        if (rows[0].n === 0 || performance.now() > until) break;
        await sleep(250);
      }
      await sleep(2 * SILENCE_S * 1000);
      const endedAt = new Date();
      for (const i of live()) addRounds(rounds, await scrape(i));
      const elapsedS = (performance.now() - t0) / 1000;

      // ---- verdicts
      const good = await checkGoodRows(database, data, sent.ledger);
      const integrity = await checkIntegrity(database);
      // Rounds of the periodic jobs (the forecast schedule's are checked by their runs below), all of the run and those of the window.
      const allTicks = (await listJobTicks(database)).filter((t) => !t.job.startsWith('forecast.'));
      const ticks = allTicks.filter((t) => t.claimedAt >= startedAt && t.claimedAt <= endedAt);
      // Which instances claimed each job's rounds in the window (the rounds of the whole run are counted below).
      const claimersInWindow = new Map<string, Set<string>>();
      for (const t of ticks) (claimersInWindow.get(t.job) ?? claimersInWindow.set(t.job, new Set()).get(t.job)!).add(t.instance);
      // Rounds claimed before the window (at start-up) were run too: count the claims of the whole run against the counters of the whole run.
      const claimedAll = new Map<string, number>();
      for (const t of allTicks) claimedAll.set(t.job, (claimedAll.get(t.job) ?? 0) + 1);
      const {
        rows: [fc],
      } = await sql<{ runs: number; doubled: number }>`
        SELECT count(*)::int AS runs, (count(*) - count(DISTINCT (target, horizon, issue_time)))::int AS doubled
        FROM forecast_runs WHERE requested_by = 'schedule'`.execute(database.db);
      const verdicts = devices.map((d) => judgeDevice(d, killAt));
      const overlaps = verdicts.reduce((s, v) => s + v.overlaps, 0);
      const takeoverGaps = verdicts.filter((v) => heldByKilled.includes(v.id)).map((v) => (v.takeoverMs ?? Infinity) / 1000);
      const idle = verdicts.filter((v) => v.requests === 0).map((v) => v.id);
      // Hooks: per alarm, the first arrival of each transition in transition order, and all three of them.
      const byAlarm = new Map<number, { firstSeen: number[]; types: string[] }>();
      for (const r of receiver.received) {
        if (!r.signatureOk) continue;
        const a = byAlarm.get(r.body.alarm.id) ?? { firstSeen: [], types: [] };
        if (!a.firstSeen.includes(r.body.transition.id)) {
          a.firstSeen.push(r.body.transition.id);
          a.types.push(r.body.transition.type);
        }
        byAlarm.set(r.body.alarm.id, a);
      }
      const outOfOrder = [...byAlarm.values()].filter((a) => a.firstSeen.some((id, k) => k > 0 && id < a.firstSeen[k - 1])).length;
      const complete = [...byAlarm.values()].filter((a) => a.types.join(',') === 'opened,acknowledged,closed').length;
      const redelivered = receiver.received.length - [...byAlarm.values()].reduce((s, a) => s + a.firstSeen.length, 0);
      const badSignatures = receiver.received.filter((r) => !r.signatureOk).length;

      // Rounds the killed process claimed after its last scrape: run (or cut short) there, but its counters died with it.
      const lostWithKill = new Map<string, number>();
      for (const t of allTicks) {
        if (killedAt && Number(t.instance.split(':')[1]) === killedAt.pid && t.claimedAt >= killedAt.scrapedAt) lostWithKill.set(t.job, (lostWithKill.get(t.job) ?? 0) + 1);
      }
      const roundLines = [...claimedAll].map(([job, n]) => {
        const r = rounds.get(job) ?? { ran: 0, skipped: 0 };
        return { job, claimed: n, ran: r.ran, lost: lostWithKill.get(job) ?? 0, skipped: r.skipped, instances: claimersInWindow.get(job)?.size ?? 0 };
      });
      const goals: Goal[] = [
        {
          label: 'acknowledged readings lost',
          pass: good.lost === 0 && missingAcks === 0,
          detail: `${good.lost} lost, ${missingAcks} MQTT messages without the service's ack, of ${fmt(sent.ackedRows)} acked rows`,
        },
        {
          label: 'readings stored once',
          pass: integrity.duplicateKeys === 0 && integrity.identicalVersions === 0,
          detail: `${integrity.duplicateKeys} duplicate keys, ${integrity.identicalVersions} identical extra versions (${mqtt.duplicateAcks} MQTT redeliveries acked again)`,
        },
        {
          label: 'each round of a periodic job run by one instance',
          pass: roundLines.length > 0 && roundLines.every((l) => l.ran + l.lost === l.claimed),
          detail: roundLines
            .map(
              (l) =>
                `${l.job}: ${l.claimed} rounds claimed, ${l.ran} run${l.lost ? ` + ${l.lost} claimed by the killed process after its last scrape` : ''}, ${l.skipped} skipped (claimed by ${l.instances} instances in the window)`,
            )
            .join('; '),
        },
        { label: 'each scheduled forecast run queued once', pass: fc.runs > 0 && fc.doubled === 0, detail: `${fc.runs} scheduled run(s), ${fc.doubled} queued twice` },
        {
          label: 'each Modbus device polled by one instance at a time',
          pass: overlaps === 0 && idle.length === 0,
          detail: `${overlaps} overlapping pollers over ${verdicts.reduce((s, v) => s + v.connections, 0)} connections, ${fmt(verdicts.reduce((s, v) => s + v.requests, 0))} requests${idle.length ? `; never polled: ${idle.join(', ')}` : ''}`,
        },
        {
          label: `devices of the killed instance taken over within ${TAKEOVER_GOAL_S} s`,
          pass: takeoverGaps.length > 0 && Math.max(...takeoverGaps) <= TAKEOVER_GOAL_S,
          detail: takeoverGaps.length
            ? `${takeoverGaps.length} device(s): longest pause ${Math.max(...takeoverGaps).toFixed(1)} s, leases all moved after ${takeoverS?.toFixed(1)} s`
            : 'the killed instance held no device',
        },
        {
          label: 'alarm transitions delivered in order per alarm',
          pass: outOfOrder === 0 && complete === flags.alarms && badSignatures === 0,
          detail: `${complete} of ${flags.alarms} alarms with opened, acknowledged, closed; ${outOfOrder} out of order; ${redelivered} redelivered; ${badSignatures} bad signatures`,
        },
      ];
      return {
        context: [
          `three mdm serve processes (every component on, MQTT through Mosquitto's shared subscription) on one PostgreSQL database (${bench.name}); ${cpus().length} cores, load ${loadNow()} at the end`,
          `load: ${fmt(meters)} meters × ${flags.hours} h = ${fmt(totalRows)} rows at ${fmt(flags.rate)} rows/s (half HTTP, half MQTT), ${flags.devices} Modbus devices polled every 1 s, ${flags.alarms} alarms × 3 transitions to one hook, silence check every ${SILENCE_S} s, readiness every minute, day-ahead scheduled at :${String(dueMinute).padStart(2, '0')}`,
          `kill -9 of ${killed?.name ?? '—'} at ${(flags['kill-at'] * 100).toFixed(0)} % of the rows, started again ${flags['down-s']} s later; the run took ${elapsedS.toFixed(0)} s; HTTP network errors retried ${tally.networkErrors}, 5xx ${tally.fiveXx}`,
        ],
        figures: [
          { label: 'acknowledged rows', values: [sent.ackedRows], unit: 'rows', better: 'higher' },
          { label: 'Modbus takeover after the kill (longest pause of its devices)', values: [takeoverGaps.length ? Math.max(...takeoverGaps) : Number.NaN], unit: 's', better: 'lower' },
          { label: 'hook deliveries received', values: [receiver.received.length], unit: 'requests', better: 'higher' },
        ],
        goals,
        notes: good.examples.length ? [`examples of rows not stored: ${good.examples.join('; ')}`] : [],
      };
    } finally {
      await cleanup();
      await bench.drop();
    }
  },
};
