import { describe, expect, it } from 'vitest';
import { evaluateMeter } from '../ingest/vee/evaluate.js';
import { startOfLocalDate } from '../models/calendar.js';
import { channelDef } from '../models/channel.js';
import { BILLED_INTERVAL_CODES, COMMODITY_DEFS, commodityDef, PRIMARY_CHANNEL_CODES, primaryChannelCode, REGISTER_OF } from '../models/commodity.js';
import { COMMODITIES } from '../models/meter.js';
import { DEFAULT_VEE_PARAMS } from '../models/vee.js';
import { ENERGY_CHANNELS } from '../sql/billing-rollup.repository.js';

// models/commodity.ts: the one list VEE, the rollup, completeness, readiness and billing read (issue 15).
describe('commodity definitions', () => {
  it('has one definition per commodity whose channels exist and belong to it', () => {
    expect(Object.keys(COMMODITY_DEFS).sort()).toEqual([...COMMODITIES].sort());
    for (const d of Object.values(COMMODITY_DEFS)) {
      for (const n of [...d.interval, ...Object.values(d.registers), ...d.registerFigures, ...d.inputs]) {
        expect(channelDef(n!).commodities, `${d.commodity}: ${n}`).toContain(d.commodity);
      }
      for (const n of d.interval) expect(channelDef(n).kind).toBe('interval');
      for (const n of [...Object.values(d.registers), ...d.registerFigures]) expect(channelDef(n!).kind).toBe('register');
    }
  });

  it('names the primary channel VEE expects and completeness counts: active import, volume for gas and water, none for heat', () => {
    expect(PRIMARY_CHANNEL_CODES).toEqual({ electricity: 1, gas: 7, water: 7 });
    expect([primaryChannelCode('gas'), primaryChannelCode('heat'), primaryChannelCode('weather')]).toEqual([7, undefined, undefined]);
    expect(commodityDef('no-such').commodity).toBe('electricity');
    expect(REGISTER_OF).toEqual({ active_import: 'active_import_register', active_export: 'active_export_register', volume: 'volume_register' });
    // The rollup sums the measured channels of every commodity (codes 1–4 and volume).
    expect(BILLED_INTERVAL_CODES).toEqual([1, 2, 3, 4, 7]);
    expect(ENERGY_CHANNELS).toEqual([1, 2, 3, 4, 7]);
  });

  it('VEE: a gas meter sending nothing gets a gap on volume, a heat meter none, an electricity meter one on active import', () => {
    const tz = 'Europe/Istanbul';
    const fromMs = startOfLocalDate('2026-01-15', tz);
    const toMs = startOfLocalDate('2026-01-16', tz);
    const run = (commodity: string) =>
      evaluateMeter({
        meter: { id: 1, timezone: tz, intervalMinutes: 60, commodity, supplyStart: '2026-01-01' },
        fromMs,
        toMs,
        nowMs: toMs + 86_400_000,
        segments: [{ fromMs, toMs, params: DEFAULT_VEE_PARAMS }],
        series: new Map(),
        conflicts: new Map(),
        accepted: new Set(),
      }).findings.map((f) => [f.rule, f.channel]);
    expect(run('gas')).toEqual([['gap', 7]]);
    expect(run('water')).toEqual([['gap', 7]]);
    expect(run('electricity')).toEqual([['gap', 1]]);
    expect(run('heat')).toEqual([]);
  });
});
