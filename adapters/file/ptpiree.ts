/**
 * PTPiREE daily metering files (Poland): the text format Polish distribution
 * system operators use to hand one metering point's (PPE's) day of energy
 * values to sellers. What the public description says (docs/import.md,
 * "PTPiREE", with its sources):
 *
 * - a text file: a header of six lines, one line per period of the day, then a
 *   checksum; lines end with CRLF;
 * - a day runs from midnight to midnight in official (local Polish) time, so
 *   it has 24 hourly lines, 23 on the spring DST day and 25 on the autumn
 *   one; since the 15-minute settlement (WDB, June 2024) 96 / 92 / 100
 *   quarter-hour lines;
 * - a value line is `value,quality`: the energy with three decimals and "."
 *   as the decimal mark, then the quality indicator (three values);
 * - the checksum is a 16-bit CRC, CRC-CCITT as XMODEM uses it
 *   (CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection).
 *
 * What the description we could read does not spell out, and we therefore
 * assume (each can be overridden, and is listed in docs/import.md): the first
 * header line is the PPE code (our meter id unless `meter` is given), the
 * second the date of the day; header lines 3–6 are kept as they are; the
 * checksum line is four hexadecimal digits computed over every byte before
 * it (header and value lines with their CRLFs); the quality indicators map
 * with PTPIREE_QUALITY unless qualityMap says otherwise.
 */
import type { Quality } from '../../models/reading.js';
import { MINUTE_MS } from '../../models/time.js';
import { localDay, parseDate } from './import-values.js';
import type { ImportRecord } from './reading-layouts.js';
import type { Encoding } from './text-decode.js';

/** Files are one meter-day: anything larger is not one. */
export const MAX_PTPIREE_BYTES = 64 * 1024;

/** Default quality indicators (assumed, see above): overridden by the import's qualityMap. */
export const PTPIREE_QUALITY: Readonly<Record<string, Quality>> = {
  '0': 'measured',
  '1': 'estimated',
  '2': 'missing',
  R: 'measured',
  S: 'estimated',
  B: 'missing',
};

/** A file that cannot be read as PTPiREE (the whole file is refused: a day cannot be placed in part). */
export class PtpireeError extends Error {
  constructor(message: string) {
    super(`PTPiREE: ${message}`);
    this.name = 'PtpireeError';
  }
}

/**
 * CRC-16/XMODEM (CRC-CCITT, polynomial 0x1021, initial 0x0000, not
 * reflected, no final XOR). Check value: "123456789" → 0x31C3.
 * @example crc16Xmodem(new TextEncoder().encode('123456789')) // 0x31c3
 */
export function crc16Xmodem(bytes: Uint8Array, crc = 0): number {
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i] << 8;
    for (let b = 0; b < 8; b++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

export interface PtpireeValue {
  readonly value: string;
  readonly quality: string;
  /** 1-based line in the file. */
  readonly line: number;
  readonly raw: string;
}

export interface PtpireeDay {
  readonly ppe: string;
  readonly dateText: string;
  readonly header: readonly string[];
  readonly values: readonly PtpireeValue[];
  readonly checksum: { readonly stated: number; readonly computed: number };
}

/** Reads one file's bytes (checksum over the bytes as they are, before decoding). */
export function parsePtpiree(bytes: Uint8Array, encoding: Encoding = 'windows-1250'): PtpireeDay {
  if (bytes.length > MAX_PTPIREE_BYTES) throw new PtpireeError(`the file has ${bytes.length} bytes; a PTPiREE file is one meter-day (at most ${MAX_PTPIREE_BYTES})`);
  // the checksum line is the last non-empty line
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 10 || bytes[end - 1] === 13 || bytes[end - 1] === 32)) end--;
  let start = end;
  while (start > 0 && bytes[start - 1] !== 10) start--;
  const checksumText = new TextDecoder('latin1').decode(bytes.subarray(start, end)).trim();
  if (!/^[0-9A-Fa-f]{4}$/.test(checksumText)) throw new PtpireeError(`the last line ${JSON.stringify(checksumText.slice(0, 20))} is not a checksum (four hexadecimal digits of CRC-16/XMODEM)`);
  const computed = crc16Xmodem(bytes.subarray(0, start));
  const text = new TextDecoder(encoding === 'auto' || encoding === 'utf-8' ? 'utf-8' : encoding).decode(bytes.subarray(0, start));
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  if (lines.length < 7) throw new PtpireeError(`the file has ${lines.length} lines before the checksum; a PTPiREE file has six header lines and then one line per period`);
  const header = lines.slice(0, 6).map((l) => l.trim());
  const values = lines.slice(6).map((raw, i) => {
    const [value = '', quality = ''] = raw.split(',').map((s) => s.trim());
    return { value, quality, line: i + 7, raw };
  });
  return { ppe: header[0], dateText: header[1], header, values, checksum: { stated: Number.parseInt(checksumText, 16), computed } };
}

