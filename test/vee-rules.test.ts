import { describe, expect, it } from 'vitest';
import { localMonthRange, startOfLocalDate } from '../models/calendar.js';
import { DEFAULT_VEE_PARAMS as P, type VeePoint } from '../models/vee.js';
import { estimateGaps, likeDay, linearShare, scaleToRegister } from '../ingest/vee/estimate.js';
import { flatLineRule, gapRule, gapWindowEnd, highLowRule, negativeRule, spikeRule, zeroRunRule } from '../ingest/vee/interval-rules.js';
import { conflictRule } from '../ingest/vee/conflict-rule.js';
import { overrideProblems, resolveVeeParams } from '../ingest/vee/config.js';
import { evaluateMeter, inRange, issueKey, type SeriesPoint } from '../ingest/vee/evaluate.js';
import { queueTargets } from '../ingest/vee/vee-worker.js';
import { registerRule, rolloverDelta, sumCheckRule } from '../ingest/vee/register-rules.js';
import { rangeRule, supplyRule, timeRule } from '../ingest/vee/time-range-rules.js';
import { registerWrapPoints, wrapPointOf } from '../ingest/vee/wrap-points.js';

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
    const history = pts(
      t0 - 24 * H,
      H,
      Array.from({ length: 24 }, (_, i) => (i % 2 ? 3 : 1)),
    );
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
      ['warn', 'register rolled over from 99990 to 15 (wraps at 100000): consumption 25'],
      ['fail', 'register decreased from 15 to 10: meter reset or replaced'],
    ]);
  });

  it('agrees with the Modbus poller on what a rollover is: the wrapped delta within 10 % of the wrap point', () => {
    // 95 % → 4 %: wrapped 9 % (a rollover for both); 95 % → 8 %: wrapped 13 % (a reset for the poller, so for VEE too).
    expect(rolloverDelta(95_000, 4_000, 100_000)).toBe(9_000);
    expect(rolloverDelta(95_000, 8_000, 100_000)).toBeUndefined();
    // A 32-bit counter of 0.01 kWh wraps at 2^32 × 0.01 = 42 949 672.96 (issue 12, defect 11).
    expect(rolloverDelta(42_949_663.51, 8.77, 2 ** 32 * 0.01)).toBeCloseTo(18.22, 6);
    // Without a wrap point every decrease is a reset, and the detail says why.
    expect(registerRule(pts(t0, H, [42_949_663.51, 8.77]), P.register)[0].detail).toBe('register decreased from 42949663.51 to 8.77: meter reset or replaced (no wrap point known for this register)');
  });

  it('takes the wrap point from the device register map before the rule parameter', () => {
    const wraps = registerWrapPoints([
      { meterId: 1, entry: { address: 0, type: 'uint32', scale: 0.01, meter: 'M1', channel: '1.8.0' } },
      { meterId: 1, entry: { address: 2, type: 'uint16', meter: 'M1', channel: 'active_export_register', rolloverAt: 1000 } },
      { meterId: 2, entry: { address: 0, type: 'float32', meter: 'M2', channel: 'active_import_register' } }, // floats do not wrap
      { meterId: 2, entry: { address: 4, type: 'int16', meter: 'M2', channel: 'temperature' } },
      { meterId: 3, entry: { nonsense: true } },
    ]);
    expect([...wraps.entries()].map(([m, w]) => [m, [...w.entries()]])).toEqual([
      [
        1,
        [
          [5, 2 ** 32 * 0.01],
          [6, 1000],
        ],
      ],
    ]);
    expect(wrapPointOf(wraps.get(1), 5, { ...P, register: { ...P.register, rolloverAt: 99 } })).toBe(2 ** 32 * 0.01);
    expect(wrapPointOf(wraps.get(2), 5, { ...P, register: { ...P.register, rolloverAt: 99 } })).toBe(99);
    expect(wrapPointOf(undefined, 5, P)).toBeUndefined();
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
  it('future-dated against now and against arrival; never too old', () => {
    const now = Date.parse('2026-11-25T12:00:00Z');
    const received = (startMs: number, receivedMs: number) => ({ startMs, value: 1, quality: 'measured' as const, receivedMs });
    const f = timeRule(
      [
        ...pts(now - 3000 * 86_400_000, 0, [1]), // eight years old: plausible
        received(now - 5000 * 86_400_000, now - 60_000), // loaded long after its time: plausible
        ...pts(now + 20 * 60_000, 0, [1]), // 20 min ahead of now
        ...pts(now + 10 * 60_000, 0, [1]), // within the 15-min clock tolerance
        received(now - 2 * 86_400_000, now - 3 * 86_400_000), // in the past now, but it arrived a day before its time
        received(now - 2 * 86_400_000, now - 2 * 86_400_000 - 10 * 60_000), // 10 min before its time: tolerated
        received(now - 60_000, now + 60 * 60_000), // arrival after now (a test clock): judged against now
      ],
      now,
      H,
      P.time,
    );
    expect(f.map((x) => x.detail)).toEqual([
      'reading at 2026-11-25T12:20:00.000Z is in the future',
      'reading at 2026-11-23T12:00:00.000Z arrived at 2026-11-22T12:00:00.000Z, 1440 minutes before its time',
    ]);
    expect(f.every((x) => x.severity === 'fail' && x.suspectStarts.length === 1)).toBe(true);
  });

  it('values outside the supply dates: one finding per local day, every value suspect', () => {
    const IST = 'Europe/Istanbul';
    const jan31 = startOfLocalDate('2024-01-31', IST);
    const f = supplyRule(pts(jan31 + 20 * H, H, [1, 1, 1, 1, 1, 1]), { timezone: IST, supplyStart: '2024-02-01', supplyEnd: null }, P.time);
    expect(f).toEqual([
      {
        rule: 'time',
        severity: 'fail',
        fromMs: jan31,
        toMs: jan31 + 24 * H,
        detail: "4 values on 2024-01-31, before the meter's supply start 2024-02-01",
        suspectStarts: [0, 1, 2, 3].map((i) => jan31 + (20 + i) * H),
      },
    ]);
    const after = supplyRule(pts(jan31, H, [1]), { timezone: IST, supplyStart: '2023-01-01', supplyEnd: '2024-01-30' }, P.time);
    expect(after.map((x) => x.detail)).toEqual(["1 value on 2024-01-31, after the meter's supply end 2024-01-30"]);
  });

  it('a stored override with the retired horizonDays still parses; a new one is refused', () => {
    expect(
      resolveVeeParams([{ profileClass: null, commodity: null, effectiveFrom: '2020-01-01', params: { time: { horizonDays: 800 } } }], { profileClass: null, commodity: 'electricity' }, '2026-01-01')
        .params.time.futureMinutes,
    ).toBe(15);
    expect(overrideProblems({ time: { horizonDays: 800 } })).toEqual([expect.stringMatching(/^time\.horizonDays: no longer used/)]);
    expect(overrideProblems({ time: { futureMinutes: 30 } })).toEqual([]);
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
    expect(short.map((e) => [e.method, e.value])).toEqual([
      ['linear', 4],
      ['linear', 4],
    ]);
    const long = estimateGaps([t0 + 3 * H, t0 + 4 * H, t0 + 5 * H], present, { intervalMinutes: 60, timezone: 'Europe/Istanbul', history: pts(t0 - 7 * 24 * H, H, new Array(24).fill(0.7)) });
    expect(long.map((e) => [e.method, e.value])).toEqual([
      ['like-day', 0.7],
      ['like-day', 0.7],
      ['like-day', 0.7],
    ]);
  });
});

