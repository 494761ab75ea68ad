import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backoffMs, deliveryBody, deliveryHeaders, nextStep, retryAfterMs, signBody, signWebhook, verifyWebhook, type DeliveryToSend } from '../alarms/hook-delivery-policy.js';
import { verifierFromDocs } from './hook-receiver.js';

const policy = { maxAttempts: 4, backoffBaseMs: 1000, backoffMaxMs: 5000 };

describe('hook delivery policy', () => {
  it('signs the raw body with HMAC-SHA256 of the secret', () => {
    // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    expect(signBody('what do ya want for nothing?', 'Jefe')).toBe('sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843');
  });

  it('doubles the delay up to the cap, with jitter between half and all of it', () => {
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, policy, () => 0))).toEqual([500, 1000, 2000, 2500, 2500]);
    expect([1, 2, 3, 4, 5].map((n) => backoffMs(n, policy, () => 1))).toEqual([1000, 2000, 4000, 5000, 5000]);
    expect(backoffMs(2, policy, () => 0.5)).toBe(1500);
  });

  it('reads Retry-After as seconds or an HTTP date, never negative, capped at a day', () => {
    const now = Date.parse('2015-10-21T07:27:00Z');
    expect(retryAfterMs('3', now)).toBe(3000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', now)).toBe(60_000);
    expect(retryAfterMs('Wed, 21 Oct 2015 07:26:00 GMT', now)).toBe(0);
    expect(retryAfterMs('999999', now)).toBe(86_400_000);
    expect(retryAfterMs('-5', now)).toBeUndefined();
    expect(retryAfterMs('soon', now)).toBeUndefined();
    expect(retryAfterMs(null, now)).toBeUndefined();
  });

  it('retries 5xx, 429, timeouts and network errors; fails other statuses at once and after the last attempt', () => {
    const r = () => 0;
    expect(nextStep({ kind: 'response', status: 204 }, 1, policy, 0, r)).toEqual({ status: 'delivered' });
    expect(nextStep({ kind: 'response', status: 503, text: 'down\nfor maintenance' }, 1, policy, 0, r)).toEqual({ status: 'pending', delayMs: 500, error: 'HTTP 503: down for maintenance' });
    expect(nextStep({ kind: 'response', status: 429, retryAfter: '7' }, 2, policy, 0, r)).toEqual({ status: 'pending', delayMs: 7000, error: 'HTTP 429' });
    expect(nextStep({ kind: 'response', status: 503, retryAfter: 'garbage' }, 2, policy, 0, r)).toEqual({ status: 'pending', delayMs: 1000, error: 'HTTP 503' });
    expect(nextStep({ kind: 'timeout', timeoutMs: 300 }, 3, policy, 0, r)).toEqual({ status: 'pending', delayMs: 2000, error: 'no response within 300 ms' });
    expect(nextStep({ kind: 'network', message: 'ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:9' }, 1, policy, 0, r)).toMatchObject({ status: 'pending' });
    expect(nextStep({ kind: 'response', status: 400, text: 'bad alarm' }, 1, policy, 0, r)).toEqual({ status: 'failed', error: 'HTTP 400: bad alarm' });
    expect(nextStep({ kind: 'response', status: 408 }, 1, policy, 0, r)).toEqual({ status: 'failed', error: 'HTTP 408' });
    expect(nextStep({ kind: 'response', status: 301 }, 1, policy, 0, r)).toMatchObject({ status: 'failed', error: expect.stringMatching(/redirects are not followed/) });
    expect(nextStep({ kind: 'response', status: 500 }, 4, policy, 0, r)).toEqual({ status: 'failed', error: 'HTTP 500 (gave up after 4 attempts)' });
  });

  it('builds the body from the transition and its payload, and headers whose signature matches the body', () => {
    const d: DeliveryToSend = {
      id: 'd-1',
      hookId: 3,
      alarmId: 42,
      transitionId: 17,
      transition: 'opened',
      attempts: 2,
      url: 'http://127.0.0.1/x',
      secret: 's3cret-s3cret-s3cret',
      at: new Date('2026-03-01T10:00:00Z'),
      actor: 'event',
      comment: null,
      payload: { alarm: { id: 42, code: 'tamper' }, meter: { id: 'M1', group: 'north' } },
    };
    const sentAt = Date.parse('2026-03-01T10:00:01.250Z');
    const body = deliveryBody(d, sentAt);
    expect(JSON.parse(body)).toEqual({
      delivery: 'd-1',
      hook: 3,
      event: 'alarm.opened',
      sentAt: '2026-03-01T10:00:01.250Z',
      transition: { id: 17, type: 'opened', at: '2026-03-01T10:00:00.000Z', actor: 'event', comment: null },
      alarm: { id: 42, code: 'tamper' },
      meter: { id: 'M1', group: 'north' },
    });
    const h = deliveryHeaders(d, body, sentAt);
    expect(h).toMatchObject({
      'webhook-id': 'd-1',
      'webhook-timestamp': '1772359201',
      'x-mdm-delivery': 'd-1',
      'x-mdm-event': 'alarm.opened',
      'x-mdm-timestamp': '1772359201',
      'x-mdm-attempt': '2',
      'content-type': 'application/json',
    });
    // Standard Webhooks: the id and the send time are signed with the body; the secret's bytes as given are the key.
    expect(h['webhook-signature']).toBe(`v1,${createHmac('sha256', d.secret).update(`d-1.1772359201.${body}`).digest('base64')}`);
    expect(verifyWebhook(h, body, d.secret, sentAt)).toBe('ok');
    // Deprecated, kept one release for receivers written before: the body alone.
    expect(h['x-mdm-signature']).toBe(`sha256=${createHmac('sha256', d.secret).update(body).digest('hex')}`);
  });
});

