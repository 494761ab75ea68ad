import { describe, expect, it } from 'vitest';
import { dayContext, holidayCalendar, NO_HOLIDAYS } from '../models/holidays.js';

describe('special days aligned by feast day (issue 20)', () => {
  const tr = holidayCalendar('TR');
  it('the same day of a moving feast has the same key in every year, whatever its date', () => {
    // Ramazan Bayramı began on 5 July 2016 (Tuesday) and on 25 June 2017 (Sunday): day 2 is 6 July and 26 June.
    expect(dayContext(tr, '2016-07-06').feast).toBe('Ramazan Bayramı#1:religious');
    expect(dayContext(tr, '2017-06-26').feast).toBe('Ramazan Bayramı#1:religious');
    // The arife: a Saturday eve in 2017, a Monday bridge (between a Sunday and the bayram) in 2016.
    expect(dayContext(tr, '2017-06-24').feast).toBe('Ramazan Bayramı#-1:eve');
    expect(dayContext(tr, '2016-07-04').feast).toBe('Ramazan Bayramı#-1:bridge');
    // Kurban Bayramı 2016 (12–15 September): the Friday after it is a bridge day, day 4 of the feast.
    expect(dayContext(tr, '2016-09-16').feast).toBe('Kurban Bayramı#4:bridge');
    // 2017: 31 August is both the day after Zafer Bayramı and the arife of Kurban Bayramı; it belongs to the feast after it.
    expect(dayContext(tr, '2017-08-31').feast).toBe('Kurban Bayramı#-1:bridge');
  });

  it('classes ordinary days near a holiday: weekends of a long block, the day after, the day before', () => {
    expect(dayContext(tr, '2016-09-17').near).toBe('blockWeekend'); // the 9-day Kurban leave
    expect(dayContext(tr, '2016-09-19').near).toBe('dayAfter');
    expect(dayContext(tr, '2017-06-23').near).toBe('dayBefore');
    expect(dayContext(tr, '2017-03-15')).toEqual({ feast: null, near: null });
    expect(dayContext(tr, '2017-06-25').near).toBeNull(); // a holiday itself is not "near" one
  });

  it('fixed-date holidays key by their own date; no calendar, no context', () => {
    const gb = holidayCalendar('GB-ENG');
    expect(dayContext(gb, '2019-12-25').feast).toMatch(/#0:public$/);
    expect(dayContext(gb, '2019-12-26').feast).toMatch(/#\d:public$/);
    expect(dayContext(NO_HOLIDAYS, '2019-12-25')).toEqual({ feast: null, near: null });
  });
});
