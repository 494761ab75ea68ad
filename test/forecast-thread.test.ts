import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runForecast } from '../forecast/engine.js';
import { forecastComponent } from '../forecast/forecast.component.js';
import { createForecastWorker, type ForecastEngine, type ForecastWorker } from '../forecast/forecast-job.js';
import { createForecastThreads, type ForecastThreads } from '../forecast/forecast-threads.js';
import { storedTargetEngine } from '../forecast/stored-engine.js';
import { createRun, getRun } from '../sql/forecast.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { bedfordTemperature, building, rowsOf } from './forecast-fixture.js';
import { FLAVOURS } from './helpers.js';

/**
 * Issue 12, defect 6: forecast runs no longer stall the API. The models of a
 * run (fits, the short backtest, predictions) compute in a forecast thread
 * (node:worker_threads) of the real worker component: the main thread's event
 * loop stays mostly idle while an `auto` run of real data (four Cambridge
 * buildings, test/fixtures/data) executes, where the same run in-process holds
 * it for seconds. A thread that fails or dies fails its run with the reason
 * and the next run succeeds. The latency figures live in
 * `npm run bench -- forecast` (d). The engine does no SQL: one flavour (the
 * server's when there is one, else the embedded one) is enough here.
 */
const FROM = Date.UTC(2019, 8, 1);
const CUTOFF = Date.parse('2019-11-20T09:00:00Z');
const ISSUE = new Date('2019-11-20T09:30:00Z');
const BUILDINGS = ['b0', 'b4', 'b8', 'b13'];

/** A task the engine refuses at once (no series): what a thread's own error looks like. */
const NO_SERIES: Parameters<ForecastThreads['forecast']>[0] = {
  series: [],
  ctx: { issueTime: 0, dataCutoff: 0, country: null },
  horizon: { fromMs: 0, toMs: 3_600_000, name: 'day-ahead' },
  opts: { model: 'naive', target: 'x', timezone: 'UTC', dayAheadCutoff: '10:00' },
};

/**
 * How busy this (the main) thread was while `work` ran: the event loop's
 * active milliseconds (performance.eventLoopUtilization), and, for the
 * message, the largest delay of a 10 ms interval timer. Active time is what
 * the test compares: a model fitted here keeps the loop busy for the whole
 * fit, one fitted in a thread only for the history load and the writes;
 * unlike a single timer's worst delay, it does not swing with a busy machine.
 */
async function mainThreadBusy<T>(work: () => Promise<T>): Promise<{ result: T; activeMs: number; maxLagMs: number }> {
  const every = 10;
  let expected = performance.now() + every;
  let maxLagMs = 0;
  const timer = setInterval(() => {
    const t = performance.now();
    maxLagMs = Math.max(maxLagMs, t - expected);
    expected = t + every;
  }, every);
  const from = performance.eventLoopUtilization();
  try {
    const result = await work();
    return { result, activeMs: performance.eventLoopUtilization(from).active, maxLagMs };
  } finally {
    clearInterval(timer);
  }
}

