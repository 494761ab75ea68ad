import { describe, expect, it } from 'vitest';
import { qualityGate, runForecast } from '../forecast/engine.js';
import { CALIBRATION } from '../forecast/calibration.js';
import { horizonWindow } from '../forecast/horizon.js';
import type { ForecastModel, QuantileRow, SeriesData } from '../forecast/model.js';

const H = 3_600_000;
const DAY = 24 * H;
const T0 = Date.UTC(2026, 0, 1);
const DAYS = 62;

/** Rises 1 kWh a day; unknown before day `from`. */
function rising(id: string, base: number, from = 0): SeriesData {
  const values = new Float64Array(DAYS * 24);
  for (let i = 0; i < values.length; i++) values[i] = i < from * 24 ? Number.NaN : base + i / 24;
  return { id, timezone: 'UTC', startMs: T0, values };
}

function constantModel(kind: 'naive' | 'profile' | 'ml', p50: (s: SeriesData, cutoff: number, t: number) => number, seen?: string[][]): ForecastModel {
  return {
    kind,
    async fit(ss, ctx) {
      seen?.push(ss.map((s) => s.id));
      return {
        kind,
        info: { stand: kind },
        async predict(h) {
          return ss.map((s) => {
            const rows: QuantileRow[] = [];
            for (let t = h.fromMs; t < h.toMs; t += H) {
              const v = p50(s, ctx.dataCutoff, t);
              rows.push({ start: t, p10: v - 5, p50: v, p90: v + 5 });
            }
            return rows;
          });
        },
      };
    },
  };
}

/** Last known value before the cut-off (persistence). */
const lastKnown = (s: SeriesData, cutoff: number) => {
  for (let i = Math.min(s.values.length, (cutoff - s.startMs) / H) - 1; i >= 0; i--) if (Number.isFinite(s.values[i])) return s.values[i];
  return Number.NaN;
};
const weekAgo = (s: SeriesData, _c: number, t: number) => s.values[(t - 7 * DAY - s.startMs) / H] ?? Number.NaN;

