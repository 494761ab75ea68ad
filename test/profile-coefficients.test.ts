import { describe, expect, it } from 'vitest';
import { ProfileCoefficientError, periodTotalFromRegister, spreadByProfile, type ProfiledMeter } from '../models/profile-coefficient-method.js';
import { checkCoefficientRows, type ProfileCoefficient } from '../models/profile-coefficient.js';

const HOUR = 3_600_000;
const IST: ProfiledMeter = { region: 'AYEDAS', tariff: 'single', profileClass: 'residential', timezone: 'Europe/Istanbul' };
const WAW: ProfiledMeter = { region: null, tariff: 'three-time', profileClass: 'residential', timezone: 'Europe/Warsaw' };

const typeRows = (period: string, dayType: ProfileCoefficient['dayType'], coef: (h: number) => number, over: Partial<ProfileCoefficient> = {}): ProfileCoefficient[] =>
  Array.from({ length: 24 }, (_, hour) => ({ period, region: 'AYEDAS', readingType: 'single', profileGroup: 'residential', date: null, dayType, hour, coefficient: coef(hour), ...over }));
const dayRows = (date: string, coef: (h: number) => number, over: Partial<ProfileCoefficient> = {}): ProfileCoefficient[] =>
  Array.from({ length: 24 }, (_, hour) => ({
    period: date.slice(0, 7),
    region: 'AYEDAS',
    readingType: 'single',
    profileGroup: 'residential',
    date,
    dayType: null,
    hour,
    coefficient: coef(hour),
    ...over,
  }));
const sumUnits = (xs: { value: number }[]) => xs.reduce((s, x) => s + Math.round(x.value * 1000), 0);

