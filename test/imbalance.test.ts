import { describe, expect, it } from 'vitest';
import { hourImbalance, imbalanceCost, imbalancePrices, meterHourActual, ruleOn, TR_RULES } from '../market/imbalance.js';
import { roundFigure } from '../models/precision.js';

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
    const h = hourImbalance(
      10,
      [
        { meter: 'A', actual: 7, forecast: 6 },
        { meter: 'B', actual: 2, forecast: 4 },
      ],
      100,
      prices,
    );
    expect(h.imbalance).toBe(1);
    expect(h.cost).toBeCloseTo(3, 12); // surplus 1 × (100 − 97)
    expect(h.meters.map((m) => [m.meter, m.allocated, m.imbalance])).toEqual([
      ['A', 6, -1],
      ['B', 4, 2],
    ]);
    expect(h.meters[0].standaloneCost).toBeCloseTo(23.6, 12); // 1 × (123.6 − 100)
    expect(h.meters[1].standaloneCost).toBeCloseTo(6, 12); // 2 × 3
    expect(h.nettingBenefit).toBeCloseTo(26.6, 12); // 29.6 − 3
    expect(h.meters[0].cost).toBeCloseTo((3 * 23.6) / 29.6, 12);
    expect(h.meters[0].cost + h.meters[1].cost).toBeCloseTo(3, 12);
  });
  it('a meter without forecast gets nothing; forecasts summing to zero split the position equally', () => {
    const h = hourImbalance(
      4,
      [
        { meter: 'A', actual: 1, forecast: 2 },
        { meter: 'B', actual: 1 },
      ],
      100,
      prices,
    );
    expect(h.meters.map((m) => m.allocated)).toEqual([4, 0]);
    const z = hourImbalance(
      4,
      [
        { meter: 'A', actual: 1, forecast: 0 },
        { meter: 'B', actual: 1, forecast: 0 },
        { meter: 'C', actual: 1 },
      ],
      100,
      prices,
    );
    expect(z.meters.map((m) => m.allocated)).toEqual([2, 2, 0]);
    const none = hourImbalance(
      3,
      [
        { meter: 'A', actual: 1 },
        { meter: 'B', actual: 1 },
      ],
      100,
      prices,
    );
    expect(none.meters.map((m) => m.allocated)).toEqual([1.5, 1.5]);
  });
});

describe('a meter-hour without an actual is never 0 (issue 12, defect 3)', () => {
  const none = { firmMinutes: 0, estimatedMinutes: 0 };
  it('a member without values is missing unless the caller fills it; a non-member counts with what it has', () => {
    expect(meterHourActual({ expected: true, ...none }, 'none')).toEqual({ status: 'missing', actual: undefined });
    expect(meterHourActual({ expected: true, ...none, forecast: 0.5 }, 'none')).toEqual({ status: 'missing', actual: undefined });
    expect(meterHourActual({ expected: true, ...none, forecast: 0.5 }, 'forecast')).toEqual({ status: 'forecast', actual: 0.5 });
    expect(meterHourActual({ expected: true, ...none, forecast: 0.5 }, 'estimate')).toEqual({ status: 'missing', actual: undefined });
    expect(meterHourActual({ expected: false, ...none, forecast: 0.5 }, 'forecast')).toEqual({ status: 'absent', actual: 0 });
    expect(meterHourActual({ expected: true, firmMinutes: 60, firm: 0.7, estimatedMinutes: 0, forecast: 9 }, 'forecast')).toEqual({ status: 'actual', actual: 0.7 });
  });
  it('a 15-minute meter needs four firm quarters; VEE estimates or the forecast complete the rest, declared provisional', () => {
    const three = { expected: true, firmMinutes: 45, firm: 0.3, estimatedMinutes: 15, estimated: 0.12, forecast: 0.4 };
    expect(meterHourActual(three, 'none').status).toBe('missing');
    expect(meterHourActual(three, 'estimate')).toEqual({ status: 'estimate', actual: 0.42 });
    // The forecast fills only the quarter not covered: 0.3 + 0.4 × 15/60.
    expect(meterHourActual(three, 'forecast').actual).toBeCloseTo(0.4, 12);
    expect(meterHourActual(three, 'estimate-or-forecast')).toEqual({ status: 'estimate', actual: 0.42 });
    expect(meterHourActual({ ...three, estimatedMinutes: 0, estimated: undefined }, 'estimate-or-forecast').actual).toBeCloseTo(0.4, 12);
  });
});

describe('output precision (issue 12, defect 9)', () => {
  it('rounds at the edge to 10⁻⁶ of the unit, no −0', () => {
    expect(roundFigure(5.5600000000000005)).toBe(5.56);
    expect(roundFigure(-1.2e-15)).toBe(0);
    expect(Object.is(roundFigure(-1.2e-15), 0)).toBe(true);
    expect(roundFigure(769.0999999999999)).toBe(769.1);
    expect(roundFigure(2086565.2999999996)).toBe(2086565.3);
    expect(roundFigure(1 / 3)).toBe(0.333333);
    expect(roundFigure(null)).toBeNull();
  });
});
