/**
 * The clients of `npm run bench -- chaos`, behaving as a careful head-end
 * would while the service is killed under them:
 * - HTTP: a request is re-sent until it is answered (connection refused or
 *   reset while the service is down, 429 after Retry-After, 5xx a few times);
 *   rows count as acknowledged only once a 200 came back.
 * - MQTT: QoS 1 publishes to the broker (PUBACK from the broker), each good
 *   message asking for the service's ack on mdm/v1/gateways/+/acks; at most
 *   `window` messages wait for their ack at once, which keeps the broker's
 *   queue for the service's session below Mosquitto's max_queued_messages
 *   (1 000) while the service is down. Nothing is re-published: the
 *   persistent session must redeliver.
 */
import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import mqtt, { type MqttClient } from 'mqtt';
import type { HttpJob, MqttJob } from './chaos-plan.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface HttpAnswer {
  readonly status: number;
  readonly text: string;
}

function once(agent: Agent, url: URL, method: string, headers: Record<string, string>, body: Uint8Array | undefined, timeoutMs: number): Promise<HttpAnswer & { retryAfterS?: number }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent, headers: body ? { ...headers, 'content-length': String(body.byteLength) } : headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const ra = Number(res.headers['retry-after']);
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8'), ...(Number.isFinite(ra) ? { retryAfterS: ra } : {}) });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname} took longer than ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Counters of everything that was not a plain answer. */
export interface HttpTally {
  networkErrors: number;
  fiveXx: number;
  rateLimited: number;
  /** First 5xx bodies, to say what failed. */
  readonly fiveXxBodies: string[];
}

export const newTally = (): HttpTally => ({ networkErrors: 0, fiveXx: 0, rateLimited: 0, fiveXxBodies: [] });

/**
 * Sends until answered: network errors are retried every 250 ms until
 * `deadline` (performance.now() ms), 429 after its Retry-After, 5xx up to
 * `max5xx` times. Resolves to the final answer (status 0 when the deadline passed).
 */
export async function sendUntilAnswered(
  agent: Agent,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: Uint8Array | undefined,
  tally: HttpTally,
  deadline: number,
  max5xx = 5,
): Promise<HttpAnswer> {
  let fails5xx = 0;
  for (;;) {
    if (performance.now() > deadline) return { status: 0, text: 'deadline passed' };
    let res: HttpAnswer & { retryAfterS?: number };
    try {
      res = await once(agent, url, method, headers, body, 60_000);
    } catch {
      tally.networkErrors++;
      await sleep(250);
      continue;
    }
    if (res.status === 429) {
      tally.rateLimited++;
      await sleep(Math.min(60, res.retryAfterS ?? 1) * 1000);
      continue;
    }
    if (res.status >= 500) {
      tally.fiveXx++;
      if (tally.fiveXxBodies.length < 5) tally.fiveXxBodies.push(`${res.status} ${res.text.slice(0, 300)}`);
      if (++fails5xx >= max5xx) return res;
      await sleep(500);
      continue;
    }
    return res;
  }
}

export interface HttpResult {
  readonly job: HttpJob;
  readonly answer: HttpAnswer;
  /** First send → final answer, ms. */
  readonly latencyMs: number;
}

/**
 * POSTs jobs to /v1/readings, `concurrency` in flight, each until answered
 * (sendUntilAnswered), in the order pushed. `push` waits while the queue is
 * full, which is the driver's backpressure.
 */