describe('spreadByProfile', () => {
  const mon = Date.parse('2026-03-02T00:00:00+03:00'); // a Monday

  it('spreads in proportion to the coefficients of the day type (hand-computed shares)', () => {
    // workday h0..h3 = 1, 2, 3, 4 (Σ 10): total 10 → 1, 2, 3, 4; total 1 → 0.1, 0.2, 0.3, 0.4
    const coefficients = typeRows('2026-03', 'workday', (h) => h + 1);
    const out = spreadByProfile({ coefficients, total: 10, fromMs: mon, toMs: mon + 4 * HOUR, meter: IST });
    expect(out.map((x) => x.value)).toEqual([1, 2, 3, 4]);
    expect(out.map((x) => x.startMs)).toEqual([0, 1, 2, 3].map((h) => mon + h * HOUR));
    expect(out[2].from).toBe('workday h2 2026-03');
    expect(spreadByProfile({ coefficients, total: 1, fromMs: mon, toMs: mon + 4 * HOUR, meter: IST }).map((x) => x.value)).toEqual([0.1, 0.2, 0.3, 0.4]);
  });

  it('sums to the total exactly: largest remainder in Wh (1 kWh over 3 equal hours → 0.334, 0.333, 0.333)', () => {
    const coefficients = typeRows('2026-03', 'workday', () => 0.7);
    const out = spreadByProfile({ coefficients, total: 1, fromMs: mon, toMs: mon + 3 * HOUR, meter: IST });
    expect(out.map((x) => x.value)).toEqual([0.334, 0.333, 0.333]);
    // A whole month (744 h, weekdays and weekends): Σ equals the total in Wh.
    const all = [...typeRows('2026-03', 'workday', (h) => 1 + h / 7), ...typeRows('2026-03', 'saturday', (h) => 2 + (h % 5)), ...typeRows('2026-03', 'sunday', (h) => 3 + (h % 3))];
    const from = Date.parse('2026-03-01T00:00:00+03:00');
    const month = spreadByProfile({ coefficients: all, total: 1234.567, fromMs: from, toMs: Date.parse('2026-04-01T00:00:00+03:00'), meter: IST });
    expect(month).toHaveLength(744);
    expect(sumUnits(month)).toBe(1_234_567);
    // Shares for forecasting: total 1 at 12 decimals; a Sunday hour (h0: 3) weighs 3 × a workday hour (h0: 1).
    const shares = spreadByProfile({ coefficients: all, total: 1, fromMs: from, toMs: Date.parse('2026-04-01T00:00:00+03:00'), meter: IST, decimals: 12 });
    expect(shares.reduce((s, x) => s + Math.round(x.value * 1e12), 0)).toBe(1e12);
    expect(shares[0].value / shares[24].value).toBeCloseTo(3, 7); // 2026-03-01 is a Sunday, 03-02 a Monday
    expect(() => spreadByProfile({ coefficients: all, total: 1e6, fromMs: from, toMs: from + HOUR, meter: IST, decimals: 12 })).toThrow(/exceeds 2\^53/);
  });

  it('uses per-day rows before day-type rows, falls back to region "*" and a holiday to sunday', () => {
    const coefficients = [...typeRows('2026-03', 'workday', () => 1), ...typeRows('2026-03', 'sunday', (h) => (h === 0 ? 3 : 1)), ...dayRows('2026-03-02', (h) => (h === 0 ? 1 : 3))];
    // 2026-03-02 by its own rows: h0 1, h1 3 → 2.5, 7.5
    expect(spreadByProfile({ coefficients, total: 10, fromMs: mon, toMs: mon + 2 * HOUR, meter: IST }).map((x) => x.value)).toEqual([2.5, 7.5]);
    // 2026-03-03 is a holiday here, no holiday rows → sunday: h0 3, h1 1 → 7.5, 2.5
    const tue = mon + 24 * HOUR;
    expect(spreadByProfile({ coefficients, total: 10, fromMs: tue, toMs: tue + 2 * HOUR, meter: IST, holidays: new Set(['2026-03-03']) }).map((x) => x.value)).toEqual([7.5, 2.5]);
    // region OTHER has no rows → "*" rows (h0 1, h1 4)
    const star = typeRows('2026-03', 'workday', (h) => (h === 0 ? 1 : 4), { region: '*' });
    expect(spreadByProfile({ coefficients: [...coefficients, ...star], total: 10, fromMs: tue, toMs: tue + 2 * HOUR, meter: { ...IST, region: 'OTHER' } }).map((x) => x.value)).toEqual([2, 8]);
  });

  it('DST in Europe/Warsaw: 23 hours on 2026-03-29 (02:00 skipped), 25 on 2026-10-25 (02:00 twice)', () => {
    // sunday coefficient of hour h = h + 1; Σ over 24 wall hours = 300
    const rows = (period: string) => typeRows(period, 'sunday', (h) => h + 1, { region: '*', readingType: 'three-time' });
    const spring = spreadByProfile({ coefficients: rows('2026-03'), total: 594, fromMs: Date.parse('2026-03-29T00:00:00+01:00'), toMs: Date.parse('2026-03-30T00:00:00+02:00'), meter: WAW });
    // 23 hours, Σ c = 300 − 3 = 297; total 594 = 2 × 297 → each hour 2 × c
    expect(spring).toHaveLength(23);
    expect(spring.slice(0, 4).map((x) => x.value)).toEqual([2, 4, 8, 10]); // h0, h1, h3, h4
    expect(sumUnits(spring)).toBe(594_000);
    const autumn = spreadByProfile({ coefficients: rows('2026-10'), total: 303, fromMs: Date.parse('2026-10-25T00:00:00+02:00'), toMs: Date.parse('2026-10-26T00:00:00+01:00'), meter: WAW });
    // 25 hours, Σ c = 300 + 3 = 303 → each hour = c; h2 twice
    expect(autumn).toHaveLength(25);
    expect(autumn.slice(0, 5).map((x) => x.value)).toEqual([1, 2, 3, 3, 4]);
    expect(sumUnits(autumn)).toBe(303_000);
  });

  it('refuses to spread with missing coefficients, a zero sum or no profile class', () => {
    const coefficients = typeRows('2026-03', 'workday', () => 1);
    const sat = Date.parse('2026-03-07T00:00:00+03:00');
    let err: unknown;
    try {
      spreadByProfile({ coefficients, total: 5, fromMs: sat, toMs: sat + 2 * HOUR, meter: IST });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProfileCoefficientError);
    expect((err as ProfileCoefficientError).missing).toEqual(['2026-03-07 h0', '2026-03-07 h1']);
    expect((err as Error).message).toMatch(/no profile coefficient for 2 hour\(s\) \(region "AYEDAS" \(or "\*"\), reading type single, profile group "residential"\)/);
    expect(() => spreadByProfile({ coefficients: typeRows('2026-03', 'workday', () => 0), total: 5, fromMs: mon, toMs: mon + HOUR, meter: IST })).toThrow(/sum to 0/);
    expect(() => spreadByProfile({ coefficients, total: 5, fromMs: mon, toMs: mon + HOUR, meter: { ...IST, profileClass: null } })).toThrow(/no profileClass/);
    expect(() => spreadByProfile({ coefficients, total: 5, fromMs: mon, toMs: mon + HOUR, meter: { ...IST, tariff: 'three-time' } })).toThrow(ProfileCoefficientError);
  });
});

