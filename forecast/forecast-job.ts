import { randomBytes } from 'node:crypto';
import { localDate, localMonthRange, shiftDate } from '../models/calendar.js';
import type { ScheduleEntry } from '../models/forecast-schedule.js';
import { bisect, createFailingItems, failureMessage, failureReporter, type FailingItems } from '../models/failing-items.js';
import { createPeriodic, silentLog, type ComponentLog, type Timers } from '../models/periodic.js';
import type { ClaimRound, WorkMetrics } from '../models/work-metrics.js';
import type { Database } from '../sql/database.js';
import { isUnavailable } from '../sql/db-errors.js';
import {
  claimRun,
  completeRun,
  countLeftOutValues,
  createRun,
  failRun,
  heartbeatRun,
  recoverStaleRuns,
  runExists,
  type ForecastRun,
  type ForecastValueRow,
  type TargetMeterRow,
} from '../sql/forecast.repository.js';
import { listPortfolios } from '../sql/portfolio.repository.js';
import { horizonWindow, localTimeOn } from './horizon.js';
import { HORIZONS, MODEL_KINDS, type FitContext, type Horizon, type HorizonName, type ModelKind, type QuantileRow, type SeriesData } from './model.js';
import { addRows, aggregateOf, forecastProfiledMembers, PROFILED_RECENT_DAYS, withoutRecentIntervals, type ProfiledMemberForecast } from './profiled-members.js';
import { orderedRow } from './quantiles.js';
import { coversHorizon, ENERGY_WINDOW_HOURS, LEFT_OUT_REASON, recentEnergy, runSummary, type RunSummary } from './run-summary.js';
import { historyFromMs, loadTargetSeries, metersInSupply, parseTarget, resolveTarget, type ResolvedTarget } from './target.js';
import { DAY_MS, HOUR_MS } from '../models/time.js';

/**
 * Forecast runs as jobs (issue 5, "API and jobs"): a run is queued by
 * POST /v1/forecasts/runs, the CLI or the schedule; a worker takes it
 * (queued → running), loads the target's history and weather, runs the
 * engine with progress, and stores the values per series (the target and,
 * for a group or portfolio, each member meter) with the run's metadata and
 * backtest metrics (→ done), or the reason it failed (→ failed). Runs left
 * running by a worker that stopped are requeued once, then failed.
 */

/** What the engine returns for one run. */
export interface EngineResult {
  /** Model kind used (after quality gates / backtest choice). */
  readonly model: string;
  /** Hourly rows per series given, in order. */
  readonly rows: readonly (readonly QuantileRow[])[];
  readonly info: Readonly<Record<string, unknown>>;
  /** Backtest metrics of the chosen model (and the alternatives), stored with the run. */
  readonly metrics: Readonly<Record<string, unknown>> | null;
}

/** The forecast engine's entry point: forecast `series` over `horizon` with data up to ctx.dataCutoff. */
export type ForecastEngine = (
  series: readonly SeriesData[],
  ctx: FitContext,
  horizon: Horizon & { readonly name: HorizonName },
  opts: { readonly model: 'auto' | ModelKind; readonly target: string; readonly timezone: string; readonly dayAheadCutoff: string },
) => Promise<EngineResult>;

export const RUN_MODELS = ['auto', ...MODEL_KINDS] as const;

export interface ExecuteOptions {
  readonly database: Database;
  readonly engine: ForecastEngine;
  /** Progress 0..1 (also written to the run, at most once a second). */
  readonly onProgress?: (fraction: number) => void;
  /** Members whose stored history could not be loaded (left out of the run, listed in its metadata `membersFailed`), and those that loaded. */
  readonly onMembers?: (target: string, r: { failed: readonly { meter: string; error: unknown }[]; loaded: readonly string[] }) => void;
  readonly now?: () => number;
}

const isolable = (err: unknown) => !isUnavailable(err);

type LoadParams = Parameters<typeof loadTargetSeries>[3];

/**
 * The target's history; when loading fails (not for an unreachable
 * database), e.g. a 15-minute member whose stored values overflow the
 * hourly sum, the members are loaded again by halves until the failing ones
 * are found, and the run goes on without them (issue 11). Throws when no
 * member can be loaded.
 */
