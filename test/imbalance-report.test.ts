import { describe, expect, it } from 'vitest';
import { meterHourActual } from '../market/imbalance.js';
import { hourActual, imbalanceReport, STATUS } from '../market/imbalance-report.js';
import { FILL_MODES } from '../models/market.js';
import { qualityCode } from '../models/reading.js';

const NAMES = Object.fromEntries(Object.entries(STATUS).map(([k, v]) => [v, k]));

describe('imbalance report (pure)', () => {
  it('hourActual decides as meterHourActual on every combination of coverage, membership, values and fill', () => {
    const out = new Float64Array(1);
    for (const fill of FILL_MODES) {
      const useEst = fill === 'estimate' || fill === 'estimate-or-forecast';
      const useFc = fill === 'forecast' || fill === 'estimate-or-forecast';
      for (const expected of [true, false])
        for (const firmMinutes of [0, 15, 45, 60, 75])
          for (const estimatedMinutes of [0, 15, 30])
            for (const firm of [undefined, 0.3])
              for (const estimated of [undefined, 0.2])
                for (const forecast of [undefined, 0.4]) {
                  const want = meterHourActual({ expected, firm, firmMinutes, estimated, estimatedMinutes, forecast }, fill);
                  const status = hourActual(expected, firm ?? 0, firmMinutes, estimated ?? 0, estimatedMinutes, forecast ?? Number.NaN, useEst, useFc, out);
                  expect(NAMES[status]).toBe(want.status);
                  if (want.actual === undefined) expect(out[0]).toBeNaN();
                  else expect(out[0]).toBeCloseTo(want.actual, 12);
                }
    }
  });

  it('allocates one hour by the forecasts and shares the portfolio cost pro rata to standalone costs (imbalance.test.ts hand example)', () => {
    // Position 10 MWh; A: actual 7, P50 6; B: actual 2, P50 4 → allocated 6 and 4; PTF 100, SMF 120 → rule 97 / 123.6 (k = 3 %).
    const one = (kwh: number, p50: number) => ({
      multiplier: 1,
      intervalMinutes: 60,
      expectedFromMs: 0,
      expectedToMs: null,
      values: { hour: Int32Array.of(0), value: Float64Array.of(kwh), quality: Int16Array.of(qualityCode('measured')), source: Int16Array.of(0), minutes: Int16Array.of(-1) },
      forecasts: { hour: Int32Array.of(0), p50: Float64Array.of(p50), rank: Int32Array.of(1) },
      nominations: { hour: new Int32Array(0), mwh: new Float64Array(0) },
    });
    const hours = [
      {
        position: { bilateral: 5, dayAhead: 5, intraday: 0 },
        ptf: 100,
        smf: 120,
        positiveImbalance: null,
        negativeImbalance: null,
        held: false,
        systemDirection: null,
        rule: { kPositive: 0.03, kNegative: 0.03 },
      },
    ];
    const r = imbalanceReport(
      {
        fromMs: 0,
        hours,
        members: [
          { meter: 'A', ...one(7000, 6000) },
          { meter: 'B', ...one(2000, 4000) },
        ],
        fill: 'none',
        nowMs: 3_600_000 * 5,
      },
      true,
    );
    const [h] = r.hours;
    // q = 10 − 9 = +1 → cost (100 − 97) × 1 = 3; A: q −1 → 23.6; B: q +2 → 6; Σ 29.6
    expect(h).toMatchObject({ consumption: 9, imbalance: 1, priceSource: 'rule', counted: true, priced: true });
    expect(h.cost).toBeCloseTo(3, 12);
    expect(h.standalone).toBeCloseTo(29.6, 12);
    const [a, b] = r.meters;
    expect(a).toMatchObject({ meter: 'A', energy: 7, missingActualHours: 0 });
    expect(a.imbalance).toBeCloseTo(-1, 12);
    expect(a.standalone).toBeCloseTo(23.6, 12);
    expect(a.cost).toBeCloseTo((3 * 23.6) / 29.6, 12);
    expect(b.cost).toBeCloseTo((3 * 6) / 29.6, 12);
    expect(a.cost + b.cost).toBeCloseTo(3, 12);
  });
});
