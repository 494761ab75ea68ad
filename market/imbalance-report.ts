import type { FillMode } from '../models/market.js';
import { qualityCode, sourceCode } from '../models/reading.js';
import { imbalanceCost, type MeterHourStatus } from './imbalance.js';
import { hourlyGrid, periodIndexCeil, periodTable, shortestPeriod, type PeriodGrid, type SpreadRule } from './settlement-periods.js';

/**
 * The imbalance reports of a portfolio (per hour, per meter) computed from
 * plain inputs: what sql/imbalance.repository.ts reads (each member's raw
 * active-import values, forecast values and nominations, the hours' positions,
 * prices and rule) in, figures out. Pure; the rules are market/imbalance.ts
 * (meterHourActual, imbalanceCost) and docs/imbalance.md:
 *
 * Per hour h (UTC hour start, index from `fromMs`), energies in MWh, prices per MWh:
 * - a member is expected in h from expectedFromMs until expectedToMs (the repository derives them from
 *   supplyStart/supplyEnd, else the first active-import value or the registration; null: never)
 * - actual_m: Σ values of the hour × multiplier / 1000, firm (measured, validated, edited, suspect; profile
 *   estimates) and VEE-estimated apart, with the minutes they cover; meterHourActual decides with `fill`
 * - weight_m: the meter's nomination when the hour has nominations, else the P50 of the newest day-ahead run
 *   (the highest rank) that has one for h, kWh / 1000
 * - allocated_m = position × w_m / Σw when Σw > 0; a meter without a weight gets 0; otherwise the position is
 *   split equally among the meters with a weight (all meters of the hour when none has one)
 * - an hour in which an expected member has no actual (nor a fill) is not counted: no consumption, imbalance
 *   or costs, and every meter's figures leave it out
 * - prices: published positive/negative imbalance prices, else the rule min(PTF, SMF) × (1 − kPositive),
 *   max(PTF, SMF) × (1 + kNegative); an hour without PTF or either price is unpriced
 * - cost(q) = (PTF − positive) × q for q ≥ 0, (negative − PTF) × −q for q < 0; standalone_m = cost(q_m);
 *   meter cost_m = cost(imbalance) × standalone_m / Σ standalone (0 when Σ standalone ≤ 0)
 * The report's hours: every hour with a position or a meter row (a value, forecast or nomination), and
 * every finished hour (start ≤ the last finished hour before `nowMs`) in which some member is expected.
 *
 * Settlement periods (issue 16, market/settlement-periods.ts): "hour" above is the area's settlement period, the
 * `grid` of the input (hourly when absent). Where a period is shorter than an hour, a value (or a day-ahead P50)
 * covering several periods is spread over them by the `spread` rule — flat: equal parts; profile: in proportion to
 * the firm values of the members that measure at the period (flat when they have none) — and each part covers its
 * period; such meter-periods are flagged (ReportHour.spreadMeters, MeterImbalanceRow.spreadPeriods).
 */

/** Per value, columns (one entry per stored value of channel 1 in the range, any order). */
export interface MeterValues {
  /** Hour index from `fromMs` (the value's start, floored to its UTC hour). */
  readonly hour: Int32Array;
  /** kWh, before the multiplier. */
  readonly value: Float64Array;
  readonly quality: Int16Array;
  readonly source: Int16Array;
  /** The value's own interval in minutes, or −1: the meter's interval. */
  readonly minutes: Int16Array;
}

/** Day-ahead P50 values (kWh) of the meter, each with its run's rank: a higher rank is a newer run (issue time, then id). */
export interface MeterForecasts {
  readonly hour: Int32Array;
  readonly p50: Float64Array;
  readonly rank: Int32Array;
}

export interface MeterNominations {
  readonly hour: Int32Array;
  readonly mwh: Float64Array;
}

export interface ImbalanceMember {
  readonly meter: string;
  readonly multiplier: number;
  readonly intervalMinutes: number;
  /** First instant (a UTC hour start) the meter is expected to have consumption; null: never. */
  readonly expectedFromMs: number | null;
  /** First instant it no longer is, or null. */
  readonly expectedToMs: number | null;
  readonly values: MeterValues;
  readonly forecasts: MeterForecasts;
  readonly nominations: MeterNominations;
}

