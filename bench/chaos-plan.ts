/**
 * What `npm run bench -- chaos` sends, planned before anything is sent:
 * HTTP requests and MQTT messages, each a slice of good rows with its poison
 * (bench/chaos-load.ts) or one whole poison request/message. Bodies are
 * built when sent, so a long soak plan costs slices, not bytes.
 *
 * Meters are split by transport (one head-end each): the first half over
 * HTTP (batches of one hour × 500 meters), up to 90 % over MQTT gateway
 * messages (one hour × 100 meters), the last 10 % one meter and one day per
 * message, on per-meter topics (JSON rows) or as SenML packs (gateway topic).
 */
import { markerOf } from './chaos-poison.js';
import { chaosMeterId, mixIn, poisonRows, sliceRows, type ChaosData, type ExtraGood, type PoisonDealer, type PoisonItem, type Slice } from './chaos-load.js';

const HTTP_BATCH_METERS = 500;
const GATEWAY_MESSAGE_METERS = 100;
const GATEWAYS = 4;

export interface HttpJob {
  readonly slice?: Slice;
  /** Poison rows inside the batch, or the whole request's poison. */
  readonly poison: readonly PoisonItem[];
  readonly request?: PoisonItem;
  readonly extras: readonly ExtraGood[];
  readonly contentType: string;
  /** Rows in the body (good + poison), for the accounting of the answer. */
  readonly rows: number;
  /** Of which poison (each must come back in rejected[]). */
  readonly poisonRows: number;
  body(): Uint8Array;
}

export interface MqttJob {
  /** Ack id (the wrapper's "id"), unique in the run. */
  readonly id: number;
  readonly topic: string;
  readonly slice?: Slice;
  readonly poison: readonly PoisonItem[];
  readonly message?: PoisonItem;
  readonly extras: readonly ExtraGood[];
  /** The service answers on the acks topic. */
  readonly expectAck: boolean;
  /** Rows or SenML records in the message (good + poison), and of which poison. */
  readonly rows: number;
  readonly poisonRows: number;
  payload(): Uint8Array;
}

export interface Plan {
  readonly http: HttpJob[];
  readonly mqtt: MqttJob[];
  readonly goodRows: number;
  /** Hours covered, for the checks. */
  readonly hour0: number;
  readonly hours: number;
}

const utf8 = (s: string) => Buffer.from(s);
const bytesOf = (t: string | Uint8Array) => (typeof t === 'string' ? utf8(t) : t);

/**
 * Plans hours [hour0, hour0 + hours) of `meters` meters. `nextId` numbers the
 * MQTT messages; `dealer` mixes in the poison (1 % of the good rows). The
 * per-meter tenth goes one whole day per message, planned at the hours that
 * are a multiple of 24 (so plan whole days, or hour by hour from one).
 */
