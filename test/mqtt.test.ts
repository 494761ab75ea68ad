import { randomUUID } from 'node:crypto';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { buildApp } from '../api/app.js';
import { createMqttComponent, mqttComponent, type CommittedMessage, type MqttComponent, type MqttComponentDeps } from '../adapters/mqtt/component.js';
import { writeMessages } from '../adapters/mqtt/message-writer.js';
import { loadConfig } from '../models/config.js';
import { createApiKey } from '../sql/api-key.repository.js';
import type { Database } from '../sql/database.js';
import { FLAVOURS, freshDatabase } from './helpers.js';
import { HOUR, T0, at, closed, collectLog, connect, freePort, hours, waitFor } from './mqtt-helpers.js';

/**
 * MQTT ingest end to end on real brokers: the embedded aedes broker always,
 * Mosquitto when TEST_MQTT_URL is set; on every storage flavour.
 */
const MOSQUITTO = process.env.TEST_MQTT_URL;

describe.each(FLAVOURS)('MQTT ingest (%s)', (flavour) => {
  let database: Database;
  const keys = { gw: '', scoped: '', viewer: '', admin: '' };

  async function addMeters(ids: string[], group: string | null = null) {
    await database.db
      .insertInto('meters')
      .values(ids.map((id) => ({ external_id: id, commodity: 'electricity', timezone: 'Europe/Istanbul', interval_minutes: 60, multiplier: 1, tariff: 'single', labels: '{}', group })))
      .execute();
  }
  async function readingsOf(meter: string) {
    return database.db
      .selectFrom('readings')
      .innerJoin('meters', 'meters.id', 'readings.meter_id')
      .select(['readings.channel', 'readings.start', 'readings.value', 'readings.version', 'readings.source'])
      .where('meters.external_id', '=', meter)
      .orderBy('readings.channel')
      .orderBy('readings.start')
      .execute();
  }
  async function historyOf(meter: string) {
    return database.db.selectFrom('reading_history').innerJoin('meters', 'meters.id', 'reading_history.meter_id').select('reading_history.value').where('meters.external_id', '=', meter).execute();
  }
  async function eventsOf(meter: string) {
    return database.db.selectFrom('meter_events').innerJoin('meters', 'meters.id', 'meter_events.meter_id').selectAll('meter_events').where('meters.external_id', '=', meter).orderBy('at').execute();
  }
  async function rejectsOn(topic: string) {
    return database.db.selectFrom('rejects').selectAll().where('topic', '=', topic).orderBy('id').execute();
  }

  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await addMeters(['E1', 'E2', 'E3', 'E4', 'E5', 'E6', 'E7', 'E8']);
    await addMeters(['S-1'], 'north');
    keys.gw = (await createApiKey(database, { name: 'gw-1', role: 'gateway' })).key;
    keys.scoped = (await createApiKey(database, { name: 'gw-s', role: 'gateway', scope: { meterPrefixes: ['S-'] } })).key;
    keys.viewer = (await createApiKey(database, { name: 'viewer-1', role: 'viewer' })).key;
    keys.admin = (await createApiKey(database, { name: 'ops', role: 'admin' })).key;
  });
  afterAll(() => database?.close());

  describe('embedded broker', () => {
    let port: number;
    let url: string;
    let component: MqttComponent | undefined;
    const clients: MqttClient[] = [];
    const { log, lines } = collectLog();

    async function startBroker(extra: Partial<MqttComponentDeps> = {}, env: Record<string, string> = {}) {
      component = createMqttComponent({ config: loadConfig({ MQTT_PORT: String(port), HOST: '127.0.0.1', MQTT_BATCH_MAX_MS: '10', ...env }), database, log, ...extra });
      await component.start();
      return component;
    }
    async function gateway(name: string, key: string, opts: IClientOptions = {}) {
      const c = await connect(url, { username: name, password: key, clientId: `${name}-${randomUUID().slice(0, 8)}`, clean: false, ...opts });
      clients.push(c);
      return c;
    }

    beforeAll(async () => {
      port = await freePort();
      url = `mqtt://127.0.0.1:${port}`;
    });
    afterEach(async () => {
      for (const c of clients.splice(0)) await c.endAsync(true);
      await component?.stop();
      component = undefined;
    });

    it('acknowledges per-meter and gateway messages only once their rows are committed', async () => {
      await startBroker();
      const gw = await gateway('gw-1', keys.gw);
      await gw.publishAsync('mdm/v1/meters/E1/readings', JSON.stringify(hours(24)), { qos: 1 });
      // PUBACK received ⇒ committed: no waiting needed.
      const e1 = await readingsOf('E1');
      expect(e1).toHaveLength(24);
      expect(e1.reduce((s, r) => s + r.value, 0)).toBe(288); // Σ(h + 0.5), h = 0…23 = 276 + 12
      expect(e1[0]).toMatchObject({ start: new Date('2026-01-01T00:00:00+03:00'), value: 0.5, version: 1, source: 1 }); // source 1 = mqtt

      await gw.publishAsync('mdm/v1/gateways/gw-1/readings', JSON.stringify([...hours(2, 24, 'E1'), ...hours(3, 0, 'E2')]), { qos: 1 });
      expect(await readingsOf('E1')).toHaveLength(26);
      expect((await readingsOf('E2')).map((r) => r.value)).toEqual([0.5, 1.5, 2.5]);
      const batch = await database.db.selectFrom('ingest_batches').selectAll().orderBy('id', 'desc').executeTakeFirstOrThrow();
      expect(batch).toMatchObject({ transport: 'mqtt', principal: 'gw-1' });
    });

    it('stores SenML packs on the per-meter and the gateway topic', async () => {
      await startBroker();
      const gw = await gateway('gw-1', keys.gw);
      const jan1 = T0 / 1000 + 3 * 3600; // 2026-01-01T03:00+03:00 in seconds
      await gw.publishAsync(
        'mdm/v1/meters/E3/readings',
        JSON.stringify([
          { bt: jan1, bu: 'Wh', n: '1.29.0', v: 1500 },
          { n: '1.29.0', t: 3600, v: 250 },
        ]),
        { qos: 1 },
      );
      await gw.publishAsync(
        'mdm/v1/gateways/gw-1/readings',
        JSON.stringify([
          { bn: 'E4/', bt: jan1, n: 'active_import', u: 'kWh', v: 2 },
          { bn: 'E3:', n: '1.8.0', v: 100.25 },
          { n: 'bogus', v: 1 },
        ]),
        { qos: 1 },
      );
      expect((await readingsOf('E3')).map((r) => [r.channel, r.start.toISOString(), r.value])).toEqual([
        [1, at(3), 1.5],
        [1, at(4), 0.25],
        [5, at(3), 100.25],
      ]);
      expect((await readingsOf('E4')).map((r) => r.value)).toEqual([2]);
      const dl = await rejectsOn('mdm/v1/gateways/gw-1/readings');
      expect(dl.at(-1)).toMatchObject({ row_index: 2, meter: 'E3', transport: 'mqtt', principal: 'gw-1' });
      expect(dl.at(-1)!.reason).toMatch(/SenML name "E3:bogus" does not end in a known channel/);
    });

    it('dead-letters poison messages with topic, payload and reason, acknowledges them, and goes on', async () => {
      await startBroker({}, { MDM_MAX_BATCH_ROWS: '30' });
      const gw = await gateway('gw-1', keys.gw);
      const topic = 'mdm/v1/meters/E5/readings';
      await gw.publishAsync(topic, 'this is not json', { qos: 1 });
      await gw.publishAsync(topic, JSON.stringify(hours(31)), { qos: 1 });
      await gw.publishAsync(
        topic,
        JSON.stringify([
          { channel: 'active_import', start: '2026-01-01T00:00:00', value: 1 },
          { channel: 'nope', start: at(0), value: 1 },
        ]),
        { qos: 1 },
      );
      await gw.publishAsync('mdm/v1/meters/NOT-REGISTERED/readings', JSON.stringify(hours(1)), { qos: 1 });
      await gw.publishAsync(topic, Buffer.from('[{"channel":"active_import\\u0000"}]'), { qos: 1 });
      await gw.publishAsync(topic, JSON.stringify(hours(2)), { qos: 1 });

      expect((await readingsOf('E5')).map((r) => r.value)).toEqual([0.5, 1.5]);
      const dl = await rejectsOn(topic);
      expect(dl.map((d) => [d.row_index, d.payload.slice(0, 16)])).toEqual([
        [null, 'this is not json'],
        [null, '[{"channel":"act'],
        [0, '{"channel":"acti'],
        [1, '{"channel":"nope'],
        [0, '{"channel":"acti'],
      ]);
      expect(dl[0].reason).toMatch(/^payload is not JSON/);
      expect(dl[1].reason).toBe('message carries 31 rows; at most 30 (MDM_MAX_BATCH_ROWS) per message: split it');
      expect(dl[2].reason).toMatch(/no UTC offset/);
      expect(dl[3].reason).toMatch(/unknown channel "nope"/);
      expect(dl[4].reason).toBe('channel contains a NUL (U+0000) character'); // that row, not the whole message
      expect(dl.every((d) => d.principal === 'gw-1' && d.transport === 'mqtt')).toBe(true);
      const unknown = await rejectsOn('mdm/v1/meters/NOT-REGISTERED/readings');
      expect(unknown).toHaveLength(1);
      expect(unknown[0]).toMatchObject({ meter: 'NOT-REGISTERED', reason: 'unknown meter "NOT-REGISTERED": register it with PUT /v1/meters first' });
      expect(component!.probe.check()).toMatchObject({ ok: true });
    });

    it('stores events once however often they arrive, and publishes results on the acks topic when asked', async () => {
      await startBroker();
      const gw = await gateway('gw-1', keys.gw);
      const acks: unknown[] = [];
      await gw.subscribeAsync('mdm/v1/gateways/gw-1/acks', { qos: 1 });
      gw.on('message', (_t, p) => acks.push(JSON.parse(p.toString())));
      const ev = { code: 'power_failure', at: '2026-01-01T10:00:00+03:00', severity: 'critical', data: { phase: 'L2' } };
      await gw.publishAsync('mdm/v1/meters/E6/events', JSON.stringify(ev), { qos: 1 });
      await gw.publishAsync('mdm/v1/meters/E6/events', JSON.stringify({ id: 'ev-2', ack: true, events: [ev, { code: 'cover_opened', at: '2026-01-01T10:05:00Z' }, { code: 'x' }] }), { qos: 1 });
      await gw.publishAsync('mdm/v1/meters/E6/readings', JSON.stringify({ id: 42, ack: true, readings: [...hours(2), { channel: 'active_import', start: at(5), value: 'high' }] }), { qos: 1 });
      await gw.publishAsync('mdm/v1/gateways/gw-1/readings', JSON.stringify({ id: 'bad', ack: true, rows: [] }), { qos: 1 });

      const events = await eventsOf('E6');
      expect(events.map((e) => [e.code, e.at.toISOString(), e.severity, e.data])).toEqual([
        ['power_failure', '2026-01-01T07:00:00.000Z', 'critical', { phase: 'L2' }],
        ['cover_opened', '2026-01-01T10:05:00.000Z', null, null],
      ]);
      expect(events[0]).toMatchObject({ transport: 'mqtt', topic: 'mdm/v1/meters/E6/events' });
      await waitFor(() => acks.length === 3, 'three acks');
      expect(acks).toEqual([
        { id: 'ev-2', topic: 'mdm/v1/meters/E6/events', status: 'partial', stored: 2, rejected: [{ index: 2, reason: expect.stringMatching(/^at: is required/) }] },
        { id: 42, topic: 'mdm/v1/meters/E6/readings', status: 'partial', stored: 2, rejected: [{ index: 2, reason: 'value must be a finite number, got "high"' }] },
        { id: 'bad', topic: 'mdm/v1/gateways/gw-1/readings', status: 'rejected', stored: 0, rejected: [], reason: 'unknown field "rows"; a wrapper has id, ack, gateway, readings' },
      ]);
    });

    it('redelivers a message committed but not acknowledged before a crash, without duplicating anything', async () => {
      let hang = true;
      const committed: CommittedMessage[] = [];
      await startBroker({
        // Commits, then "crashes" before the PUBACK: the write never returns.
        async write(db, messages) {
          const out = await writeMessages(db, messages);
          if (hang) {
            hang = false;
            return new Promise(() => {});
          }
          return out;
        },
      });
      const gw = await gateway('gw-1', keys.gw, { reconnectPeriod: 100 });
      const readings = gw.publishAsync('mdm/v1/meters/E7/readings', JSON.stringify(hours(24)), { qos: 1 });
      const events = gw.publishAsync('mdm/v1/meters/E7/events', JSON.stringify({ code: 'reset', at: at(1) }), { qos: 1 });
      await waitFor(async () => (await readingsOf('E7')).length === 24 && (await eventsOf('E7')).length === 1, 'first commit');
      await component!.stop({ drain: false });
      await startBroker({ onCommitted: (m) => committed.push(...m) });

      await Promise.all([readings, events]); // the gateway resent both, and now got its PUBACKs
      expect(committed.map((m) => m.topic).sort()).toEqual(['mdm/v1/meters/E7/events', 'mdm/v1/meters/E7/readings']);
      expect(committed.find((m) => m.topic.endsWith('readings'))!.outcome).toEqual({ status: 'ok', stored: 24, rejected: [] });
      const rows = await readingsOf('E7');
      expect(rows).toHaveLength(24);
      expect(rows.every((r) => r.version === 1)).toBe(true);
      expect(await historyOf('E7')).toEqual([]);
      expect(await eventsOf('E7')).toHaveLength(1);
    });

    it('retries a batch while the database is unreachable, keeping its messages unacknowledged and /health degraded meanwhile', async () => {
      let failures = 2;
      await startBroker({
        async write(db, messages) {
          if (failures-- > 0) throw Object.assign(new Error('database unavailable'), { code: 'ECONNREFUSED' });
          return writeMessages(db, messages);
        },
      });
      const gw = await gateway('gw-1', keys.gw);
      let acked = false;
      const sent = gw.publishAsync('mdm/v1/meters/E2/readings', JSON.stringify(hours(2, 10)), { qos: 1 }).then(() => (acked = true));
      await waitFor(async () => (await component!.probe.check()).writeError === 'database unavailable', 'failing write');
      expect(await component!.probe.check()).toMatchObject({ ok: false, pending: 1 });
      expect(acked).toBe(false);
      await sent;
      expect((await readingsOf('E2')).filter((r) => r.start.getTime() >= T0 + 10 * HOUR).map((r) => r.value)).toEqual([10.5, 11.5]);
      expect(await component!.probe.check()).toMatchObject({ ok: true, writeError: null, pending: 0 });
      expect(lines.filter((l) => l.message.startsWith('MQTT batch write failed')).map((l) => l.fields.delayMs)).toEqual([200, 400]);
    });

    it('takes messages a gateway queued while the service was down once it starts', async () => {
      const down = mqtt.connect(url, { username: 'gw-1', password: keys.gw, clientId: `gw-1-${randomUUID().slice(0, 8)}`, clean: false, reconnectPeriod: 100 });
      clients.push(down);
      down.on('error', () => {});
      const sent = down.publishAsync('mdm/v1/meters/E8/readings', JSON.stringify(hours(3)), { qos: 1 });
      await new Promise((r) => setTimeout(r, 300));
      expect(await readingsOf('E8')).toEqual([]);
      await startBroker();
      await sent;
      expect((await readingsOf('E8')).map((r) => r.value)).toEqual([0.5, 1.5, 2.5]);
    });

    it('refuses anonymous clients, wrong keys and roles other than gateway and admin', async () => {
      await startBroker();
      await expect(connect(url, { clientId: 'anon' })).rejects.toThrow(/Bad username or password/);
      await expect(connect(url, { clientId: 'x1', username: 'gw-1', password: 'mdm_wrong' })).rejects.toThrow(/Bad username or password/);
      await expect(connect(url, { clientId: 'x2', username: 'gw-s', password: keys.gw })).rejects.toThrow(/Bad username or password/);
      await expect(connect(url, { clientId: 'x3', username: 'viewer-1', password: keys.viewer })).rejects.toThrow(/Not authorized/);
      const admin = await connect(url, { clientId: 'x4', username: 'ops', password: keys.admin });
      clients.push(admin);
      await admin.publishAsync('mdm/v1/gateways/any/readings', JSON.stringify(hours(1, 30, 'E1')), { qos: 1 });
      expect((await readingsOf('E1')).some((r) => r.start.getTime() === T0 + 30 * HOUR)).toBe(true);
      expect(lines.filter((l) => l.message === 'MQTT connection refused').map((l) => l.fields.username)).toEqual([undefined, 'gw-1', 'gw-s', 'viewer-1']);
    });

    it('refuses and logs publishes outside a gateway’s rights, and dead-letters gateway rows outside its scope', async () => {
      await startBroker();
      const acks: { id: string }[] = [];
      const scoped = await gateway('gw-s', keys.scoped);
      expect((await scoped.subscribeAsync('mdm/v1/gateways/gw-s/acks', { qos: 1 })).map((g) => g.qos)).toEqual([1]);
      await expect(scoped.subscribeAsync('mdm/v1/gateways/gw-1/acks', { qos: 1 })).rejects.toThrow(/Subscribe error/); // SUBACK 0x80
      scoped.on('message', (_t, p) => acks.push(JSON.parse(p.toString())));

      // Own topic, one meter in scope and one outside: the row outside is dead-lettered with the reason.
      await scoped.publishAsync('mdm/v1/gateways/gw-s/readings', JSON.stringify({ id: 'g1', ack: true, gateway: 'gw-1', readings: [...hours(1, 0, 'S-1'), ...hours(1, 40, 'E1')] }), { qos: 1 });
      expect(await readingsOf('S-1')).toHaveLength(1);
      const dl = await rejectsOn('mdm/v1/gateways/gw-s/readings');
      expect(dl.map((d) => [d.meter, d.reason, d.principal])).toEqual([['E1', 'meter "E1" is outside this key\'s scope', 'gw-s']]);
      await waitFor(() => acks.length === 1, 'ack on gw-s/acks'); // its own acks topic, not the one the payload named
      expect(acks[0]).toMatchObject({ id: 'g1', status: 'partial', stored: 1 });

      // A meter topic outside the scope: the connection is closed, nothing stored.
      const gone = closed(scoped);
      scoped.publish('mdm/v1/meters/E1/readings', JSON.stringify(hours(1, 41)), { qos: 1 });
      await gone;
      const other = await gateway('gw-s', keys.scoped);
      const gone2 = closed(other);
      other.publish('mdm/v1/gateways/gw-1/readings', JSON.stringify(hours(1, 42, 'S-1')), { qos: 1 });
      await gone2;
      expect((await readingsOf('E1')).filter((r) => r.start.getTime() >= T0 + 40 * HOUR)).toEqual([]);
      expect(await readingsOf('S-1')).toHaveLength(1);
      const refused = lines.filter((l) => l.message === 'MQTT publish refused').map((l) => l.fields.reason);
      expect(refused).toEqual(['meter "E1" is outside the scope of gateway "gw-s"', 'gateway "gw-s" may not publish to another gateway\'s topic mdm/v1/gateways/gw-1/readings']);
      expect(lines.some((l) => l.message === 'MQTT subscription refused' && l.fields.filter === 'mdm/v1/gateways/gw-1/acks')).toBe(true);
    });

    it('reports the broker in GET /health', async () => {
      const off = createMqttComponent({ config: loadConfig({ MQTT_PORT: '0' }), database });
      expect(off.mode).toBe('disabled');
      expect(mqttComponent({ config: loadConfig({ MQTT_PORT: '0' }), database })).toBeUndefined();
      await startBroker();
      await gateway('gw-1', keys.gw);
      const app = await buildApp({ database, config: { MDM_MAX_BATCH_ROWS: 1000, LOG_LEVEL: 'silent' }, health: [component!.probe], listeners: ALARM_LISTENERS });
      try {
        const res = await app.inject({ method: 'GET', url: '/health' });
        expect(res.statusCode).toBe(200);
        expect(res.json().components.mqtt).toMatchObject({ ok: true, mode: 'embedded', listening: true, port, clients: 1, pending: 0, writeError: null });
        await component!.stop();
        const down = await app.inject({ method: 'GET', url: '/health' });
        expect(down.statusCode).toBe(503);
        expect(down.json().components.mqtt).toMatchObject({ ok: false, listening: false });
      } finally {
        await app.close();
      }
    });
  });

  if (MOSQUITTO) {
    describe('external broker (Mosquitto)', () => {
      const run = randomUUID().slice(0, 8);
      const m = (name: string) => `${run}-${flavour}-${name}`; // topics are global on a shared broker
      // Services of other tests running at the same time on the broker get our messages too (and we theirs): keep ours.
      const ours = (msgs: readonly CommittedMessage[]) => msgs.filter((c) => c.topic.includes(run));
      const clientIds: string[] = [];
      const clients: MqttClient[] = [];
      let component: MqttComponent | undefined;
      let clientId = '';
      const { log } = collectLog();

      async function startService(extra: Partial<MqttComponentDeps> = {}) {
        component = createMqttComponent({
          config: loadConfig({ MQTT_URL: MOSQUITTO, MQTT_CLIENT_ID: clientId, MQTT_SHARE_GROUP: `g-${clientId}`, MQTT_BATCH_MAX_MS: '10' }),
          database,
          log,
          ...extra,
        });
        await component.start();
        return component;
      }
      async function publisher() {
        const c = await connect(MOSQUITTO!, { clientId: `pub-${run}-${randomUUID().slice(0, 6)}` });
        clients.push(c);
        return c;
      }

      beforeAll(async () => {
        await addMeters(['X1', 'X2', 'X3', 'X4', 'X5', 'X6'].map(m));
      });
      afterEach(async () => {
        for (const c of clients.splice(0)) await c.endAsync(true);
        await component?.stop();
        component = undefined;
      });
      afterAll(async () => {
        // Remove the persistent sessions from the broker.
        for (const id of clientIds) {
          const c = await connect(MOSQUITTO!, { clientId: id, clean: true, protocolVersion: 5, properties: { sessionExpiryInterval: 0 } });
          await c.endAsync();
        }
      });
      // A stopped persistent session stays a member of its share group and gets its share of
      // messages queued: each test has its own session and group.
      const newSession = () => {
        clientId = `mdm-test-${run}-${clientIds.length}`;
        clientIds.push(clientId);
      };

      it('stores per-meter, gateway and SenML messages and dead-letters poison ones', async () => {
        newSession();
        await startService();
        expect(await component!.probe.check()).toMatchObject({ ok: true, mode: 'external', connected: true, subscribed: true });
        const pub = await publisher();
        await pub.publishAsync(`mdm/v1/meters/${m('X1')}/readings`, JSON.stringify(hours(24)), { qos: 1 });
        await pub.publishAsync(`mdm/v1/meters/${m('X1')}/readings`, '{oops', { qos: 1 });
        await pub.publishAsync(`mdm/v1/gateways/gw-${run}/readings`, JSON.stringify([...hours(2, 0, m('X2')), { meter: m('X2'), channel: 'active_import', start: '2026-01-01', value: 1 }]), {
          qos: 1,
        });
        await pub.publishAsync(`mdm/v1/gateways/gw-${run}/readings`, JSON.stringify([{ bn: `${m('X2')}/`, bt: T0 / 1000 + 5 * 3600, n: '1.29.0', u: 'Wh', v: 750 }]), { qos: 1 });
        await waitFor(async () => (await readingsOf(m('X2'))).length === 3, 'gateway rows');
        await waitFor(async () => (await readingsOf(m('X1'))).length === 24, 'meter rows');
        expect((await readingsOf(m('X2'))).map((r) => r.value)).toEqual([0.5, 1.5, 0.75]);
        const bad = await waitFor(async () => (await rejectsOn(`mdm/v1/meters/${m('X1')}/readings`))[0], 'dead letter');
        expect(bad).toMatchObject({ payload: '{oops', principal: null, row_index: null });
        const rowReject = (await rejectsOn(`mdm/v1/gateways/gw-${run}/readings`))[0];
        expect(rowReject).toMatchObject({ row_index: 2, meter: m('X2'), principal: `gw-${run}` });
        expect(rowReject.reason).toMatch(/has no UTC offset/);
      });

      it('redelivers a message committed but not acknowledged before a crash, without duplicating anything', async () => {
        newSession();
        let hang = true;
        const committed: CommittedMessage[] = [];
        await startService({
          async write(db, messages) {
            const out = await writeMessages(db, messages);
            if (hang && messages.some((x) => x.topic.includes(run))) {
              hang = false;
              return new Promise(() => {});
            }
            return out;
          },
        });
        const pub = await publisher();
        await pub.publishAsync(`mdm/v1/meters/${m('X3')}/readings`, JSON.stringify(hours(24)), { qos: 1 });
        await waitFor(async () => (await readingsOf(m('X3'))).length === 24, 'first commit');
        await component!.stop({ drain: false });
        await startService({ onCommitted: (msgs) => committed.push(...ours(msgs)) });
        await waitFor(() => committed.length === 1, 'redelivery');
        expect(committed[0]).toMatchObject({ topic: `mdm/v1/meters/${m('X3')}/readings`, outcome: { status: 'ok', stored: 24 } });
        const rows = await readingsOf(m('X3'));
        expect(rows).toHaveLength(24);
        expect(rows.every((r) => r.version === 1)).toBe(true);
        expect(await historyOf(m('X3'))).toEqual([]);
      });

      it('receives what was published while it was down (persistent session, QoS 1)', async () => {
        newSession();
        await startService();
        await component!.stop();
        expect(await component!.probe.check()).toMatchObject({ ok: false, connected: false });
        const pub = await publisher();
        await pub.publishAsync(`mdm/v1/meters/${m('X4')}/readings`, JSON.stringify(hours(5)), { qos: 1 });
        await pub.publishAsync(`mdm/v1/meters/${m('X4')}/events`, JSON.stringify({ code: 'door_open', at: at(2) }), { qos: 1 });
        await new Promise((r) => setTimeout(r, 200));
        expect(await readingsOf(m('X4'))).toEqual([]);
        await startService();
        await waitFor(async () => (await readingsOf(m('X4'))).length === 5 && (await eventsOf(m('X4'))).length === 1, 'queued messages');
      });

      it('reconnects with backoff after losing the broker, reports it in the probe, and gets the unacknowledged messages again', async () => {
        // A TCP proxy in front of Mosquitto stands for the network between the service and the broker.
        const broker = new URL(MOSQUITTO!);
        const proxyPort = await freePort();
        const sockets = new Set<Socket>();
        let proxy: Server | undefined;
        const openProxy = async () => {
          proxy = createServer((inbound) => {
            const outbound = createConnection(Number(broker.port || 1883), broker.hostname);
            for (const s of [inbound, outbound]) {
              sockets.add(s);
              s.on('error', () => {});
              s.on('close', () => sockets.delete(s));
            }
            inbound.pipe(outbound).pipe(inbound);
          });
          await new Promise<void>((r) => proxy!.listen(proxyPort, '127.0.0.1', r));
        };
        const cutProxy = async () => {
          const closedProxy = new Promise<void>((r) => proxy!.close(() => r()));
          for (const s of sockets) s.destroy();
          await closedProxy;
        };
        try {
          await openProxy();
          newSession();
          let hold = true;
          const committed: CommittedMessage[] = [];
          await startService({
            config: loadConfig({ MQTT_URL: `mqtt://127.0.0.1:${proxyPort}`, MQTT_CLIENT_ID: clientId, MQTT_SHARE_GROUP: `g-${clientId}`, MQTT_BATCH_MAX_MS: '10' }),
            // The first batch commits but is acknowledged only after the connection is gone.
            async write(db, messages) {
              const out = await writeMessages(db, messages);
              if (hold && messages.some((x) => x.topic.includes(run))) {
                hold = false;
                await cutProxy();
                await waitFor(async () => !(await component!.probe.check()).connected, 'disconnection');
              }
              return out;
            },
            onCommitted: (msgs) => committed.push(...ours(msgs)),
          });
          const pub = await publisher();
          await pub.publishAsync(`mdm/v1/meters/${m('X6')}/readings`, JSON.stringify(hours(4)), { qos: 1 });
          await waitFor(() => committed.length === 1, 'first commit');
          expect(await component!.probe.check()).toMatchObject({ ok: false, connected: false, subscribed: false });
          await new Promise((r) => setTimeout(r, 700)); // a reconnect attempt or two fail meanwhile
          await openProxy();
          await waitFor(async () => (await component!.probe.check()).ok, 'reconnection', 20_000);
          const state = await component!.probe.check();
          expect(state.reconnects).toBeGreaterThanOrEqual(1);
          // The PUBACK of the first delivery never reached the broker: it delivers the message again.
          await waitFor(() => committed.length === 2, 'redelivery');
          expect(committed.map((c) => c.topic)).toEqual([`mdm/v1/meters/${m('X6')}/readings`, `mdm/v1/meters/${m('X6')}/readings`]);
          await pub.publishAsync(`mdm/v1/meters/${m('X6')}/readings`, JSON.stringify(hours(1, 4)), { qos: 1 });
          await waitFor(async () => (await readingsOf(m('X6'))).length === 5, 'new message after reconnection');
          expect((await readingsOf(m('X6'))).every((r) => r.version === 1)).toBe(true);
        } finally {
          await component?.stop();
          component = undefined;
          await cutProxy().catch(() => {});
        }
      });

      it('publishes per-message results on the gateway acks topic', async () => {
        newSession();
        await startService();
        const gwId = `gw-${run}-a`;
        const pub = await publisher();
        const acks: { id: unknown; rejected: { reason: string }[] }[] = [];
        await pub.subscribeAsync(`mdm/v1/gateways/${gwId}/acks`, { qos: 1 });
        pub.on('message', (_t, p) => {
          // Services of other tests on the shared broker answer too: with "unknown meter" (our meters are not in their
          // databases) or the same result as ours. Keep one ack per id, none of theirs.
          const ack = JSON.parse(p.toString());
          if (!ack.rejected.some((r: { reason: string }) => /unknown meter/.test(r.reason)) && !acks.some((a) => a.id === ack.id)) acks.push(ack);
        });
        await pub.publishAsync(`mdm/v1/gateways/${gwId}/readings`, JSON.stringify({ id: 'a1', ack: true, readings: hours(3, 0, m('X5')) }), { qos: 1 });
        await pub.publishAsync(`mdm/v1/meters/${m('X5')}/readings`, JSON.stringify({ id: 'a2', ack: true, gateway: gwId, readings: [{ channel: 'active_import', start: at(9), value: null }] }), {
          qos: 1,
        });
        await waitFor(() => acks.length === 2, 'acks');
        expect(acks).toEqual([
          { id: 'a1', topic: `mdm/v1/gateways/${gwId}/readings`, status: 'ok', stored: 3, rejected: [] },
          { id: 'a2', topic: `mdm/v1/meters/${m('X5')}/readings`, status: 'rejected', stored: 0, rejected: [{ index: 0, reason: 'value must be a finite number, got null' }] },
        ]);
      });
    });
  }
});
