import type { FillMode } from '../models/market.js';

/**
 * Imbalance volumes and costs, per hour, for a portfolio and per meter. Pure:
 * energies in MWh, prices per MWh in the market currency.
 *
 * Sign convention: imbalance = position − consumption. Positive = surplus,
 * sold back at the positive imbalance price; negative = deficit, bought at the
 * negative imbalance price. Cost is measured against having traded the same
 * energy at the day-ahead price (PTF):
 *   surplus q > 0: (PTF − positive) × q      deficit q < 0: (negative − PTF) × |q|
 */
export interface HourPrices {
  readonly ptf: number;
  readonly smf: number;
  /** Published imbalance prices, when the market publishes them. */
  readonly positiveImbalance?: number;
  readonly negativeImbalance?: number;
}

/** Imbalance price rule for hours without published imbalance prices, in force from `effectiveFrom` (YYYY-MM-DD, local). */
export interface ImbalancePriceRule {
  readonly effectiveFrom: string;
  /** positive = min(PTF, SMF) × (1 − k); negative = max(PTF, SMF) × (1 + kNegative ?? k). */
  readonly k: number;
  /** When the negative side has its own coefficient (imbalance_price_rules.k_negative). */
  readonly kNegative?: number;
}

/** Turkey before 2026: k = 3 % (EPİAŞ balancing and settlement regulation). */
export const TR_RULES: readonly ImbalancePriceRule[] = [{ effectiveFrom: '2000-01-01', k: 0.03 }];

/** The rule in force on a local date, or undefined when none is. */
export function ruleOn(rules: readonly ImbalancePriceRule[], date: string): ImbalancePriceRule | undefined {
  let best: ImbalancePriceRule | undefined;
  for (const r of rules) if (r.effectiveFrom <= date && (!best || r.effectiveFrom > best.effectiveFrom)) best = r;
  return best;
}

/**
 * Positive and negative imbalance prices of an hour: the published ones, else the rule's.
 * @example imbalancePrices({ ptf: 100, smf: 120 }, { effectiveFrom: '2000-01-01', k: 0.03 }) // { positive: 97, negative: 123.6 }
 */
export function imbalancePrices(p: HourPrices, rule: ImbalancePriceRule | undefined): { positive: number; negative: number; source: 'published' | 'rule' } {
  if (p.positiveImbalance !== undefined && p.negativeImbalance !== undefined) return { positive: p.positiveImbalance, negative: p.negativeImbalance, source: 'published' };
  if (!rule) throw new Error('no published imbalance prices and no imbalance price rule in force for this hour');
  return {
    positive: p.positiveImbalance ?? Math.min(p.ptf, p.smf) * (1 - rule.k),
    negative: p.negativeImbalance ?? Math.max(p.ptf, p.smf) * (1 + (rule.kNegative ?? rule.k)),
    source: 'rule',
  };
}

/** Cost of an imbalance of `q` MWh at the hour's prices (≥ 0 whenever positive ≤ PTF ≤ negative). */
export function imbalanceCost(q: number, ptf: number, prices: { positive: number; negative: number }): number {
  return q >= 0 ? (ptf - prices.positive) * q : (prices.negative - ptf) * -q;
}

/**
 * What a meter has in one hour (energies in MWh, multiplier applied). Firm
 * values are what the meter measured (measured, validated, edited, suspect) or
 * its settlement profile estimates; VEE estimates are provisional.
 */
export interface MeterHourValues {
  /** Whether the meter is a member expected to have consumption in the hour (its supply period; else from its first value or registration). */
  readonly expected: boolean;
  readonly firm?: number;
  /** Minutes of the hour the firm values cover (a 15-minute meter needs 4 of them). */
  readonly firmMinutes: number;
  readonly estimated?: number;
  readonly estimatedMinutes: number;
  /** Newest day-ahead P50 for the hour, MWh. */
  readonly forecast?: number;
}

export type MeterHourStatus = 'actual' | 'absent' | 'estimate' | 'forecast' | 'missing';

