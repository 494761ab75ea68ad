import { describe, expect, it } from 'vitest';
import { localMonthRange, startOfLocalDate } from '../models/calendar.js';
import { DEFAULT_VEE_PARAMS as P, type VeePoint } from '../models/vee.js';
import { estimateGaps, likeDay, linearShare, scaleToRegister } from '../ingest/vee/estimate.js';
import { flatLineRule, gapRule, highLowRule, negativeRule, spikeRule, zeroRunRule } from '../ingest/vee/interval-rules.js';
import { registerRule, rolloverDelta, sumCheckRule } from '../ingest/vee/register-rules.js';
import { rangeRule, timeRule } from '../ingest/vee/time-range-rules.js';

const H = 3_600_000;
const pts = (from: number, stepMs: number, values: number[]): VeePoint[] => values.map((value, i) => ({ startMs: from + i * stepMs, value, quality: 'measured' }));
const ctx = (fromMs: number, toMs: number, intervalMinutes = 60, timezone = 'Europe/Istanbul', history: VeePoint[] = []) => ({ fromMs, toMs, intervalMinutes, timezone, history });

describe('gap rule', () => {
  it('counts a DST month in Europe/Warsaw: March 2026 has 743 local hours', () => {
    const { fromMs, toMs } = localMonthRange('2026-03', 'Europe/Warsaw');
    expect((toMs - fromMs) / H).toBe(743);
    const all = pts(fromMs, H, new Array(743).fill(1));
    expect(gapRule(all, ctx(fromMs, toMs, 60, 'Europe/Warsaw'), P.gap)).toEqual([]);
    // Drop the 3 hours starting at local 01:00 on 29 March (00:00Z): the 02:00 local hour does not exist that day.
    const dayStart = startOfLocalDate('2026-03-29', 'Europe/Warsaw');
    const holed = all.filter((x) => x.startMs < dayStart + H || x.startMs >= dayStart + 4 * H);
    const f = gapRule(holed, ctx(fromMs, toMs, 60, 'Europe/Warsaw'), P.gap);
    expect(f).toHaveLength(1);
    expect(f[0]).toMatchObject({ rule: 'gap', severity: 'fail', fromMs: dayStart + H, toMs: dayStart + 4 * H, detail: '3 intervals missing' });
    // Those three absolute hours are local 01:00, 03:00 and 04:00.
    expect(new Date(dayStart + H).toISOString()).toBe('2026-03-29T00:00:00.000Z');
  });

  it('expects 100 quarter-hours on the 25-hour day of 25 Oct 2026 in Warsaw', () => {
    const from = startOfLocalDate('2026-10-25', 'Europe/Warsaw');
    const to = startOfLocalDate('2026-10-26', 'Europe/Warsaw');
    const q = 15 * 60_000;
    const present = pts(from, q, new Array(99).fill(0.2)); // last quarter-hour missing
    const f = gapRule(present, ctx(from, to, 15, 'Europe/Warsaw'), P.gap);
    expect(f).toEqual([{ rule: 'gap', severity: 'fail', fromMs: from + 99 * q, toMs: to, detail: '1 interval missing', suspectStarts: [] }]);
  });
});