describe('gap window, conflicts, hourly spike levels, high/low completeness', () => {
  const t0 = Date.parse('2026-01-05T00:00:00+03:00'); // a Monday in Istanbul
  it('missing intervals after the newest value are gaps only once the grace has passed', () => {
    // Data up to 10:00; now is 06:00 the next day; grace 24 h → not yet.
    expect(gapWindowEnd(t0, t0 + 24 * H, t0 + 10 * H, t0 + 30 * H, 24, H)).toBe(t0 + 10 * H);
    // Now is 13:30 two days later: everything up to 13:00 the day after ended 24 h ago → the whole day counts.
    expect(gapWindowEnd(t0, t0 + 24 * H, t0 + 10 * H, t0 + 61.5 * H, 24, H)).toBe(t0 + 24 * H);
    // No data at all, now 30 h after the day began, grace 0: up to the day end (capped) … and before the day: nothing.
    expect(gapWindowEnd(t0, t0 + 24 * H, -Infinity, t0 + 30 * H, 0, H)).toBe(t0 + 24 * H);
    expect(gapWindowEnd(t0, t0 + 24 * H, -Infinity, t0 - H, 0, H)).toBe(t0);
    // Grid: now − grace = 05:30 → 05:00.
    expect(gapWindowEnd(t0, t0 + 24 * H, -Infinity, t0 + 29.5 * H, 24, H)).toBe(t0 + 5 * H);
  });

  it('conflict: one finding per run of consecutive re-sent intervals, one per register read', () => {
    const changes = [
      { startMs: t0 + 2 * H, oldValue: 1, newValue: 2 },
      { startMs: t0, oldValue: 5, newValue: 4 },
      { startMs: t0 + H, oldValue: 3, newValue: 3.5 },
      { startMs: t0 + 5 * H, oldValue: 7, newValue: 0 },
    ];
    expect(conflictRule(changes, H, P.conflict).map((f) => [f.fromMs, f.toMs, f.severity, f.detail])).toEqual([
      [t0, t0 + 3 * H, 'warn', '3 values re-sent with different figures, first 5 → 4'],
      [t0 + 5 * H, t0 + 6 * H, 'warn', 'value re-sent with a different figure: 7 → 0'],
    ]);
    expect(conflictRule(changes, 0, P.conflict)).toHaveLength(4);
  });

  it('spike: compares with the same hour of day once a week of it is known', () => {
    // Two weeks: 1 kWh at night (22:00–06:00), 10 kWh by day → hourly levels 1 and 10, overall median 10.
    const history = pts(
      t0 - 14 * 24 * H,
      H,
      Array.from({ length: 14 * 24 }, (_, i) => (i % 24 >= 6 && i % 24 < 22 ? 10 : 1)),
    );
    const c = ctx(t0, t0 + 24 * H, 60, 'Europe/Istanbul', history);
    // 03:00 at 8 > 5 × 1 is a spike; 14:00 at 40 < 5 × 10 is not (against the overall level it would be neither).
    const f = spikeRule(
      [
        { startMs: t0 + 3 * H, value: 8, quality: 'measured' },
        { startMs: t0 + 14 * H, value: 40, quality: 'measured' },
      ],
      c,
      P.spike,
    );
    expect(f.map((x) => [x.fromMs, x.detail])).toEqual([[t0 + 3 * H, "value 8 above 5 × robust level 1 of the meter's history at this hour of day"]]);
  });

  it('high/low: incomplete days are neither tested nor reference; only the referenceDays before count', () => {
    const day = (d: number, v: number, n = 24) => pts(t0 + d * 24 * H, H, new Array(n).fill(v));
    // Mondays −35 (outside 28 days, 10/h), −14 and −7 (1/h), and −21 with only 20 hours (incomplete, 50/h).
    const history = [...day(-35, 10), ...day(-21, 50, 20), ...day(-14, 1), ...day(-7, 1)];
    const c = { ...ctx(t0, t0 + 24 * H, 60, 'Europe/Istanbul', history), referenceDays: 28 };
    expect(highLowRule(day(0, 3.5), c, P.highLow).map((f) => f.detail)).toEqual(['daily total 84 on 2026-01-05 is 3.5 × the average 24 of workdays']);
    expect(highLowRule(day(0, 3.5, 23), c, P.highLow)).toEqual([]); // a part day says nothing
  });
});

