/**
 * Bytes → text for imported files, chunk by chunk (constant memory), in the
 * encodings utilities' files come in: UTF-8 (with or without BOM),
 * Windows-1250 (Polish Excel and PTPiREE exports), Windows-1254 (Turkish
 * Excel, EPİAŞ). Node's TextDecoder with full ICU (the default build) decodes
 * the Windows code pages itself, so no conversion library is needed.
 * `auto`: UTF-8 while the bytes are valid UTF-8; a file whose first invalid
 * byte comes before any text was handed on is decoded as Windows-1254 from the
 * start (the house default of decodeCsvBytes), else the import stops with a
 * reason naming the line.
 */
export const ENCODINGS = ['auto', 'utf-8', 'windows-1250', 'windows-1254'] as const;
export type Encoding = (typeof ENCODINGS)[number];

/** An input that cannot be decoded in the encoding asked for. */
export class DecodeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

/**
 * Decodes an async stream of byte chunks into text chunks.
 * @example for await (const text of decodeChunks(createReadStream(f), 'windows-1250')) parser.push(text);
 */
export async function* decodeChunks(chunks: AsyncIterable<Uint8Array>, encoding: Encoding = 'auto', onBytes?: (bytes: number) => void): AsyncGenerator<string> {
  let bytes = 0;
  if (encoding === 'windows-1250' || encoding === 'windows-1254') {
    const d = new TextDecoder(encoding);
    for await (const c of chunks) {
      bytes += c.length;
      onBytes?.(bytes);
      yield d.decode(c, { stream: true });
    }
    yield d.decode();
    return;
  }
  let utf8: TextDecoder | undefined = new TextDecoder('utf-8', { fatal: true });
  let fallback: TextDecoder | undefined;
  let handedOn = false;
  for await (const c of chunks) {
    bytes += c.length;
    onBytes?.(bytes);
    if (fallback) {
      yield fallback.decode(c, { stream: true });
      continue;
    }
    try {
      const text = utf8!.decode(c, { stream: true });
      if (text) handedOn = true;
      yield text;
    } catch {
      if (encoding === 'utf-8' || handedOn) {
        throw new DecodeError(
          `the file is not valid UTF-8${handedOn ? ` after its first ${bytes - c.length} bytes` : ''}: save it as UTF-8, or name its encoding (encoding=windows-1250 for Polish, windows-1254 for Turkish files)`,
        );
      }
      fallback = new TextDecoder('windows-1254');
      utf8 = undefined;
      yield fallback.decode(c, { stream: true });
    }
  }
  if (fallback) yield fallback.decode();
  else {
    try {
      yield utf8!.decode();
    } catch {
      throw new DecodeError('the file ends inside a UTF-8 character: save it as UTF-8, or name its encoding (encoding=windows-1250 or windows-1254)');
    }
  }
}
