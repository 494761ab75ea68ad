import { describe, expect, it } from 'vitest';
import { ndjsonLines, type NdjsonLine } from '../api/ndjson.js';

async function collect(chunks: (string | Buffer)[], max?: number): Promise<NdjsonLine[]> {
  async function* source() {
    for (const c of chunks) yield typeof c === 'string' ? Buffer.from(c) : c;
  }
  const out: NdjsonLine[] = [];
  for await (const l of ndjsonLines(source(), max)) out.push(l);
  return out;
}

describe('ndjsonLines', () => {
  it('splits lines across chunk boundaries, accepts CRLF and a last line without newline', async () => {
    const lines = await collect(['{"a":', '1}\r\n{"b"', ':2}\n\n', '  \n[3]']);
    expect(lines).toEqual([
      { index: 0, ok: true, value: { a: 1 } },
      { index: 1, ok: true, value: { b: 2 } },
      { index: 2, ok: 'blank' },
      { index: 3, ok: 'blank' },
      { index: 4, ok: true, value: [3] },
    ]);
  });

  it('decodes a multi-byte character split between chunks', async () => {
    const bytes = Buffer.from('{"unit":"°C"}\n');
    const cut = bytes.indexOf(0xb0); // second byte of "°" (C2 B0)
    const lines = await collect([bytes.subarray(0, cut), bytes.subarray(cut)]);
    expect(lines).toEqual([{ index: 0, ok: true, value: { unit: '°C' } }]);
  });

  it('reports a non-JSON line with its 0-based number and text, and goes on', async () => {
    const lines = await collect(['{"a":1}\nnot json\n{"c":3}\n']);
    expect(lines[1]).toMatchObject({ index: 1, ok: false, text: 'not json', reason: expect.stringMatching(/^line 1 is not valid JSON: /) });
    expect(lines[2]).toEqual({ index: 2, ok: true, value: { c: 3 } });
  });

  it('rejects an over-long line without buffering it and resumes at the next line', async () => {
    const long = 'x'.repeat(300);
    const lines = await collect(['{"a":1}\n', long.slice(0, 150), long.slice(150), long, '\n{"b":2}\n', 'y'.repeat(300)], 256);
    expect(lines.map((l) => [l.index, l.ok])).toEqual([
      [0, true],
      [1, false],
      [2, true],
      [3, false],
    ]);
    expect(lines[1]).toMatchObject({ reason: 'line 1 is longer than 256 characters' });
    expect((lines[1] as { text: string }).text.length).toBeLessThanOrEqual(201);
  });
});
