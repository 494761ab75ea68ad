import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestReadings } from '../ingest/pipeline.js';
import { runVee } from '../ingest/vee/runner.js';
import { createVeeWorker } from '../ingest/vee/vee-worker.js';
import { localDate, shiftDate, startOfLocalDate } from '../models/calendar.js';
import { MeterSchema } from '../models/meter.js';
import { qualityCode, sourceCode } from '../models/reading.js';
import type { Database } from '../sql/database.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { writeReadings } from '../sql/reading-write.repository.js';
import { storeIssues } from '../sql/vee.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

/**
 * Issue 12, defects 1 and 13, on real data paths: Cambridge Estates hourly
 * electricity of 2018 (excerpts as published, test/fixtures/data/README.md) stored through
 * ingestReadings, validated by the VEE worker as `mdm serve` runs it.
 */

const H = 3_600_000;
const DAY = 24 * H;
const LONDON = 'Europe/London';
const DATA = new URL('./fixtures/data/cambridge-estates/', import.meta.url);
const http = { transport: 'http', principal: 'test' } as const;

/** Rows of a building's 2018 electricity (UTC hour starts) in [fromMs, toMs), as an integrator sends them. */
function cambridge(building: string, meter: string, fromMs: number, toMs: number): object[] {
  const out: object[] = [];
  for (const line of readFileSync(new URL(`${building}/electricity/2018.csv`, DATA), 'utf8')
    .split('\n')
    .slice(1)) {
    if (!line) continue;
    const [t, v] = line.split(',');
    const ms = Date.parse(`${t.replace(' ', 'T')}Z`);
    if (ms >= fromMs && ms < toMs) out.push({ meter, channel: 'active_import', start: new Date(ms).toISOString(), value: Number(v) });
  }
  return out;
}

async function store(database: Database, rows: object[]): Promise<void> {
  for (let i = 0; i < rows.length; i += 5_000) expect((await ingestReadings(database, rows.slice(i, i + 5_000), http)).rejected).toEqual([]);
}

/** Drains vee_queue as the `vee` component of `mdm serve` does, with the worker's clock at `nowMs`. */
async function drain(database: Database, nowMs: number): Promise<void> {
  const worker = createVeeWorker({ database, now: () => nowMs });
  while ((await worker.drainOnce()) > 0);
  expect(worker.failing.size).toBe(0);
}

async function meterOf(database: Database, id: string) {
  return database.db.selectFrom('meters').select(['id', 'created_at']).where('external_id', '=', id).executeTakeFirstOrThrow();
}

async function issuesOf(database: Database, meter: string) {
  const { id } = await meterOf(database, meter);
  return database.db.selectFrom('validation_issues').selectAll().where('meter_id', '=', id).orderBy('from_ts').execute();
}

async function qualities(database: Database, meter: string, fromMs = 0, toMs = Date.UTC(3000, 0, 1)) {
  const { id } = await meterOf(database, meter);
  const rows = await database.db
    .selectFrom('readings')
    .select(['start', 'quality', 'version'])
    .where('meter_id', '=', id)
    .where('start', '>=', new Date(fromMs))
    .where('start', '<', new Date(toMs))
    .execute();
  return { rows: rows.length, suspect: rows.filter((r) => r.quality === qualityCode('suspect')).length, rewritten: rows.filter((r) => r.version > 1).length };
}

