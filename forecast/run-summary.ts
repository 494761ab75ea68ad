import type { QuantileRow, SeriesData } from './model.js';
import type { HolidayChoice } from './target.js';
import type { WeatherSource } from './weather-vintages.js';
import { HOUR_MS } from '../models/time.js';

/**
 * What a forecast run says about itself at the top level (issue 12, defects
 * 1, 2 and 14): how many members it forecast and how much of their energy
 * that is, the values it left out of the history and why, the holiday
 * calendar it used, and warnings a reader must see. Stored as
 * `metadata.summary`; the API shows its fields at the top of every run. Pure.
 */

/** "Last month" of the energy share: the 30 days before the data cut-off. */
export const ENERGY_WINDOW_HOURS = 30 * 24;
/** Members named one by one in a warning or list (the rest are counted). */
const NAMED = 20;

export interface RunCoverage {
  /** Member meters in supply during the horizon. */
  readonly members: number;
  /** Members with a forecast for every hour of the horizon. */
  readonly forecast: number;
  /** forecast / members. */
  readonly share: number;
  /**
   * Share of the members' energy of the 30 days before the data cut-off
   * (interval values, hours with a value scaled up to the 720 hours) that
   * belongs to members forecast; null when no member has a value then.
   */
  readonly energyShare: number | null;
  /** Members without an interval value in those 30 days (their energy is unknown, not in energyShare). */
  readonly energyUnknown: number;
  /** Members not forecast (first 20), with the reason. */
  readonly notForecast: readonly { readonly meter: string; readonly reason: string }[];
}

export interface ValuesLeftOut {
  /** Active-import values of quality suspect or missing in the history window, all members. */
  readonly values: number;
  readonly suspect: number;
  readonly missing: number;
  /** Hours of the history without a usable value, summed over members (gaps and left-out values). */
  readonly hoursWithoutValue: number;
  /** Meters with left-out values (the 20 with most), with their counts. */
  readonly meters: readonly { readonly meter: string; readonly suspect: number; readonly missing: number }[];
  readonly reason: string;
}

export interface RunSummary {
  readonly coverage: RunCoverage;
  readonly valuesLeftOut: ValuesLeftOut;
  readonly holidayCalendar: { readonly country: string | null; readonly source: string };
  /**
   * Where the temperatures after the data cut-off came from (forecast/weather-source.ts):
   * stored forecast vintages issued by the cut-off, observations degraded by the
   * documented error model, or none. Absent on runs stored before issue 20.
   */
  readonly weatherSource?: WeatherSource;
  readonly warnings: readonly string[];
}

export const LEFT_OUT_REASON =
  'a forecast reads measured, validated, estimated and edited values only: hours holding a suspect or missing value are left out of the history ' +
  '(resolve their VEE issues, accept or edit, to use them)';

/** Energy (kWh) of a member's 720 hours before the cut-off, from the hours that have a value; undefined when none. */
export function recentEnergy(s: SeriesData, cutoffMs: number): number | undefined {
  const end = Math.max(0, Math.min(s.values.length, Math.floor((cutoffMs - s.startMs) / HOUR_MS)));
  let sum = 0;
  let n = 0;
  for (let i = Math.max(0, end - ENERGY_WINDOW_HOURS); i < end; i++) {
    const v = s.values[i];
    if (v === v) (sum += v), n++;
  }
  return n ? (sum / n) * ENERGY_WINDOW_HOURS : undefined;
}

/** True when `rows` hold a finite P50 for each of the `hours` hours from `fromMs`. */
export function coversHorizon(rows: readonly QuantileRow[] | undefined, fromMs: number, hours: number): boolean {
  if (!rows) return false;
  const seen = new Uint8Array(hours);
  let n = 0;
  for (const r of rows) {
    const i = (r.start - fromMs) / HOUR_MS;
    if (i >= 0 && i < hours && Number.isInteger(i) && Number.isFinite(r.p50) && !seen[i]) (seen[i] = 1), n++;
  }
  return n === hours;
}