describe('parameters per profile class and commodity', () => {
  const rows = [
    { profileClass: null, commodity: null, effectiveFrom: '2026-01-01', params: { spike: { k: 6 }, holidays: ['2026-01-01'] } },
    { profileClass: null, commodity: 'electricity', effectiveFrom: '2026-02-01', params: { spike: { severity: 'fail' } } },
    { profileClass: 'residential', commodity: null, effectiveFrom: '2026-03-01', params: { spike: { k: 4 }, zeroRun: { hours: 3 } } },
    { profileClass: 'residential', commodity: 'electricity', effectiveFrom: '2026-04-01', params: { holidays: [] } },
  ];
  const res = { profileClass: 'residential', commodity: 'electricity' };
  it('layers the newest row of each level, least specific first, rule objects field by field', () => {
    expect(resolveVeeParams(rows, res, '2025-12-31').params).toEqual(P);
    const jan = resolveVeeParams(rows, res, '2026-01-15').params;
    expect([jan.spike.k, jan.spike.severity, jan.spike.minValue, jan.holidays]).toEqual([6, 'warn', 0.5, ['2026-01-01']]);
    const feb = resolveVeeParams(rows, res, '2026-02-01').params;
    expect([feb.spike.k, feb.spike.severity]).toEqual([6, 'fail']);
    const mar = resolveVeeParams(rows, res, '2026-03-01').params;
    expect([mar.spike.k, mar.spike.severity, mar.zeroRun.hours, mar.zeroRun.severity]).toEqual([4, 'fail', 3, 'warn']);
    expect(resolveVeeParams(rows, res, '2026-04-01').params.holidays).toEqual([]);
    // A gas meter of another class only sees the any/any row.
    const gas = resolveVeeParams(rows, { profileClass: 'industrial', commodity: 'gas' }, '2026-05-01');
    expect([gas.params.spike.k, gas.params.spike.severity, gas.key]).toEqual([6, 'warn', '0']);
    expect(resolveVeeParams(rows, res, '2026-01-20').key).toBe(resolveVeeParams(rows, res, '2026-01-15').key);
  });

  it('refuses unknown rules, unknown fields and bad values before they are stored', () => {
    expect(overrideProblems({ spike: { k: 4 } })).toEqual([]);
    expect(overrideProblems({ spikes: {} })).toEqual([expect.stringMatching(/spikes/)]);
    expect(overrideProblems({ spike: { k: -1, bogus: true } }).join('; ')).toMatch(/spike\.k.*|bogus/);
    expect(overrideProblems([1])).toEqual(['params must be an object of rule parameters, e.g. {"spike": {"k": 4}}']);
  });
});

