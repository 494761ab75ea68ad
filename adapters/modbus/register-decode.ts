import { REGISTER_WORDS, type RegisterType } from '../../models/modbus.js';

export interface DecodeSpec {
  readonly type: RegisterType;
  /** big: most significant register first (Modbus "ABCD"); little: least significant first ("CDAB"). */
  readonly wordOrder: 'big' | 'little';
  /** Swap the two bytes inside each register ("BADC" / "DCBA"). */
  readonly byteSwap: boolean;
}

/**
 * Decodes the registers of one value into a number. Each register arrives as
 * an unsigned 16-bit word (high byte first on the wire, Modbus Application
 * Protocol §4.2); multi-register types are assembled in `wordOrder`. uint64
 * values above 2^53 lose precision (they become the nearest double). float32
 * comes back as the shortest decimal that reads back as the same float32
 * (0.1, not 0.10000000149011612). NaN and ±Infinity are returned as they are:
 * ingest rejects them with a reason.
 * @example decodeRegisters([0x449a, 0x5000], { type: 'float32', wordOrder: 'big', byteSwap: false }) // 1234.5
 * @example decodeRegisters([0x5678, 0x1234], { type: 'uint32', wordOrder: 'little', byteSwap: false }) // 305419896
 */
export function decodeRegisters(words: readonly number[], spec: DecodeSpec): number {
  const n = REGISTER_WORDS[spec.type];
  if (words.length !== n) throw new RangeError(`${spec.type} takes ${n} register(s), got ${words.length}`);
  const buf = Buffer.alloc(n * 2);
  for (let i = 0; i < n; i++) {
    const w = words[spec.wordOrder === 'big' ? i : n - 1 - i];
    if (!Number.isInteger(w) || w < 0 || w > 0xffff) throw new RangeError(`register value ${w} is not a 16-bit word`);
    if (spec.byteSwap) buf.writeUInt16LE(w, i * 2);
    else buf.writeUInt16BE(w, i * 2);
  }
  switch (spec.type) {
    case 'uint16':
      return buf.readUInt16BE(0);
    case 'int16':
      return buf.readInt16BE(0);
    case 'uint32':
      return buf.readUInt32BE(0);
    case 'int32':
      return buf.readInt32BE(0);
    case 'float32':
      return shortestFloat32(buf.readFloatBE(0));
    case 'float64':
      return buf.readDoubleBE(0);
    case 'uint64':
      return Number(buf.readBigUInt64BE(0));
  }
}

/** The shortest decimal that rounds to the same float32 (what the meter's display shows). */
function shortestFloat32(f: number): number {
  if (!Number.isFinite(f) || f === 0) return f;
  for (let p = 1; p < 9; p++) {
    const d = Number(f.toPrecision(p));
    if (Math.fround(d) === f) return d;
  }
  return Number(f.toPrecision(9)); // 9 significant digits always round-trip a float32
}

/**
 * Decoded register value × scale, in the channel unit, without binary noise
 * (123456 × 0.01 → 1234.56, not 1234.5600000000002): 15 significant digits.
 */
export function scaleValue(decoded: number, scale: number): number {
  if (scale === 1 || !Number.isFinite(decoded)) return decoded;
  return Number((decoded * scale).toPrecision(15));
}
