import { describe, expect, it } from 'vitest';
import { checkPeriodStarts, localMidnightMs, periodAt, periodGrid, periodIndex, periodIndexCeil, periodTable, type MarketPeriod } from '../market/settlement-periods.js';

/** Settlement periods over time (issue 16, market/settlement-periods.ts): pure, no database. */
const PL: MarketPeriod[] = [{ effectiveFrom: '2026-03-01', minutes: 15, spread: 'flat' }];
const WAW = 'Europe/Warsaw';
const at = (s: string) => Date.parse(s);

describe('settlement periods', () => {
  it('a switch takes effect at local midnight of its date in the area zone; none declared: 60 minutes', () => {
    expect(localMidnightMs('2026-03-01', WAW)).toBe(at('2026-03-01T00:00:00+01:00'));
    expect(localMidnightMs('2026-10-25', WAW)).toBe(at('2026-10-25T00:00:00+02:00'));
    expect(periodAt(PL, at('2026-02-28T23:45:00+01:00'), WAW).minutes).toBe(60);
    expect(periodAt(PL, at('2026-03-01T00:00:00+01:00'), WAW).minutes).toBe(15);
    expect(periodAt([], at('2026-03-01T00:00:00+01:00'), WAW).minutes).toBe(60);
  });

  it('a Warsaw day has 96, 92 (spring forward) or 100 (fall back) quarter-hours', () => {
    const day = (from: string, to: string) => periodGrid(PL, WAW, at(from), at(to)).n;
    expect(day('2026-03-28T00:00:00+01:00', '2026-03-29T00:00:00+01:00')).toBe(96);
    expect(day('2026-03-29T00:00:00+01:00', '2026-03-30T00:00:00+02:00')).toBe(92);
    expect(day('2026-10-25T00:00:00+02:00', '2026-10-26T00:00:00+01:00')).toBe(100);
  });

  it('a range across the switch has hours before it and quarter-hours after', () => {
    const g = periodGrid(PL, WAW, at('2026-02-28T22:00:00+01:00'), at('2026-03-01T01:00:00+01:00'));
    expect(g.segments.map((s) => [s.minutes, s.first])).toEqual([
      [60, 0],
      [15, 2],
    ]);
    expect(g.n).toBe(2 + 4);
    const t = periodTable(g);
    expect(Array.from(t.minutes)).toEqual([60, 60, 15, 15, 15, 15]);
    expect(periodIndex(g, at('2026-02-28T23:30:00+01:00'))).toBe(1);
    expect(periodIndex(g, at('2026-03-01T00:20:00+01:00'))).toBe(3);
    expect(periodIndexCeil(g, at('2026-03-01T00:20:00+01:00'))).toBe(4);
    expect(() => periodGrid(PL, WAW, at('2026-02-28T22:15:00+01:00'), at('2026-03-01T01:00:00+01:00'))).toThrow(/not the start of a 60-minute settlement period/);
  });

  it('a :15 start is a period where the area settles by 15 minutes, refused where by 60; each start once', () => {
    const starts = ['2026-03-02T10:15:00+01:00', '2026-02-27T10:15:00+01:00', '2026-03-02T10:20:00+01:00', '2026-03-02T10:15:00+01:00'];
    const problems = checkPeriodStarts(starts.map(at), starts, PL, 'PL', WAW);
    expect(problems.map((p) => p.index)).toEqual([1, 2, 3]);
    expect(problems[0].reason).toMatch(/not the start of an hour: area PL settles by 60-minute periods/);
    expect(problems[1].reason).toMatch(/not the start of a 15-minute settlement period of area PL/);
    expect(problems[2].reason).toMatch(/repeats row 0/);
  });
});