/** One hour of the range: the portfolio's position (null: no row) and the area's prices (null: absent or held as unpublished). */
export interface HourMarket {
  readonly position: { readonly bilateral: number; readonly dayAhead: number; readonly intraday: number } | null;
  readonly ptf: number | null;
  readonly smf: number | null;
  readonly positiveImbalance: number | null;
  readonly negativeImbalance: number | null;
  /** Some price of the hour is held as not yet published. */
  readonly held: boolean;
  readonly systemDirection: string | null;
  /** The imbalance price rule in force on the hour's local date, or null. */
  readonly rule: { readonly kPositive: number; readonly kNegative: number } | null;
}

export interface ImbalanceInput {
  readonly fromMs: number;
  /** The settlement periods of the range (one per entry of `hours`); absent: whole hours from fromMs. */
  readonly grid?: PeriodGrid;
  /** How a value longer than its period is spread; default the grid's rule. */
  readonly spread?: SpreadRule;
  /** One per hour of [from, to), in order. */
  readonly hours: readonly HourMarket[];
  readonly members: readonly ImbalanceMember[];
  readonly fill: FillMode;
  readonly nowMs: number;
}

/** One hour of the report (figures null where the SQL of the report has null: not counted, unpriced, nothing to add). */
export interface ReportHour {
  readonly index: number;
  readonly startMs: number;
  /** Length of the settlement period. */
  readonly minutes: number;
  /** Meters whose value in the period is a part of a longer (hourly) value spread by the rule. */
  readonly spreadMeters: number;
  readonly bilateral: number;
  readonly dayAhead: number;
  readonly intraday: number;
  readonly position: number;
  readonly counted: boolean;
  readonly priced: boolean;
  readonly held: boolean;
  /** Consumption and imbalance (position − consumption) of a counted hour. */
  readonly consumption: number | null;
  readonly imbalance: number | null;
  readonly ptf: number | null;
  readonly smf: number | null;
  readonly positivePrice: number | null;
  readonly negativePrice: number | null;
  readonly priceSource: 'published' | 'rule' | null;
  readonly systemDirection: string | null;
  readonly cost: number | null;
  /** Σ the meters' standalone costs (counted and priced hours). */
  readonly standalone: number | null;
  readonly withActuals: number;
  readonly provisionalMeters: number;
  readonly missingMeters: number;
  /** Σ provisional consumption of the hour (null: no provisional meter). */
  readonly provisionalEnergy: number | null;
}

export interface MeterImbalanceRow {
  readonly meter: string;
  /** Σ actual consumption over the counted hours, MWh. */
  readonly energy: number;
  /** Σ (allocated − actual), MWh. */
  readonly imbalance: number;
  /** Σ share of the portfolio's cost (pro rata to standalone costs). */
  readonly cost: number;
  /** Σ standalone costs. */
  readonly standalone: number;
  /** Hours the meter was expected and has no actual (nor, with a fill, a provisional value). */
  readonly missingActualHours: number;
  /** Counted hours in which its actual is (partly) a provisional value; and that energy, MWh. */
  readonly provisionalHours: number;
  readonly provisionalEnergy: number;
  /** Periods in which its value is a part of a longer (hourly) value spread by the rule. */
  readonly spreadPeriods: number;
}

export interface ImbalanceTotals {
  readonly hours: number;
  /** Hours without PTF, SMF or an imbalance price (rule): their costs are left out. */
  readonly unpricedHours: number;
  /** Of those, hours with a price held as not yet published. */
  readonly unpublishedPriceHours: number;
  /** Hours left out because a member's actual is missing. */
  readonly missingActualHours: number;
  /** Meter-hours without an actual (Σ over the hours of the members missing). */
  readonly missingMeterHours: number;
  readonly provisionalHours: number;
  readonly provisionalEnergy: number;
  /** Σ position over every hour; missingPosition: over the hours left out. */
  readonly position: number;
  readonly missingPosition: number;
  readonly energy: number;
  readonly imbalance: number;
  /** Σ hourly portfolio cost. */
  readonly cost: number;
  /** Σ hourly standalone costs of the meters. */
  readonly standalone: number;
}