/**
 * The consumption a meter counts with in an hour, and why; never 0 for a
 * missing actual (issue 12, defect 3). `actual`: firm values cover the hour;
 * `absent`: the meter is not a member then (it counts with what it has, or 0);
 * `estimate`/`forecast`: the fill the caller chose completes it (provisional;
 * the forecast fills only the minutes not covered); `missing`: no value, and
 * the hour is left out of every figure. market/imbalance-report.ts (hourActual) does the same over numbers.
 * @example meterHourActual({ expected: true, firmMinutes: 45, firm: 0.3, estimatedMinutes: 0, forecast: 0.4 }, 'forecast') // { status: 'forecast', actual: 0.4 }
 */
export function meterHourActual(v: MeterHourValues, fill: FillMode): { status: MeterHourStatus; actual: number | undefined } {
  const useEst = fill === 'estimate' || fill === 'estimate-or-forecast';
  const useFc = fill === 'forecast' || fill === 'estimate-or-forecast';
  if (v.firmMinutes >= 60) return { status: 'actual', actual: v.firm ?? 0 };
  if (!v.expected) return { status: 'absent', actual: v.firm ?? 0 };
  if (useEst && v.firmMinutes + v.estimatedMinutes >= 60) return { status: 'estimate', actual: (v.firm ?? 0) + (v.estimated ?? 0) };
  if (useFc && v.forecast !== undefined) {
    const covered = v.firmMinutes + (useEst ? v.estimatedMinutes : 0);
    return { status: 'forecast', actual: (v.firm ?? 0) + (useEst ? (v.estimated ?? 0) : 0) + (v.forecast * Math.max(0, 60 - covered)) / 60 };
  }
  return { status: 'missing', actual: undefined };
}

export interface MeterHour {
  readonly meter: string;
  /** Actual consumption, MWh. */
  readonly actual: number;
  /** Day-ahead forecast P50, MWh; absent when the meter has none. */
  readonly forecast?: number;
}

export interface MeterImbalance {
  readonly meter: string;
  readonly allocated: number;
  readonly imbalance: number;
  /** Cost of the meter's imbalance as if it were settled alone. */
  readonly standaloneCost: number;
  /** Its share of the portfolio's actual cost (the netting benefit shared pro rata to standalone costs). */
  readonly cost: number;
}

export interface HourImbalance {
  readonly imbalance: number;
  readonly cost: number;
  /** Σ standalone costs − portfolio cost. */
  readonly nettingBenefit: number;
  readonly meters: MeterImbalance[];
}

/**
 * One hour of a portfolio: the position is allocated to meters in proportion
 * to their forecasts; a meter without a forecast gets no allocation (all its
 * consumption is its imbalance); when the forecasts add up to 0 the position
 * is split equally among the meters that have one (or all, if none has).
 */
export function hourImbalance(position: number, meters: readonly MeterHour[], ptf: number, prices: { positive: number; negative: number }): HourImbalance {
  const withForecast = meters.filter((m) => m.forecast !== undefined);
  const total = withForecast.reduce((a, m) => a + (m.forecast ?? 0), 0);
  const pool = withForecast.length ? withForecast : meters;
  const allocate = (m: MeterHour): number => {
    if (total > 0) return m.forecast === undefined ? 0 : (position * m.forecast) / total;
    return pool.includes(m) ? position / pool.length : 0;
  };
  const actual = meters.reduce((a, m) => a + m.actual, 0);
  const imbalance = position - actual;
  const cost = imbalanceCost(imbalance, ptf, prices);
  const partial = meters.map((m) => {
    const allocated = allocate(m);
    const q = allocated - m.actual;
    return { meter: m.meter, allocated, imbalance: q, standaloneCost: imbalanceCost(q, ptf, prices) };
  });
  const standalone = partial.reduce((a, m) => a + m.standaloneCost, 0);
  return {
    imbalance,
    cost,
    nettingBenefit: standalone - cost,
    meters: partial.map((m) => ({ ...m, cost: standalone > 0 ? (cost * m.standaloneCost) / standalone : 0 })),
  };
}