async function loadIsolated(database: Database, target: ResolvedTarget, meters: readonly TargetMeterRow[], p: LoadParams) {
  try {
    return { loaded: await loadTargetSeries(database, target, meters, p), failed: [] };
  } catch (err) {
    if (!isolable(err) || meters.length < 2) throw err;
    const good = new Set<TargetMeterRow>();
    const failed: { meter: string; error: unknown }[] = [];
    await bisect(meters, err, async (part) => (await loadTargetSeries(database, target, part, p), part.forEach((m) => good.add(m))), {
      isolable,
      onFail: (m, error) => void failed.push({ meter: m.externalId, error }),
    });
    if (good.size === 0) throw err;
    return {
      loaded: await loadTargetSeries(
        database,
        target,
        meters.filter((m) => good.has(m)),
        p,
      ),
      failed,
    };
  }
}

/** A run's error as the database takes it: one line, bounded, no NUL (text columns refuse it). */
const storableError = (message: string) =>
  message
    .replace(/\u0000/g, '')
    .replace(/\s+/g, ' ')
    .slice(0, 2_000);

/** Fails with a message meant for the run's `error` (no stack). */
class RunError extends Error {}

/**
 * The engine was stopped under a run (the service stops: its forecast
 * threads are terminated). Not the run's failure: executeRun rethrows it and
 * the run, still `running`, is recovered at the next start.
 */
export class EngineStoppedError extends Error {
  override readonly name = 'EngineStoppedError';
}

/**
 * Executes one claimed (running) run to done or failed. Never throws for a
 * failure of the run itself: the reason is stored on the run; it throws only
 * when the database itself is gone.
 */