/** Values that are the meter's consumption: measured, validated, edited, suspect (what the meter sent; VEE lists its doubts). */
const FIRM = [qualityCode('measured'), qualityCode('validated'), qualityCode('edited'), qualityCode('suspect')];
const ESTIMATED = qualityCode('estimated');
/** Profile estimates (migration 013) are the settlement basis of a profiled meter: firm, not provisional. */
const PROFILE = sourceCode('profile');

/** Meter-hour status codes (as meterHourActual's statuses) in the flat arrays; NONE: the meter has no row in the hour. */
export const STATUS = { actual: 0, absent: 1, estimate: 2, forecast: 3, missing: 4 } as const satisfies Record<MeterHourStatus, number>;
const NONE = 255;
/** Bit of the code array: the meter is expected in the hour. */
const EXPECTED = 8;
/** Bit of the code array: the meter's value in the period is spread from a longer one. */
const SPREAD = 16;

/**
 * meterHourActual over numbers, without an object per meter-hour: the status code, and the actual in
 * `out[0]` (NaN when missing). test/imbalance-report.test.ts checks it against meterHourActual.
 */
export function hourActual(
  expected: boolean,
  firm: number,
  firmMinutes: number,
  est: number,
  estMinutes: number,
  forecast: number,
  useEst: boolean,
  useFc: boolean,
  out: Float64Array,
  periodMinutes = 60,
): number {
  // firm, est: 0 when none (the SQL's COALESCE); forecast: NaN when none.
  if (firmMinutes >= periodMinutes) {
    out[0] = firm;
    return STATUS.actual;
  }
  if (!expected) {
    out[0] = firm;
    return STATUS.absent;
  }
  if (useEst && firmMinutes + estMinutes >= periodMinutes) {
    out[0] = firm + est;
    return STATUS.estimate;
  }
  if (useFc && forecast === forecast) {
    const covered = firmMinutes + (useEst ? estMinutes : 0);
    out[0] = firm + (useEst ? est : 0) + (forecast * Math.max(0, periodMinutes - covered)) / periodMinutes;
    return STATUS.forecast;
  }
  out[0] = Number.NaN;
  return STATUS.missing;
}

/** What every meter-hour holds after the first pass, flat (meter × hours). */
interface MeterHours {
  /** Status (low bits; NONE: no row) | EXPECTED. */
  readonly code: Uint8Array;
  /** The actual, NaN when missing; after the second pass: the standalone cost, NaN when none. */
  readonly value: Float64Array;
  /** The meter's weight: its nomination in an hour that has nominations, else its forecast; NaN: none. */
  readonly weight: Float64Array;
}

/** Per hour, over the meters that have a row in it. */
interface HourSums {
  readonly rows: Int32Array;
  readonly nominated: Uint8Array;
  /** Meters with a weight and Σ weights. */
  readonly nw: Int32Array;
  readonly wsum: Float64Array;
  readonly withActual: Int32Array;
  readonly actualSum: Float64Array;
  readonly nActual: Int32Array;
  readonly nProv: Int32Array;
  readonly provSum: Float64Array;
  readonly nOk: Int32Array;
  /** Meters whose value in the period is spread from a longer one. */
  readonly nSpread: Int32Array;
}

