import { describe, expect, it } from 'vitest';
import { parseMeterRows } from '../models/meter.js';

describe('parseMeterRows', () => {
  it('applies defaults to valid rows and keeps their indexes', () => {
    const { valid, rejected } = parseMeterRows([{ id: 'A' }, { id: 'B', commodity: 'water', intervalMinutes: 15, labels: { dma: '4' } }]);
    expect(rejected).toEqual([]);
    expect(valid).toEqual([
      { index: 0, meter: { id: 'A', commodity: 'electricity', timezone: 'Europe/Istanbul', intervalMinutes: 60, multiplier: 1, tariff: 'single', labels: {} } },
      {
        index: 1,
        meter: { id: 'B', commodity: 'water', timezone: 'Europe/Istanbul', intervalMinutes: 15, multiplier: 1, tariff: 'single', labels: { dma: '4' } },
      },
    ]);
  });

  it('gives one readable reason per bad row, led by the field path', () => {
    const { valid, rejected } = parseMeterRows([
      { id: 'TZ', timezone: 'Europe/Atlantis' },
      { id: 'MULTI', multiplier: 0, supplyStart: '2026-02-30' },
      { id: 'LBL', labels: { phase: 3 } },
      { id: '' },
      42,
    ]);
    expect(valid).toEqual([]);
    expect(rejected).toEqual([
      { index: 0, reason: 'timezone: unknown IANA time zone (e.g. Europe/Istanbul, Europe/Warsaw)' },
      { index: 1, reason: 'multiplier: Too small: expected number to be >0; supplyStart: must be a calendar date YYYY-MM-DD, got "2026-02-30"' },
      { index: 2, reason: 'labels.phase: Invalid input: expected string, received number' },
      { index: 3, reason: expect.stringMatching(/^id: /) },
      { index: 4, reason: 'row must be a meter object {id, commodity, timezone, …}, got number' },
    ]);
  });

  it('rejects every later row repeating an id, even when the first was invalid', () => {
    const { valid, rejected } = parseMeterRows([{ id: 'A' }, { id: 'B', intervalMinutes: 45 }, { id: 'A', group: 'x' }, { id: 'B' }, { id: 'C' }]);
    expect(valid.map((v) => v.index)).toEqual([0, 4]);
    expect(rejected).toEqual([
      { index: 1, reason: 'intervalMinutes: must be 15, 30 or 60, got 45' },
      { index: 2, reason: 'id: duplicate of row 0 ("A"); send each meter once per request' },
      { index: 3, reason: 'id: duplicate of row 1 ("B"); send each meter once per request' },
    ]);
  });
});
