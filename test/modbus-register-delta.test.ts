import { describe, expect, it } from 'vitest';
import { applyRegisterRead, intervalStartOf, nextIntervalStart, type DeltaOptions, type DeltaResult, type RegisterState } from '../ingest/register-delta.js';
import { formatInstant } from '../models/time.js';

const at = (iso: string) => Date.parse(iso);
const H = 3_600_000;

/** Feeds reads in order; returns every result. */
function run(reads: [string, number][], o: DeltaOptions, initial?: RegisterState): DeltaResult[] {
  let state = initial;
  return reads.map(([iso, value]) => {
    const r = applyRegisterRead(state, { atMs: at(iso), value }, o);
    state = r.state;
    return r;
  });
}
const intervalsOf = (rs: DeltaResult[], tz = 'UTC') => rs.flatMap((r) => r.intervals.map((i) => ({ start: formatInstant(i.startMs, tz), value: i.value, quality: i.quality })));

const q15: DeltaOptions = { intervalMinutes: 15, timezone: 'Europe/Istanbul', maxGapMs: 24 * H };
const h60: DeltaOptions = { intervalMinutes: 60, timezone: 'Europe/Istanbul', maxGapMs: 24 * H };

describe('register → interval delta', () => {
  it('sums reads inside an interval and closes it at the read on its end (5-min polls, 15-min intervals)', () => {
    const rs = run(
      [
        ['2026-03-02T10:00:00Z', 100],
        ['2026-03-02T10:05:00Z', 100.5],
        ['2026-03-02T10:10:00Z', 101],
        ['2026-03-02T10:15:00Z', 101.6],
        ['2026-03-02T10:20:00Z', 102],
        ['2026-03-02T10:30:00Z', 103],
      ],
      q15,
    );
    expect(rs[0].flag).toEqual({ kind: 'first' });
    // [10:00, 10:15) = 101.6 − 100 = 1.6; [10:15, 10:30) = 103 − 101.6 = 1.4; both boundaries have a read on them
    expect(intervalsOf(rs)).toEqual([
      { start: '2026-03-02T10:00:00Z', value: 1.6, quality: 'measured' },
      { start: '2026-03-02T10:15:00Z', value: 1.4, quality: 'measured' },
    ]);
    expect(rs[5].state).toMatchObject({ lastValue: 103, pendingStartMs: at('2026-03-02T10:30:00Z'), pendingValue: 0, pendingStart: 'pinned' });
  });

  it('apportions a delta linearly across a boundary; the interval where reading starts is not emitted', () => {
    const rs = run(
      [
        ['2026-03-02T10:07:00Z', 50],
        ['2026-03-02T10:22:00Z', 53],
        ['2026-03-02T10:37:00Z', 56.3],
      ],
      q15,
    );
    // 10:07→10:22: 3 over 15 min = 0.2/min. [10:00,10:15) began at 10:07 (partial, dropped); 10:15→10:22 gives 1.4.
    // 10:22→10:37: 3.3 over 15 min = 0.22/min; 10:22→10:30 gives 1.76 → [10:15,10:30) = 1.4 + 1.76 = 3.16.
    // 10:15 and 10:30 are 7 min from the nearest read (> 1.5 min tolerance): a linear share, so 'estimated'.
    expect(intervalsOf(rs)).toEqual([{ start: '2026-03-02T10:15:00Z', value: 3.16, quality: 'estimated' }]);
    // 10:30→10:37 = 7 min × 0.22 = 1.54 waits in the pending interval
    expect(rs[2].state!.pendingValue).toBeCloseTo(1.54, 12);
    expect(rs[2].state!.pendingStart).toBe('loose');
  });

  it('counts a boundary as read when a read is within the tolerance (10 % of the interval)', () => {
    const rs = run(
      [
        ['2026-03-02T10:00:00Z', 0],
        ['2026-03-02T10:14:00Z', 14],
        ['2026-03-02T10:16:00Z', 16],
        ['2026-03-02T10:29:00Z', 29],
        ['2026-03-02T10:31:00Z', 31],
      ],
      q15,
    );
    // 1 kWh/min throughout: every interval is 15; 10:15 and 10:30 are 1 min from a read (≤ 1.5 min)
    expect(intervalsOf(rs)).toEqual([
      { start: '2026-03-02T10:00:00Z', value: 15, quality: 'measured' },
      { start: '2026-03-02T10:15:00Z', value: 15, quality: 'measured' },
    ]);
  });

  it('spreads a multi-interval gap evenly as estimates', () => {
    const rs = run(
      [
        ['2026-03-02T00:00:00+03:00', 0],
        ['2026-03-02T03:00:00+03:00', 30],
      ],
      h60,
    );
    expect(intervalsOf(rs, 'Europe/Istanbul')).toEqual([
      { start: '2026-03-02T00:00:00+03:00', value: 10, quality: 'estimated' },
      { start: '2026-03-02T01:00:00+03:00', value: 10, quality: 'estimated' },
      { start: '2026-03-02T02:00:00+03:00', value: 10, quality: 'estimated' },
    ]);
  });

  it('does not spread reads further apart than maxGap: the gap stays empty and reading restarts', () => {
    const o = { ...h60, maxGapMs: 6 * H };
    const rs = run(
      [
        ['2026-03-02T00:00:00Z', 0],
        ['2026-03-02T07:00:00Z', 70],
        ['2026-03-02T08:00:00Z', 75],
      ],
      o,
    );
    expect(rs[1].flag).toEqual({ kind: 'gap', previousAtMs: at('2026-03-02T00:00:00Z') });
    expect(intervalsOf(rs)).toEqual([{ start: '2026-03-02T07:00:00Z', value: 5, quality: 'measured' }]);
  });

  it('unwraps a counter rollover at the configured value', () => {
    // a 6+2 digit register shows 999999.99 then 0.00: it wraps at 1000000
    const rs = run(
      [
        ['2026-03-02T00:00:00Z', 999_999.5],
        ['2026-03-02T01:00:00Z', 0.7],
        ['2026-03-02T02:00:00Z', 2.1],
      ],
      { ...h60, rolloverAt: 1_000_000 },
    );
    // 0.7 + 1000000 − 999999.5 = 1.2; then 2.1 − 0.7 = 1.4
    expect(rs[1].flag).toMatchObject({ kind: 'rollover', previous: 999_999.5, current: 0.7 });
    expect(intervalsOf(rs)).toEqual([
      { start: '2026-03-02T00:00:00Z', value: 1.2, quality: 'measured' },
      { start: '2026-03-02T01:00:00Z', value: 1.4, quality: 'measured' },
    ]);
  });

  it('unwraps a uint32 counter at 2^32 × scale', () => {
    // scale 0.01 kWh: wraps at 4294967296 × 0.01 = 42949672.96; 1.5 + 42949672.96 − 42949672 = 2.46
    const rs = run(
      [
        ['2026-03-02T00:00:00Z', 42_949_672],
        ['2026-03-02T01:00:00Z', 1.5],
      ],
      { ...h60, rolloverAt: 42_949_672.96 },
    );
    expect(intervalsOf(rs)).toEqual([{ start: '2026-03-02T00:00:00Z', value: 2.46, quality: 'measured' }]);
  });

  it('flags a reset instead of storing a huge value, and restarts from the new reading', () => {
    for (const rolloverAt of [undefined, 4_294_967.296]) {
      const rs = run(
        [
          ['2026-03-02T00:00:00Z', 500],
          ['2026-03-02T01:00:00Z', 520],
          ['2026-03-02T02:00:00Z', 3],
          ['2026-03-02T03:00:00Z', 10],
        ],
        { ...h60, rolloverAt },
      );
      // with rolloverAt, 3 + 4294967.296 − 520 = 4294450.296 is far above 10 % of the range: not a rollover
      expect(rs[2].flag).toEqual({ kind: 'reset', previous: 520, current: 3, previousAtMs: at('2026-03-02T01:00:00Z') });
      expect(rs[2].intervals).toEqual([]);
      // 01:00–02:00 stays empty; 02:00–03:00 = 10 − 3 = 7
      expect(intervalsOf(rs)).toEqual([
        { start: '2026-03-02T00:00:00Z', value: 20, quality: 'measured' },
        { start: '2026-03-02T02:00:00Z', value: 7, quality: 'measured' },
      ]);
    }
  });

  it('flags a jump above maxDeltaPerHour', () => {
    const rs = run(
      [
        ['2026-03-02T00:00:00Z', 1000],
        ['2026-03-02T01:00:00Z', 1050],
        ['2026-03-02T02:00:00Z', 90_000],
        ['2026-03-02T03:00:00Z', 90_040],
      ],
      { ...h60, maxDeltaPerHour: 100 },
    );
    expect(rs[2].flag).toEqual({ kind: 'jump', previous: 1050, current: 90_000, previousAtMs: at('2026-03-02T01:00:00Z'), limit: 100 });
    expect(intervalsOf(rs)).toEqual([
      { start: '2026-03-02T00:00:00Z', value: 50, quality: 'measured' },
      { start: '2026-03-02T02:00:00Z', value: 40, quality: 'measured' },
    ]);
  });

  it('ignores stale and non-numeric reads and float noise', () => {
    const first = applyRegisterRead(undefined, { atMs: at('2026-03-02T00:00:00Z'), value: 10 }, h60);
    const stale = applyRegisterRead(first.state, { atMs: at('2026-03-02T00:00:00Z'), value: 11 }, h60);
    expect(stale).toEqual({ state: first.state, intervals: [], flag: { kind: 'stale', lastAtMs: at('2026-03-02T00:00:00Z') } });
    expect(applyRegisterRead(first.state, { atMs: at('2026-03-02T00:30:00Z'), value: NaN }, h60)).toEqual({ state: first.state, intervals: [], flag: { kind: 'invalid' } });
    const noisy = applyRegisterRead(first.state, { atMs: at('2026-03-02T01:00:00Z'), value: 10 - 1e-12 }, h60);
    expect(noisy.flag).toBeUndefined();
    expect(noisy.intervals).toEqual([{ startMs: at('2026-03-02T00:00:00Z'), value: 0, quality: 'measured' }]);
  });

  it('aligns intervals in local time: hourly in Asia/Kolkata (UTC+05:30) start at :30 UTC', () => {
    const o = { ...h60, timezone: 'Asia/Kolkata' };
    expect(intervalStartOf(at('2026-01-01T00:00:00Z'), 60, 'Asia/Kolkata')).toBe(at('2025-12-31T23:30:00Z'));
    const rs = run(
      [
        ['2026-01-01T00:00:00Z', 100],
        ['2026-01-01T02:00:00Z', 104],
      ],
      o,
    );
    // 2 kWh/h; local 06:00–07:00 (00:30Z–01:30Z) lies inside the span: 2, a linear share
    expect(intervalsOf(rs, 'Asia/Kolkata')).toEqual([{ start: '2026-01-01T06:00:00+05:30', value: 2, quality: 'estimated' }]);
  });

  it('gives the Europe/Warsaw spring-forward day 23 hourly intervals and the fall-back day 25', () => {
    const o: DeltaOptions = { intervalMinutes: 60, timezone: 'Europe/Warsaw', maxGapMs: 24 * H };
    // 1 kWh per hour, read every 30 min from local midnight to the next local midnight
    const day = (fromIso: string, toIso: string) => {
      const reads: [string, number][] = [];
      for (let t = at(fromIso), v = 0; t <= at(toIso); t += H / 2, v += 0.5) reads.push([new Date(t).toISOString(), v]);
      return intervalsOf(run(reads, o), 'Europe/Warsaw');
    };
    const spring = day('2026-03-29T00:00:00+01:00', '2026-03-30T00:00:00+02:00');
    expect(spring).toHaveLength(23);
    expect(spring.slice(0, 4).map((i) => i.start)).toEqual(['2026-03-29T00:00:00+01:00', '2026-03-29T01:00:00+01:00', '2026-03-29T03:00:00+02:00', '2026-03-29T04:00:00+02:00']);
    expect(spring.at(-1)!.start).toBe('2026-03-29T23:00:00+02:00');
    expect(spring.every((i) => i.value === 1 && i.quality === 'measured')).toBe(true);

    const autumn = day('2026-10-25T00:00:00+02:00', '2026-10-26T00:00:00+01:00');
    expect(autumn).toHaveLength(25);
    expect(autumn.slice(1, 5).map((i) => i.start)).toEqual(['2026-10-25T01:00:00+02:00', '2026-10-25T02:00:00+02:00', '2026-10-25T02:00:00+01:00', '2026-10-25T03:00:00+01:00']);
    expect(autumn.reduce((s, i) => s + i.value, 0)).toBe(25);
  });

  it('steps interval boundaries across the DST change in local time', () => {
    // 15-min Warsaw: 01:45 CET is followed by 03:00 CEST, 15 real minutes later
    const b = at('2026-03-29T01:45:00+01:00');
    expect(formatInstant(nextIntervalStart(b, 15, 'Europe/Warsaw'), 'Europe/Warsaw')).toBe('2026-03-29T03:00:00+02:00');
    expect(intervalStartOf(at('2026-03-29T03:07:00+02:00'), 60, 'Europe/Warsaw')).toBe(at('2026-03-29T03:00:00+02:00'));
  });
});
