import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runForecast } from '../forecast/engine.js';
import { executeRun, type ForecastEngine } from '../forecast/forecast-job.js';
import { seriesAsOf } from '../forecast/backtest.js';
import { horizonWindow } from '../forecast/horizon.js';
import { loadTargetSeries, resolveTarget } from '../forecast/target.js';
import { temperatureFromVintages } from '../forecast/weather-vintages.js';
import { ingestReadings } from '../ingest/pipeline.js';
import { parseMeterRows } from '../models/meter.js';
import type { Database } from '../sql/database.js';
import { claimRun, createRun, getRun, listRunValues, loadStationTemperature } from '../sql/forecast.repository.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { deleteWeatherVintage, loadVintageSets, upsertWeatherForecasts, type WeatherForecastRow } from '../sql/weather.repository.js';
import { bedfordTemperature, building, DAY, HOUR, rowsOf } from './forecast-fixture.js';
import { freshDatabase, FLAVOURS } from './helpers.js';

// Two months of a Cambridge building and Bedford weather (test/fixtures/data); a day-ahead run for
// 2019-10-25 (Istanbul) issued on the 24th at 09:30: data cut-off 06:00 UTC, 17 days of history (the profile model needs 14).
const FROM = Date.UTC(2019, 7, 26); // eight weeks before the cut-off and more: the profile model's window
const TO = Date.UTC(2019, 9, 27);
const ISSUE = Date.parse('2019-10-24T09:30:00+03:00');
const WIN = horizonWindow('day-ahead', ISSUE, 'Europe/Istanbul', { dayAheadCutoff: '10:00' });
const CUTOFF = WIN.dataCutoff;

/** The real profile model (temperature-corrected) in this process; it records the temperatures each series was given. */
const seen: Float64Array[] = [];
const engine: ForecastEngine = async (series, ctx, hz, o) => {
  for (const s of series) if (s.temperature) seen.push(Float64Array.from(s.temperature));
  const r = await runForecast(series, ctx, hz, { model: 'profile', target: o.target, timezone: o.timezone, dayAheadCutoff: o.dayAheadCutoff, backtestDays: 0 });
  return { model: r.model, rows: r.rows, info: r.info, metrics: null };
};