export async function executeRun(o: ExecuteOptions, run: ForecastRun): Promise<ForecastRun['status']> {
  const now = o.now ?? Date.now;
  const t0 = now();
  let lastBeat = 0;
  let beat: Promise<void> = Promise.resolve();
  const progress = (f: number) => {
    const x = Math.max(0, Math.min(1, f));
    o.onProgress?.(x);
    if (now() - lastBeat >= 1000) {
      lastBeat = now();
      beat = beat.then(() => heartbeatRun(o.database, run.id, x)).catch(() => {});
    }
  };
  // Keeps the heartbeat while the engine computes without reporting (a long fit).
  const keepAlive = setInterval(() => {
    beat = beat.then(() => heartbeatRun(o.database, run.id)).catch(() => {});
  }, 15_000);
  keepAlive.unref();
  const stage: Record<string, unknown> = {};
  // The run's summary as far as known (holiday calendar once the target resolves): kept when the run fails.
  let known: Partial<RunSummary> | undefined;
  try {
    progress(0);
    const resolved = await resolveTarget(o.database, checkedTarget(run));
    if (!resolved.ok) throw new RunError(resolved.reason);
    const target = resolved.target;
    // Known from here on, also when the run fails: the calendar and its warning.
    known = { holidayCalendar: { country: target.holidays.country, source: target.holidays.source }, warnings: target.holidays.warning ? [target.holidays.warning] : [] };
    const horizon = run.horizon as HorizonName;
    const issueTime = run.issueTime.getTime();
    const win = horizonWindow(horizon, issueTime, target.timezone, { dayAheadCutoff: target.dayAheadCutoff });
    const inSupply = metersInSupply(target.meters, win.fromMs, win.toMs);
    if (inSupply.length === 0)
      throw new RunError(
        `${target.text}: none of its ${target.meters.length} meter(s) is in supply between ${new Date(win.fromMs).toISOString()} and ${new Date(win.toMs).toISOString()} (supplyStart/supplyEnd)`,
      );
    const { loaded, failed: membersFailed } = await loadIsolated(o.database, target, inSupply, { historyFromMs: historyFromMs(horizon, win.dataCutoff), dataCutoffMs: win.dataCutoff, toMs: win.toMs });
    const meters = membersFailed.length ? inSupply.filter((m) => !membersFailed.some((f) => f.meter === m.externalId)) : inSupply;
    o.onMembers?.(target.text, { failed: membersFailed, loaded: meters.map((m) => m.externalId) });
    stage.loadMs = now() - t0;
    progress(0.1);
    const ctx: FitContext = { issueTime, dataCutoff: win.dataCutoff, country: target.country, onProgress: (f) => progress(0.1 + 0.85 * f) };
    const hz = { fromMs: win.fromMs, toMs: win.toMs, name: horizon };
    // Members without recent interval values: the profile coefficient method (forecast/profiled-members.ts).
    const candidates = withoutRecentIntervals(loaded.members, win.dataCutoff);
    const profiled = await forecastProfiledMembers(
      o.database,
      meters.filter((m) => candidates.has(`meter:${m.externalId}`)),
      ctx,
      hz,
    );
    const byProfile = new Set(profiled.forecast.map((p) => p.id));
    const hoursOf = new Map(loaded.members.map((s, k) => [s.id, loaded.coverage[k].hours]));
    // A candidate the method could not forecast stays with the engine when it has older interval values.
    const notForecast = profiled.failed.filter((f) => !hoursOf.get(f.id));
    const engineMembers = loaded.members.filter((s) => !byProfile.has(s.id) && hoursOf.get(s.id)! > 0);
    if (engineMembers.length === 0 && byProfile.size === 0) {
      const why = await noUsableHistory(o.database, { target, meters, loaded, win, notForecast });
      if (known) known = { ...known, valuesLeftOut: why.valuesLeftOut };
      throw why.error;
    }
    const aggregate = loaded.aggregate && engineMembers.length < loaded.members.length ? aggregateOf(loaded.aggregate, engineMembers) : loaded.aggregate;
    const series = engineMembers.length ? (aggregate ? [...engineMembers, aggregate] : engineMembers) : [];
    const t1 = now();
    const result = series.length
      ? await o.engine(series, ctx, hz, { model: run.model as 'auto' | ModelKind, target: target.text, timezone: target.timezone, dayAheadCutoff: target.dayAheadCutoff })
      : { model: 'profile', rows: [], info: { skipped: 'no member with interval data: every member forecast by the profile coefficient method' }, metrics: null };
    stage.engineMs = now() - t1;
    if (result.rows.length !== series.length) throw new RunError(`the engine returned ${result.rows.length} row sets for ${series.length} series`);
    const rowsOf = new Map<string, readonly QuantileRow[]>(series.map((s, i) => [s.id, result.rows[i]]));
    for (const p of profiled.forecast) rowsOf.set(p.id, p.rows);
    // The group/portfolio target: the engine's (members with interval data) + the profiled members' rows.
    if (loaded.aggregate && byProfile.size)
      rowsOf.set(
        target.text,
        addRows(
          rowsOf.get(target.text),
          profiled.forecast.map((p) => p.rows),
          hz,
        ),
      );
    const values = storableValues(rowsOf, win);
    const expected = Math.round((win.toMs - win.fromMs) / HOUR_MS);
    const targetRows = values.filter((v) => v.target === target.text).length;
    if (targetRows === 0) throw new RunError(`the engine (${result.model}) produced no finite value for ${target.text}; see the metadata for its reasons`);
    progress(0.95);
    const usedModel = series.length ? result.model : 'profile';
    const summary = await summaryOf(o.database, { target, inSupply, membersFailed, loaded, rowsOf, win, expected, notForecast, profiled: profiled.forecast, info: result.info });
    const partial = target.ref.kind !== 'meter' && summary.coverage.forecast < summary.coverage.members;
    const metadata = {
      summary,
      ...runMetadata(target, inSupply.length, loaded, win),
      ...(membersFailed.length
        ? {
            membersFailed: membersFailed
              .slice(0, 50)
              .map((f) => ({ meter: f.meter, reason: `history could not be loaded, left out of the run and of the ${target.ref.kind} sum: ${failureMessage(f.error)}` })),
          }
        : {}),
      hours: { expected: expected, forecast: targetRows },
      engine: result.info,
      ...(candidates.size
        ? {
            profileCoefficients: {
              rule: `members without an interval value in the ${PROFILED_RECENT_DAYS} days before the data cut-off: monthly total from register reads (same month last year, else the last full month scaled by hours) × the uploaded profile coefficients`,
              members: profiled.forecast.map((p) => ({ meter: p.meter, ...p.info })),
              toEngine: profiled.failed.filter((f) => hoursOf.get(f.id)).map((f) => ({ meter: f.meter, reason: f.reason })),
              notForecast: notForecast.map((f) => ({ meter: f.meter, reason: f.reason })),
            },
          }
        : {}),
      timings: { ...stage, totalMs: now() - t0 },
      ...(run.metadata?.worker ? { worker: run.metadata.worker } : {}),
    };
    await beat;
    await completeRun(o.database, run.id, {
      status: partial ? 'partial' : 'done',
      dataCutoff: new Date(win.dataCutoff),
      from: new Date(win.fromMs),
      to: new Date(win.toMs),
      usedModel,
      metadata,
      metrics: result.metrics ? jsonSafe(result.metrics) : null,
      values,
    });
    o.onProgress?.(1);
    return partial ? 'partial' : 'done';
  } catch (err) {
    await beat;
    if (err instanceof EngineStoppedError) throw err; // the service stops: the run is recovered at the next start
    if (!(err instanceof RunError) && !isolable(err)) throw err; // the database is gone: the run is recovered later
    const message = storableError(err instanceof RunError ? err.message : `forecast failed: ${(err as Error)?.message ?? String(err)}`);
    try {
      await failRun(o.database, run.id, message, { ...(known ? { summary: known } : {}), timings: { ...stage, totalMs: now() - t0 } });
    } catch (e) {
      if (!isolable(e)) throw e;
      await failRun(o.database, run.id, `forecast failed; its error could not be stored: ${failureMessage(e)}`);
    }
    return 'failed';
  } finally {
    clearInterval(keepAlive);
  }
}

