/**
 * `npm run bench -- forecast`, part (d) (issue 12, defect 6): does a forecast
 * run leave the service responsive? The real service (`node bin/mdm.js
 * serve`, every component on, as `npm start` runs it) in its own process,
 * on the server database and on the embedded one; the 33 Cambridge buildings
 * (../shared/data, one year of hourly history up to 2019-11-20 09:00 UTC,
 * Bedford temperature) posted over HTTP. Then, from this process:
 *
 * - idle: for IDLE_S seconds (about as long as the run), one request at a time (GET /health and a day of
 *   one building's readings, alternately, every PROBE_EVERY_MS) and one MQTT
 *   QoS 1 reading per MQTT_EVERY_MS through the embedded broker with a
 *   gateway key, timed publish → PUBACK (sent once the row is stored);
 * - during a run: the same probes while an `auto` day-ahead run of the
 *   portfolio (33 members and their sum, its short backtest, every model
 *   fitted) computes, until the run ends.
 *
 * Reported: API and MQTT acknowledgement latency idle and during the run
 * (p50, p99, max), the run's wall time, status and members forecast. Goal:
 * API p99 during the run under 100 ms, MQTT acknowledgement p99 not above
 * idle p99 + MQTT_GROWTH_MS.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import mqtt from 'mqtt';
import type { SeriesData } from '../forecast/model.js';
import { loadNow, percentile, type Figure, type Goal } from './bench.js';
import { openBenchDatabase } from './bench-database.js';
import { freePort, ServiceProcess } from './chaos-service.js';
import { CAMBRIDGE_TZ } from './forecast-data.js';

const HOUR = 3_600_000;
const CUTOFF_MS = Date.parse('2019-11-20T09:00:00Z');
const HISTORY_FROM_MS = CUTOFF_MS - 366 * 24 * HOUR;
const ISSUE = '2019-11-20T09:30:00Z';
const IDLE_S = 60; // as long as a run takes: background cycles (VEE, billing rollups) fall in both windows
const PROBE_EVERY_MS = 50;
const MQTT_EVERY_MS = 200;
const API_P99_GOAL_MS = 100;
const MQTT_GROWTH_MS = 50;
const RUN_TIMEOUT_MS = 15 * 60_000;
/** Upper bound of one flavour's measurement (load, VEE, idle, the run). */
export const SERVED_TIMEOUT_MS = 30 * 60_000;

export interface ServedReport {
  readonly context: string[];
  readonly figures: Figure[];
  readonly goals: Goal[];
  readonly notes: string[];
}

