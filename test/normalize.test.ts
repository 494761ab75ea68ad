import { describe, expect, it } from 'vitest';
import { normalizeReadings } from '../ingest/normalize.js';
import type { MeterRef } from '../sql/meter-lookup.repository.js';

const meters = new Map<string, MeterRef>([
  ['A', { id: 1, externalId: 'A', timezone: 'Europe/Istanbul', intervalMinutes: 60, group: null }],
  ['B', { id: 2, externalId: 'B', timezone: 'Europe/Istanbul', intervalMinutes: 60, group: null }],
]);
const at = (hour: number) => `2026-01-01T${String(hour).padStart(2, '0')}:00:00+03:00`;
const r = (meter: string, hour: number, value: number, channel = 'active_import') => ({ meter, channel, start: at(hour), value });

describe('normalizeReadings duplicate detection', () => {
  it('counts a repeated identical row once and rejects a conflicting one, in and out of time order, across interleaved meters', () => {
    const raw = [
      r('A', 1, 10),
      r('B', 1, 20),
      r('A', 2, 11),
      r('A', 0, 9), // back in time, new
      r('B', 2, 21),
      r('A', 1, 10), // back in time, identical to row 0
      r('A', 2, 12), // back in time, conflicts with row 2
      r('B', 2, 21), // latest of B again, identical to row 4
      r('A', 0, 9.5), // conflicts with row 3 (itself out of order)
      r('A', 3, 13),
      r('A', 3, 13, '1.29.0'), // same channel through its OBIS alias
      r('A', 3, 13, 'active_export'), // another channel: not a duplicate
    ];
    const n = normalizeReadings(raw, meters, { defaultSource: 'http' });
    expect(n.duplicates).toBe(3);
    expect(n.rejected).toEqual([
      { index: 6, meter: 'A', reason: 'conflicts with row 2 (same meter, channel and start, different value): send the correction in a later request' },
      { index: 8, meter: 'A', reason: 'conflicts with row 3 (same meter, channel and start, different value): send the correction in a later request' },
    ]);
    const hour = (h: number) => Date.UTC(2025, 11, 31, 21 + h);
    expect(n.rows.map((x) => [x.meterId, x.channel, x.startMs, x.value])).toEqual([
      [1, 1, hour(1), 10],
      [2, 1, hour(1), 20],
      [1, 1, hour(2), 11],
      [1, 1, hour(0), 9],
      [2, 1, hour(2), 21],
      [1, 1, hour(3), 13],
      [1, 2, hour(3), 13],
    ]);
  });

  it('cites the conflicting row with the chunk offset (NDJSON lines, CSV lines)', () => {
    const n = normalizeReadings([r('A', 1, 10), r('A', 1, 11)], meters, { defaultSource: 'file', indexOffset: 500 });
    expect(n.rejected.map((x) => x.reason)).toEqual(['conflicts with row 500 (same meter, channel and start, different value): send the correction in a later request']);
  });

  it('treats a different quality at the same start as a conflict', () => {
    const n = normalizeReadings([r('A', 1, 10), { ...r('A', 1, 10), quality: 'estimated' }], meters, { defaultSource: 'http' });
    expect(n.duplicates).toBe(0);
    expect(n.rejected.map((x) => x.index)).toEqual([1]);
  });
});