describe.each(FLAVOURS)('weather forecast vintages in runs (%s)', (flavour) => {
  let database: Database;
  const temp = bedfordTemperature();
  /** A vintage of station WX issued at `issuedAt`: the observed temperature + `delta` for the hours [from, to). */
  const vintage = (issuedAt: number, delta: number, from = CUTOFF - 6 * HOUR, to = WIN.toMs + DAY): WeatherForecastRow[] => {
    const rows: WeatherForecastRow[] = [];
    for (let t = from; t < to; t += HOUR) rows.push({ location: 'WX', issuedAt: new Date(issuedAt), validTime: new Date(t), temperature: temp.get(t)! + delta });
    return rows;
  };
  const run = async () => {
    seen.length = 0;
    const id = await createRun(database, { target: 'meter:B0', horizon: 'day-ahead', model: 'profile', issueTime: new Date(ISSUE), requestedBy: 'test' });
    expect(await executeRun({ database, engine }, (await claimRun(database, 'w', id))!)).toBe('done');
    const r = (await getRun(database, id))!;
    const p50 = (await listRunValues(database, id, 'meter:B0')).map((v) => v.p50);
    expect(p50).toHaveLength(24);
    expect(r.usedModel).toBe('profile');
    return { run: r, p50, temperature: seen[0] };
  };
  const EARLY = CUTOFF - 3 * HOUR;
  const LATE = CUTOFF + HOUR; // after the cut-off, before the delivery day: a run must not read it

  beforeAll(async () => {
    database = await freshDatabase(flavour);
    const { valid } = parseMeterRows([
      { id: 'WX', commodity: 'weather', timezone: 'Europe/London' },
      { id: 'B0', weatherStation: 'WX' },
    ]);
    await upsertMeters(
      database,
      valid.map((v) => v.meter),
    );
    const rows = [...rowsOf('B0', 'active_import', building('b0'), FROM, TO), ...rowsOf('WX', 'temperature', temp, FROM, TO)];
    expect((await ingestReadings(database, rows, { transport: 'http', principal: 'test' })).rejected).toEqual([]);
  }, 120_000);
  afterAll(async () => database?.close());

  it('without vintages: observations after the cut-off degraded by the error model, said in the run, the same on a replay', async () => {
    const a = await run();
    const b = await run();
    const summary = a.run.metadata!.summary as Record<string, unknown>;
    expect(summary.weatherSource).toBe('observation-with-error-model');
    expect((summary.warnings as string[]).some((w) => /no weather forecast vintage issued by the data cut-off for station\(s\) WX/.test(w))).toBe(true);
    expect(a.run.metadata!.weather).toMatchObject({ station: 'WX', source: 'observation-with-error-model', stations: [{ station: 'WX', source: 'observation-with-error-model', vintages: [] }] });
    const from = Date.parse((a.run.metadata!.history as { from: string }).from);
    const i0 = (CUTOFF - from) / HOUR;
    const observed = (i: number) => temp.get(from + i * HOUR)!;
    expect(a.temperature[i0 - 1]).toBe(observed(i0 - 1)); // before the cut-off: the observation
    for (const k of [0, 20, 38]) {
      expect(a.temperature[i0 + k]).not.toBe(observed(i0 + k));
      expect(Math.abs(a.temperature[i0 + k] - observed(i0 + k))).toBeLessThan(10);
    }
    expect(b.p50).toEqual(a.p50);
    expect([...b.temperature]).toEqual([...a.temperature]);
  });

  it('a run reads the newest vintage issued at or before its cut-off, never a later one; stored observations of the forecast day do not move it', async () => {
    await upsertWeatherForecasts(database, vintage(EARLY - 3 * HOUR, 4), 'test'); // an older vintage, superseded by EARLY
    await upsertWeatherForecasts(database, vintage(EARLY, 2), 'test');
    await upsertWeatherForecasts(database, vintage(LATE, -1), 'test');
    const base = await run();
    const summary = base.run.metadata!.summary as Record<string, unknown>;
    expect(summary.weatherSource).toBe('forecast-vintage');
    expect(summary.warnings as string[]).not.toContainEqual(expect.stringMatching(/weather forecast vintage/));
    expect(base.run.metadata!.weather).toMatchObject({ source: 'forecast-vintage', stations: [{ station: 'WX', source: 'forecast-vintage', vintages: [new Date(EARLY).toISOString()] }] });
    const from = Date.parse((base.run.metadata!.history as { from: string }).from);
    const i0 = (CUTOFF - from) / HOUR;
    expect(base.temperature[i0 - 1]).toBe(temp.get(CUTOFF - HOUR)); // observed before the cut-off
    expect(base.temperature[i0 + 30]).toBe(temp.get(CUTOFF + 30 * HOUR)! + 2); // EARLY's value after it

    // Change the vintage issued after the cut-off: the run is unchanged.
    await upsertWeatherForecasts(database, vintage(LATE, -15), 'test');
    const later = await run();
    expect(later.p50).toEqual(base.p50);
    expect([...later.temperature]).toEqual([...base.temperature]);

    // Lower the stored observations of the forecast day (issue 20's finding): the run issued the day before is unchanged.
    const dayRows = rowsOf('WX', 'temperature', temp, WIN.fromMs, WIN.toMs).map((r) => ({ ...r, value: r.value - 10 }));
    expect((await ingestReadings(database, dayRows, { transport: 'http', principal: 'test' })).rejected).toEqual([]);
    const stored = await loadStationTemperature(database, {
      stationIds: [(await database.db.selectFrom('meters').select('id').where('external_id', '=', 'WX').executeTakeFirstOrThrow()).id],
      fromMs: WIN.fromMs,
      toMs: WIN.fromMs + HOUR,
    });
    expect([...stored.values()][0][0]).toBe(temp.get(WIN.fromMs)! - 10);
    const lowered = await run();
    expect(lowered.p50).toEqual(base.p50);

    // Change the vintage the run reads: the run changes.
    await upsertWeatherForecasts(database, vintage(EARLY, -12), 'test');
    const changed = await run();
    expect(changed.temperature[i0 + 30]).toBe(temp.get(CUTOFF + 30 * HOUR)! - 12);
    expect(changed.p50).not.toEqual(base.p50);

    // Without EARLY, the older vintage (issued before it) is the newest by the cut-off.
    await deleteWeatherVintage(database, { location: 'WX', issuedAt: new Date(EARLY) });
    const older = await run();
    expect(older.run.metadata!.weather).toMatchObject({ stations: [{ vintages: [new Date(EARLY - 3 * HOUR).toISOString()] }] });
    expect(older.temperature[i0 + 30]).toBe(temp.get(CUTOFF + 30 * HOUR)! + 4);
  });

  it('backtests do the same: each origin reads the newest vintage issued by its own cut-off, loaded with the series', async () => {
    // One vintage a day at 06:00 for the three days before the run's, each the observation + k for the next 48 hours.
    const days = [3, 2, 1].map((d) => ({ issued: CUTOFF - d * DAY, k: 10 * d }));
    for (const v of days) await upsertWeatherForecasts(database, vintage(v.issued, v.k, v.issued, v.issued + 48 * HOUR), 'test');
    const r = await resolveTarget(database, { kind: 'meter', id: 'B0' });
    if (!r.ok) throw new Error(r.reason);
    const loaded = await loadTargetSeries(database, r.target, r.target.meters, { historyFromMs: FROM, dataCutoffMs: CUTOFF, toMs: WIN.toMs });
    const s = loaded.members[0];
    expect(s.temperatureVintages?.issuedAt.length).toBeGreaterThanOrEqual(3);
    expect(loaded.weather.stations[0].backtestVintages).toBe(s.temperatureVintages!.issuedAt.length);
    // An origin whose cut-off is the 2-days-before vintage's issue time + 1 h: that vintage, not the newer one.
    const origin = days[1].issued + HOUR;
    const asOf = seriesAsOf(s, origin, origin, origin + 30 * HOUR);
    const at = (t: number) => asOf.temperature![(t - asOf.startMs) / HOUR];
    expect(at(origin - HOUR)).toBe(temp.get(origin - HOUR)); // before its cut-off: the observation
    expect(at(origin + 5 * HOUR)).toBe(temp.get(origin + 5 * HOUR)! + days[1].k);
    expect(at(origin + 25 * HOUR)).toBe(temp.get(origin + 25 * HOUR)! + days[1].k); // the next day's vintage was issued after this cut-off
    // Past the budget the oldest vintages are left out, and the run says so.
    const few = await loadVintageSets(database, { locations: ['WX'], issuedFromMs: FROM, issuedToMs: days[2].issued, maxLeadHours: 240, maxVintages: 1 });
    expect(few.truncated).toBe(true);
    expect([...few.sets.get('WX')!.issuedAt]).toEqual([days[2].issued]); // the newest only
    // An origin whose vintages end before its hours (the last issued 3 days before, 48 hours long), or before the first vintage: the caller's fallback.
    const lapsed = days[0].issued + 3 * DAY;
    expect(
      temperatureFromVintages(s.temperature!, s.startMs, { ...s.temperatureVintages!, issuedAt: s.temperatureVintages!.issuedAt.map((t) => (t > days[0].issued ? lapsed + DAY : t)) }, lapsed),
    ).toBeUndefined();
    expect(temperatureFromVintages(s.temperature!, s.startMs, s.temperatureVintages, days[0].issued - HOUR)).toBeUndefined();
  });
});
