import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backtestCommand, forecastCommand } from '../cli/forecast.js';
import type { Io } from '../cli/io.js';
import { forecastComponent } from '../forecast/forecast.component.js';
import { createForecastWorker } from '../forecast/forecast-job.js';
import { createForecastThreads, type ForecastThreads } from '../forecast/forecast-threads.js';
import { storedTargetEngine, storedTargetRetrain } from '../forecast/stored-engine.js';
import { getChampion } from '../sql/forecast-model.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { bedfordTemperature, building, rowsOf } from './forecast-fixture.js';

/**
 * The real engine (forecast/engine runForecast: naive, profile, ml, ensemble)
 * through the API, the worker (in a forecast thread) and the CLI on stored real data. The engine
 * does no SQL, so this runs on the embedded database only; the storage paths
 * (history, values, runs, accuracy) run on every flavour in
 * forecast-api.test.ts and forecast-repository.test.ts.
 */
// Eight weeks of history before the issue day (test/fixtures/data): the scheduled retrain's challenger wants 28 days of
// values before its own cut-off, four weeks before the issue (from 2 September it had 342 of 672 hours: too little history).
const FROM = Date.UTC(2019, 7, 19);
const TO = Date.UTC(2019, 9, 16);
const ISSUE = '2019-10-14T09:30:00+03:00';

function captureIo(): Io & { stdout: string; stderr: string } {
  const io = { stdout: '', stderr: '', errIsTTY: false, now: () => Date.now(), out: (t: string) => void (io.stdout += t), err: (t: string) => void (io.stderr += t) };
  return io;
}

