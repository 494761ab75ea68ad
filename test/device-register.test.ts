import { describe, expect, it } from 'vitest';
import { segmentsOf } from '../models/meter-attribute.js';
import { parseChangeRows } from '../models/meter-change.js';
import { registerConsumption, type DeviceSpan } from '../models/meter-device.js';

/** Pure parts of issue 16: register consumption across exchanges, attribute segments, change rows. Hand-computed. */
const device = (d: Partial<DeviceSpan> & Pick<DeviceSpan, 'serial'>): DeviceSpan => ({
  fromMs: null,
  toMs: null,
  initialRead: null,
  finalRead: null,
  registerDigits: null,
  multiplier: 1,
  ...d,
});

describe('registerConsumption', () => {
  it('counts each device from its start to its end: the old to its final read, the new from its initial read', () => {
    const reads = [
      { ms: 0, value: 1000 },
      { ms: 10, value: 1040 },
      { ms: 30, value: 7 },
      { ms: 40, value: 19 },
    ];
    const r = registerConsumption(reads, [device({ serial: 'A', toMs: 20, finalRead: 1060 }), device({ serial: 'B', fromMs: 20, initialRead: 2 })], 0, 40);
    // A: 1000 → 1040 → 1060 = 60; B: 2 → 7 → 19 = 17 (the read at the window end closes it)
    expect(r.devices.map((d) => [d.serial, d.startRead, d.endRead, d.delta])).toEqual([
      ['A', 1000, 1060, 60],
      ['B', 2, 19, 17],
    ]);
    expect(r.energy).toBe(77);
  });

  it('a drop of more than half the range is a rollover at 10^digits; another drop counts 0 and is reported', () => {
    const reads = [
      { ms: 0, value: 999_990 },
      { ms: 10, value: 15 },
      { ms: 20, value: 10 },
      { ms: 30, value: 30 },
    ];
    const wrapped = registerConsumption(reads, [device({ serial: 'A', registerDigits: 6 })], 0, 30);
    // 999 990 → 15: +25 (rollover); 15 → 10: a decrease, 0; 10 → 30: +20
    expect(wrapped.devices[0]).toMatchObject({ rollovers: 1, decreases: 1, delta: 45 });
    const unknown = registerConsumption(reads, [device({ serial: 'A' })], 0, 30);
    expect(unknown.devices[0]).toMatchObject({ rollovers: 0, decreases: 2, delta: 20 });
  });

  it('applies each device’s multiplier; a device installed before the window with no read since starts at its initial read', () => {
    const r = registerConsumption([{ ms: 15, value: 12 }], [device({ serial: 'B', fromMs: -5, initialRead: 10, multiplier: 40 })], 0, 20);
    expect(r.devices[0]).toMatchObject({ startRead: 10, endRead: 12, delta: 2, energy: 80 });
    expect(r.energy).toBe(80);
  });

  it('leaves out a device whose span misses the window', () => {
    expect(registerConsumption([], [device({ serial: 'OLD', toMs: 0, finalRead: 5 })], 0, 10).devices).toEqual([]);
  });
});

describe('segmentsOf', () => {
  it('cuts the window where the value changes and merges equal neighbours', () => {
    const versions = [
      { sinceMs: Number.NEGATIVE_INFINITY, value: '1|single' },
      { sinceMs: 10, value: '1|single' },
      { sinceMs: 20, value: '40|single' },
      { sinceMs: 50, value: '50|single' },
    ];
    expect(segmentsOf(versions, 0, 30)).toEqual([
      { fromMs: 0, toMs: 20, value: '1|single' },
      { fromMs: 20, toMs: 30, value: '40|single' },
    ]);
  });
});

describe('parseChangeRows', () => {
  it('turns joins, leaves and sets into dated attribute changes and rejects bad rows with their reason', () => {
    const r = parseChangeRows([
      { action: 'join', meter: 'M', portfolio: 'P', date: '2026-03-01' },
      { action: 'leave', meter: 'M', date: '2026-04-01', portfolio: 'P' },
      { action: 'set', meter: 'M', attribute: 'multiplier', value: '2,5', date: '2026-03-16' },
      { action: 'set', meter: 'M', attribute: 'multiplier', value: 40, date: '2026-03-16' },
      { action: 'exchange', meter: 'M', at: '2026-03-10T12:00:00+03:00', finalRead: 5, device: { serial: 'S' } },
      { action: 'swap', meter: 'M' },
    ]);
    expect(r.valid.map((v) => v.change)).toEqual([
      { kind: 'attribute', meter: 'M', attribute: 'portfolio', value: 'P', date: '2026-03-01' },
      { kind: 'attribute', meter: 'M', attribute: 'portfolio', value: null, date: '2026-04-01', expect: { portfolio: 'P' } },
      { kind: 'attribute', meter: 'M', attribute: 'multiplier', value: '40', date: '2026-03-16' },
      { kind: 'exchange', meter: 'M', exchange: { at: '2026-03-10T12:00:00+03:00', finalRead: 5, initialRead: 0, device: { serial: 'S' } } },
    ]);
    expect(r.rejected.map((x) => x.index)).toEqual([2, 5]);
    expect(r.rejected[0].reason).toContain('multiplier');
  });
});
