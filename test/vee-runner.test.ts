import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVee } from '../ingest/vee/runner.js';
import { ingestReadings } from '../ingest/pipeline.js';
import { startOfLocalDate } from '../models/calendar.js';
import { MeterSchema } from '../models/meter.js';
import { formatInstant } from '../models/time.js';
import type { Database } from '../sql/database.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { putVeeSetting } from '../sql/vee.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

const H = 3_600_000;
const IST = 'Europe/Istanbul';
const WAW = 'Europe/Warsaw';

/** Hourly pattern of the fixture meters: 1, 2, 3, 1, 2, 3 … by local hour. */
const usual = (hour: number) => 1 + (hour % 3);

async function meterId(database: Database, id: string): Promise<number> {
  return (await database.db.selectFrom('meters').select('id').where('external_id', '=', id).executeTakeFirstOrThrow()).id;
}

async function values(database: Database, id: number, channel: number, from: number, to: number) {
  const rows = await database.db
    .selectFrom('readings')
    .select(['start', 'value', 'quality', 'source', 'version'])
    .where('meter_id', '=', id)
    .where('channel', '=', channel)
    .where('start', '>=', new Date(from))
    .where('start', '<', new Date(to))
    .orderBy('start')
    .execute();
  return new Map(rows.map((r) => [r.start.getTime(), r]));
}

async function issues(database: Database, id: number) {
  return database.db.selectFrom('validation_issues').selectAll().where('meter_id', '=', id).orderBy('id').execute();
}

const http = { transport: 'http', principal: 'test' } as const;