export function planHours(data: ChaosData, dealer: PoisonDealer, meters: number, hour0: number, hours: number, nextId: () => number): Plan {
  const http: HttpJob[] = [];
  const mqtt: MqttJob[] = [];
  const httpEnd = Math.floor(meters / 2);
  const gatewayEnd = Math.floor(meters * 0.9);
  let goodRows = 0;
  for (let h = hour0; h < hour0 + hours; h++) {
    for (let m = 0; m < httpEnd; m += HTTP_BATCH_METERS) {
      const slice: Slice = { shape: 'http', hour0: h, hours: 1, meter0: m, meters: Math.min(HTTP_BATCH_METERS, httpEnd - m) };
      goodRows += sliceRows(slice);
      const items = dealer.deal(sliceRows(slice), ['row', 'http-request']);
      const rowItems = items.filter((i) => i.kind.where === 'row');
      const { texts, extras } = poisonRows(dealer, rowItems, h);
      const rows = sliceRows(slice) + texts.reduce((a, t) => a + rowCount(t), 0);
      http.push({
        slice,
        poison: rowItems,
        extras,
        contentType: 'application/json',
        rows,
        poisonRows: rowItems.length,
        body: () => utf8(`{"readings":[${mixIn(goodTexts(data, slice, true), texts).join(',')}]}`),
      });
      for (const item of items.filter((i) => i.kind.where === 'http-request')) {
        const made = item.kind.make(dealer.context(item, h));
        http.push({ poison: [], request: item, extras: [], contentType: item.kind.contentType ?? 'application/json', rows: 0, poisonRows: 0, body: () => bytesOf(made.text) });
      }
    }
    for (let m = httpEnd, g = 0; m < gatewayEnd; m += GATEWAY_MESSAGE_METERS, g++) {
      const slice: Slice = { shape: 'mqtt-gateway', hour0: h, hours: 1, meter0: m, meters: Math.min(GATEWAY_MESSAGE_METERS, gatewayEnd - m) };
      goodRows += sliceRows(slice);
      const items = dealer.deal(sliceRows(slice), ['row', 'mqtt-message']);
      const rowItems = items.filter((i) => i.kind.where === 'row');
      const { texts, extras } = poisonRows(dealer, rowItems, h);
      const id = nextId();
      mqtt.push({
        id,
        topic: `mdm/v1/gateways/chaos-gw-${g % GATEWAYS}/readings`,
        slice,
        poison: rowItems,
        extras,
        expectAck: true,
        rows: sliceRows(slice) + texts.reduce((a, t) => a + rowCount(t), 0),
        poisonRows: rowItems.length,
        payload: () => utf8(`{"id":${id},"ack":true,"readings":[${mixIn(goodTexts(data, slice, true), texts).join(',')}]}`),
      });
      for (const item of items.filter((i) => i.kind.where === 'mqtt-message')) mqtt.push(messagePoison(dealer, item, h, nextId()));
    }
    if (h % 24 !== 0) continue;
    // one day per meter for the per-meter/SenML tenth, sent at the day's first hour
    const day = 24;
    for (let m = gatewayEnd; m < meters; m++) {
      const senml = m % 2 === 0;
      const slice: Slice = { shape: senml ? 'mqtt-senml' : 'mqtt-meter', hour0: h, hours: day, meter0: m, meters: 1 };
      goodRows += sliceRows(slice);
      const items = dealer.deal(sliceRows(slice), [senml ? 'senml' : 'meter-topic']);
      const { texts, extras } = poisonRows(dealer, items, h);
      const id = nextId();
      const goods = senml ? range(h, day).map((hh) => data.senmlText(m, hh)) : range(h, day).map((hh) => data.rowText(m, hh, false));
      mqtt.push({
        id,
        topic: senml ? 'mdm/v1/gateways/chaos-senml/readings' : `mdm/v1/meters/${chaosMeterId(m)}/readings`,
        slice,
        poison: items,
        extras,
        expectAck: true,
        rows: sliceRows(slice) + texts.length,
        poisonRows: items.length,
        // SenML poison goes last: base fields carry over to the records after them (RFC 8428 §4.1)
        payload: () => utf8(`{"id":${id},"ack":true,"gateway":"chaos-pm","readings":[${(senml ? [...goods, ...texts] : mixIn(goods, texts)).join(',')}]}`),
      });
    }
  }
  return { http, mqtt, goodRows, hour0, hours };
}

/** A whole-message poison on its own gateway topic (the marker), so that its dead letter is found by topic. */
function messagePoison(dealer: PoisonDealer, item: PoisonItem, hour: number, id: number): MqttJob {
  const made = item.kind.make(dealer.context(item, hour));
  const noop = item.kind.expect === 'noop';
  return {
    id,
    topic: `mdm/v1/gateways/${markerOf(item.seq)}/readings`,
    poison: [],
    message: item,
    extras: [],
    expectAck: noop, // an empty batch asks for its ack; the others cannot (not JSON, wrong shape)
    rows: 0,
    poisonRows: 0,
    payload: () => (noop ? utf8(`{"id":${id},"ack":true,"readings":${String(made.text)}}`) : bytesOf(made.text)),
  };
}

const range = (from: number, n: number) => Array.from({ length: n }, (_, k) => from + k);

function goodTexts(data: ChaosData, s: Slice, withMeter: boolean): string[] {
  const out: string[] = [];
  for (let h = s.hour0; h < s.hour0 + s.hours; h++) for (let m = s.meter0; m < s.meter0 + s.meters; m++) out.push(data.rowText(m, h, withMeter));
  return out;
}

/** Rows in a poison text: the conflict kind carries two (`{…},{…}`). */
const rowCount = (t: string): number => (t.startsWith('{') && t.includes('},{') ? 2 : 1);