/** Hours in which some meter has a nomination (its weights are then the nominations). */
function nominatedHours(members: readonly ImbalanceMember[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (const mem of members) for (const h of mem.nominations.hour) if (h >= 0 && h < n) out[h] = 1;
  return out;
}

/** One meter's hours: Σ firm and estimated values and their minutes, the newest forecast, the nomination (scratch, reset per meter). */
class MeterScratch {
  readonly row: Uint8Array;
  readonly firm: Float64Array;
  readonly firmOwn: Int32Array;
  readonly firmMeter: Int32Array;
  readonly est: Float64Array;
  readonly estOwn: Int32Array;
  readonly estMeter: Int32Array;
  readonly fcRank: Int32Array;
  readonly fc: Float64Array;
  readonly nom: Float64Array;
  /** Periods with a part of a spread value. */
  readonly spread: Uint8Array;
  constructor(n: number) {
    this.spread = new Uint8Array(n);
    this.row = new Uint8Array(n);
    this.firm = new Float64Array(n);
    this.firmOwn = new Int32Array(n);
    this.firmMeter = new Int32Array(n);
    this.est = new Float64Array(n);
    this.estOwn = new Int32Array(n);
    this.estMeter = new Int32Array(n);
    this.fcRank = new Int32Array(n).fill(-1);
    this.fc = new Float64Array(n);
    this.nom = new Float64Array(n).fill(Number.NaN);
  }
  reset(): void {
    this.row.fill(0);
    this.firm.fill(0);
    this.firmOwn.fill(0);
    this.firmMeter.fill(0);
    this.est.fill(0);
    this.estOwn.fill(0);
    this.estMeter.fill(0);
    this.fcRank.fill(-1);
    this.nom.fill(Number.NaN);
    this.spread.fill(0);
  }
  /** Adds the meter's values, forecasts and nominations (`sp`: the periods, when some is shorter than an hour). */
  add(mem: ImbalanceMember, n: number, sp?: Spreader): void {
    const { hour, value, quality, source, minutes } = mem.values;
    for (let k = 0; k < hour.length; k++) {
      const h = hour[k];
      if (h >= n || (h < 0 && !sp)) continue;
      const q = quality[k];
      if (sp && (q === ESTIMATED || q === FIRM[0] || q === FIRM[1] || q === FIRM[2] || q === FIRM[3])) {
        const dur = minutes[k] < 0 ? mem.intervalMinutes : minutes[k];
        if (dur > sp.minutesAt(h)) {
          const firm = q !== ESTIMATED || source[k] === PROFILE;
          const c = sp.parts(h, dur, n);
          for (let j = sp.first; j < sp.first + c; j++) {
            const part = value[k] * sp.share[j - sp.first];
            this.row[j] = 1;
            this.spread[j] = 1;
            if (firm) {
              this.firm[j] += part;
              this.firmOwn[j] += sp.minutes[j];
            } else {
              this.est[j] += part;
              this.estOwn[j] += sp.minutes[j];
            }
          }
          continue;
        }
      }
      if (h < 0) continue;
      this.row[h] = 1;
      if (q === FIRM[0] || q === FIRM[1] || q === FIRM[2] || q === FIRM[3] || (q === ESTIMATED && source[k] === PROFILE)) {
        this.firm[h] += value[k];
        if (minutes[k] < 0) this.firmMeter[h]++;
        else this.firmOwn[h] += minutes[k];
      } else if (q === ESTIMATED) {
        this.est[h] += value[k];
        if (minutes[k] < 0) this.estMeter[h]++;
        else this.estOwn[h] += minutes[k];
      }
    }
    const fc = mem.forecasts;
    for (let k = 0; k < fc.hour.length; k++) {
      const h = fc.hour[k];
      if (h >= n || (h < 0 && !sp)) continue;
      // Day-ahead values are hourly (forecast/engine.ts): spread over shorter periods like an hourly value.
      const spread = sp !== undefined && sp.minutesAt(h) < 60;
      const c = spread ? sp.parts(h, 60, n) : h < 0 ? 0 : 1;
      const first = spread ? sp.first : h;
      for (let j = first; j < first + c; j++) {
        this.row[j] = 1;
        if (fc.rank[k] > this.fcRank[j]) {
          this.fcRank[j] = fc.rank[k];
          this.fc[j] = spread ? fc.p50[k] * sp.share[j - first] : fc.p50[k];
        }
      }
    }
    const nm = mem.nominations;
    for (let k = 0; k < nm.hour.length; k++) {
      const h = nm.hour[k];
      if (h < 0 || h >= n) continue;
      this.row[h] = 1;
      if (!(nm.mwh[k] <= this.nom[h])) this.nom[h] = nm.mwh[k]; // the largest, as max()
    }
  }
}

/**
 * Splits a value that covers several periods (an hourly value in 15-minute periods) into them: `parts` sets
 * `share` (Σ 1) and returns how many periods from h the value covers. Flat: equal parts; profile: in proportion
 * to `shape` (the firm values of the members that measure at the period), flat where that is 0.
 */
class Spreader {
  readonly start: Float64Array;
  readonly minutes: Int16Array;
  readonly share = new Float64Array(96);
  /** After parts(): the first period (in the range) of the value. */
  first = 0;
  private readonly fromMs: number;
  /** Length of the first segment's periods: a value starting before the range (h < 0) is on its grid. */
  private readonly minutes0: number;
  constructor(
    grid: PeriodGrid,
    private readonly shape: Float64Array | null,
  ) {
    const t = periodTable(grid);
    this.start = t.start;
    this.minutes = t.minutes;
    this.fromMs = grid.fromMs;
    this.minutes0 = grid.segments[0]?.minutes ?? 60;
  }
  minutesAt(h: number): number {
    return h >= 0 ? this.minutes[h] : this.minutes0;
  }
  /** The periods in the range a value of `durMinutes` starting in period h covers (h < 0: before the range): sets `first` and `share`, returns how many. */
  parts(h: number, durMinutes: number, n: number): number {
    const start = h >= 0 ? this.start[h] : this.fromMs + h * this.minutes0 * 60_000;
    const end = start + durMinutes * 60_000;
    const a = Math.max(0, h);
    let c = 0;
    while (a + c < n && c < this.share.length && this.start[a + c] < end) c++;
    this.first = a;
    // Flat: a part per period of the value's whole length (its periods outside the range are not in it); the
    // profile only where the whole value is in the range.
    const whole = Math.max(c, Math.round(durMinutes / this.minutesAt(h)));
    let sum = 0;
    if (this.shape && c === whole) for (let j = 0; j < c; j++) sum += Math.max(0, this.shape[a + j]);
    for (let j = 0; j < c; j++) this.share[j] = sum > 0 ? Math.max(0, this.shape![a + j]) / sum : 1 / whole;
    return c;
  }
}

/** The profile of a period: Σ firm values × multiplier of the members whose values are no longer than their period. */
function periodShape(input: ImbalanceInput, minutes: Int16Array, n: number): Float64Array {
  const shape = new Float64Array(n);
  for (const mem of input.members) {
    const { hour, value, quality, minutes: own } = mem.values;
    for (let k = 0; k < hour.length; k++) {
      const h = hour[k];
      if (h < 0 || h >= n) continue;
      const q = quality[k];
      const dur = own[k] < 0 ? mem.intervalMinutes : own[k];
      if (dur <= minutes[h] && (q === FIRM[0] || q === FIRM[1] || q === FIRM[2] || q === FIRM[3])) shape[h] += value[k] * mem.multiplier;
    }
  }
  return shape;
}

/** First pass: each meter's hours (status, actual, weight) and the hours' sums over the meters. */
function gather(input: ImbalanceInput, n: number): { mh: MeterHours; sums: HourSums } {
  const m = input.members.length;
  const mh: MeterHours = { code: new Uint8Array(m * n).fill(NONE), value: new Float64Array(m * n), weight: new Float64Array(m * n) };
  const sums: HourSums = {
    rows: new Int32Array(n),
    nominated: nominatedHours(input.members, n),
    nw: new Int32Array(n),
    wsum: new Float64Array(n),
    withActual: new Int32Array(n),
    actualSum: new Float64Array(n),
    nActual: new Int32Array(n),
    nProv: new Int32Array(n),
    provSum: new Float64Array(n),
    nOk: new Int32Array(n),
    nSpread: new Int32Array(n),
  };
  const grid = gridOf(input);
  const sub = shortestPeriod(grid) < 60;
  const table = periodTable(grid);
  const rule = input.spread ?? grid.spread;
  const sp = sub ? new Spreader(grid, rule === 'profile' ? periodShape(input, table.minutes, n) : null) : undefined;
  const useEst = input.fill === 'estimate' || input.fill === 'estimate-or-forecast';
  const useFc = input.fill === 'forecast' || input.fill === 'estimate-or-forecast';
  const s = new MeterScratch(n);
  const out = new Float64Array(1);
  for (let i = 0; i < m; i++) {
    const mem = input.members[i];
    s.add(mem, n, sp);
    const ef = mem.expectedFromMs;
    const et = mem.expectedToMs;
    const k = mem.multiplier;
    const iv = mem.intervalMinutes;
    for (let h = 0, j = i * n; h < n; h++, j++) {
      if (!s.row[h]) continue;
      const t = table.start[h];
      const expected = ef !== null && t >= ef && (et === null || t < et);
      const firmMinutes = s.firmOwn[h] + s.firmMeter[h] * iv;
      const estMinutes = s.estOwn[h] + s.estMeter[h] * iv;
      const fc = s.fcRank[h] >= 0 ? s.fc[h] / 1000 : Number.NaN;
      const status = hourActual(expected, (s.firm[h] * k) / 1000, firmMinutes, (s.est[h] * k) / 1000, estMinutes, fc, useEst, useFc, out, table.minutes[h]);
      const actual = out[0];
      const w = sums.nominated[h] ? s.nom[h] : fc;
      mh.code[j] = status | (expected ? EXPECTED : 0) | (s.spread[h] ? SPREAD : 0);
      if (s.spread[h]) sums.nSpread[h]++;
      mh.value[j] = actual;
      mh.weight[j] = w;
      sums.rows[h]++;
      if (w === w) {
        sums.nw[h]++;
        sums.wsum[h] += w;
      }
      if (actual === actual) {
        sums.withActual[h]++;
        sums.actualSum[h] += actual;
      }
      if (status === STATUS.actual) sums.nActual[h]++;
      else if (status === STATUS.estimate || status === STATUS.forecast) {
        sums.nProv[h]++;
        sums.provSum[h] += actual;
      }
      if (expected && status !== STATUS.missing) sums.nOk[h]++;
    }
    s.reset();
  }
  return { mh, sums };
}

const gridOf = (input: ImbalanceInput): PeriodGrid => input.grid ?? hourlyGrid(input.fromMs, input.hours.length);

/** Members expected in each hour: a running sum over the edges of their windows (clipped to the range). */
function expectedMembers(input: ImbalanceInput, n: number): Int32Array {
  const edges = new Int32Array(n + 1);
  for (const mem of input.members) {
    const w = expectedWindow(input, mem, n);
    if (!w) continue;
    edges[w[0]]++;
    edges[w[1]]--;
  }
  const out = new Int32Array(n);
  let run = 0;
  for (let h = 0; h < n; h++) out[h] = run += edges[h];
  return out;
}

/** The hours [a, b) of the range in which the member is expected, or undefined. */
function expectedWindow(input: ImbalanceInput, mem: ImbalanceMember, n: number): [number, number] | undefined {
  if (mem.expectedFromMs === null) return undefined;
  const grid = gridOf(input);
  const a = Math.max(mem.expectedFromMs, grid.fromMs);
  const b = Math.min(mem.expectedToMs ?? grid.toMs, grid.toMs);
  return a < b ? [Math.min(n, periodIndexCeil(grid, a)), Math.min(n, periodIndexCeil(grid, b))] : undefined;
}

/** The report's hours, and per hour index what the meter passes read (NaN prices and cost: none). */
interface HourTable {
  readonly hours: ReportHour[];
  readonly inReport: Uint8Array;
  readonly counted: Uint8Array;
  /** Counted and priced. */
  readonly costed: Uint8Array;
  readonly position: Float64Array;
  readonly ptf: Float64Array;
  readonly ppos: Float64Array;
  readonly pneg: Float64Array;
  readonly cost: Float64Array;
}

function reportHours(input: ImbalanceInput, n: number, sums: HourSums, expn: Int32Array): HourTable {
  const table = periodTable(gridOf(input));
  const t: HourTable = {
    hours: [],
    inReport: new Uint8Array(n),
    counted: new Uint8Array(n),
    costed: new Uint8Array(n),
    position: new Float64Array(n),
    ptf: new Float64Array(n),
    ppos: new Float64Array(n),
    pneg: new Float64Array(n),
    cost: new Float64Array(n).fill(Number.NaN),
  };
  for (let h = 0; h < n; h++) {
    const startMs = table.start[h];
    const mk = input.hours[h];
    const finished = startMs + table.minutes[h] * 60_000 <= input.nowMs;
    if (!((expn[h] > 0 && finished) || sums.rows[h] > 0 || mk.position !== null)) continue;
    const position = mk.position ? mk.position.bilateral + mk.position.dayAhead + mk.position.intraday : 0;
    const { ptf, smf, rule } = mk;
    const ruled = ptf !== null && smf !== null && rule !== null;
    const ppos = mk.positiveImbalance ?? (ruled ? Math.min(ptf, smf) * (1 - rule.kPositive) : null);
    const pneg = mk.negativeImbalance ?? (ruled ? Math.max(ptf, smf) * (1 + rule.kNegative) : null);
    const missingMeters = expn[h] - sums.nOk[h];
    const counted = missingMeters === 0;
    const priced = ptf !== null && ppos !== null && pneg !== null;
    const actual = sums.withActual[h] ? sums.actualSum[h] : 0;
    const q = counted ? position - actual : null;
    const cost = priced && q !== null ? imbalanceCost(q, ptf, { positive: ppos, negative: pneg }) : null;
    t.inReport[h] = 1;
    t.counted[h] = counted ? 1 : 0;
    t.costed[h] = counted && priced ? 1 : 0;
    t.position[h] = position;
    if (priced) {
      t.ptf[h] = ptf;
      t.ppos[h] = ppos;
      t.pneg[h] = pneg;
    }
    if (cost !== null) t.cost[h] = cost;
    t.hours.push({
      index: h,
      startMs,
      minutes: table.minutes[h],
      spreadMeters: sums.nSpread[h],
      bilateral: mk.position?.bilateral ?? 0,
      dayAhead: mk.position?.dayAhead ?? 0,
      intraday: mk.position?.intraday ?? 0,
      position,
      counted,
      priced,
      held: mk.held,
      consumption: counted ? actual : null,
      imbalance: q,
      ptf,
      smf,
      positivePrice: ppos,
      negativePrice: pneg,
      priceSource: mk.positiveImbalance !== null && mk.negativeImbalance !== null ? 'published' : ruled ? 'rule' : null,
      systemDirection: mk.systemDirection,
      cost,
      standalone: null,
      withActuals: sums.nActual[h],
      provisionalMeters: sums.nProv[h],
      missingMeters,
      provisionalEnergy: sums.nProv[h] ? sums.provSum[h] : null,
    });
  }
  return t;
}

interface MeterSums {
  energy: number;
  imbalance: number;
  standalone: number;
  prov: number;
  provEnergy: number;
  ok: number;
  rows: number;
  spread: number;
}

/**
 * Second pass: each meter-hour's allocation and standalone cost (kept in `mh.value` for the cost shares),
 * Σ standalone per hour (`ssum`, NaN: none), and each meter's sums.
 */
function allocate(mh: MeterHours, sums: HourSums, t: HourTable, m: number, n: number): { ssum: Float64Array; meters: MeterSums[] } {
  const ssum = new Float64Array(n).fill(Number.NaN);
  const meters: MeterSums[] = [];
  for (let i = 0; i < m; i++) {
    const ms: MeterSums = { energy: 0, imbalance: 0, standalone: 0, prov: 0, provEnergy: 0, ok: 0, rows: 0, spread: 0 };
    for (let h = 0, j = i * n; h < n; h++, j++) {
      const code = mh.code[j];
      if (code === NONE) continue;
      const status = code & 7;
      ms.rows++;
      if (code & SPREAD) ms.spread++;
      if (code & EXPECTED && status !== STATUS.missing) ms.ok++;
      if (!t.counted[h]) {
        mh.value[j] = Number.NaN;
        continue;
      }
      // The meter's share of the position: pro rata to the weights when they add up to > 0, else split equally among the
      // meters with a weight (all meters of the hour when none has one).
      const w = mh.weight[j];
      const position = t.position[h];
      const alloc = sums.nw[h] > 0 && sums.wsum[h] > 0 ? (w === w ? (position * w) / sums.wsum[h] : 0) : sums.nw[h] > 0 ? (w === w ? position / sums.nw[h] : 0) : position / sums.rows[h];
      const actual = mh.value[j];
      const q = alloc - actual;
      ms.energy += actual;
      ms.imbalance += q;
      if (status === STATUS.estimate || status === STATUS.forecast) {
        ms.prov++;
        ms.provEnergy += actual;
      }
      if (!t.costed[h]) {
        mh.value[j] = Number.NaN;
        continue;
      }
      const sa = q >= 0 ? (t.ptf[h] - t.ppos[h]) * q : (t.pneg[h] - t.ptf[h]) * -q; // imbalanceCost
      mh.value[j] = sa;
      ms.standalone += sa;
      ssum[h] = ssum[h] === ssum[h] ? ssum[h] + sa : sa;
    }
    meters.push(ms);
  }
  return { ssum, meters };
}

/**
 * Every hour of the report, and with `perMeter` each meter's figures (the members that have a row or are
 * expected in some hour of the report), sorted by meter.
 * @example imbalanceReport({ fromMs, hours, members, fill: 'none', nowMs: Date.now() }, true).meters[0].cost
 */
export function imbalanceReport(input: ImbalanceInput, perMeter: boolean): { hours: ReportHour[]; meters: MeterImbalanceRow[] } {
  const n = input.hours.length;
  const m = input.members.length;
  const { mh, sums } = gather(input, n);
  const t = reportHours(input, n, sums, expectedMembers(input, n));
  const { ssum, meters: msums } = allocate(mh, sums, t, m, n);
  const hours = t.hours.map((x) => (ssum[x.index] === ssum[x.index] ? { ...x, standalone: ssum[x.index] } : x));
  if (!perMeter) return { hours, meters: [] };
  // Report hours before each grid hour: a member's expected hours in the report.
  const before = new Int32Array(n + 1);
  for (let h = 0; h < n; h++) before[h + 1] = before[h] + t.inReport[h];
  const meters: MeterImbalanceRow[] = [];
  for (let i = 0; i < m; i++) {
    const mem = input.members[i];
    const ms = msums[i];
    // Third pass: the hour's cost shared pro rata to standalone costs (none to share when Σ standalone ≤ 0).
    let cost = 0;
    for (let h = 0, j = i * n; h < n; h++, j++) {
      const sa = mh.value[j];
      if (sa === sa && ssum[h] > 0 && t.cost[h] === t.cost[h]) cost += (t.cost[h] * sa) / ssum[h];
    }
    const w = expectedWindow(input, mem, n);
    const expectedHours = w ? before[w[1]] - before[w[0]] : 0;
    if (ms.rows === 0 && expectedHours === 0) continue;
    meters.push({
      meter: mem.meter,
      energy: ms.energy,
      imbalance: ms.imbalance,
      cost,
      standalone: ms.standalone,
      missingActualHours: Math.max(0, expectedHours - ms.ok),
      provisionalHours: ms.prov,
      provisionalEnergy: ms.provEnergy,
      spreadPeriods: ms.spread,
    });
  }
  meters.sort((a, b) => (a.meter < b.meter ? -1 : a.meter > b.meter ? 1 : 0));
  return { hours, meters };
}

/** The portfolio's totals over the report's hours. */
export function imbalanceTotals(hours: readonly ReportHour[]): ImbalanceTotals {
  const t = {
    hours: hours.length,
    unpricedHours: 0,
    unpublishedPriceHours: 0,
    missingActualHours: 0,
    missingMeterHours: 0,
    provisionalHours: 0,
    provisionalEnergy: 0,
    position: 0,
    missingPosition: 0,
    energy: 0,
    imbalance: 0,
    cost: 0,
    standalone: 0,
  };
  for (const h of hours) {
    if (!h.priced) {
      t.unpricedHours++;
      if (h.held) t.unpublishedPriceHours++;
    }
    t.missingMeterHours += h.missingMeters;
    t.position += h.position;
    if (!h.counted) {
      t.missingActualHours++;
      t.missingPosition += h.position;
      continue;
    }
    if (h.provisionalMeters > 0) t.provisionalHours++;
    t.provisionalEnergy += h.provisionalEnergy ?? 0;
    t.energy += h.consumption!;
    t.imbalance += h.imbalance!;
    t.cost += h.cost ?? 0;
    t.standalone += h.standalone ?? 0;
  }
  return t;
}