describe.each(FLAVOURS)('VEE on loaded history (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await upsertMeters(database, [
      MeterSchema.parse({ id: 'CAM-b0', timezone: LONDON, profileClass: 'commercial' }),
      MeterSchema.parse({ id: 'CAM-b101', timezone: LONDON, profileClass: 'commercial' }),
      MeterSchema.parse({ id: 'CAM-b11-supplied', timezone: LONDON, supplyStart: '2018-02-01' }),
      MeterSchema.parse({ id: 'AHEAD', timezone: LONDON }),
      MeterSchema.parse({ id: 'CAM-b15-marked', timezone: LONDON }),
    ]);
  });
  afterAll(() => database?.close());

  // Whole local days: the data's UTC hours from local midnight 19 March to local midnight 26 March (BST from 25 March: 167 hours).
  const from = startOfLocalDate('2018-03-19', LONDON);
  const to = startOfLocalDate('2018-03-26', LONDON);

  it('a week of 2018 history over the clock change: no time issue, nothing suspect, every value as loaded (defect 1)', async () => {
    await store(database, [...cambridge('b0', 'CAM-b0', from, to), ...cambridge('b101', 'CAM-b101', from, to)]);
    await drain(database, Date.now());
    for (const meter of ['CAM-b0', 'CAM-b101']) {
      const is = await issuesOf(database, meter);
      expect(is.filter((i) => i.rule === 'time')).toEqual([]);
      // Whatever else the rules find in this data (zero runs of the publisher's disguised gaps, spikes) is a warning only.
      expect(is.filter((i) => i.severity === 'fail')).toEqual([]);
      expect(await qualities(database, meter)).toEqual({ rows: (to - from) / H, suspect: 0, rewritten: 0 });
    }
  });

  it('values before the supply start are still flagged (one time issue per local day), those inside are not', async () => {
    const from = Date.UTC(2018, 0, 29);
    const feb = Date.UTC(2018, 1, 1);
    await store(database, cambridge('b11', 'CAM-b11-supplied', from, Date.UTC(2018, 1, 6)));
    await drain(database, Date.now());
    const is = await issuesOf(database, 'CAM-b11-supplied');
    expect(is.map((i) => [i.rule, i.severity, i.status, localDate(i.from_ts.getTime(), LONDON), i.to_ts.getTime() - i.from_ts.getTime(), i.detail])).toEqual(
      ['2018-01-29', '2018-01-30', '2018-01-31'].map((d) => ['time', 'fail', 'open', d, DAY, `24 values on ${d}, before the meter's supply start 2018-02-01`]),
    );
    expect(await qualities(database, 'CAM-b11-supplied', from, feb)).toEqual({ rows: 72, suspect: 72, rewritten: 72 });
    expect(await qualities(database, 'CAM-b11-supplied', feb, Date.UTC(2018, 1, 6))).toEqual({ rows: 120, suspect: 0, rewritten: 0 });
  });

  it('history an earlier version marked suspect for its age is un-marked by validating it again', async () => {
    const from = startOfLocalDate('2018-05-01', LONDON);
    const to = startOfLocalDate('2018-05-08', LONDON);
    await store(database, cambridge('b15', 'CAM-b15-marked', from, to));
    await drain(database, Date.now());
    // What the 400-day horizon left behind: every value suspect (a version written by transport vee), a time issue per value.
    const { id } = await meterOf(database, 'CAM-b15-marked');
    const current = await database.db.selectFrom('readings').select(['start', 'value']).where('meter_id', '=', id).orderBy('start').execute();
    await writeReadings(
      database,
      current.map((r) => ({ meterId: id, channel: 1, startMs: r.start.getTime(), value: r.value, intervalMinutes: 60, quality: qualityCode('suspect'), source: sourceCode('http') })),
      { transport: 'vee', principal: 'vee', detail: 'validation run' },
    );
    const ranges = [{ meterId: id, fromMs: from, toMs: to }];
    const old = current.map((r) => ({
      meterId: id,
      channel: 1,
      rule: 'time' as const,
      severity: 'fail' as const,
      fromMs: r.start.getTime(),
      toMs: r.start.getTime() + H,
      detail: `reading at ${r.start.toISOString()} is older than the 400-day horizon`,
      status: 'open' as const,
      resolution: null,
    }));
    await storeIssues(database, ranges, old);
    expect(await qualities(database, 'CAM-b15-marked')).toEqual({ rows: 168, suspect: 168, rewritten: 168 });

    const res = await runVee(database, [{ meterId: id, fromDate: '2018-05-01', toDate: '2018-05-07' }], { nowMs: Date.now() });
    expect(res).toMatchObject({ unmarked: 168, markedSuspect: 0, issuesObsoleted: 168, issuesCreated: 0 });
    expect(await qualities(database, 'CAM-b15-marked')).toEqual({ rows: 168, suspect: 0, rewritten: 168 });
    expect((await issuesOf(database, 'CAM-b15-marked')).every((i) => i.status === 'obsolete')).toBe(true);
  });

  it('a value stamped two days after it arrived stays flagged after its time has come', async () => {
    const now = Date.now();
    const start = Math.floor(now / H) * H + 2 * DAY; // within MDM_MAX_FUTURE_HOURS, so ingest stores it
    await store(database, [{ meter: 'AHEAD', channel: 'active_import', start: new Date(start).toISOString(), value: 3 }]);
    await drain(database, now + 5 * DAY); // validated once that hour has passed: no longer in the future, but it arrived early
    const time = (await issuesOf(database, 'AHEAD')).filter((i) => i.rule === 'time');
    expect(time).toHaveLength(1);
    expect(time[0]).toMatchObject({ severity: 'fail', status: 'open', from_ts: new Date(start) });
    expect(time[0].detail).toMatch(new RegExp(`^reading at ${new Date(start).toISOString()} arrived at .*, 28\\d\\d minutes before its time$`));
    expect(await qualities(database, 'AHEAD')).toEqual({ rows: 1, suspect: 1, rewritten: 1 });
  });
});

