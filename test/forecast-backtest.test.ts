import { describe, expect, it } from 'vitest';
import { backtest, seriesAsOf, sumQuantiles } from '../forecast/backtest.js';
import type { FitContext, FittedModel, ForecastModel, SeriesData } from '../forecast/model.js';
import { fitBandScale, scaleBand } from '../forecast/calibration.js';
import { combineQuantiles, ensembleModel, inverseErrorWeights } from '../forecast/models/ensemble.js';

const H = 3_600_000;
const DAY = 24 * H;
const T0 = Date.UTC(2026, 0, 1);

/** Days 0–20 at 100 kWh an hour, from day 21 on 110. */
function series(id: string, days = 30): SeriesData {
  const values = new Float64Array(days * 24);
  for (let i = 0; i < values.length; i++) values[i] = i < 21 * 24 ? 100 : 110;
  return { id, timezone: 'UTC', startMs: T0, values };
}

/** Stand-in: same hour a week earlier, ±10 % band; NaN when unknown. */
const lastWeek: ForecastModel = {
  kind: 'naive',
  async fit(ss) {
    return {
      kind: 'naive',
      info: {},
      async predict(h) {
        return ss.map((s) => {
          const rows = [];
          for (let t = h.fromMs; t < h.toMs; t += H) {
            const v = s.values[(t - 7 * DAY - s.startMs) / H] ?? Number.NaN;
            rows.push({ start: t, p10: v * 0.9, p50: v, p90: v * 1.1 });
          }
          return rows;
        });
      },
    };
  },
};

/** Stand-in that always says 130. */
const high: ForecastModel = {
  kind: 'profile',
  async fit(ss) {
    return {
      kind: 'profile',
      info: { says: 130 },
      async predict(h) {
        return ss.map(() => {
          const rows = [];
          for (let t = h.fromMs; t < h.toMs; t += H) rows.push({ start: t, p10: 117, p50: 130, p90: 143 });
          return rows;
        });
      },
    };
  },
};

