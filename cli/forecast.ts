import { hostname } from 'node:os';
import { backtest } from '../forecast/backtest.js';
import { CALIBRATION } from '../forecast/calibration.js';
import { storedTargetEngine } from '../forecast/stored-engine.js';
import { executeRun, RUN_MODELS } from '../forecast/forecast-job.js';
import { createForecastThreads } from '../forecast/forecast-threads.js';
import { horizonWindow, monthlyTotals } from '../forecast/horizon.js';
import { pct, type ForecastMetrics } from '../forecast/metrics.js';
import { HORIZONS, type ForecastModel, type HorizonName } from '../forecast/model.js';
import { mlModel } from '../forecast/models/ml.js';
import { naiveModel } from '../forecast/models/naive.js';
import { profileModel } from '../forecast/models/profile.js';
import { historyFromMs, loadTargetSeries, metersInSupply, parseTarget, resolveTarget, type ResolvedTarget } from '../forecast/target.js';
import { localDate, shiftDate } from '../models/calendar.js';
import { DAY_MS, formatInstant, HOUR_MS, parseInstant } from '../models/time.js';
import { WEATHER_BACKTEST_SEED } from '../forecast/weather-error-model.js';
import type { Database } from '../sql/database.js';
import { claimRun, createRun, getRun, listRunValues } from '../sql/forecast.repository.js';
import { CliError, type Io } from './io.js';
import { Progress } from './progress.js';

/**
 * `mdm forecast` and `mdm backtest`: the forecast job and the backtest run
 * in this process against the configured database, with a progress bar on
 * stderr and the results on stdout. `mdm forecast` computes in a forecast
 * thread, as the service's worker does; `mdm backtest` (no API to keep
 * answering) on the main thread.
 */

const DATE = /^\d{4}-\d{2}-\d{2}$/;

async function target(database: Database, text: string | undefined): Promise<ResolvedTarget> {
  if (text === undefined) throw new CliError('--target is required: portfolio:P, group:G or meter:M');
  const parsed = parseTarget(text);
  if (!parsed.ok) throw new CliError(`--target: ${parsed.reason}`);
  const resolved = await resolveTarget(database, parsed.target);
  if (!resolved.ok) throw new CliError(resolved.reason);
  return resolved.target;
}

function horizonOption(text: string | undefined): HorizonName {
  const h = text ?? 'day-ahead';
  if (!(HORIZONS as readonly string[]).includes(h)) throw new CliError(`--horizon: "${h}" is not one of ${HORIZONS.join(', ')}`);
  return h as HorizonName;
}

const num = (x: number | null, digits = 3) => (x === null || !Number.isFinite(x) ? '' : x.toFixed(digits));

export interface ForecastCommandOptions {
  readonly target?: string;
  readonly horizon?: string;
  readonly issueTime?: string;
  readonly model?: string;
}

/** How `mdm forecast` prints a horizon's rows: intraday and day-ahead per hour, week- and month-ahead per local day, long-term per month. */
export const PRINTED_AS: Readonly<Record<HorizonName, 'hour' | 'day' | 'month'>> = {
  intraday: 'hour',
  'day-ahead': 'hour',
  'week-ahead': 'day',
  'month-ahead': 'day',
  'long-term': 'month',
};

/**
 * Queues a run (requested by `cli`), runs it here with a progress bar and
 * prints its rows (PRINTED_AS: per hour, local day or month) with the run's
 * summary, coverage and warnings on stderr. Exit code 1 when the run fails
 * (its reason is stored on the run and printed); a partial run prints its
 * rows and exits 0 with its warnings.
 */
