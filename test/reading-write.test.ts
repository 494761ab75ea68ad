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
  beforeAll(async () => {
    database = await freshDatabase(flavour);
  });
  afterAll(() => database?.close());

  // Fresh rows go straight into readings; rows next to stored ones go through staging and the merge.
  it.each(['straight into readings', 'through staging'] as const)('stores every field exactly through binary COPY %s', async (path) => {
    const [m1, m2] = await addMeters(database, path === 'through staging' ? ['S1', 'S2'] : ['W1', 'W2']);
    if (path === 'through staging') await writeReadings(database, [row(m2, Date.UTC(2026, 0, 1, 5), 7)], batch);
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
      .where('batch_id', '=', res.batchId)
      .orderBy('meter_id')
      .orderBy('start')
      .execute();
    expect(
      stored.map((r) => ({ meterId: r.meter_id, channel: r.channel, startMs: r.start.getTime(), value: r.value, intervalMinutes: r.interval_minutes, quality: r.quality, source: r.source })),
    ).toEqual(rows.map((r) => ({ ...r, value: r.value === 0 ? 0 : r.value })));
    expect(Object.is(stored[3].value, 0)).toBe(true);
    expect(stored.every((r) => r.version === 1)).toBe(true);
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
    const cur = await database.db
      .selectFrom('readings')
      .select(['meter_id', 'value', 'quality', 'version', 'batch_id'])
      .where('meter_id', 'in', [a, b])
      .where('start', '<', new Date(h(1)))
      .orderBy('meter_id')
      .execute();
    expect(cur).toEqual([
      { meter_id: a, value: 1, quality: 0, version: 1, batch_id: first.batchId },
      { meter_id: b, value: 3, quality: 2, version: 2, batch_id: second.batchId },
    ]);
  });
});

describe.each(FLAVOURS)('reading writes queueing validation (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
  });
  afterAll(() => database?.close());

  it('queues the local days a batch touched, whether COPYed straight in or merged, and nothing for a re-send', async () => {
    const [m] = await database.db
      .insertInto('meters')
      .values({ external_id: 'Q1', commodity: 'electricity', timezone: 'Europe/Istanbul', interval_minutes: 60, multiplier: 1, tariff: 'single', labels: '{}' })
      .returning('id')
      .execute()
      .then((r) => r.map((x) => x.id));
    const queued = async () =>
      (await database.db.selectFrom('vee_queue').select(['channel', 'local_date']).where('meter_id', '=', m).orderBy('local_date').orderBy('channel').execute()).map(
        (q) => `${q.channel}@${String(q.local_date)}`,
      );
    const v = { ...batch, validate: true };
    // 20:00Z and 21:00Z are 23:00 on Jan 1 and 00:00 on Jan 2 in Istanbul (UTC+3). Fresh: COPYed straight into readings.
    const fresh = await writeReadings(database, [row(m, Date.UTC(2026, 0, 1, 20), 1), row(m, Date.UTC(2026, 0, 1, 21), 2)], v);
    expect(fresh).toMatchObject({ accepted: 2, unchanged: 0, superseded: 0 });
    expect(await queued()).toEqual(['1@2026-01-01', '1@2026-01-02']);
    await database.db.deleteFrom('vee_queue').execute();
    // Overlaps stored rows: merged. The days of every row sent are queued (the unchanged 20:00Z one too).
    const merged = await writeReadings(database, [row(m, Date.UTC(2026, 0, 1, 20), 1), row(m, Date.UTC(2026, 0, 1, 21), 2.5), row(m, Date.UTC(2026, 0, 4, 0), 3, { channel: 2 })], v);
    expect(merged).toMatchObject({ accepted: 1, unchanged: 1, superseded: 1 });
    expect(await queued()).toEqual(['1@2026-01-01', '1@2026-01-02', '2@2026-01-04']);
    await database.db.deleteFrom('vee_queue').execute();
    const resend = await writeReadings(database, [row(m, Date.UTC(2026, 0, 1, 21), 2.5)], v);
    expect(resend).toMatchObject({ accepted: 0, unchanged: 1, superseded: 0 });
    expect(await queued()).toEqual([]);
  });
});

describe.each(FLAVOURS)('reading writes queueing validation across DST (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
  });
  afterAll(() => database?.close());

  it('queues exactly the local days that hold a row, as (start AT TIME ZONE tz)::date says', async () => {
    const ids = await database.db
      .insertInto('meters')
      .values(
        ['Europe/Warsaw', 'America/Sao_Paulo', 'Asia/Kolkata'].map((tz, i) => ({
          external_id: `DST${i}`,
          commodity: 'electricity',
          timezone: tz,
          interval_minutes: 15,
          multiplier: 1,
          tariff: 'single',
          labels: '{}',
        })),
      )
      .returning('id')
      .execute()
      .then((r) => r.map((x) => x.id));
    // Quarter-hours over 2026-03-26..04-02 (Warsaw's spring-forward is on 03-29), about one in nine kept, and none from
    // 03-30 12:00Z to 04-01 12:00Z, which holds the whole local 03-31 of each zone: that day must not be queued.
    const rows: NormalizedReading[] = [];
    const q0 = Date.UTC(2026, 2, 26) / 900_000;
    const gap = [Date.UTC(2026, 2, 30, 12), Date.UTC(2026, 3, 1, 12)];
    for (const [k, id] of ids.entries()) {
      for (let q = q0; q < q0 + 8 * 96; q++) {
        const ms = q * 900_000;
        if ((q * 7 + k) % 9 === 0 && (ms < gap[0] || ms >= gap[1])) rows.push(row(id, ms, q % 13, { channel: 1 + (q % 2), intervalMinutes: 15 }));
      }
    }
    const res = await writeReadings(database, rows, { ...batch, validate: true });
    expect(res.accepted).toBe(rows.length);
    const queued = await sql<{ k: string }>`SELECT meter_id || '/' || channel || '/' || local_date AS k FROM vee_queue ORDER BY 1`.execute(database.db);
    const oracle = await sql<{ k: string }>`
      SELECT DISTINCT r.meter_id || '/' || r.channel || '/' || (r.start AT TIME ZONE m.timezone)::date AS k
      FROM readings r JOIN meters m ON m.id = r.meter_id WHERE r.batch_id = ${res.batchId} ORDER BY 1`.execute(database.db);
    expect(oracle.rows.length).toBeGreaterThan(30);
    expect(oracle.rows.some((r) => r.k.endsWith('/2026-03-31'))).toBe(false);
    expect(queued.rows).toEqual(oracle.rows);
  });
});

describe.each(FLAVOURS.filter((f) => f === 'server'))('reading writes racing another writer (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
  });
  afterAll(() => database?.close());

  it('settles a key another transaction inserted after our snapshot (run again with the stored keys locked)', async () => {
    const [m] = await addMeters(database, ['RACE']);
    const t0 = Date.UTC(2026, 2, 1);
    const rows = [row(m, t0, 10), row(m, t0 + 3_600_000, 11), row(m, t0 + 7_200_000, 12)];
    let write: Promise<Awaited<ReturnType<typeof writeReadings>>> | undefined;
    await database.session(async ({ db }) => {
      // Hold t0 (value 9) uncommitted; our write then blocks on that key and, when this commits, hits unique_violation.
      await db.insertInto('ingest_batches').values({ transport: 'test', principal: 'other' }).returning('id').execute();
      await db
        .insertInto('readings')
        .values({ meter_id: m, channel: 1, start: new Date(t0), value: 9, interval_minutes: 60, quality: 0, source: 0, version: 1, batch_id: 0 })
        .execute();
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