describe('forecast models end to end (embedded)', () => {
  let t: TestApp;
  // The models run in a forecast thread, as in the service (forecast/forecast-threads.ts).
  const threads: ForecastThreads = createForecastThreads();
  const inject = (method: 'GET' | 'POST' | 'PUT', url: string, role: 'admin' | 'trader', payload?: object) => t.app.inject({ method, url, headers: t.auth(role), ...(payload ? { payload } : {}) });

  beforeAll(async () => {
    t = await testApp('embedded');
    const meters = [
      { id: 'WX', commodity: 'weather', timezone: 'Europe/London' },
      { id: 'B0', portfolio: 'P1', weatherStation: 'WX' },
      { id: 'B4', portfolio: 'P1', weatherStation: 'WX' },
    ];
    expect((await inject('PUT', '/v1/meters', 'admin', meters as never)).statusCode).toBe(200);
    const rows = [
      ...rowsOf('B0', 'active_import', building('b0'), FROM, TO),
      ...rowsOf('B4', 'active_import', building('b4'), FROM, TO),
      ...rowsOf('WX', 'temperature', bedfordTemperature(), FROM, TO),
    ];
    for (let i = 0; i < rows.length; i += 5000) {
      const res = await inject('POST', '/v1/readings', 'admin', { readings: rows.slice(i, i + 5000) });
      expect(res.json().rejected).toEqual([]);
    }
  }, 120_000);
  afterAll(async () => {
    await threads.close();
    await t?.close();
  });

  it('naive, profile, ml and ensemble runs through POST /v1/forecasts/runs: done, short backtest stored, 24 rows P10 ≤ P50 ≤ P90', async () => {
    const ids: Record<string, number> = {};
    for (const model of ['naive', 'profile', 'ml', 'ensemble']) {
      const res = await inject('POST', '/v1/forecasts/runs', 'admin', { target: 'portfolio:P1', horizon: 'day-ahead', issueTime: ISSUE, model });
      expect(res.statusCode).toBe(202);
      ids[model] = res.json().id;
    }
    await createForecastWorker({ database: t.database, engine: storedTargetEngine(t.database, threads), pollMs: 60_000 }).tick();
    for (const [model, id] of Object.entries(ids)) {
      const run = (await inject('GET', `/v1/forecasts/runs/${id}`, 'trader')).json();
      expect(run, `${model}: ${run.error}`).toMatchObject({ status: 'done', requestedModel: model, model, progress: 1 });
      expect(run.metadata.engine).toMatchObject({ requested: model, chosen: model, mlSource: 'trained in this run' });
      expect(run.metadata.engine.portfolio.method).toMatch(/^(sum|aggregate)$/);
      expect(run.metrics.models.naive.n).toBeGreaterThan(0); // the short backtest ran, naive as the bar
      expect(Object.keys(run.metrics.models)).toContain(model);
      const member = (await inject('GET', `/v1/forecasts?target=meter:B0&for=2019-10-15`, 'trader')).json();
      expect(member.rows).toHaveLength(24);
    }
    // The newest run (ensemble) serves the day.
    const day = (await inject('GET', '/v1/forecasts?target=portfolio:P1&for=2019-10-15', 'trader')).json();
    expect(day.run.id).toBe(ids.ensemble);
    expect(day.rows).toHaveLength(24);
    for (const r of day.rows) expect(r.p10 <= r.p50 && r.p50 <= r.p90 && r.p50 > 0, JSON.stringify(r)).toBe(true);
  }, 300_000);

  it('scheduled retrain: the first ML challenger becomes the champion, and later runs forecast with it (no training)', async () => {
    const r = await storedTargetRetrain(threads)(t.database, 'portfolio:P1', { now: Date.parse(ISSUE) });
    expect(r, String(r.reason)).toMatchObject({ promoted: true, outcome: 'promoted', reason: 'no champion yet' });
    const champion = await getChampion(t.database, 'portfolio:P1', 'ml');
    expect(champion?.id).toBe(r.model);
    expect(champion?.metrics).toMatchObject({ challenger: { n: expect.any(Number) }, champion: null });
    const res = await inject('POST', '/v1/forecasts/runs', 'admin', { target: 'portfolio:P1', horizon: 'day-ahead', issueTime: ISSUE, model: 'ml' });
    await createForecastWorker({ database: t.database, engine: storedTargetEngine(t.database, threads), pollMs: 60_000 }).tick();
    const run = (await inject('GET', `/v1/forecasts/runs/${res.json().id}`, 'trader')).json();
    expect(run, run.error).toMatchObject({ status: 'done', model: 'ml', metadata: { engine: { mlSource: { champion: champion!.id, version: 1 } } } });
  }, 300_000);

  it('mdm forecast: runs in process, prints 24 rows and the summary; a bad target is a CLI error', async () => {
    const io = captureIo();
    expect(await forecastCommand(t.database, io, { target: 'portfolio:P1', horizon: 'day-ahead', issueTime: ISSUE, model: 'profile' })).toBe(0);
    const lines = io.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^start\s+p10\s+p50\s+p90$/);
    expect(lines).toHaveLength(25);
    expect(lines[1]).toMatch(/^2019-10-15T00:00:00\+03:00\s+\d/);
    expect(io.stderr).toMatch(/run \d+: portfolio:P1 day-ahead, model profile \(requested profile\), issued 2019-10-14T09:30:00\+03:00, data up to 2019-10-14T09:00:00\+03:00/);
    expect(io.stderr).toMatch(/backtest: WAPE \d+\.\d %, skill vs naive -?\d+\.\d %/);
    await expect(forecastCommand(t.database, captureIo(), { target: 'portfolio:NOPE' })).rejects.toThrow(/portfolio "NOPE" has no meters/);
    await expect(forecastCommand(t.database, captureIo(), { target: 'meter:WX' })).rejects.toThrow(/^meter "WX" is a weather station \(commodity weather\)/);
    await expect(forecastCommand(t.database, captureIo(), { target: 'portfolio:P1', horizon: 'soon' })).rejects.toThrow(/--horizon: "soon" is not one of/);
  }, 120_000);

  it('mdm forecast --horizon week-ahead: one line per local day, as docs/forecasting.md says (it printed 168 hourly lines); status, coverage and holidays on stderr', async () => {
    const io = captureIo();
    expect(await forecastCommand(t.database, io, { target: 'portfolio:P1', horizon: 'week-ahead', issueTime: ISSUE, model: 'naive' })).toBe(0);
    const lines = io.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^date\s+hours\s+p10_kwh\s+p50_kwh\s+p90_kwh$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/).slice(0, 2))).toEqual(['2019-10-15', '2019-10-16', '2019-10-17', '2019-10-18', '2019-10-19', '2019-10-20', '2019-10-21'].map((d) => [d, '24']));
    expect(io.stderr).toMatch(/status done: 2 of 2 member\(s\) forecast \(100\.0 % of last month's energy\), holidays TR/);
  }, 120_000);

  it('mdm backtest: a metrics table per model for the meters and the portfolio sum', async () => {
    const io = captureIo();
    expect(await backtestCommand(t.database, io, { target: 'portfolio:P1', from: '2019-10-07', to: '2019-10-13', models: 'naive,profile' })).toBe(0);
    const lines = io.stdout.trim().split('\n');
    expect(lines[0]).toBe('backtest portfolio:P1 day-ahead, 7 issue days 2019-10-07 … 2019-10-13 (Europe/Istanbul), errors in kWh per hour');
    expect(lines[1]).toMatch(/^series\s+model\s+hours\s+MAE\s+RMSE\s+MAPE\s+WAPE\s+pinball\s+P10–P90\s+skill$/);
    expect(lines.slice(2).map((l) => l.split(/\s+/).slice(0, 3))).toEqual([
      ['meters', 'naive', String(2 * 7 * 24)],
      ['meters', 'profile', String(2 * 7 * 24)],
      ['portfolio', 'naive', String(7 * 24)],
      ['portfolio', 'profile', String(7 * 24)],
    ]);
    expect(lines[2]).toMatch(/0\.0 %$/); // naive against itself
    await expect(backtestCommand(t.database, captureIo(), { target: 'portfolio:P1', from: '2019-10-07', to: '2019-10-13', models: 'naive,magic' })).rejects.toThrow(/--models: unknown magic/);
    await expect(backtestCommand(t.database, captureIo(), { target: 'portfolio:P1', from: '7.10.2019', to: '2019-10-13' })).rejects.toThrow(/--from must be a local date YYYY-MM-DD/);
  }, 120_000);

  it('the serve component is off with FORECAST_POLL_S=0 and rejects nothing it was given by loadConfig', () => {
    expect(forecastComponent({ config: { FORECAST_POLL_S: 0, FORECAST_SCHEDULE: 'day-ahead@09:30' }, database: t.database })).toBeUndefined();
    expect(forecastComponent({ config: { FORECAST_POLL_S: 5, FORECAST_SCHEDULE: 'off' }, database: t.database })?.name).toBe('forecast');
  });
});