export async function forecastCommand(database: Database, io: Io, o: ForecastCommandOptions): Promise<number> {
  const t = await target(database, o.target);
  const horizon = horizonOption(o.horizon);
  const model = o.model ?? 'auto';
  if (!(RUN_MODELS as readonly string[]).includes(model)) throw new CliError(`--model: "${model}" is not one of ${RUN_MODELS.join(', ')}`);
  let issueTime = io.now();
  if (o.issueTime !== undefined) {
    const p = parseInstant(o.issueTime);
    if (!p.ok) throw new CliError(`--issue-time: ${p.reason}`);
    issueTime = p.ms;
  }
  const id = await createRun(database, { target: t.text, horizon, model, issueTime: new Date(issueTime), requestedBy: 'cli' });
  const run = await claimRun(database, `cli-${hostname()}-${process.pid}`, id);
  if (!run) throw new CliError(`run ${id} was taken by a forecast worker of a running service; follow it with GET /v1/forecasts/runs/${id}`);
  const bar = new Progress(io, `forecast ${t.text} ${horizon}`, 1000, 5_000, '');
  // The same path as the service's worker: the models run in a forecast thread, the database work here.
  const threads = createForecastThreads({ size: 1, log: (_level, line) => io.err(`${line}\n`) });
  try {
    await executeRun({ database, engine: storedTargetEngine(database, threads), onProgress: (f) => bar.update(f * 1000, 0) }, run);
  } finally {
    await threads.close();
  }
  bar.done();
  const r = (await getRun(database, id))!;
  if (r.status !== 'done' && r.status !== 'partial') {
    io.err(`mdm: forecast run ${id} failed: ${r.error}\n`);
    return 1;
  }
  const summary = (r.metadata?.summary ?? {}) as {
    coverage?: { members: number; forecast: number; energyShare: number | null };
    warnings?: string[];
    holidayCalendar?: { country: string | null };
    weatherSource?: string;
  };
  const rows = await listRunValues(database, id, t.text);
  const tz = t.ref.kind === 'meter' ? t.meters[0].timezone : t.timezone;
  const metrics = r.metrics as { models?: Record<string, { wape?: number; skill?: number; coverage?: number }> } | null;
  const used = metrics?.models?.[r.usedModel ?? ''];
  const lines = [
    `run ${id}: ${t.text} ${horizon}, model ${r.usedModel} (requested ${model}), issued ${formatInstant(r.issueTime.getTime(), tz)}, data up to ${r.dataCutoff ? formatInstant(r.dataCutoff.getTime(), tz) : '-'}`,
    used
      ? `backtest: WAPE ${pct(used.wape ?? NaN)}, skill vs naive ${pct(used.skill ?? NaN)}, P10–P90 coverage ${pct(used.coverage ?? NaN)}`
      : 'backtest: none (see GET /v1/forecasts/runs/' + id + ' metadata)',
    `status ${r.status}` +
      (summary.coverage
        ? `: ${summary.coverage.forecast} of ${summary.coverage.members} member(s) forecast${summary.coverage.energyShare === null ? '' : ` (${pct(summary.coverage.energyShare)} of last month's energy)`}`
        : '') +
      `, holidays ${summary.holidayCalendar?.country ?? 'none'}` +
      (summary.weatherSource ? `, weather after the cut-off: ${summary.weatherSource}` : ''),
    ...(summary.warnings ?? []).map((w) => `warning: ${w}`),
    '',
  ];
  io.err(lines.join('\n'));
  const total = rows.reduce((a, v) => a + v.p50, 0);
  const printed = PRINTED_AS[horizon];
  if (printed === 'month') {
    const months = monthlyTotals(
      rows.map((v) => ({ start: v.start.getTime(), p10: v.p10 ?? NaN, p50: v.p50, p90: v.p90 ?? NaN })),
      tz,
    );
    io.out(['month    hours  p10_kwh  p50_kwh  p90_kwh', ...months.map((m) => `${m.month}  ${String(m.hours).padStart(5)}  ${num(m.p10, 1)}  ${num(m.p50, 1)}  ${num(m.p90, 1)}`)].join('\n') + '\n');
  } else if (printed === 'day') {
    const days = new Map<string, { n: number; p10: number; p50: number; p90: number }>();
    for (const v of rows) {
      const d = localDate(v.start.getTime(), tz);
      const x = days.get(d) ?? { n: 0, p10: 0, p50: 0, p90: 0 };
      days.set(d, { n: x.n + 1, p10: x.p10 + (v.p10 ?? NaN), p50: x.p50 + v.p50, p90: x.p90 + (v.p90 ?? NaN) });
    }
    io.out(['date        hours  p10_kwh  p50_kwh  p90_kwh', ...[...days].map(([d, x]) => `${d}  ${String(x.n).padStart(5)}  ${num(x.p10, 1)}  ${num(x.p50, 1)}  ${num(x.p90, 1)}`)].join('\n') + '\n');
  } else {
    io.out(
      [
        'start                      p10        p50        p90',
        ...rows.map((v) => `${formatInstant(v.start.getTime(), tz)}  ${num(v.p10).padStart(9)}  ${num(v.p50).padStart(9)}  ${num(v.p90).padStart(9)}`),
      ].join('\n') + '\n',
    );
  }
  io.err(`${rows.length} hours, Σ P50 ${total.toFixed(1)} kWh; GET /v1/forecasts?target=${t.text}&horizon=${horizon}&for=YYYY-MM-DD serves them\n`);
  return 0;
}

export interface BacktestCommandOptions {
  readonly target?: string;
  readonly from?: string;
  readonly to?: string;
  readonly models?: string;
  readonly horizon?: string;
}

const BACKTEST_MODELS = ['naive', 'profile', 'ml', 'ensemble'] as const;

/**
 * Rolling-origin backtest (forecast/backtest) of a stored target: one issue
 * per local day from --from to --to (the day-ahead cut-off; other horizons at
 * the same time of day), every model fitted on what was known then. Prints
 * one line per model with MAE, RMSE, MAPE, WAPE, pinball, coverage and skill
 * vs naive, pooled over the member meters, and for a group or portfolio the
 * sum of the member forecasts against the sum of the actuals.
 */
export async function backtestCommand(database: Database, io: Io, o: BacktestCommandOptions): Promise<number> {
  const t = await target(database, o.target);
  const horizon = horizonOption(o.horizon);
  if (horizon === 'long-term') throw new CliError('--horizon long-term cannot be backtested day by day; use month-ahead');
  for (const [k, v] of [
    ['from', o.from],
    ['to', o.to],
  ] as const) {
    if (v === undefined || !DATE.test(v)) throw new CliError(`--${k} must be a local date YYYY-MM-DD (the first/last issue day), got ${v ?? 'nothing'}`);
  }
  const fromDate = o.from!;
  const toDate = o.to!;
  if (fromDate > toDate) throw new CliError(`--from ${fromDate} is after --to ${toDate}`);
  const names = (o.models ?? 'naive,profile,ml,ensemble')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = names.filter((n) => !(BACKTEST_MODELS as readonly string[]).includes(n));
  if (unknown.length) throw new CliError(`--models: unknown ${unknown.join(', ')}; one or more of ${BACKTEST_MODELS.join(', ')}`);
  const want = new Set(names);
  want.add('naive'); // the bar skill is measured against
  if (want.has('ensemble')) want.add('profile'), want.add('ml');
  const models: Record<string, ForecastModel> = {};
  if (want.has('naive')) models.naive = naiveModel({ variant: 'd7' });
  if (want.has('profile')) models.profile = profileModel();
  if (want.has('ml')) models.ml = mlModel();

  const firstCutoff = horizonWindow(horizon, Date.parse(`${fromDate}T12:00:00Z`), t.timezone, { dayAheadCutoff: t.dayAheadCutoff }).dataCutoff;
  const lastEnd = horizonWindow(horizon, Date.parse(`${shiftDate(toDate, 1)}T00:00:00Z`) - HOUR_MS, t.timezone, { dayAheadCutoff: t.dayAheadCutoff }).toMs + DAY_MS;
  const meters = metersInSupply(t.meters, firstCutoff, lastEnd);
  if (meters.length === 0) throw new CliError(`${t.text}: no meter in supply between ${fromDate} and ${toDate}`);
  const t0 = io.now();
  const loaded = await loadTargetSeries(database, t, meters, { historyFromMs: historyFromMs(horizon, firstCutoff), dataCutoffMs: lastEnd, toMs: lastEnd });
  io.err(
    `${t.text}: ${meters.length} meter(s), ${loaded.hours} hours loaded in ${((io.now() - t0) / 1000).toFixed(1)} s${loaded.weather.station ? `, weather ${loaded.weather.station}` : ', no weather station'}\n`,
  );
  const bar = new Progress(io, `backtest ${t.text}`, 1000, 5_000, '');
  const r = await backtest(loaded.members, {
    models,
    ensembles: want.has('ensemble') ? { ensemble: { members: ['profile', 'ml'] } } : undefined,
    horizon,
    fromDate,
    toDate,
    timezone: t.timezone,
    dayAheadCutoff: t.dayAheadCutoff,
    country: t.country,
    portfolio: loaded.aggregate ? { id: t.text } : undefined,
    // The runs' calibration (adaptive conformal, warm-up days before --from): the same coverage as the runs and the API.
    calibrate: CALIBRATION,
    // As the runs' backtests: stored weather vintages where the series carry them, else observations through the error model.
    weatherError: { seed: WEATHER_BACKTEST_SEED },
    fillFrom: 'naive',
    floor: 0,
    onProgress: (f) => bar.update(f * 1000, 0),
  });
  bar.done();
  const row = (label: string, name: string, m: ForecastMetrics, skill: number | undefined) =>
    `${label.padEnd(10)} ${name.padEnd(9)} ${String(m.n).padStart(6)} ${num(m.mae, 2).padStart(10)} ${num(m.rmse, 2).padStart(10)} ${pct(m.mape).padStart(8)} ${pct(m.wape).padStart(8)} ${num(m.pinball.mean, 2).padStart(9)} ${pct(m.coverage).padStart(9)} ${(skill === undefined ? '' : pct(skill)).padStart(8)}`;
  const out = [
    `backtest ${t.text} ${horizon}, ${r.scoredOrigins} issue days ${fromDate} … ${toDate} (${t.timezone}), errors in kWh per hour`,
    `${'series'.padEnd(10)} ${'model'.padEnd(9)} ${'hours'.padStart(6)} ${'MAE'.padStart(10)} ${'RMSE'.padStart(10)} ${'MAPE'.padStart(8)} ${'WAPE'.padStart(8)} ${'pinball'.padStart(9)} ${'P10–P90'.padStart(9)} ${'skill'.padStart(8)}`,
  ];
  const shown = r.models.filter((n) => want.has(n) && (names.includes(n) || n === 'naive'));
  for (const n of shown) out.push(row('meters', n, r.aggregate[n].metrics, r.aggregate[n].skill));
  if (r.portfolio) for (const n of shown) out.push(row(t.ref.kind, n, r.portfolio[n].metrics, r.portfolio[n].skill));
  io.out(out.join('\n') + '\n');
  if (r.weights?.ensemble)
    io.err(
      `ensemble weights at the last issue: ${Object.entries(r.weights.ensemble)
        .map(([k, w]) => `${k} ${w.toFixed(2)}`)
        .join(', ')}\n`,
    );
  return 0;
}
