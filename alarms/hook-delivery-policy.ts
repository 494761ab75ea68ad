import { createHmac, timingSafeEqual } from 'node:crypto';
import type { DeliveryToSend } from '../models/hook.js';
import { backoffDelay } from '../models/backoff.js';

/**
 * What to do with a hook delivery attempt: the signature, the request body,
 * the retry schedule. Pure: the clock and the random source are passed in.
 */

export interface RetryPolicy {
  /** Attempts before a delivery is marked failed (the first one included). */
  readonly maxAttempts: number;
  /** Delay after the first failed attempt, doubled after each further one. */
  readonly backoffBaseMs: number;
  /** Upper bound of the doubled delay (before jitter). */
  readonly backoffMaxMs: number;
}

/** Longest Retry-After we honour: a receiver asking for more is retried after a day. */
export const MAX_RETRY_AFTER_MS = 86_400_000;

/**
 * `sha256=<hex>` HMAC-SHA256 of the raw body bytes with the hook secret:
 * X-MDM-Signature, **deprecated** (it does not cover the send time, so a
 * captured request verifies forever). Sent for one more release beside the
 * Standard Webhooks headers so that receivers can move over (docs/alarms.md).
 * @example signBody('{"a":1}', 'whsec_test_secret_123') // 'sha256=…64 hex digits'
 */
