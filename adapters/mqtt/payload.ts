import { FIELD_LIMITS, MAX_JSON_DEPTH, boundedText, fieldProblem, jsonDepthExceeds, safeJson, valueDepthExceeds } from '../../models/input-bounds.js';
import { isSenmlPack, senmlToReadings } from './senml.js';
import type { TopicRoute } from './topics.js';

/**
 * Decodes an MQTT payload by its topic (docs/mqtt.md "Payloads"). Pure.
 *
 * Readings topics: a JSON array of rows, a SenML pack, or the ack wrapper
 * `{"id": "b-42", "ack": true, "readings": [...]}` around either.
 * Events topic: one event object, an array of them, or `{"id", "ack", "events": [...]}`.
 */

/** The sender asks for its per-message result on mdm/v1/gateways/{gateway}/acks. */
export interface AckRequest {
  /** Echoed back so the gateway can match the result (string or number, null when absent). */
  readonly id: string | number | null;
  /** From the gateway topic or the wrapper's `gateway`; the embedded broker uses the authenticated gateway. */
  readonly gateway: string | null;
}

export interface PreReject {
  readonly index: number;
  readonly reason: string;
  readonly meter: string | null;
  readonly payload: string;
}

export type DecodedMessage =
  | {
      readonly kind: 'readings';
      readonly format: 'rows' | 'senml';
      readonly rows: readonly unknown[];
      /** Position in the message of each row (SenML: record index), when it differs. */
      readonly indexOf?: readonly number[];
      /** Records refused before ingest (SenML mapping). */
      readonly rejected: readonly PreReject[];
      readonly meter?: string;
      readonly ack: AckRequest | null;
    }
  | { readonly kind: 'events'; readonly events: readonly unknown[]; readonly meter: string; readonly ack: AckRequest | null }
  | { readonly kind: 'invalid'; readonly reason: string; readonly ack: AckRequest | null };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const WRAPPER_KEYS = { readings: ['id', 'ack', 'gateway', 'readings'], events: ['id', 'ack', 'gateway', 'events'] } as const;

/** Payload bytes as text, or undefined when they are not UTF-8. */
export function payloadText(payload: Uint8Array): string | undefined {
  try {
    return utf8.decode(payload);
  } catch {
    return undefined;
  }
}

/**
 * @example decodeMessage({ kind: 'meter-readings', meter: 'M1' }, Buffer.from('[{"channel":"1.29.0","start":"2026-01-01T00:00:00Z","value":1}]'), { nowMs: 0 })
 * // { kind: 'readings', format: 'rows', rows: [{ channel: '1.29.0', … }], rejected: [], meter: 'M1', ack: null }
 */
export function decodeMessage(route: TopicRoute, payload: Uint8Array, opts: { nowMs: number; contentType?: string }): DecodedMessage {
  const invalid = (reason: string, ack: AckRequest | null = null): DecodedMessage => ({ kind: 'invalid', reason, ack });
  const text = payloadText(payload);
  if (text === undefined) return invalid('payload is not UTF-8 text; send JSON');
  // U+0000 (which PostgreSQL text cannot hold) is not refused here for the whole message: raw, it is not
  // JSON; escaped as \u0000 inside a row's field, the row checks (ingest/normalize.ts) reject that row alone.
  // Nothing recursive (stringify, validation) may ever meet a 20 000-level value: JSON.parse is not recursive,
  // the depth is checked on the parsed value (cheaper than on the text), and on the text when it did not parse.
  const tooDeep = () => invalid(`payload nests arrays/objects deeper than ${MAX_JSON_DEPTH} levels (reading rows need 3); flatten it`);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    return jsonDepthExceeds(text, MAX_JSON_DEPTH) ? tooDeep() : invalid(`payload is not JSON (${(err as Error).message})`);
  }
  if (valueDepthExceeds(body, MAX_JSON_DEPTH)) return tooDeep();
  const topicGateway = route.kind === 'gateway-readings' ? route.gateway : null;
  let ack: AckRequest | null = null;
  const listKey = route.kind === 'meter-events' ? 'events' : 'readings';

  const isWrapper = body !== null && typeof body === 'object' && !Array.isArray(body) && (listKey in body || 'ack' in body || 'id' in body) && !(listKey === 'events' && 'code' in body);
  if (isWrapper) {
    const w = body as Record<string, unknown>;
    const allowed: readonly string[] = WRAPPER_KEYS[listKey];
    const id = typeof w.id === 'string' || typeof w.id === 'number' ? w.id : null;
    const gateway = topicGateway ?? (typeof w.gateway === 'string' ? w.gateway : null);
    if (w.ack === true) ack = { id, gateway };
    const unknown = Object.keys(w).filter((k) => !allowed.includes(k));
    if (unknown.length) {
      const named = unknown
        .slice(0, 5)
        .map((k) => boundedText(JSON.stringify(k), 66))
        .join(', ');
      return invalid(`unknown field${unknown.length > 1 ? 's' : ''} ${named}${unknown.length > 5 ? ', …' : ''}; a wrapper has ${allowed.join(', ')}`, ack);
    }
    if (w.ack !== undefined && typeof w.ack !== 'boolean') return invalid('ack must be true or false', ack);
    if (w.id !== undefined && id === null) return invalid('id must be a string or a number', ack);
    if (w.gateway !== undefined && typeof w.gateway !== 'string') return invalid('gateway must be a string (the gateway id whose acks topic gets the result)', ack);
    const badGateway = typeof w.gateway === 'string' ? (fieldProblem('gateway', w.gateway, FIELD_LIMITS.id) ?? (/[+#/]/.test(w.gateway) ? 'gateway must not hold /, + or #' : null)) : null;
    if (badGateway) return invalid(badGateway, w.ack === true && topicGateway ? { id, gateway: topicGateway } : null);
    const badId = typeof w.id === 'string' ? fieldProblem('id', w.id, FIELD_LIMITS.id) : null;
    if (badId) return invalid(badId);
    if (!Array.isArray(w[listKey])) return invalid(`${listKey} must be an array`, ack);
    body = w[listKey];
  }

  if (route.kind === 'meter-events') {
    if (Array.isArray(body)) return { kind: 'events', events: body, meter: route.meter, ack };
    if (body !== null && typeof body === 'object') return { kind: 'events', events: [body], meter: route.meter, ack };
    return invalid('events payload must be an event {code, at, severity?, data?}, an array of them, or {id, ack, events: [...]}', ack);
  }
  if (!Array.isArray(body)) return invalid('readings payload must be a JSON array of rows, a SenML pack, or {id, ack, readings: [...]}', ack);
  const meter = route.kind === 'meter-readings' ? route.meter : undefined;
  if (isSenmlPack(body) || (opts.contentType === 'application/senml+json' && body.length > 0)) {
    const s = senmlToReadings(body, { meter, nowMs: opts.nowMs });
    return {
      kind: 'readings',
      format: 'senml',
      rows: s.rows,
      indexOf: s.indexOf,
      rejected: s.rejected.map((r) => ({ ...r, payload: safeJson(body[r.index]) })),
      meter,
      ack,
    };
  }
  return { kind: 'readings', format: 'rows', rows: body, rejected: [], meter, ack };
}