/** The run's target, after checking its target, horizon and model are ones the engine knows (RunError otherwise). */
function checkedTarget(run: ForecastRun) {
  const parsed = parseTarget(run.target);
  if (!parsed.ok) throw new RunError(parsed.reason);
  if (!(HORIZONS as readonly string[]).includes(run.horizon)) throw new RunError(`unknown horizon "${run.horizon}"; one of ${HORIZONS.join(', ')}`);
  if (!(RUN_MODELS as readonly string[]).includes(run.model)) throw new RunError(`unknown model "${run.model}"; one of ${RUN_MODELS.join(', ')}`);
  return parsed.target;
}

/**
 * Why a target has nothing to forecast from: first what was left out (the
 * usual cause on loaded history: suspect and missing values), then why the
 * coefficient method could not help. The error the run fails with, and the
 * left-out counts for its summary.
 */
async function noUsableHistory(
  database: Database,
  p: {
    target: ResolvedTarget;
    meters: readonly TargetMeterRow[];
    loaded: Awaited<ReturnType<typeof loadTargetSeries>>;
    win: { dataCutoff: number };
    notForecast: readonly { meter: string; reason: string }[];
  },
): Promise<{ error: RunError; valuesLeftOut: NonNullable<RunSummary['valuesLeftOut']> }> {
  const { target, meters, loaded, win } = p;
  const left = await countLeftOutValues(database, { meterIds: meters.map((m) => m.id), fromMs: loaded.startMs, toMs: win.dataCutoff });
  let suspect = 0;
  let missing = 0;
  for (const c of left.values()) (suspect += c.suspect), (missing += c.missing);
  const valuesLeftOut = { values: suspect + missing, suspect, missing, hoursWithoutValue: loaded.coverage.reduce((a, c) => a + (loaded.hours - c.hours), 0), meters: [], reason: LEFT_OUT_REASON };
  const leftOut =
    suspect + missing
      ? `${suspect + missing} value(s) of ${left.size} meter(s) in the ${Math.round((win.dataCutoff - loaded.startMs) / DAY_MS)} days before it are left out (${suspect} suspect, ${missing} missing): ${LEFT_OUT_REASON}`
      : 'no value is stored in the history window: store readings first';
  const why = p.notForecast
    .map((f) => `${f.meter}: ${f.reason}`)
    .slice(0, 5)
    .join('; ');
  const error = new RunError(
    `${target.text}: no usable active import before the data cut-off ${new Date(win.dataCutoff).toISOString()}: ${leftOut}${why ? `. The profile coefficient method could not forecast it either (${why})` : ''}`,
  );
  return { error, valuesLeftOut };
}

/** The rows to store: inside the window, ordered P10 ≤ P50 ≤ P90 and never negative (active import), whatever the engine returned (issue 12, defect 5). */
function storableValues(rowsOf: ReadonlyMap<string, readonly QuantileRow[]>, win: { fromMs: number; toMs: number }): ForecastValueRow[] {
  const values: ForecastValueRow[] = [];
  for (const [id, rows] of rowsOf) {
    for (const r of rows) {
      if (r.start < win.fromMs || r.start >= win.toMs) continue;
      const x = orderedRow(r, 0);
      values.push({ target: id, startMs: x.start, p10: x.p10, p50: x.p50, p90: x.p90 });
    }
  }
  return values;
}

/**
 * The run's top-level summary (forecast/run-summary): which members got a
 * forecast for every hour and why the others did not, their energy of the
 * last 30 days, the history values left out (suspect/missing) and the
 * holiday calendar.
 */
