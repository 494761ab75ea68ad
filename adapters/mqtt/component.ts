import { readFileSync } from 'node:fs';
import type { HealthProbe } from '../../models/health-probe.js';
import type { Principal } from '../../models/api-key.js';
import { readingLimitsOf, type Config } from '../../models/config.js';
import { findActiveKeyIds, findPrincipalByKey } from '../../sql/api-key.repository.js';
import type { IngestListeners } from '../../ingest/ingest-listeners.js';
import type { Database } from '../../sql/database.js';
import { dbErrorReason } from '../../sql/db-errors.js';
import { findMeterRefs } from '../../sql/meter-lookup.repository.js';
import { ackBody, type MessageOutcome } from './acks.js';
import { Batcher, REAL_TIMERS, type Timers } from './batcher.js';
import { startEmbeddedBroker, type EmbeddedBroker } from './broker.js';
import { SILENT_LOG, type MqttLog } from './log.js';
import { writeIsolating } from './isolate.js';
import { deadLetterMessage, metersOf, rowsOf, writeMessages, type BatchMessage, type WriteOptions } from './message-writer.js';
import { decodeMessage } from './payload.js';
import { createSubscriber, redactUrl, type Subscriber } from './subscriber.js';
import { ackTopic, parseTopic } from './topics.js';

export type MqttConfig = Pick<
  Config,
  | 'HOST'
  | 'MQTT_URL'
  | 'MQTT_PORT'
  | 'MQTT_CLIENT_ID'
  | 'MQTT_SHARE_GROUP'
  | 'MQTT_USERNAME'
  | 'MQTT_PASSWORD'
  | 'MQTT_CA_FILE'
  | 'MQTT_CERT_FILE'
  | 'MQTT_KEY_FILE'
  | 'MQTT_MAX_INFLIGHT'
  | 'MQTT_SESSION_EXPIRY_S'
  | 'MQTT_BATCH_MAX_ROWS'
  | 'MQTT_BATCH_MAX_MS'
  | 'MQTT_BATCH_WRITERS'
  | 'MDM_MAX_BATCH_ROWS'
  | 'MQTT_AUTH_RECHECK_S'
  | 'MQTT_AUTH_FAILURES_PER_MIN'
  | 'MDM_EARLIEST_READING'
  | 'MDM_MAX_FUTURE_HOURS'
  | 'MDM_MAX_INTERVAL_VALUE'
  | 'MDM_MAX_REGISTER_VALUE'
  | 'MDM_MAX_INSTANT_VALUE'
>;

/** A message of a committed batch, for observers (benchmarks). */
export interface CommittedMessage {
  readonly topic: string;
  readonly receivedAt: number;
  readonly outcome: MessageOutcome;
}

export interface MqttComponentDeps {
  readonly config: MqttConfig;
  readonly database: Database;
  readonly log?: MqttLog;
  /** What runs when readings and events are stored (alarms; cli/ wires it): passed to the batch write. */
  readonly listeners?: IngestListeners;
  /**
   * The batch write; tests replace it to simulate a crash before or after commit
   * or a refusal. Its failures are classified (sql/db-errors.ts): 'unavailable'
   * retries the batch with backoff, anything else isolates the offending message.
   */
  readonly write?: (database: Database, messages: readonly BatchMessage[], opts: WriteOptions) => Promise<MessageOutcome[]>;
  /** Called after each committed and acknowledged batch. */
  readonly onCommitted?: (messages: readonly CommittedMessage[]) => void;
  readonly timers?: Timers;
}

export interface MqttComponent {
  readonly name: 'mqtt';
  readonly mode: 'embedded' | 'external' | 'disabled';
  /** `log` replaces the one given at creation (mdm serve passes a pino child). */
  start(log?: MqttLog): Promise<void>;
  /**
   * Default: stops taking messages, writes and acknowledges what was received,
   * then disconnects. `drain: false` drops what is not committed without
   * acknowledging it, as a crash would (the broker or gateway redelivers it).
   */
  stop(opts?: { drain?: boolean }): Promise<void>;
  readonly probe: HealthProbe;
  /** Port of the embedded broker once started (useful with a random port). */
  readonly port: number | null;
}

interface Pending {
  readonly message: BatchMessage;
  readonly receivedAt: number;
  /** Meters the message writes, so two batches never write one meter at once. */
  readonly meters: readonly string[];
  settle(): void;
}

const RETRY = { initialMs: 200, maxMs: 10_000 };
const RECONNECT = { initialMs: 500, maxMs: 30_000 };
const METER_CACHE_MS = 60_000;
const DRAIN_TIMEOUT_MS = 15_000;

/**
 * The MQTT ingest component for `mdm serve`: the embedded broker (MQTT_URL
 * unset, MQTT_PORT > 0) or a subscriber to an external broker (MQTT_URL),
 * feeding one batcher that writes through the ingest pipeline and
 * acknowledges each message after commit. docs/mqtt.md.
 * @example const mqtt = createMqttComponent({ config, database, log }); await mqtt.start(); … await mqtt.stop();
 */