export function signBody(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

/** How far webhook-timestamp may be from the receiver's clock, either way (Standard Webhooks recommends 5 minutes). */
export const SIGNATURE_TOLERANCE_S = 300;

/**
 * Standard Webhooks signature (https://www.standardwebhooks.com, "Signature
 * scheme"): `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`, the
 * webhook-signature header. The id and the send time are inside the signed
 * bytes, so a captured request cannot be replayed with a new timestamp.
 * `key`: a string is used as its UTF-8 bytes as given (our hook secrets,
 * `whsec_` prefix and all, as for X-MDM-Signature; not base64-decoded as
 * the spec's own `whsec_<base64>` secrets are); bytes are used as they are.
 * @example signWebhook('msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}', Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64'))
 * // 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=' (the spec's test vector)
 */
export function signWebhook(id: string, timestampS: number, body: string, key: string | Uint8Array): string {
  return `v1,${webhookMac(id, String(timestampS), body, key).toString('base64')}`;
}

function webhookMac(id: string, timestamp: string, body: string | Uint8Array, key: string | Uint8Array): Buffer {
  return createHmac('sha256', key).update(`${id}.${timestamp}.`, 'utf8').update(body).digest();
}

/** The three Standard Webhooks headers of a request (lower-case names, as node:http gives them). */
export interface WebhookHeaders {
  readonly 'webhook-id'?: string;
  readonly 'webhook-timestamp'?: string;
  readonly 'webhook-signature'?: string;
}

/** `ok`, or why a request must be refused. */
export type WebhookCheck = 'ok' | 'missing webhook-id, webhook-timestamp or webhook-signature' | 'timestamp outside the tolerance window' | 'no matching signature';

/**
 * A receiver's check of a Standard Webhooks request (the reference for the
 * Node snippet in docs/alarms.md): the timestamp within `toleranceS` of
 * `nowMs`, then one of the space-separated `v1,<base64>` signatures matching
 * the HMAC of `{id}.{timestamp}.{body}` (constant-time compare). Replays
 * inside the window pass: the receiver dedupes on webhook-id.
 * @example verifyWebhook(headers, rawBody, secret, Date.now()) // 'ok'
 */
export function verifyWebhook(headers: WebhookHeaders, body: string | Uint8Array, key: string | Uint8Array, nowMs: number, toleranceS = SIGNATURE_TOLERANCE_S): WebhookCheck {
  const id = headers['webhook-id'];
  const timestamp = headers['webhook-timestamp'];
  const signatures = headers['webhook-signature'];
  if (!id || !timestamp || !signatures) return 'missing webhook-id, webhook-timestamp or webhook-signature';
  if (!/^\d{1,12}$/.test(timestamp) || Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceS) return 'timestamp outside the tolerance window';
  const expected = webhookMac(id, timestamp, body, key);
  for (const s of signatures.split(' ')) {
    const [version, value] = s.split(',', 2);
    if (version !== 'v1' || !value) continue;
    const given = Buffer.from(value, 'base64');
    if (given.length === expected.length && timingSafeEqual(given, expected)) return 'ok';
  }
  return 'no matching signature';
}

/**
 * Delay before attempt `attempt + 1` after `attempt` failed (1-based):
 * exponential, capped, with "equal jitter" (between half and all of the
 * capped delay) so that receivers coming back up are not hit by every
 * sender at the same instant.
 * @example backoffMs(3, { maxAttempts: 10, backoffBaseMs: 1000, backoffMaxMs: 600_000 }, () => 0) // 2000 (4 s × ½)
 */
export function backoffMs(attempt: number, p: RetryPolicy, random: () => number): number {
  const capped = backoffDelay(Math.max(0, attempt - 1), { initialMs: p.backoffBaseMs, maxMs: p.backoffMaxMs });
  return Math.round(capped / 2 + (random() * capped) / 2);
}

/**
 * Retry-After (RFC 9110 §10.2.3): delay-seconds or an HTTP date. Undefined
 * when absent or unreadable; never negative; at most MAX_RETRY_AFTER_MS.
 * @example retryAfterMs('3', 0) // 3000
 * @example retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', Date.parse('2015-10-21T07:27:00Z')) // 60000
 */
export function retryAfterMs(header: string | null | undefined, nowMs: number): number | undefined {
  if (header === null || header === undefined) return undefined;
  const text = header.trim();
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (!Number.isFinite(at) || !/[a-z]/i.test(text)) return undefined;
    ms = at - nowMs;
  }
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/** How one attempt ended. */
export type AttemptOutcome =
  | { readonly kind: 'response'; readonly status: number; readonly retryAfter?: string | null; readonly text?: string }
  | { readonly kind: 'timeout'; readonly timeoutMs: number }
  | { readonly kind: 'network'; readonly message: string };

/** What becomes of the delivery after an attempt. */
export type NextStep = { readonly status: 'delivered' } | { readonly status: 'pending'; readonly delayMs: number; readonly error: string } | { readonly status: 'failed'; readonly error: string };

/** 2xx delivered; 429 and 5xx, timeouts and network errors retried; other statuses (3xx, 4xx) fail at once. */
export function retryable(o: AttemptOutcome): boolean {
  return o.kind !== 'response' || o.status === 429 || o.status >= 500;
}

function describe(o: AttemptOutcome): string {
  if (o.kind === 'timeout') return `no response within ${o.timeoutMs} ms`;
  if (o.kind === 'network') return o.message;
  const text = o.text ? `: ${o.text.replace(/\s+/g, ' ').trim().slice(0, 200)}` : '';
  if (o.status >= 300 && o.status < 400) return `HTTP ${o.status} (redirects are not followed: point the hook at the final URL)${text}`;
  return `HTTP ${o.status}${text}`;
}

/**
 * The delivery's next state after attempt number `attempt` (1-based) ended
 * with `o`. Retry-After (429, 503) replaces the backoff delay when given.
 * @example nextStep({ kind: 'response', status: 503, retryAfter: '2' }, 1, policy, Date.now(), Math.random) // { status: 'pending', delayMs: 2000, error: 'HTTP 503' }
 */
export function nextStep(o: AttemptOutcome, attempt: number, p: RetryPolicy, nowMs: number, random: () => number): NextStep {
  if (o.kind === 'response' && o.status >= 200 && o.status < 300) return { status: 'delivered' };
  const error = describe(o);
  if (!retryable(o)) return { status: 'failed', error };
  if (attempt >= p.maxAttempts) return { status: 'failed', error: `${error} (gave up after ${attempt} attempts)` };
  const asked = o.kind === 'response' ? retryAfterMs(o.retryAfter, nowMs) : undefined;
  return { status: 'pending', delayMs: asked ?? backoffMs(attempt, p, random), error };
}

export type { DeliveryToSend } from '../models/hook.js';

/**
 * The JSON body of a delivery: ids, the transition, then the alarm and meter
 * summaries written with the transition (as they were at that moment).
 * `sentAt` is the webhook-timestamp instant in milliseconds.
 */
export function deliveryBody(d: DeliveryToSend, sentAtMs: number): string {
  const { requestId, ...payload } = d.payload;
  return JSON.stringify({
    delivery: d.id,
    hook: d.hookId,
    event: `alarm.${d.transition}`,
    sentAt: new Date(sentAtMs).toISOString(),
    // requestId: the X-Request-Id of the API call that made the transition (an acknowledge, a close, a work-order callback)
    transition: { id: d.transitionId, type: d.transition, at: d.at.toISOString(), actor: d.actor, comment: d.comment, ...(requestId ? { requestId } : {}) },
    ...payload,
  });
}

/**
 * Request headers of one attempt. The Standard Webhooks trio (webhook-id =
 * the delivery id, the same on every attempt; webhook-timestamp = the send
 * time in unix seconds, new on each attempt; webhook-signature over both and
 * the body) is what receivers verify; the X-MDM-* headers stay for the
 * receivers written before it, X-MDM-Signature deprecated (signBody).
 */
export function deliveryHeaders(d: DeliveryToSend, body: string, sentAtMs: number): Record<string, string> {
  const timestampS = Math.floor(sentAtMs / 1000);
  return {
    'content-type': 'application/json',
    'user-agent': 'mdm-hooks/1',
    'webhook-id': d.id,
    'webhook-timestamp': String(timestampS),
    'webhook-signature': signWebhook(d.id, timestampS, body, d.secret),
    'x-mdm-delivery': d.id,
    'x-mdm-event': `alarm.${d.transition}`,
    'x-mdm-timestamp': String(timestampS),
    'x-mdm-attempt': String(d.attempts),
    'x-mdm-signature': signBody(body, d.secret),
    ...(typeof d.payload.requestId === 'string' ? { 'x-request-id': d.payload.requestId } : {}),
  };
}
