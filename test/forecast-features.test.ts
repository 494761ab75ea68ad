import { describe, expect, it } from 'vitest';
import { buildFeatures, calendarColumns, DAY_TYPE_CODE, featureMatrix, HOLIDAY_KIND_CODE, MATRIX_COLUMNS } from '../forecast/features.js';
import type { FitContext, SeriesData } from '../forecast/model.js';

const H = 3_600_000;
// Monday 2025-03-24 00:00 in Istanbul (UTC+3 all year).
const S = Date.parse('2025-03-24T00:00:00+03:00');
const ramp = (n: number) => Float64Array.from({ length: n }, (_, i) => i);
const series = (values: Float64Array, extra: Partial<SeriesData> = {}): SeriesData => ({ id: 'meter:M', timezone: 'Europe/Istanbul', startMs: S, values, ...extra });
// Issued Friday 28 Mar 10:00 for Saturday 29 Mar (arife of Ramazan Bayramı).
const ctx: FitContext = { issueTime: Date.parse('2025-03-28T10:00:00+03:00'), dataCutoff: Date.parse('2025-03-28T10:00:00+03:00'), country: 'TR' };
const D1 = { fromMs: S + 120 * H, toMs: S + 144 * H };

describe('calendar columns', () => {
  it('local hour, weekday, day type, holiday kind and eve (Istanbul, Ramazan Bayramı 2025)', () => {
    const c = calendarColumns('Europe/Istanbul', 'TR', S, 24 * 8);
    expect([c.hour[0], c.hour[13], c.weekday[0], c.weekday[24 * 5], c.month[0], c.dayOfYear[0]]).toEqual([0, 13, 1, 6, 3, 83]);
    // 29 Mar: Saturday and arife; 30 Mar–1 Apr: religious holiday; 2 Apr: Wednesday workday.
    const day = (d: number) => [c.dayType[24 * d], c.holidayKind[24 * d], c.eve[24 * d]];
    expect([day(4), day(5), day(6), day(7)]).toEqual([
      [DAY_TYPE_CODE.workday, 0, 0],
      [DAY_TYPE_CODE.saturday, 0, 1],
      [DAY_TYPE_CODE.holiday, HOLIDAY_KIND_CODE.religious, 0],
      [DAY_TYPE_CODE.holiday, HOLIDAY_KIND_CODE.religious, 0],
    ]);
    expect([c.eveReligious[24 * 4], c.eveReligious[24 * 5]]).toEqual([0, 1]); // 29 Mar: the arife of a bayram
    const oct = calendarColumns('Europe/Istanbul', 'TR', Date.parse('2025-10-28T00:00:00+03:00'), 24);
    expect([oct.eve[0], oct.eveReligious[0]]).toEqual([1, 0]); // 28 Oct: the eve of a national day
  });
  it('DST: Warsaw 30 Mar 2025 has 23 hours, 02:00 does not exist', () => {
    const W = Date.parse('2025-03-29T00:00:00+01:00');
    const c = calendarColumns('Europe/Warsaw', 'PL', W, 72);
    expect(Array.from(c.hour.subarray(24, 28))).toEqual([0, 1, 3, 4]);
    expect(c.localDay[46] === c.localDay[24] && c.localDay[47] !== c.localDay[46]).toBe(true);
    expect([c.offsetMin[0], c.offsetMin[47]]).toEqual([60, 120]);
  });
});

describe('lags and rolling means only from data known at the cut-off', () => {
  it('day-ahead D+1 with cut-off 10:00 on D: lag1 known for hours 00–09 only, lastSame falls back to D−1', () => {
    const f = buildFeatures(series(ramp(200)), ctx, D1);
    const c = f.columns;
    expect(f.rows).toBe(24);
    // values[i] = i; D+1 starts at index 120; the cut-off leaves indices 0–105 known.
    expect([c.lag1[0], c.lag2[0], c.lag7[0], c.lastSame[0]]).toEqual([96, 72, NaN, 96]);
    expect([c.lag1[9], c.lag1[10], c.lastSame[10], c.lag2[10], c.lastSame[23]]).toEqual([105, NaN, 82, 82, 95]);
    expect(c.lastWeek[0]).toBeNaN(); // 7 days back is before the series
    expect(c.mean24[0]).toBe(93.5); // mean(82 … 105)
    expect(c.mean168[0]).toBe(52.5); // mean(0 … 105): only 106 hours known
    expect(c.mean24[23]).toBe(93.5); // same cut-off for every hour of the day
    expect(Number.isNaN(f.y[0]) && Number.isNaN(f.y[23])).toBe(true); // values after the cut-off never leak into y
  });
  it('training rows see the same view: Wednesday 26 Mar rows are cut off at 10:00 on Tuesday', () => {
    const f = buildFeatures(series(ramp(200)), ctx, { fromMs: S + 48 * H, toMs: S + 72 * H });
    const c = f.columns;
    // Row 26 Mar 09:00 (index 57): lag1 = index 33 (25 Mar 09:00) is before the 10:00 cut-off (index 34).
    expect([c.lag1[9], c.lag1[10], c.lastSame[10], f.y[10]]).toEqual([33, NaN, 10, 58]);
    expect(c.mean24[0]).toBe(21.5); // mean(10 … 33)
  });
  it('lags: false leaves the lag and mean columns NaN, the rest as usual', () => {
    const f = buildFeatures(series(ramp(200)), ctx, D1, { lags: false });
    expect([f.columns.lag1[0], f.columns.lastWeek[0], f.columns.mean168[0], f.calendar.hour[5]]).toEqual([NaN, NaN, NaN, 5]);
  });
  it('gaps: a missing D−1 value falls back to D−2; missing values are left out of means', () => {
    const v = ramp(200);
    v[96] = NaN;
    v[104] = NaN;
    const c = buildFeatures(series(v), ctx, D1).columns;
    expect([c.lag1[0], c.lastSame[0]]).toEqual([NaN, 72]);
    expect(c.mean24[0]).toBeCloseTo(2044 / 22, 12); // (82 + … + 105 − 96 − 104) / 22 known values
  });
  it('DST-aware same-hour lags (Warsaw, after spring-forward)', () => {
    const W = Date.parse('2025-03-29T00:00:00+01:00');
    const s: SeriesData = { id: 'x', timezone: 'Europe/Warsaw', startMs: W, values: ramp(100) };
    const cut = Date.parse('2025-03-31T00:00:00+02:00');
    const f = buildFeatures(s, { issueTime: cut, dataCutoff: cut, country: 'PL' }, { fromMs: cut, toMs: cut + 24 * H });
    // 31 Mar 10:00 (index 57): D−1 10:00 is index 33 (30 Mar has 23 hours), D−2 10:00 is index 10.
    expect([f.columns.lag1[10], f.columns.lag2[10], f.calendar.hour[10]]).toEqual([33, 10, 10]);
  });
});

