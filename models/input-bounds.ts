import { createHash } from 'node:crypto';
import { HOUR_MS } from './time.js';

/**
 * Size bounds on what comes in (issue 11: bound every size). Pure.
 * docs/api.md "Bad input" lists them; every transport checks the same ones.
 */

/** Deepest JSON nesting accepted in a body or MQTT payload (arrays and objects). A readings batch needs 3. */
export const MAX_JSON_DEPTH = 32;

/** Longest text accepted per field, in characters, checked before anything is stored. */
export const FIELD_LIMITS = {
  /** Meter, device, gateway, portfolio, group and key ids. */
  id: 128,
  /** Channel names and OBIS codes, quality and source names, event codes. */
  code: 64,
  /** Labels, names, attribute values. */
  label: 256,
  /** Comments, reasons, free text. */
  comment: 2000,
} as const;

/** Characters of a rejected item's raw input kept in its dead letter (with its size and SHA-256). */
export const DEAD_LETTER_EXCERPT_CHARS = 4096;

/**
 * Whether JSON text nests arrays/objects deeper than `max`. One pass over the
 * characters, strings skipped, no recursion: run it before JSON.parse so that
 * nothing recursive (stringify, schema validation, our own walkers) ever meets
 * a 20 000-level value.
 * @example jsonDepthExceeds('[[1]]', 1) // true
 */
export function jsonDepthExceeds(text: string, max: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      i = jsonStringEnd(text, i);
    } else if (c === 91 || c === 123) {
      if (++depth > max) return true;
    } else if (c === 93 || c === 125) {
      depth--;
    }
  }
  return false;
}

/**
 * Whether a parsed JSON value nests arrays/objects deeper than `max` (the
 * same depth jsonDepthExceeds finds in its text). An explicit stack, no
 * recursion, so any depth is safe; and JSON.parse is safe on any depth too
 * (V8's parser keeps its own stack). Walking the parsed value costs a sixth
 * of scanning its text (0.6 against 3.4 ms for 10 000 reading rows), so the
 * ingest paths parse first and walk; the text scan stays for text that did
 * not parse (a truncated 20 000-level message is refused for its depth).
 * @example valueDepthExceeds([[1]], 1) // true
 */
export function valueDepthExceeds(value: unknown, max: number = MAX_JSON_DEPTH): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: object[] = [value];
  const depths: number[] = [1];
  while (stack.length) {
    const x = stack.pop()!;
    const d = depths.pop()!;
    if (d > max) return true;
    if (Array.isArray(x)) {
      for (let i = 0; i < x.length; i++) {
        const y: unknown = x[i];
        if (y !== null && typeof y === 'object') {
          stack.push(y);
          depths.push(d + 1);
        }
      }
    } else {
      for (const k in x) {
        const y: unknown = (x as Record<string, unknown>)[k];
        if (y !== null && typeof y === 'object') {
          stack.push(y);
          depths.push(d + 1);
        }
      }
    }
  }
  return false;
}

/**
 * Index of the quote that closes the JSON string opened at `open` (or
 * text.length when it is never closed): the next `"` not escaped, that is
 * preceded by an even number of backslashes. indexOf jumps over the string's
 * characters (a 50 MB text value is one memchr, not 50 million steps).
 * @example jsonStringEnd(String.raw`"a\"b" x`, 0) // 5: the escaped quote does not end it
 */
export function jsonStringEnd(text: string, open: number): number {
  for (let q = text.indexOf('"', open + 1); q >= 0; q = text.indexOf('"', q + 1)) {
    let slashes = 0;
    while (q - 1 - slashes > open && text.charCodeAt(q - 1 - slashes) === 92) slashes++;
    if (slashes % 2 === 0) return q;
  }
  return text.length;
}

/** What clipJsonDepth puts where a value was nested too deep: a string, so the field's own check rejects it with a reason. */
export const TOO_DEEP_MARKER = `[nested deeper than ${MAX_JSON_DEPTH} levels]`;

/**
 * JSON text with every array or object nested deeper than `max` replaced by
 * the string TOO_DEEP_MARKER, in one linear pass, before JSON.parse. Why not
 * refuse the whole body: one row with an absurd value must reject only
 * itself (issue 11); and why not parse first: V8 parses a 5-million-deep
 * array in seconds and every recursive step after it (stringify, schema
 * validation) overflows the stack. Unbalanced input stays invalid JSON.
 * @example clipJsonDepth('[{"value":[[1]]}]', 2) // '[{"value":"[nested deeper than 32 levels]"}]'
 */
export function clipJsonDepth(text: string, max: number = MAX_JSON_DEPTH): string {
  if (!jsonDepthExceeds(text, max)) return text;
  const marker = JSON.stringify(`[nested deeper than ${max} levels]`);
  let out = '';
  let last = 0;
  let depth = 0;
  let clipFrom = -1; // index of the opening bracket being cut, while depth > max
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      i = jsonStringEnd(text, i);
    } else if (c === 91 || c === 123) {
      if (++depth > max && clipFrom < 0) clipFrom = i;
    } else if (c === 93 || c === 125) {
      if (--depth === max && clipFrom >= 0) {
        out += text.slice(last, clipFrom) + marker;
        last = i + 1;
        clipFrom = -1;
      }
    }
  }
  if (clipFrom >= 0) return out + text.slice(last, clipFrom) + marker; // never closed: stays invalid, cheaply
  return out + text.slice(last);
}

