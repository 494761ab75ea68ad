import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qualityCode, sourceCode, type NormalizedReading } from '../models/reading.js';
import { ingestMessages } from '../ingest/pipeline.js';
import type { Database } from '../sql/database.js';
import { writeReadings } from '../sql/reading-write.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

/**
 * A measured value for a settled hour (sql/reading-write.repository.ts
 * KEEPS_SETTLED, docs/settlement.md): a re-send of the value before the
 * settlement is a silent no-op; a different one is dead-lettered with the
 * reason, nothing else changes. Hand-computed, meter L1 (hourly, Istanbul,
 * multiplier 1), 2026-01-01:
 *
 * | hour  | measured          | settlement      | before the settlement |
 * |-------|-------------------|-----------------|-----------------------|
 * | 00:00 | 12                | v1 11.5, v2 11.75 | 12 (11.5 is a settlement version in the history) |
 * | 01:00 | 5                 | v1 5            | 5                     |
 * | 02:00 | 7                 | —               | (not settled)         |
 * | 03:00 | —                 | v1 2            | none                  |
 * | 04:00 | 3, then 3.25      | v1 3.5          | 3.25 (the newest)     |
 *
 * Billing after settlement: 11.75 + 5 + 7 + 2 + 3.5 = 29.25 kWh.
 */
const H = (h: number) => `2026-01-01T${String(h).padStart(2, '0')}:00:00+03:00`;
const reading = (h: number, value: number) => ({ meter: 'L1', channel: 'active_import', start: H(h), value });
const settledReason = (measured: number, settled: number, before: number | null) =>
  `hour is settled (settlement supersedes measured values); measured value ${measured} kept here, current settled value ${settled}; ` +
  (before === null ? 'no value before the settlement' : `value before the settlement ${before}`);