describe.each(FLAVOURS)('VEE expectations of a meter without a supply start (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await upsertMeters(database, [MeterSchema.parse({ id: 'NEW-1', timezone: LONDON }), MeterSchema.parse({ id: 'NEW-2', timezone: LONDON })]);
  });
  afterAll(() => database?.close());

  it('no gap before the first reading: a meter whose data starts at 10:00 (defect 13)', async () => {
    // Cambridge b13 from 10:00 on 5 March 2018 to the end of 6 March: 38 hourly values, none missing.
    const first = Date.UTC(2018, 2, 5, 10);
    await store(database, cambridge('b13', 'NEW-1', first, Date.UTC(2018, 2, 7)));
    await drain(database, Date.now());
    expect(await issuesOf(database, 'NEW-1')).toEqual([]);
    // A hole after the first reading is still a gap.
    const { id } = await meterOf(database, 'NEW-1');
    await database.db
      .deleteFrom('readings')
      .where('meter_id', '=', id)
      .where('start', '=', new Date(first + 3 * H))
      .execute();
    await runVee(database, [{ meterId: id, fromDate: '2018-03-05', toDate: '2018-03-06' }], { nowMs: Date.now() });
    expect((await issuesOf(database, 'NEW-1')).map((i) => [i.rule, i.severity, i.from_ts.getTime(), i.detail])).toEqual([['gap', 'fail', first + 3 * H, '1 interval missing']]);
  });

  it('a meter with no value at all is expected from its registration on, not the day before', async () => {
    const { id, created_at } = await meterOf(database, 'NEW-2');
    const registered = created_at.getTime();
    const today = localDate(registered, LONDON);
    const nowMs = registered + 3 * DAY;
    await runVee(database, [{ meterId: id, fromDate: shiftDate(today, -1), toDate: today }], { nowMs });
    const gaps = await issuesOf(database, 'NEW-2');
    // Today from the first whole hour after registration (unless that was the end of the day): one gap, nothing before.
    const firstHour = Math.ceil(registered / H) * H;
    const endOfDay = startOfLocalDate(shiftDate(today, 1), LONDON);
    expect(gaps.map((i) => [i.rule, i.from_ts.getTime(), i.to_ts.getTime()])).toEqual(firstHour < endOfDay ? [['gap', firstHour, endOfDay]] : []);
  });
});