// The Standard Webhooks spec's own test vector (libraries/javascript "sign function works": the key is base64 after whsec_) …
const SPEC = { id: 'msg_p5jXN8AQM9LWM0D4loKWxJek', timestamp: 1614265330, body: '{"test": 2432232314}', key: Buffer.from('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'base64') };
const SPEC_SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';
// … and ours: a hook secret is used as its UTF-8 bytes (computed once with node:crypto and `standardwebhooks` 1.1.1 `{ format: 'raw' }`).
const OURS = {
  id: '0b6f9f0e-3c9e-4d0a-9a55-5f7c2f4f1d2a',
  timestamp: 1772359201,
  body: '{"delivery":"0b6f9f0e-3c9e-4d0a-9a55-5f7c2f4f1d2a","event":"alarm.opened"}',
  key: 'whsec_Jx0test-secret_0123456789abc',
};
const OURS_SIGNATURE = 'v1,ZIfiJk0j/g+ilg204HdCLqQuUu6B7IoqlMNFbuU+zYI=';
const headersOf = (v: { id: string; timestamp: number }, signature: string) => ({ 'webhook-id': v.id, 'webhook-timestamp': String(v.timestamp), 'webhook-signature': signature });

describe('webhook signature (Standard Webhooks v1)', () => {
  it('signs id, timestamp and body: the fixed vectors', () => {
    expect(signWebhook(SPEC.id, SPEC.timestamp, SPEC.body, SPEC.key)).toBe(SPEC_SIGNATURE);
    expect(signWebhook(OURS.id, OURS.timestamp, OURS.body, OURS.key)).toBe(OURS_SIGNATURE);
    expect(signWebhook(OURS.id, OURS.timestamp, OURS.body, Buffer.from(OURS.key, 'utf8'))).toBe(OURS_SIGNATURE);
  });

  it('verifies within 5 minutes either way; refuses an old or a changed timestamp, another id or body, a missing header', () => {
    const at = (s: number) => (OURS.timestamp + s) * 1000;
    const good = headersOf(OURS, OURS_SIGNATURE);
    expect(verifyWebhook(good, OURS.body, OURS.key, at(0))).toBe('ok');
    expect(verifyWebhook(good, OURS.body, OURS.key, at(300))).toBe('ok');
    expect(verifyWebhook(good, OURS.body, OURS.key, at(-300))).toBe('ok');
    expect(verifyWebhook(good, Buffer.from(OURS.body), OURS.key, at(0))).toBe('ok');
    // A replay 6 minutes later as captured, and with the timestamp moved to the replay's time.
    expect(verifyWebhook(good, OURS.body, OURS.key, at(360))).toBe('timestamp outside the tolerance window');
    expect(verifyWebhook(good, OURS.body, OURS.key, at(-301))).toBe('timestamp outside the tolerance window');
    expect(verifyWebhook({ ...good, 'webhook-timestamp': String(OURS.timestamp + 360) }, OURS.body, OURS.key, at(360))).toBe('no matching signature');
    expect(verifyWebhook({ ...good, 'webhook-id': 'another' }, OURS.body, OURS.key, at(0))).toBe('no matching signature');
    expect(verifyWebhook(good, OURS.body.replace('opened', 'closed'), OURS.key, at(0))).toBe('no matching signature');
    expect(verifyWebhook(good, OURS.body, 'whsec_another-secret-0123456789', at(0))).toBe('no matching signature');
    expect(verifyWebhook({ ...good, 'webhook-timestamp': '1772359201.5' }, OURS.body, OURS.key, at(0))).toBe('timestamp outside the tolerance window');
    expect(verifyWebhook({ 'webhook-id': OURS.id, 'webhook-timestamp': String(OURS.timestamp) }, OURS.body, OURS.key, at(0))).toBe('missing webhook-id, webhook-timestamp or webhook-signature');
    // Several entries: any v1 that matches; other versions and truncated values are skipped.
    const several = `v2,${OURS_SIGNATURE.slice(3)} v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1,${OURS_SIGNATURE.slice(3, 12)} ${OURS_SIGNATURE}`;
    expect(verifyWebhook(headersOf(OURS, several), OURS.body, OURS.key, at(0))).toBe('ok');
    expect(verifyWebhook(headersOf(OURS, several.split(' ').slice(0, 3).join(' ')), OURS.body, OURS.key, at(0))).toBe('no matching signature');
    expect(verifyWebhook(headersOf(SPEC, SPEC_SIGNATURE), SPEC.body, SPEC.key, SPEC.timestamp * 1000)).toBe('ok');
  });

  it('the Node snippet of docs/alarms.md agrees on the same vectors', async () => {
    const verifyMdmHook = await verifierFromDocs();
    const at = (s: number) => (OURS.timestamp + s) * 1000;
    const good = headersOf(OURS, OURS_SIGNATURE);
    const raw = Buffer.from(OURS.body);
    expect(verifyMdmHook(raw, good, OURS.key, at(0))).toBeNull();
    expect(verifyMdmHook(raw, good, OURS.key, at(-300))).toBeNull();
    expect(verifyMdmHook(raw, good, OURS.key, at(360))).toBe('timestamp outside the tolerance window');
    expect(verifyMdmHook(raw, { ...good, 'webhook-timestamp': String(OURS.timestamp + 360) }, OURS.key, at(360))).toBe('no matching signature');
    expect(verifyMdmHook(Buffer.from(OURS.body.replace('opened', 'closed')), good, OURS.key, at(0))).toBe('no matching signature');
    expect(verifyMdmHook(raw, { 'webhook-id': OURS.id }, OURS.key, at(0))).toBe('missing webhook-id, webhook-timestamp or webhook-signature');
    expect(verifyMdmHook(raw, headersOf(OURS, `v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= ${OURS_SIGNATURE}`), OURS.key, at(0))).toBeNull();
  });
});