describe.each(FLAVOURS)('VEE runner (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await upsertMeters(database, [MeterSchema.parse({ id: 'R1', timezone: IST, profileClass: 'residential' }), MeterSchema.parse({ id: 'W1', timezone: WAW })]);
  });
  afterAll(() => database?.close());

  // Test day: Thursday 15 January 2026 in Istanbul (UTC+3 all year), 28 complete days of history before it.
  const day = startOfLocalDate('2026-01-15', IST);
  const at = (ms: number) => formatInstant(ms, IST);

  it('estimates gaps (linear, like-day scaled to the register), marks a spike and a negative value suspect, records issues', async () => {
    // Spikes fail for residential meters from 1 January (a vee_settings override; the default severity is warn).
    await putVeeSetting(database, { profileClass: 'residential', commodity: null, effectiveFrom: '2026-01-01', params: { spike: { severity: 'fail' } }, createdBy: 'test' });
    const rows: object[] = [];
    for (let t = day - 28 * 24 * H; t < day; t += H) rows.push({ meter: 'R1', channel: 'active_import', start: at(t), value: usual(((t - day) / H + 24 * 28) % 24) });
    for (let h = 0; h < 24; h++) {
      if (h === 5 || (h >= 18 && h <= 21)) continue; // a 1-hour and a 4-hour gap
      rows.push({ meter: 'R1', channel: 'active_import', start: at(day + h * H), value: h === 12 ? 40 : h === 2 ? -0.5 : usual(h) });
    }
    // Register reads at 16:00 and 23:00 bracket hours 16–22: 20 kWh.
    rows.push({ meter: 'R1', channel: '1.8.0', start: at(day + 16 * H), value: 1000 }, { meter: 'R1', channel: '1.8.0', start: at(day + 23 * H), value: 1020 });
    expect((await ingestReadings(database, rows, http)).rejected).toEqual([]);

    const id = await meterId(database, 'R1');
    const queued = await database.db.selectFrom('vee_queue').selectAll().where('meter_id', '=', id).where('local_date', '=', '2026-01-15').execute();
    expect(queued.map((q) => q.channel).sort()).toEqual([1, 5]); // ingest queued the day for validation

    const res = await runVee(database, [{ meterId: id, fromDate: '2026-01-15', toDate: '2026-01-15' }], { nowMs: day + 3 * 24 * H });
    expect(res.findings).toMatchObject({ gap: 2, spike: 1, negative: 1, high_low: 0, zero_run: 0, flat_line: 0, sum_check: 0, register: 0, conflict: 0 });
    expect(res).toMatchObject({ issuesCreated: 4, issuesObsoleted: 0, markedSuspect: 2, estimated: 5 });

    const v = await values(database, id, 1, day, day + 24 * H);
    // Hour 5: linear between hour 4 (2) and hour 6 (1).
    expect(v.get(day + 5 * H)).toMatchObject({ value: 1.5, quality: 2, source: 6 });
    // Hours 18–21: like-day 1, 2, 3, 1 (the four previous workdays), scaled so that
    // hours 16–22 add up to the register difference 20: known 2 + 3 + 2 = 7, estimates 7 → × 13/7.
    const scaled = [18, 19, 20, 21].map((h) => v.get(day + h * H)!.value);
    expect(scaled[0]).toBeCloseTo(13 / 7, 12);
    expect(scaled[1]).toBeCloseTo(26 / 7, 12);
    expect(scaled[2]).toBeCloseTo(39 / 7, 12);
    expect(scaled[3]).toBeCloseTo(13 / 7, 12);
    let bracket = 0;
    for (let h = 16; h < 23; h++) bracket += v.get(day + h * H)!.value;
    expect(bracket).toBeCloseTo(20, 9);
    // The spike and the negative value keep their figures, now suspect (version 2, source still http).
    expect(v.get(day + 12 * H)).toMatchObject({ value: 40, quality: 4, source: 0, version: 2 });
    expect(v.get(day + 2 * H)).toMatchObject({ value: -0.5, quality: 4, source: 0, version: 2 });

    const notes = await database.db.selectFrom('reading_notes').selectAll().where('meter_id', '=', id).orderBy('start').execute();
    expect(notes.map((n) => [n.start.getTime(), n.method, n.reason_code, n.recorded_by])).toEqual([
      [day + 5 * H, 'linear', 'gap', 'vee'],
      ...[18, 19, 20, 21].map((h) => [day + h * H, 'like-day', 'gap', 'vee']),
    ]);
    expect(notes[0].params).toEqual({ before: 2, after: 1 });
    expect(notes[1].params).toMatchObject({ dayType: 'workday', days: ['2026-01-14', '2026-01-13', '2026-01-12', '2026-01-09'], scaledToRegister: { registerDiff: 20, knownSum: 7 } });

    const is = await issues(database, id);
    expect(is.map((i) => [i.rule, i.severity, i.status, i.from_ts.getTime(), i.to_ts.getTime()])).toEqual(
      expect.arrayContaining([
        ['gap', 'fail', 'replaced', day + 5 * H, day + 6 * H],
        ['gap', 'fail', 'replaced', day + 18 * H, day + 22 * H],
        ['spike', 'fail', 'open', day + 12 * H, day + 13 * H],
        ['negative', 'fail', 'open', day + 2 * H, day + 3 * H],
      ]),
    );
    expect(is.find((i) => i.rule === 'gap' && i.from_ts.getTime() === day + 18 * H)).toMatchObject({
      detail: '4 intervals missing',
      resolved_by: 'vee',
      resolution_comment: 'estimated automatically (like-day)',
    });
  });

  it('re-running the range changes nothing and duplicates nothing', async () => {
    const id = await meterId(database, 'R1');
    const before = await issues(database, id);
    const res = await runVee(database, [{ meterId: id, fromDate: '2026-01-15', toDate: '2026-01-15' }], { nowMs: day + 3 * 24 * H });
    expect(res).toMatchObject({ issuesCreated: 0, issuesObsoleted: 0, markedSuspect: 0, estimated: 0, unmarked: 0 });
    // The spike and negative findings reproduce; the filled gaps do not (the hours now hold estimates).
    expect(res.findings).toMatchObject({ gap: 0, spike: 1, negative: 1 });
    expect(await issues(database, id)).toEqual(before);
  });

  it('a corrected value obsoletes its issue and is flagged as re-sent; real data supersedes an estimate', async () => {
    const id = await meterId(database, 'R1');
    await database.db.deleteFrom('vee_queue').execute(); // what earlier ingests queued
    // The head-end re-sends hour 12 with the right figure, and delivers hour 5 after all.
    const r = await ingestReadings(
      database,
      [
        { meter: 'R1', channel: 'active_import', start: at(day + 12 * H), value: 1 },
        { meter: 'R1', channel: 'active_import', start: at(day + 5 * H), value: 2.25 },
      ],
      http,
    );
    expect(r).toMatchObject({ accepted: 0, superseded: 2 });
    // The superseding batch queued the day for validation again (the worker would run what follows).
    const queued = await database.db.selectFrom('vee_queue').select(['meter_id', 'channel', 'local_date']).execute();
    expect(queued).toEqual([{ meter_id: id, channel: 1, local_date: '2026-01-15' }]);
    const res = await runVee(database, [{ meterId: id, fromDate: '2026-01-15', toDate: '2026-01-15' }], { nowMs: day + 3 * 24 * H });
    expect(res).toMatchObject({ issuesCreated: 1, issuesObsoleted: 1, markedSuspect: 0, estimated: 0 });
    const is = await issues(database, id);
    expect(is.find((i) => i.rule === 'spike')).toMatchObject({ status: 'obsolete', resolved_by: 'vee' });
    // 40 → 1 came from the meter side both times: a conflict (warn). The estimate → 2.25 is not one.
    const conflicts = is.filter((i) => i.rule === 'conflict');
    expect(conflicts.map((i) => [i.severity, i.status, i.from_ts.getTime(), i.detail])).toEqual([['warn', 'open', day + 12 * H, 'value re-sent with a different figure: 40 → 1']]);

    const v = await values(database, id, 1, day, day + 24 * H);
    expect(v.get(day + 5 * H)).toMatchObject({ value: 2.25, quality: 0, source: 0, version: 2 });
    expect(v.get(day + 12 * H)).toMatchObject({ value: 1, quality: 0, version: 3 });
    const hist = await database.db
      .selectFrom('reading_history')
      .select(['value', 'quality', 'source', 'version'])
      .where('meter_id', '=', id)
      .where('start', '=', new Date(day + 5 * H))
      .execute();
    expect(hist).toEqual([{ value: 1.5, quality: 2, source: 6, version: 1 }]);
  });

  it('counts and fills the gaps of a DST month in Europe/Warsaw', async () => {
    const id = await meterId(database, 'W1');
    const { localMinuteOfDay } = await import('../models/calendar.js');
    const from = startOfLocalDate('2026-03-01', WAW);
    const to = startOfLocalDate('2026-04-01', WAW);
    expect((to - from) / H).toBe(743);
    // Value = local hour / 10 + 1; missing: local 01:00, 03:00 and 04:00 on Sunday 29 March (02:00 does not exist that day).
    const sunday = startOfLocalDate('2026-03-29', WAW);
    const missing = new Set([sunday + H, sunday + 2 * H, sunday + 3 * H]);
    const rows: object[] = [];
    for (let t = from - 35 * 24 * H; t < to; t += H) {
      if (!missing.has(t)) rows.push({ meter: 'W1', channel: 'active_import', start: formatInstant(t, WAW), value: localMinuteOfDay(t, WAW) / 600 + 1 });
    }
    expect((await ingestReadings(database, rows, http)).rejected).toEqual([]);
    const res = await runVee(database, [{ meterId: id, fromDate: '2026-03-01', toDate: '2026-03-31' }], { nowMs: to + 5 * 24 * H });
    expect(res.values).toBe(740);
    expect(res.findings.gap).toBe(1);
    const [gap] = (await issues(database, id)).filter((i) => i.rule === 'gap');
    expect(gap).toMatchObject({ detail: '3 intervals missing', status: 'replaced' });
    expect([gap.from_ts.toISOString(), gap.to_ts.toISOString()]).toEqual(['2026-03-29T00:00:00.000Z', '2026-03-29T03:00:00.000Z']);
    // 3 hours > 2 h: like-day from the previous Sundays at the same local time (CET then, CEST now).
    const v = await values(database, id, 1, from, to);
    expect(v.size).toBe(743);
    expect([...missing].map((t) => formatInstant(t, WAW))).toEqual(['2026-03-29T01:00:00+01:00', '2026-03-29T03:00:00+02:00', '2026-03-29T04:00:00+02:00']);
    const est = [...missing].map((t) => v.get(t)!);
    expect(est.map((x) => x.quality)).toEqual([2, 2, 2]);
    [1.1, 1.3, 1.4].forEach((want, i) => expect(est[i].value).toBeCloseTo(want, 12));
  });

  it('fills a missing repeated hour of the 25-hour day linearly', async () => {
    const id = await meterId(database, 'W1');
    const d = startOfLocalDate('2026-10-25', WAW);
    expect((startOfLocalDate('2026-10-26', WAW) - d) / H).toBe(25);
    // Local 00:00, 01:00, 02:00 CEST, [02:00 CET missing], 03:00 CET … 23:00.
    const rows: object[] = [];
    for (let i = 0; i < 25; i++) if (i !== 3) rows.push({ meter: 'W1', channel: 'active_import', start: formatInstant(d + i * H, WAW), value: i === 2 ? 2 : i === 4 ? 3 : 1 });
    expect((await ingestReadings(database, rows, http)).rejected).toEqual([]);
    await runVee(database, [{ meterId: id, fromDate: '2026-10-25', toDate: '2026-10-25' }], { nowMs: d + 5 * 24 * H });
    const v = await values(database, id, 1, d, d + 25 * H);
    expect(formatInstant(d + 3 * H, WAW)).toBe('2026-10-25T02:00:00+01:00');
    expect(v.get(d + 3 * H)).toMatchObject({ value: 2.5, quality: 2 });
    expect(v.size).toBe(25);
  });

  it("falls back to the profile-class shape × the meter's own daily energy when no like day has data", async () => {
    // Class "shop": C1 has Mon 5 – Fri 9 Jan 2026 at usual(h); C2, new, has only Thursday 15 Jan at 2·usual(h)
    // for hours 0–5 and 18–23, hours 6–17 missing (12 h: too long for linear, no like day).
    await upsertMeters(database, [MeterSchema.parse({ id: 'C1', timezone: IST, profileClass: 'shop' }), MeterSchema.parse({ id: 'C2', timezone: IST, profileClass: 'shop' })]);
    const rows: object[] = [];
    for (let d = 0; d < 5; d++) {
      const base = startOfLocalDate(`2026-01-0${5 + d}`, IST);
      for (let h = 0; h < 24; h++) rows.push({ meter: 'C1', channel: 'active_import', start: formatInstant(base + h * H, IST), value: usual(h) });
    }
    for (let h = 0; h < 24; h++) if (h < 6 || h >= 18) rows.push({ meter: 'C2', channel: 'active_import', start: at(day + h * H), value: 2 * usual(h) });
    expect((await ingestReadings(database, rows, http)).rejected).toEqual([]);
    const id = await meterId(database, 'C2');
    await runVee(database, [{ meterId: id, fromDate: '2026-01-15', toDate: '2026-01-15' }], { nowMs: day + 5 * 24 * H });
    // Workday energy at hour h: 5·u(h) + 2·u(h) where C2 has data; Σ = 5·48 + 2·24 = 288, so share(h) = 5·u(h)/288 for h in 6–17.
    // C2's own daily energy: mean of its 12 values (48/12 = 4) × 24 = 96. Estimate = 5·u(h)/288 × 96 = 5·u(h)/3.
    const v = await values(database, id, 1, day, day + 24 * H);
    for (let h = 6; h < 18; h++) {
      expect(v.get(day + h * H)?.value).toBeCloseTo((5 * usual(h)) / 3, 10);
      expect(v.get(day + h * H)?.quality).toBe(2);
    }
    const notes = await database.db.selectFrom('reading_notes').select(['method']).where('meter_id', '=', id).execute();
    expect(new Set(notes.map((n) => n.method))).toEqual(new Set(['profile-class']));
  });
});
