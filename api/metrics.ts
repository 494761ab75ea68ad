import { createServer, type Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { HealthProbe } from '../models/health-probe.js';
import type { WorkMetrics } from '../models/work-metrics.js';
import type { Database } from '../sql/database.js';
import { classifyDbError } from '../sql/db-errors.js';
import { alarmTransitionsAfter, backlogCounts, type BacklogCounts } from '../sql/metrics.repository.js';

/**
 * Prometheus metrics of one `mdm serve` instance (issue 19), scraped at
 * `/metrics` (docs/operations.md lists them). Counters count what this
 * process did since it started; gauges read the shared queues from the
 * database at scrape time (every instance reports the same backlog) and the
 * components' health probes.
 */
export interface Metrics {
  readonly registry: Registry;
  /** The text of one scrape (the database and the probes are read once for it). */
  scrape(): Promise<string>;
  /** One ingest call finished (every transport): rows by outcome, rejects by reason. */
  ingested(transport: string, counts: IngestCounts): void;
  /** What the background components report: rounds of periodic jobs, forecast runs, hook deliveries. */
  readonly work: WorkMetrics;
  /** An error a request or a component got from the database (anything else is ignored). */
  dbError(err: unknown): void;
}

/** A database's error, not the service's own: a SQLSTATE, or one classifyDbError reads as the database unreachable. */
const fromDatabase = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code;
  return (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) || classifyDbError(err) === 'unavailable';
};

export interface IngestCounts {
  readonly accepted: number;
  readonly unchanged: number;
  readonly superseded: number;
  readonly rejected: readonly { readonly reason: string }[];
}

/** Distinct reject reasons kept as label values; later ones count as `other` (labels must stay few). */
const MAX_REASONS = 40;

/**
 * A reject reason as a label: its words before the first quoted value,
 * number or colon (`unknown channel "x": known …` → `unknown channel`),
 * lower case, at most 48 characters.
 */