describe('queue targets and range membership', () => {
  it("groups a meter's queued days into runs; a register read also covers the day before", () => {
    const e = (meterId: number, channel: number, localDate: string) => ({ meterId, channel, localDate });
    expect(queueTargets([e(1, 1, '2026-01-10'), e(1, 1, '2026-01-12'), e(2, 5, '2026-01-01'), e(1, 1, '2026-01-20')], new Set([5]))).toEqual([
      { meterId: 1, fromDate: '2026-01-10', toDate: '2026-01-12' },
      { meterId: 1, fromDate: '2026-01-20', toDate: '2026-01-20' },
      { meterId: 2, fromDate: '2025-12-31', toDate: '2026-01-01' },
    ]);
  });

  it('a finding belongs to a range it overlaps, starts in, or (register brackets) closes at its start', () => {
    expect(inRange({ rule: 'gap', fromMs: 0, toMs: 10 }, 10, 20)).toBe(false);
    expect(inRange({ rule: 'zero_run', fromMs: 5, toMs: 15 }, 10, 20)).toBe(true);
    expect(inRange({ rule: 'range', fromMs: 10, toMs: 10 }, 10, 20)).toBe(true);
    expect(inRange({ rule: 'sum_check', fromMs: 0, toMs: 10 }, 10, 20)).toBe(true);
    expect(inRange({ rule: 'register', fromMs: 20, toMs: 30 }, 10, 20)).toBe(false);
  });
});

describe('evaluateMeter', () => {
  const t0 = Date.parse('2026-01-05T00:00:00+03:00');
  const series = (values: (number | null)[]): SeriesPoint[] =>
    values.flatMap((value, i) => (value === null ? [] : [{ startMs: t0 + i * H, value, quality: 'measured' as const, source: 'http' as const, byVee: false }]));
  const input = (values: (number | null)[]) => ({
    meter: { id: 1, timezone: 'Europe/Istanbul', intervalMinutes: 60, commodity: 'electricity' },
    fromMs: t0,
    toMs: t0 + 24 * H,
    nowMs: t0 + 72 * H,
    segments: [{ fromMs: t0, toMs: t0 + 24 * H, params: P }],
    series: new Map([[1, series(values)]]),
    conflicts: new Map(),
    accepted: new Set<string>(),
  });
  it('a value failing a rule is no neighbour for a linear estimate; it is marked suspect', () => {
    const day = [1, -5, null, 3, ...Array.from({ length: 20 }, (_, i) => 2 + (i % 2))];
    const ev = evaluateMeter(input(day));
    expect(ev.findings.map((f) => [f.rule, f.status, f.fromMs])).toEqual([
      ['gap', 'replaced', t0 + 2 * H],
      ['negative', 'open', t0 + H],
    ]);
    // Hour 2: only hour 3 (3) is a usable neighbour → 3.
    expect(ev.writes).toEqual([
      { channel: 1, startMs: t0 + 2 * H, value: 3, quality: 'estimated', source: 'estimated', note: { method: 'linear', params: { before: null, after: 3 }, reasonCode: 'gap' } },
      { channel: 1, startMs: t0 + H, value: -5, quality: 'suspect', source: 'http' },
    ]);
  });

  it('an accepted finding is neither reported nor acted on', () => {
    const ev = evaluateMeter({ ...input([1, -5, ...Array.from({ length: 22 }, (_, i) => 2 + (i % 2))]), accepted: new Set([issueKey(1, 'negative', t0 + H, t0 + 2 * H)]) });
    expect(ev).toEqual({ findings: [], writes: [] });
  });
});
