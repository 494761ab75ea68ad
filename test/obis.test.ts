import { afterEach, describe, expect, it } from 'vitest';
import { CHANNELS, channelByCode, channelDef, type ChannelDef, type ChannelName, KNOWN_CHANNELS_HINT, resolveChannel, setUserChannels } from '../models/channel.js';
import { isCurrentValue, obisKey, obisKeyOf, obisQuantity, parseObis } from '../models/obis.js';

/**
 * OBIS codes as head-ends write them (IEC 62056-61; DLMS UA 1000-1 Blue Book
 * §7): the complete form A-B:C.D.E*F with and without medium, channel and F,
 * the COSEM logical name as six dotted bytes, the reduced C.D.E of IEC 62056-21
 * readouts. The codes are the ones issue 15 lists.
 */
describe('parseObis', () => {
  it('reads every written form of one code to the same key', () => {
    const forms = ['1.8.1', '1-0:1.8.1', '1-0:1.8.1*255', '1-0:1.8.1&255', '0:1.8.1', '1.0.1.8.1.255', '1-0:1.8.1*255'];
    for (const f of forms) expect(obisKeyOf(f), f).toBe('1-0:1.8.1');
    expect(parseObis('1-0:32.7.0*255')).toEqual({ ok: true, code: { a: 1, b: 0, c: 32, d: 7, e: 0, f: 255 } });
    expect(parseObis('1.8.1')).toEqual({ ok: true, code: { a: undefined, b: undefined, c: 1, d: 8, e: 1, f: undefined } });
    expect(parseObis('7.0.13.2.0.255')).toEqual({ ok: true, code: { a: 7, b: 0, c: 13, d: 2, e: 0, f: 255 } });
  });

  it('keeps medium and channel apart: gas 7-0:3.0.0 is not electricity 3.0.0', () => {
    expect(obisKeyOf('7-0:3.0.0')).toBe('7-0:3.0.0');
    expect(obisKeyOf('3.0.0')).toBe('1-0:3.0.0');
    expect(obisKeyOf('0-1:24.2.1')).toBe('0-1:24.2.1');
  });

  it('reads the letters of IEC 62056-21 value group C (C = 96, F = 97, L = 98, P = 99)', () => {
    expect(obisKeyOf('C.1.0')).toBe('1-0:96.1.0');
    expect(obisKeyOf('1-0:F.F.0')).toBeUndefined(); // letters stand for C only
    expect(obisKeyOf('0-0:P.1.0')).toBe('0-0:99.1.0');
  });

  it('tells a billing-period value (F other than 255) from the current value', () => {
    const stored = parseObis('1-0:1.8.0*03');
    expect(stored.ok && isCurrentValue(stored.code)).toBe(false);
    const current = parseObis('1-0:1.8.0*255');
    expect(current.ok && isCurrentValue(current.code)).toBe(true);
  });

  it('refuses what is not OBIS, with a reason', () => {
    for (const bad of ['', 'active_import', '1.8', '1.0.1.8.0', '1-0:1.8.0*', '1-0:1.8.0.1', ' 1.8.0', '1.8.0 ', '1--0:1.8.0', 'x'.repeat(100)]) {
      const p = parseObis(bad);
      expect(p.ok, bad).toBe(false);
    }
    expect(parseObis('1-0:1.8.256')).toEqual({ ok: false, reason: 'value group E is 256: each group is one byte (0–255)' });
    expect(parseObis('300.0.1.8.0.255')).toMatchObject({ ok: false, reason: expect.stringMatching(/group A is 300/) });
  });

  it('normalises without a medium to electricity and without a channel to 0', () => {
    expect(obisKey({ a: undefined, b: undefined, c: 1, d: 29, e: 0, f: undefined })).toBe('1-0:1.29.0');
  });
});