export class HttpPool {
  private readonly agent: Agent;
  private readonly queue: HttpJob[] = [];
  private active = 0;
  private readonly spaceWaiters: (() => void)[] = [];
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly baseUrl: () => string,
    private readonly key: string,
    private readonly opts: { concurrency: number; deadline: number; tally: HttpTally; onResult: (r: HttpResult) => void },
  ) {
    this.agent = new Agent({ keepAlive: true, maxSockets: opts.concurrency });
  }

  async push(job: HttpJob): Promise<void> {
    while (this.queue.length >= this.opts.concurrency) await new Promise<void>((r) => this.spaceWaiters.push(r));
    this.queue.push(job);
    this.pump();
  }

  private pump(): void {
    while (this.active < this.opts.concurrency && this.queue.length) {
      const job = this.queue.shift()!;
      this.spaceWaiters.shift()?.();
      this.active++;
      void this.send(job).finally(() => {
        this.active--;
        this.pump();
        if (this.active === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private async send(job: HttpJob): Promise<void> {
    const t0 = performance.now();
    const headers = { authorization: `Bearer ${this.key}`, 'content-type': job.contentType };
    const answer = await sendUntilAnswered(this.agent, new URL('/v1/readings', this.baseUrl()), 'POST', headers, job.body(), this.opts.tally, this.opts.deadline);
    this.opts.onResult({ job, answer, latencyMs: performance.now() - t0 });
  }

  /** Resolves once every pushed job is answered. */
  idle(): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The service's ack of one message (docs/mqtt.md "Acks"). */
export interface MqttAck {
  readonly id: number;
  readonly status: string;
  readonly stored: number;
  readonly rejected: readonly { index: number; reason: string }[];
  readonly reason?: string;
}

export interface MqttSent {
  readonly job: MqttJob;
  /** Broker PUBACK received (QoS 1): from here on the rows are acknowledged. */
  pubacked: boolean;
  publishedAt: number;
  ack?: MqttAck;
  ackMs?: number;
}

function connect(url: string, opts: mqtt.IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { connectTimeout: 5000, reconnectPeriod: 1000, ...opts });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => {
      c.end(true);
      reject(err);
    });
  });
}

/** Gateways publishing through the broker, and the listener of the service's acks. */
export class MqttLoad {
  readonly sent = new Map<number, MqttSent>();
  duplicateAcks = 0;
  publishErrors = 0;
  private readonly pending = new Set<Promise<void>>();
  private publishers: MqttClient[] = [];
  private listener: MqttClient | undefined;
  private waiting = 0;
  private readonly wakeups: (() => void)[] = [];
  private acked = 0;

  constructor(
    private readonly url: string,
    private readonly run: string,
    private readonly window: number,
    private readonly onAck: (s: MqttSent) => void = () => {},
  ) {}

  async start(publishers = 2): Promise<void> {
    this.listener = await connect(this.url, { clientId: `chaos-acks-${this.run}`, clean: true });
    this.listener.on('message', (_topic, body) => this.ackArrived(body));
    await this.listener.subscribeAsync('mdm/v1/gateways/+/acks', { qos: 1 });
    for (let k = 0; k < publishers; k++) this.publishers.push(await connect(this.url, { clientId: `chaos-pub-${this.run}-${k}`, clean: true }));
  }

  private ackArrived(body: Buffer): void {
    let ack: MqttAck;
    try {
      ack = JSON.parse(body.toString()) as MqttAck;
    } catch {
      return;
    }
    const s = this.sent.get(ack.id);
    if (!s) return;
    if (s.ack) {
      this.duplicateAcks++; // a redelivery after a kill, acknowledged again
      return;
    }
    s.ack = ack;
    s.ackMs = performance.now() - s.publishedAt;
    this.acked++;
    this.waiting--;
    this.wakeups.shift()?.();
    this.onAck(s);
  }

  /**
   * Publishes one message (QoS 1) once the ack window has room; resolves when
   * the publish is handed to the client (the broker's PUBACK is recorded
   * later: `flushed()` waits for all of them).
   */
  async publish(job: MqttJob, publisher: number): Promise<void> {
    if (job.expectAck) {
      while (this.waiting >= this.window) await new Promise<void>((r) => this.wakeups.push(r));
      this.waiting++;
    }
    const s: MqttSent = { job, pubacked: false, publishedAt: performance.now() };
    this.sent.set(job.id, s);
    const p = this.publishers[publisher % this.publishers.length].publishAsync(job.topic, Buffer.from(job.payload()), { qos: 1 }).then(
      () => {
        s.pubacked = true;
      },
      () => {
        this.publishErrors++;
      },
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Resolves once every publish so far has its broker PUBACK (or failed). */
  async flushed(): Promise<void> {
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }

  /** Messages waiting for the service's ack. */
  get unacked(): number {
    return this.waiting;
  }

  /**
   * Resolves once every message that asked for an ack has one, or once no
   * ack came for `stallMs` (the rest are not coming: a stuck queue or a
   * dropped message), at most `maxMs`; returns how many are still missing.
   */
  async drain(stallMs: number, maxMs: number): Promise<number> {
    const need = () => [...this.sent.values()].filter((s) => s.job.expectAck).length;
    const until = performance.now() + maxMs;
    let seen = this.acked;
    let lastProgress = performance.now();
    while (this.acked < need() && performance.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      if (this.acked !== seen) {
        seen = this.acked;
        lastProgress = performance.now();
      } else if (performance.now() - lastProgress > stallMs) break;
    }
    return need() - this.acked;
  }

  async close(): Promise<void> {
    for (const c of [...this.publishers, this.listener]) await c?.endAsync(true).catch(() => {});
    this.publishers = [];
    this.listener = undefined;
  }
}

/** Removes a persistent session from the broker (the service's, at the end of the run). */
export async function forgetSession(url: string, clientId: string): Promise<void> {
  const c = await connect(url, { clientId, clean: true, protocolVersion: 5, properties: { sessionExpiryInterval: 0 }, reconnectPeriod: 0 }).catch(() => undefined);
  await c?.endAsync();
}
