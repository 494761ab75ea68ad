import { StringDecoder } from 'node:string_decoder';
import { MAX_JSON_DEPTH, jsonDepthExceeds } from '../models/input-bounds.js';

/** One line of an NDJSON body; `index` is the 0-based line number. */
export type NdjsonLine =
  | { readonly index: number; readonly ok: true; readonly value: unknown }
  | { readonly index: number; readonly ok: false; readonly text: string; readonly reason: string }
  | { readonly index: number; readonly ok: 'blank' };

/** Longest accepted line, in UTF-16 units (a reading is ~100). Longer lines are rejected, not buffered. */
export const MAX_LINE_CHARS = 1 << 20;

/**
 * Parses an NDJSON byte stream line by line. Memory stays bounded by one
 * network chunk plus one line: `for await` only pulls the next chunk when the
 * consumer asks for the next line, so a slow database slows the upload
 * (backpressure) instead of buffering it. `\r\n` line ends are accepted.
 */
export async function* ndjsonLines(stream: AsyncIterable<Buffer | string>, maxLineChars = MAX_LINE_CHARS): AsyncGenerator<NdjsonLine> {
  const decoder = new StringDecoder('utf8');
  let carry = '';
  let tooLong = false; // dropping the rest of an over-long line
  let index = 0;

  const finish = (raw: string): NdjsonLine => {
    const i = index++;
    if (tooLong) {
      tooLong = false;
      return { index: i, ok: false, text: raw.slice(0, 200) + '…', reason: `line ${i} is longer than ${maxLineChars} characters` };
    }
    const text = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (text.trim() === '') return { index: i, ok: 'blank' };
    if (text.length > maxLineChars) {
      // a line that arrived whole in one network chunk: the same bound as one buffered across chunks
      return { index: i, ok: false, text: text.slice(0, 200) + '…', reason: `line ${i} is longer than ${maxLineChars} characters` };
    }
    if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
      return { index: i, ok: false, text: text.slice(0, 200) + '…', reason: `line ${i} nests arrays/objects deeper than ${MAX_JSON_DEPTH} levels; a reading needs 1` };
    }
    try {
      return { index: i, ok: true, value: JSON.parse(text) };
    } catch (err) {
      return { index: i, ok: false, text, reason: `line ${i} is not valid JSON: ${(err as Error).message}` };
    }
  };

  for await (const chunk of stream) {
    const piece = typeof chunk === 'string' ? chunk : decoder.write(chunk);
    let from = 0;
    for (let nl = piece.indexOf('\n'); nl !== -1; nl = piece.indexOf('\n', from)) {
      yield finish(tooLong ? carry : carry + piece.slice(from, nl));
      carry = '';
      from = nl + 1;
    }
    if (!tooLong) {
      carry += piece.slice(from);
      if (carry.length > maxLineChars) {
        tooLong = true;
        carry = carry.slice(0, 200); // kept as the dead-letter excerpt
      }
    }
  }
  const rest = carry + decoder.end();
  if (tooLong || rest.trim() !== '') yield finish(tooLong ? carry : rest);
}