describe('forecast engine', () => {
  // Issued on day 60 (2 March) at the 10:00 cut-off: forecasts day 61; backtest issues 15–28 February (windows known by then).
  const issueTime = T0 + 60 * DAY + 10 * H;
  const w = horizonWindow('day-ahead', issueTime, 'UTC');
  const ctx = { issueTime, dataCutoff: w.dataCutoff, country: 'GB' };

  it('auto picks the lowest backtest WAPE, gates short series to profile, sums the portfolio, always returns naive', async () => {
    const a = rising('meter:a', 100);
    const b = rising('meter:b', 50, 40); // 20.4 days of values by the cut-off: profile, not ml
    const agg: SeriesData = { id: 'portfolio:P', timezone: 'UTC', startMs: T0, values: a.values.map((v, i) => v + b.values[i]) };
    const mlSeen: string[][] = [];
    const r = await runForecast(
      [a, b, agg],
      ctx,
      { ...w, name: 'day-ahead' },
      {
        model: 'auto',
        target: 'portfolio:P',
        models: { naive: constantModel('naive', weekAgo), profile: constantModel('profile', () => 130), ml: constantModel('ml', lastKnown, mlSeen) },
      },
    );
    // Persistence misses by ~1–2 kWh, a week ago by 7, 130 by ~30 or more: ml wins over the ensemble it dominates.
    expect(r.model).toBe('ml');
    expect(r.info.choice).toMatch(/^lowest backtest WAPE: ml/);
    expect(r.metrics!.backtest).toMatchObject({ fromDate: '2026-02-15', toDate: '2026-02-28', origins: 14, horizon: 'day-ahead' });
    expect(Object.keys(r.metrics!.models)).toEqual(['naive', 'profile', 'ml', 'ensemble']);
    expect(r.metrics!.models.ml.wape).toBeLessThan(r.metrics!.models.naive.wape);
    expect(r.metrics!.models.ml.skill).toBeGreaterThan(0.5);
    expect(r.info.weights!.ml).toBeGreaterThan(r.info.weights!.profile);
    // The final ml fit saw only meter:a; meter:b fell back to profile with the reason.
    expect(mlSeen.at(-1)).toEqual(['meter:a']);
    expect(r.info.fallbacks).toEqual([{ id: 'meter:b', model: 'profile', reason: expect.stringMatching(/too little history for ml: 20\.4 days/) }]);
    expect(r.rows).toHaveLength(3);
    expect(r.rows[0]).toHaveLength(24);
    const lastA = 100 + (60 * 24 + 9) / 24;
    expect(r.rows[0].every((x) => x.p50 === lastA)).toBe(true);
    expect(r.rows[1].every((x) => x.p50 === 130)).toBe(true);
    // Calibrated bands still bracket the median.
    expect(r.rows[0].every((x) => x.p10 <= x.p50 && x.p50 <= x.p90)).toBe(true);
    // The aggregate has 20 days of values too: it fails the ml gate, so the sum of members is its forecast.
    expect(r.info.portfolio).toMatchObject({ id: 'portfolio:P', method: 'sum', membersLeftOut: 0 });
    expect(r.rows[2][0].p50).toBeCloseTo(lastA + 130, 10);
    expect(r.metrics!.portfolio!.sum.ml.n).toBeGreaterThan(0);
    expect(r.naive).toHaveLength(3);
    expect(r.naive[0][0].p50).toBe(a.values[(w.fromMs - 7 * DAY - T0) / H]);
  });

  it('auto keeps the ensemble unless another kind beats it by more than 10 %', async () => {
    // profile = persistence, ml = persistence + 0.2 (closer on a rising series): the ensemble lies between, within 10 %.
    const models = {
      naive: constantModel('naive', weekAgo),
      profile: constantModel('profile', lastKnown),
      ml: constantModel('ml', (s, c) => lastKnown(s, c) + 0.2),
    };
    const r = await runForecast([rising('meter:a', 100)], ctx, w, { model: 'auto', models });
    const m = r.metrics!.models;
    expect(m.ml.wape).toBeLessThan(m.ensemble.wape);
    expect(m.ml.wape).toBeGreaterThan(m.ensemble.wape * 0.9);
    expect(m.ensemble.wape).toBeLessThan(m.profile.wape);
    expect(r.model).toBe('ensemble');
    expect(r.info.choice).toMatch(/^ensemble: no kind beats its backtest WAPE by more than 10 %/);
  });

  it('a requested kind that no series passes falls back, with the reason; no backtest → auto takes profile', async () => {
    const short = rising('meter:s', 10, 40);
    const models = { naive: constantModel('naive', weekAgo), profile: constantModel('profile', () => 11), ml: constantModel('ml', lastKnown) };
    const r = await runForecast([short], ctx, w, { model: 'ml', models });
    expect(r.model).toBe('profile');
    expect(r.info.choice).toMatch(/no series passes the ml quality gate → profile/);
    const none = await runForecast([short], ctx, w, { model: 'auto', models, backtestDays: 0 });
    expect(none.model).toBe('profile');
    expect(none.info.choice).toBe('profile (backtest turned off)');
    expect(none.metrics).toBeNull();
  });

  it('large targets backtest an evenly spaced sample; the others take its pooled band scales', async () => {
    const ms = [rising('meter:1', 100), rising('meter:2', 200), rising('meter:3', 300)];
    const agg: SeriesData = { id: 'group:G', timezone: 'UTC', startMs: T0, values: ms[0].values.map((v, i) => v + ms[1].values[i] + ms[2].values[i]) };
    const models = { naive: constantModel('naive', weekAgo), profile: constantModel('profile', lastKnown), ml: constantModel('ml', lastKnown) };
    const r = await runForecast([...ms, agg], ctx, w, { model: 'profile', target: 'group:G', models, backtestMaxSeries: 2 });
    expect(r.metrics!.backtest).toMatchObject({ series: 2, sampled: true }); // members 0 and 1 (k·3/2 → 0, 1)
    expect(Object.keys(r.info.bandScales).sort()).toEqual(['group:G', 'meter:1', 'meter:2', 'meter:3']);
    expect(r.info.bandScales['meter:3'].n).toBe(2 * 14 * 24); // pooled over both sampled members
    // Fitted on every replayed origin: the 14 scored and the calibration's warm-up days before them (forecast/calibration).
    expect(r.info.bandScales['meter:1'].n).toBe((14 + CALIBRATION.warmUpDays) * 24);
    expect(r.rows[3][0].p50).toBeCloseTo(r.rows[0][0].p50 + r.rows[1][0].p50 + r.rows[2][0].p50, 8);
  });

  it('quality gates: history, gaps, flat lines', () => {
    const cutoff = T0 + 60 * DAY;
    expect(qualityGate(rising('x', 1), cutoff).level).toBe('ml');
    expect(qualityGate(rising('x', 1, 50), cutoff)).toMatchObject({ level: 'naive', reason: expect.stringMatching(/too little history: 10\.0 days/) });
    const gappy = rising('x', 1);
    for (let d = 4; d < 60; d += 2) gappy.values.fill(Number.NaN, d * 24, d * 24 + 20); // 20 of 48 hours missing ≈ 40 %
    expect(qualityGate(gappy, cutoff)).toMatchObject({ level: 'profile', reason: expect.stringMatching(/too many gaps/) });
    const flat = rising('x', 1);
    flat.values.fill(0, 55 * 24, 58 * 24);
    expect(qualityGate(flat, cutoff)).toMatchObject({ level: 'profile', reason: expect.stringMatching(/flat line: the same value for 72 hours/) });
  });
});
