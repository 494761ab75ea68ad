import { describe, expect, it } from 'vitest';
import { dayAheadIssueTime, horizonWindow, monthlyTotals } from '../forecast/horizon.js';

const H = 3_600_000;
const at = (iso: string) => Date.parse(iso);
const hours = (w: { fromMs: number; toMs: number }) => (w.toMs - w.fromMs) / H;
const WAW = 'Europe/Warsaw';

describe('horizon windows', () => {
  it('day-ahead on the spring-forward day in Warsaw has 23 hours', () => {
    // Issued Sat 2026-03-28 09:00 CET, before the 10:00 cut-off: data up to the issue hour.
    const w = horizonWindow('day-ahead', at('2026-03-28T08:00:00Z'), WAW);
    expect(w.fromMs).toBe(at('2026-03-28T23:00:00Z'));
    expect(w.toMs).toBe(at('2026-03-29T22:00:00Z'));
    expect(hours(w)).toBe(23);
    expect(w.dataCutoff).toBe(at('2026-03-28T08:00:00Z'));
  });

  it('day-ahead on the fall-back day in Warsaw has 25 hours', () => {
    const w = horizonWindow('day-ahead', at('2026-10-24T07:30:00Z'), WAW);
    expect(w.fromMs).toBe(at('2026-10-24T22:00:00Z'));
    expect(w.toMs).toBe(at('2026-10-25T23:00:00Z'));
    expect(hours(w)).toBe(25);
    expect(w.dataCutoff).toBe(at('2026-10-24T07:00:00Z'));
  });

  it('day-ahead issued after the cut-off reads data only up to the cut-off', () => {
    // 14:00 CEST; cut-off 10:00 CEST = 08:00Z.
    const w = horizonWindow('day-ahead', at('2026-06-10T12:00:00Z'), WAW);
    expect(hours(w)).toBe(24);
    expect(w.dataCutoff).toBe(at('2026-06-10T08:00:00Z'));
    // A 09:30 cut-off in Istanbul (UTC+3) is 06:30Z; data in whole hours: up to 06:00Z.
    const t = horizonWindow('day-ahead', at('2026-06-10T10:00:00Z'), 'Europe/Istanbul', { dayAheadCutoff: '09:30' });
    expect(t.dataCutoff).toBe(at('2026-06-10T06:00:00Z'));
    expect(t.fromMs).toBe(at('2026-06-10T21:00:00Z'));
    expect(dayAheadIssueTime('2026-06-10', 'Europe/Istanbul', '09:30')).toBe(at('2026-06-10T06:30:00Z'));
  });

  it('rejects a cut-off that is not HH:MM', () => {
    expect(() => horizonWindow('day-ahead', at('2026-06-10T10:00:00Z'), WAW, { dayAheadCutoff: '25:00' })).toThrow(/HH:MM/);
  });

  it('intraday runs from the next hour to local midnight, or over the next day when issued in the last hour', () => {
    const w = horizonWindow('intraday', at('2026-06-10T12:20:00Z'), WAW);
    expect(w.fromMs).toBe(at('2026-06-10T13:00:00Z'));
    expect(w.toMs).toBe(at('2026-06-10T22:00:00Z'));
    expect(w.dataCutoff).toBe(at('2026-06-10T12:00:00Z'));
    const late = horizonWindow('intraday', at('2026-06-10T21:30:00Z'), WAW);
    expect(late.fromMs).toBe(at('2026-06-10T22:00:00Z'));
    expect(late.toMs).toBe(at('2026-06-11T22:00:00Z'));
  });

  it('week-ahead over the spring-forward day has 7 × 24 − 1 hours', () => {
    const w = horizonWindow('week-ahead', at('2026-03-25T09:00:00Z'), WAW);
    expect(w.fromMs).toBe(at('2026-03-25T23:00:00Z'));
    expect(hours(w)).toBe(167);
  });

  it('month-ahead runs to the same day next month, clamped to its length', () => {
    const w = horizonWindow('month-ahead', at('2026-01-30T09:00:00Z'), 'UTC');
    expect(w.fromMs).toBe(at('2026-01-31T00:00:00Z'));
    expect(w.toMs).toBe(at('2026-02-28T00:00:00Z'));
  });

  it('long-term covers the next 12 calendar months (one fall-back, one spring-forward: 8 760 h)', () => {
    const w = horizonWindow('long-term', at('2026-06-10T09:00:00Z'), WAW);
    expect(w.fromMs).toBe(at('2026-06-30T22:00:00Z'));
    expect(w.toMs).toBe(at('2027-06-30T22:00:00Z'));
    expect(hours(w)).toBe(8760);
  });

  it('monthly totals sum hours per local month', () => {
    const rows = [
      { start: at('2026-06-30T21:00:00Z'), p10: 1, p50: 2, p90: 3 }, // 23:00 CEST, June
      { start: at('2026-06-30T22:00:00Z'), p10: 1, p50: 2, p90: 4 }, // 00:00 CEST, July
      { start: at('2026-07-01T05:00:00Z'), p10: 2, p50: 3, p90: 5 },
    ];
    expect(monthlyTotals(rows, WAW)).toEqual([
      { month: '2026-06', hours: 1, p10: 1, p50: 2, p90: 3 },
      { month: '2026-07', hours: 2, p10: 3, p50: 5, p90: 9 },
    ]);
  });
});
