import { createServer, type Server, type Socket } from 'node:net';
import { Aedes, type Client } from 'aedes';
import type { Principal } from '../../models/api-key.js';
import { AuthFailureWindow } from './auth-limiter.js';
import type { Timers } from './batcher.js';
import { CONNACK_SERVER_UNAVAILABLE, authenticateGateway, mayPublish, maySubscribe } from './broker-auth.js';
import type { MqttLog } from './log.js';

/** A publish accepted by the embedded broker; `settle` lets the broker acknowledge it. */
export interface BrokerMessage {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly principal: Principal;
}

/** Socket read buffer per connection (bytes): about 600 per-meter messages of a day's hourly readings. */
const READ_BUFFER_BYTES = 1024 * 1024;

export interface EmbeddedBrokerOptions {
  readonly port: number;
  readonly host: string;
  readonly log: MqttLog;
  findKey(key: string): Promise<Principal | undefined>;
  /** Which of these key ids are still active (one query for all connected clients). */
  findActiveKeys(keyIds: readonly string[]): Promise<ReadonlySet<string>>;
  findMeterGroup(meter: string): Promise<string | null | undefined>;
  /** Every this many ms the keys of connected clients are checked again; clients whose key was revoked are disconnected. */
  readonly recheckMs: number;
  /** Failed authentications per client address per minute before CONNECTs from it are refused unchecked; 0 = no limit. */
  readonly authFailuresPerMin: number;
  readonly timers: Timers;
  /**
   * Called for every authorised publish. The broker sends the PUBACK to the
   * publisher (and forwards the message to subscribers) only once `settle` is
   * called: the caller settles after commit, so an acknowledged message is a
   * stored one. Until then aedes reads no further packets from that connection.
   */
  onPublish(message: BrokerMessage, settle: () => void): void;
}

