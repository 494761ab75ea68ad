/**
 * The poison of `npm run bench -- chaos` (issue 11): every kind of bad input
 * the bench mixes into good traffic, in one table. Each poison item carries a
 * unique marker `CHAOSP<seq>Z` (in its meter id, channel, SenML name or MQTT
 * topic) so that its dead letter can be found whatever else went wrong.
 *
 * `where` says how the item travels:
 * - `row`: a row inside a good HTTP batch or MQTT gateway message;
 * - `senml`: a record appended to a good SenML pack (MQTT);
 * - `meter-topic`: a row inside a good message on a per-meter topic (MQTT);
 * - `mqtt-message`: a whole MQTT message of its own on `mdm/v1/gateways/<marker>/readings`;
 * - `http-request`: a whole POST /v1/readings of its own.
 *
 * `expect`: `dead-letter` (a `rejects` row with the marker and a reason),
 * `refused` (the HTTP request answered 4xx with `{error, message}`, or 200
 * with every row rejected with a reason), `noop` (nothing in it:
 * acknowledged, nothing stored).
 */

export type PoisonWhere = 'row' | 'senml' | 'meter-topic' | 'mqtt-message' | 'http-request';

/** What a poison maker may use: a valid aligned start and SenML time inside the good data, and the marker. */
export interface PoisonContext {
  readonly marker: string;
  /** A valid, aligned start (Europe/Istanbul offset) within the bench's data range. */
  readonly start: string;
  /** The same instant in epoch seconds (SenML bt). */
  readonly startS: number;
  /** A good row of an existing bench meter, as JSON text (truncated/NUL variants start from it). */
  readonly goodRow: string;
}

export interface PoisonKind {
  readonly kind: string;
  readonly where: PoisonWhere;
  readonly expect: 'dead-letter' | 'refused' | 'noop';
  /** The marker is a meter to register first (the poison must get past the meter check). */
  readonly needsMeter?: boolean;
  /**
   * JSON text of the row(s) or record (row, senml, meter-topic), or the whole
   * payload/body (mqtt-message, http-request). `good` rows are valid rows the
   * item needs before it (the original of a conflict): checked as good rows.
   */
  make(c: PoisonContext): { text: string | Uint8Array; good?: { meter: string; start: string; value: number } };
  readonly contentType?: string;
}