/**
 * One PTPiREE file (bytes) → ImportRecords in the long layout
 * (`meter,start,value,quality`, starts as UTC instants), for the import path.
 * The checksum is verified first (unless verifyChecksum is false); the number
 * of lines must be the day's hours (or quarter-hours) in `timezone`.
 */
export async function* ptpireeRecords(
  bytes: AsyncIterable<Uint8Array>,
  opts: { meter?: string; timezone?: string; encoding?: Encoding; verifyChecksum?: boolean; dateOrder?: 'dmy' | 'mdy' },
): AsyncGenerator<ImportRecord[]> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const c of bytes) {
    size += c.length;
    if (size > MAX_PTPIREE_BYTES) throw new PtpireeError(`the file is larger than ${MAX_PTPIREE_BYTES} bytes; a PTPiREE file is one meter-day`);
    parts.push(c);
  }
  const all = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    all.set(p, o);
    o += p.length;
  }
  const day = parsePtpiree(all, opts.encoding === 'auto' || opts.encoding === undefined ? 'windows-1250' : opts.encoding);
  if (opts.verifyChecksum !== false && day.checksum.stated !== day.checksum.computed) {
    const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
    throw new PtpireeError(
      `checksum ${hex(day.checksum.stated)} does not match the file's CRC-16/XMODEM ${hex(day.checksum.computed)}: the file is damaged or was changed (verifyChecksum=false imports it anyway)`,
    );
  }
  const date = parseDate(day.dateText.split(/[T ]/)[0], opts.dateOrder);
  if (!date) throw new PtpireeError(`header line 2 ${JSON.stringify(day.dateText.slice(0, 40))} is not the date of the day (YYYY-MM-DD)`);
  const tz = opts.timezone ?? 'Europe/Warsaw';
  const local = localDay(date.y, date.mo, date.d, tz)!;
  const hours = local.lengthMs / 3_600_000;
  const n = day.values.length;
  const minutes = n === hours ? 60 : n === hours * 4 ? 15 : 0;
  if (minutes === 0) {
    throw new PtpireeError(`${day.dateText} has ${hours} hours in ${tz}: ${hours} hourly or ${hours * 4} quarter-hour lines, but the file has ${n} value lines`);
  }
  const meter = opts.meter ?? day.ppe;
  if (!meter) throw new PtpireeError('header line 1 (the PPE code) is empty: give meter=<id>');
  const out: ImportRecord[] = [{ cells: ['meter', 'start', 'value', 'quality', 'intervalMinutes'], line: 6, raw: day.header.join(' | ') }];
  day.values.forEach((v, k) => {
    const start = new Date(local.startMs + k * minutes * MINUTE_MS).toISOString();
    out.push({ cells: [meter, start, v.value, v.quality, String(minutes)], line: v.line, raw: v.raw });
  });
  yield out;
}

/**
 * A meter-day → a PTPiREE file (CRLF lines, Windows-1250 header text, values
 * with three decimals, the CRC-16/XMODEM checksum line). `values` in the
 * day's order; null = no value (written as 0.000 with the `missing` flag).
 * Header lines 3–6 are ours (the description we could read does not name
 * them): channel, unit, interval minutes, number of values.
 */
export function formatPtpiree(day: {
  ppe: string;
  date: string;
  channel: string;
  unit: string;
  intervalMinutes: number;
  values: readonly { value: number | null; quality: Quality }[];
  qualityFlags?: Partial<Record<Quality, string>>;
}): Uint8Array {
  const flags: Partial<Record<Quality, string>> = { measured: '0', validated: '0', edited: '1', estimated: '1', suspect: '1', missing: '2', ...day.qualityFlags };
  const lines = [day.ppe, day.date, day.channel, day.unit, String(day.intervalMinutes), String(day.values.length)];
  for (const v of day.values) lines.push(`${(v.value ?? 0).toFixed(3)},${v.value === null ? flags.missing : flags[v.quality]}`);
  const body = encodeCp1250(`${lines.join('\r\n')}\r\n`);
  const crc = crc16Xmodem(body).toString(16).toUpperCase().padStart(4, '0');
  const out = new Uint8Array(body.length + 6);
  out.set(body);
  out.set(new TextEncoder().encode(`${crc}\r\n`), body.length);
  return out;
}

/** Text → Windows-1250 bytes (Polish letters in a PPE header); characters outside it become "?". */
function encodeCp1250(text: string): Uint8Array {
  const table = new Map<string, number>();
  const dec = new TextDecoder('windows-1250');
  for (let b = 0x80; b < 0x100; b++) table.set(dec.decode(new Uint8Array([b])), b);
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out[i] = c < 0x80 ? c : (table.get(text[i]) ?? 0x3f);
  }
  return out;
}