async function summaryOf(
  database: Database,
  p: {
    target: ResolvedTarget;
    inSupply: readonly TargetMeterRow[];
    membersFailed: readonly { meter: string; error: unknown }[];
    loaded: Awaited<ReturnType<typeof loadTargetSeries>>;
    rowsOf: ReadonlyMap<string, readonly QuantileRow[]>;
    win: { fromMs: number; toMs: number; dataCutoff: number };
    expected: number;
    notForecast: readonly { id: string; reason: string }[];
    profiled: readonly ProfiledMemberForecast[];
    info: Readonly<Record<string, unknown>>;
  },
): Promise<RunSummary> {
  // A member forecast by coefficients has no recent interval values: its energy is its first month's total over 720 hours.
  const profiledEnergy = new Map(
    p.profiled.map((f) => {
      const totals = Object.values((f.info.totals ?? {}) as Record<string, { kWh: number }>);
      const hours = Math.max(1, f.rows.length ? monthHours(f.rows[0].start, p.target.timezone) : 720);
      return [f.id, totals.length ? (totals[0].kWh * ENERGY_WINDOW_HOURS) / hours : undefined];
    }),
  );
  const seriesOf = new Map(p.loaded.members.map((s) => [s.id, s]));
  const failedOf = new Map(p.membersFailed.map((f) => [f.meter, f.error]));
  const profiledWhy = new Map(p.notForecast.map((f) => [f.id, f.reason]));
  const members = p.inSupply.map((m) => {
    const id = `meter:${m.externalId}`;
    const s = seriesOf.get(id);
    const energy = (s ? recentEnergy(s, p.win.dataCutoff) : undefined) ?? profiledEnergy.get(id);
    if (failedOf.has(m.externalId)) return { meter: m.externalId, energy, notForecast: `its history could not be loaded: ${failureMessage(failedOf.get(m.externalId))}` };
    if (coversHorizon(p.rowsOf.get(id), p.win.fromMs, p.expected)) return { meter: m.externalId, energy };
    const why = profiledWhy.has(id)
      ? `no interval value in the ${Math.round((p.win.dataCutoff - p.loaded.startMs) / 86_400_000)} days before the data cut-off, and the profile coefficient method could not forecast it: ${profiledWhy.get(id)}`
      : p.rowsOf.has(id)
        ? 'no model gave a value for every hour of the horizon'
        : 'no usable value before the data cut-off';
    return { meter: m.externalId, energy, notForecast: why };
  });
  const leftOutById = await countLeftOutValues(database, { meterIds: p.inSupply.filter((m) => !failedOf.has(m.externalId)).map((m) => m.id), fromMs: p.loaded.startMs, toMs: p.win.dataCutoff });
  const leftOut = new Map(p.inSupply.filter((m) => leftOutById.has(m.id)).map((m) => [m.externalId, leftOutById.get(m.id)!]));
  const historyHours = Math.max(0, Math.round((Math.floor(p.win.dataCutoff / HOUR_MS) * HOUR_MS - p.loaded.startMs) / HOUR_MS));
  const hoursWithoutValue = p.loaded.coverage.reduce((a, c) => a + Math.max(0, historyHours - c.hours), 0);
  const hm = Array.isArray(p.info.historyMean) ? (p.info.historyMean as string[]) : [];
  const weakFallbacks = hm.map((id) => ({
    meter: id.replace(/^meter:/, ''),
    note: 'forecast from the mean of its own values by day type and hour (its data ended more than 8 weeks before the cut-off, or is too sparse for the weekly lags)',
  }));
  return runSummary({ members, leftOut, hoursWithoutValue, holidays: p.target.holidays, weakFallbacks, weather: p.loaded.weather });
}

function runMetadata(target: ResolvedTarget, inSupply: number, loaded: Awaited<ReturnType<typeof loadTargetSeries>>, win: { fromMs: number; toMs: number; dataCutoff: number }) {
  const historyHours = Math.round((win.dataCutoff - loaded.startMs) / HOUR_MS);
  const withData = loaded.coverage.filter((c) => c.hours > 0);
  return {
    target: target.text,
    timezone: target.timezone,
    country: target.country,
    dayAheadCutoff: target.dayAheadCutoff,
    meters: { members: target.meters.length, inSupply, withHistory: withData.length },
    history: {
      from: new Date(loaded.startMs).toISOString(),
      hours: historyHours,
      valueHours: withData.reduce((a, c) => a + c.hours, 0),
      estimatedHours: withData.reduce((a, c) => a + c.estimated, 0),
      metersWithoutHistory: loaded.coverage
        .filter((c) => c.hours === 0)
        .map((c) => c.meter)
        .slice(0, 50),
    },
    weather: loaded.weather,
  };
}

