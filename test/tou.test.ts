import { describe, expect, it } from 'vitest';
import { bucketAt, checkSchedule, DEFAULT_TOU_SCHEDULES, scheduleFor, type TouSchedule } from '../models/tou.js';

describe('TOU buckets', () => {
  const tr = DEFAULT_TOU_SCHEDULES[0];
  it('Turkish three-time tariff: T1 06–17, T2 17–22, T3 22–06', () => {
    const at = (h: number, m = 0) => bucketAt(tr, h * 60 + m);
    expect([at(5, 59), at(6), at(16, 45), at(17), at(21, 45), at(22), at(0), at(23, 59)]).toEqual(['T3', 'T1', 'T1', 'T2', 'T2', 'T3', 'T3', 'T3']);
    expect(checkSchedule(tr)).toEqual([]);
  });
  it('picks the schedule in force on a date; reports overlaps and holes', () => {
    const later: TouSchedule = { tariff: 'three-time', effectiveFrom: '2027-01-01', buckets: [{ name: 'T1', ranges: [{ from: '00:00', to: '12:00' }] }] };
    const all = [...DEFAULT_TOU_SCHEDULES, later];
    expect(scheduleFor(all, 'three-time', '2026-12-31')).toBe(tr);
    expect(scheduleFor(all, 'three-time', '2027-01-01')).toBe(later);
    expect(scheduleFor(all, 'single', '2027-01-01')).toBeUndefined();
    expect(checkSchedule(later)[0]).toBe('12:00 is in 0 buckets');
  });
});
