import { describe, expect, it } from 'vitest';
import { DEFAULT_WEATHER_ERROR_MODEL, seedOfText, simulateForecastTemperature, weatherErrorSd } from '../forecast/weather-error-model.js';

const H = 3_600_000;
const start = Date.parse('2019-11-01T00:00:00Z');

describe('weather error model (forecast/weather-error-model)', () => {
  const observed = Float64Array.from({ length: 24 * 11 }, (_, i) => 10 + 5 * Math.sin((2 * Math.PI * i) / 24));
  const cutoff = start + 24 * H;

  it('keeps observations before the cut-off and is deterministic for a seed and cut-off', () => {
    const a = simulateForecastTemperature(observed, { startMs: start, cutoffMs: cutoff, seed: 7 });
    const b = simulateForecastTemperature(observed, { startMs: start, cutoffMs: cutoff, seed: 7 });
    expect([...a]).toEqual([...b]);
    expect([...a.subarray(0, 24)]).toEqual([...observed.subarray(0, 24)]);
    expect(a[24]).not.toBe(observed[24]);
    const other = simulateForecastTemperature(observed, { startMs: start, cutoffMs: cutoff, seed: 8 });
    expect(other[30]).not.toBe(a[30]);
    const later = simulateForecastTemperature(observed, { startMs: start, cutoffMs: cutoff + 24 * H, seed: 7 });
    expect(later[60]).not.toBe(a[60]);
    expect(observed[0]).toBe(10); // input untouched
  });

  it('leaves NaN hours NaN without shifting the errors of the others', () => {
    const holes = Float64Array.from(observed);
    holes[30] = Number.NaN;
    const a = simulateForecastTemperature(observed, { startMs: start, cutoffMs: cutoff, seed: 3 });
    const b = simulateForecastTemperature(holes, { startMs: start, cutoffMs: cutoff, seed: 3 });
    expect(b[30]).toBeNaN();
    expect(b[31]).toBe(a[31]);
  });

  it('draws errors whose spread grows with the lead as the documented sd, unbiased and persistent', () => {
    const seeds = 600;
    const leads = [0, 24, 120, 239];
    const sums = leads.map(() => ({ s: 0, ss: 0 }));
    let lag1 = 0;
    let lag0 = 0;
    for (let seed = 0; seed < seeds; seed++) {
      const f = simulateForecastTemperature(observed, { startMs: start, cutoffMs: cutoff, seed: seedOfText(`station-${seed}`) });
      leads.forEach((l, k) => {
        const e = f[24 + l] - observed[24 + l];
        sums[k].s += e;
        sums[k].ss += e * e;
      });
      const e0 = f[24 + 50] - observed[24 + 50];
      const e1 = f[24 + 51] - observed[24 + 51];
      lag0 += e0 * e0;
      lag1 += e0 * e1;
    }
    leads.forEach((l, k) => {
      const sd = Math.sqrt(sums[k].ss / seeds);
      expect(Math.abs(sums[k].s / seeds)).toBeLessThan((4 * weatherErrorSd(l)) / Math.sqrt(seeds));
      expect(sd / weatherErrorSd(l)).toBeGreaterThan(0.85);
      expect(sd / weatherErrorSd(l)).toBeLessThan(1.15);
    });
    expect(weatherErrorSd(240)).toBeGreaterThan(weatherErrorSd(24));
    expect(lag1 / lag0).toBeGreaterThan(DEFAULT_WEATHER_ERROR_MODEL.hourlyCorrelation - 0.1);
  });
});
