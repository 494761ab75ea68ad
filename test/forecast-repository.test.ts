import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestReadings } from '../ingest/pipeline.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { parseMeterRows } from '../models/meter.js';
import type { Database } from '../sql/database.js';
import { completeRun, createRun, claimRun, findIssuedForecast, listIssuedHours, listRunValues, loadHourlyHistory, loadStationTemperature } from '../sql/forecast.repository.js';
import { loadTargetSeries, resolveTarget } from '../forecast/target.js';
import { freshDatabase, FLAVOURS } from './helpers.js';

const HOUR = 3_600_000;
const T0 = Date.parse('2026-03-02T00:00:00Z');
const at = (h: number, m = 0) => new Date(T0 + h * HOUR + m * 60_000).toISOString();

/**
 * Fixture (hand-computed):
 * - Q15: 15-minute meter, multiplier 2.
 *   hour 0: 1 + 2 + 3 + 4 = 10 → 20 kWh;
 *   hour 1: 0.5 × 4, the third quarter estimated → 4 kWh, marked;
 *   hour 2: three quarters only → NaN (incomplete);
 *   hour 3: 1 × 4 with one suspect → NaN;
 *   hour 4: one 60-minute value 8 sent with intervalMinutes 60 → 16 kWh;
 *   hour 5: nothing → NaN.
 * - H60: hourly, multiplier 1: hours 0..5 = 5, 6, 7, 8, 9, 10; hour 2 edited → marked;
 *   hour 6: four 15-minute values 1 sent with intervalMinutes 15 → 4; hour 7: one such value → NaN.
 * - WX: weather station: temperature at hour 0 (10.0, 10.5: two values, mean 10.25), hour 3 (12), hour 4 suspect (left out).
 */
