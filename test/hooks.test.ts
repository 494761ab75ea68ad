import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHookDispatcher, type HookDispatcher } from '../alarms/hook-dispatcher.js';
import { listAlarms, transitionAlarm } from '../sql/alarm.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';
import { startReceiver, until, type Answer, type Received, type TestReceiver } from './hook-receiver.js';
import { cuedTimeouts, type CuedTimeouts } from './hook-timeouts.js';
import { recordEvents } from './alarm-wiring.js';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);
const SECRET = 'test-secret-0123456789';
/** Small delays so that retries happen within the test. Request timeouts fire on cue only (test/hook-timeouts.ts): a slow answer on a loaded machine is never one. */
const FAST = { timeoutMs: 2000, maxAttempts: 5, backoffBaseMs: 20, backoffMaxMs: 100, pollMs: 20, concurrency: 4 };

describe.each(FLAVOURS)('hooks and work orders (%s)', (flavour) => {
  let t: TestApp;
  const meter: Record<string, number> = {};
  let receiver: TestReceiver | undefined;
  let dispatcher: HookDispatcher | undefined;
  let cue: CuedTimeouts | undefined;
  let hookId: number | undefined;

  const ev = (m: string, code: string, minutes: number) => ({ meterId: meter[m], code, at: at(minutes), transport: 'test' });
  const alarmOf = async (m: string, code: string) => (await listAlarms(t.database, { meter: m, code, limit: 1 }))[0];
  const deliveries = async (status?: string) => {
    const r = await t.app.inject({ method: 'GET', url: `/v1/hooks/${hookId}/deliveries${status ? `?status=${status}` : ''}`, headers: t.auth('admin') });
    expect(r.statusCode).toBe(200);
    return r.json().deliveries as {
      id: string;
      alarmId: number;
      transition: string;
      status: string;
      attempts: number;
      lastStatus: number | null;
      lastError: string | null;
      deliveredAt: string | null;
    }[];
  };
  async function setUp(answer: (r: Received) => Answer, hook: Record<string, unknown>, opts: Partial<typeof FAST> = {}, now?: () => number): Promise<TestReceiver> {
    receiver = await startReceiver(SECRET, answer, now);
    const r = await t.app.inject({ method: 'POST', url: '/v1/hooks', headers: t.auth('admin'), payload: { url: receiver.url, secret: SECRET, ...hook } });
    expect(r.statusCode).toBe(201);
    hookId = r.json().id;
    cue = cuedTimeouts(opts.concurrency ?? FAST.concurrency);
    dispatcher = createHookDispatcher({ database: t.database, ...FAST, ...opts, post: cue.post, requestTimeout: cue.requestTimeout });
    return receiver;
  }

  beforeAll(async () => {
    t = await testApp(flavour);
    const rows = await t.database.db
      .insertInto('meters')
      .values(
        ['H1', 'H2', 'H3', 'H4', 'H5'].map((id, i) => ({
          external_id: id,
          commodity: 'electricity',
          timezone: 'Europe/Istanbul',
          interval_minutes: 15,
          multiplier: 1,
          tariff: 'single',
          labels: '{}',
          group: i < 3 ? 'north' : 'south',
        })),
      )
      .returning(['id', 'external_id'])
      .execute();
    for (const r of rows) meter[r.external_id] = r.id;
  });
  afterEach(async () => {
    const stopping = dispatcher?.stop();
    cue?.timeOutAll(); // a request a failed test left hanging
    await stopping;
    cue?.close();
    await receiver?.close();
    if (hookId !== undefined) await t.app.inject({ method: 'DELETE', url: `/v1/hooks/${hookId}`, headers: t.auth('admin') });
    dispatcher = receiver = hookId = cue = undefined;
  });
  afterAll(() => t?.close());

  it('creates, lists and deactivates hooks; the secret is shown once; admin only', async () => {
    const bad = await t.app.inject({ method: 'POST', url: '/v1/hooks', headers: t.auth('admin'), payload: { url: 'ftp://x', transitions: ['reopened'], filter: { severities: ['loud'] } } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/url.*http:\/\/ or https:\/\//s);
    expect((await t.app.inject({ method: 'POST', url: '/v1/hooks', headers: t.auth('operator'), payload: { url: 'http://127.0.0.1:1/x' } })).statusCode).toBe(403);

    const created = await t.app.inject({ method: 'POST', url: '/v1/hooks', headers: t.auth('admin'), payload: { url: 'http://127.0.0.1:1/x', filter: { codes: ['tamper'] } } });
    expect(created.statusCode).toBe(201);
    const h = created.json();
    expect(h.secret).toMatch(/^whsec_[A-Za-z0-9_-]{32}$/);
    expect(h).toMatchObject({
      url: 'http://127.0.0.1:1/x',
      filter: { codes: ['tamper'] },
      transitions: ['opened', 'acknowledged', 'closed'],
      active: true,
      createdBy: 'test-admin',
      pending: 0,
      failed: 0,
    });
    const one = await t.app.inject({ method: 'GET', url: `/v1/hooks/${h.id}`, headers: t.auth('admin') });
    expect(one.json()).not.toHaveProperty('secret');
    const list = await t.app.inject({ method: 'GET', url: '/v1/hooks', headers: t.auth('admin') });
    expect(list.json().hooks.map((x: { id: number }) => x.id)).toContain(h.id);
    expect(JSON.stringify(list.json())).not.toContain(h.secret);

    expect((await t.app.inject({ method: 'DELETE', url: `/v1/hooks/${h.id}`, headers: t.auth('admin') })).statusCode).toBe(204);
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/hooks/${h.id}`, headers: t.auth('admin') })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'GET', url: '/v1/hooks', headers: t.auth('admin') })).json().hooks.map((x: { id: number }) => x.id)).not.toContain(h.id);
    expect((await t.app.inject({ method: 'GET', url: '/v1/hooks?inactive=true', headers: t.auth('admin') })).json().hooks.find((x: { id: number }) => x.id === h.id)).toMatchObject({ active: false });
    expect((await t.app.inject({ method: 'GET', url: '/v1/hooks/999999', headers: t.auth('admin') })).statusCode).toBe(404);
  });

  it('retries 500, 503, 429 (after Retry-After) and a timeout under one delivery id, in order per alarm, alarms side by side, every request signed', async () => {
    let timedOutAt = Infinity;
    const rx = await setUp(
      (r) => {
        const key = `${r.body.meter.id}:${r.body.transition.type}`;
        if (key === 'H1:opened') return r.nth === 1 ? { status: 500, body: 'db down' } : r.nth === 2 ? { status: 503 } : { status: 200 };
        if (key === 'H1:acknowledged' && r.nth === 1) return { status: 429, headers: { 'retry-after': '1' } };
        if (key === 'H1:closed' && r.nth === 1) {
          // The request hangs; its timeout fires now (on cue: no waiting for the 2 s on the clock).
          setImmediate(() => {
            timedOutAt = Date.now();
            cue!.timeOut(r.delivery);
          });
          return 'hang';
        }
        return { status: 202 };
      },
      { transitions: ['opened', 'repeated', 'acknowledged', 'closed'] },
    );
    // Every transition is written before the dispatcher starts: H1's three wait on one another.
    await recordEvents(t.database, [ev('H1', 'tamper', 0), ev('H2', 'power_failure', 0)]);
    const a1 = await alarmOf('H1', 'tamper');
    await transitionAlarm(t.database, a1.id, 'acknowledge', { actor: 'alice', comment: 'crew sent' });
    await recordEvents(t.database, [ev('H2', 'power_failure', 1)]);
    await transitionAlarm(t.database, a1.id, 'close', { actor: 'bob', comment: 'seal replaced' });
    await dispatcher!.start();
    await until('5 deliveries delivered', async () => (await deliveries('delivered')).length === 5);

    const h1 = rx.received.filter((r) => r.body.meter.id === 'H1');
    expect(h1.map((r) => r.body.transition.type)).toEqual(['opened', 'opened', 'opened', 'acknowledged', 'acknowledged', 'closed', 'closed']);
    expect(h1.map((r) => r.attempt)).toEqual([1, 2, 3, 1, 2, 1, 2]);
    expect(rx.received.every((r) => r.signatureOk)).toBe(true);
    // One delivery id per transition, the same on every attempt.
    const idsByTransition = new Map<number, Set<string>>();
    for (const r of rx.received) (idsByTransition.get(r.body.transition.id) ?? idsByTransition.set(r.body.transition.id, new Set()).get(r.body.transition.id)!).add(r.delivery);
    expect([...idsByTransition.values()].map((s) => s.size)).toEqual([1, 1, 1, 1, 1]);
    expect(new Set(rx.received.map((r) => r.delivery)).size).toBe(5);
    // Retry-After: 1 s between the 429 and the next attempt (due by the database's clock: load only makes it longer).
    expect(h1[4].at - h1[3].at).toBeGreaterThanOrEqual(950);
    // Every request had the 2 s timeout; the hung one was given up when its timeout fired, and sent again only after that.
    expect(new Set(cue!.asked)).toEqual(new Set([2000]));
    expect(cue!.asked).toHaveLength(rx.received.length);
    expect(h1[6].at).toBeGreaterThanOrEqual(timedOutAt);
    // H2 went out while H1 was still being retried.
    const h2 = rx.received.filter((r) => r.body.meter.id === 'H2');
    expect(h2.map((r) => r.body.transition.type)).toEqual(['opened', 'repeated']);
    expect(h2[0].at).toBeLessThan(h1[3].at);

    expect(h1[3].body).toMatchObject({
      event: 'alarm.acknowledged',
      hook: hookId,
      transition: { type: 'acknowledged', actor: 'alice', comment: 'crew sent' },
      alarm: { id: a1.id, meter: 'H1', code: 'tamper', severity: 'critical', state: 'acknowledged', acknowledgedBy: 'alice' },
      meter: { id: 'H1', group: 'north', commodity: 'electricity' },
    });
    expect(h2[1].body.alarm).toMatchObject({ code: 'power_failure', state: 'open', count: 2 });
    expect(Number(h1[0].timestamp)).toBeCloseTo(h1[0].at / 1000, -1);

    const listed = await deliveries();
    expect(listed.map((d) => [d.transition, d.attempts, d.lastStatus, d.lastError])).toEqual([
      ['closed', 2, 202, null],
      ['repeated', 1, 202, null],
      ['acknowledged', 2, 202, null],
      ['opened', 1, 202, null],
      ['opened', 3, 200, null],
    ]);
  });

  it('a 400 is not retried and shows as failed; out of attempts is failed; redeliver sends again under the same id; the filter applies', async () => {
    let accept400 = false;
    const rx = await setUp(
      (r) => {
        if (r.body.alarm.code === 'cover_open') return accept400 ? { status: 200 } : { status: 400, body: 'unknown asset H3' };
        return { status: 503, body: 'maintenance' };
      },
      { filter: { codes: ['cover_open', 'low_battery'], groups: ['north'] }, transitions: ['opened'] },
      { maxAttempts: 3 },
    );
    // magnetic_field: not in codes; H4 low_battery: not in the group.
    await recordEvents(t.database, [ev('H3', 'cover_open', 0), ev('H1', 'low_battery', 0), ev('H3', 'magnetic_field', 0), ev('H4', 'low_battery', 0)]);
    await dispatcher!.start();
    await until('2 failed deliveries', async () => (await deliveries('failed')).length === 2);

    const failed = await deliveries('failed');
    const cover = failed.find((d) => d.lastStatus === 400)!;
    expect(cover).toMatchObject({ status: 'failed', attempts: 1, lastStatus: 400, lastError: 'HTTP 400: unknown asset H3', deliveredAt: null });
    expect(failed.find((d) => d.lastStatus === 503)).toMatchObject({ attempts: 3, lastError: 'HTTP 503: maintenance (gave up after 3 attempts)' });
    expect(rx.received.map((r) => `${r.body.meter.id}:${r.body.alarm.code}`).sort()).toEqual(['H1:low_battery', 'H1:low_battery', 'H1:low_battery', 'H3:cover_open']);
    expect((await deliveries()).length).toBe(2);
    const hook = (await t.app.inject({ method: 'GET', url: `/v1/hooks/${hookId}`, headers: t.auth('admin') })).json();
    expect(hook).toMatchObject({ pending: 0, failed: 2 });

    accept400 = true;
    const re = await t.app.inject({ method: 'POST', url: `/v1/hooks/${hookId}/deliveries/${cover.id}/redeliver`, headers: t.auth('admin') });
    expect(re.statusCode).toBe(200);
    expect(re.json()).toMatchObject({ id: cover.id, status: 'pending', attempts: 0 });
    await until('the redelivered one delivered', async () => (await deliveries('delivered')).length === 1);
    const coverRequests = rx.received.filter((r) => r.body.alarm.code === 'cover_open');
    expect(coverRequests.map((r) => [r.delivery, r.attempt])).toEqual([
      [cover.id, 1],
      [cover.id, 1],
    ]);
    expect((await t.app.inject({ method: 'POST', url: `/v1/hooks/${hookId}/deliveries/nope/redeliver`, headers: t.auth('admin') })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'POST', url: `/v1/hooks/${hookId}/deliveries/${cover.id}/redeliver`, headers: t.auth('operator') })).statusCode).toBe(403);
  });

  it('an alarm raised and cleared by posted readings carries the X-Request-Id of the request whose values did it (body and header)', async () => {
    const rule = { kind: 'threshold', channel: 'temperature', condition: 'above', threshold: 250, hysteresis: 5, minDurationMinutes: 0, groups: ['north'] };
    expect((await t.app.inject({ method: 'PUT', url: '/v1/alarm-rules/hv', headers: t.auth('admin'), payload: rule })).statusCode).toBe(201);
    try {
      const rx = await setUp(() => ({ status: 200 }), { filter: { codes: ['rule_hv'] } });
      await dispatcher!.start();
      const post = (id: string, value: number, minutes: number) =>
        t.app.inject({
          method: 'POST',
          url: '/v1/readings',
          headers: { ...t.auth('gateway'), 'x-request-id': id },
          payload: { readings: [{ meter: 'H2', channel: 'temperature', start: at(minutes).toISOString(), value }] },
        });
      expect((await post('head-end-1:batch-41', 262, 0)).statusCode).toBe(200);
      expect((await post('head-end-1:batch-42', 231, 15)).statusCode).toBe(200);
      await until('opened and closed received', () => rx.received.length === 2);
      expect(rx.received.map((r) => [r.body.event, r.body.transition.requestId, r.headers['x-request-id']])).toEqual([
        ['alarm.opened', 'head-end-1:batch-41', 'head-end-1:batch-41'],
        ['alarm.closed', 'head-end-1:batch-42', 'head-end-1:batch-42'],
      ]);
    } finally {
      await t.app.inject({ method: 'DELETE', url: '/v1/alarm-rules/hv', headers: t.auth('admin') });
    }
  });

  it('work-order integration end to end: opened → the receiver opens a work order and calls back → acknowledged → done → closed', async () => {
    const calls: { status: number; body: { changed: boolean; alarm: { state: string; workOrder: unknown } } }[] = [];
    const pending: Promise<void>[] = [];
    const later = (fn: () => Promise<void>) => pending.push(new Promise((r) => setTimeout(r, 10)).then(fn));
    const callback = async (alarmId: number, payload: object) => {
      const r = await t.app.inject({
        method: 'POST',
        url: `/v1/alarms/${alarmId}/work-order`,
        headers: { ...t.auth('operator'), 'x-request-id': `wo-7:${(payload as { status: string }).status}` },
        payload,
      });
      calls.push({ status: r.statusCode, body: r.json() });
    };
    const rx = await setUp(
      (r) => {
        // Answer first, call back afterwards (as a work-order system would, from its queue).
        if (r.body.meter.id !== 'H5') return { status: 201 };
        if (r.body.event === 'alarm.opened') later(() => callback(r.body.alarm.id, { workOrderId: 'WO-7', status: 'in_progress' }));
        if (r.body.event === 'alarm.acknowledged') later(() => callback(r.body.alarm.id, { workOrderId: 'WO-7', status: 'done', comment: 'meter replaced' }));
        return { status: 201 };
      },
      { filter: { groups: ['south'] } },
    );
    await dispatcher!.start();
    await recordEvents(t.database, [ev('H5', 'power_failure', 0)]);
    await until('opened, acknowledged and closed received', () => rx.received.length === 3);
    await Promise.all(pending);
    expect(rx.received.map((r) => r.body.event)).toEqual(['alarm.opened', 'alarm.acknowledged', 'alarm.closed']);
    // The callback's X-Request-Id travels with the transition it made (issue 19): in the body and as a header; an ingest-made one has none.
    expect(rx.received[0].body.transition.requestId).toBeUndefined();
    expect(rx.received[1].body.transition.requestId).toBe('wo-7:in_progress');
    expect(rx.received[1].headers['x-request-id']).toBe('wo-7:in_progress');
    expect(rx.received[2].body.transition.requestId).toBe('wo-7:done');
    expect(rx.received[1].body).toMatchObject({
      transition: { actor: 'test-operator', comment: 'work order WO-7: in_progress' },
      alarm: { state: 'acknowledged', workOrder: { id: 'WO-7', status: 'in_progress' } },
    });
    expect(rx.received[2].body).toMatchObject({
      transition: { actor: 'test-operator', comment: 'meter replaced' },
      alarm: { state: 'closed', closedBy: 'test-operator', workOrder: { id: 'WO-7', status: 'done' } },
    });
    expect(calls.map((c) => [c.status, c.body.changed, c.body.alarm.state])).toEqual([
      [200, true, 'acknowledged'],
      [200, true, 'closed'],
    ]);

    const alarm = await alarmOf('H5', 'power_failure');
    // Repeats are harmless; a late in_progress leaves the closed alarm closed; cancelled is recorded only.
    await callback(alarm.id, { workOrderId: 'WO-7', status: 'done' });
    await callback(alarm.id, { workOrderId: 'WO-7', status: 'in_progress' });
    expect(calls.slice(2).map((c) => [c.status, c.body.changed, c.body.alarm.state])).toEqual([
      [200, false, 'closed'],
      [200, false, 'closed'],
    ]);
    await recordEvents(t.database, [ev('H4', 'tamper', 0)]);
    const other = await alarmOf('H4', 'tamper');
    await callback(other.id, { workOrderId: 'WO-8', status: 'cancelled' });
    expect(calls[4]).toMatchObject({ status: 200, body: { changed: false, alarm: { state: 'open', workOrder: { id: 'WO-8', status: 'cancelled' } } } });

    const bad = await t.app.inject({ method: 'POST', url: `/v1/alarms/${alarm.id}/work-order`, headers: t.auth('operator'), payload: { workOrderId: 'WO-7', status: 'finished' } });
    expect(bad.statusCode).toBe(400);
    expect((await t.app.inject({ method: 'POST', url: '/v1/alarms/999999/work-order', headers: t.auth('operator'), payload: { workOrderId: 'W', status: 'done' } })).statusCode).toBe(404);
    expect((await t.app.inject({ method: 'POST', url: `/v1/alarms/${alarm.id}/work-order`, headers: t.auth('viewer'), payload: { workOrderId: 'W', status: 'done' } })).statusCode).toBe(403);
    await until('the tamper opened delivered', async () => (await deliveries('delivered')).length === 4);
  });

  it('a graceful stop gives unsent claims back; deactivating a hook fails its pending deliveries', async () => {
    const rx = await setUp(() => 'hang', { filter: { codes: ['reverse_flow'] } }, { concurrency: 1, timeoutMs: 500 });
    await recordEvents(t.database, [ev('H1', 'reverse_flow', 0), ev('H2', 'reverse_flow', 0), ev('H3', 'reverse_flow', 0)]);
    await dispatcher!.start();
    await until('the first request', () => rx.received.length === 1);
    const stopping = dispatcher!.stop(); // one request in flight (times out: retried later), one claimed ahead (released)
    cue!.timeOut(rx.received[0].delivery); // its 500 ms timeout runs out (on cue) while the dispatcher stops
    await stopping;
    expect(cue!.asked).toEqual([500]);
    const rows = await deliveries();
    expect(rows.map((d) => [d.status, d.attempts]).sort()).toEqual([
      ['pending', 0],
      ['pending', 0],
      ['pending', 1],
    ]);
    expect((await t.app.inject({ method: 'DELETE', url: `/v1/hooks/${hookId}`, headers: t.auth('admin') })).statusCode).toBe(204);
    expect((await deliveries()).map((d) => [d.status, d.lastError])).toEqual([
      ['failed', 'hook deactivated before delivery'],
      ['failed', 'hook deactivated before delivery'],
      ['failed', 'hook deactivated before delivery'],
    ]);
    expect(rx.received).toHaveLength(1);
  });

  it('a captured delivery cannot be replayed: the timestamp is signed with the id and body (issue 11, defect 8)', async () => {
    let skewMs = 0; // the receiver's clock, moved on to replay "later"
    const rx = await setUp(
      (r) => (r.nth > 1 ? { status: 200, body: 'duplicate' } : { status: 204 }),
      { filter: { codes: ['valve_closed'] } },
      {},
      () => Date.now() + skewMs,
    );
    await recordEvents(t.database, [ev('H3', 'valve_closed', 0)]);
    await dispatcher!.start();
    await until('the delivery delivered', async () => (await deliveries('delivered')).length === 1);
    await dispatcher!.stop();
    const [sent] = rx.received;
    // Verified by the docs' snippet; the deprecated body-only signature still comes along for old receivers.
    expect(sent).toMatchObject({ signatureOk: true, refused: null, legacySignatureOk: true, nth: 1 });
    expect(sent.headers).toMatchObject({ 'webhook-id': sent.body.delivery, 'x-mdm-delivery': sent.body.delivery, 'x-mdm-timestamp': sent.timestamp });
    expect(sent.headers['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(Number(sent.timestamp)).toBe(Math.floor(Date.parse(String(sent.body.sentAt)) / 1000));

    // Replayed at once: authentic and fresh, so the receiver's dedupe on webhook-id is what stops it.
    expect(await rx.replay(sent)).toEqual({ status: 200, text: 'duplicate' });
    // Six minutes later as captured: the signed timestamp is out of the window.
    skewMs = 6 * 60_000;
    expect(await rx.replay(sent)).toEqual({ status: 401, text: 'timestamp outside the tolerance window' });
    // With the timestamps moved to the replay's time: the signature no longer matches (the old body-only one still would).
    const fresh = String(Math.floor((Date.now() + skewMs) / 1000));
    expect(await rx.replay(sent, { 'webhook-timestamp': fresh, 'x-mdm-timestamp': fresh })).toEqual({ status: 401, text: 'no matching signature' });
    expect(rx.received.slice(1).map((r) => [r.nth, r.refused, r.legacySignatureOk])).toEqual([
      [2, null, true],
      [3, 'timestamp outside the tolerance window', true],
      [4, 'no matching signature', true],
    ]);
    expect(rx.acked).toEqual(new Set([sent.delivery]));
  });

  it('a receiver that refuses connections is retried, then failed with the network error', async () => {
    await setUp(() => ({ status: 200 }), { filter: { codes: ['clock_error'] } }, { maxAttempts: 2 });
    await receiver!.close(); // nothing listens on its port any more
    await recordEvents(t.database, [ev('H2', 'clock_error', 0)]);
    await dispatcher!.start();
    await until('the delivery failed', async () => (await deliveries('failed')).length === 1);
    const [d] = await deliveries();
    expect(d).toMatchObject({ status: 'failed', attempts: 2, lastStatus: null });
    expect(d.lastError).toMatch(/ECONNREFUSED.*\(gave up after 2 attempts\)$/);
  });
});