interface Probes {
  readonly api: number[];
  readonly mqtt: number[];
  readonly apiErrors: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ms = (x: number) => (Number.isFinite(x) ? `${x.toFixed(0)} ms` : '–');

/** The served measurement on each flavour (server first, then embedded). */
export async function measureServedRuns(
  o: { readonly databaseUrl: string; readonly buildings: readonly SeriesData[] },
  log: (line: string) => void,
  onCleanup: (fn: () => Promise<void>) => void,
): Promise<ServedReport> {
  const out: ServedReport = { context: [], figures: [], goals: [], notes: [] };
  const only = process.env.FORECAST_SERVED_FLAVOUR; // one of them alone (a profile, a quick look)
  for (const flavour of (['server', 'embedded'] as const).filter((f) => !only || f === only)) {
    const r = await measureOne(flavour, o, log, onCleanup);
    out.context.push(...r.context);
    out.figures.push(...r.figures);
    out.goals.push(...r.goals);
    out.notes.push(...r.notes);
  }
  return out;
}

async function measureOne(
  flavour: 'server' | 'embedded',
  o: { readonly databaseUrl: string; readonly buildings: readonly SeriesData[] },
  log: (line: string) => void,
  onCleanup: (fn: () => Promise<void>) => void,
): Promise<ServedReport> {
  const bench = flavour === 'server' ? await openBenchDatabase(o.databaseUrl, RUN_TIMEOUT_MS * 2, log, onCleanup) : undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'mdm-forecast-served-'));
  const [port, mqttPort] = [await freePort(), await freePort()];
  const adminKey = `bench-admin-${randomBytes(16).toString('hex')}`;
  const service = new ServiceProcess(
    {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? tmpdir(),
      ...(bench ? { DATABASE_URL: bench.url } : {}),
      HOST: '127.0.0.1',
      PORT: String(port),
      MQTT_PORT: String(mqttPort),
      MDM_DATA_DIR: dataDir,
      MDM_BOOTSTRAP_ADMIN_KEY: adminKey,
      LOG_LEVEL: 'warn',
      FORECAST_POLL_S: '1',
      FORECAST_SCHEDULE: 'off',
      FORECAST_THREADS: '1',
    },
    join(tmpdir(), `mdm-forecast-served-${process.pid}-${flavour}.log`),
    // e.g. FORECAST_SERVICE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof": where the service's threads spend their time
    process.env.FORECAST_SERVICE_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [],
  );
  const cleanup = async () => {
    await service.stop();
    rmSync(dataDir, { recursive: true, force: true });
    await bench?.drop();
  };
  onCleanup(cleanup);
  const base = `http://127.0.0.1:${port}`;
  const call = async (method: string, path: string, body?: unknown, key = adminKey) => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (res.status >= 300) throw new Error(`${method} ${path} → ${res.status}: ${text.slice(0, 500)}`);
    return JSON.parse(text) as Record<string, any>;
  };
  try {
    await service.start();
    // Registry and history through the API, as an integrator loads them.
    const t0 = performance.now();
    const ids = o.buildings.map((b) => `CAM-${b.id}`);
    await call('PUT', '/v1/meters', [
      { id: 'WX-BEDFORD', commodity: 'weather', timezone: CAMBRIDGE_TZ },
      ...ids.map((id) => ({ id, timezone: CAMBRIDGE_TZ, intervalMinutes: 60, portfolio: 'CAM', weatherStation: 'WX-BEDFORD' })),
      { id: 'PROBE', timezone: CAMBRIDGE_TZ, intervalMinutes: 60 },
    ]);
    await call('PUT', '/v1/portfolios/CAM', { timezone: CAMBRIDGE_TZ, area: 'GB' });
    let rows: { meter: string; channel: string; start: string; value: number }[] = [];
    let posted = 0;
    const flush = async () => {
      if (!rows.length) return;
      const r = await call('POST', '/v1/readings', { readings: rows });
      if (r.rejected?.length) throw new Error(`readings rejected: ${JSON.stringify(r.rejected.slice(0, 3))}`);
      posted += rows.length;
      rows = [];
    };
    const push = async (meter: string, channel: string, s: SeriesData, values: ArrayLike<number>) => {
      for (let t = HISTORY_FROM_MS; t < CUTOFF_MS; t += HOUR) {
        const v = values[(t - s.startMs) / HOUR];
        if (v === undefined || !Number.isFinite(v)) continue;
        rows.push({ meter, channel, start: new Date(t).toISOString(), value: v });
        if (rows.length >= 10_000) await flush();
      }
    };
    for (const [i, b] of o.buildings.entries()) await push(ids[i], 'active_import', b, b.values);
    await push('WX-BEDFORD', 'temperature', o.buildings[0], o.buildings[0].temperature!);
    await flush();
    log(`(d) ${flavour}: ${posted.toLocaleString('en-US')} readings of ${ids.length} buildings + weather posted in ${((performance.now() - t0) / 1000).toFixed(0)} s; waiting for VEE`);
    await settle(base, log);

    const gateway = (await call('POST', '/v1/keys', { role: 'gateway', name: 'bench-gw', scope: { meterPrefixes: ['PROBE'] } })).key as string;
    const client = await mqtt.connectAsync(`mqtt://127.0.0.1:${mqttPort}`, { username: 'bench-gw', password: gateway, clientId: `bench-gw-${process.pid}`, reconnectPeriod: 0 });
    let probeHour = Date.parse('2020-01-01T00:00:00Z');
    const probes = async (until: () => boolean): Promise<Probes> => {
      const p: Probes = { api: [], mqtt: [], apiErrors: [] };
      const day = `channel=active_import&from=2019-11-19T00:00:00Z&to=2019-11-20T00:00:00Z`;
      const api = (async () => {
        for (let k = 0; !until(); k++) {
          const t = performance.now();
          try {
            const res = await fetch(k % 2 ? `${base}/v1/meters/CAM-b0/readings?${day}` : `${base}/health`, { headers: { authorization: `Bearer ${adminKey}` } });
            await res.arrayBuffer();
            if (res.status !== 200) p.apiErrors.push(`${k % 2 ? 'readings' : 'health'} ${res.status}`);
          } catch (err) {
            p.apiErrors.push((err as Error).message);
          }
          const took = performance.now() - t;
          p.api.push(took);
          await sleep(Math.max(0, PROBE_EVERY_MS - took));
        }
      })();
      const mq = (async () => {
        while (!until()) {
          const t = performance.now();
          const start = new Date((probeHour += HOUR)).toISOString();
          await client.publishAsync('mdm/v1/meters/PROBE/readings', JSON.stringify([{ channel: 'active_import', start, value: 1 }]), { qos: 1 });
          const took = performance.now() - t;
          p.mqtt.push(took);
          await sleep(Math.max(0, MQTT_EVERY_MS - took));
        }
      })();
      await Promise.all([api, mq]);
      return p;
    };

    try {
      const idleEnd = performance.now() + IDLE_S * 1000;
      const idle = await probes(() => performance.now() > idleEnd);
      log(`(d) ${flavour} idle: API p99 ${ms(percentile(idle.api, 99))}, MQTT ack p99 ${ms(percentile(idle.mqtt, 99))}`);

      const run = await call('POST', '/v1/forecasts/runs', { target: 'portfolio:CAM', horizon: 'day-ahead', model: 'auto', issueTime: ISSUE });
      const tRun = performance.now();
      let final: Record<string, any> | undefined;
      const watch = (async () => {
        while (!final && performance.now() - tRun < RUN_TIMEOUT_MS) {
          await sleep(500);
          const r = await call('GET', `/v1/forecasts/runs/${run.id}`);
          if (r.status !== 'queued' && r.status !== 'running') final = r;
        }
      })();
      const during = await probes(() => final !== undefined || performance.now() - tRun > RUN_TIMEOUT_MS);
      await watch;
      const runS = (performance.now() - tRun) / 1000;
      if (!final) throw new Error(`(d) ${flavour}: run ${run.id} did not finish within ${RUN_TIMEOUT_MS / 60_000} min`);
      const cov = final.coverage as { forecast: number; members: number } | null;
      log(
        `(d) ${flavour} during the run (${runS.toFixed(0)} s, ${final.status}): API p99 ${ms(percentile(during.api, 99))}, max ${ms(Math.max(...during.api))}; MQTT ack p99 ${ms(percentile(during.mqtt, 99))}`,
      );

      const figures: Figure[] = [];
      const add = (label: string, xs: number[], p: number | 'max') =>
        figures.push({ label: `(d) ${flavour}: ${label}`, values: [p === 'max' ? Math.max(...xs) : percentile(xs, p)], unit: 'ms', better: 'lower' });
      add('API p50 idle', idle.api, 50);
      add('API p99 idle', idle.api, 99);
      add('API p50 during the run', during.api, 50);
      add('API p99 during the run', during.api, 99);
      add('API max during the run', during.api, 'max');
      add('MQTT ack p50 idle', idle.mqtt, 50);
      add('MQTT ack p99 idle', idle.mqtt, 99);
      add('MQTT ack p50 during the run', during.mqtt, 50);
      add('MQTT ack p99 during the run', during.mqtt, 99);
      figures.push({ label: `(d) ${flavour}: auto run of the 33-building portfolio (wall)`, values: [runS], unit: 's', better: 'lower' });
      if (cov) figures.push({ label: `(d) ${flavour}: members forecast`, values: [(100 * cov.forecast) / cov.members], unit: '%', better: 'higher' });

      const apiP99 = percentile(during.api, 99);
      const mqttGrowth = percentile(during.mqtt, 99) - percentile(idle.mqtt, 99);
      const goals: Goal[] = [
        {
          label: `(d) ${flavour}: API p99 < ${API_P99_GOAL_MS} ms while an auto run computes`,
          pass: apiP99 < API_P99_GOAL_MS && during.apiErrors.length === 0 && (final.status === 'done' || final.status === 'partial'),
          detail: `${ms(apiP99)} over ${during.api.length} requests (idle ${ms(percentile(idle.api, 99))}), ${during.apiErrors.length} errors${during.apiErrors.length ? ` (${[...new Set(during.apiErrors)].slice(0, 3).join(', ')})` : ''}; run ${final.status} in ${runS.toFixed(0)} s, ${cov ? `${cov.forecast} of ${cov.members}` : '?'} members forecast`,
        },
        {
          label: `(d) ${flavour}: MQTT acknowledgement p99 does not grow (≤ idle + ${MQTT_GROWTH_MS} ms)`,
          pass: mqttGrowth <= MQTT_GROWTH_MS,
          detail: `${ms(percentile(during.mqtt, 99))} during the run vs ${ms(percentile(idle.mqtt, 99))} idle (${during.mqtt.length} and ${idle.mqtt.length} messages)`,
        },
      ];
      const engine = (final.metadata?.engine ?? {}) as Record<string, unknown>;
      return {
        context: [
          `(d) ${flavour}: mdm serve (all components, FORECAST_THREADS=1) in its own process; ${posted.toLocaleString('en-US')} readings (${ids.length} Cambridge buildings + Bedford temperature, ${new Date(HISTORY_FROM_MS).toISOString().slice(0, 10)} … cut-off ${new Date(CUTOFF_MS).toISOString().slice(0, 16)}Z); load average ${loadNow()}`,
        ],
        figures,
        goals,
        notes: [
          `(d) ${flavour}: probes one at a time every ${PROBE_EVERY_MS} ms (GET /health, a day of CAM-b0's readings), one MQTT QoS 1 reading every ${MQTT_EVERY_MS} ms (publish → PUBACK, sent once stored); idle ${IDLE_S} s, then while run ${run.id} computed (model ${final.model}, thread ${String(engine.thread ?? '?')})`,
        ],
      };
    } finally {
      await client.endAsync();
    }
  } finally {
    await cleanup();
  }
}

/** Waits until VEE has worked off what the load queued (its /health `pending`), at most 10 minutes. */
async function settle(base: string, log: (line: string) => void): Promise<void> {
  const until = performance.now() + 10 * 60_000;
  for (;;) {
    const h = (await (await fetch(`${base}/health`)).json()) as { components?: Record<string, { pending?: number }> };
    const pending = h.components?.vee?.pending;
    if (pending === undefined || pending === 0) return;
    if (performance.now() > until) return log(`(d) VEE still has ${pending} pending after 10 min: measuring anyway`);
    await sleep(2000);
  }
}
