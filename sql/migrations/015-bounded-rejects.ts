import type { Migration } from './index.js';

/**
 * Bounded dead letters (issue 11, defect 4): a rejected item keeps an excerpt
 * of its raw input (models/input-bounds.ts DEAD_LETTER_EXCERPT_CHARS) plus the
 * raw input's size in bytes and its SHA-256, so a 50 MB field can never make
 * `GET /v1/rejects` build a response of hundreds of megabytes, and the sender
 * can still match the item to what it sent. Rows stored before this migration
 * are cut the same way.
 */
export const boundedRejects: Migration = {
  id: 15,
  name: 'bounded-rejects',
  async up(s) {
    await s.exec(`
      ALTER TABLE rejects ADD COLUMN IF NOT EXISTS payload_bytes integer;
      ALTER TABLE rejects ADD COLUMN IF NOT EXISTS payload_sha256 text;
      UPDATE rejects
         SET payload_bytes = octet_length(payload),
             payload_sha256 = encode(sha256(convert_to(payload, 'UTF8')), 'hex')
       WHERE payload_bytes IS NULL;
      UPDATE rejects SET payload = left(payload, 4096) || '… (truncated)' WHERE length(payload) > 4096;
      UPDATE rejects SET meter = left(meter, 128) || '…' WHERE length(meter) > 128;
      UPDATE rejects SET reason = left(reason, 2000) || '…' WHERE length(reason) > 2000;
    `);
  },
};
