/**
 * The client of the served ingest bench (bench/ingest-served.ts), in a
 * process of its own so that building and sending requests costs the service
 * nothing: a head-end or gateway on the same machine. Driven over the fork
 * IPC channel, one command at a time:
 *
 * - `prepare`: builds the load (bench/load-profile.ts) and serialises every
 *   HTTP body and MQTT message before any clock starts;
 * - `http`: POSTs the bodies (or the first `share` of them) to
 *   /v1/readings, `concurrency` in flight, and sums the answers;
 * - `mqtt`: publishes the gateway messages (QoS 1, each asking for the
 *   service's ack) through the broker, at most `window` awaiting their ack,
 *   and waits for every ack.
 *
 * Each answer carries the wall time and this process's CPU seconds.
 */
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import { makeLoadProfile, type BenchRow } from './load-profile.js';
import { postBatches, type PostTotals } from './post-batches.js';

export type ClientCommand =
  | { readonly cmd: 'prepare'; readonly dataDir: string; readonly meters: number; readonly days: number; readonly batchRows: number; readonly metersPerMessage: number }
  | { readonly cmd: 'http'; readonly url: string | readonly string[]; readonly key: string; readonly concurrency: number; readonly share: number; readonly timeoutMs: number }
  | { readonly cmd: 'mqtt'; readonly url: string; readonly run: string; readonly publishers: number; readonly window: number; readonly timeoutMs: number };

export type ClientAnswer =
  | { readonly ok: 'prepare'; readonly rows: number; readonly requests: number; readonly messages: number; readonly meterIds: readonly string[]; readonly sum: number }
  | { readonly ok: 'http'; readonly totals: PostTotals; readonly cpuS: number }
  | { readonly ok: 'mqtt'; readonly ms: number; readonly messages: number; readonly stored: number; readonly rejected: number; readonly reasons: readonly string[]; readonly cpuS: number }
  | { readonly error: string };

/** A gateway message: `rows` of `metersPerMessage` meters, wrapped to ask for the service's ack. */
interface GatewayMessage {
  readonly gateway: string;
  readonly id: number;
  readonly body: Buffer;
  readonly rows: number;
}

interface Ack {
  readonly id: number;
  readonly status: string;
  readonly stored: number;
  readonly rejected: readonly { index: number; reason: string }[];
  readonly reason?: string;
}

let bodies: Uint8Array[] = [];
let messages: GatewayMessage[] = [];

const cpuSince = (t0: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(t0);
  return (u.user + u.system) / 1e6;
};

function prepare(c: Extract<ClientCommand, { cmd: 'prepare' }>): ClientAnswer {
  const profile = makeLoadProfile(c.dataDir, c.meters, c.days);
  const utf8 = new TextEncoder();
  const rows = profile.rows;
  bodies = [];
  for (let i = 0; i < rows.length; i += c.batchRows) bodies.push(utf8.encode(JSON.stringify({ readings: rows.slice(i, i + c.batchRows) })));
  messages = [];
  const per = c.metersPerMessage * profile.hours;
  for (let i = 0, id = 1; i < rows.length; i += per, id++) {
    const part: readonly BenchRow[] = rows.slice(i, i + per);
    const gateway = `bench-gw-${id % 4}`;
    messages.push({ gateway, id, rows: part.length, body: Buffer.from(JSON.stringify({ id, ack: true, readings: part })) });
  }
  return { ok: 'prepare', rows: rows.length, requests: bodies.length, messages: messages.length, meterIds: profile.meterIds, sum: rows.reduce((a, r) => a + r.value, 0) };
}

async function http(c: Extract<ClientCommand, { cmd: 'http' }>): Promise<ClientAnswer> {
  const t0 = process.cpuUsage();
  const part = bodies.slice(0, Math.ceil(bodies.length * c.share));
  const totals = await postBatches(c.url, c.key, part, c.concurrency, c.timeoutMs);
  return { ok: 'http', totals, cpuS: cpuSince(t0) };
}

function connect(url: string, clientId: string): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { clientId, clean: true, connectTimeout: 5000, reconnectPeriod: 0 });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
  });
}

async function publish(c: Extract<ClientCommand, { cmd: 'mqtt' }>): Promise<ClientAnswer> {
  const listener = await connect(c.url, `bench-ingest-acks-${c.run}`);
  const publishers = await Promise.all(Array.from({ length: c.publishers }, (_, k) => connect(c.url, `bench-ingest-pub-${c.run}-${k}`)));
  try {
    const acks = new Map<number, Ack>();
    let wake: (() => void) | undefined;
    listener.on('message', (_topic, payload) => {
      try {
        const ack = JSON.parse(payload.toString()) as Ack;
        if (!acks.has(ack.id)) acks.set(ack.id, ack);
      } catch {
        return;
      }
      wake?.();
    });
    await listener.subscribeAsync('mdm/v1/gateways/+/acks', { qos: 1 });
    const waitFor = async (n: number, deadline: number) => {
      while (acks.size < n) {
        if (performance.now() > deadline) throw new Error(`MQTT: ${acks.size} of ${n} acks within ${c.timeoutMs} ms`);
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 200);
        });
      }
    };
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    const deadline = t0 + c.timeoutMs;
    const sent: Promise<unknown>[] = [];
    for (let i = 0; i < messages.length; i++) {
      await waitFor(i - c.window + 1, deadline);
      const m = messages[i];
      sent.push(publishers[i % publishers.length].publishAsync(`mdm/v1/gateways/${m.gateway}/readings`, m.body, { qos: 1 }));
    }
    await Promise.all(sent);
    await waitFor(messages.length, deadline);
    const ms = performance.now() - t0;
    let stored = 0;
    let rejected = 0;
    const reasons: string[] = [];
    for (const a of acks.values()) {
      stored += a.stored;
      rejected += a.rejected.length;
      if (a.reason && reasons.length < 3) reasons.push(a.reason);
      for (const r of a.rejected.slice(0, 3 - reasons.length)) reasons.push(r.reason);
    }
    return { ok: 'mqtt', ms, messages: messages.length, stored, rejected, reasons, cpuS: cpuSince(cpu0) };
  } finally {
    for (const client of [listener, ...publishers]) await client.endAsync(true).catch(() => {});
  }
}

async function handle(c: ClientCommand): Promise<ClientAnswer> {
  switch (c.cmd) {
    case 'prepare':
      return prepare(c);
    case 'http':
      return http(c);
    case 'mqtt':
      return publish(c);
  }
}

process.on('message', (c: ClientCommand) => {
  handle(c).then(
    (answer) => process.send!(answer),
    (err: unknown) => process.send!({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) }),
  );
});
process.on('disconnect', () => process.exit(0));
