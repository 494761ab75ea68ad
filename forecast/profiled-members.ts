import { localDate, localMonthRange } from '../models/calendar.js';
import { channelDef } from '../models/channel.js';
import { ANY_REGION } from '../models/profile-coefficient.js';
import type { Database } from '../sql/database.js';
import type { TargetMeterRow } from '../sql/forecast.repository.js';
import { findProfiledMeters, listProfileCoefficients, loadRegisterReads } from '../sql/profile-coefficient.repository.js';
import { sumQuantiles } from './backtest.js';
import type { FitContext, Horizon, QuantileRow, SeriesData } from './model.js';
import { coefficientModel, type CoefficientTarget } from './models/coefficient.js';
import { periodTotalFromRegister } from '../models/profile-coefficient-method.js';
import { DAY_MS, HOUR_MS } from '../models/time.js';

/**
 * Members without interval data in a forecast run (issue 5, model 2, "the
 * profile coefficient method"): which members take it, their monthly totals
 * from register (index) reads, and their hourly forecast by coefficientModel.
 * The forecast job (forecast/forecast-job.ts executeRun) calls
 * `forecastProfiledMembers` before the engine, which then sees only the
 * members with interval data; docs/forecasting.md "Meters without interval
 * data".
 *
 * - Selection: a member without an interval (active_import) value in the
 *   PROFILED_RECENT_DAYS (14) days before the data cut-off (nothing for the
 *   naive lags or the profile gate to read) takes the coefficient method.
 *   When that method cannot forecast it either, it stays with the engine if it
 *   has older interval values, else it is not forecast; the reason is kept.
 * - Monthly total of each month M of the horizon (`monthTotals`, register reads
 *   before the data cut-off only, read ≤ 3 days off the month bounds, pro rata):
 *   the same month a year earlier when its reads give a total; else the last
 *   full local month before the cut-off's month (then the one before it),
 *   scaled to M's length in hours. × the meter's multiplier (kWh).
 */

export const PROFILED_RECENT_DAYS = 14;
const REGISTER_TOLERANCE_MS = 3 * DAY_MS;
const REGISTER = channelDef('active_import_register');

export interface MonthTotal {
  /** kWh (multiplier applied) expected in the month. */
  readonly kWh: number;
  /** Where it comes from, for the run's metadata. */
  readonly basis: string;
}

const shiftMonth = (m: string, k: number): string => {
  const [y, mo] = m.split('-').map(Number);
  const i = y * 12 + (mo - 1) + k;
  return `${Math.floor(i / 12)}-${String((i % 12) + 1).padStart(2, '0')}`;
};

/** Local months `YYYY-MM` touched by [fromMs, toMs). */
export function monthsOf(fromMs: number, toMs: number, tz: string): string[] {
  const out: string[] = [];
  for (let m = localDate(fromMs, tz).slice(0, 7); localMonthRange(m, tz).fromMs < toMs; m = shiftMonth(m, 1)) out.push(m);
  return out;
}

/**
 * Expected consumption of each of `months` from register reads known at
 * `cutoffMs` (module rule: same month last year, else the last full month
 * (or the one before) scaled by hours), or the reason there is none.
 * @example monthTotals(reads, ['2026-03'], 'Europe/Istanbul', Date.parse('2026-03-15T06:00Z'), 1)
 * // { totals: { '2026-03': { kWh: 1116, basis: 'last full month 2026-02: 1008 kWh over 672 h, × 744/672 h' } } }
 */
