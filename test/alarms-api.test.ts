import { randomUUID } from 'node:crypto';
import { createServer } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMqttComponent } from '../adapters/mqtt/component.js';
import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { loadConfig } from '../models/config.js';
import { createApiKey } from '../sql/api-key.repository.js';
import { listAlarms } from '../sql/alarm.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

const ALARM_KEYS = ['id', 'meter', 'code', 'severity', 'state', 'count', 'openedAt', 'lastSeenAt', 'closedAt'];

describe.each(FLAVOURS)('alarms API (%s)', (flavour) => {
  let t: TestApp;
  let scopedKey: string;
  const post = (url: string, body: unknown, role: Parameters<TestApp['auth']>[0] = 'gateway') => t.app.inject({ method: 'POST', url, headers: t.auth(role), payload: body as object });
  const get = (url: string, role: Parameters<TestApp['auth']>[0] = 'operator') => t.app.inject({ method: 'GET', url, headers: t.auth(role) });

  beforeAll(async () => {
    t = await testApp(flavour);
    await t.database.db
      .insertInto('meters')
      .values([
        { external_id: 'N-1', commodity: 'electricity', timezone: 'Europe/Istanbul', interval_minutes: 15, multiplier: 1, tariff: 'single', labels: '{}', group: 'north' },
        { external_id: 'S-1', commodity: 'water', timezone: 'Europe/Istanbul', interval_minutes: 60, multiplier: 1, tariff: 'single', labels: '{}', group: 'south' },
      ])
      .execute();
    scopedKey = (await createApiKey(t.database, { name: 'gw-north', role: 'gateway', scope: { groups: ['north'] } })).key;
  });
  afterAll(() => t?.close());

  it('POST /v1/events stores valid events, rejects bad ones with reasons, and opens alarms', async () => {
    const events = [
      { meter: 'N-1', code: 'tamper', at: '2026-03-01T10:00:00+03:00', data: { door: 2 } },
      { meter: 'NOPE', code: 'tamper', at: '2026-03-01T10:00:00Z' },
      { meter: 'N-1', code: 'power_failure', at: '2026-03-01T10:00' },
      { code: 'power_failure', at: '2026-03-01T10:00:00Z' },
      { meter: 'S-1', code: 'power_failure', at: '2026-03-01T07:01:00Z', severity: 'critical', colour: 'red' },
      { meter: 'S-1', code: 'power_failure', at: '2026-03-01T07:02:00Z', severity: 'critical' },
      'x',
    ];
    const res = await post('/v1/events', { events });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      accepted: 2,
      unchanged: 0,
      rejected: [
        { index: 1, reason: 'unknown meter "NOPE": register it with PUT /v1/meters first' },
        { index: 2, reason: expect.stringMatching(/^at: timestamp "2026-03-01T10:00" has no UTC offset/) },
        { index: 3, reason: 'meter: is required (the external meter id)' },
        { index: 4, reason: expect.stringMatching(/^unknown field "colour"; allowed: meter, code,/) },
        { index: 6, reason: 'event must be an object {meter, code, at, severity?, data?}' },
      ],
      alarms: { opened: 2, repeated: 0, closed: 0 },
    });
    const dead = await t.database.db.selectFrom('rejects').selectAll().where('topic', '=', 'POST /v1/events').orderBy('row_index').execute();
    expect(dead.map((d) => [d.row_index, d.meter, d.transport, d.principal])).toEqual([
      [1, 'NOPE', 'http', 'test-gateway'],
      [2, 'N-1', 'http', 'test-gateway'],
      [3, null, 'http', 'test-gateway'],
      [4, 'S-1', 'http', 'test-gateway'],
      [6, null, 'http', 'test-gateway'],
    ]);
    // Re-sent: a no-op.
    const again = await post('/v1/events', { events: [events[0], events[5]] });
    expect(again.json()).toEqual({ accepted: 0, unchanged: 2, rejected: [], alarms: { opened: 0, repeated: 0, closed: 0 } });
    // A scoped gateway may not send events for meters outside its scope.
    const scoped = await t.app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { authorization: `Bearer ${scopedKey}` },
      payload: { events: [{ meter: 'S-1', code: 'power_restored', at: '2026-03-01T07:30:00Z' }] },
    });
    expect(scoped.json()).toMatchObject({ accepted: 0, rejected: [{ index: 0, reason: 'meter "S-1" is outside this key\'s scope' }] });
  });

  it('POST /v1/events refuses malformed bodies and unauthorised callers', async () => {
    for (const body of [{}, { events: [] }, { events: 'x' }, { events: [{}], extra: 1 }, []]) {
      const res = await post('/v1/events', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error).toBe('MDM_ERR_VALIDATION');
    }
    expect((await post('/v1/events', { events: [] }, 'viewer')).statusCode).toBe(403);
    expect((await post('/v1/events', { events: [] }, 'operator')).statusCode).toBe(403);
    expect((await t.app.inject({ method: 'POST', url: '/v1/events', payload: { events: [] } })).statusCode).toBe(401);
  });

  it('GET /v1/alarms filters and pages; rows carry the issue fields', async () => {
    const all = (await get('/v1/alarms')).json();
    expect(all.alarms).toHaveLength(2);
    for (const a of all.alarms) expect(Object.keys(a)).toEqual(expect.arrayContaining(ALARM_KEYS));
    expect(all.alarms.map((a: { meter: string; code: string; severity: string; count: number }) => [a.meter, a.code, a.severity, a.count])).toEqual([
      ['S-1', 'power_failure', 'critical', 1],
      ['N-1', 'tamper', 'critical', 1],
    ]);
    const q = async (qs: string) => (await get(`/v1/alarms?${qs}`)).json().alarms.map((a: { meter: string }) => a.meter);
    expect(await q('code=tamper')).toEqual(['N-1']);
    expect(await q('group=south')).toEqual(['S-1']);
    expect(await q('meter=N-1&state=open')).toEqual(['N-1']);
    expect(await q('state=closed')).toEqual([]);
    expect(await q('severity=major')).toEqual([]);
    expect(await q('from=2026-03-01T07:00:30Z')).toEqual(['S-1']); // N-1 opened 07:00:00Z
    expect(await q('to=2026-03-01T07:00:30Z')).toEqual(['N-1']);
    const page1 = (await get('/v1/alarms?limit=1')).json();
    expect(page1.alarms).toHaveLength(1);
    const page2 = (await get(`/v1/alarms?limit=1&before=${page1.nextCursor}`)).json();
    expect(page2.alarms.map((a: { meter: string }) => a.meter)).toEqual(['N-1']);
    expect(page2.nextCursor).toBeNull();
    expect((await get('/v1/alarms?from=yesterday')).statusCode).toBe(400);
    expect((await get('/v1/alarms?state=sleeping')).statusCode).toBe(400);
    expect((await get('/v1/alarms', 'gateway')).statusCode).toBe(403);
    expect((await get('/v1/alarms', 'viewer')).statusCode).toBe(200);
  });

  it('acknowledge and close with user and comment; 404, 409 and idempotent close', async () => {
    const [a] = (await get('/v1/alarms?code=tamper')).json().alarms;
    expect((await get(`/v1/alarms/${a.id}`)).json()).toEqual(a);
    expect((await get('/v1/alarms/999999')).statusCode).toBe(404);

    expect((await post(`/v1/alarms/${a.id}/acknowledge`, {}, 'operator')).statusCode).toBe(400); // comment is required
    expect((await post(`/v1/alarms/${a.id}/acknowledge`, { comment: 'x' }, 'viewer')).statusCode).toBe(403);
    const ack = await post(`/v1/alarms/${a.id}/acknowledge`, { comment: 'crew on the way' }, 'operator');
    expect(ack.statusCode).toBe(200);
    expect(ack.json()).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'test-operator', comment: 'crew on the way' });
    const close = await post(`/v1/alarms/${a.id}/close`, { user: 'alice', comment: 'seal replaced' }, 'operator');
    expect(close.json()).toMatchObject({ state: 'closed', closedBy: 'alice', comment: 'seal replaced' });
    expect(close.json().closedAt).not.toBeNull();
    const again = await post(`/v1/alarms/${a.id}/close`, { comment: 'again' }, 'operator');
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(close.json());
    const late = await post(`/v1/alarms/${a.id}/acknowledge`, { comment: 'late' }, 'operator');
    expect(late.statusCode).toBe(409);
    expect(late.json()).toMatchObject({ error: 'MDM_ERR_CONFLICT', message: expect.stringMatching(/is closed/) });
    expect((await post('/v1/alarms/999999/close', { comment: 'x' }, 'operator')).statusCode).toBe(404);

    const outbox = await t.database.db.selectFrom('alarm_transitions').select(['transition', 'actor', 'comment']).where('alarm_id', '=', a.id).orderBy('id').execute();
    expect(outbox).toEqual([
      { transition: 'opened', actor: 'event:http', comment: null },
      { transition: 'acknowledged', actor: 'test-operator', comment: 'crew on the way' },
      { transition: 'closed', actor: 'alice', comment: 'seal replaced' },
    ]);
  });

  it('alarm rules: create, replace, read, delete (admin only), with clear 400s', async () => {
    const rule = { kind: 'threshold', channel: 'temperature', condition: 'above', threshold: 60, hysteresis: 5, minDurationMinutes: 10 };
    const put = (id: string, body: unknown, role: Parameters<TestApp['auth']>[0] = 'admin') =>
      t.app.inject({ method: 'PUT', url: `/v1/alarm-rules/${id}`, headers: t.auth(role), payload: body as object });
    expect((await put('hot', rule, 'operator')).statusCode).toBe(403);
    const created = await put('hot', rule);
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ id: 'hot', ...rule, severity: 'major', enabled: true, updatedBy: 'test-admin' });
    const replaced = await put('hot', { ...rule, threshold: 65, enabled: false });
    expect(replaced.statusCode).toBe(200);
    expect(replaced.json()).toMatchObject({ threshold: 65, enabled: false });
    expect((await put('map-1', { kind: 'map', vendorCode: 'E-17', code: 'tamper' })).statusCode).toBe(201);
    expect((await get('/v1/alarm-rules', 'admin')).json().rules.map((r: { id: string }) => r.id)).toEqual(['hot', 'map-1']);
    expect((await get('/v1/alarm-rules/hot', 'admin')).json()).toMatchObject({ kind: 'threshold', threshold: 65 });

    for (const [id, body] of [
      ['bad', { kind: 'nope' }],
      ['bad', { kind: 'threshold', channel: 'temperature', condition: 'above' }],
      ['bad', { ...rule, hysteresis: -1 }],
      ['bad', { kind: 'silence', hours: 0 }],
      ['bad', { kind: 'map', vendorCode: 'X', code: 'Not A Code' }],
      ['bad id!', rule],
    ] as const) {
      const res = await put(encodeURIComponent(id), body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().error).toBe('MDM_ERR_VALIDATION');
    }
    const del = await t.app.inject({ method: 'DELETE', url: '/v1/alarm-rules/hot', headers: t.auth('admin') });
    expect(del.statusCode).toBe(204);
    expect((await t.app.inject({ method: 'DELETE', url: '/v1/alarm-rules/hot', headers: t.auth('admin') })).statusCode).toBe(404);
    expect((await get('/v1/alarm-rules/hot', 'admin')).statusCode).toBe(404);
    // The mapping applies to the next events at once.
    const r = await post('/v1/events', { events: [{ meter: 'N-1', code: 'E-17', at: '2026-03-02T00:00:00Z' }] });
    expect(r.json().alarms).toEqual({ opened: 1, repeated: 0, closed: 0 });
  });

  it('an MQTT event opens an alarm; its restore closes it (embedded broker)', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as { port: number }).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const component = createMqttComponent({ config: loadConfig({ MQTT_PORT: String(port), HOST: '127.0.0.1', MQTT_BATCH_MAX_MS: '10' }), database: t.database, listeners: ALARM_LISTENERS });
    await component.start();
    const key = (await createApiKey(t.database, { name: 'gw-mqtt', role: 'gateway' })).key;
    const client: MqttClient = await new Promise((resolve, reject) => {
      const c = mqtt.connect(`mqtt://127.0.0.1:${port}`, { username: 'gw-mqtt', password: key, clientId: `gw-${randomUUID().slice(0, 8)}`, reconnectPeriod: 0 });
      c.once('connect', () => resolve(c));
      c.once('error', reject);
    });
    try {
      const waitFor = async (pred: () => Promise<boolean>) => {
        for (let i = 0; i < 400 && !(await pred()); i++) await new Promise((r) => setTimeout(r, 25));
      };
      await client.publishAsync('mdm/v1/meters/S-1/events', JSON.stringify({ code: 'valve_closed', at: '2026-03-03T08:00:00Z' }), { qos: 1 });
      const active = () => listAlarms(t.database, { code: 'valve_closed', limit: 5 });
      await waitFor(async () => (await active()).length === 1);
      expect(await active()).toMatchObject([{ meter: 'S-1', code: 'valve_closed', state: 'open', severity: 'major', source: 'event' }]);
      await client.publishAsync('mdm/v1/meters/S-1/events', JSON.stringify([{ code: 'valve_opened', at: '2026-03-03T09:00:00Z' }]), { qos: 1 });
      await waitFor(async () => (await active())[0]?.state === 'closed');
      expect((await active())[0]).toMatchObject({ state: 'closed', closedBy: 'event:valve_opened', closedAt: '2026-03-03T09:00:00.000Z' });
      const outbox = await t.database.db
        .selectFrom('alarm_transitions')
        .select('actor')
        .where('alarm_id', '=', (await active())[0].id)
        .orderBy('id')
        .execute();
      expect(outbox.map((o) => o.actor)).toEqual(['event:mqtt', 'event:valve_opened']);
    } finally {
      await client.endAsync();
      await component.stop();
    }
  });
});
