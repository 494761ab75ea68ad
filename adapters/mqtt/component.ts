import type { WorkMetrics } from '../../models/work-metrics.js';
import { readFileSync } from 'node:fs';
import type { HealthProbe } from '../../models/health-probe.js';
import type { Principal } from '../../models/api-key.js';
import { readingLimitsOf, type Config } from '../../models/config.js';
import type { ReadingLimits } from '../../models/input-bounds.js';
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
import { decodeMessage, type DecodedMessage } from './payload.js';
import { createSubscriber, redactUrl, type Subscriber } from './subscriber.js';
import { ackTopic, parseTopic, type TopicRoute } from './topics.js';

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
  const { config } = deps;
  const mode = config.MQTT_URL ? 'external' : config.MQTT_PORT > 0 ? 'embedded' : 'disabled';
  const st: MqttState = {
    deps,
    config,
    database: deps.database,
    timers: deps.timers ?? REAL_TIMERS,
    write: deps.write ?? writeMessages,
    limits: readingLimitsOf(config), // plausibility bounds of every row (MDM_EARLIEST_READING…), as for HTTP
    written: new WeakMap(),
    log: deps.log ?? SILENT_LOG,
    broker: null,
    subscriber: null,
    batcher: null,
    running: false,
    committedMessages: 0,
    isolatedMessages: 0,
    lastCommitAt: null,
  };
  const findMeterGroup = meterGroupCache(st.database, st.timers);
  const receive: Receive = (topic, payload, principal, contentType, settle) => receiveMessage(st, topic, payload, principal, contentType, settle);

  return {
    name: 'mqtt',
    mode,
    get port() {
      return st.broker?.port ?? null;
    },
    async start(logger) {
      if (mode === 'disabled' || st.running) return;
      if (logger) st.log = logger;
      st.batcher = newBatcher(st);
      st.running = true;
      if (mode === 'embedded') await startBroker(st, findMeterGroup, receive);
      else await startSubscriber(st, receive);
    },
    stop: (opts = {}) => stopComponent(st, opts),
    probe: {
      name: 'mqtt',
      check: () => probeReport(st, mode),
    },
  };
}

/** What the parts of one component share: its dependencies, and what it is doing now. */
interface MqttState {
  readonly deps: MqttComponentDeps;
  readonly config: MqttConfig;
  readonly database: Database;
  readonly timers: Timers;
  readonly write: NonNullable<MqttComponentDeps['write']>;
  readonly limits: ReadingLimits;
  /** Outcomes of the committed parts of a batch being retried. */
  readonly written: WeakMap<Pending, MessageOutcome>;
  /** Replaced by the one start() is given. */
  log: MqttLog;
  broker: EmbeddedBroker | null;
  subscriber: Subscriber | null;
  /** The batcher of the current run; null once stopped (a batch settling for another one acknowledges nothing). */
  batcher: Batcher<Pending, MessageOutcome[]> | null;
  running: boolean;
  committedMessages: number;
  isolatedMessages: number;
  lastCommitAt: string | null;
}

/** A message as a broker or subscriber hands it over; `settle` acknowledges it to the sender. */
type Receive = (topic: string, payload: Uint8Array, principal: Principal | null, contentType: string | undefined, settle: () => void) => void;

function newBatcher(st: MqttState): Batcher<Pending, MessageOutcome[]> {
  const { config, database } = st;
  const b = new Batcher<Pending, MessageOutcome[]>({
    maxRows: config.MQTT_BATCH_MAX_ROWS,
    maxMs: config.MQTT_BATCH_MAX_MS,
    // PGlite is one connection: a second writer would only queue behind the first.
    concurrency: database.engine === 'pg' ? config.MQTT_BATCH_WRITERS : 1,
    retry: RETRY,
    timers: st.timers,
    rowsOf: (p) => rowsOf(p.message),
    keysOf: (p) => p.meters,
    write: (items) =>
      writeIsolating(items, {
        write: (part) =>
          st.write(
            database,
            part.map((p) => p.message),
            { limits: st.limits, listeners: st.deps.listeners },
          ),
        refuse: (p, err) => isolate(st, p, err),
        done: st.written,
        onSplit: (size, err) => st.log.warn({ messages: size, err: dbErrorReason(err) }, 'MQTT batch refused by the database; splitting it to find the message that fails'),
      }),
    settle(items, outcomes) {
      if (st.batcher !== b) return; // abandoned meanwhile: acknowledge nothing
      settleCommitted(st, items, outcomes);
    },
    onRetry(err, attempt, delayMs) {
      st.log.error({ err: (err as Error)?.message ?? String(err), attempt, delayMs, pending: b.pending }, 'MQTT batch write failed: database unreachable; retrying (messages stay unacknowledged)');
    },
  });
  return b;
}

