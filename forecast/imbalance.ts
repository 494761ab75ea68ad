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