/** Hours of the local month holding `ms`. */
function monthHours(ms: number, tz: string): number {
  const r = localMonthRange(localDate(ms, tz).slice(0, 7), tz);
  return Math.round((r.toMs - r.fromMs) / HOUR_MS);
}

/** NaN and ±Infinity are not JSON: stored as null. */
function jsonSafe(v: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(v, (_k, x) => (typeof x === 'number' && !Number.isFinite(x) ? null : x)));
}

/* -------------------------------------------------------------- schedule */

/**
 * The newest due instant of a schedule entry at or before `now` in `tz`:
 * today's (or yesterday's) local HH:MM, or this (or the previous) hour's :MM.
 */
export function lastDue(entry: Pick<ScheduleEntry, 'every' | 'minute'>, now: number, tz: string): number {
  if (entry.every === 'hour') {
    const t = Math.floor(now / HOUR_MS) * HOUR_MS + entry.minute * 60_000;
    return t <= now ? t : t - HOUR_MS;
  }
  const today = localDate(now, tz);
  const t = localTimeOn(today, entry.minute, tz);
  return t <= now ? t : localTimeOn(shiftDate(today, -1), entry.minute, tz);
}

/** How late a due run may still be queued (service down at the time, restart): daily entries 12 h, hourly 30 min. */
const CATCH_UP_MS = { day: 12 * HOUR_MS, hour: HOUR_MS / 2 };

export interface RetrainResult {
  readonly promoted: boolean;
  readonly [k: string]: unknown;
}
/** Retrains the ML champion of a target (the ML helper's entry point). */
export type RetrainFn = (database: Database, target: string, opts: { now: number }) => Promise<RetrainResult>;

/**
 * Queues the forecast runs the schedule says are due (one per entry, target
 * and due instant: an existing run with the same target, horizon and issue
 * time means it is already done or queued, also by another instance) and
 * returns the retrain jobs due. Unknown targets are skipped and reported.
 * `seen` (kept by the worker across ticks) remembers what was handled, so a
 * tick costs one query (the portfolio list) when nothing is due, and a skip
 * is reported once. With `claimRound` (mdm serve), instances sharing the
 * database queue each due run (and retrain) once: the instance that claims
 * the round `forecast.<action>|<target>` at the due instant.
 */
export async function enqueueDue(
  database: Database,
  entries: readonly ScheduleEntry[],
  now: number,
  seen: Set<string> = new Set(),
  claimRound?: ClaimRound,
): Promise<{ queued: number[]; retrain: { target: string; due: number }[]; skipped: string[] }> {
  const queued: number[] = [];
  const retrain: { target: string; due: number }[] = [];
  const skipped: string[] = [];
  if (entries.length === 0) return { queued, retrain, skipped };
  const portfolios = new Map((await listPortfolios(database)).filter((p) => p.meters > 0).map((p) => [p.id, p.timezone]));
  const zones = new Map<string, string | { reason: string }>();
  const zoneOf = async (text: string): Promise<string | { reason: string }> => {
    let z = zones.get(text);
    if (z === undefined) {
      const parsed = parseTarget(text);
      if (!parsed.ok) z = { reason: parsed.reason };
      else if (parsed.target.kind === 'portfolio') z = portfolios.get(parsed.target.id) ?? { reason: `portfolio "${parsed.target.id}" has no meters` };
      else {
        const r = await resolveTarget(database, parsed.target);
        z = r.ok ? r.target.timezone : { reason: r.reason };
      }
      zones.set(text, z);
    }
    return z;
  };
  if (seen.size > 10_000) seen.clear();
  for (const e of entries) {
    const targets = e.targets.length ? e.targets : [...portfolios.keys()].map((id) => `portfolio:${id}`);
    for (const text of targets) {
      let key: string | undefined;
      try {
        const zone = await zoneOf(text);
        if (typeof zone !== 'string') {
          const skip = `skip|${e.text}|${text}`;
          if (!seen.has(skip)) skipped.push(`${e.text}: ${zone.reason}`);
          seen.add(skip);
          continue;
        }
        const due = lastDue(e, now, zone);
        key = `${e.action}|${text}|${due}`;
        if (now - due > CATCH_UP_MS[e.every] || seen.has(key)) continue;
        seen.add(key);
        if (claimRound && !(await claimRound(`forecast.${e.action}|${text}`, new Date(due)))) continue; // another instance's
        if (e.action === 'retrain') {
          retrain.push({ target: text, due });
          continue;
        }
        if (await runExists(database, { target: text, horizon: e.action, issueTime: new Date(due) })) continue;
        queued.push(await createRun(database, { target: text, horizon: e.action, model: 'auto', issueTime: new Date(due), requestedBy: 'schedule' }));
      } catch (err) {
        // One target the schedule cannot handle (issue 11) is reported once and tried again next tick; the others are queued.
        if (!isolable(err)) throw err;
        if (key) seen.delete(key);
        const failed = `failed|${e.text}|${text}`;
        if (!seen.has(failed)) skipped.push(`${e.text}: ${text}: ${failureMessage(err)}`);
        seen.add(failed);
      }
    }
  }
  return { queued, retrain, skipped };
}

