import { describe, expect, it } from 'vitest';
import { decodeRegisters, scaleValue } from '../adapters/modbus/register-decode.js';
import { decodeBlock, MAX_REGISTERS_PER_READ, planReads } from '../adapters/modbus/register-map.js';
import { parseDeviceRows, RegisterEntrySchema, type RegisterEntryInput } from '../models/modbus.js';

const big = { wordOrder: 'big', byteSwap: false } as const;
const little = { wordOrder: 'little', byteSwap: false } as const;
const bigSwap = { wordOrder: 'big', byteSwap: true } as const;
const littleSwap = { wordOrder: 'little', byteSwap: true } as const;

describe('decodeRegisters', () => {
  it('decodes 16-bit types, with and without byte swap', () => {
    expect(decodeRegisters([0x1234], { type: 'uint16', ...big })).toBe(4660);
    expect(decodeRegisters([0x3412], { type: 'uint16', ...bigSwap })).toBe(4660);
    expect(decodeRegisters([0xfffe], { type: 'int16', ...big })).toBe(-2);
    expect(decodeRegisters([0x8000], { type: 'int16', ...big })).toBe(-32768);
    expect(decodeRegisters([0x0080], { type: 'int16', ...bigSwap })).toBe(-32768);
    // word order means nothing for one register
    expect(decodeRegisters([0xffff], { type: 'uint16', ...little })).toBe(65535);
  });

  it('decodes uint32 0x12345678 = 305419896 in all four layouts (ABCD, CDAB, BADC, DCBA)', () => {
    expect(decodeRegisters([0x1234, 0x5678], { type: 'uint32', ...big })).toBe(305419896);
    expect(decodeRegisters([0x5678, 0x1234], { type: 'uint32', ...little })).toBe(305419896);
    expect(decodeRegisters([0x3412, 0x7856], { type: 'uint32', ...bigSwap })).toBe(305419896);
    expect(decodeRegisters([0x7856, 0x3412], { type: 'uint32', ...littleSwap })).toBe(305419896);
  });

  it('decodes int32 two’s complement', () => {
    expect(decodeRegisters([0xffff, 0xfffe], { type: 'int32', ...big })).toBe(-2);
    expect(decodeRegisters([0xfffe, 0xffff], { type: 'int32', ...little })).toBe(-2);
    // 123456789 = 0x075BCD15, so −123456789 = 0x100000000 − 0x075BCD15 = 0xF8A432EB
    expect(decodeRegisters([0xf8a4, 0x32eb], { type: 'int32', ...big })).toBe(-123456789);
    expect(decodeRegisters([0x8000, 0x0000], { type: 'int32', ...big })).toBe(-2147483648);
  });

  it('decodes float32 1234.5 = 0x449A5000 in all four layouts and returns the shortest decimal', () => {
    expect(decodeRegisters([0x449a, 0x5000], { type: 'float32', ...big })).toBe(1234.5);
    expect(decodeRegisters([0x5000, 0x449a], { type: 'float32', ...little })).toBe(1234.5);
    expect(decodeRegisters([0x9a44, 0x0050], { type: 'float32', ...bigSwap })).toBe(1234.5);
    expect(decodeRegisters([0x0050, 0x9a44], { type: 'float32', ...littleSwap })).toBe(1234.5);
    // 0.1 is 0x3DCCCCCD as float32 (0.100000001490116…); the meter means 0.1
    expect(decodeRegisters([0x3dcc, 0xcccd], { type: 'float32', ...big })).toBe(0.1);
    // −2.5 = sign 1, exponent 128 (0x80), mantissa 0.25 → 0xC0200000
    expect(decodeRegisters([0xc020, 0x0000], { type: 'float32', ...big })).toBe(-2.5);
    expect(decodeRegisters([0x7fc0, 0x0000], { type: 'float32', ...big })).toBeNaN();
    expect(decodeRegisters([0x7f80, 0x0000], { type: 'float32', ...big })).toBe(Infinity);
  });

  it('decodes float64 1.5 = 0x3FF8000000000000 and −2.25 = 0xC002000000000000', () => {
    expect(decodeRegisters([0x3ff8, 0, 0, 0], { type: 'float64', ...big })).toBe(1.5);
    expect(decodeRegisters([0, 0, 0, 0x3ff8], { type: 'float64', ...little })).toBe(1.5);
    expect(decodeRegisters([0xf83f, 0, 0, 0], { type: 'float64', ...bigSwap })).toBe(1.5);
    expect(decodeRegisters([0, 0, 0, 0x02c0], { type: 'float64', ...littleSwap })).toBe(-2.25);
  });

  it('decodes uint64 2^40 + 5 = 0x0000010000000005 = 1099511627781', () => {
    expect(decodeRegisters([0x0000, 0x0100, 0x0000, 0x0005], { type: 'uint64', ...big })).toBe(1099511627781);
    expect(decodeRegisters([0x0005, 0x0000, 0x0100, 0x0000], { type: 'uint64', ...little })).toBe(1099511627781);
    expect(decodeRegisters([0x0000, 0x0001, 0x0000, 0x0500], { type: 'uint64', ...bigSwap })).toBe(1099511627781);
  });

  it('refuses a wrong register count or a value that is not a 16-bit word', () => {
    expect(() => decodeRegisters([1], { type: 'uint32', ...big })).toThrow(/uint32 takes 2 register/);
    expect(() => decodeRegisters([70000], { type: 'uint16', ...big })).toThrow(/not a 16-bit word/);
  });

  it('scales without binary noise', () => {
    expect(7 * 0.1).not.toBe(0.7); // 0.7000000000000001: the noise scaleValue removes
    expect(scaleValue(7, 0.1)).toBe(0.7);
    expect(scaleValue(1001, 0.001)).toBe(1.001);
    expect(scaleValue(123456, 0.01)).toBe(1234.56);
    expect(scaleValue(NaN, 0.1)).toBeNaN();
  });
});