export function reasonLabel(reason: string): string {
  const head = reason
    .split(/["'`:(\d[]/, 1)[0]
    .trim()
    .toLowerCase()
    .replace(/\s+/g, ' ');
  return head.slice(0, 48) || 'other';
}

/** Numeric fields of a probe's answer, flattened one level (`devices.failing` → `devices_failing`). */
function numericFields(o: Record<string, unknown>, prefix = ''): [string, number][] {
  const out: [string, number][] = [];
  for (const [k, v] of Object.entries(o)) {
    const name = `${prefix}${k.replace(/[^A-Za-z0-9_]/g, '_')}`;
    if (typeof v === 'number' && Number.isFinite(v)) out.push([name, v]);
    else if (!prefix && v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...numericFields(v as Record<string, unknown>, `${name}_`));
  }
  return out;
}

export function createMetrics(o: { database: Database; probes: () => readonly HealthProbe[] }): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'mdm_' }); // CPU, memory, GC, event-loop lag (mdm_nodejs_eventloop_lag_*)

  const rows = new Counter({
    name: 'mdm_ingest_rows_total',
    help: 'Rows ingested by this instance, by transport and outcome (accepted, unchanged, superseded, rejected)',
    labelNames: ['transport', 'outcome'],
    registers: [registry],
  });
  const rejects = new Counter({
    name: 'mdm_ingest_rejected_rows_total',
    help: 'Rejected rows by transport and reason (the reason text up to its first value)',
    labelNames: ['transport', 'reason'],
    registers: [registry],
  });
  const reasons = new Set<string>();

  // The backlog gauges are collected side by side in one scrape: one statement for both (scrape() starts afresh).
  let counted: Promise<BacklogCounts | undefined> | undefined;
  // The database unreachable: the backlog series are left out of the scrape (absent, not stale), the rest is answered.
  const backlog = () =>
    (counted ??= backlogCounts(o.database).catch((err: unknown) => {
      dbError(err);
      return undefined;
    }));
  /** A gauge by queue, collected from this scrape's one statement of counts. */
  const backlogGauge = (name: string, help: string, pick: (b: BacklogCounts) => Readonly<Record<string, number>>) =>
    new Gauge({
      name,
      help,
      labelNames: ['queue'],
      registers: [registry],
      async collect() {
        this.reset();
        const b = await backlog();
        if (b) for (const [queue, v] of Object.entries(pick(b))) this.set({ queue }, v);
      },
    });
  backlogGauge(
    'mdm_backlog',
    'Work waiting in the shared database: vee_queue (meter-channel-days to validate), billing_dirty (days to roll up), hook deliveries by status, alarms by state, forecast runs by status',
    (b) => b.count,
  );
  backlogGauge('mdm_backlog_oldest_seconds', 'Age of the oldest waiting item: VEE lag, rollup lag, hook delivery lag', (b) => b.oldestS);

  const dbErrors = new Counter({
    name: 'mdm_db_errors_total',
    help: 'Errors this instance got from the database in API requests and scrapes, by kind: unavailable (unreachable, shutting down), race (unique violation, serialization failure, deadlock), data (anything else with a SQLSTATE)',
    labelNames: ['kind'],
    registers: [registry],
  });
  const dbError = (err: unknown) => {
    if (fromDatabase(err)) dbErrors.inc({ kind: classifyDbError(err) });
  };
  // Alarm transitions from the shared outbox, read incrementally at each scrape (every instance reports the same: use max() across instances).
  let transitionsAfter = 0;
  new Counter({
    name: 'mdm_alarm_transitions_total',
    help: 'Alarm transitions written to the shared outbox (opened, repeated, acknowledged, closed, …), whichever instance made them; every instance reports the same',
    labelNames: ['transition'],
    registers: [registry],
    async collect() {
      try {
        const r = await alarmTransitionsAfter(o.database, transitionsAfter);
        for (const [transition, n] of Object.entries(r.counts)) this.inc({ transition }, n);
        transitionsAfter = r.lastId;
      } catch (err) {
        dbError(err); // the database unreachable: the counters stay where they were
      }
    },
  });

  // Both probe gauges are collected side by side in one scrape: the probes are asked once for both (scrape() starts afresh).
  let probed: Promise<[string, Record<string, unknown> & { ok: boolean }][]> | undefined;
  const probeAll = () => {
    if (probed === undefined) {
      probed = Promise.all(
        o.probes().map(async (p): Promise<[string, Record<string, unknown> & { ok: boolean }]> => {
          try {
            return [p.name, await p.check()];
          } catch {
            return [p.name, { ok: false }];
          }
        }),
      );
    }
    return probed;
  };
  new Gauge({
    name: 'mdm_component_up',
    help: "1 when a component's health probe is ok (as in GET /health), 0 otherwise",
    labelNames: ['component'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [name, r] of await probeAll()) this.set({ component: name }, r.ok ? 1 : 0);
    },
  });
  new Gauge({
    name: 'mdm_component_state',
    help: "Numeric fields of a component's health probe (MQTT pending and acknowledged messages, Modbus devices by state, VEE processed, forecast threads…)",
    labelNames: ['component', 'field'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [name, r] of await probeAll()) for (const [field, v] of numericFields(r)) this.set({ component: name, field }, v);
    },
  });

  new Gauge({
    name: 'mdm_db_pool_connections',
    help: 'Database pool connections by state (total, idle, waiting clients); the server flavour only',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const s = o.database.poolStats?.();
      if (!s) return;
      this.set({ state: 'total' }, s.total);
      this.set({ state: 'idle' }, s.idle);
      this.set({ state: 'waiting' }, s.waiting);
    },
  });

  const rounds = new Counter({
    name: 'mdm_job_rounds_total',
    help: 'Rounds of periodic jobs (alarms.silence, billing.readiness, epias.fetch, forecast.<horizon>|<target>) run by this instance or left to the instance that claimed them (outcome ran|skipped)',
    labelNames: ['job', 'outcome'],
    registers: [registry],
  });
  const forecastRuns = new Histogram({
    name: 'mdm_forecast_run_duration_seconds',
    help: 'Forecast runs executed by this instance, by final status (done, partial, failed): execution time',
    labelNames: ['status'],
    buckets: [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900],
    registers: [registry],
  });
  const deliveries = new Histogram({
    name: 'mdm_hook_delivery_seconds',
    help: 'Hook deliveries ended by this instance (delivered, failed: given up): time from the alarm transition to the end',
    labelNames: ['outcome'],
    buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200],
    registers: [registry],
  });
  const mqttMessages = new Histogram({
    name: 'mdm_mqtt_message_seconds',
    help: 'MQTT messages stored by this instance: arrival → committed and acknowledged (to the broker, and on the acks topic when asked)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  // Forecast targets name jobs (one per scheduled target): the label keeps the kind of job only, so series stay few.
  const jobLabel = (job: string) => job.split('|', 1)[0];

  return {
    registry,
    dbError,
    work: {
      round: (job, ran) => rounds.inc({ job: jobLabel(job), outcome: ran ? 'ran' : 'skipped' }),
      forecastRun: (status, seconds) => forecastRuns.observe({ status }, seconds),
      delivery: (outcome, seconds) => deliveries.observe({ outcome }, seconds),
      mqttMessage: (seconds) => mqttMessages.observe(seconds),
    },
    async scrape() {
      counted = undefined;
      probed = undefined;
      try {
        return await registry.metrics();
      } finally {
        counted = undefined;
        probed = undefined;
      }
    },
    ingested(transport, c) {
      if (c.accepted) rows.inc({ transport, outcome: 'accepted' }, c.accepted);
      if (c.unchanged) rows.inc({ transport, outcome: 'unchanged' }, c.unchanged);
      if (c.superseded) rows.inc({ transport, outcome: 'superseded' }, c.superseded);
      if (c.rejected.length === 0) return;
      rows.inc({ transport, outcome: 'rejected' }, c.rejected.length);
      for (const r of c.rejected) {
        let reason = reasonLabel(r.reason);
        if (!reasons.has(reason)) {
          if (reasons.size >= MAX_REASONS) reason = 'other';
          else reasons.add(reason);
        }
        rejects.inc({ transport, reason });
      }
    },
  };
}

/**
 * HTTP latency by route (the route's pattern, not the URL: `/v1/meters/:id`),
 * method and status class, and `GET /metrics` (permission `metrics:read`).
 */
export function registerMetrics(app: FastifyInstance, metrics: Metrics): void {
  const http = new Histogram({
    name: 'mdm_http_request_duration_seconds',
    help: 'HTTP request latency by route pattern, method and status class',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [metrics.registry],
  });
  app.addHook('onError', async (_request, _reply, err) => metrics.dbError(err));
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched'; // a 404 is not a route: one label for all of them
    http.observe({ route, method: request.method, status: `${Math.floor(reply.statusCode / 100)}xx` }, reply.elapsedTime / 1000);
  });
  app.get(
    '/metrics',
    {
      config: { permission: 'metrics:read', rateLimit: false },
      schema: { tags: ['health'], summary: 'Prometheus metrics of this instance (text format 0.0.4)', hide: false },
    },
    async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.scrape()),
  );
}

/**
 * METRICS_PORT: a plain HTTP listener answering GET /metrics without a key
 * (and 404 to anything else), for a Prometheus inside the network; bind it
 * to an interface the public cannot reach (METRICS_HOST, default 127.0.0.1).
 * Resolves once listening; the server's close() stops it.
 */
export async function listenMetrics(metrics: Metrics, port: number, host: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
      return;
    }
    metrics.scrape().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`scrape failed: ${err.message}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}