describe('checkCoefficientRows', () => {
  it('accepts both layouts and rejects bad rows with reasons', () => {
    const base = { region: 'AYEDAS', readingType: 'single', profileGroup: 'residential', hour: 0, coefficient: 0.5 };
    const r = checkCoefficientRows([
      { ...base, date: '2026-03-01' },
      { ...base, period: '2026-03', dayType: 'workday' },
      { ...base, date: '2026-03-01' },
      { ...base, date: '2026-02-30' },
      { ...base, dayType: 'workday' },
      { ...base, date: '2026-03-01', dayType: 'workday' },
      { ...base, period: '2026-03', dayType: 'workday', hour: 24 },
      { ...base, period: '2026-03', dayType: 'workday', coefficient: -1 },
      { ...base, period: '2026-03', dayType: 'weekday' },
      { ...base, readingType: 'double', date: '2026-03-01' },
      { ...base, date: '2026-03-01', period: '2026-04' },
    ]);
    expect(r.rows.map((x) => [x.index, x.period, x.date, x.dayType])).toEqual([
      [0, '2026-03', '2026-03-01', null],
      [1, '2026-03', null, 'workday'],
    ]);
    expect(r.rejected.map((x) => x.index)).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(r.rejected[0].reason).toMatch(/duplicate of row 0/);
    expect(r.rejected[1].reason).toMatch(/calendar date/);
    expect(r.rejected[2].reason).toMatch(/period \(YYYY-MM\) is required with dayType/);
    expect(r.rejected[3].reason).toMatch(/exactly one of date/);
    expect(r.rejected[4].reason).toMatch(/hour must be/);
    expect(r.rejected[5].reason).toMatch(/coefficient must be/);
    expect(r.rejected[6].reason).toMatch(/dayType must be one of/);
    expect(r.rejected[7].reason).toMatch(/readingType must be one of single, three-time/);
    expect(r.rejected[8].reason).toMatch(/does not match date/);
  });
});

describe('periodTotalFromRegister', () => {
  const from = Date.parse('2026-02-01T00:00:00+03:00');
  const to = Date.parse('2026-03-01T00:00:00+03:00'); // 672 h
  it('takes the reads nearest the bounds, pro rata when they are off them', () => {
    expect(
      periodTotalFromRegister(
        [
          { atMs: from, value: 1000 },
          { atMs: to, value: 1864 },
        ],
        from,
        to,
      ),
    ).toMatchObject({ total: 864, prorated: false });
    // reads 12 h before the start and 12 h after the end: 696 h apart, delta 696 → 672 over the period
    const r = periodTotalFromRegister(
      [
        { atMs: from - 5 * 86_400_000, value: 900 },
        { atMs: from - 12 * HOUR, value: 1000 },
        { atMs: to + 12 * HOUR, value: 1696 },
      ],
      from,
      to,
    );
    expect(r).toMatchObject({ total: 672, prorated: true, opening: { value: 1000 }, closing: { value: 1696 } });
  });
  it('says why there is no total', () => {
    expect(
      periodTotalFromRegister(
        [
          { atMs: from - 4 * 86_400_000, value: 1 },
          { atMs: to, value: 2 },
        ],
        from,
        to,
      ),
    ).toEqual({ reason: expect.stringMatching(/no register read within 3 days of the period start/) });
    expect(periodTotalFromRegister([{ atMs: from, value: 10 }], from, to)).toEqual({ reason: expect.stringMatching(/period end/) });
    expect(
      periodTotalFromRegister(
        [
          { atMs: from, value: 10 },
          { atMs: to, value: 2 },
        ],
        from,
        to,
      ),
    ).toEqual({ reason: expect.stringMatching(/went down from 10 to 2/) });
  });
});