/** A committed batch: each message's ack published to its gateway (when it asked for one) and the message settled, then counted. */
function settleCommitted(st: MqttState, items: readonly Pending[], outcomes: readonly MessageOutcome[]): void {
  try {
    items.forEach((p, i) => {
      const ack = p.message.decoded.ack;
      if (ack?.gateway) {
        publishAck(st, ackTopic(ack.gateway), ackBody(p.message.topic, ack, outcomes[i])).catch((err: Error) =>
          st.log.warn({ topic: p.message.topic, err: err.message }, 'MQTT ack could not be published'),
        );
      }
      p.settle();
    });
    st.committedMessages += items.length;
    st.lastCommitAt = new Date(st.timers.now()).toISOString();
    st.deps.onCommitted?.(items.map((p, i) => ({ topic: p.message.topic, receivedAt: p.receivedAt, outcome: outcomes[i] })));
  } catch (err) {
    st.log.error({ err: (err as Error).message }, 'MQTT acknowledgement failed');
  }
}

async function publishAck(st: MqttState, topic: string, body: string) {
  if (st.broker) await st.broker.publish(topic, body);
  else if (st.subscriber) await st.subscriber.publish(topic, body);
}

/** A message the database refused on its own: dead-lettered whole with the database's reason, then acknowledged. */
async function isolate(st: MqttState, p: Pending, err: unknown): Promise<MessageOutcome> {
  const reason = dbErrorReason(err);
  const outcome = await deadLetterMessage(st.database, p.message, reason);
  st.isolatedMessages++;
  st.log.warn({ topic: p.message.topic, principal: p.message.principal, reason }, 'MQTT message refused by the database: dead-lettered and acknowledged');
  return outcome;
}

/** Decodes and queues a message; anything not an ingest topic is settled at once. */
function receiveMessage(st: MqttState, topic: string, payload: Uint8Array, principal: Principal | null, contentType: string | undefined, settle: () => void): void {
  const route = parseTopic(topic);
  if (!route || !st.running || !st.batcher) {
    if (!route) settle();
    return; // stopping: left unacknowledged, redelivered later
  }
  const receivedAt = st.timers.now();
  const message = batchMessage(st.config, topic, route, payload, principal, decodeMessage(route, payload, { nowMs: receivedAt, contentType }));
  st.batcher.push({ message, receivedAt, meters: metersOf(message), settle });
}

/** A decoded message as the batch writes it: one carrying more than MDM_MAX_BATCH_ROWS rows is invalid as a whole. */
function batchMessage(config: MqttConfig, topic: string, route: TopicRoute, payload: Uint8Array, principal: Principal | null, given: DecodedMessage): BatchMessage {
  let decoded = given;
  const count = decoded.kind === 'readings' ? decoded.rows.length : decoded.kind === 'events' ? decoded.events.length : 0;
  if (count > config.MDM_MAX_BATCH_ROWS) {
    decoded = { kind: 'invalid', reason: `message carries ${count} rows; at most ${config.MDM_MAX_BATCH_ROWS} (MDM_MAX_BATCH_ROWS) per message: split it`, ack: decoded.ack };
  }
  // Embedded broker: a gateway's acks go to its own acks topic, whatever the payload says.
  if (decoded.ack && principal?.role === 'gateway') decoded = { ...decoded, ack: { ...decoded.ack, gateway: principal.name } };
  return {
    topic,
    route,
    payload,
    decoded,
    principal: principal ? principal.name : route.kind === 'gateway-readings' ? route.gateway : null,
    scope: principal?.scope ?? null,
  };
}

/** Scope checks of registered meters (the embedded broker's topic ACL): their group, looked up at most once per METER_CACHE_MS. */
function meterGroupCache(database: Database, timers: Timers): (meter: string) => Promise<string | null | undefined> {
  const meterGroups = new Map<string, { group: string | null; until: number }>();
  return async (meter) => {
    const hit = meterGroups.get(meter);
    if (hit && hit.until > timers.now()) return hit.group;
    const ref = (await findMeterRefs(database, [meter])).get(meter);
    if (!ref) return undefined; // not cached: it may be registered any moment
    if (meterGroups.size > 100_000) meterGroups.clear();
    meterGroups.set(meter, { group: ref.group, until: timers.now() + METER_CACHE_MS });
    return ref.group;
  };
}