describe('weather features', () => {
  it('degree hours with bases 15.5 / 22 °C, carry-forward up to 24 h, 24 h mean', () => {
    const T = new Float64Array(200).fill(NaN);
    T[118] = 10;
    T[119] = 25;
    const f = buildFeatures(series(ramp(200), { temperature: T }), ctx, D1);
    const c = f.columns;
    expect([c.temp[0], c.hdd[0], c.cdd[0]]).toEqual([25, 0, 3]);
    expect(c.temp24[0]).toBe(20); // mean(10, 25, 25)
    expect(c.temp[23]).toBe(25); // index 143 is 24 h after the last observation: still carried
    const g = buildFeatures(series(ramp(200), { temperature: T }), ctx, { fromMs: S + 143 * H, toMs: S + 145 * H }, { hddBase: 18 });
    expect([g.columns.temp[1], g.columns.hdd[1]]).toEqual([NaN, NaN]); // 25 h without an observation
    const h = buildFeatures(series(ramp(200), { temperature: T }), ctx, { fromMs: S + 118 * H, toMs: S + 119 * H }, { hddBase: 18 });
    expect(h.columns.hdd[0]).toBe(8);
  });
});

describe('feature matrix for learners', () => {
  it('one-hot weekday, flags, imputed lags without NaN, lag1Known, scaling, known-y rows', () => {
    const m = featureMatrix(series(ramp(200)), ctx, D1, { scale: 2 });
    expect([m.rows, m.cols, m.names.length]).toEqual([24, MATRIX_COLUMNS.length, MATRIX_COLUMNS.length]);
    expect(m.X.some((x) => Number.isNaN(x))).toBe(false);
    const at = (r: number, name: (typeof MATRIX_COLUMNS)[number]) => m.X[r * m.cols + m.names.indexOf(name)];
    expect([at(0, 'dow6'), at(0, 'dow1'), at(0, 'eve'), at(12, 'eveAfternoon'), at(13, 'eveAfternoon'), at(0, 'holiday')]).toEqual([1, 0, 1, 0, 1, 0]);
    expect([at(0, 'lag1'), at(0, 'lag1Known'), at(10, 'lag1'), at(10, 'lag1Known')]).toEqual([48, 1, 41, 0]); // 96/2; lag1 → lastSame 82/2
    expect(at(0, 'lag7')).toBe(48); // lag7 → lastWeek → lastSame
    expect(at(0, 'hourCos')).toBeCloseTo(1, 6);
    expect(at(6, 'hourSin')).toBeCloseTo(1, 6);
    expect(at(0, 'temp')).toBe(15.5); // no weather: neutral temperature, no degree hours
    expect(m.rowStarts[0]).toBe(D1.fromMs);
    const t = featureMatrix(series(ramp(200)), ctx, { fromMs: S, toMs: S + 144 * H }, { onlyKnownY: true, columns: ['lag1', 'mean24'] });
    expect([t.rows, t.cols, t.y[105]]).toEqual([106, 2, 105]);
  });
  it('two years of hourly values: lag7 is the same hour a week earlier at the end', () => {
    const n = 2 * 8760;
    const s = series(
      Float64Array.from({ length: n }, (_, i) => 10 + Math.sin(i / 3)),
      { temperature: Float64Array.from({ length: n + 48 }, (_, i) => 10 + (i % 24)) },
    );
    const cut = S + (n - 24) * H;
    const f = buildFeatures(s, { issueTime: cut, dataCutoff: cut, country: 'TR' }, { fromMs: S, toMs: S + n * H });
    expect(f.rows).toBe(n);
    expect(f.columns.lag7[n - 1]).toBeCloseTo(10 + Math.sin((n - 1 - 168) / 3), 12);
  });
});
