import { describe, expect, it } from 'vitest';
import { combineMetrics, evaluate, pinballLoss, skill } from '../forecast/metrics.js';

// Three usable hours and one without an actual. Hand-computed:
// errors (p50 − actual) +10, −20, +2; mean |actual| = 302/3 → near-zero threshold 5.03 (hour 3 out of MAPE).
const actual = [100, 200, 2, Number.NaN];
const model = [
  { p10: 90, p50: 110, p90: 120 },
  { p10: 150, p50: 180, p90: 190 },
  { p10: 0, p50: 4, p90: 5 },
  { p10: 1, p50: 1, p90: 1 },
];
const naive = [
  { p10: 130, p50: 130, p90: 130 },
  { p10: 160, p50: 160, p90: 160 },
  { p10: 2, p50: 2, p90: 2 },
  { p10: 1, p50: 1, p90: 1 },
];

describe('forecast metrics', () => {
  it('pinball loss weighs under- and over-forecasts by the quantile', () => {
    expect(pinballLoss(0.9, 100, 90)).toBeCloseTo(9);
    expect(pinballLoss(0.9, 100, 110)).toBeCloseTo(1);
    expect(pinballLoss(0.1, 100, 90)).toBeCloseTo(1);
    expect(pinballLoss(0.5, 100, 110)).toBeCloseTo(5);
  });

  it('MAE, RMSE, MAPE without near-zero hours, WAPE, bias, pinball, coverage', () => {
    const m = evaluate(actual, model);
    expect(m.n).toBe(3);
    expect(m.mae).toBeCloseTo(32 / 3, 10);
    expect(m.rmse).toBeCloseTo(Math.sqrt(504 / 3), 10);
    expect(m.mapeHours).toBe(2);
    expect(m.mape).toBeCloseTo((10 / 100 + 20 / 200) / 2, 10);
    expect(m.wape).toBeCloseTo(32 / 302, 10);
    expect(m.bias).toBeCloseTo(-8 / 3, 10);
    expect(m.pinball.p10).toBeCloseTo((1 + 5 + 0.2) / 3, 10);
    expect(m.pinball.p50).toBeCloseTo((5 + 10 + 1) / 3, 10);
    expect(m.pinball.p90).toBeCloseTo((2 + 9 + 0.3) / 3, 10);
    expect(m.pinball.mean).toBeCloseTo((6.2 + 16 + 11.3) / 9, 10);
    expect(m.coverage).toBeCloseTo(2 / 3, 10);
  });

  it('skill vs naive is 1 − MAE ratio over the same hours', () => {
    expect(skill(evaluate(actual, model), evaluate(actual, naive))).toBeCloseTo(1 - 32 / 70, 10);
    expect(() => skill(evaluate(actual, model), evaluate([1], [naive[0]]))).toThrow(/same hours/);
  });

  it('pools series by their sums', () => {
    const a = evaluate(actual, model);
    const b = evaluate(
      [10, 20],
      [
        { p10: 10, p50: 20, p90: 20 },
        { p10: 10, p50: 20, p90: 30 },
      ],
    );
    const pooled = combineMetrics([a, b]);
    expect(pooled.n).toBe(5);
    expect(pooled.wape).toBeCloseTo((32 + 10) / (302 + 30), 10);
    expect(pooled.mae).toBeCloseTo(42 / 5, 10);
    // b: errors +10 and 0; MAPE keeps each series' own threshold, so both b hours count (10/10 and 0/20).
    // Coverage: a 2 of 3, b's first hour (10 in [10, 20]) and second (20 in [10, 30]).
    expect(pooled.mapeHours).toBe(4);
    expect(pooled.mape).toBeCloseTo((0.1 + 0.1 + 1 + 0) / 4, 10);
    expect(pooled.coverage).toBeCloseTo(4 / 5, 10);
  });

  it('no usable hour gives NaN, not zero', () => {
    const m = evaluate([Number.NaN], [model[0]]);
    expect(m.n).toBe(0);
    expect(m.mae).toBeNaN();
    expect(m.wape).toBeNaN();
  });
});