/* ---------------------------------------------------------------- worker */

/** Structurally the logger `mdm serve` hands its components. */
export type ForecastLog = ComponentLog;

export interface ForecastWorkerOptions {
  readonly database: Database;
  readonly engine: ForecastEngine;
  /** Queue poll and schedule check every this many ms. */
  readonly pollMs: number;
  readonly schedule?: readonly ScheduleEntry[];
  readonly retrain?: RetrainFn;
  /** A running run without a heartbeat for this long is taken as abandoned (default 2 min). */
  readonly staleMs?: number;
  /** Attempts before an abandoned run fails instead of being requeued (default 2). */
  readonly maxAttempts?: number;
  readonly now?: () => number;
  readonly timers?: Timers;
  /** Runs executed at once (default 1): one per forecast thread. */
  readonly concurrency?: number;
  /**
   * Where the engine computes (forecast/forecast-threads.ts): its probe is
   * shown under `threads`, and stop() closes it once the worker has stopped
   * taking runs (a run still computing then stays `running` and is recovered
   * at the next start).
   */
  readonly threads?: { probe(): object; close(): Promise<void> };
  /** Instances sharing the database queue each scheduled run once (enqueueDue); none: always. */
  readonly claimRound?: ClaimRound;
  /** Run durations by status, for the instance's metrics. */
  readonly work?: WorkMetrics;
}

export interface ForecastWorker {
  readonly name: 'forecast';
  readonly probe: { readonly name: string; check(): { ok: boolean; [k: string]: unknown } };
  start(log?: ForecastLog): Promise<void>;
  stop(): Promise<void>;
  /** One tick now (what the timer does): recover abandoned runs, queue due runs, run retrains, run queued runs until none is left. */
  tick(): Promise<void>;
  /** Retrains and members that failed (what the probe lists). */
  readonly failing: FailingItems;
}

const STOP_WAIT_MS = 10_000;

/**
 * The queue worker of `mdm serve` (component `forecast`): `concurrency` runs
 * at a time per process, one per forecast thread (models are CPU-bound and
 * computed off the main thread, forecast/forecast-threads.ts; instances
 * sharing a server database split the queue, SKIP LOCKED). On start, runs left running are recovered:
 * at once on the embedded database (one process holds the data dir, so every
 * running run is an orphan), after `staleMs` without heartbeat on a server.
 */
