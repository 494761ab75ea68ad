import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestReadings } from '../ingest/pipeline.js';
import type { Database } from '../sql/database.js';
import { qualityCode, sourceCode } from '../models/reading.js';
import { writeReadings } from '../sql/reading-write.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

describe.each(FLAVOURS)('ingest pipeline (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await database.db
      .insertInto('meters')
      .values([
        { external_id: 'M1', commodity: 'electricity', timezone: 'Europe/Istanbul', interval_minutes: 60, multiplier: 1, tariff: 'single', labels: '{}' },
        { external_id: 'M2', commodity: 'electricity', timezone: 'Europe/Warsaw', interval_minutes: 15, multiplier: 1, tariff: 'single', labels: '{}' },
      ])
      .execute();
  });
  afterAll(() => database?.close());

  it('stores, de-duplicates and versions readings, keeping history', async () => {
    const ctx = { transport: 'http', principal: 'test' } as const;
    const first = await ingestReadings(
      database,
      [
        { meter: 'M1', channel: 'active_import', start: '2026-01-01T00:00:00+03:00', value: 1.5 },
        { meter: 'M1', channel: '1.29.0', start: '2026-01-01T01:00:00+03:00', value: 2 },
        { meter: 'M2', channel: 'active_import', start: '2026-01-01T00:15:00+01:00', value: 0.25 },
      ],
      ctx,
    );
    expect(first).toMatchObject({ accepted: 3, unchanged: 0, superseded: 0, rejected: [] });

    const again = await ingestReadings(
      database,
      [
        { meter: 'M1', channel: 'active_import', start: '2025-12-31T21:00:00Z', value: 1.5 },
        { meter: 'M1', channel: 'active_import', start: '2026-01-01T01:00:00+03:00', value: 2.5 },
      ],
      ctx,
    );
    expect(again).toMatchObject({ accepted: 0, unchanged: 1, superseded: 1, rejected: [] });

    const cur = await database.db.selectFrom('readings').selectAll().where('value', '=', 2.5).executeTakeFirstOrThrow();
    expect(cur.version).toBe(2);
    const hist = await database.db.selectFrom('reading_history').selectAll().execute();
    expect(hist).toHaveLength(1);
    expect(hist[0]).toMatchObject({ value: 2, version: 1, superseded_by_batch: again.batchId });
  });

  it('a re-sent measured figure keeps the VEE judgement (no new version); a different figure supersedes it', async () => {
    const ctx = { transport: 'http', principal: 'test' } as const;
    const row = { meter: 'M1', channel: 'active_import', start: '2026-02-01T00:00:00+03:00', value: 7 };
    await ingestReadings(database, [row], ctx);
    const key = await database.db.selectFrom('readings').selectAll().where('value', '=', 7).executeTakeFirstOrThrow();
    // VEE marks it suspect (its own write: validate is not set).
    const mark = await writeReadings(
      database,
      [{ meterId: key.meter_id, channel: key.channel, startMs: key.start.getTime(), value: 7, intervalMinutes: 60, quality: qualityCode('suspect'), source: sourceCode('http') }],
      { transport: 'vee', principal: 'vee' },
    );
    expect(mark).toMatchObject({ accepted: 0, superseded: 1 });
    expect(await ingestReadings(database, [row], ctx)).toMatchObject({ accepted: 0, unchanged: 1, superseded: 0 });
    const still = await database.db.selectFrom('readings').selectAll().where('value', '=', 7).executeTakeFirstOrThrow();
    expect(still).toMatchObject({ quality: qualityCode('suspect'), version: 2 });
    expect(await ingestReadings(database, [{ ...row, value: 7.5 }], ctx)).toMatchObject({ superseded: 1 });
    // VEE itself may lift its mark back to measured.
    const lift = await writeReadings(
      database,
      [{ meterId: key.meter_id, channel: key.channel, startMs: key.start.getTime(), value: 7.5, intervalMinutes: 60, quality: qualityCode('suspect'), source: sourceCode('http') }],
      { transport: 'vee', principal: 'vee' },
    );
    expect(lift.superseded).toBe(1);
    const back = await writeReadings(
      database,
      [{ meterId: key.meter_id, channel: key.channel, startMs: key.start.getTime(), value: 7.5, intervalMinutes: 60, quality: qualityCode('measured'), source: sourceCode('http') }],
      { transport: 'vee', principal: 'vee' },
    );
    expect(back.superseded).toBe(1);
  });

  it('rejects bad rows with reasons and dead-letters them, storing the good ones', async () => {
    const res = await ingestReadings(
      database,
      [
        { meter: 'M1', channel: 'active_import', start: '2026-01-02T00:00:00', value: 1 },
        { meter: 'NOPE', channel: 'active_import', start: '2026-01-02T00:00:00Z', value: 1 },
        { meter: 'M1', channel: 'bogus', start: '2026-01-02T00:00:00Z', value: 1 },
        { meter: 'M1', channel: 'active_import', start: '2026-01-02T10:17:00+03:00', value: 1 },
        { meter: 'M1', channel: 'active_import', start: '2026-01-02T10:00:00+03:00', value: 'NaN' },
        { meter: 'M1', channel: 'active_import', start: '2026-01-02T11:00:00+03:00', value: 4 },
      ],
      { transport: 'http', principal: 'test' },
    );
    expect(res.accepted).toBe(1);
    expect(res.rejected.map((r) => r.index)).toEqual([0, 1, 2, 3, 4]);
    expect(res.rejected[0].reason).toMatch(/no UTC offset/);
    expect(res.rejected[1].reason).toMatch(/unknown meter "NOPE"/);
    expect(res.rejected[2].reason).toMatch(/unknown channel "bogus"/);
    expect(res.rejected[3].reason).toMatch(/not aligned to a 60-minute interval/);
    expect(res.rejected[4].reason).toMatch(/finite number/);
    const dl = await database.db.selectFrom('rejects').selectAll().where('batch_id', '=', res.batchId).orderBy('row_index').execute();
    expect(dl.map((d) => d.row_index)).toEqual([0, 1, 2, 3, 4]);
    expect(JSON.parse(dl[1].payload)).toMatchObject({ meter: 'NOPE' });
  });
});
