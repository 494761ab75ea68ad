import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { API_VERSION, buildApp } from '../api/app.js';
import { createMetrics, listenMetrics, registerMetrics } from '../api/metrics.js';
import { roundClaimer } from '../sql/job-tick.repository.js';
import type { HealthProbe } from '../models/health-probe.js';
import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { withIngestActivity } from '../ingest/ingest-listeners.js';
import { createIngestActivity } from '../models/ingest-activity.js';
import type { Config } from '../models/config.js';
import { ensureAdminKey } from './admin-key.js';
import { COMPONENTS, isWanted, type Component, type ComponentFactory } from './components.js';
import { CliError, type Io } from './io.js';
import { openDatabase, type OpenedDatabase } from './open-database.js';
import { assertPortsFree, movedNote, portAdvice, settleMqttPort } from './port-check.js';

export interface RunningServer {
  /** Base URL, e.g. http://localhost:8080 */
  readonly url: string;
  /** Graceful stop: API, components (reverse order), database, data-dir lock. */
  stop(): Promise<void>;
}

/**
 * `mdm serve`: checks its ports are free, opens and migrates the database,
 * starts the components and the HTTP API, makes sure an admin key exists and
 * prints where everything is. Resolves once listening; the caller wires
 * signals to `stop()`. A key is generated only once everything runs, so a
 * start that fails never leaves behind a key that was not shown.
 */
export interface ServeOptions {
  /** Configuration keys the operator gave (cli/load-config readConfigWithSources): a default MQTT_PORT that is taken moves, a given one stops the start. */
  readonly given?: ReadonlySet<string>;
}

export async function serve(configured: Config, io: Io, factories: readonly ComponentFactory[] = COMPONENTS, o: ServeOptions = {}): Promise<RunningServer> {
  const note = (msg: string) => io.err(`mdm: ${msg}\n`);
  const { config, moved } = await settleMqttPort(configured, o.given ?? new Set(['MQTT_PORT']));
  if (moved) note(movedNote(moved));
  await assertPortsFree(config); // before the (slow) database open
  const opened = await openDatabase(config, 'mdm serve', note);
  const { database } = opened;
  const started: Component[] = [];
  let app: FastifyInstance | undefined;
  let metricsServer: Server | undefined;

  const stop = async () => {
    await new Promise<void>((r) => (metricsServer ? metricsServer.close(() => r()) : r()));
    await app?.close().catch((err: Error) => note(`closing the API: ${err.message}`));
    for (const c of [...started].reverse()) {
      await c.stop().catch((err: Error) => note(`stopping ${c.name}: ${err.message}`));
    }
    await opened.close();
  };

  try {
    // Ingest first: every transport counts its rows into `activity`; background rounds wait during bulk loads.
    const activity = createIngestActivity({ busyRowsPerS: config.BACKGROUND_YIELD_ROWS_PER_S, maxDeferMs: config.BACKGROUND_MAX_DEFER_S * 1000 });
    const probes: HealthProbe[] = [];
    const metrics = createMetrics({ database, probes: () => probes });
    const listeners = { ...withIngestActivity(ALARM_LISTENERS, activity), ingested: metrics.ingested };
    // This process among the instances sharing the database: Modbus leases, claimed rounds of periodic jobs (docs/deployment.md).
    const instance = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    const claimRound = roundClaimer(database, instance, metrics.work);
    const components: Component[] = [];
    for (const make of factories) {
      if (!isWanted(make, config.MDM_COMPONENTS)) continue; // another instance runs it (MDM_COMPONENTS, docs/operations.md)
      const c = await make({ config, database, listeners, activity, instance, claimRound, work: metrics.work });
      if (c) components.push(c);
    }
    probes.push(...components.flatMap((c) => (c.probe ? [c.probe] : [])));
    app = await buildApp({ database, config, listeners, health: probes, logger: { level: config.LOG_LEVEL } });
    registerMetrics(app, metrics); // GET /metrics, HTTP latency by route (docs/operations.md)
    for (const c of components) await c.routes?.(app);
    for (const c of components) {
      await c.start(app.log.child({ component: c.name })).catch((err: Error) => {
        throw new CliError(`${c.name} did not start: ${err.message}`, { cause: err });
      });
      started.push(c);
    }
    await app.listen({ port: config.PORT, host: config.HOST }).catch((err: NodeJS.ErrnoException) => {
      const advice = portAdvice({ port: config.PORT, what: 'PORT' }, config.HOST, err.code);
      throw advice ? new CliError(advice, { cause: err }) : err;
    });
    if (config.METRICS_PORT !== undefined) {
      metricsServer = await listenMetrics(metrics, config.METRICS_PORT, config.METRICS_HOST).catch((err: NodeJS.ErrnoException) => {
        throw new CliError(`cannot serve metrics on METRICS_PORT ${config.METRICS_PORT} (METRICS_HOST ${config.METRICS_HOST}): ${err.code ?? err.message}`, { cause: err });
      });
    }
    const adminKey = await ensureAdminKey(database, config);
    const url = baseUrl(config.HOST, (app.server.address() as AddressInfo).port);
    io.out(summary({ url, opened, adminKey, components, mqtt: mqttLine(config, moved) }));
    return { url, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

function baseUrl(host: string, port: number): string {
  if (host === '0.0.0.0' || host === '::') return `http://localhost:${port}`;
  return host.includes(':') ? `http://[${host}]:${port}` : `http://${host}:${port}`;
}

/** Where MQTT ingest listens or subscribes, for the start banner (no credentials). */
function mqttLine(config: Pick<Config, 'MQTT_URL' | 'MQTT_PORT' | 'HOST'>, moved: { from: number } | undefined): string {
  if (config.MQTT_URL) {
    try {
      const u = new URL(config.MQTT_URL);
      return `broker at ${u.protocol}//${u.host}${u.pathname === '/' ? '' : u.pathname} (MQTT_URL)`;
    } catch {
      return 'broker at MQTT_URL';
    }
  }
  if (config.MQTT_PORT === 0) return 'off (MQTT_PORT=0, no MQTT_URL)';
  const where = baseUrl(config.HOST, config.MQTT_PORT).replace(/^http:/, 'mqtt:');
  return `embedded broker on ${where}${moved ? ` (${moved.from} is taken: MQTT_URL=mqtt://localhost:${moved.from} ingests from the broker there)` : ''}`;
}

function summary(s: { url: string; opened: OpenedDatabase; adminKey: { generated?: string; where: string }; components: Component[]; mqtt: string }): string {
  const lines = [
    '',
    `mdm ${API_VERSION} is running`,
    `  API:        ${s.url}/v1`,
    `  API docs:   ${s.url}/docs`,
    `  Console:    ${s.url}/console/`,
    `  Health:     ${s.url}/health`,
    `  MQTT:       ${s.mqtt}`,
    `  Database:   ${s.opened.description}`,
    `  Components: ${s.components.map((c) => c.name).join(', ') || 'none'}`,
    `  Admin key:  ${s.adminKey.where}`,
  ];
  if (s.adminKey.generated) {
    const bar = '='.repeat(72);
    lines.push(
      '',
      bar,
      '  A new admin API key was generated. It is shown ONCE here and saved in',
      `  ${s.adminKey.where} (readable by you only):`,
      '',
      `    ${s.adminKey.generated}`,
      '',
      `  Try it:  curl -H "Authorization: Bearer ${s.adminKey.generated}" ${s.url}/v1/keys`,
      bar,
    );
  }
  lines.push('', 'Stop with Ctrl+C.', '');
  return lines.join('\n');
}
