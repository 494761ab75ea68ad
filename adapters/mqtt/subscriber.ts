import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { backoffDelay, type Backoff } from '../../models/backoff.js';
import type { Timers } from './batcher.js';
import type { MqttLog } from './log.js';
import { subscriptionFilters } from './topics.js';

export interface SubscriberOptions {
  readonly url: string;
  readonly clientId: string;
  readonly username?: string;
  readonly password?: string;
  /** `$share/{group}/…` subscriptions; null = plain ones. */
  readonly shareGroup: string | null;
  /** MQTT 5 Receive Maximum: unacknowledged messages the broker may send us at once; bounds a batch in messages. */
  readonly receiveMaximum: number;
  /** MQTT 5 Session Expiry Interval (s): how long the broker keeps our session and queues messages while we are away. */
  readonly sessionExpirySec: number;
  readonly tls?: { readonly ca?: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
  readonly reconnect: Backoff;
  readonly timers: Timers;
  readonly log: MqttLog;
}

/** A message from the broker; `settle` sends its PUBACK (once, and only on the connection it came on). */
export interface InboundPublish {
  readonly topic: string;
  readonly payload: Uint8Array;
  readonly contentType?: string;
  settle(): void;
}

export interface SubscriberState {
  readonly connected: boolean;
  readonly subscribed: boolean;
  readonly reconnects: number;
  readonly lastError: string | null;
}

export interface Subscriber {
  /** Connects; resolves once subscribed or once the first attempt failed (it keeps retrying). */
  start(): Promise<void>;
  /** `force`: drop the connection without DISCONNECT (what a crash looks like to the broker). */
  stop(force?: boolean): Promise<void>;
  publish(topic: string, payload: string): Promise<void>;
  state(): SubscriberState;
}

/** PUBACK with success and no properties: fixed header 0x40, remaining length 2, packet id (MQTT 3.1.1 §3.4, MQTT 5 §3.4.2.1). */
const puback = (messageId: number) => Buffer.from([0x40, 0x02, messageId >> 8, messageId & 0xff]);

/** Tells mqtt.js's handleMessage callback not to send the PUBACK itself (a callback error skips it). */
const DEFERRED = new Error('PUBACK deferred until commit');

/**
 * Consumes the ingest topics from an external broker with QoS 1 and a
 * persistent session (clean: false, fixed client id, session expiry), and
 * acknowledges each message only when `settle` is called, after commit.
 *
 * Why not customHandleAcks/handleMessage as they are: mqtt.js handles incoming
 * packets one at a time and waits for that callback before reading the next
 * PUBLISH, so holding it until commit allows one message per transaction. Here
 * the callback returns at once with an error (mqtt.js then sends no PUBACK) and
 * the PUBACK is written later on the same connection. After a reconnect, stale
 * PUBACKs are dropped: the broker redelivers those messages, and writes are idempotent.
 */
export function createSubscriber(opts: SubscriberOptions, onMessage: (m: InboundPublish) => void): Subscriber {
  const { log, timers } = opts;
  const filters = subscriptionFilters(opts.shareGroup);
  let client: MqttClient | null = null;
  let generation = 0; // bumped on each CONNACK: PUBACKs belong to one connection
  let connected = false;
  let subscribed = false;
  let stopping = false;
  let attempt = 0;
  let reconnects = 0;
  let lastError: string | null = null;
  let retry: unknown = null;
  let firstOutcome: (() => void) | null = null;

  const options: IClientOptions = {
    clientId: opts.clientId,
    clean: false,
    protocolVersion: 5,
    properties: { sessionExpiryInterval: opts.sessionExpirySec, receiveMaximum: opts.receiveMaximum },
    username: opts.username,
    password: opts.password,
    reconnectPeriod: 0, // we reconnect ourselves, with backoff
    connectTimeout: 10_000,
    resubscribe: false, // we subscribe on every connect
    ...(opts.tls ?? {}),
  };

  function scheduleReconnect() {
    if (stopping || retry !== null || !client) return;
    const delay = backoffDelay(attempt++, opts.reconnect);
    log.info({ url: redactUrl(opts.url), delayMs: delay }, 'MQTT broker unreachable, reconnecting');
    retry = timers.setTimeout(() => {
      retry = null;
      if (stopping || !client) return;
      reconnects++;
      client.reconnect({ incomingStore: client.incomingStore, outgoingStore: client.outgoingStore });
    }, delay);
  }

  function attach(c: MqttClient) {
    c.handleMessage = (packet: IPublishPacket, done) => {
      const gen = generation;
      const stream = c.stream;
      let settled = packet.qos === 0;
      onMessage({
        topic: packet.topic,
        payload: typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload,
        contentType: packet.properties?.contentType,
        settle() {
          if (settled) return;
          settled = true;
          if (gen === generation && connected && c.stream === stream && packet.messageId !== undefined) stream.write(puback(packet.messageId));
        },
      });
      done(packet.qos === 0 ? undefined : DEFERRED);
    };
    c.on('connect', (connack) => {
      generation++;
      connected = true;
      attempt = 0;
      lastError = null;
      log.info({ url: redactUrl(opts.url), clientId: opts.clientId, sessionPresent: connack.sessionPresent }, 'MQTT broker connected');
      c.subscribe(filters, { qos: 1 }, (err, granted) => {
        const refused = (granted ?? []).filter((g) => g.qos !== 0 && g.qos !== 1 && g.qos !== 2);
        if (err || refused.length) {
          subscribed = false;
          lastError = err ? err.message : `subscription refused: ${refused.map((g) => g.topic).join(', ')}`;
          log.error({ filters, err: lastError }, 'MQTT subscribe failed');
        } else {
          subscribed = true;
          log.info({ filters }, 'MQTT subscribed');
        }
        firstOutcome?.();
      });
    });
    c.on('error', (err) => {
      lastError = err.message;
      log.warn({ err: err.message }, 'MQTT client error');
    });
    c.on('close', () => {
      const was = connected;
      connected = false;
      subscribed = false;
      if (was) log.warn({ url: redactUrl(opts.url) }, 'MQTT broker connection lost');
      firstOutcome?.();
      scheduleReconnect();
    });
  }

  return {
    start() {
      stopping = false;
      const ready = new Promise<void>((resolve) => {
        firstOutcome = () => {
          firstOutcome = null;
          resolve();
        };
      });
      client = mqtt.connect(opts.url, options);
      attach(client);
      return ready;
    },
    async stop(force = false) {
      stopping = true;
      if (retry !== null) timers.clearTimeout(retry);
      retry = null;
      const c = client;
      client = null;
      connected = false;
      if (c) await c.endAsync(force);
    },
    async publish(topic, payload) {
      if (!client) throw new Error('MQTT client stopped');
      await client.publishAsync(topic, payload, { qos: 1 });
    },
    state: () => ({ connected, subscribed, reconnects, lastError }),
  };
}

export function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}