const row = (c: PoisonContext, fields: Record<string, string | undefined>): string => {
  const base: Record<string, string | undefined> = { meter: JSON.stringify(c.marker), channel: '"active_import"', start: JSON.stringify(c.start), value: '1.5', ...fields };
  return `{${Object.entries(base)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${JSON.stringify(k)}:${v}`)
    .join(',')}}`;
};
const text = (s: string) => ({ text: s });
const bytes = (...parts: (string | number[])[]) => ({ text: Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : Buffer.from(p)))) });
const deep = (n: number, leaf = '1.5') => '['.repeat(n) + leaf + ']'.repeat(n);
const DEEP = 20_000;

/** Every poison kind, once. */
export const POISON_KINDS: readonly PoisonKind[] = [
  // rows inside good batches (HTTP and MQTT gateway messages)
  { kind: 'NUL in meter id', where: 'row', expect: 'dead-letter', make: (c) => text(row(c, { meter: JSON.stringify(`${c.marker}\u0000x`) })) },
  { kind: 'unknown meter', where: 'row', expect: 'dead-letter', make: (c) => text(row(c, {})) },
  { kind: 'huge meter id (100 000 chars)', where: 'row', expect: 'dead-letter', make: (c) => text(row(c, { meter: JSON.stringify(c.marker + 'x'.repeat(100_000)) })) },
  { kind: 'lone surrogate in meter id', where: 'row', expect: 'dead-letter', make: (c) => text(row(c, { meter: `"${c.marker}\\ud800"` })) },
  { kind: 'meter as number', where: 'row', expect: 'dead-letter', make: (c) => text(row(c, { meter: '42', channel: JSON.stringify(c.marker) })) },
  { kind: 'empty meter id', where: 'row', expect: 'dead-letter', make: (c) => text(row(c, { meter: '""', channel: JSON.stringify(c.marker) })) },
  { kind: 'row not an object', where: 'row', expect: 'dead-letter', make: (c) => text(JSON.stringify(c.marker)) },
  { kind: 'unknown channel', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { channel: '"no_such_channel"' })) },
  { kind: 'NUL in channel', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { channel: '"active_import\\u0000"' })) },
  { kind: 'channel as number', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { channel: '129' })) },
  { kind: 'year 9999', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { start: '"9999-12-31T23:00:00Z"' })) },
  { kind: 'year 0001', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { start: '"0001-01-01T00:00:00Z"' })) },
  { kind: 'before 1990', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { start: '"1985-06-01T00:00:00Z"' })) },
  {
    kind: 'measured, a month ahead',
    where: 'row',
    expect: 'dead-letter',
    needsMeter: true,
    make: (c) => text(row(c, { start: JSON.stringify(new Date(Math.floor(Date.now() / 3_600_000 + 24 * 30) * 3_600_000).toISOString()) })),
  },
  { kind: 'no UTC offset', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { start: JSON.stringify(c.start.slice(0, 19)) })) },
  { kind: 'misaligned start', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { start: JSON.stringify(c.start.replace(/:00:00/, ':17:00')) })) },
  { kind: 'offset +25:00', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { start: JSON.stringify(c.start.replace(/\+03:00$/, '+25:00')) })) },
  { kind: '30 February', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { start: '"2019-02-30T00:00:00Z"' })) },
  { kind: 'start as epoch number', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { start: String(c.startS) })) },
  { kind: 'value "NaN"', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { value: '"NaN"' })) },
  { kind: 'value "Infinity"', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { value: '"Infinity"' })) },
  { kind: 'value 1.8e308 (→ Infinity)', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { value: '1.8e308' })) },
  { kind: 'value 1.7976931348623157e308', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { value: '1.7976931348623157e308' })) },
  { kind: 'value -1e300', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { value: '-1e300' })) },
  { kind: 'value as string', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { value: '"1.5"' })) },
  { kind: 'value as object', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { value: '{"kWh":1.5}' })) },
  { kind: 'value as array', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { value: '[1.5]' })) },
  { kind: 'value nested 20 deep', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { value: deep(20) })) },
  { kind: 'value null', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { value: 'null' })) },
  { kind: 'value missing', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { value: undefined })) },
  { kind: 'unknown field', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { note: '"from the field crew"' })) },
  { kind: 'invalid quality', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { quality: '"great"' })) },
  { kind: 'invalid source', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { source: '"carrier-pigeon"' })) },
  { kind: 'invalid intervalMinutes', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { intervalMinutes: '7' })) },
  { kind: 'intervalMinutes on a register', where: 'row', expect: 'dead-letter', needsMeter: true, make: (c) => text(row(c, { channel: '"1.8.0"', intervalMinutes: '60' })) },
  {
    kind: 'conflicting duplicate in batch',
    where: 'row',
    expect: 'dead-letter',
    needsMeter: true,
    make: (c) => ({ text: `${row(c, { value: '2.5' })},${row(c, { value: '3.5' })}`, good: { meter: c.marker, start: c.start, value: 2.5 } }),
  },
  // SenML records appended to good packs (each sets its own base name and time)
  { kind: 'SenML unit that does not fit', where: 'senml', expect: 'dead-letter', make: (c) => text(`{"bn":"${c.marker}/","bt":${c.startS},"n":"active_import","u":"furlong","v":1}`) },
  { kind: 'SenML must-understand field', where: 'senml', expect: 'dead-letter', make: (c) => text(`{"bn":"${c.marker}/","bt":${c.startS},"n":"active_import","v":1,"x_":1}`) },
  { kind: 'SenML unknown channel', where: 'senml', expect: 'dead-letter', make: (c) => text(`{"bn":"${c.marker}/","bt":${c.startS},"n":"no_such_channel","v":1}`) },
  { kind: 'SenML string value', where: 'senml', expect: 'dead-letter', make: (c) => text(`{"bn":"${c.marker}/","bt":${c.startS},"n":"active_import","vs":"1.5"}`) },
  { kind: 'SenML without value', where: 'senml', expect: 'dead-letter', make: (c) => text(`{"bn":"${c.marker}/","bt":${c.startS},"n":"active_import"}`) },
  { kind: 'SenML unknown meter', where: 'senml', expect: 'dead-letter', make: (c) => text(`{"bn":"${c.marker}/","bt":${c.startS},"n":"active_import","u":"Wh","v":1500}`) },
  { kind: 'SenML year 9999', where: 'senml', expect: 'dead-letter', needsMeter: true, make: (c) => text(`{"bn":"${c.marker}/","bt":253402297200,"n":"active_import","u":"Wh","v":1500}`) },
  {
    kind: 'SenML value past a double after bv',
    where: 'senml',
    expect: 'dead-letter',
    needsMeter: true,
    make: (c) => text(`{"bn":"${c.marker}/","bt":${c.startS},"n":"active_import","bv":1.7e308,"u":"MWh","v":1.7e308}`),
  },
  // rows on a per-meter topic
  { kind: 'row names another meter than its topic', where: 'meter-topic', expect: 'dead-letter', make: (c) => text(row(c, {})) },
  // whole MQTT messages
  { kind: 'MQTT payload not UTF-8', where: 'mqtt-message', expect: 'dead-letter', make: () => bytes('[{"meter":"', [0xff, 0xfe, 0xc3, 0x28], '"}]') },
  { kind: 'MQTT truncated JSON', where: 'mqtt-message', expect: 'dead-letter', make: (c) => text(`[${c.goodRow}`.slice(0, -9)) },
  { kind: 'MQTT 20 000-deep JSON', where: 'mqtt-message', expect: 'dead-letter', make: () => text(deep(DEEP)) },
  { kind: 'MQTT 20 000-deep value in a wrapper', where: 'mqtt-message', expect: 'dead-letter', make: () => text(`{"id":1,"readings":[{"value":${deep(DEEP)}}]}`) },
  { kind: 'MQTT raw NUL byte', where: 'mqtt-message', expect: 'dead-letter', make: (c) => bytes(`[${c.goodRow.slice(0, 12)}`, [0], `${c.goodRow.slice(12)}]`) },
  { kind: 'MQTT wrapper with unknown field', where: 'mqtt-message', expect: 'dead-letter', make: (c) => text(`{"id":1,"rows":[${c.goodRow}]}`) },
  { kind: 'MQTT payload a JSON string', where: 'mqtt-message', expect: 'dead-letter', make: () => text('"readings"') },
  { kind: 'MQTT empty array', where: 'mqtt-message', expect: 'noop', make: () => text('[]') },
  // whole HTTP requests
  { kind: 'HTTP 20 000-deep body', where: 'http-request', expect: 'refused', make: () => text(`{"readings":[${deep(DEEP)}]}`) },
  { kind: 'HTTP truncated JSON', where: 'http-request', expect: 'refused', make: (c) => text(`{"readings":[${c.goodRow}`.slice(0, -9)) },
  { kind: 'HTTP body not UTF-8', where: 'http-request', expect: 'refused', make: () => bytes('{"readings":[', [0xff, 0xfe], ']}') },
  { kind: 'HTTP bare array', where: 'http-request', expect: 'refused', make: (c) => text(`[${c.goodRow}]`) },
  { kind: 'HTTP text/plain', where: 'http-request', expect: 'refused', contentType: 'text/plain', make: (c) => text(`{"readings":[${c.goodRow}]}`) },
  { kind: 'HTTP empty readings', where: 'http-request', expect: 'noop', make: () => text('{"readings":[]}') },
];

export const markerOf = (seq: number): string => `CHAOSP${seq}Z`;
export const MARKER = /CHAOSP(\d+)Z/g;

/** Sequence numbers of the markers in `text`. */
export function markersIn(text: string | null): number[] {
  if (!text) return [];
  return [...text.matchAll(MARKER)].map((m) => Number(m[1]));
}

/** Kinds that travel a given way, for round-robin picking. */
export const kindsWhere = (...where: PoisonWhere[]): PoisonKind[] => POISON_KINDS.filter((k) => where.includes(k.where));
