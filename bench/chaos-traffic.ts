/**
 * One phase of `npm run bench -- chaos` on the wire: dispatches planned jobs
 * (bench/chaos-plan.ts) over HTTP and MQTT and keeps the books — which good
 * rows were acknowledged, each answer's accounting (every row of a request or
 * message accepted, unchanged, superseded or rejected; every poison row
 * rejected), latencies, and what became of each poison item.
 */
import { performance } from 'node:perf_hooks';
import type { ExtraGood, PoisonItem, Slice } from './chaos-load.js';
import { sliceRows } from './chaos-load.js';
import type { HttpPool, HttpResult, MqttAck, MqttLoad, MqttSent } from './chaos-clients.js';
import type { HttpJob, Plan } from './chaos-plan.js';
import type { GoodLedger } from './chaos-verify.js';

export interface SentItem {
  readonly item: PoisonItem;
  readonly transport: 'http' | 'mqtt';
  /** Ack id of the MQTT message that carried it. */
  readonly messageId?: number;
}

interface Entries {
  readonly slice?: { slice: Slice; acked: boolean };
  readonly extras: { row: ExtraGood; acked: boolean }[];
  readonly good: number;
}

export class Traffic {
  readonly ledger: GoodLedger = { slices: [], extras: [] };
  readonly items: SentItem[] = [];
  readonly httpLatency: number[] = [];
  readonly mqttLatency: number[] = [];
  /** Final answers of whole-request poison (HTTP), by marker seq. */
  readonly requestAnswers = new Map<number, { status: number; text: string }>();
  /** Acks of empty MQTT batches, by marker seq. */
  readonly noopAcks = new Map<number, MqttAck>();
  /** Answers that did not account for every row (or refused a whole good batch). */
  readonly mismatches: string[] = [];
  mismatchCount = 0;
  /** Good rows acknowledged by the service (HTTP 200, MQTT ack) and dispatched. */
  ackedRows = 0;
  dispatchedRows = 0;
  /** performance.now() of the last acknowledgement of good rows. */
  lastAckAt = 0;
  private readonly httpEntries = new Map<HttpJob, Entries>();
  private readonly mqttEntries = new Map<number, Entries>();
  private publisher = 0;

  constructor(
    private readonly pool: HttpPool,
    private readonly mqtt: MqttLoad,
  ) {}

  private entries(job: { slice?: Slice; extras: readonly ExtraGood[]; id?: number }, transport: 'http' | 'mqtt', items: readonly PoisonItem[]): Entries {
    const slice = job.slice ? { slice: job.slice, acked: false } : undefined;
    if (slice) this.ledger.slices.push(slice);
    const extras = job.extras.map((row) => ({ row, acked: false }));
    this.ledger.extras.push(...extras);
    for (const item of items) this.items.push({ item, transport, ...(job.id !== undefined ? { messageId: job.id } : {}) });
    const good = (job.slice ? sliceRows(job.slice) : 0) + extras.length;
    this.dispatchedRows += good;
    return { slice, extras, good };
  }

  private acked(e: Entries | undefined): void {
    if (!e || (e.slice?.acked ?? e.extras[0]?.acked)) return;
    if (e.slice) e.slice.acked = true;
    for (const x of e.extras) x.acked = true;
    this.ackedRows += e.good;
    this.lastAckAt = performance.now();
  }

  private mismatch(text: string): void {
    this.mismatchCount++;
    if (this.mismatches.length < 5) this.mismatches.push(text);
  }

  /** Sends a plan: HTTP and MQTT lanes side by side, each in plan order, with their backpressure. */
  async dispatch(plan: Plan): Promise<void> {
    await Promise.all([
      (async () => {
        for (const job of plan.http) {
          this.httpEntries.set(job, this.entries(job, 'http', job.request ? [job.request] : job.poison));
          await this.pool.push(job);
        }
      })(),
      (async () => {
        for (const job of plan.mqtt) {
          this.mqttEntries.set(job.id, this.entries(job, 'mqtt', job.message ? [job.message] : job.poison));
          await this.mqtt.publish(job, this.publisher++);
        }
      })(),
    ]);
  }

  /** HttpPool's onResult. */
  onHttp = (r: HttpResult): void => {
    const { job, answer } = r;
    this.httpLatency.push(r.latencyMs);
    if (job.request) {
      this.requestAnswers.set(job.request.seq, answer);
      return;
    }
    if (answer.status !== 200) {
      this.mismatch(`HTTP batch of ${job.rows} rows answered ${answer.status}: ${answer.text.slice(0, 200)}`);
      return;
    }
    this.acked(this.httpEntries.get(job));
    const res = JSON.parse(answer.text) as { accepted: number; unchanged: number; superseded: number; rejected: unknown[] };
    const total = res.accepted + res.unchanged + res.superseded + res.rejected.length;
    if (total !== job.rows || res.rejected.length !== job.poisonRows) {
      this.mismatch(`HTTP batch of ${job.rows} rows (${job.poisonRows} poison): ${res.accepted} accepted, ${res.unchanged} unchanged, ${res.superseded} superseded, ${res.rejected.length} rejected`);
    }
  };

  /** MqttLoad's onAck. */
  onMqttAck = (s: MqttSent): void => {
    const job = s.job;
    const ack = s.ack!;
    if (s.ackMs !== undefined) this.mqttLatency.push(s.ackMs);
    if (job.message) {
      this.noopAcks.set(job.message.seq, ack);
      return;
    }
    this.acked(this.mqttEntries.get(job.id));
    if (ack.stored + ack.rejected.length !== job.rows || ack.rejected.length !== job.poisonRows) {
      this.mismatch(
        `MQTT ${job.topic} of ${job.rows} rows (${job.poisonRows} poison): ack ${ack.status}, ${ack.stored} stored, ${ack.rejected.length} rejected${ack.reason ? ` (${ack.reason.slice(0, 200)})` : ''}`,
      );
    }
  };

  /** After the broker PUBACKed them, MQTT rows count as acknowledged for the loss figure, service ack or not. */
  markPubacked(): void {
    for (const s of this.mqtt.sent.values()) {
      const e = this.mqttEntries.get(s.job.id);
      if (s.pubacked && e) {
        if (e.slice) e.slice.acked = true;
        for (const x of e.extras) x.acked = true;
      }
    }
  }
}