/**
 * Text safe to store and return: U+0000 (which PostgreSQL text cannot hold)
 * written as the escape `\u0000`, cut to `max` characters with a note of the
 * full length.
 * @example boundedText('a\u0000b', 10) // 'a\\u0000b'
 */
export function boundedText(text: string, max: number): string {
  const clean = text.includes('\u0000') ? text.replaceAll('\u0000', '\\u0000') : text;
  return clean.length > max ? `${clean.slice(0, max)}… (${clean.length} characters in all)` : clean;
}

/**
 * JSON text of any value, never throwing (cycles, BigInt, too deep):
 * a placeholder that says why instead. Not bounded: pass it to boundedText.
 */
export function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch (err) {
    return `[not serialisable: ${(err as Error).message}]`;
  }
}

/**
 * A field's reason to refuse it, or null when it fits: strings only, no
 * U+0000, at most `max` characters.
 * @example fieldProblem('meter', 'S0\u000011', FIELD_LIMITS.id) // 'meter contains a NUL (U+0000) character'
 */
export function fieldProblem(name: string, value: string, max: number): string | null {
  if (value.length > max) return `${name} is ${value.length} characters long; at most ${max}`;
  if (value.includes('\u0000')) return `${name} contains a NUL (U+0000) character`;
  return null;
}

/** What a dead letter keeps of a rejected item's raw input. */
export interface RawExcerpt {
  /** The input as text (base64: prefix when it is not UTF-8 text or holds NUL), cut to DEAD_LETTER_EXCERPT_CHARS. */
  readonly payload: string;
  /** Size of the whole raw input in bytes (UTF-8 for text). */
  readonly bytes: number;
  /** SHA-256 of the whole raw input, hex: lets a sender match the dead letter to what it sent. */
  readonly sha256: string;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A bounded excerpt of raw input plus its size and hash (issue 11: a 50 MB
 * field must not become a 50 MB dead letter, nor a 472 MB list response).
 * @example rawExcerpt('{"meter":"M1"}').bytes // 14
 */
export function rawExcerpt(raw: string | Uint8Array, maxChars: number = DEAD_LETTER_EXCERPT_CHARS): RawExcerpt {
  const base64Bytes = Math.ceil((maxChars * 3) / 4);
  if (typeof raw === 'string') {
    // Measured and hashed from the string itself: no UTF-8 copy of the whole input (a 50 MB row is not allocated
    // again per dead letter). Same bytes as Buffer.from(raw): lone surrogates count as U+FFFD in both.
    const bytes = Buffer.byteLength(raw, 'utf8');
    const sha256 = createHash('sha256').update(raw, 'utf8').digest('hex');
    const payload = raw.includes('\u0000') ? cut(`base64:${utf8Prefix(raw, base64Bytes).toString('base64')}`, maxChars, bytes) : cut(raw, maxChars, bytes);
    return { payload, bytes, sha256 };
  }
  const sha256 = createHash('sha256').update(raw).digest('hex');
  let text: string | undefined;
  try {
    text = strictUtf8.decode(raw);
  } catch {
    text = undefined; // not UTF-8: kept as base64
  }
  const payload = text === undefined || text.includes('\u0000') ? cut(`base64:${Buffer.from(raw.subarray(0, base64Bytes)).toString('base64')}`, maxChars, raw.length) : cut(text, maxChars, raw.length);
  return { payload, bytes: raw.length, sha256 };
}

/**
 * The first `n` bytes of the UTF-8 encoding of `text` (fewer when it is shorter), encoding only a prefix:
 * n + 1 characters make at least n bytes, and the characters before the last one are encoded as in the
 * whole text (only a surrogate pair cut at the end of the slice would differ).
 * @example utf8Prefix('şx', 2) // <Buffer c5 9f>
 */
export function utf8Prefix(text: string, n: number): Buffer {
  return Buffer.from(text.length > n + 1 ? text.slice(0, n + 1) : text, 'utf8').subarray(0, n);
}

function cut(text: string, max: number, totalBytes: number): string {
  return text.length > max ? `${text.slice(0, max)}… (truncated: ${totalBytes} bytes in all)` : text;
}

/**
 * Plausibility bounds of a reading row, checked per row at ingest before
 * anything reaches SQL (issue 11, defect 3). Configured by MDM_EARLIEST_READING,
 * MDM_MAX_FUTURE_HOURS and MDM_MAX_*_VALUE (models/config.ts).
 */
export interface ReadingLimits {
  /** No reading starts before this instant (epoch ms). */
  readonly earliestMs: number;
  /** A measured (or validated) reading starts at most this long after its arrival (ms): clocks drift, calendars do not. */
  readonly measuredFutureMs: number;
  /** Estimated, edited, suspect, missing values (estimates, settlement, profiles) may lie further ahead, up to this (ms). */
  readonly otherFutureMs: number;
  /** Largest absolute value per channel kind, in the channel's unit (before the meter multiplier). */
  readonly maxAbs: { readonly interval: number; readonly register: number; readonly instantaneous: number };
}

export const DEFAULT_READING_LIMITS: ReadingLimits = Object.freeze({
  earliestMs: Date.UTC(1990, 0, 1),
  measuredFutureMs: 72 * HOUR_MS,
  otherFutureMs: 400 * 24 * HOUR_MS,
  maxAbs: Object.freeze({ interval: 1e9, register: 1e13, instantaneous: 1e9 }),
});