describe('value rules', () => {
  const t0 = Date.parse('2026-01-05T00:00:00+03:00'); // a Monday
  it('flags negative values only', () => {
    const f = negativeRule(pts(t0, H, [1, -0.5, 2]), ctx(t0, t0 + 3 * H), P.negative);
    expect(f.map((x) => [x.fromMs, x.detail])).toEqual([[t0 + H, 'negative consumption -0.5']]);
  });

  it('spike: above k × (median + 1.4826·MAD) of history, and above the physical maximum', () => {
    // History: 24 values alternating 1 and 3 → median 2, MAD 1 → level 3.4826; k = 5 → threshold 17.413.
    const history = pts(t0 - 24 * H, H, Array.from({ length: 24 }, (_, i) => (i % 2 ? 3 : 1)));
    const c = ctx(t0, t0 + 3 * H, 60, 'Europe/Istanbul', history);
    const f = spikeRule(pts(t0, H, [17, 17.5, 4]), c, P.spike);
    expect(f.map((x) => x.fromMs)).toEqual([t0 + H]);
    const phys = spikeRule(pts(t0, H, [9, 11]), c, { ...P.spike, maxKw: 10 });
    expect(phys.map((x) => x.fromMs)).toEqual([t0 + H]);
    expect(phys[0].detail).toMatch(/physical maximum 10/);
  });

  it('high/low: a day at 4× the average of its day type', () => {
    // Two earlier Mondays totalling 24 each (1 kWh/h); the tested Monday totals 96.
    const history = [...pts(t0 - 14 * 24 * H, H, new Array(24).fill(1)), ...pts(t0 - 7 * 24 * H, H, new Array(24).fill(1))];
    const f = highLowRule(pts(t0, H, new Array(24).fill(4)), ctx(t0, t0 + 24 * H, 60, 'Europe/Istanbul', history), P.highLow);
    expect(f).toHaveLength(1);
    expect(f[0].detail).toBe('daily total 96 on 2026-01-05 is 4 × the average 24 of workdays');
    expect(highLowRule(pts(t0, H, new Array(24).fill(2)), ctx(t0, t0 + 24 * H, 60, 'Europe/Istanbul', history), P.highLow)).toEqual([]);
  });

  it('zero run where the meter usually consumes, flat line of identical values', () => {
    const history = pts(t0 - 24 * H, H, new Array(24).fill(1));
    const values = [1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 1];
    const z = zeroRunRule(pts(t0, H, values), ctx(t0, t0 + 11 * H, 60, 'Europe/Istanbul', history), P.zeroRun);
    expect(z.map((x) => [x.fromMs, x.toMs, x.suspectStarts.length])).toEqual([[t0 + H, t0 + 7 * H, 6]]);
    // The same zeros at hours the meter never consumed are not flagged.
    const idle = pts(t0 - 24 * H, H, new Array(24).fill(0));
    expect(zeroRunRule(pts(t0, H, values), ctx(t0, t0 + 11 * H, 60, 'Europe/Istanbul', idle), P.zeroRun)).toEqual([]);
    const flat = flatLineRule(pts(t0, H, [...new Array(12).fill(2.5), 3]), ctx(t0, t0 + 13 * H), P.flatLine);
    expect(flat.map((x) => x.detail)).toEqual(['12 consecutive intervals of 2.5']);
    expect(flatLineRule(pts(t0, H, new Array(11).fill(2.5)), ctx(t0, t0 + 11 * H), P.flatLine)).toEqual([]);
  });
});

describe('register rules', () => {
  const t0 = Date.parse('2026-01-05T00:00:00Z');
  it('tells a rollover from a reset', () => {
    expect(rolloverDelta(99_990, 15, 100_000)).toBe(25);
    expect(rolloverDelta(50_000, 15, 100_000)).toBeUndefined();
    const f = registerRule(pts(t0, H, [99_990, 15, 10]), { ...P.register, rolloverAt: 100_000 });
    expect(f.map((x) => [x.severity, x.detail])).toEqual([
      ['warn', 'register rolled over from 99990 to 15 (max 100000): consumption 25'],
      ['fail', 'register decreased from 15 to 10: meter reset or replaced'],
    ]);
  });

  it('sum check: interval sum vs register difference within tolerance', () => {
    const reads = pts(t0, 4 * H, [1000, 1010, 1030]);
    const intervals = pts(t0, H, [2.5, 2.5, 2.5, 2.5, 5, 5, 5, 4]); // 10 then 19
    const f = sumCheckRule(reads, intervals, 60, P.sumCheck);
    // Second bracket: sum 19 vs difference 20 → within max(1, 2 % of 20 = 0.4) = 1: fine.
    expect(f).toEqual([]);
    const bad = sumCheckRule(reads, pts(t0, H, [2.5, 2.5, 2.5, 2.5, 5, 5, 5, 2]), 60, P.sumCheck);
    expect(bad.map((x) => x.detail)).toEqual(['interval sum 17 differs from register difference 20 by -3 (tolerance 1)']);
    expect(bad[0].suspectStarts).toHaveLength(4);
  });
});