export function createMqttComponent(deps: MqttComponentDeps): MqttComponent {
  const { config, database } = deps;
  let log = deps.log ?? SILENT_LOG;
  const timers = deps.timers ?? REAL_TIMERS;
  const write = deps.write ?? writeMessages;
  const limits = readingLimitsOf(config); // plausibility bounds of every row (MDM_EARLIEST_READING…), as for HTTP
  const mode = config.MQTT_URL ? 'external' : config.MQTT_PORT > 0 ? 'embedded' : 'disabled';
  let broker: EmbeddedBroker | null = null;
  let subscriber: Subscriber | null = null;
  let batcher: Batcher<Pending, MessageOutcome[]> | null = null;
  let running = false;
  let committedMessages = 0;
  let isolatedMessages = 0;
  let lastCommitAt: string | null = null;
  const written = new WeakMap<Pending, MessageOutcome>(); // outcomes of committed parts of a batch being retried

  async function publishAck(topic: string, body: string) {
    if (broker) await broker.publish(topic, body);
    else if (subscriber) await subscriber.publish(topic, body);
  }

  function newBatcher(): Batcher<Pending, MessageOutcome[]> {
    const b = new Batcher<Pending, MessageOutcome[]>({
      maxRows: config.MQTT_BATCH_MAX_ROWS,
      maxMs: config.MQTT_BATCH_MAX_MS,
      // PGlite is one connection: a second writer would only queue behind the first.
      concurrency: database.engine === 'pg' ? config.MQTT_BATCH_WRITERS : 1,
      retry: RETRY,
      timers,
      rowsOf: (p) => rowsOf(p.message),
      keysOf: (p) => p.meters,
      write: (items) =>
        writeIsolating(items, {
          write: (part) =>
            write(
              database,
              part.map((p) => p.message),
              { limits, listeners: deps.listeners },
            ),
          refuse: (p, err) => isolate(p, err),
          done: written,
          onSplit: (size, err) => log.warn({ messages: size, err: dbErrorReason(err) }, 'MQTT batch refused by the database; splitting it to find the message that fails'),
        }),
      settle(items, outcomes) {
        if (batcher !== b) return; // abandoned meanwhile: acknowledge nothing
        try {
          items.forEach((p, i) => {
            const ack = p.message.decoded.ack;
            if (ack?.gateway) {
              publishAck(ackTopic(ack.gateway), ackBody(p.message.topic, ack, outcomes[i])).catch((err: Error) =>
                log.warn({ topic: p.message.topic, err: err.message }, 'MQTT ack could not be published'),
              );
            }
            p.settle();
          });
          committedMessages += items.length;
          lastCommitAt = new Date(timers.now()).toISOString();
          deps.onCommitted?.(items.map((p, i) => ({ topic: p.message.topic, receivedAt: p.receivedAt, outcome: outcomes[i] })));
        } catch (err) {
          log.error({ err: (err as Error).message }, 'MQTT acknowledgement failed');
        }
      },
      onRetry(err, attempt, delayMs) {
        log.error({ err: (err as Error)?.message ?? String(err), attempt, delayMs, pending: b.pending }, 'MQTT batch write failed: database unreachable; retrying (messages stay unacknowledged)');
      },
    });
    return b;
  }

  /** A message the database refused on its own: dead-lettered whole with the database's reason, then acknowledged. */
  async function isolate(p: Pending, err: unknown): Promise<MessageOutcome> {
    const reason = dbErrorReason(err);
    const outcome = await deadLetterMessage(database, p.message, reason);
    isolatedMessages++;
    log.warn({ topic: p.message.topic, principal: p.message.principal, reason }, 'MQTT message refused by the database: dead-lettered and acknowledged');
    return outcome;
  }

  /** Decodes and queues a message; anything not an ingest topic is settled at once. */
  function receive(topic: string, payload: Uint8Array, principal: Principal | null, contentType: string | undefined, settle: () => void) {
    const route = parseTopic(topic);
    if (!route || !running || !batcher) {
      if (!route) settle();
      return; // stopping: left unacknowledged, redelivered later
    }
    const receivedAt = timers.now();
    let decoded = decodeMessage(route, payload, { nowMs: receivedAt, contentType });
    const count = decoded.kind === 'readings' ? decoded.rows.length : decoded.kind === 'events' ? decoded.events.length : 0;
    if (count > config.MDM_MAX_BATCH_ROWS) {
      decoded = { kind: 'invalid', reason: `message carries ${count} rows; at most ${config.MDM_MAX_BATCH_ROWS} (MDM_MAX_BATCH_ROWS) per message: split it`, ack: decoded.ack };
    }
    // Embedded broker: a gateway's acks go to its own acks topic, whatever the payload says.
    if (decoded.ack && principal?.role === 'gateway') decoded = { ...decoded, ack: { ...decoded.ack, gateway: principal.name } };
    const message: BatchMessage = {
      topic,
      route,
      payload,
      decoded,
      principal: principal ? principal.name : route.kind === 'gateway-readings' ? route.gateway : null,
      scope: principal?.scope ?? null,
    };
    batcher.push({ message, receivedAt, meters: metersOf(message), settle });
  }

  const meterGroups = new Map<string, { group: string | null; until: number }>(); // scope checks of registered meters, for METER_CACHE_MS
  async function findMeterGroup(meter: string): Promise<string | null | undefined> {
    const hit = meterGroups.get(meter);
    if (hit && hit.until > timers.now()) return hit.group;
    const ref = (await findMeterRefs(database, [meter])).get(meter);
    if (!ref) return undefined; // not cached: it may be registered any moment
    if (meterGroups.size > 100_000) meterGroups.clear();
    meterGroups.set(meter, { group: ref.group, until: timers.now() + METER_CACHE_MS });
    return ref.group;
  }

  const readFile = (path: string | undefined) => (path ? readFileSync(path) : undefined);

  return {
    name: 'mqtt',
    mode,
    get port() {
      return broker?.port ?? null;
    },
    async start(logger) {
      if (mode === 'disabled' || running) return;
      if (logger) log = logger;
      batcher = newBatcher();
      running = true;
      if (mode === 'embedded') {
        broker = await startEmbeddedBroker({
          port: config.MQTT_PORT,
          host: config.HOST,
          log,
          findKey: (key) => findPrincipalByKey(database, key),
          findActiveKeys: (ids) => findActiveKeyIds(database, ids),
          findMeterGroup,
          recheckMs: config.MQTT_AUTH_RECHECK_S * 1000,
          authFailuresPerMin: config.MQTT_AUTH_FAILURES_PER_MIN,
          timers,
          onPublish: (m, settle) => receive(m.topic, m.payload, m.principal, undefined, settle),
        });
        log.info({ port: broker.port }, 'MQTT embedded broker listening');
      } else {
        subscriber = createSubscriber(
          {
            url: config.MQTT_URL!,
            clientId: config.MQTT_CLIENT_ID,
            username: config.MQTT_USERNAME,
            password: config.MQTT_PASSWORD,
            shareGroup: config.MQTT_SHARE_GROUP === 'none' ? null : config.MQTT_SHARE_GROUP,
            receiveMaximum: config.MQTT_MAX_INFLIGHT,
            sessionExpirySec: config.MQTT_SESSION_EXPIRY_S,
            tls: { ca: readFile(config.MQTT_CA_FILE), cert: readFile(config.MQTT_CERT_FILE), key: readFile(config.MQTT_KEY_FILE) },
            reconnect: RECONNECT,
            timers,
            log,
          },
          (m) => receive(m.topic, m.payload, null, m.contentType, m.settle),
        );
        await subscriber.start();
      }
    },
    async stop(opts = {}) {
      if (!running) return;
      running = false;
      const b = batcher;
      if (opts.drain === false) {
        batcher = null;
        b?.abandon();
      } else if (b) {
        // Bounded: with the database down the last batch could retry for ever.
        let timer: unknown;
        const gaveUp = await Promise.race([b.drain().then(() => false), new Promise<boolean>((resolve) => (timer = timers.setTimeout(() => resolve(true), DRAIN_TIMEOUT_MS)))]);
        timers.clearTimeout(timer);
        if (gaveUp) log.warn({ pending: b.pending }, 'MQTT stop: messages not committed in time are left unacknowledged (they will be redelivered)');
        batcher = null;
        if (gaveUp) b.abandon();
      }
      const s = subscriber;
      subscriber = null;
      await s?.stop(opts.drain === false);
      const k = broker;
      broker = null;
      await k?.close();
    },
    probe: {
      name: 'mqtt',
      check() {
        const writing = { pending: batcher?.pending ?? 0, committedMessages, isolatedMessages, lastCommitAt, writeError: batcher?.lastError ?? null };
        if (mode === 'disabled') return { ok: true, mode };
        if (mode === 'embedded') {
          return { ok: running && broker !== null && !writing.writeError, mode, listening: broker !== null, port: broker?.port ?? config.MQTT_PORT, clients: broker?.clients() ?? 0, ...writing };
        }
        const st = subscriber?.state();
        return {
          ok: running && !!st?.connected && !!st.subscribed && !writing.writeError,
          mode,
          broker: redactUrl(config.MQTT_URL!),
          clientId: config.MQTT_CLIENT_ID,
          connected: st?.connected ?? false,
          subscribed: st?.subscribed ?? false,
          reconnects: st?.reconnects ?? 0,
          lastError: st?.lastError ?? null,
          ...writing,
        };
      },
    },
  };
}

/** The factory `mdm serve` lists in cli/components.ts: undefined when MQTT is off (MQTT_PORT=0 and no MQTT_URL). */
export function mqttComponent(ctx: { readonly config: MqttConfig; readonly database: Database; readonly listeners?: IngestListeners }): MqttComponent | undefined {
  const c = createMqttComponent(ctx);
  return c.mode === 'disabled' ? undefined : c;
}
