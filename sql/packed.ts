/**
 * Rows packed into one bytea per group: `string_agg(timestamptz_send(start)
 * || float8send(value) || …, ''::bytea)`, the types' own binary send
 * formats (big-endian). One value to parse instead of thousands of text rows:
 * the pg driver spends several µs per row and column on text, a DataView a
 * few ns. PGlite and pg both return bytea as a Uint8Array.
 */

/** 2000-01-01T00:00Z: PostgreSQL's epoch of binary timestamps (µs). */
export const PG_EPOCH_MS = 946_684_800_000;

export const packedView = (b: Uint8Array): DataView => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** An int8send value at `o`, as a number (exact below 2⁵³). */
export const int8At = (view: DataView, o: number): number => view.getInt32(o) * 4_294_967_296 + view.getUint32(o + 4);

/** A timestamptz_send value at `o` (µs since 2000-01-01), as epoch ms. */
export const timestampMsAt = (view: DataView, o: number): number => int8At(view, o) / 1000 + PG_EPOCH_MS;
