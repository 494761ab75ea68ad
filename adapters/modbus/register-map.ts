import { REGISTER_WORDS, type RegisterEntry } from '../../models/modbus.js';
import { decodeRegisters, scaleValue } from './register-decode.js';

/** Most registers one read request may ask for (Modbus Application Protocol §6.3/§6.4: 125). */
export const MAX_REGISTERS_PER_READ = 125;

/** One read request and the register-map entries it serves. */
export interface ReadBlock {
  readonly function: 3 | 4;
  readonly address: number;
  readonly count: number;
  /** Index into the register map and the entry's offset inside the block, in registers. */
  readonly entries: readonly { readonly index: number; readonly offset: number }[];
}

/**
 * Groups a register map into as few read requests as possible: entries of the
 * same function whose registers touch or overlap share one request, up to 125
 * registers. Gaps are never bridged (reading an unmapped register can draw an
 * "illegal data address" exception). Pure.
 * @example planReads([{ address: 0, type: 'uint32', function: 3, … }, { address: 2, type: 'uint16', function: 3, … }])
 * // [{ function: 3, address: 0, count: 3, entries: [{ index: 0, offset: 0 }, { index: 1, offset: 2 }] }]
 */
export function planReads(entries: readonly Pick<RegisterEntry, 'address' | 'function' | 'type'>[]): ReadBlock[] {
  const order = entries.map((e, index) => ({ index, fn: e.function, from: e.address, to: e.address + REGISTER_WORDS[e.type] }));
  order.sort((a, b) => a.fn - b.fn || a.from - b.from || a.to - b.to);
  const blocks: { function: 3 | 4; address: number; end: number; entries: { index: number; offset: number }[] }[] = [];
  for (const e of order) {
    const last = blocks[blocks.length - 1];
    if (last && last.function === e.fn && e.from <= last.end && Math.max(last.end, e.to) - last.address <= MAX_REGISTERS_PER_READ) {
      last.end = Math.max(last.end, e.to);
      last.entries.push({ index: e.index, offset: e.from - last.address });
    } else {
      blocks.push({ function: e.fn, address: e.from, end: e.to, entries: [{ index: e.index, offset: 0 }] });
    }
  }
  return blocks.map((b) => ({ function: b.function, address: b.address, count: b.end - b.address, entries: b.entries }));
}

/** A decoded, scaled value for one register-map entry. */
export interface EntryValue {
  readonly index: number;
  readonly value: number;
  /** The entry's raw registers as read (before word order), for diagnostics. */
  readonly words: readonly number[];
}

/** Decodes the words a block returned into one value per entry it serves. Pure. */
export function decodeBlock(block: ReadBlock, words: readonly number[], entries: readonly RegisterEntry[]): EntryValue[] {
  if (words.length < block.count) throw new RangeError(`expected ${block.count} registers from ${block.address}, got ${words.length}`);
  return block.entries.map(({ index, offset }) => {
    const e = entries[index];
    const own = words.slice(offset, offset + REGISTER_WORDS[e.type]);
    return { index, value: scaleValue(decodeRegisters(own, e), e.scale), words: own };
  });
}
