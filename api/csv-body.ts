import { decodeCsvBytes } from '../adapters/file/csv.js';
import { MdmError } from '../models/errors.js';

/**
 * A `text/csv` request body → text: the declared charset, else UTF-8, else
 * Windows-1254 (what EPİAŞ and Turkish Excel export) when the bytes are not
 * valid UTF-8.
 */
export function decodeCsvBody(bytes: Buffer, contentType: string | undefined): string {
  const charset = /charset=([^;]+)/i
    .exec(contentType ?? '')?.[1]
    ?.trim()
    .toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') {
    try {
      return new TextDecoder(charset).decode(bytes);
    } catch {
      throw new MdmError('MDM_ERR_UNSUPPORTED_MEDIA', [`unknown charset "${charset}": send UTF-8 or windows-1254`]);
    }
  }
  return decodeCsvBytes(bytes);
}