const entry = (e: RegisterEntryInput) => RegisterEntrySchema.parse(e);

describe('planReads / decodeBlock', () => {
  it('merges touching registers of one function, never bridges gaps or mixes functions', () => {
    const entries = [
      entry({ address: 10, type: 'uint32', meter: 'M', channel: 'active_import_register' }),
      entry({ address: 0, type: 'float32', meter: 'M', channel: 'active_export_register' }),
      entry({ address: 2, type: 'float32', meter: 'M2', channel: 'active_import_register' }),
      entry({ address: 0, function: 4, type: 'int16', meter: 'M', channel: 'temperature' }),
      entry({ address: 1, function: 4, type: 'uint16', meter: 'M', channel: 'pressure' }),
    ];
    expect(planReads(entries)).toEqual([
      {
        function: 3,
        address: 0,
        count: 4,
        entries: [
          { index: 1, offset: 0 },
          { index: 2, offset: 2 },
        ],
      },
      { function: 3, address: 10, count: 2, entries: [{ index: 0, offset: 0 }] },
      {
        function: 4,
        address: 0,
        count: 2,
        entries: [
          { index: 3, offset: 0 },
          { index: 4, offset: 1 },
        ],
      },
    ]);
  });

  it('splits blocks at 125 registers', () => {
    const entries = Array.from({ length: 70 }, (_, i) => entry({ address: i * 2, type: 'uint32', meter: `M${i}`, channel: 'active_import_register' }));
    const blocks = planReads(entries);
    expect(blocks.map((b) => [b.address, b.count])).toEqual([
      [0, 124], // 62 uint32; a 63rd would make 126 > MAX_REGISTERS_PER_READ
      [124, 16],
    ]);
    expect(MAX_REGISTERS_PER_READ).toBe(125);
  });

  it('decodes each entry of a block and scales it', () => {
    const entries = [
      entry({ address: 0, type: 'uint32', wordOrder: 'little', scale: 0.01, meter: 'M', channel: '1.8.0' }),
      entry({ address: 2, type: 'int16', scale: 0.1, meter: 'M', channel: 'temperature' }),
    ];
    const [block] = planReads(entries);
    // uint32 little: [low, high] = [0xE240, 0x0001] → 0x0001E240 = 123456 → × 0.01 = 1234.56; int16 0xFFC9 = −55 → −5.5
    expect(decodeBlock(block, [0xe240, 0x0001, 0xffc9], entries)).toEqual([
      { index: 0, value: 1234.56, words: [0xe240, 0x0001] },
      { index: 1, value: -5.5, words: [0xffc9] },
    ]);
  });
});

