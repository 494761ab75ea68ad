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
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) {
      inString = true;
    } else if (c === 91 || c === 123) {
      if (++depth > max) return true;
    } else if (c === 93 || c === 125) {
      depth--;
    }
  }
  return false;
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