describe('obisQuantity', () => {
  const q = (text: string) => {
    const p = parseObis(text);
    if (!p.ok) throw new Error(p.reason);
    return obisQuantity(p.code);
  };
  it('gives the unit of each code issue 15 lists', () => {
    const units: [string, string][] = [
      ['1-0:1.8.0', 'kWh'],
      ['1.8.1', 'kWh'],
      ['1.8.2', 'kWh'],
      ['1.8.3', 'kWh'],
      ['2.8.1', 'kWh'],
      ['3.8.0', 'kvarh'],
      ['4.8.1', 'kvarh'],
      ['1.29.0', 'kWh'],
      ['2.29.0', 'kWh'],
      ['1.6.0', 'kW'],
      ['32.7.0', 'V'],
      ['52.7.0', 'V'],
      ['72.7.0', 'V'],
      ['31.7.0', 'A'],
      ['51.7.0', 'A'],
      ['71.7.0', 'A'],
      ['7-0:3.0.0', 'm3'],
      ['7-0:13.2.0', 'm3'],
      ['6-0:1.0.0', 'kWh'],
      ['8-0:1.0.0', 'm3'],
    ];
    for (const [code, unit] of units) expect(q(code)?.unit, code).toBe(unit);
  });

  it('names the quantity: phase, direction, tariff, metering or base conditions', () => {
    expect(q('1-0:1.8.2')?.quantity).toBe('active energy import (+A), register, tariff 2');
    expect(q('2.8.0')?.quantity).toBe('active energy export (−A), register, total');
    expect(q('1-0:52.7.0')?.quantity).toBe('voltage L2');
    expect(q('1-0:71.7.0')?.quantity).toBe('current L3');
    expect(q('1.6.0')?.quantity).toBe('maximum demand, active import (+A), total');
    // Blue Book gas tables: C 3 = forward absolute meter volume, C 13 = forward absolute converter volume;
    // D 0 = index at metering conditions, D 2 = index at base conditions (the "converted value").
    expect(q('7-0:3.0.0')?.quantity).toBe('gas volume at metering conditions (Vm), meter index');
    expect(q('7-0:13.2.0')?.quantity).toBe('gas volume at base conditions (Vb), converter index');
    expect(q('0-0:96.1.0')).toBeUndefined(); // an identifier, no quantity
  });
});

describe('resolveChannel with OBIS', () => {
  it('resolves every written form of every built-in OBIS code to its channel', () => {
    for (const c of CHANNELS.filter((x) => x.obis)) {
      const [ab, cde] = c.obis!.split(':');
      const [a, b] = ab.split('-');
      const forms = [c.obis!, `${c.obis}*255`, `${c.obis}&255`, `${a}.${b}.${cde}.255`];
      if (a === '1') forms.push(cde, `${b}:${cde}`);
      for (const f of forms) expect(resolveChannel(f)?.name, f).toBe(c.name);
    }
  });

  it('maps the codes of issue 15 to channels with kind, unit and aggregation', () => {
    const rows = ['1.8.1', '1-0:1.8.2', '1.0.1.8.3.255', '2.8.1', '3.8.0', '4.8.0', '1.6.0', '1-0:32.7.0', '52.7.0', '72.7.0', '31.7.0', '7-0:3.0.0', '7-0:13.2.0', '6-0:1.0.0', '8-0:1.0.0'].map(
      (code) => {
        const c = resolveChannel(code)!;
        return [code, c.name, c.kind, c.unit, c.aggregation];
      },
    );
    expect(rows).toEqual([
      ['1.8.1', 'active_import_register_t1', 'register', 'kWh', 'last'],
      ['1-0:1.8.2', 'active_import_register_t2', 'register', 'kWh', 'last'],
      ['1.0.1.8.3.255', 'active_import_register_t3', 'register', 'kWh', 'last'],
      ['2.8.1', 'active_export_register_t1', 'register', 'kWh', 'last'],
      ['3.8.0', 'reactive_inductive_register', 'register', 'kvarh', 'last'],
      ['4.8.0', 'reactive_capacitive_register', 'register', 'kvarh', 'last'],
      ['1.6.0', 'active_import_max_demand', 'instantaneous', 'kW', 'max'],
      ['1-0:32.7.0', 'voltage_l1', 'instantaneous', 'V', 'mean'],
      ['52.7.0', 'voltage_l2', 'instantaneous', 'V', 'mean'],
      ['72.7.0', 'voltage_l3', 'instantaneous', 'V', 'mean'],
      ['31.7.0', 'current_l1', 'instantaneous', 'A', 'mean'],
      ['7-0:3.0.0', 'volume_register', 'register', 'm3', 'last'],
      ['7-0:13.2.0', 'volume_base_register', 'register', 'm3', 'last'],
      ['6-0:1.0.0', 'heat_energy_register', 'register', 'kWh', 'last'],
      ['8-0:1.0.0', 'volume_register', 'register', 'm3', 'last'],
    ]);
  });

  it('agrees with obisQuantity on the unit of every built-in OBIS code', () => {
    for (const c of CHANNELS) {
      for (const key of [c.obis, ...(c.alsoObis ?? [])].filter((k): k is string => k !== undefined)) {
        const p = parseObis(key);
        expect(p.ok && obisQuantity(p.code)?.unit, key).toBe(c.unit);
      }
    }
  });

  it('treats a device channel B of 1–64 as the same quantity (1-1:1.29.0), refuses billing-period values and unknown codes', () => {
    expect(resolveChannel('1-1:1.29.0')?.name).toBe('active_import');
    expect(resolveChannel('1-0:1.8.0*03')).toBeUndefined();
    expect(resolveChannel('1-0:1.8.4')).toBeUndefined();
    expect(resolveChannel('7-0:3.0.1')).toBeUndefined();
    expect(resolveChannel('3.0.0')).toBeUndefined(); // electricity 3.0.0, not gas
  });

  it('keeps codes 1–10 as shipped and every code unique', () => {
    expect(CHANNELS.slice(0, 10).map((c) => `${c.code}:${c.name}`)).toEqual([
      '1:active_import',
      '2:active_export',
      '3:reactive_inductive',
      '4:reactive_capacitive',
      '5:active_import_register',
      '6:active_export_register',
      '7:volume',
      '8:volume_register',
      '9:temperature',
      '10:pressure',
    ]);
    expect(new Set(CHANNELS.map((c) => c.code)).size).toBe(CHANNELS.length);
    expect(CHANNELS.every((c, i) => c.code === i + 1)).toBe(true);
  });

  it('lists the known channels in a hint short enough for a stored reject reason', () => {
    expect(KNOWN_CHANNELS_HINT).toMatch(/^known channels: active_import, /);
    expect(KNOWN_CHANNELS_HINT).toContain('1.8.1');
    expect(KNOWN_CHANNELS_HINT).toContain('7-0:13.2.0');
    expect(KNOWN_CHANNELS_HINT.length).toBeLessThan(1_600);
  });
});