/** Waits (on the main thread's timers) until run `id` is no longer queued or running. */
async function finished(t: TestApp, id: number, timeoutMs = 240_000) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const run = await getRun(t.database, id);
    if (run && run.status !== 'queued' && run.status !== 'running') return run;
    if (Date.now() > until) throw new Error(`run ${id} still ${run?.status} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The engine on the main thread, as it ran before (forecast/engine runForecast called in-process). */
const inProcess: ForecastEngine = async (series, ctx, horizon, opts) => {
  const r = await runForecast(series, ctx, horizon, opts);
  return { model: r.model, rows: r.rows, info: r.info, metrics: r.metrics };
};

// One flavour: the thread's behaviour does not depend on the database (the engine does no SQL); the server's when there is one (its
// history load costs the main thread least), else the embedded one. Each flavour cost two full auto runs (about 50 s on CI).
describe.each([FLAVOURS.includes('server') ? 'server' : 'embedded'] as const)('forecast runs in a worker thread (%s)', (flavour) => {
  let t: TestApp;
  const inject = (method: 'PUT' | 'POST', url: string, payload: unknown) => t.app.inject({ method, url, headers: t.auth('admin'), payload: payload as object });

  beforeAll(async () => {
    t = await testApp(flavour);
    const meters = [
      { id: 'WX', commodity: 'weather', timezone: 'Europe/London' },
      ...BUILDINGS.map((b) => ({ id: b.toUpperCase(), portfolio: 'P', timezone: 'Europe/London', weatherStation: 'WX' })),
      { id: 'CRASHER', timezone: 'Europe/London' },
      { id: 'THROWER', timezone: 'Europe/London' },
    ];
    expect((await inject('PUT', '/v1/meters', meters)).statusCode).toBe(200);
    expect((await inject('PUT', '/v1/portfolios/P', { timezone: 'Europe/London' })).statusCode).toBe(201);
    const b0 = building('b0');
    const rows = [
      ...BUILDINGS.flatMap((b) => rowsOf(b.toUpperCase(), 'active_import', building(b), FROM, CUTOFF)),
      ...rowsOf('WX', 'temperature', bedfordTemperature(), FROM, CUTOFF),
      ...rowsOf('CRASHER', 'active_import', b0, CUTOFF - 30 * 86_400_000, CUTOFF),
      ...rowsOf('THROWER', 'active_import', b0, CUTOFF - 30 * 86_400_000, CUTOFF),
    ];
    for (let i = 0; i < rows.length; i += 5000) {
      const res = await inject('POST', '/v1/readings', { readings: rows.slice(i, i + 5000) });
      expect(res.json().rejected, res.body).toEqual([]);
    }
  }, 240_000);
  afterAll(async () => t?.close());

  it('an auto run through the serve component fits in a forecast thread: the main thread stays responsive, unlike the same run in-process; stop terminates the thread', async () => {
    // Through the component `mdm serve` runs (one poll: its first tick claims the queued run).
    const id = await createRun(t.database, { target: 'portfolio:P', horizon: 'day-ahead', model: 'auto', issueTime: ISSUE, requestedBy: 'test' });
    const component = forecastComponent({ config: { FORECAST_POLL_S: 3600, FORECAST_SCHEDULE: 'off', FORECAST_THREADS: 1 }, database: t.database }) as ForecastWorker;
    let threaded: { activeMs: number; maxLagMs: number };
    try {
      const measured = await mainThreadBusy(async () => {
        await component.start();
        return finished(t, id);
      });
      threaded = measured;
      const run = measured.result;
      expect(run.status, run.error ?? '').toMatch(/^(done|partial)$/);
      const engine = run.metadata?.engine as Record<string, unknown>;
      // Computed in a worker thread (threadId > 0; the main thread is 0), with TensorFlow.js initialised there.
      expect(engine.thread).toEqual(expect.any(Number));
      expect(engine.thread).toBeGreaterThan(0);
      expect(engine.requested).toBe('auto');
      expect(component.probe.check()).toMatchObject({
        ok: true,
        running: null,
        done: expect.any(Number),
        threads: { size: 1, started: 1, busy: 0, restarts: 0, backend: expect.stringMatching(/^(wasm|tensorflow|cpu)$/) },
      });
    } finally {
      await component.stop();
    }
    expect(component.probe.check()).toMatchObject({ threads: { started: 0, busy: 0 } });

    // The same run with the engine on the main thread, as before: the timer waits while models fit.
    const again = await createRun(t.database, { target: 'portfolio:P', horizon: 'day-ahead', model: 'auto', issueTime: new Date(ISSUE.getTime() + 60_000), requestedBy: 'test' });
    const before = await mainThreadBusy(() => createForecastWorker({ database: t.database, engine: inProcess, pollMs: 60_000 }).tick());
    expect((await getRun(t.database, again))?.status).toMatch(/^(done|partial)$/);
    // Generous on purpose (PGlite's SQL still runs on the main thread): the latency figures are the bench's.
    const figures = `main thread busy ${threaded.activeMs.toFixed(0)} ms with the thread, ${before.activeMs.toFixed(0)} ms in-process (max timer lag ${threaded.maxLagMs.toFixed(0)} / ${before.maxLagMs.toFixed(0)} ms)`;
    expect(threaded.activeMs, figures).toBeLessThan(before.activeMs / 2);
  }, 600_000);

  it("a thread that dies fails its run with the reason, is restarted, and the next run succeeds; a task error comes back as the thread's message", async () => {
    const threads = createForecastThreads({ entry: new URL('./fixtures/forecast-thread-faulty.mjs', import.meta.url) });
    const worker = createForecastWorker({ database: t.database, engine: storedTargetEngine(t.database, threads), pollMs: 60_000, threads });
    try {
      const run = (target: string) => createRun(t.database, { target, horizon: 'day-ahead', model: 'naive', issueTime: ISSUE, requestedBy: 'test' });
      const crash = await run('meter:CRASHER');
      await worker.tick();
      expect(await getRun(t.database, crash)).toMatchObject({
        status: 'failed',
        error: expect.stringMatching(/^forecast failed: the forecast thread stopped while computing \(exit code 70\); the thread was restarted/),
      });
      const thrown = await run('meter:THROWER');
      const next = await run('portfolio:P');
      await worker.tick();
      expect(await getRun(t.database, thrown)).toMatchObject({
        status: 'failed',
        error: expect.stringMatching(/^forecast failed: the forecast thread stopped while computing \(simulated fault in the forecast thread\)/),
      });
      const ok = await getRun(t.database, next);
      expect(ok?.status, ok?.error ?? '').toBe('done');
      expect((ok!.metadata!.engine as Record<string, unknown>).thread).toBeGreaterThan(0);
      expect(worker.probe.check()).toMatchObject({ ok: true, done: 1, failed: 2, threads: { restarts: 2, lastCrash: 'simulated fault in the forecast thread', started: 1 } });
      // An error thrown inside a task rejects with the thread's message; the thread stays.
      await expect(threads.forecast(NO_SERIES)).rejects.toThrow(/^runForecast: no series$/);
      expect(threads.probe()).toMatchObject({ restarts: 2, started: 1 });
    } finally {
      await worker.stop();
    }
    expect(threads.probe().started).toBe(0);
    await expect(threads.forecast(NO_SERIES)).rejects.toThrow(/stopped/);
  }, 300_000);
});
