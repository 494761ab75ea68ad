/**
 * `mdm serve` checks that it can listen on its ports before it opens the
 * database (seconds on PGlite) and generates an admin key: a port taken by
 * another process (Mosquitto on 1883, a second mdm on 8080) stops the start
 * at once with what to set instead, and no key is made that is never shown.
 * The real listen can still lose a race with another process; serve reports
 * that the same way.
 */
import { createServer } from 'node:net';
import type { Config } from '../models/config.js';
import { CliError } from './io.js';

export interface PortUse {
  readonly port: number;
  /** The variable that sets the port, for the message. */
  readonly what: 'PORT' | 'MQTT_PORT';
}

/** The ports `mdm serve` listens on with this configuration (0 = any free port: nothing to check). */
export function portsOf(config: Pick<Config, 'PORT' | 'MQTT_PORT' | 'MQTT_URL'>): PortUse[] {
  const out: PortUse[] = [];
  if (config.PORT > 0) out.push({ port: config.PORT, what: 'PORT' });
  if (!config.MQTT_URL && config.MQTT_PORT > 0) out.push({ port: config.MQTT_PORT, what: 'MQTT_PORT' });
  return out;
}

/**
 * What to do about a port that cannot be listened on, or undefined for an
 * error that is not about the port.
 * @example portAdvice({ port: 1883, what: 'MQTT_PORT' }, '0.0.0.0', 'EADDRINUSE')
 * // 'port 1883 on 0.0.0.0 (MQTT_PORT, the embedded MQTT broker) is already in use (another MQTT broker?): set MQTT_PORT=0 to turn the embedded broker off, …'
 */
export function portAdvice(use: PortUse, host: string, code: string | undefined): string | undefined {
  const { port, what } = use;
  if (code === 'EADDRINUSE') {
    return what === 'MQTT_PORT'
      ? `port ${port} on ${host} (MQTT_PORT, the embedded MQTT broker) is already in use (another MQTT broker?): set MQTT_PORT=0 to turn the embedded broker off, ` +
          `MQTT_PORT=${port + 1} (or another free port) to run it there, or MQTT_URL=mqtt://localhost:${port} to ingest from the broker that is there`
      : `port ${port} on ${host} (PORT, the HTTP API) is already in use (another mdm serve?): stop the other process or set PORT to a free port (PORT=0: any free one)`;
  }
  if (code === 'EACCES') return `no permission to listen on ${what} ${port}: use a port above 1023`;
  if (code === 'EADDRNOTAVAIL') return `HOST=${host} is not an address of this machine`;
  return undefined;
}

/**
 * Throws CliError naming every port of `config` that cannot be listened on
 * at `config.HOST` (each listened on and closed again at once), and the
 * clash of PORT = MQTT_PORT.
 */
export async function assertPortsFree(config: Pick<Config, 'PORT' | 'MQTT_PORT' | 'MQTT_URL' | 'HOST'>): Promise<void> {
  const uses = portsOf(config);
  if (uses.length === 2 && uses[0].port === uses[1].port) {
    throw new CliError(`PORT and MQTT_PORT are both ${config.PORT}: give the API and the embedded MQTT broker different ports (or MQTT_PORT=0)`);
  }
  const problems: string[] = [];
  for (const use of uses) {
    const code = await tryListen(use.port, config.HOST);
    if (code) problems.push(portAdvice(use, config.HOST, code) ?? `cannot listen on ${use.what} ${use.port} on ${config.HOST}: ${code}`);
  }
  if (problems.length === 1) throw new CliError(problems[0]);
  if (problems.length > 1) throw new CliError(`cannot listen:\n${problems.map((p) => `  ${p}`).join('\n')}`);
}

/** Ports after the default one that the embedded broker may move to. */
const MQTT_MOVE_SPAN = 20;

/**
 * The configuration `mdm serve` listens with: as given, except that the
 * embedded broker's default port (MQTT_PORT not given) yields when taken:
 * on a machine with a Mosquitto on 1883 a first `npm start` runs with the
 * broker on the next free port (1884…1903) and says so, rather than
 * stopping. A given MQTT_PORT is kept (assertPortsFree then names it).
 *
 * @example
 *   const { config, moved } = await settleMqttPort(readConfig(env), given);
 *   // moved → { from: 1883, to: 1884 } when 1883 was taken and MQTT_PORT not given
 */
export async function settleMqttPort<C extends Pick<Config, 'MQTT_PORT' | 'MQTT_URL' | 'HOST' | 'PORT'>>(
  config: C,
  given: ReadonlySet<string>,
): Promise<{ config: C; moved?: { from: number; to: number } }> {
  const from = config.MQTT_PORT;
  if (config.MQTT_URL || from === 0 || given.has('MQTT_PORT')) return { config };
  if ((await tryListen(from, config.HOST)) !== 'EADDRINUSE') return { config };
  for (let to = from + 1; to <= Math.min(from + MQTT_MOVE_SPAN, 65_535); to++) {
    if (to === config.PORT) continue;
    if ((await tryListen(to, config.HOST)) === undefined) return { config: { ...config, MQTT_PORT: to }, moved: { from, to } };
  }
  return { config }; // nothing free nearby: assertPortsFree says what to set
}

/** What `mdm serve` prints when the embedded broker moved off its taken default port. */
export function movedNote(moved: { from: number; to: number }): string {
  return (
    `port ${moved.from} is taken (another MQTT broker?): the embedded MQTT broker listens on ${moved.to} instead. ` +
    `Set MQTT_URL=mqtt://localhost:${moved.from} to ingest from the broker on ${moved.from}, MQTT_PORT to choose the port, MQTT_PORT=0 for no broker`
  );
}

/** Listens on port at host and closes again; resolves with the error code, or undefined when the port is free. */
function tryListen(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}
