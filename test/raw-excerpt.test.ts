import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { DEAD_LETTER_EXCERPT_CHARS, rawExcerpt, utf8Prefix } from '../models/input-bounds.js';

/**
 * rawExcerpt measures and hashes a text without copying it to UTF-8 bytes first; what it stores must stay what
 * the copy gave (size, hash, excerpt). The reference below is the former implementation: encode the whole text.
 */
function byCopy(raw: string, maxChars: number = DEAD_LETTER_EXCERPT_CHARS) {
  const bytes = Buffer.from(raw, 'utf8');
  const cut = (text: string) => (text.length > maxChars ? `${text.slice(0, maxChars)}… (truncated: ${bytes.length} bytes in all)` : text);
  const payload = raw.includes('\u0000') ? cut(`base64:${Buffer.from(bytes.subarray(0, Math.ceil((maxChars * 3) / 4))).toString('base64')}`) : cut(raw);
  return { payload, bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
}

// Text with NUL (base64 excerpt), multi-byte characters, surrogate pairs and lone surrogates at every offset around
// the base64 prefix's end (3 072 bytes for the default 4 096 characters; 6 for 8 characters).
const pieces = ['x', '\u0000', 'ş', '€', '😀', '\ud800', '\udc00'];
const texts: string[] = ['', 'a', '\u0000', '{"meter":"M1"}', 'x'.repeat(5000), `\u0000${'x'.repeat(5000)}`];
for (const lead of [0, 1, 2, 3, 4, 5, 6, 7, 8, 3068, 3069, 3070, 3071, 3072, 3073, 4095, 4096]) {
  for (const p of pieces) {
    for (const q of pieces) texts.push(`\u0000${'y'.repeat(lead)}${p}${q}${'z'.repeat(5)}`, `${'é'.repeat(lead)}${p}\u0000${q}`);
  }
}

describe('rawExcerpt of text (pure)', () => {
  it('gives the size, hash and excerpt that encoding the whole text gives', () => {
    for (const text of texts) {
      expect(rawExcerpt(text), JSON.stringify(text.slice(0, 40))).toEqual(byCopy(text));
      expect(rawExcerpt(text, 8), JSON.stringify(text.slice(0, 40))).toEqual(byCopy(text, 8));
    }
  });

  it('utf8Prefix: the first n bytes of the whole encoding, or all of them', () => {
    for (const text of texts) {
      const whole = Buffer.from(text, 'utf8');
      for (const n of [0, 1, 2, 3, 6, 3072]) expect(utf8Prefix(text, n).equals(whole.subarray(0, n))).toBe(true);
    }
    expect([...utf8Prefix('şx', 2)]).toEqual([0xc5, 0x9f]);
  });
});
