import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backoffMs, deliveryBody, deliveryHeaders, nextStep, retryAfterMs, signBody, type DeliveryToSend } from '../ingest/alarms/hook-delivery-policy.js';

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
    expect(h).toMatchObject({ 'x-mdm-delivery': 'd-1', 'x-mdm-event': 'alarm.opened', 'x-mdm-timestamp': '1772359201', 'x-mdm-attempt': '2', 'content-type': 'application/json' });
    expect(h['x-mdm-signature']).toBe(`sha256=${createHmac('sha256', d.secret).update(body).digest('hex')}`);
  });
});
