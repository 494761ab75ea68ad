import { describe, expect, it } from 'vitest';
import { MAX_MISSING_RANGES, offerCost, typicalProfile } from '../forecast/offer-cost.js';
import { seededRandom } from '../models/random.js';

const H = 3_600_000;
const T0 = Date.UTC(2026, 0, 5); // a Monday

describe('offer cost of a load profile (pure)', () => {
  it('a flat profile costs the baseload price: profile factor 1, whatever the prices', () => {
    const rand = seededRandom(11);
    const prices = Float64Array.from({ length: 24 * 31 }, () => 500 + 3000 * rand());
    const r = offerCost({ startMs: T0, values: new Float64Array(24 * 31).fill(2.5) }, { startMs: T0, values: prices }, { imbalanceCostPerMWh: 40 });
    let mean = 0;
    for (const p of prices) mean += p / prices.length;
    expect(r.energyWeightedPrice).toBeCloseTo(mean, 9);
    expect(r.baseloadPrice).toBeCloseTo(mean, 9);
    expect(r.profileFactor).toBeCloseTo(1, 12);
    expect(r.shapePremium).toBeCloseTo(0, 9);
    expect(r.breakEvenPrice).toBeCloseTo(mean + 40, 9);
    expect(r).toMatchObject({ hours: 744, profileHours: 744, pricedHours: 744, missingPriceHours: 0, missingPriceRanges: [], priceCoverage: 1, energyCoverage: 1, complete: true });
    expect(r.energyMWh).toBeCloseTo(1860, 9);
  });

  it('hand-computed: 1 and 3 MWh at 40 and 60 → EWP 55, baseload 50, factor 1.1, break-even 55 + imbalance + other costs', () => {
    const r = offerCost({ startMs: T0, values: [1, 3] }, { startMs: T0, values: [40, 60] }, { imbalanceCostPerMWh: 2, otherCostsPerMWh: 1.5 });
    expect(r.energyCost).toBe(220);
    expect(r.energyWeightedPrice).toBe(55);
    expect(r.baseloadPrice).toBe(50);
    expect(r.profileFactor).toBeCloseTo(1.1, 12);
    expect(r.shapePremium).toBe(5);
    expect(r.breakEvenPrice).toBe(58.5);
    // The curve may start before the profile: hours are matched by their start.
    const shifted = offerCost({ startMs: T0 + H, values: [1, 3] }, { startMs: T0, values: [999, 40, 60, 999] });
    expect(shifted.energyWeightedPrice).toBe(55);
  });

  it('missing prices are reported, not zeroed: left out of every figure, counted, their runs listed, complete false', () => {
    const profile = [1, 1, 4, 4, 1, 1];
    const prices = [50, Number.NaN, Number.NaN, 80, 60, Number.NaN];
    const r = offerCost({ startMs: T0, values: profile }, { startMs: T0, values: prices }, { imbalanceCostPerMWh: 3 });
    // Over the priced hours 0, 3, 4: (50 + 320 + 60) / 6 MWh; baseload (50 + 80 + 60) / 3.
    expect(r.energyWeightedPrice).toBeCloseTo(430 / 6, 12);
    expect(r.baseloadPrice).toBeCloseTo(190 / 3, 12);
    expect(r).toMatchObject({ pricedHours: 3, missingPriceHours: 3, pricedEnergyMWh: 6, energyMWh: 12, energyCoverage: 0.5, priceCoverage: 0.5, complete: false });
    expect(r.missingPriceRanges).toEqual([
      { from: new Date(T0 + H).toISOString(), to: new Date(T0 + 3 * H).toISOString(), hours: 2 },
      { from: new Date(T0 + 5 * H).toISOString(), to: new Date(T0 + 6 * H).toISOString(), hours: 1 },
    ]);
    // Zeroing them would have given another price: the report is not that.
    const zeroed = offerCost({ startMs: T0, values: profile }, { startMs: T0, values: prices.map((p) => (p === p ? p : 0)) });
    expect(zeroed.energyWeightedPrice).not.toBeCloseTo(r.energyWeightedPrice!, 3);
    // A curve that ends before the profile: the hours after it are missing too.
    const short = offerCost({ startMs: T0, values: [1, 1, 1] }, { startMs: T0, values: [10] });
    expect(short).toMatchObject({ pricedHours: 1, missingPriceHours: 2, energyWeightedPrice: 10 });
  });

  it('no price at all: every price figure null, the break-even too; profile gaps are counted apart from price gaps', () => {
    const r = offerCost({ startMs: T0, values: [1, Number.NaN, 2] }, { startMs: T0, values: [Number.NaN, Number.NaN, Number.NaN] }, { imbalanceCostPerMWh: 1 });
    expect(r).toMatchObject({
      profileHours: 2,
      pricedHours: 0,
      missingPriceHours: 2,
      energyWeightedPrice: null,
      baseloadPrice: null,
      profileFactor: null,
      breakEvenPrice: null,
      energyCost: null,
      complete: false,
    });
    expect(r.missingPriceRanges).toHaveLength(2);
    // Unknown imbalance cost: no break-even (never an imbalance of 0 assumed).
    expect(offerCost({ startMs: T0, values: [1] }, { startMs: T0, values: [10] }).breakEvenPrice).toBeNull();
  });

  it('lists at most MAX_MISSING_RANGES runs of missing prices (the count covers all)', () => {
    const n = 2 * (MAX_MISSING_RANGES + 10);
    const prices = Array.from({ length: n }, (_, i) => (i % 2 ? Number.NaN : 10));
    const r = offerCost({ startMs: T0, values: new Float64Array(n).fill(1) }, { startMs: T0, values: prices });
    expect(r.missingPriceRanges).toHaveLength(MAX_MISSING_RANGES);
    expect(r.missingPriceHours).toBe(n / 2);
  });

  it('typical profile: the mean of the same month, day type and local hour, else of the day type and hour', () => {
    // Two weeks of January history: workdays 10 at 09:00 (else 1), weekends 2.
    const hist = new Float64Array(14 * 24);
    for (let i = 0; i < hist.length; i++) {
      const d = new Date(T0 + i * H);
      const weekend = d.getUTCDay() === 0 || d.getUTCDay() === 6;
      hist[i] = weekend ? 2 : d.getUTCHours() === 9 ? 10 + (i < 7 * 24 ? 0 : 2) : 1;
    }
    const jan = typicalProfile({ startMs: T0, values: hist }, { startMs: Date.UTC(2026, 0, 26), hours: 7 * 24, timezone: 'UTC', holidays: new Set() });
    expect(jan[9]).toBe(11); // Monday 09:00: mean of 10 and 12
    expect(jan[10]).toBe(1);
    expect(jan[5 * 24 + 9]).toBe(2); // Saturday
    // March has no history: the day type and hour over every month.
    const mar = typicalProfile({ startMs: T0, values: hist }, { startMs: Date.UTC(2026, 2, 2), hours: 24, timezone: 'UTC', holidays: new Set(['2026-03-02']) });
    expect(mar[9]).toBe(2); // a holiday Monday: like a sunday
  });
});