describe('device configuration', () => {
  const tcp = { id: 'D1', transport: 'tcp', host: '10.0.0.5', registers: [{ address: 0, type: 'uint32', scale: 0.01, meter: 'M1', channel: '1.8.0' }] };

  it('fills defaults, resolves OBIS aliases and derives the rollover of unsigned types', () => {
    const { valid, rejected } = parseDeviceRows([
      tcp,
      { id: 'D2', transport: 'rtu', path: '/dev/ttyUSB0', parity: 'none', registers: [{ address: 0, type: 'float32', meter: 'M1', channel: 'volume_register' }] },
    ]);
    expect(rejected).toEqual([]);
    expect(valid[0].device).toMatchObject({ port: 502, unitId: 1, pollIntervalMs: 60_000, timeoutMs: 3_000, retries: 1, failuresBeforeEvent: 3 });
    // 2^32 × 0.01 = 42949672.96 kWh
    expect(valid[0].device.registers[0]).toMatchObject({ function: 3, wordOrder: 'big', byteSwap: false, channel: 'active_import_register', rolloverAt: 42949672.96 });
    expect(valid[1].device).toMatchObject({ transport: 'rtu', baudRate: 9600, parity: 'none', dataBits: 8 });
    expect(valid[1].device.registers[0].rolloverAt).toBeUndefined(); // float registers do not wrap
  });

  it('rejects bad devices one by one with the field and the reason', () => {
    const { valid, rejected } = parseDeviceRows([
      tcp,
      { ...tcp, id: 'D3', transport: 'udp' },
      { ...tcp, id: 'D4', registers: [{ address: 0, meter: 'M1', channel: 'active_import' }] },
      { ...tcp, id: 'D5', registers: [{ address: 0, function: 6, meter: 'M1', channel: '1.8.0' }] },
      { ...tcp, id: 'D6', registers: [{ address: 65535, type: 'uint32', meter: 'M1', channel: '1.8.0' }] },
      { ...tcp, id: 'D7', registers: [{ address: 0, meter: 'M1', channel: 'temperature', rolloverAt: 10 }] },
      {
        ...tcp,
        id: 'D8',
        registers: [
          { address: 0, meter: 'M1', channel: '1.8.0' },
          { address: 2, meter: 'M1', channel: 'active_import_register' },
        ],
      },
      { ...tcp, id: 'bad id!' },
      tcp,
      'nope',
    ]);
    expect(valid.map((v) => v.device.id)).toEqual(['D1']);
    const reasons = Object.fromEntries(rejected.map((r) => [r.index, r.reason]));
    expect(reasons[1]).toMatch(/^transport: must be "tcp"/);
    expect(reasons[2]).toMatch(/registers\.0\.channel: active_import is an interval channel.*active_import_register/);
    expect(reasons[3]).toMatch(/registers\.0\.function: must be 3 \(holding registers\) or 4/);
    expect(reasons[4]).toMatch(/registers\.0\.address: uint32 at 65535 runs past register 65535/);
    expect(reasons[5]).toMatch(/apply to register channels only/);
    expect(reasons[6]).toMatch(/registers\.1: maps meter "M1" channel active_import_register again/);
    expect(reasons[7]).toMatch(/^id: may contain only/);
    expect(reasons[8]).toMatch(/duplicate of row 0/);
    expect(reasons[9]).toMatch(/row must be a device object/);
  });
});
