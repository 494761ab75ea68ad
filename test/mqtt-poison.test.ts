import { createHash, randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMqttComponent, type CommittedMessage, type MqttComponent, type MqttComponentDeps } from '../adapters/mqtt/component.js';
import { writeIsolating } from '../adapters/mqtt/isolate.js';
import { writeMessages, type BatchMessage } from '../adapters/mqtt/message-writer.js';
import { loadConfig } from '../models/config.js';
import { createApiKey } from '../sql/api-key.repository.js';
import type { Database } from '../sql/database.js';
import { FLAVOURS, freshDatabase } from './helpers.js';
import { collectLog, connect, freePort, hours, waitFor } from './mqtt-helpers.js';

/**
 * Issue 11, defect 1: one poison MQTT message must never stop MQTT ingest.
 * A message the database refuses is isolated (the batch split until it is
 * found), dead-lettered with the reason and acknowledged; the rest commits.
 * Only an unreachable database holds acknowledgements back.
 */
const MOSQUITTO = process.env.TEST_MQTT_URL;

/** 20 000 nested arrays: JSON.stringify of the parsed value overflows the stack. */
const DEEP = '['.repeat(20_000) + ']'.repeat(20_000);
const MARK = 'POISON-MARK';
const hasMark = (m: BatchMessage) => Buffer.from(m.payload).includes(MARK);
/** What PostgreSQL says for `numeric field overflow`: a data exception, caused by the message. */
const dataError = () => Object.assign(new Error('numeric field overflow'), { code: '22003' });
const REFUSED = 'database refused the item: numeric field overflow (SQLSTATE 22003)';

describe('writeIsolating', () => {
  const item = (id: string) => ({ id });
  type Item = ReturnType<typeof item>;

  it('splits a refused batch until the one bad item is found, writing every good item once and in order', async () => {
    const items = 'abcdefgh'.split('').map(item);
    const calls: string[] = [];
    const committed: string[] = [];
    const out = await writeIsolating(items, {
      async write(part: readonly Item[]) {
        calls.push(part.map((i) => i.id).join(''));
        if (part.some((i) => i.id === 'f')) throw dataError();
        committed.push(...part.map((i) => i.id));
        return part.map((i) => `ok ${i.id}`);
      },
      refuse: async (i, err) => `refused ${i.id}: ${(err as Error).message}`,
      done: new WeakMap(),
    });
    expect(calls).toEqual(['abcdefgh', 'abcd', 'efgh', 'ef', 'e', 'f', 'gh']);
    expect(committed).toEqual(['a', 'b', 'c', 'd', 'e', 'g', 'h']);
    expect(out).toEqual(['ok a', 'ok b', 'ok c', 'ok d', 'ok e', 'refused f: numeric field overflow', 'ok g', 'ok h']);
  });

  it('runs a part that lost a race again before splitting it', async () => {
    let races = 2;
    const calls: number[] = [];
    const out = await writeIsolating([item('a'), item('b')], {
      async write(part: readonly Item[]) {
        calls.push(part.length);
        if (races-- > 0) throw Object.assign(new Error('deadlock detected'), { code: '40P01' });
        return part.map((i) => i.id);
      },
      refuse: async () => 'refused',
      done: new WeakMap(),
    });
    expect(calls).toEqual([2, 2, 2]);
    expect(out).toEqual(['a', 'b']);
  });

  it('throws when the database is unreachable, and on the retry skips the parts already committed', async () => {
    const items = ['a', 'b', 'c', 'd'].map(item);
    const done = new WeakMap<Item, string>();
    let down = true;
    const calls: string[] = [];
    const write = async (part: readonly Item[]) => {
      calls.push(part.map((i) => i.id).join(''));
      if (part.some((i) => i.id === 'b')) throw dataError();
      if (down && part.some((i) => i.id === 'c')) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
      return part.map((i) => `ok ${i.id}`);
    };
    const refuse = async (i: Item) => `refused ${i.id}`;
    await expect(writeIsolating(items, { write, refuse, done })).rejects.toThrow(/ECONNREFUSED/);
    expect(calls).toEqual(['abcd', 'ab', 'a', 'b', 'cd']);
    down = false;
    calls.length = 0;
    expect(await writeIsolating(items, { write, refuse, done })).toEqual(['ok a', 'refused b', 'ok c', 'ok d']);
    expect(calls).toEqual(['cd']); // a and b are not written (nor dead-lettered) twice
  });
});