export function createForecastWorker(o: ForecastWorkerOptions): ForecastWorker {
  const now = o.now ?? Date.now;
  const staleMs = o.staleMs ?? 120_000;
  const maxAttempts = o.maxAttempts ?? 2;
  const workerId = `${process.pid}-${randomBytes(4).toString('hex')}`;
  let log: ComponentLog = silentLog;
  let stopping = false;
  const concurrency = Math.max(1, o.concurrency ?? 1);
  // Runs in progress, oldest first (the probe's `running` is the oldest).
  const current = new Map<number, { id: number; target: string; horizon: string; progress: number }>();
  let last: { id: number; status: string; at: string } | undefined;
  let done = 0;
  let partial = 0;
  let failed = 0;
  const seen = new Set<string>();
  const reporter = failureReporter(() => log, 'forecast');
  // Retrains are retried when the schedule says, members at the target's next run: the backoff only spaces the log lines.
  const failing = createFailingItems({ now, report: reporter.report });
  const onMembers: ExecuteOptions['onMembers'] = (target, r) => {
    for (const f of r.failed) failing.fail(`member|${target}|${f.meter}`, f.error, { target, meter: f.meter, stage: 'history load (left out of the run)' });
    if (failing.size) for (const m of r.loaded) failing.succeed(`member|${target}|${m}`);
  };

  async function recover(ms: number) {
    const r = await recoverStaleRuns(o.database, { staleMs: ms, maxAttempts });
    if (r.requeued.length) log.warn({ runs: r.requeued }, 'forecast runs left running by a stopped worker: queued again');
    if (r.failed.length) log.error({ runs: r.failed }, 'forecast runs left running twice by a stopped worker: failed');
  }

  async function tick(): Promise<void> {
    await recover(staleMs);
    const due = await enqueueDue(o.database, o.schedule ?? [], now(), seen, o.claimRound);
    if (due.queued.length) log.info({ runs: due.queued }, 'scheduled forecast runs queued');
    for (const s of due.skipped) log.warn({ entry: s }, 'forecast schedule entry skipped');
    for (const r of due.retrain) {
      if (!o.retrain) {
        log.warn({ target: r.target }, 'retrain scheduled but no ML retrain entry point is wired');
        continue;
      }
      try {
        log.info({ target: r.target, ...(await o.retrain(o.database, r.target, { now: now() })) }, 'ML model retrained');
        failing.succeed(`retrain|${r.target}`);
      } catch (err) {
        if (!isolable(err)) throw err;
        failing.fail(`retrain|${r.target}`, err, { target: r.target, stage: 'ML retrain' });
      }
    }
    // One lane per forecast thread: each claims and executes runs until none is queued.
    const lane = async () => {
      while (!stopping) {
        const run = await claimRun(o.database, workerId);
        if (!run) break;
        const cur = { id: run.id, target: run.target, horizon: run.horizon, progress: 0 };
        const traced = run.requestId ? { reqId: run.requestId } : {}; // the request that queued it (X-Request-Id): its lines and the run's share the id
        current.set(run.id, cur);
        let status: ForecastRun['status'];
        const started = now();
        try {
          log.info({ run: run.id, target: run.target, horizon: run.horizon, model: run.model, ...traced }, 'forecast run started');
          status = await executeRun({ database: o.database, engine: o.engine, now, onProgress: (f) => (cur.progress = f), onMembers }, run);
        } finally {
          // Whatever happens next (a logger that throws, the database gone), /health never shows this run as running again.
          current.delete(run.id);
        }
        o.work?.forecastRun(status, (now() - started) / 1000);
        if (status === 'done') done++;
        else if (status === 'partial') partial++;
        else failed++;
        last = { id: run.id, status, at: new Date(now()).toISOString() };
        // Called as methods: pino's need their `this` (an unbound call threw after every run and left it "running" in /health).
        if (status === 'done') log.info({ run: run.id, status, ...traced }, 'forecast run finished');
        else log.warn({ run: run.id, status, ...traced }, 'forecast run finished');
      }
    };
    const lanes = await Promise.allSettled(Array.from({ length: concurrency }, lane));
    const broken = lanes.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (broken) throw broken.reason;
  }

  const loop = createPeriodic({
    tick: async () => {
      try {
        await tick();
      } catch (err) {
        if (err instanceof EngineStoppedError) return log.info('forecast run interrupted by the stop: it is recovered at the next start');
        throw err;
      }
    },
    everyMs: o.pollMs,
    timers: o.timers,
    onError: (err) => log.error({ err: err.message }, 'forecast worker tick failed'),
    afterTick: () => reporter.endTick(),
  });

  return {
    name: 'forecast',
    probe: {
      name: 'forecast',
      check: () => {
        const runs = [...current.values()].map((c) => ({ ...c }));
        return {
          ok: loop.lastError === undefined,
          running: runs[0] ?? null,
          ...(concurrency > 1 ? { runs } : {}),
          last: last ?? null,
          done,
          partial,
          failed,
          ...(o.threads ? { threads: o.threads.probe() } : {}),
          ...failing.probe(),
          ...(loop.lastError ? { error: loop.lastError } : {}),
        };
      },
    },
    async start(l) {
      log = l ?? silentLog;
      if (o.database.engine === 'pglite') await recover(0);
      loop.start();
    },
    async stop() {
      stopping = true;
      loop.halt();
      // A long fit is not waited for beyond STOP_WAIT_MS: the run stays `running` and is recovered at the next start.
      let t: NodeJS.Timeout | undefined;
      await Promise.race([loop.settled(), new Promise((r) => (t = setTimeout(r, STOP_WAIT_MS)))]);
      clearTimeout(t);
      if (o.threads) {
        // Terminating the threads ends a fit still running (its run rethrows EngineStoppedError): then nothing of the worker touches the database after stop.
        await o.threads.close();
        await Promise.race([loop.settled(), new Promise((r) => (t = setTimeout(r, STOP_WAIT_MS)))]);
        clearTimeout(t);
      }
    },
    tick,
    failing,
  };
}