describe.each(FLAVOURS)('forecast repository (%s)', (flavour) => {
  let database: Database;
  let ids: Record<string, number>;

  beforeAll(async () => {
    database = await freshDatabase(flavour);
    const { valid } = parseMeterRows([
      { id: 'Q15', intervalMinutes: 15, multiplier: 2, portfolio: 'P', weatherStation: 'WX' },
      { id: 'H60', portfolio: 'P', group: 'G' },
      { id: 'WX', commodity: 'weather' },
    ]);
    await upsertMeters(
      database,
      valid.map((v) => v.meter),
    );
    const rows: object[] = [];
    const q = (h: number, m: number, value: number, extra: object = {}) => rows.push({ meter: 'Q15', channel: 'active_import', start: at(h, m), value, ...extra });
    [1, 2, 3, 4].forEach((v, i) => q(0, i * 15, v));
    [0, 1, 2, 3].forEach((i) => q(1, i * 15, 0.5, i === 2 ? { quality: 'estimated' } : {}));
    [0, 1, 2].forEach((i) => q(2, i * 15, 1));
    [0, 1, 2, 3].forEach((i) => q(3, i * 15, 1, i === 1 ? { quality: 'suspect' } : {}));
    q(4, 0, 8, { intervalMinutes: 60 });
    [5, 6, 7, 8, 9, 10].forEach((v, h) => rows.push({ meter: 'H60', channel: 'active_import', start: at(h), value: v, ...(h === 2 ? { quality: 'edited' } : {}) }));
    [0, 1, 2, 3].forEach((i) => rows.push({ meter: 'H60', channel: 'active_import', start: at(6, i * 15), value: 1, intervalMinutes: 15 }));
    rows.push({ meter: 'H60', channel: 'active_import', start: at(7, 15), value: 1, intervalMinutes: 15 });
    rows.push({ meter: 'WX', channel: 'temperature', start: at(0), value: 10 }, { meter: 'WX', channel: 'temperature', start: at(0, 30), value: 10.5 });
    rows.push({ meter: 'WX', channel: 'temperature', start: at(3), value: 12 }, { meter: 'WX', channel: 'temperature', start: at(4), value: 40, quality: 'suspect' });
    const r = await ingestReadings(database, rows, { transport: 'http', principal: 'test' });
    expect(r.rejected).toEqual([]);
    ids = Object.fromEntries((await database.db.selectFrom('meters').select(['id', 'external_id']).execute()).map((m) => [m.external_id, m.id]));
  });
  afterAll(async () => database?.close());

  it('sums 15-minute values to whole hours in SQL; incomplete or suspect hours are NaN; estimated/edited marked', async () => {
    const h = await loadHourlyHistory(database, {
      meters: [
        { id: ids.Q15, intervalMinutes: 15, multiplier: 2 },
        { id: ids.H60, intervalMinutes: 60, multiplier: 1 },
      ],
      fromMs: T0,
      toMs: T0 + 8 * HOUR,
    });
    expect([...h.get(ids.Q15)!.values]).toEqual([20, 4, NaN, NaN, 16, NaN, NaN, NaN]);
    expect([...h.get(ids.Q15)!.estimated]).toEqual([0, 1, 0, 0, 0, 0, 0, 0]);
    expect([...h.get(ids.H60)!.values]).toEqual([5, 6, 7, 8, 9, 10, 4, NaN]);
    expect([...h.get(ids.H60)!.estimated]).toEqual([0, 0, 1, 0, 0, 0, 0, 0]);
    // A window that starts later and ends earlier: grid offsets and the end are respected.
    const w = await loadHourlyHistory(database, { meters: [{ id: ids.H60, intervalMinutes: 60, multiplier: 3 }], fromMs: T0 + HOUR, toMs: T0 + 3 * HOUR });
    expect([...w.get(ids.H60)!.values]).toEqual([18, 21]); // the multiplier given (3) applies
  });

  it('hourly mean temperature of a station, suspect values left out', async () => {
    const t = await loadStationTemperature(database, { stationIds: [ids.WX], fromMs: T0, toMs: T0 + 5 * HOUR });
    expect([...t.get(ids.WX)!]).toEqual([10.25, NaN, NaN, 12, NaN]);
  });

  it("a portfolio: member series cut at the data cut-off, their sum as the aggregate, the members' station as weather", async () => {
    const r = await resolveTarget(database, { kind: 'portfolio', id: 'P' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.target).toMatchObject({ text: 'portfolio:P', timezone: 'Europe/Istanbul', country: 'TR', dayAheadCutoff: '10:00', weatherStation: 'WX' });
    const s = await loadTargetSeries(database, r.target, r.target.meters, { historyFromMs: T0, dataCutoffMs: T0 + 2 * HOUR + 59 * 60_000, toMs: T0 + 5 * HOUR });
    expect(s.members.map((m) => m.id)).toEqual(['meter:H60', 'meter:Q15']);
    expect([...s.members[1].values]).toEqual([20, 4, NaN, NaN, NaN]); // hour 2 ends after the cut-off (02:59): not known
    expect([...s.aggregate!.values]).toEqual([25, 10, NaN, NaN, NaN]);
    // Weather past the cut-off (02:00, the hour grid) is a forecast: no vintage stored, so the observation of 03:00 with a simulated error (issue 20).
    const t = s.aggregate!.temperature!;
    expect([t[0], t[1], t[2], t[4]]).toEqual([10.25, NaN, NaN, NaN]);
    expect(t[3]).not.toBe(12);
    expect(Math.abs(t[3] - 12)).toBeLessThan(5);
    expect(s.weather).toMatchObject({ station: 'WX', source: 'observation-with-error-model' });
    expect(s.coverage).toEqual([
      { meter: 'H60', hours: 2, estimated: 0 },
      { meter: 'Q15', hours: 2, estimated: 1 },
    ]);
  });

  it('a portfolio of 9 members (read a few meters per statement on the embedded database): each member gets its own history, in member order', async () => {
    const { valid } = parseMeterRows(Array.from({ length: 9 }, (_, k) => ({ id: `M${k}`, portfolio: 'NINE', multiplier: k + 1 })));
    await upsertMeters(
      database,
      valid.map((v) => v.meter),
    );
    // Meter Mk: hours 0..2 = 10k, 10k + 1, 10k + 2 (kWh before its multiplier k + 1).
    const rows = Array.from({ length: 9 }, (_, k) => [0, 1, 2].map((h) => ({ meter: `M${k}`, channel: 'active_import', start: at(h), value: 10 * k + h }))).flat();
    expect((await ingestReadings(database, rows, { transport: 'http', principal: 'test' })).rejected).toEqual([]);
    const r = await resolveTarget(database, { kind: 'portfolio', id: 'NINE' });
    if (!r.ok) throw new Error(r.reason);
    const s = await loadTargetSeries(database, r.target, r.target.meters, { historyFromMs: T0, dataCutoffMs: T0 + 3 * HOUR, toMs: T0 + 4 * HOUR });
    expect(s.members.map((m) => [m.id, ...m.values])).toEqual(Array.from({ length: 9 }, (_, k) => [`meter:M${k}`, ...[0, 1, 2].map((h) => (10 * k + h) * (k + 1)), NaN]));
    expect(s.coverage.map((c) => c.hours)).toEqual(Array(9).fill(3));
  });

  it('values go in by COPY: series names with tab, newline and backslash survive, non-finite P10/P90 become null, rows without P50 are left out', async () => {
    const id = await createRun(database, { target: 'meter:odd', horizon: 'intraday', model: 'naive', issueTime: new Date(T0), requestedBy: 't' });
    await claimRun(database, 'w', id);
    const odd = 'meter:a\tb\nc\\d\re';
    await completeRun(database, id, {
      dataCutoff: new Date(T0),
      from: new Date(T0),
      to: new Date(T0 + 3 * HOUR),
      usedModel: 'naive',
      metadata: { note: 'x' },
      metrics: { wape: 0.1 },
      values: [
        { target: odd, startMs: T0, p10: NaN, p50: 1.5e-7, p90: Infinity },
        { target: odd, startMs: T0 + HOUR, p10: 1, p50: 2, p90: 3 },
        { target: odd, startMs: T0 + 2 * HOUR, p10: 1, p50: NaN, p90: 3 },
      ],
    });
    expect((await listRunValues(database, id, odd)).map((v) => [v.start.getTime() - T0, v.p10, v.p50, v.p90])).toEqual([
      [0, null, 1.5e-7, null],
      [HOUR, 1, 2, 3],
    ]);
    const run = await database.db.selectFrom('forecast_runs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    expect(run).toMatchObject({ status: 'done', progress: 1, used_model: 'naive', metadata: { note: 'x' }, metrics: { wape: 0.1 } });
  });

  it('issued forecasts: the newest done run per hour issued before the hour (accuracy), and the newest run covering a day', async () => {
    const mk = async (issue: string, p50: number, hours: number[]) => {
      const id = await createRun(database, { target: 'meter:H60', horizon: 'day-ahead', model: 'naive', issueTime: new Date(issue), requestedBy: 't' });
      await claimRun(database, 'w', id);
      await completeRun(database, id, {
        dataCutoff: new Date(issue),
        from: new Date(T0),
        to: new Date(T0 + 6 * HOUR),
        usedModel: 'naive',
        metadata: {},
        metrics: null,
        values: hours.map((h) => ({ target: 'meter:H60', startMs: T0 + h * HOUR, p10: p50 - 1, p50, p90: p50 + 1 })),
      });
      return id;
    };
    const early = await mk('2026-03-01T09:00:00Z', 1, [0, 1, 2, 3]);
    const late = await mk('2026-03-02T01:30:00Z', 2, [0, 1, 2, 3]); // issued after hours 0 and 1 began
    const queued = await createRun(database, { target: 'meter:H60', horizon: 'day-ahead', model: 'naive', issueTime: new Date('2026-03-02T00:00:00Z'), requestedBy: 't' });
    expect(queued).toBeGreaterThan(late);
    const hours = await listIssuedHours(database, { series: 'meter:H60', horizon: 'day-ahead', fromMs: T0, toMs: T0 + 6 * HOUR });
    expect(hours.map((h) => [h.startMs - T0, h.p50, h.runId])).toEqual([
      [0, 1, early],
      [HOUR, 1, early],
      [2 * HOUR, 2, late],
      [3 * HOUR, 2, late],
    ]);
    const day = await findIssuedForecast(database, { series: 'meter:H60', horizon: 'day-ahead', fromMs: T0, toMs: T0 + 24 * HOUR });
    expect(day?.run.id).toBe(late);
    expect(day?.values.map((v) => v.p50)).toEqual([2, 2, 2, 2]);
    expect(await findIssuedForecast(database, { series: 'meter:H60', horizon: 'week-ahead', fromMs: T0, toMs: T0 + 24 * HOUR })).toBeUndefined();
  });
});