async function startBroker(st: MqttState, findMeterGroup: (meter: string) => Promise<string | null | undefined>, receive: Receive): Promise<void> {
  const { config, database, log } = st;
  st.broker = await startEmbeddedBroker({
    port: config.MQTT_PORT,
    host: config.HOST,
    log,
    findKey: (key) => findPrincipalByKey(database, key),
    findActiveKeys: (ids) => findActiveKeyIds(database, ids),
    findMeterGroup,
    recheckMs: config.MQTT_AUTH_RECHECK_S * 1000,
    authFailuresPerMin: config.MQTT_AUTH_FAILURES_PER_MIN,
    timers: st.timers,
    onPublish: (m, settle) => receive(m.topic, m.payload, m.principal, undefined, settle),
  });
  log.info({ port: st.broker.port }, 'MQTT embedded broker listening');
}

async function startSubscriber(st: MqttState, receive: Receive): Promise<void> {
  const { config } = st;
  const readFile = (path: string | undefined) => (path ? readFileSync(path) : undefined);
  st.subscriber = createSubscriber(
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
      timers: st.timers,
      log: st.log,
    },
    (m) => receive(m.topic, m.payload, null, m.contentType, m.settle),
  );
  await st.subscriber.start();
}

/** MqttComponent.stop: drains (within DRAIN_TIMEOUT_MS) or abandons the batcher, then disconnects. */
async function stopComponent(st: MqttState, opts: { drain?: boolean }): Promise<void> {
  if (!st.running) return;
  st.running = false;
  const b = st.batcher;
  if (opts.drain === false) {
    st.batcher = null;
    b?.abandon();
  } else if (b) {
    // Bounded: with the database down the last batch could retry for ever.
    let timer: unknown;
    const gaveUp = await Promise.race([b.drain().then(() => false), new Promise<boolean>((resolve) => (timer = st.timers.setTimeout(() => resolve(true), DRAIN_TIMEOUT_MS)))]);
    st.timers.clearTimeout(timer);
    if (gaveUp) st.log.warn({ pending: b.pending }, 'MQTT stop: messages not committed in time are left unacknowledged (they will be redelivered)');
    st.batcher = null;
    if (gaveUp) b.abandon();
  }
  const s = st.subscriber;
  st.subscriber = null;
  await s?.stop(opts.drain === false);
  const k = st.broker;
  st.broker = null;
  await k?.close();
}

/** The health probe's report: the transport's state and the batch writing's. */
function probeReport(st: MqttState, mode: MqttComponent['mode']): { ok: boolean; [k: string]: unknown } {
  const { batcher, broker, config, running } = st;
  const writing = {
    pending: batcher?.pending ?? 0,
    committedMessages: st.committedMessages,
    isolatedMessages: st.isolatedMessages,
    lastCommitAt: st.lastCommitAt,
    writeError: batcher?.lastError ?? null,
  };
  if (mode === 'disabled') return { ok: true, mode };
  if (mode === 'embedded') {
    return { ok: running && broker !== null && !writing.writeError, mode, listening: broker !== null, port: broker?.port ?? config.MQTT_PORT, clients: broker?.clients() ?? 0, ...writing };
  }
  const sub = st.subscriber?.state();
  return {
    ok: running && !!sub?.connected && !!sub.subscribed && !writing.writeError,
    mode,
    broker: redactUrl(config.MQTT_URL!),
    clientId: config.MQTT_CLIENT_ID,
    connected: sub?.connected ?? false,
    subscribed: sub?.subscribed ?? false,
    reconnects: sub?.reconnects ?? 0,
    lastError: sub?.lastError ?? null,
    ...writing,
  };
}

/** The factory `mdm serve` lists in cli/components.ts: undefined when MQTT is off (MQTT_PORT=0 and no MQTT_URL). */
export function mqttComponent(ctx: { readonly config: MqttConfig; readonly database: Database; readonly listeners?: IngestListeners; readonly work?: WorkMetrics }): MqttComponent | undefined {
  const work = ctx.work;
  // Receipt → committed and acknowledged, per message: the MQTT latency of /metrics.
  const onCommitted = work ? (messages: readonly CommittedMessage[]) => messages.forEach((m) => work.mqttMessage((Date.now() - m.receivedAt) / 1000)) : undefined;
  const c = createMqttComponent({ config: ctx.config, database: ctx.database, listeners: ctx.listeners, onCommitted });
  return c.mode === 'disabled' ? undefined : c;
}