describe.each(FLAVOURS)('late measured values for settled hours (%s)', (flavour) => {
  let t: TestApp;
  const post = async (readings: unknown[]) => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('gateway'), payload: { readings } });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const current = async () => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/meters/L1/readings?channel=active_import&from=${encodeURIComponent(H(0))}&to=${encodeURIComponent(H(5))}`, headers: t.auth('viewer') });
    return (res.json().rows as { start: string; value: number; source: string }[]).map((r) => [r.start.slice(11, 16), r.value, r.source]);
  };
  const billed = async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/billing/consumption?period=2026-01&meters=L1', headers: t.auth('billing') });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().meters[0].activeImport as number;
  };
  const rejects = async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/rejects?meter=L1', headers: t.auth('viewer') });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().rejects as { transport: string; principal: string; topic: string | null; rowIndex: number; meter: string; payload: string; reason: string; batchId: number }[];
  };

  beforeAll(async () => {
    t = await testApp(flavour);
    const m = await t.app.inject({ method: 'PUT', url: '/v1/meters', headers: t.auth('admin'), payload: [{ id: 'L1' }] });
    expect(m.statusCode, m.body).toBe(200);
    expect(await post([reading(0, 12), reading(1, 5), reading(2, 7), reading(4, 3)])).toMatchObject({ accepted: 4 });
    expect(await post([reading(4, 3.25)])).toMatchObject({ superseded: 1 });
    const put = (version: number, rows: unknown[]) => t.app.inject({ method: 'PUT', url: '/v1/settlement', headers: t.auth('billing'), payload: { period: '2026-01', version, rows } });
    const v1 = await put(1, [
      { meter: 'L1', start: H(0), withdrawal: 11.5 },
      { meter: 'L1', start: H(1), withdrawal: 5 },
      { meter: 'L1', start: H(3), withdrawal: 2 },
      { meter: 'L1', start: H(4), withdrawal: 3.5 },
    ]);
    expect(v1.json()).toMatchObject({ applied: 4, rejected: [] });
    expect((await put(2, [{ meter: 'L1', start: H(0), withdrawal: 11.75 }])).json()).toMatchObject({ applied: 1, rejected: [] });
  });
  afterAll(() => t?.close());

  it('a re-send of the values before the settlement is a silent no-op (no reject)', async () => {
    expect(await billed()).toBe(29.25);
    // 00:00: the newest non-settlement version is 12 (v1's 11.5 in the history is skipped); 04:00: 3.25, not the older 3.
    expect(await post([reading(0, 12), reading(1, 5), reading(2, 7), reading(4, 3.25)])).toEqual({ accepted: 0, unchanged: 4, superseded: 0, rejected: [] });
    expect(await rejects()).toEqual([]);
    expect(await billed()).toBe(29.25);
  });

  it('a different measured value is dead-lettered with the reason and values; readings and billing keep the settlement', async () => {
    const sent = [reading(2, 7.5), reading(0, 12.5), reading(3, 2.25), reading(1, 5), reading(4, 3)];
    expect(await post(sent)).toEqual({
      accepted: 0,
      unchanged: 1, // 01:00
      superseded: 1, // 02:00 is not settled: an ordinary correction
      rejected: [
        { index: 1, reason: settledReason(12.5, 11.75, 12) },
        { index: 2, reason: settledReason(2.25, 2, null) },
        { index: 4, reason: settledReason(3, 3.5, 3.25) },
      ],
    });
    expect(await current()).toEqual([
      ['00:00', 11.75, 'settlement'],
      ['01:00', 5, 'settlement'],
      ['02:00', 7.5, 'http'],
      ['03:00', 2, 'settlement'],
      ['04:00', 3.5, 'settlement'],
    ]);
    expect(await billed()).toBe(29.75); // + 0.5 at 02:00 only

    const letters = (await rejects()).sort((a, b) => a.rowIndex - b.rowIndex);
    expect(letters.map((r) => [r.rowIndex, r.transport, r.principal, r.meter, r.payload, r.reason])).toEqual([
      [1, 'http', 'test-gateway', 'L1', JSON.stringify(sent[1]), settledReason(12.5, 11.75, 12)],
      [2, 'http', 'test-gateway', 'L1', JSON.stringify(sent[2]), settledReason(2.25, 2, null)],
      [4, 'http', 'test-gateway', 'L1', JSON.stringify(sent[4]), settledReason(3, 3.5, 3.25)],
    ]);
    expect(new Set(letters.map((r) => r.batchId)).size).toBe(1);

    // The late value is not a version of the reading: the history is as before.
    const hist = await t.app.inject({ method: 'GET', url: `/v1/meters/L1/readings/history?channel=active_import&start=${encodeURIComponent(H(0))}`, headers: t.auth('viewer') });
    expect(hist.json().versions.map((v: { value: number; source: string }) => [v.value, v.source])).toEqual([
      [12, 'http'],
      [11.5, 'settlement'],
      [11.75, 'settlement'],
    ]);
    // Each arrival of a differing value is recorded (like any rejected row sent again).
    expect((await post([reading(0, 12.5)])).rejected).toEqual([{ index: 0, reason: settledReason(12.5, 11.75, 12) }]);
    expect(await rejects()).toHaveLength(4);
  });

  it('MQTT-style message batches: the reject goes to its message, with its topic, principal and position', async () => {
    const res = await ingestMessages(
      t.database,
      [
        { raw: [reading(1, 5)], principal: 'gw-a', topic: 'mdm/gw-a/L1/readings' },
        { raw: [reading(2, 7.5), reading(0, 13)], principal: 'gw-b', topic: 'mdm/gw-b/L1/readings', indexOf: [3, 5] },
      ],
      { transport: 'mqtt' },
    );
    expect(res).toMatchObject({ accepted: 0, unchanged: 2, superseded: 0 });
    expect(res.messages).toEqual([
      { stored: 1, rejected: [] },
      { stored: 1, rejected: [{ index: 5, reason: settledReason(13, 11.75, 12) }] },
    ]);
    const [newest] = await rejects();
    expect(newest).toMatchObject({ transport: 'mqtt', principal: 'gw-b', topic: 'mdm/gw-b/L1/readings', rowIndex: 5, payload: JSON.stringify(reading(0, 13)), reason: settledReason(13, 11.75, 12) });
    expect((await current())[0]).toEqual(['00:00', 11.75, 'settlement']);
  });
});

describe.each(FLAVOURS.filter((f) => f === 'server'))('late measured values for settled hours, write racing another writer (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
  });
  afterAll(() => database?.close());

  it('the retry with upsert dead-letters them too (no row origin: the row as stored is the payload)', async () => {
    const [{ id: m }] = await database.db
      .insertInto('meters')
      .values({ external_id: 'RACE-S', commodity: 'electricity', timezone: 'UTC', interval_minutes: 60, multiplier: 1, tariff: 'single', labels: '{}' })
      .returning('id')
      .execute();
    const t0 = Date.UTC(2026, 2, 1);
    const t1 = t0 + 3_600_000;
    const t2 = t0 + 7_200_000;
    const settled = sourceCode('settlement');
    const validated = qualityCode('validated');
    // t1 and t2 settled (5 and 6), measured 4 and 6 before.
    await database.session(async ({ db }) => {
      const stored = { meter_id: m, channel: 1, interval_minutes: 60, batch_id: 0 };
      await db
        .insertInto('readings')
        .values([
          { ...stored, start: new Date(t1), value: 5, quality: validated, source: settled, version: 2 },
          { ...stored, start: new Date(t2), value: 6.5, quality: validated, source: settled, version: 2 },
        ])
        .execute();
      await db
        .insertInto('reading_history')
        .values([
          { ...stored, start: new Date(t1), value: 4, quality: 0, source: 0, version: 1, superseded_by_batch: 0 },
          { ...stored, start: new Date(t2), value: 6, quality: 0, source: 0, version: 1, superseded_by_batch: 0 },
        ])
        .execute();
    });
    const row = (startMs: number, value: number): NormalizedReading => ({ meterId: m, channel: 1, startMs, value, intervalMinutes: 60, quality: 0, source: 0 });
    let write: Promise<Awaited<ReturnType<typeof writeReadings>>> | undefined;
    await database.session(async ({ db }) => {
      // Hold t0 (value 9) uncommitted: our merge blocks on that key and, when this commits, hits unique_violation.
      await db
        .insertInto('readings')
        .values({ meter_id: m, channel: 1, start: new Date(t0), value: 9, interval_minutes: 60, quality: 0, source: 0, version: 1, batch_id: 0 })
        .execute();
      write = writeReadings(database, [row(t0, 10), row(t1, 4.5), row(t2, 6)], { transport: 'http', principal: 'race', validate: true });
      for (let i = 0; i < 200; i++) {
        const waiting = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`.execute(database.db);
        if (waiting.rows[0].n > 0) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('the write never waited on the held key');
    });
    const res = await write!;
    const reason = 'hour is settled (settlement supersedes measured values); measured value 4.5 kept here, current settled value 5; value before the settlement 4';
    expect(res).toMatchObject({ accepted: 0, superseded: 1, unchanged: 1, rejected: [{ rowIndex: null, reason }] });
    const letters = await database.db.selectFrom('rejects').selectAll().where('meter', '=', 'RACE-S').execute();
    expect(letters.map((r) => [r.batch_id, r.transport, r.principal, r.row_index, r.payload, r.reason])).toEqual([
      [res.batchId, 'http', 'race', null, JSON.stringify({ meter: 'RACE-S', channel: 'active_import', start: '2026-03-01T01:00:00.000Z', value: 4.5, quality: 'measured', source: 'http' }), reason],
    ]);
    const cur = await database.db.selectFrom('readings').select(['value', 'source']).where('meter_id', '=', m).orderBy('start').execute();
    expect(cur).toEqual([
      { value: 10, source: 0 },
      { value: 5, source: settled },
      { value: 6.5, source: settled },
    ]);
  });
});
