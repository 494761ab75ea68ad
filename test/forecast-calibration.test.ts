import { describe, expect, it } from 'vitest';
import { backtest } from '../forecast/backtest.js';
import { adaptLevels, CALIBRATION, fitBandScale, INITIAL_LEVELS, levelsOf } from '../forecast/calibration.js';
import { runForecast } from '../forecast/engine.js';
import { horizonWindow } from '../forecast/horizon.js';
import type { ForecastModel, SeriesData } from '../forecast/model.js';
import { gaussian, seededRandom } from '../models/random.js';

const H = 3_600_000;
const T0 = Date.UTC(2026, 0, 1);

/**
 * 200 days around 100 kWh with seeded normal noise whose σ is 5 up to day
 * 100 and 10 after it (a change of regime the last 28 days do not know).
 */
function noisy(id: string): SeriesData {
  const rand = seededRandom(20);
  const values = new Float64Array(200 * 24);
  for (let i = 0; i < values.length; i++) values[i] = 100 + (i < 100 * 24 ? 5 : 10) * gaussian(rand);
  return { id, timezone: 'UTC', startMs: T0, values };
}

/** Always P50 100 with a ±5 band: too narrow for σ 5 and more so for σ 10; only calibration makes it cover. */
const flat = (kind: 'naive' | 'profile' = 'naive'): ForecastModel => ({
  kind,
  async fit(ss) {
    return {
      kind,
      info: {},
      async predict(h) {
        return ss.map(() => {
          const rows = [];
          for (let t = h.fromMs; t < h.toMs; t += H) rows.push({ start: t, p10: 95, p50: 100, p90: 105 });
          return rows;
        });
      },
    };
  },
});

describe('band calibration (issue 20)', () => {
  it('fits each side at its own quantile level', () => {
    // sHi = (y − 100)/10 over y = 100 … 190 → 0 … 9; type-7 quantile at 0.8: 7.2, at 0.9: 8.1.
    const ys = Array.from({ length: 10 }, (_, i) => 100 + 10 * i);
    const rows = ys.map(() => ({ p10: 90, p50: 100, p90: 110 }));
    expect(fitBandScale(ys, rows, { minSamples: 1 }).hi).toBeCloseTo(8, 10); // clamped to 8 (8.1)
    const s = fitBandScale(ys, rows, { minSamples: 1, levelHi: 0.7 });
    expect(s.hi).toBeCloseTo(6.3, 10);
    expect([s.levelLo, s.levelHi]).toEqual([0.9, 0.7]);
  });

  it('moves each side’s miss target by γ × (0.1 − the share that missed it)', () => {
    // 10 hours: 3 below P10, none above → αLo = 0.1 + 0.02 × (0.1 − 0.3) = 0.096, αHi = 0.1 + 0.02 × 0.1 = 0.102.
    const issued = Array.from({ length: 10 }, () => ({ p10: 90, p50: 100, p90: 110 }));
    const actual = [80, 85, 89, 100, 100, 100, 100, 100, 100, 100];
    const a = adaptLevels(INITIAL_LEVELS, actual, issued, 0.02);
    expect(a.alphaLo).toBeCloseTo(0.096, 12);
    expect(a.alphaHi).toBeCloseTo(0.102, 12);
    expect(a.updates).toBe(1);
    expect(levelsOf(a).levelLo).toBeCloseTo(0.904, 12);
    expect(adaptLevels(INITIAL_LEVELS, [Number.NaN], [issued[0]], 0.02)).toBe(INITIAL_LEVELS); // no known hour, no step
  });

  it('after a change of regime, adaptive levels bring the out-of-sample coverage nearer 80 % than fixed ones', async () => {
    const opts = { models: { naive: flat() }, fromDate: '2026-01-10', toDate: '2026-07-15', country: null, floor: 0 } as const;
    const fixed = await backtest([noisy('a')], { ...opts, calibrate: { windowDays: 28, warmUpDays: 5 } });
    const adaptive = await backtest([noisy('a')], { ...opts, calibrate: { windowDays: 28, gamma: 0.02, warmUpDays: 5 } });
    const raw = await backtest([noisy('a')], opts);
    const cov = (r: typeof raw) => r.aggregate.naive.metrics.coverage;
    expect(cov(raw)).toBeLessThan(0.6); // ±5 around a σ of 5 (68 %) then 10 (38 %)
    expect(Math.abs(cov(adaptive) - 0.8)).toBeLessThan(Math.abs(cov(fixed) - 0.8));
    expect(Math.abs(cov(adaptive) - 0.8)).toBeLessThanOrEqual(0.03);
    // The levels moved up on both sides: the regime widened.
    const next = adaptive.nextBandScales!.series.naive[0];
    expect(next.levelLo).toBeGreaterThan(0.9);
    expect(next.levelHi).toBeGreaterThan(0.9);
  });

  it('warm-up days are replayed for the calibration only; the engine issues with the scales its backtest carries forward', async () => {
    const s = noisy('meter:a');
    const r = await backtest([s], { models: { naive: flat() }, fromDate: '2026-03-01', toDate: '2026-03-14', country: null, calibrate: CALIBRATION });
    expect(r.issueTimes).toHaveLength(14 + CALIBRATION.warmUpDays);
    expect(r.scoredOrigins).toBe(14);
    expect(r.aggregate.naive.metrics.n).toBe(14 * 24);
    // The first scored origin is already calibrated: none shows the raw ±5 band.
    expect(r.aggregate.naive.metrics.coverage).toBeGreaterThan(0.7);

    const issueTime = Date.UTC(2026, 2, 20, 10);
    const w = horizonWindow('day-ahead', issueTime, 'UTC');
    const run = await runForecast([s], { issueTime, dataCutoff: w.dataCutoff, country: null }, { ...w, name: 'day-ahead' }, { model: 'profile', models: { naive: flat(), profile: flat('profile') } });
    expect(run.metrics!.backtest.origins).toBe(14);
    const scale = run.info.bandScales['meter:a'];
    expect(scale.n).toBe((14 + CALIBRATION.warmUpDays) * 24);
    const row = run.rows[0][0];
    expect(row.p90 - row.p50).toBeCloseTo(5 * scale.hi, 10);
    expect(row.p50 - row.p10).toBeCloseTo(5 * scale.lo, 10);
  });
});
