import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NormalizedReading } from '../models/reading.js';
import type { Database } from '../sql/database.js';
import { writeReadings } from '../sql/reading-write.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

const batch = { transport: 'http', principal: 'test' } as const;
const row = (meterId: number, startMs: number, value: number, extra: Partial<NormalizedReading> = {}): NormalizedReading => ({
  meterId,
  channel: 1,
  startMs,
  value,
  intervalMinutes: 60,
  quality: 0,
  source: 0,
  ...extra,
});

async function addMeters(database: Database, ids: string[]): Promise<number[]> {
  const rows = await database.db
    .insertInto('meters')
    .values(ids.map((id) => ({ external_id: id, commodity: 'electricity', timezone: 'UTC', interval_minutes: 60, multiplier: 1, tariff: 'single', labels: '{}' })))
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

describe.each(FLAVOURS)('reading writes (%s)', (flavour) => {
  let database: Database;
  let m1: number;
  let m2: number;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
    [m1, m2] = await addMeters(database, ['W1', 'W2']);
  });
  afterAll(() => database?.close());

  it('stores every field exactly through binary COPY', async () => {
    const rows = [
      row(m1, Date.UTC(1999, 11, 31, 23), 0.1 + 0.2), // before the PostgreSQL epoch (negative µs)
      row(m1, Date.UTC(2026, 0, 1, 0, 0, 0, 123), -1.5e-7, { quality: 4, source: 2 }), // milliseconds kept
      row(m1, Date.UTC(2045, 5, 30, 12), 123456789.123456, { channel: 5, intervalMinutes: null }), // register: no interval
      row(m2, Date.UTC(2026, 0, 1), -0), // stored as 0, as text COPY would
      row(m2, Date.UTC(2026, 0, 1, 1), Number.MAX_VALUE, { intervalMinutes: 15 }),
    ];
    const res = await writeReadings(database, rows, batch);
    expect(res).toMatchObject({ accepted: 5, unchanged: 0, superseded: 0 });
    const stored = await database.db
      .selectFrom('readings')
      .select(['meter_id', 'channel', 'start', 'value', 'interval_minutes', 'quality', 'source', 'version', 'batch_id'])
      .orderBy('meter_id')
      .orderBy('start')
      .execute();
    expect(
      stored.map((r) => ({ meterId: r.meter_id, channel: r.channel, startMs: r.start.getTime(), value: r.value, intervalMinutes: r.interval_minutes, quality: r.quality, source: r.source })),
    ).toEqual(rows.map((r) => ({ ...r, value: r.value === 0 ? 0 : r.value })));
    expect(Object.is(stored[3].value, 0)).toBe(true);
    expect(stored.every((r) => r.version === 1 && r.batch_id === res.batchId)).toBe(true);
  });

  it('counts new, unchanged and superseded rows across meters and keeps the old versions', async () => {
    const [a, b, c] = await addMeters(database, ['W3', 'W4', 'W5']);
    const t0 = Date.UTC(2026, 1, 1);
    const h = (i: number) => t0 + i * 3_600_000;
    const first = await writeReadings(database, [row(a, h(0), 1), row(a, h(1), 2), row(b, h(0), 3)], batch);
    expect(first).toMatchObject({ accepted: 3, unchanged: 0, superseded: 0 });
    // a@0 same, a@1 new value, b@0 new quality, b@1 and c@0 new.
    const second = await writeReadings(database, [row(a, h(0), 1), row(a, h(1), 2.5), row(b, h(0), 3, { quality: 2 }), row(b, h(1), 4), row(c, h(0), 5)], batch);
    expect(second).toMatchObject({ accepted: 2, unchanged: 1, superseded: 2 });
    const hist = await database.db.selectFrom('reading_history').selectAll().where('meter_id', 'in', [a, b, c]).orderBy('meter_id').execute();
    expect(hist.map((r) => [r.meter_id, r.value, r.quality, r.version, r.batch_id, r.superseded_by_batch])).toEqual([
      [a, 2, 0, 1, first.batchId, second.batchId],
      [b, 3, 0, 1, first.batchId, second.batchId],
    ]);
    const cur = await database.db.selectFrom('readings').select(['meter_id', 'value', 'quality', 'version', 'batch_id']).where('meter_id', 'in', [a, b]).where('start', '<', new Date(h(1))).orderBy('meter_id').execute();
    expect(cur).toEqual([
      { meter_id: a, value: 1, quality: 0, version: 1, batch_id: first.batchId },
      { meter_id: b, value: 3, quality: 2, version: 2, batch_id: second.batchId },
    ]);
  });
});

describe.each(FLAVOURS.filter((f) => f === 'server'))('reading writes racing another writer (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
  });
  afterAll(() => database?.close());

  it('settles a key another transaction inserted after our snapshot (retry with upsert)', async () => {
    const [m] = await addMeters(database, ['RACE']);
    const t0 = Date.UTC(2026, 2, 1);
    const rows = [row(m, t0, 10), row(m, t0 + 3_600_000, 11), row(m, t0 + 7_200_000, 12)];
    let write: Promise<Awaited<ReturnType<typeof writeReadings>>> | undefined;
    await database.session(async (s) => {
      // Hold t0 (value 9) uncommitted; our write then blocks on that key and, when this commits, hits unique_violation.
      await s.query(`INSERT INTO ingest_batches (transport, principal) VALUES ('test', 'other') RETURNING id`);
      await s.query(`INSERT INTO readings (meter_id, channel, start, value, interval_minutes, quality, source, version, batch_id) VALUES ($1, 1, $2, 9, 60, 0, 0, 1, 0)`, [m, new Date(t0)]);
      write = writeReadings(database, rows, batch);
      for (let i = 0; i < 200; i++) {
        const waiting = await sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`.execute(database.db);
        if (waiting.rows[0].n > 0) return;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('the write never waited on the held key');
    });
    const res = await write!;
    expect(res).toMatchObject({ accepted: 2, unchanged: 0, superseded: 1 });
    const hist = await database.db.selectFrom('reading_history').selectAll().where('meter_id', '=', m).execute();
    expect(hist.map((r) => [r.value, r.version, r.superseded_by_batch])).toEqual([[9, 1, res.batchId]]);
    const cur = await database.db.selectFrom('readings').select(['value', 'version']).where('meter_id', '=', m).orderBy('start').execute();
    expect(cur).toEqual([
      { value: 10, version: 2 },
      { value: 11, version: 1 },
      { value: 12, version: 1 },
    ]);
  });
});