describe('rolling-origin backtest', () => {
  it('scores every model on the same hours, with skill, pooled and portfolio figures and a backtest ensemble', async () => {
    const r = await backtest([series('a'), series('b')], {
      models: { naive: lastWeek, profile: high },
      ensembles: {
        // Plain inverse-WAPE weights (power 1; the default ENSEMBLE_POWER is 2), as the figures below are worked out.
        ensemble: { members: ['naive', 'profile'], power: 1 },
        auto: { members: ['naive', 'profile', 'ensemble'], mode: 'best' },
        // Keep naive unless beaten by more than 60 % (ensemble's 5 is not < 10 × 0.4) / 40 % (5 < 6).
        keep60: { members: ['naive', 'profile', 'ensemble'], mode: 'best', prefer: { member: 'naive', margin: 0.6 } },
        keep40: { members: ['naive', 'profile', 'ensemble'], mode: 'best', prefer: { member: 'naive', margin: 0.4 } },
      },
      fromDate: '2026-01-21', // day 20: forecasts days 21, 22, 23
      toDate: '2026-01-23',
      country: 'GB',
      portfolio: { id: 'portfolio:P' },
    });
    expect(r.issueTimes).toEqual([T0 + 20 * DAY + 10 * H, T0 + 21 * DAY + 10 * H, T0 + 22 * DAY + 10 * H]);
    expect(r.models).toEqual(['naive', 'profile', 'ensemble', 'auto', 'keep60', 'keep40']);
    const naive = r.aggregate.naive;
    expect(naive.metrics.n).toBe(2 * 72);
    expect(naive.metrics.mae).toBeCloseTo(10, 10);
    expect(naive.metrics.coverage).toBe(1);
    expect(naive.skill).toBe(0);
    expect(r.aggregate.profile.metrics.mae).toBeCloseTo(20, 10);
    expect(r.aggregate.profile.skill).toBeCloseTo(-1, 10);
    expect(r.aggregate.profile.metrics.coverage).toBe(0);
    // Ensemble: equal weights (115) while no window is known yet; at the third origin the first
    // window (day 21) is known: WAPEs 10/110 and 20/110 → weights 2/3, 1/3 → 110, no error.
    expect(r.weights!.ensemble.naive).toBeCloseTo(2 / 3, 10);
    expect(r.aggregate.ensemble.metrics.mae).toBeCloseTo((5 + 5 + 0) / 3, 10);
    expect(r.aggregate.ensemble.skill).toBeCloseTo(1 - 10 / 3 / 10, 10);
    // auto: nothing scored yet at the first two origins → the first member (naive, error 10); at the third
    // the ensemble had the lowest WAPE on day 21 (5/110 against 10/110 and 20/110) → its 110, no error.
    expect(r.weights!.auto).toEqual({ naive: 0, profile: 0, ensemble: 1 });
    expect(r.aggregate.auto.metrics.mae).toBeCloseTo(20 / 3, 10);
    expect(r.aggregate.keep60.metrics.mae).toBeCloseTo(10, 10);
    expect(r.aggregate.keep40.metrics.mae).toBeCloseTo(20 / 3, 10);
    expect(r.perSeries.naive.map((p) => p.id)).toEqual(['a', 'b']);
    // Portfolio: 220 against 200 (naive) and 260 (profile).
    expect(r.portfolio!.naive.metrics.mae).toBeCloseTo(20, 10);
    expect(r.portfolio!.profile.metrics.mae).toBeCloseTo(40, 10);
    expect(r.portfolio!.profile.skill).toBeCloseTo(-1, 10);
    expect(r.info.profile).toEqual({ says: 130 });
  });

  it('origins before scoreFrom are replayed but not scored', async () => {
    const r = await backtest([series('a')], {
      models: { naive: lastWeek, profile: high },
      ensembles: { ensemble: { members: ['naive', 'profile'], power: 1 } },
      fromDate: '2026-01-21',
      toDate: '2026-01-23',
      scoreFrom: '2026-01-23',
      country: 'GB',
    });
    expect(r.issueTimes).toHaveLength(3);
    expect(r.aggregate.naive.metrics.n).toBe(24);
    expect(r.aggregate.ensemble.metrics.mae).toBeCloseTo(0, 10);
  });

  it('models never see values at or after the data cut-off', async () => {
    const seen: { lastKnown: number; cutoff: number; tempTo: number }[] = [];
    const spy: ForecastModel = {
      kind: 'naive',
      async fit(ss, ctx) {
        const s = ss[0];
        let last = -1;
        s.values.forEach((v, i) => {
          if (Number.isFinite(v)) last = i;
        });
        seen.push({ lastKnown: s.startMs + (last + 1) * H, cutoff: ctx.dataCutoff, tempTo: s.startMs + s.temperature!.length * H });
        return lastWeek.fit(ss, ctx);
      },
    };
    const s = { ...series('a'), temperature: new Float64Array(30 * 24).fill(5) };
    const r = await backtest([s], { models: { naive: spy }, fromDate: '2026-01-21', toDate: '2026-01-22', country: 'GB', historyDays: 14 });
    expect(seen).toHaveLength(2);
    for (const [k, v] of seen.entries()) {
      expect(v.cutoff).toBe(r.issueTimes[k]); // issued at the 10:00 cut-off
      expect(v.lastKnown).toBe(v.cutoff);
      expect(v.tempTo).toBe(T0 + (22 + k) * DAY); // weather to the end of the forecast day
    }
  });

  it('simulated temperature forecast error touches only hours from the issue time on', () => {
    const s = { ...series('a'), temperature: new Float64Array(30 * 24).fill(5) };
    const issue = T0 + 10 * DAY + 10 * H;
    const v = seriesAsOf(s, issue, issue, issue + DAY, undefined, { sigma: 2, rand: Math.random });
    const issueIdx = (issue - T0) / H;
    expect([...v.temperature!.subarray(0, issueIdx)].every((t) => t === 5)).toBe(true);
    expect([...v.temperature!.subarray(issueIdx)].some((t) => t !== 5)).toBe(true);
    expect(Number.isNaN(v.values[issueIdx])).toBe(true);
    expect(v.values[issueIdx - 1]).toBe(100);
  });

  it('trains models that can update on the refit cadence and re-anchors them in between', async () => {
    let fits = 0;
    let updates = 0;
    const make = (ss: readonly SeriesData[], ctx: FitContext): FittedModel => {
      const inner = lastWeek.fit(ss, ctx);
      return {
        kind: 'ml',
        info: {},
        predict: async (h) => (await inner).predict(h),
        update: async (s2, c2) => {
          updates++;
          return make(s2, c2);
        },
      };
    };
    const trained: ForecastModel = { kind: 'ml', fit: async (ss, ctx) => (fits++, make(ss, ctx)) };
    await backtest([series('a')], { models: { ml: trained }, fromDate: '2026-01-15', toDate: '2026-01-24', country: 'GB', refitEveryDays: 7 });
    expect(fits).toBe(2); // days 1 and 8 of 10
    expect(updates).toBe(8);
  });
});