describe('user-defined channels in the registry', () => {
  afterEach(() => setUserChannels([])); // the registry is process state: leave none behind

  const user = (over: Partial<ChannelDef>): ChannelDef => ({
    name: 'x',
    code: 1000,
    unit: 'kWh',
    kind: 'register',
    meaning: '',
    commodities: ['electricity'],
    aggregation: 'last',
    builtin: false,
    ...over,
  });

  it('resolves them by name, code and every form of their OBIS key; a channel-specific key beats the B = 0 fallback', () => {
    setUserChannels([user({ name: 'active_import_register_t4', code: 1000, obis: '1-0:1.8.4' }), user({ name: 'import_ch2', code: 1001, obis: '1-2:1.29.0', kind: 'interval', aggregation: 'sum' })]);
    expect(resolveChannel('active_import_register_t4')?.code).toBe(1000);
    expect(resolveChannel('1.8.4')?.name).toBe('active_import_register_t4');
    expect(resolveChannel('1.0.1.8.4.255')?.name).toBe('active_import_register_t4');
    expect(resolveChannel('1-2:1.29.0')?.name).toBe('import_ch2');
    expect(resolveChannel('1-3:1.29.0')?.name).toBe('active_import');
    expect(channelByCode(1001).name).toBe('import_ch2');
    expect(channelDef('import_ch2' as ChannelName).code).toBe(1001);
    expect(KNOWN_CHANNELS_HINT).toMatch(/heat_energy_register, active_import_register_t4, import_ch2 \(OBIS/);
  });

  it('never lets a user definition shadow a built-in name, code or OBIS key, and forgets them all on reset', () => {
    setUserChannels([user({ name: 'voltage_l1', code: 1000 }), user({ name: 'low', code: 5 }), user({ name: 'l1', code: 1002, obis: '1-0:32.7.0' }), user({ name: 'ok', code: 1003 })]);
    expect(resolveChannel('voltage_l1')?.code).toBe(20);
    expect(resolveChannel('low')).toBeUndefined();
    expect(resolveChannel('l1')).toBeUndefined();
    expect(resolveChannel('ok')?.code).toBe(1003);
    setUserChannels([]);
    expect(resolveChannel('ok')).toBeUndefined();
    expect(() => channelByCode(1003)).toThrow(/unknown channel code 1003/);
    expect(KNOWN_CHANNELS_HINT).not.toMatch(/\bok\b/);
  });

  it('cuts the hint of a long list and points at GET /v1/channels', () => {
    setUserChannels(Array.from({ length: 200 }, (_, i) => user({ name: `user_channel_number_${i}`, code: 1000 + i })));
    expect(KNOWN_CHANNELS_HINT.length).toBeLessThan(1_600);
    expect(KNOWN_CHANNELS_HINT).toMatch(/… \(GET \/v1\/channels lists them all\)$/);
  });
});