describe('time and range rules', () => {
  it('future and too old', () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    const f = timeRule(pts(now - 401 * 86_400_000, 0, [1]).concat(pts(now + 20 * 60_000, 0, [1]), pts(now + 10 * 60_000, 0, [1])), now, H, P.time);
    expect(f.map((x) => x.detail.replace(/.* (is .*)$/, '$1'))).toEqual(['is older than the 400-day horizon', 'is in the future']);
  });
  it('temperature and pressure bounds', () => {
    const t0 = 0;
    expect(rangeRule(pts(t0, H, [20, 95]), 'temperature', P.range).map((x) => x.detail)).toEqual(['temperature 95 outside the physical range [-60, 80]']);
    expect(rangeRule(pts(t0, H, [-1, 1.2]), 'pressure', P.range)).toHaveLength(1);
    expect(rangeRule(pts(t0, H, [-1]), 'active_import', P.range)).toEqual([]);
  });
});

describe('estimation', () => {
  const t0 = Date.parse('2026-01-05T00:00:00+03:00');
  it('linear: shares the energy equally, or the known total', () => {
    expect(linearShare([1, 2], 1, 3).map((e) => e.value)).toEqual([2, 2]);
    expect(linearShare([1, 2, 3], 1, 3, 9).map((e) => e.value)).toEqual([3, 3, 3]);
  });

  it('like day: same local time on the same day type, previous weeks, holiday-aware', () => {
    // Mondays 1 and 2 weeks earlier had 2 and 4 at 10:00; the Sunday before had 9.
    const at = (daysBack: number, hour: number, value: number): VeePoint => ({ startMs: t0 - daysBack * 24 * H + hour * H, value, quality: 'measured' });
    const history = [at(7, 10, 2), at(14, 10, 4), at(1, 10, 9)];
    const [e] = likeDay([t0 + 10 * H], { intervalMinutes: 60, timezone: 'Europe/Istanbul', history });
    expect(e).toMatchObject({ value: 3, method: 'like-day', params: { days: ['2025-12-29', '2025-12-22'], dayType: 'workday' } });
    // Declared a holiday, the Monday is estimated from the Sunday.
    const [h] = likeDay([t0 + 10 * H], { intervalMinutes: 60, timezone: 'Europe/Istanbul', history, holidays: new Set(['2026-01-05']) });
    expect(h).toMatchObject({ value: 9, method: 'like-day' });
    // No history: the class shape × daily energy.
    const [c] = likeDay([t0 + 10 * H], { intervalMinutes: 60, timezone: 'Europe/Istanbul', history: [], classShape: () => 0.05, dailyEnergy: 40 });
    expect(c).toMatchObject({ value: 2, method: 'profile-class' });
  });

  it('estimates bracketed by register reads add up to the register difference', () => {
    // Reads 100 → 112 over 6 hours; hours 1 and 4 known (2 + 3), four hours missing estimated at 1, 1, 2, 2.
    const est = [1, 1, 2, 2].map((value, i) => ({ startMs: i, value, method: 'like-day' as const, params: {} }));
    const scaled = scaleToRegister(est, 5, 12);
    expect(scaled.map((e) => e.value)).toEqual([7 / 6, 7 / 6, 7 / 3, 7 / 3]);
    expect(scaled.reduce((a, e) => a + e.value, 0) + 5).toBeCloseTo(12, 12);
  });

  it('chooses linear for short gaps and like-day for long ones', () => {
    const present = pts(t0, H, [1, 2, 3]);
    const short = estimateGaps([t0 + 3 * H, t0 + 4 * H], present.concat(pts(t0 + 5 * H, H, [5])), { intervalMinutes: 60, timezone: 'Europe/Istanbul', history: [] });
    expect(short.map((e) => [e.method, e.value])).toEqual([['linear', 4], ['linear', 4]]);
    const long = estimateGaps([t0 + 3 * H, t0 + 4 * H, t0 + 5 * H], present, { intervalMinutes: 60, timezone: 'Europe/Istanbul', history: pts(t0 - 7 * 24 * H, H, new Array(24).fill(0.7)) });
    expect(long.map((e) => [e.method, e.value])).toEqual([['like-day', 0.7], ['like-day', 0.7], ['like-day', 0.7]]);
  });
});