describe('band calibration', () => {
  it('scales each side of the band to the upper decile of past normalised errors', () => {
    // sLo = (100 − y)/10 → sorted [−2, −0.5, 0 ×6, 0.5, 3]: 90th percentile 0.5 + 0.1 × 2.5 = 0.75;
    // sHi = (y − 100)/10 → sorted [−3, −0.5, 0 ×6, 0.5, 2]: 0.5 + 0.1 × 1.5 = 0.65.
    const rows = Array.from({ length: 10 }, () => ({ p10: 90, p50: 100, p90: 110 }));
    const s = fitBandScale([100, 70, 120, 95, 105, 100, 100, 100, 100, 100], rows, { minSamples: 1 });
    expect(s.lo).toBeCloseTo(0.75, 10);
    expect(s.hi).toBeCloseTo(0.65, 10);
    expect(s.n).toBe(10);
    const r = scaleBand({ start: 0, p10: 90, p50: 100, p90: 110 }, s);
    expect(r.p10).toBeCloseTo(92.5, 10);
    expect(r.p90).toBeCloseTo(106.5, 10);
    expect(r.start).toBe(0);
    expect(fitBandScale([100], [rows[0]]).n).toBe(0); // below minSamples: unchanged
  });

  it('the backtest calibrates on earlier origins only and fills empty hours from the first model', async () => {
    const empty: ForecastModel = {
      kind: 'ml',
      fit: async () => ({ kind: 'ml', info: {}, predict: async (h) => [[{ start: h.fromMs, p10: 100, p50: 110, p90: 120 }]] }),
    };
    const r = await backtest([series('a')], {
      models: { naive: lastWeek, ml: empty },
      fromDate: '2026-01-21',
      toDate: '2026-01-23',
      country: 'GB',
      fillFrom: 'naive',
      calibrate: { minSamples: 24 },
    });
    expect(r.filled).toEqual({ naive: 0, ml: 3 * 23 });
    // Naive forecasts 100 in [90, 110] where the actual is 110: sHi = 1, sLo = −1 (clamped to 0.25).
    // Only the third origin sees a known window (day 21).
    const scale = r.bandScales!.naive[0];
    expect([scale.lo, scale.n]).toEqual([0.25, 24]);
    expect(scale.hi).toBeCloseTo(1, 10);
    expect(r.aggregate.naive.metrics.pinball.p10).toBeCloseTo((48 * 0.1 * 20 + 24 * 0.1 * 12.5) / 72, 10);
    // ml: first hour of each day 110 (exact), the rest from naive.
    expect(r.aggregate.ml.metrics.mae).toBeCloseTo((69 * 10) / 72, 10);
  });
});

describe('ensemble', () => {
  it('weights by inverse error and averages quantiles', () => {
    const w = inverseErrorWeights([0.1, 0.2], 1);
    expect(w[0]).toBeCloseTo(2 / 3, 12);
    expect(w[1]).toBeCloseTo(1 / 3, 12);
    const sq = inverseErrorWeights([0.1, 0.2]); // ENSEMBLE_POWER 2: ∝ 1/WAPE²
    expect(sq[0]).toBeCloseTo(0.8, 12);
    expect(sq[1]).toBeCloseTo(0.2, 12);
    expect(inverseErrorWeights([Number.NaN, Number.NaN])).toEqual([0.5, 0.5]);
    expect(inverseErrorWeights([0, 0.2])).toEqual([1, 0]);
    const c = combineQuantiles(
      [
        { p10: 80, p50: 100, p90: 120 },
        { p10: 110, p50: 130, p90: 160 },
      ],
      [2 / 3, 1 / 3],
    );
    expect(c.p10).toBeCloseTo(90, 10);
    expect(c.p50).toBeCloseTo(110, 10);
    expect(c.p90).toBeCloseTo(400 / 3, 10);
    // A member without a forecast leaves the hour to the others.
    const alone = combineQuantiles(
      [
        { p10: Number.NaN, p50: Number.NaN, p90: Number.NaN },
        { p10: 1, p50: 2, p90: 3 },
      ],
      [0.9, 0.1],
    );
    expect([alone.p10, alone.p50, alone.p90].map((v) => Math.round(v * 1e9) / 1e9)).toEqual([1, 2, 3]);
  });

  it('portfolio band: half the summed and half the root-sum-square widths', () => {
    const q = sumQuantiles([
      { p10: 7, p50: 10, p90: 14 },
      { p10: 16, p50: 20, p90: 23 },
    ]);
    expect(q.p50).toBe(30);
    expect(q.p10).toBeCloseTo(30 - (7 + 5) / 2, 10);
    expect(q.p90).toBeCloseTo(30 + (7 + 5) / 2, 10);
  });

  it('fitted without weights, scores the members on a holdout of the last days', async () => {
    // Cut-off at day 24 00:00; holdout days 17–23: from day 21 the level is 110.
    // lastWeek forecasts 100 for days 17–23 (errors 0 ×4 days, 10 ×3 days → WAPE 720/((4·100+3·110)·24));
    // high says 130 (errors 30 ×4, 20 ×3).
    const ctx = { issueTime: T0 + 24 * DAY, dataCutoff: T0 + 24 * DAY, country: 'GB' };
    const fitted = await ensembleModel([lastWeek, high], { names: ['naive', 'high'], power: 1 }).fit([series('a')], ctx);
    const wNaive = 1 / (720 / 17520);
    const wHigh = 1 / (((30 * 4 + 20 * 3) * 24) / 17520);
    const w = fitted.info.weights as Record<string, number>;
    expect(w.naive).toBeCloseTo(wNaive / (wNaive + wHigh), 10);
    const rows = await fitted.predict({ fromMs: T0 + 24 * DAY, toMs: T0 + 25 * DAY });
    expect(rows[0]).toHaveLength(24);
    // Day 24: lastWeek says 100 (day 17), high 130.
    expect(rows[0][0].p50).toBeCloseTo(w.naive * 100 + w.high * 130, 10);
  });
});