export function monthTotals(
  reads: readonly { atMs: number; value: number }[],
  months: readonly string[],
  tz: string,
  cutoffMs: number,
  multiplier: number,
): { totals: Record<string, MonthTotal> } | { reason: string } {
  const known = reads.filter((r) => r.atMs <= cutoffMs);
  const hoursOf = (m: string) => {
    const r = localMonthRange(m, tz);
    return Math.round((r.toMs - r.fromMs) / HOUR_MS);
  };
  const totalOf = (m: string) => {
    const r = localMonthRange(m, tz);
    if (r.toMs > cutoffMs) return { reason: `${m} is not over at the data cut-off` };
    return periodTotalFromRegister(known, r.fromMs, r.toMs, REGISTER_TOLERANCE_MS);
  };
  const lastFull = shiftMonth(localDate(cutoffMs, tz).slice(0, 7), -1);
  const totals: Record<string, MonthTotal> = {};
  for (const m of months) {
    const year = shiftMonth(m, -12);
    const ly = totalOf(year);
    if ('total' in ly) {
      totals[m] = { kWh: ly.total * multiplier, basis: `same month last year ${year}: ${round(ly.total * multiplier)} kWh${ly.prorated ? ' (pro rata)' : ''}` };
      continue;
    }
    const reasons = [`${year}: ${ly.reason}`];
    for (const recent of [lastFull, shiftMonth(lastFull, -1)]) {
      const t = totalOf(recent);
      if ('reason' in t) {
        reasons.push(`${recent}: ${t.reason}`);
        continue;
      }
      const kWh = (t.total * multiplier * hoursOf(m)) / hoursOf(recent);
      totals[m] = { kWh, basis: `last full month ${recent}: ${round(t.total * multiplier)} kWh over ${hoursOf(recent)} h, × ${hoursOf(m)}/${hoursOf(recent)} h${t.prorated ? ' (pro rata)' : ''}` };
      break;
    }
    if (!totals[m]) return { reason: `no monthly total for ${m} from register reads (active_import_register) before the data cut-off: ${reasons.join('; ')}` };
  }
  return { totals };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

/** Series ids of members without an interval value in the PROFILED_RECENT_DAYS days before `cutoffMs`. */
export function withoutRecentIntervals(members: readonly SeriesData[], cutoffMs: number): Set<string> {
  const out = new Set<string>();
  for (const s of members) {
    const end = Math.min(s.values.length, Math.floor((cutoffMs - s.startMs) / HOUR_MS));
    let any = false;
    for (let i = Math.max(0, end - PROFILED_RECENT_DAYS * 24); i < end && !any; i++) any = Number.isFinite(s.values[i]);
    if (!any) out.add(s.id);
  }
  return out;
}

export interface ProfiledMemberForecast {
  readonly id: string;
  readonly meter: string;
  readonly rows: QuantileRow[];
  readonly info: Readonly<Record<string, unknown>>;
}

export interface ProfiledResult {
  /** Members forecast by the coefficient method. */
  readonly forecast: ProfiledMemberForecast[];
  /** Candidates the method could not forecast, with the reason. */
  readonly failed: { readonly id: string; readonly meter: string; readonly reason: string }[];
}

/**
 * Forecasts `candidates` (members without recent interval values) with the
 * profile coefficient method over `horizon`: loads their meter fields,
 * register reads up to the data cut-off and the coefficients of the horizon's
 * months, then coefficientModel per member. Never throws for a member: a
 * missing profile class, total or coefficient is its `failed` reason.
 */
export async function forecastProfiledMembers(database: Database, candidates: readonly TargetMeterRow[], ctx: FitContext, horizon: Horizon): Promise<ProfiledResult> {
  const forecast: ProfiledMemberForecast[] = [];
  const failed: ProfiledResult['failed'] = [];
  if (candidates.length === 0) return { forecast, failed };
  const fields = new Map(
    (
      await findProfiledMeters(
        database,
        candidates.map((m) => m.externalId),
      )
    ).map((m) => [m.externalId, m]),
  );
  const windows = candidates.map((m) => ({ meterId: m.id, fromMs: ctx.dataCutoff - 400 * DAY_MS, toMs: ctx.dataCutoff }));
  const reads = await loadRegisterReads(database, windows, REGISTER.code);
  const periods = [...new Set(candidates.flatMap((m) => monthsOf(horizon.fromMs, horizon.toMs, m.timezone)))];
  const withClass = [...fields.values()].filter((m) => m.profileClass !== null);
  const coefficients = withClass.length
    ? await listProfileCoefficients(database, {
        periods,
        regions: [...new Set([ANY_REGION, ...withClass.flatMap((m) => (m.region ? [m.region] : []))])],
        profileGroups: [...new Set(withClass.map((m) => m.profileClass!))],
      })
    : [];
  for (const m of candidates) {
    const id = `meter:${m.externalId}`;
    const fail = (reason: string) => failed.push({ id, meter: m.externalId, reason });
    const f = fields.get(m.externalId);
    if (!f?.profileClass) {
      fail('no interval data and no profileClass (its subscriber profile group) for the profile coefficient method: set it with PUT /v1/meters');
      continue;
    }
    const months = monthsOf(horizon.fromMs, horizon.toMs, f.timezone);
    const totals = monthTotals(reads.get(m.id) ?? [], months, f.timezone, ctx.dataCutoff, f.multiplier);
    if ('reason' in totals) {
      fail(totals.reason);
      continue;
    }
    const meter = { region: f.region, tariff: f.tariff, profileClass: f.profileClass, timezone: f.timezone };
    const target: CoefficientTarget = { meter, monthlyTotals: Object.fromEntries(Object.entries(totals.totals).map(([k, v]) => [k, v.kWh])) };
    const series: SeriesData = { id, timezone: f.timezone, startMs: horizon.fromMs, values: new Float64Array(0) };
    try {
      const fitted = await coefficientModel({ coefficients, targets: { [id]: target } }).fit([series], { issueTime: ctx.issueTime, dataCutoff: ctx.dataCutoff, country: ctx.country });
      const rows = (await fitted.predict(horizon))[0];
      if (rows.some((r) => !Number.isFinite(r.p50))) {
        fail('the profile coefficient method left hours without a value');
        continue;
      }
      forecast.push({
        id,
        meter: m.externalId,
        rows,
        info: {
          method: 'coefficients',
          why: `no interval value in the ${PROFILED_RECENT_DAYS} days before the data cut-off`,
          region: f.region,
          tariff: f.tariff,
          profileClass: f.profileClass,
          totals: totals.totals,
          band: (fitted.info as { band?: number }).band,
        },
      });
    } catch (err) {
      fail((err as Error).message);
    }
  }
  return { forecast, failed };
}

/** Σ of member series hour by hour (NaN where one is unknown), the aggregate the engine sees for the members it forecasts. */
export function aggregateOf(like: SeriesData, members: readonly SeriesData[]): SeriesData {
  const values = new Float64Array(like.values.length);
  const estimated = new Uint8Array(like.values.length);
  for (const s of members) {
    for (let i = 0; i < values.length; i++) {
      values[i] += s.values[i];
      if (s.estimated?.[i]) estimated[i] = 1;
    }
  }
  return { ...like, values, estimated };
}

/** Adds member rows (profiled members) to target rows hour by hour (sumQuantiles); `base` undefined: the members' sum alone. */
export function addRows(base: readonly QuantileRow[] | undefined, parts: readonly (readonly QuantileRow[])[], horizon: Horizon): QuantileRow[] {
  const n = Math.round((horizon.toMs - horizon.fromMs) / HOUR_MS);
  const byHour = Array.from({ length: n }, () => [] as QuantileRow[]);
  // An hour the engine left without a target value stays without one (a partial sum would look complete).
  const baseKnown = new Uint8Array(n).fill(base ? 0 : 1);
  for (const [k, rows] of [...(base ? [base] : []), ...parts].entries()) {
    for (const r of rows) {
      const i = Math.round((r.start - horizon.fromMs) / HOUR_MS);
      if (i < 0 || i >= n || !Number.isFinite(r.p50)) continue;
      byHour[i].push(r);
      if (base && k === 0) baseKnown[i] = 1;
    }
  }
  return byHour.map((rs, i) => ({ start: horizon.fromMs + i * HOUR_MS, ...(rs.length && baseKnown[i] ? sumQuantiles(rs) : { p10: NaN, p50: NaN, p90: NaN }) }));
}
