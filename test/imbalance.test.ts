import { describe, expect, it } from 'vitest';
import { hourImbalance, imbalanceCost, imbalancePrices, ruleOn, TR_RULES } from '../forecast/imbalance.js';

describe('imbalance prices', () => {
  it('Turkish rule before 2026: min/max of PTF and SMF ∓ 3 %, published prices first', () => {
    const rule = ruleOn(TR_RULES, '2017-06-01');
    const p = imbalancePrices({ ptf: 100, smf: 120 }, rule);
    expect(p.source).toBe('rule');
    expect(p.positive).toBeCloseTo(97, 12); // 100 × 0.97
    expect(p.negative).toBeCloseTo(123.6, 12); // 120 × 1.03
    expect(imbalancePrices({ ptf: 100, smf: 80, positiveImbalance: 70, negativeImbalance: 130 }, rule)).toEqual({ positive: 70, negative: 130, source: 'published' });
    expect(() => imbalancePrices({ ptf: 100, smf: 80 }, undefined)).toThrow(/no imbalance price rule/);
    expect(ruleOn([...TR_RULES, { effectiveFrom: '2026-01-01', k: 0.05 }], '2026-03-01')?.k).toBe(0.05);
    const split = imbalancePrices({ ptf: 100, smf: 120 }, { effectiveFrom: '2026-01-01', k: 0.05, kNegative: 0.1 });
    expect(split.positive).toBeCloseTo(95, 12); // 100 × 0.95
    expect(split.negative).toBeCloseTo(132, 12); // 120 × 1.10
  });
  it('costs: surplus (PTF − positive) × q, deficit (negative − PTF) × |q|', () => {
    const prices = { positive: 97, negative: 123.6 };
    expect(imbalanceCost(2, 100, prices)).toBeCloseTo(6, 12);
    expect(imbalanceCost(-2, 100, prices)).toBeCloseTo(47.2, 12);
  });
});

describe('per-meter imbalance', () => {
  const prices = { positive: 97, negative: 123.6 };
  it('allocates by forecast; netting benefit = Σ standalone − portfolio cost', () => {
    // Position 10 MWh; forecasts 6 and 4; actuals 7 and 2 → allocated 6 and 4, imbalances −1 and +2; portfolio +1.
    const h = hourImbalance(10, [{ meter: 'A', actual: 7, forecast: 6 }, { meter: 'B', actual: 2, forecast: 4 }], 100, prices);
    expect(h.imbalance).toBe(1);
    expect(h.cost).toBeCloseTo(3, 12); // surplus 1 × (100 − 97)
    expect(h.meters.map((m) => [m.meter, m.allocated, m.imbalance])).toEqual([['A', 6, -1], ['B', 4, 2]]);
    expect(h.meters[0].standaloneCost).toBeCloseTo(23.6, 12); // 1 × (123.6 − 100)
    expect(h.meters[1].standaloneCost).toBeCloseTo(6, 12); // 2 × 3
    expect(h.nettingBenefit).toBeCloseTo(26.6, 12); // 29.6 − 3
    expect(h.meters[0].cost).toBeCloseTo((3 * 23.6) / 29.6, 12);
    expect(h.meters[0].cost + h.meters[1].cost).toBeCloseTo(3, 12);
  });
  it('a meter without forecast gets nothing; forecasts summing to zero split the position equally', () => {
    const h = hourImbalance(4, [{ meter: 'A', actual: 1, forecast: 2 }, { meter: 'B', actual: 1 }], 100, prices);
    expect(h.meters.map((m) => m.allocated)).toEqual([4, 0]);
    const z = hourImbalance(4, [{ meter: 'A', actual: 1, forecast: 0 }, { meter: 'B', actual: 1, forecast: 0 }, { meter: 'C', actual: 1 }], 100, prices);
    expect(z.meters.map((m) => m.allocated)).toEqual([2, 2, 0]);
    const none = hourImbalance(3, [{ meter: 'A', actual: 1 }, { meter: 'B', actual: 1 }], 100, prices);
    expect(none.meters.map((m) => m.allocated)).toEqual([1.5, 1.5]);
  });
});