describe.each(FLAVOURS)('MQTT poison messages (%s)', (flavour) => {
  let database: Database;
  let gwKey = '';

  async function addMeters(ids: string[]) {
    await database.db
      .insertInto('meters')
      .values(ids.map((id) => ({ external_id: id, commodity: 'electricity', timezone: 'Europe/Istanbul', interval_minutes: 60, multiplier: 1, tariff: 'single', labels: '{}' })))
      .execute();
  }
  async function valuesOf(meter: string) {
    const rows = await database.db
      .selectFrom('readings')
      .innerJoin('meters', 'meters.id', 'readings.meter_id')
      .select(['readings.value'])
      .where('meters.external_id', '=', meter)
      .orderBy('readings.start')
      .execute();
    return rows.map((r) => r.value);
  }
  async function rejectsOn(topic: string) {
    return database.db.selectFrom('rejects').selectAll().where('topic', '=', topic).orderBy('id').execute();
  }

  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await addMeters(['P1', 'P2', 'P3', 'Q1', 'Q2', 'Q3', 'Q4', 'Q5', 'R1', 'R2', 'U1']);
    gwKey = (await createApiKey(database, { name: 'gw-p', role: 'gateway' })).key;
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
    async function gateway(opts: { clientId?: string; reconnectPeriod?: number } = {}) {
      const c = await connect(url, { username: 'gw-p', password: gwKey, clientId: `gw-p-${randomUUID().slice(0, 8)}`, clean: false, ...opts });
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

    it('dead-letters a payload nested 20 000 levels deep with the reason, acknowledges it, and stores what follows', async () => {
      await startBroker();
      const gw = await gateway();
      await gw.publishAsync('mdm/v1/meters/P1/readings', DEEP, { qos: 1 }); // PUBACK: acknowledged
      await gw.publishAsync('mdm/v1/meters/P1/readings', Buffer.from([0x5b, 0xff, 0x00, 0x5d]), { qos: 1 });
      await gw.publishAsync('mdm/v1/meters/P1/readings', JSON.stringify(hours(2)), { qos: 1 });
      expect(await valuesOf('P1')).toEqual([0.5, 1.5]);
      const dl = await rejectsOn('mdm/v1/meters/P1/readings');
      expect(dl).toHaveLength(2);
      expect(dl[0]).toMatchObject({
        row_index: null,
        meter: 'P1',
        principal: 'gw-p',
        transport: 'mqtt',
        reason: 'payload nests arrays/objects deeper than 32 levels (reading rows need 3); flatten it',
      });
      // A bounded excerpt, with the size and hash of what the gateway sent.
      expect(dl[0].payload.startsWith('[[[[')).toBe(true);
      expect(dl[0].payload.length).toBeLessThan(5000);
      expect(dl[0]).toMatchObject({ payload_bytes: 40_000, payload_sha256: createHash('sha256').update(DEEP).digest('hex') });
      expect(dl[1]).toMatchObject({ payload: 'base64:W/8AXQ==', payload_bytes: 4, reason: 'payload is not UTF-8 text; send JSON' });
      expect(component!.probe.check()).toMatchObject({ ok: true, writeError: null, pending: 0 });
    });

    it('isolates a message the database refuses (a reading in year 9999), acknowledges it and stores the next one', async () => {
      await startBroker();
      const gw = await gateway();
      const topic = 'mdm/v1/meters/P2/readings';
      await gw.publishAsync(topic, '[{"channel":"active_import","start":"9999-12-31T23:00:00Z","value":1}]', { qos: 1 });
      await gw.publishAsync(topic, JSON.stringify(hours(1)), { qos: 1 });
      expect(await valuesOf('P2')).toEqual([0.5]);
      const dl = await rejectsOn(topic);
      expect(dl).toHaveLength(1); // refused per row by normalize, or whole by the database; either way with its reason
      expect(dl[0].reason.length).toBeGreaterThan(10);
      expect(dl[0].payload).toMatch(/9999-12-31T23:00:00Z/);
      expect(component!.probe.check()).toMatchObject({ ok: true, writeError: null, pending: 0 });
    });

    it('refuses rows outside the configured plausibility bounds one by one, with the reason, and stores the others of the message', async () => {
      await startBroker({}, { MDM_EARLIEST_READING: '2025-12-31', MDM_MAX_INTERVAL_VALUE: '1000' });
      const gw = await gateway();
      const topic = 'mdm/v1/meters/P3/readings';
      const rows = [...hours(2, 0), { channel: 'active_import', start: '2025-12-30T20:00:00Z', value: 1 }, { channel: 'active_import', start: hours(1, 2)[0].start, value: 1e6 }];
      await gw.publishAsync(topic, JSON.stringify(rows), { qos: 1 });
      expect(await valuesOf('P3')).toEqual([0.5, 1.5]);
      const dl = await rejectsOn(topic);
      expect(dl.map((d) => d.row_index)).toEqual([2, 3]);
      expect(dl[0].reason).toMatch(/MDM_EARLIEST_READING/);
      expect(dl[1].reason).toMatch(/1000|MDM_MAX_INTERVAL_VALUE/);
    });

    it('splits a refused batch: the refused message is dead-lettered and acknowledged with the reason, the others in the same batch are stored', async () => {
      const batches: number[] = [];
      const committed: CommittedMessage[] = [];
      await startBroker(
        {
          async write(db, messages) {
            batches.push(messages.length);
            if (messages.some(hasMark)) throw dataError();
            return writeMessages(db, messages);
          },
          onCommitted: (m) => committed.push(...m),
        },
        // One batch of exactly the five messages below: it is written once it holds 5 rows.
        { MQTT_BATCH_MAX_ROWS: '5', MQTT_BATCH_MAX_MS: '60000' },
      );
      const listener = await gateway();
      const acks: Record<string, unknown>[] = [];
      await listener.subscribeAsync('mdm/v1/gateways/gw-p/acks', { qos: 1 });
      listener.on('message', (_t, p) => acks.push(JSON.parse(p.toString())));
      const publishers = await Promise.all([1, 2, 3, 4, 5].map(() => gateway()));
      await Promise.all(
        publishers.map((c, i) =>
          i === 2
            ? c.publishAsync('mdm/v1/meters/Q3/readings', JSON.stringify({ id: MARK, ack: true, readings: hours(1, 5) }), { qos: 1 })
            : c.publishAsync(`mdm/v1/meters/Q${i + 1}/readings`, JSON.stringify({ id: `good-${i + 1}`, ack: true, readings: hours(1, i) }), { qos: 1 }),
        ),
      ); // every PUBACK came back

      expect(batches[0]).toBe(5); // all five were in the batch the database refused
      expect(await valuesOf('Q1')).toEqual([0.5]);
      expect(await valuesOf('Q2')).toEqual([1.5]);
      expect(await valuesOf('Q3')).toEqual([]);
      expect(await valuesOf('Q4')).toEqual([3.5]);
      expect(await valuesOf('Q5')).toEqual([4.5]);
      const dl = await rejectsOn('mdm/v1/meters/Q3/readings');
      expect(dl).toHaveLength(1);
      expect(dl[0]).toMatchObject({ row_index: null, meter: 'Q3', principal: 'gw-p', transport: 'mqtt', reason: REFUSED });
      expect(dl[0].payload).toContain(MARK);

      await waitFor(() => acks.length === 5, 'five acks');
      expect(acks.find((a) => a.id === MARK)).toEqual({ id: MARK, topic: 'mdm/v1/meters/Q3/readings', status: 'rejected', stored: 0, rejected: [], reason: REFUSED });
      expect(acks.filter((a) => a.status === 'ok')).toHaveLength(4);
      expect(committed.find((m) => m.topic === 'mdm/v1/meters/Q3/readings')!.outcome).toEqual({ status: 'rejected', stored: 0, rejected: [], reason: REFUSED });
      expect(component!.probe.check()).toMatchObject({ ok: true, writeError: null, pending: 0, isolatedMessages: 1 });
      expect(lines.some((l) => l.message.startsWith('MQTT message refused by the database') && l.fields.reason === REFUSED)).toBe(true);
    });

    it('does not get an acknowledged poison message again after a restart', async () => {
      const written: string[] = [];
      const refusing = {
        async write(db: Database, messages: readonly BatchMessage[]) {
          written.push(...messages.map((m) => Buffer.from(m.payload).toString()));
          if (messages.some(hasMark)) throw dataError();
          return writeMessages(db, messages);
        },
      };
      await startBroker(refusing);
      const gw = await gateway({ clientId: `gw-p-restart-${randomUUID().slice(0, 6)}`, reconnectPeriod: 100 });
      await gw.publishAsync('mdm/v1/meters/R1/readings', JSON.stringify({ id: MARK, readings: hours(1) }), { qos: 1 });
      expect(await rejectsOn('mdm/v1/meters/R1/readings')).toHaveLength(1);

      await component!.stop({ drain: false }); // a crash; the gateway reconnects with its session
      written.length = 0;
      await startBroker(refusing);
      await gw.publishAsync('mdm/v1/meters/R2/readings', JSON.stringify(hours(1, 7)), { qos: 1 });
      expect(await valuesOf('R2')).toEqual([7.5]);
      expect(written.some((p) => p.includes(MARK))).toBe(false);
      expect(await rejectsOn('mdm/v1/meters/R1/readings')).toHaveLength(1);
    });

    it('retries a batch while the database is unreachable, acknowledging nothing and dead-lettering nothing until it succeeds', async () => {
      let failures = 2;
      await startBroker({
        async write(db, messages) {
          if (failures-- > 0) throw Object.assign(new Error('terminating connection: server closed the connection unexpectedly'), { code: '08006' });
          return writeMessages(db, messages);
        },
      });
      const gw = await gateway();
      let acked = false;
      const sent = gw.publishAsync('mdm/v1/meters/U1/readings', JSON.stringify(hours(2, 3)), { qos: 1 }).then(() => (acked = true));
      await waitFor(async () => /server closed the connection/.test(String((await component!.probe.check()).writeError)), 'failing write');
      expect(component!.probe.check()).toMatchObject({ ok: false, pending: 1 });
      expect(acked).toBe(false);
      await sent;
      expect(await valuesOf('U1')).toEqual([3.5, 4.5]);
      expect(await rejectsOn('mdm/v1/meters/U1/readings')).toEqual([]);
      expect(component!.probe.check()).toMatchObject({ ok: true, writeError: null, pending: 0, isolatedMessages: 0 });
    });
  });

  if (MOSQUITTO) {
    describe('external broker (Mosquitto)', () => {
      const run = randomUUID().slice(0, 8);
      const m = (name: string) => `${run}-${flavour}-${name}`; // topics are global on a shared broker
      // Services of other tests running at the same time on the broker get our messages too (and we theirs).
      const mark = `${MARK}-${run}-${flavour}`;
      const marked = (x: BatchMessage) => Buffer.from(x.payload).includes(mark);
      const clientIds: string[] = [];
      const clients: MqttClient[] = [];
      let component: MqttComponent | undefined;
      const { log } = collectLog();

      async function startService(clientId: string, extra: Partial<MqttComponentDeps> = {}, env: Record<string, string> = {}) {
        component = createMqttComponent({
          config: loadConfig({ MQTT_URL: MOSQUITTO, MQTT_CLIENT_ID: clientId, MQTT_SHARE_GROUP: `g-${clientId}`, MQTT_BATCH_MAX_MS: '10', ...env }),
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
      const newSession = () => {
        const id = `mdm-poison-${run}-${clientIds.length}`;
        clientIds.push(id);
        return id;
      };

      beforeAll(async () => {
        await addMeters(['D1', 'G1', 'G2', 'G3', 'G4', 'K1', 'K2'].map(m));
      });
      afterEach(async () => {
        for (const c of clients.splice(0)) await c.endAsync(true);
        await component?.stop();
        component = undefined;
      });
      afterAll(async () => {
        for (const id of clientIds) {
          const c = await connect(MOSQUITTO!, { clientId: id, clean: true, protocolVersion: 5, properties: { sessionExpiryInterval: 0 } });
          await c.endAsync();
        }
      });

      it('dead-letters a payload nested 20 000 levels deep and stores what follows', async () => {
        await startService(newSession());
        const pub = await publisher();
        const topic = `mdm/v1/meters/${m('D1')}/readings`;
        await pub.publishAsync(topic, DEEP, { qos: 1 });
        await pub.publishAsync(topic, JSON.stringify(hours(1)), { qos: 1 });
        await waitFor(async () => (await valuesOf(m('D1'))).length === 1, 'the good message');
        const dl = await rejectsOn(topic);
        expect(dl).toHaveLength(1);
        expect(dl[0].reason).toMatch(/deeper than 32 levels/);
        expect(component!.probe.check()).toMatchObject({ ok: true, writeError: null });
      });

      it('splits a refused batch, acknowledges the refused message with the reason, stores the others, and does not get it again after a restart', async () => {
        const session = newSession();
        const batches: string[][] = [];
        const written: string[] = [];
        const refusing = {
          async write(db: Database, messages: readonly BatchMessage[]) {
            batches.push(messages.map((x) => Buffer.from(x.payload).toString()));
            written.push(...messages.map((x) => Buffer.from(x.payload).toString()));
            if (messages.some(marked)) throw dataError();
            return writeMessages(db, messages);
          },
        };
        await startService(session, refusing, { MQTT_BATCH_MAX_ROWS: '4', MQTT_BATCH_MAX_MS: '60000' });
        const gwId = `gw-${run}-${flavour}`;
        const pub = await publisher();
        const acks: Record<string, unknown>[] = [];
        await pub.subscribeAsync(`mdm/v1/gateways/${gwId}/acks`, { qos: 1 });
        pub.on('message', (_t, p) => {
          const ack = JSON.parse(p.toString());
          if ((ack.rejected as unknown[]).length === 0) acks.push(ack); // the others answer "unknown meter": our meters are not in their databases
        });
        const body = (id: string, meter: string, h: number) => JSON.stringify({ id, ack: true, readings: hours(1, h, m(meter)) });
        await pub.publishAsync(`mdm/v1/gateways/${gwId}/readings`, body('g1', 'G1', 0), { qos: 1 });
        await pub.publishAsync(`mdm/v1/gateways/${gwId}/readings`, body(mark, 'G2', 1), { qos: 1 });
        await pub.publishAsync(`mdm/v1/gateways/${gwId}/readings`, body('g3', 'G3', 2), { qos: 1 });
        await pub.publishAsync(`mdm/v1/gateways/${gwId}/readings`, body('g4', 'G4', 3), { qos: 1 });
        await waitFor(() => acks.length === 4, 'four acks');
        expect(batches.find((b) => b.some((p) => p.includes(mark)))!.length).toBeGreaterThan(1); // refused with others, then split
        expect(acks.map((a) => [a.id, a.status])).toEqual([
          ['g1', 'ok'],
          [mark, 'rejected'],
          ['g3', 'ok'],
          ['g4', 'ok'],
        ]);
        expect(acks[1]).toMatchObject({ reason: REFUSED, stored: 0 });
        expect(await valuesOf(m('G1'))).toEqual([0.5]);
        expect(await valuesOf(m('G2'))).toEqual([]);
        expect(await valuesOf(m('G3'))).toEqual([2.5]);
        expect(await valuesOf(m('G4'))).toEqual([3.5]);
        const dl = await rejectsOn(`mdm/v1/gateways/${gwId}/readings`);
        expect(dl.map((d) => [d.row_index, d.principal, d.reason])).toEqual([[null, gwId, REFUSED]]);
        expect(component!.probe.check()).toMatchObject({ ok: true, writeError: null, isolatedMessages: 1 });

        // A crash and a restart on the same persistent session: the broker has nothing to redeliver.
        await component!.stop({ drain: false });
        written.length = 0;
        await startService(session, refusing);
        await pub.publishAsync(`mdm/v1/meters/${m('K1')}/readings`, JSON.stringify(hours(1, 9)), { qos: 1 });
        await waitFor(async () => (await valuesOf(m('K1'))).length === 1, 'a message after the restart');
        expect(written.some((p) => p.includes(mark))).toBe(false);
        expect(await rejectsOn(`mdm/v1/gateways/${gwId}/readings`)).toHaveLength(1);
      });

      it('holds acknowledgements back while the database is unreachable', async () => {
        let failures = 2;
        const committed: CommittedMessage[] = [];
        await startService(newSession(), {
          async write(db, messages) {
            if (messages.some((x) => x.topic.includes(run)) && failures-- > 0) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
            return writeMessages(db, messages);
          },
          onCommitted: (msgs) => committed.push(...msgs.filter((x) => x.topic.includes(run))),
        });
        const pub = await publisher();
        await pub.publishAsync(`mdm/v1/meters/${m('K2')}/readings`, JSON.stringify(hours(1, 4)), { qos: 1 });
        await waitFor(async () => /ECONNREFUSED/.test(String((await component!.probe.check()).writeError)), 'failing write');
        expect(committed).toEqual([]);
        await waitFor(() => committed.length === 1, 'commit after the database came back');
        expect(committed[0].outcome).toEqual({ status: 'ok', stored: 1, rejected: [] });
        expect(await rejectsOn(`mdm/v1/meters/${m('K2')}/readings`)).toEqual([]);
      });
    });
  }
});
