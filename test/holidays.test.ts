import { describe, expect, it } from 'vitest';
import { dayTypeOf } from '../models/calendar.js';
import { holidayCalendar } from '../models/holidays.js';

const kinds = (country: string, dates: string[]) => dates.map((d) => holidayCalendar(country).kindOf(d));

describe('Turkish holidays', () => {
  const tr = holidayCalendar('TR');
  it('Ramazan Bayramı 2025 is 30 Mar–1 Apr (all three days), arife 29 Mar a half day', () => {
    expect(kinds('TR', ['2025-03-29', '2025-03-30', '2025-03-31', '2025-04-01', '2025-04-02'])).toEqual(['eve', 'religious', 'religious', 'religious', null]);
    expect(tr.isEve('2025-03-29')).toBe(true);
    expect(tr.isEve('2025-03-30')).toBe(false);
  });
  it('Kurban Bayramı 2025 is 6–9 Jun (four days), arife 5 Jun', () => {
    expect(kinds('TR', ['2025-06-05', '2025-06-06', '2025-06-07', '2025-06-08', '2025-06-09', '2025-06-10'])).toEqual(['eve', 'religious', 'religious', 'religious', 'religious', null]);
    expect(tr.isEve('2025-06-05')).toBe(true);
  });
  it('2026: Ramazan 20–22 Mar, Kurban 27–30 May', () => {
    expect(kinds('TR', ['2026-03-19', '2026-03-20', '2026-03-21', '2026-03-22', '2026-03-23'])).toEqual(['eve', 'religious', 'religious', 'religious', null]);
    expect(kinds('TR', ['2026-05-26', '2026-05-27', '2026-05-28', '2026-05-29', '2026-05-30', '2026-05-31'])).toEqual(['eve', 'religious', 'religious', 'religious', 'religious', null]);
  });
  it('2016 bayrams follow Diyanet (5–7 Jul, 12–15 Sep), not the tabular Islamic calendar (6 Jul, 11 Sep)', () => {
    expect(kinds('TR', ['2016-07-05', '2016-07-07', '2016-09-12', '2016-09-15'])).toEqual(['religious', 'religious', 'religious', 'religious']);
    expect(tr.isEve('2016-09-11')).toBe(true);
    // Mon 4 Jul 2016 is arife between Sunday and the bayram: a bridge day that is also an eve.
    expect([tr.kindOf('2016-07-04'), tr.isEve('2016-07-04')]).toEqual(['bridge', true]);
    // Fri 8 Jul 2016 after the Thursday bayram day: bridge.
    expect(tr.kindOf('2016-07-08')).toBe('bridge');
  });
  it('fixed national days, 28 Oct half day, 15 July only from 2017', () => {
    expect(kinds('TR', ['2025-01-01', '2025-04-23', '2025-05-01', '2025-05-19', '2025-07-15', '2025-08-30', '2025-10-29'])).toEqual(Array(7).fill('public'));
    expect(tr.kindOf('2025-10-28')).toBe('eve');
    expect(tr.kindOf('2016-07-15')).toBeNull();
    expect(tr.kindOf('2017-07-15')).toBe('public');
  });
  it('rule-based bridges: Fri 2 May 2025 after Thu 1 May; Mon 14 Jul 2025 before Tue 15 Jul; not an ordinary day', () => {
    expect(kinds('TR', ['2025-05-02', '2025-07-14', '2025-07-16', '2025-05-05'])).toEqual(['bridge', 'bridge', null, null]);
    expect(holidayCalendar('TR', { ruleBridges: false }).kindOf('2025-05-02')).toBeNull();
  });
  it('declared bridge days (administrative leave)', () => {
    const cal = holidayCalendar('TR', { bridges: ['2025-04-02'] });
    expect(cal.kindOf('2025-04-02')).toBe('bridge');
    expect(cal.dates(2025).find((d) => d.date === '2025-04-02')?.name).toBe('declared bridge day');
  });
  it('dates(year) lists every special day once, sorted; holidaySet feeds dayTypeOf', () => {
    const days = tr.dates(2025);
    expect(days.map((d) => d.date)).toEqual([...days.map((d) => d.date)].sort());
    expect(days.filter((d) => d.kind === 'religious').length).toBe(7);
    expect(days.filter((d) => d.kind === 'eve').map((d) => d.date)).toEqual(['2025-03-29', '2025-06-05', '2025-10-28']);
    const set = tr.holidaySet(2025, 2025);
    expect(set.has('2025-03-29')).toBe(false); // eve: a (half) working day
    expect(dayTypeOf('2025-03-31', set)).toBe('holiday');
    expect(dayTypeOf('2025-05-02', set)).toBe('holiday'); // bridge
    expect(dayTypeOf('2025-03-28', set)).toBe('workday');
  });
});

describe('Polish and other holidays through the same interface', () => {
  it('Poland 2025: Independence Day, Easter Monday, Corpus Christi, Christmas Eve (since 2025)', () => {
    expect(kinds('PL', ['2025-11-11', '2025-04-21', '2025-06-19', '2025-12-24', '2025-05-03'])).toEqual(['public', 'religious', 'religious', 'public', 'public']);
    expect(kinds('PL', ['2024-12-24', '2025-02-14', '2025-04-18'])).toEqual([null, null, null]); // not yet a holiday; observance; school day off only
    expect(kinds('PL', ['2025-06-20', '2025-11-10'])).toEqual(['bridge', 'bridge']);
  });
  it('regions (GB-ENG) and unknown countries', () => {
    expect(kinds('GB-ENG', ['2019-04-19', '2019-05-27', '2019-12-26'])).toEqual(['religious', 'public', 'public']);
    expect(() => holidayCalendar('XX')).toThrow(/unknown holiday country "XX"/);
  });
});

describe('VEE holiday settings', () => {
  it('holidayCountry adds the country’s full days off to the listed holidays; unknown countries are rejected', async () => {
    const { VeeParamsSchema, veeHolidays } = await import('../models/vee.js');
    const p = VeeParamsSchema.parse({ holidays: ['2025-03-28'], holidayCountry: 'TR' });
    const set = veeHolidays(p, Date.parse('2025-04-01T00:00:00Z'), Date.parse('2025-04-02T00:00:00Z'));
    expect(['2025-03-28', '2025-03-30', '2025-03-31', '2025-04-01', '2025-01-01'].map((d) => set.has(d))).toEqual([true, true, true, true, true]);
    expect(set.has('2025-03-29')).toBe(false); // arife: a half working day
    expect(set.has('2024-12-31')).toBe(false);
    expect(veeHolidays(VeeParamsSchema.parse({ holidays: ['2025-03-28'] }), 0, 1)).toEqual(new Set(['2025-03-28']));
    expect(VeeParamsSchema.safeParse({ holidayCountry: 'XX' }).success).toBe(false);
  });
});
