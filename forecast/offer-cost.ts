import { localDate, localMinuteOfDay } from '../models/calendar.js';
import { shapeDayIndex } from './load-shape.js';

/**
 * Offer cost of a load profile (issue 20, item 6), pure: the sales team
 * prices an offer from a customer's hourly profile and a price curve
 * (docs/forecasting.md "Offer cost of a load profile").
 *
 * Over the hours that have both a profile value and a price (the priced hours):
 * - energy-weighted price EWP = Σ e·p / Σ e (per MWh);
 * - baseload price B = the plain mean of p over the same hours;
 * - profile factor EWP / B (1 for a flat profile: it buys at the baseload price;
 *   above 1 it consumes more in the dear hours);
 * - break-even price = EWP + expected imbalance cost per MWh + other costs per
 *   MWh: the lowest flat price per MWh that covers the expected cost of
 *   supplying the profile; null when the imbalance cost is unknown.
 * Hours without a price are never read as 0: they are left out and counted
 * (missing hours, their ranges, the share of the energy they hold), and the
 * figures say `complete: false`.
 */

const H = 3_600_000;

/** An hourly series from `startMs`: MWh of the profile, or prices per MWh. NaN = no value. */
export interface HourlySeries {
  readonly startMs: number;
  readonly values: ArrayLike<number>;
}

export interface MissingRange {
  /** First hour missing, ISO. */
  readonly from: string;
  /** End of the run of missing hours (exclusive), ISO. */
  readonly to: string;
  readonly hours: number;
}

/** Ranges listed at most (the count of all is in `missingHours`). */
export const MAX_MISSING_RANGES = 50;

export interface OfferCost {
  /** Hours of the profile, and of them with a value. */
  readonly hours: number;
  readonly profileHours: number;
  /** Σ profile energy over the hours with a value, MWh. */
  readonly energyMWh: number;
  /** Hours with a profile value and a price; those with a value and no price. */
  readonly pricedHours: number;
  readonly missingPriceHours: number;
  /** Runs of hours without a price (only hours with a profile value), oldest first, at most MAX_MISSING_RANGES. */
  readonly missingPriceRanges: MissingRange[];
  /** pricedHours / profileHours; priced energy / energy (0…1; null without a profile hour). */
  readonly priceCoverage: number | null;
  readonly energyCoverage: number | null;
  readonly pricedEnergyMWh: number;
  /** Σ e·p over the priced hours (in the curve's currency). */
  readonly energyCost: number | null;
  readonly energyWeightedPrice: number | null;
  readonly baseloadPrice: number | null;
  readonly profileFactor: number | null;
  /** EWP − baseload price, per MWh: what the shape costs above a flat band. */
  readonly shapePremium: number | null;
  readonly imbalanceCostPerMWh: number | null;
  readonly otherCostsPerMWh: number;
  readonly breakEvenPrice: number | null;
  /** Every hour of the profile has a value and a price. */
  readonly complete: boolean;
}

/**
 * @example offerCost({ startMs, values: [1, 1] }, { startMs, values: [40, 60] }) // energyWeightedPrice 50, baseloadPrice 50, profileFactor 1
 */
export function offerCost(profile: HourlySeries, prices: HourlySeries, o: { readonly imbalanceCostPerMWh?: number | null; readonly otherCostsPerMWh?: number } = {}): OfferCost {
  const n = profile.values.length;
  const offset = Math.round((profile.startMs - prices.startMs) / H);
  let profileHours = 0;
  let energy = 0;
  let priced = 0;
  let pricedEnergy = 0;
  let cost = 0;
  let priceSum = 0;
  const ranges: MissingRange[] = [];
  let missing = 0;
  let runStart = -1;
  const closeRun = (end: number) => {
    if (runStart < 0) return;
    if (ranges.length < MAX_MISSING_RANGES) {
      ranges.push({ from: new Date(profile.startMs + runStart * H).toISOString(), to: new Date(profile.startMs + end * H).toISOString(), hours: end - runStart });
    }
    runStart = -1;
  };
  for (let i = 0; i < n; i++) {
    const e = profile.values[i];
    if (e !== e) {
      closeRun(i);
      continue;
    }
    profileHours++;
    energy += e;
    const j = i + offset;
    const p = j >= 0 && j < prices.values.length ? prices.values[j] : Number.NaN;
    if (p !== p) {
      missing++;
      if (runStart < 0) runStart = i;
      continue;
    }
    closeRun(i);
    priced++;
    pricedEnergy += e;
    cost += e * p;
    priceSum += p;
  }
  closeRun(n);
  const ewp = priced > 0 && pricedEnergy > 0 ? cost / pricedEnergy : null;
  const base = priced > 0 ? priceSum / priced : null;
  const imbalance = o.imbalanceCostPerMWh ?? null;
  const other = o.otherCostsPerMWh ?? 0;
  return {
    hours: n,
    profileHours,
    energyMWh: energy,
    pricedHours: priced,
    missingPriceHours: missing,
    missingPriceRanges: ranges,
    priceCoverage: profileHours > 0 ? priced / profileHours : null,
    energyCoverage: energy > 0 ? pricedEnergy / energy : null,
    pricedEnergyMWh: pricedEnergy,
    energyCost: priced > 0 ? cost : null,
    energyWeightedPrice: ewp,
    baseloadPrice: base,
    profileFactor: ewp !== null && base !== null && base !== 0 ? ewp / base : null,
    shapePremium: ewp !== null && base !== null ? ewp - base : null,
    imbalanceCostPerMWh: imbalance,
    otherCostsPerMWh: other,
    breakEvenPrice: ewp !== null && imbalance !== null ? ewp + imbalance + other : null,
    complete: n > 0 && profileHours === n && missing === 0,
  };
}

/**
 * A typical profile over the hours [startMs, startMs + hours·1 h) from an hourly history: each hour gets the
 * mean of the history's hours of the same month, day type (workday, saturday, sunday or holiday) and local hour;
 * without such hours, of the same day type and local hour in any month; NaN when neither has one.
 * @example typicalProfile(history, { startMs, hours: 744, timezone: 'Europe/Istanbul', holidays })
 */
export function typicalProfile(history: HourlySeries, p: { readonly startMs: number; readonly hours: number; readonly timezone: string; readonly holidays: ReadonlySet<string> }): Float64Array {
  // keys: month (0–11) × 3 day types × 24 hours, and 3 × 24 over every month
  const sum = new Float64Array(12 * 72);
  const cnt = new Float64Array(12 * 72);
  const all = new Float64Array(72);
  const allN = new Float64Array(72);
  const key = (ms: number) => {
    const date = localDate(ms, p.timezone);
    const k = shapeDayIndex(date, p.holidays) * 24 + Math.floor(localMinuteOfDay(ms, p.timezone) / 60);
    return { month: Number(date.slice(5, 7)) - 1, k };
  };
  for (let i = 0; i < history.values.length; i++) {
    const v = history.values[i];
    if (v !== v) continue;
    const { month, k } = key(history.startMs + i * H);
    sum[month * 72 + k] += v;
    cnt[month * 72 + k]++;
    all[k] += v;
    allN[k]++;
  }
  const out = new Float64Array(p.hours);
  for (let i = 0; i < p.hours; i++) {
    const { month, k } = key(p.startMs + i * H);
    const c = cnt[month * 72 + k];
    out[i] = c > 0 ? sum[month * 72 + k] / c : allN[k] > 0 ? all[k] / allN[k] : Number.NaN;
  }
  return out;
}