export interface EmbeddedBroker {
  readonly port: number;
  clients(): number;
  /** Publishes on behalf of the service (acks), QoS 1. */
  publish(topic: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the embedded MQTT 3.1.1 broker (aedes) with gateway-key auth. Hooking
 * authorizePublish holds the publisher's PUBACK until the message is stored:
 * aedes writes the PUBACK after authorizePublish calls back (lib/handlers/publish.js).
 */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const principals = new WeakMap<Client, Principal>();
  /** Keys the re-check found revoked while clients used them: their publishes are refused at once. */
  const revoked = new Set<string>();
  const { log, timers } = opts;
  const failures = new AuthFailureWindow({ limit: opts.authFailuresPerMin, windowMs: 60_000, now: timers.now });
  const broker = new Aedes({
    authenticate(client, username, password, done) {
      const address = clientAddress(client);
      const waitMs = failures.blockedFor(address);
      if (waitMs > 0) {
        // No key look-up: a guesser costs the database nothing once over the limit; logged at debug, so it floods no log either.
        const reason = `too many failed authentications from ${address}; try again in ${Math.ceil(waitMs / 1000)} s`;
        log.debug({ clientId: client.id, username, address, reason }, 'MQTT connection refused');
        return done(Object.assign(new Error(reason), { returnCode: CONNACK_SERVER_UNAVAILABLE }), false);
      }
      authenticateGateway(opts.findKey, username, password).then(
        (r) => {
          if (r.ok) {
            principals.set(client, r.principal);
            revoked.delete(r.principal.keyId); // active again (a revoked secret registered anew)
            return done(null, true);
          }
          failures.fail(address);
          log.warn({ clientId: client.id, username, address, reason: r.reason }, 'MQTT connection refused');
          const blockedMs = failures.blockedFor(address);
          if (blockedMs > 0)
            log.warn({ address, blockedMs, limitPerMin: opts.authFailuresPerMin }, 'MQTT: too many failed authentications from this address; its connections are refused unchecked for now');
          done(Object.assign(new Error(r.reason), { returnCode: r.code }), false);
        },
        (err: Error) => {
          log.error({ clientId: client.id, err: err.message }, 'MQTT authentication failed');
          done(Object.assign(new Error('server unavailable'), { returnCode: CONNACK_SERVER_UNAVAILABLE }), false);
        },
      );
    },
    authorizePublish(client, packet, done) {
      if (!client) return done(null); // will message of a client already gone
      const principal = principals.get(client);
      if (!principal) return done(new Error('not authenticated'));
      const topic = packet.topic;
      if (revoked.has(principal.keyId)) {
        log.warn({ clientId: client.id, gateway: principal.name, topic, reason: 'key revoked' }, 'MQTT publish refused');
        return done(new Error('key revoked'));
      }
      mayPublish(principal, topic, opts.findMeterGroup).then(
        (d) => {
          if (!d.ok) {
            // MQTT 3.1.1 cannot refuse one PUBLISH: the connection is closed (§3.3.5).
            log.warn({ clientId: client.id, gateway: principal.name, topic, reason: d.reason }, 'MQTT publish refused');
            return done(new Error(d.reason));
          }
          const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
          opts.onPublish({ topic, payload, principal }, () => done(null));
        },
        (err: Error) => {
          log.error({ clientId: client.id, topic, err: err.message }, 'MQTT publish authorisation failed');
          done(err);
        },
      );
    },
    authorizeSubscribe(client, sub, done) {
      const principal = principals.get(client);
      const d = principal ? maySubscribe(principal, sub.topic) : { ok: false as const, reason: 'not authenticated' };
      if (!d.ok) {
        log.warn({ clientId: client.id, gateway: principal?.name, filter: sub.topic, reason: d.reason }, 'MQTT subscription refused');
        return done(null, null); // SUBACK 0x80 for this filter
      }
      done(null, sub);
    },
  });
  const live = new Set<Client>(); // registered clients, for the key re-check
  broker.on('client', (client) => live.add(client));
  broker.on('clientDisconnect', (client) => live.delete(client));
  broker.on('clientError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'MQTT client error'));
  broker.on('connectionError', (client, err) => log.debug({ clientId: client.id, err: err.message }, 'MQTT connection error'));
  await broker.listen();

  const sockets = new Set<Socket>();
  // A larger read buffer lets aedes take more PUBLISHes per read; it waits for all of them (their commit) before reading on.
  const server: Server = createServer({ highWaterMark: READ_BUFFER_BYTES }, (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => {
      void new Promise<void>((r) => broker.close(() => r()));
      reject(
        err.code === 'EADDRINUSE'
          ? new Error(`MQTT_PORT ${opts.port} on ${opts.host} is already in use: set MQTT_PORT to a free port (0 turns the embedded broker off) or MQTT_URL to use the broker that is there`)
          : err,
      );
    });
    server.listen(opts.port, opts.host, () => {
      server.removeAllListeners('error');
      server.on('error', (err) => log.error({ err: err.message }, 'MQTT listener error'));
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : opts.port;

  /** Disconnects the clients whose key is no longer active (revoked here or by another instance on the same database). */
  async function recheckKeys(): Promise<void> {
    const connected = [...live].flatMap((client) => {
      if (client.closed) {
        live.delete(client); // closed without clientDisconnect (a session taken over by the same client id)
        return [];
      }
      const principal = principals.get(client);
      return principal ? [{ client, principal }] : [];
    });
    if (connected.length === 0) return;
    const active = await opts.findActiveKeys([...new Set(connected.map((c) => c.principal.keyId))]);
    for (const { client, principal } of connected) {
      if (active.has(principal.keyId)) continue;
      revoked.add(principal.keyId);
      log.warn({ clientId: client.id, gateway: principal.name, keyId: principal.keyId }, 'MQTT connection closed: its key was revoked');
      client.close();
    }
  }
  let stopped = false;
  let recheckTimer: unknown = null;
  const scheduleRecheck = () => {
    recheckTimer = timers.setTimeout(() => {
      recheckKeys()
        .catch((err: Error) => log.error({ err: err.message }, 'MQTT key re-check failed; connections kept until the next one'))
        .finally(() => {
          if (!stopped) scheduleRecheck();
        });
    }, opts.recheckMs);
  };
  scheduleRecheck();

  return {
    port,
    clients: () => broker.connectedClients,
    publish: (topic, payload) =>
      new Promise<void>((resolve, reject) => broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false }, (err) => (err ? reject(err) : resolve()))),
    async close() {
      stopped = true;
      timers.clearTimeout(recheckTimer);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await closed;
    },
  };
}

/** The client's IP address (IPv4-mapped IPv6 written as IPv4), the key of the failed-authentication limit. */
function clientAddress(client: Client): string {
  const a = (client.conn as Partial<Socket> | undefined)?.remoteAddress ?? 'unknown';
  return a.startsWith('::ffff:') ? a.slice(7) : a;
}