export interface SummaryInput {
  /** External ids of the members in supply, with the reason each one was not forecast (absent: forecast). */
  readonly members: readonly { readonly meter: string; readonly notForecast?: string; readonly energy?: number }[];
  readonly leftOut: ReadonlyMap<string, { readonly suspect: number; readonly missing: number }>;
  readonly hoursWithoutValue: number;
  readonly holidays: HolidayChoice;
  /** Members forecast by a last-resort method (meter, note): listed as warnings. */
  readonly weakFallbacks?: readonly { readonly meter: string; readonly note: string }[];
  /** The run's weather source and the warning to show when it is simulated (TargetSeries.weather). */
  readonly weather?: { readonly source: WeatherSource; readonly warning?: string };
}

const pct = (x: number) => `${(x * 100).toFixed(1)} %`;

/**
 * The run's summary from what the job found.
 * @example runSummary({ members: [{ meter: 'A', energy: 100 }, { meter: 'B', notForecast: 'no data', energy: 300 }], leftOut: new Map(), hoursWithoutValue: 0, holidays })
 * // coverage { members: 2, forecast: 1, share: 0.5, energyShare: 0.25, … }, warnings ['1 of 2 members not forecast (25.0 % of …): B (no data)']
 */
export function runSummary(p: SummaryInput): RunSummary {
  const missed = p.members.filter((m) => m.notForecast !== undefined);
  const forecast = p.members.length - missed.length;
  let known = 0;
  let covered = 0;
  for (const m of p.members) {
    if (m.energy === undefined) continue;
    known += m.energy;
    if (m.notForecast === undefined) covered += m.energy;
  }
  const energyShare = known > 0 ? covered / known : null;
  const coverage: RunCoverage = {
    members: p.members.length,
    forecast,
    share: p.members.length ? forecast / p.members.length : 0,
    energyShare,
    energyUnknown: p.members.filter((m) => m.energy === undefined).length,
    notForecast: missed.slice(0, NAMED).map((m) => ({ meter: m.meter, reason: m.notForecast! })),
  };
  let suspect = 0;
  let missing = 0;
  const byMeter = [...p.leftOut].map(([meter, c]) => ((suspect += c.suspect), (missing += c.missing), { meter, suspect: c.suspect, missing: c.missing }));
  byMeter.sort((a, b) => b.suspect + b.missing - (a.suspect + a.missing) || (a.meter < b.meter ? -1 : 1));
  const valuesLeftOut: ValuesLeftOut = { values: suspect + missing, suspect, missing, hoursWithoutValue: p.hoursWithoutValue, meters: byMeter.slice(0, NAMED), reason: LEFT_OUT_REASON };

  const warnings: string[] = [];
  if (missed.length) {
    const named = missed
      .slice(0, 5)
      .map((m) => `${m.meter} (${m.notForecast})`)
      .join('; ');
    warnings.push(
      `${missed.length} of ${p.members.length} member(s) not forecast` +
        `${energyShare === null ? '' : `; the forecast members had ${pct(energyShare)} of the members' energy of the 30 days before the data cut-off`}` +
        `${coverage.energyUnknown ? ` (${coverage.energyUnknown} member(s) without a value then)` : ''}: the target's values leave them out. ${named}${missed.length > 5 ? `; and ${missed.length - 5} more` : ''}`,
    );
  }
  for (const f of (p.weakFallbacks ?? []).slice(0, 5)) warnings.push(`${f.meter}: ${f.note}`);
  if (valuesLeftOut.values) {
    warnings.push(`${valuesLeftOut.values} value(s) of ${byMeter.length} meter(s) left out of the history (${suspect} suspect, ${missing} missing): ${LEFT_OUT_REASON}`);
  }
  if (p.holidays.warning) warnings.push(p.holidays.warning);
  if (p.weather?.warning) warnings.push(p.weather.warning);
  return { coverage, valuesLeftOut, holidayCalendar: { country: p.holidays.country, source: p.holidays.source }, ...(p.weather ? { weatherSource: p.weather.source } : {}), warnings };
}
