import { KNOWN_CHANNELS_HINT, resolveChannel, type ChannelDef } from '../../models/channel.js';
import { boundedText, FIELD_LIMITS, safeJson } from '../../models/input-bounds.js';

/**
 * SenML (RFC 8428) packs on the readings topics, mapped to reading rows.
 *
 * - Resolved name (bn + n) = `{meterId}/{channel}` or `{meterId}:{channel}`,
 *   channel being a canonical name or OBIS alias (`M1/active_import`,
 *   `M1/1.8.0`); on a per-meter topic the meter part may be left out
 *   (`"n":"1.29.0"`). The leftmost separator after which a known channel
 *   follows splits the name, so OBIS aliases keep their own `:`.
 * - Resolved time (bt + t) in seconds: ≥ 2^28 is absolute (Unix epoch), below
 *   it is relative to now (§4.5.3). For interval channels it is the interval start.
 * - Value bv + v; unit u or bu converted to the channel unit (Wh → kWh…),
 *   absent = the channel unit.
 * - Fields ending in `_` must be understood (§4.4): a record carrying one is
 *   rejected. Other unknown fields are ignored (§12.3.1).
 * - Hostile records (issue 11) are rejected, never thrown: reasons quote
 *   names, units and values bounded (a 20 000-deep `v` or a 50 MB `bn` does
 *   not end up in a reason), and a value the unit conversion or `bv + v`
 *   pushes past a double is refused.
 */
export const SENML_RELATIVE_LIMIT_S = 2 ** 28;

/** Conversion into each channel unit: value × mul ÷ div (divisions keep 1500 Wh = 1.5 kWh exact). */
const UNITS: Record<string, Record<string, { mul?: number; div?: number }>> = {
  kWh: { kWh: {}, Wh: { div: 1000 }, MWh: { mul: 1000 }, J: { div: 3_600_000 } },
  kvarh: { kvarh: {}, varh: { div: 1000 } },
  m3: { m3: {}, l: { div: 1000 }, L: { div: 1000 } },
  '°C': { Cel: {}, '°C': {} },
  bar: { bar: {}, Pa: { div: 100_000 }, hPa: { div: 1000 }, kPa: { div: 100 } },
};

export interface SenmlRow {
  readonly meter: string;
  readonly channel: string;
  readonly start: string;
  readonly value: number;
}

export interface SenmlResult {
  /** Rows for the ingest pipeline. */
  readonly rows: SenmlRow[];
  /** Record index in the pack of each row. */
  readonly indexOf: number[];
  /** Records that could not become a row. */
  readonly rejected: { index: number; reason: string; meter: string | null }[];
}

/** A readings payload is a SenML pack when it is an array whose first record has a SenML name or base field. */
export function isSenmlPack(body: unknown): body is unknown[] {
  if (!Array.isArray(body) || body.length === 0) return false;
  const first = body[0] as Record<string, unknown> | null;
  if (first === null || typeof first !== 'object' || Array.isArray(first) || 'channel' in first) return false;
  return 'n' in first || 'bn' in first || 'bt' in first || 'bver' in first;
}

const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Text quoted in a reason: at most an id's length (a name can be megabytes). */
const quote = (s: string): string => boundedText(s, FIELD_LIMITS.id);

/** `{meter, channel}` from a resolved name, or undefined when no known channel ends it. */
function splitName(name: string): { meter: string | null; channel: ChannelDef } | undefined {
  const direct = resolveChannel(name);
  if (direct) return { meter: null, channel: direct };
  for (let i = 1; i < name.length - 1; i++) {
    if (name[i] !== '/' && name[i] !== ':') continue;
    const channel = resolveChannel(name.slice(i + 1));
    if (channel) return { meter: name.slice(0, i), channel };
  }
  return undefined;
}

/**
 * Maps a SenML pack to reading rows. Pure: `nowMs` resolves relative times.
 * @example senmlToReadings([{ bn: 'M1/', bt: 1767225600, n: 'active_import', u: 'Wh', v: 1500 }], { nowMs: 0 }).rows
 * // [{ meter: 'M1', channel: 'active_import', start: '2026-01-01T00:00:00.000Z', value: 1.5 }]
 */
export function senmlToReadings(pack: readonly unknown[], opts: { meter?: string; nowMs: number }): SenmlResult {
  const rows: SenmlRow[] = [];
  const indexOf: number[] = [];
  const rejected: SenmlResult['rejected'] = [];
  let bn = '';
  let bt = 0;
  let bu: string | undefined;
  let bv = 0;

  for (let index = 0; index < pack.length; index++) {
    const rec = pack[index] as Record<string, unknown> | null;
    const reject = (reason: string, meter: string | null = opts.meter ?? null) => rejected.push({ index, reason, meter });
    if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) {
      reject('SenML record must be an object');
      continue;
    }
    const mustUnderstand = Object.keys(rec).find((k) => k.endsWith('_'));
    if (mustUnderstand) {
      reject(`SenML field "${quote(mustUnderstand)}" must be understood (RFC 8428 §4.4) and is not supported`);
      continue;
    }
    // Base fields apply to this record and the following ones (§4.1).
    if (rec.bn !== undefined && typeof rec.bn !== 'string') {
      reject('bn (base name) must be a string');
      continue;
    }
    if (rec.bt !== undefined && !isNum(rec.bt)) {
      reject('bt (base time) must be a number of seconds');
      continue;
    }
    if (rec.bu !== undefined && typeof rec.bu !== 'string') {
      reject('bu (base unit) must be a string');
      continue;
    }
    if (rec.bv !== undefined && !isNum(rec.bv)) {
      reject('bv (base value) must be a number');
      continue;
    }
    if (rec.bn !== undefined) bn = rec.bn as string;
    if (rec.bt !== undefined) bt = rec.bt as number;
    if (rec.bu !== undefined) bu = rec.bu as string;
    if (rec.bv !== undefined) bv = rec.bv as number;

    if (rec.n !== undefined && typeof rec.n !== 'string') {
      reject('n (name) must be a string');
      continue;
    }
    const name = bn + ((rec.n as string | undefined) ?? '');
    if (name === '') {
      reject('SenML record has no name: give n (and bn), e.g. {"bn":"M1/","n":"active_import"}');
      continue;
    }
    const split = splitName(name);
    if (!split) {
      const cut = Math.max(name.lastIndexOf('/'), name.lastIndexOf(':'));
      const guess = opts.meter ?? (cut > 0 ? name.slice(0, cut) : null); // for finding the dead letter by meter
      reject(`SenML name "${quote(name)}" does not end in a known channel (name = {meterId}/{channel}): ${KNOWN_CHANNELS_HINT}`, guess);
      continue;
    }
    if (split.meter !== null && opts.meter !== undefined && split.meter !== opts.meter) {
      reject(`SenML name "${quote(name)}" names meter "${quote(split.meter)}" but was sent on the topic of meter "${quote(opts.meter)}"`, split.meter);
      continue;
    }
    const meter = split.meter ?? opts.meter;
    if (meter === undefined) {
      reject(`SenML name "${quote(name)}" has no meter: on gateway topics put the meter id in the base name, e.g. "bn":"M1/"`);
      continue;
    }
    if (rec.v === undefined) {
      if (rec.vs !== undefined || rec.vb !== undefined || rec.vd !== undefined) reject('only numeric values (v) can be stored as readings, not vs/vb/vd', meter);
      else if (rec.s !== undefined) reject('sum (s) is not supported: send the register reading as v on a register channel (e.g. 1.8.0)', meter);
      else reject('SenML record has no value (v)', meter);
      continue;
    }
    if (!isNum(rec.v)) {
      reject(`v must be a finite number, got ${boundedText(safeJson(rec.v), FIELD_LIMITS.id)}`, meter);
      continue;
    }
    if (rec.u !== undefined && typeof rec.u !== 'string') {
      reject('u (unit) must be a string', meter);
      continue;
    }
    const unit = (rec.u as string | undefined) ?? bu;
    let value = bv + rec.v;
    if (unit !== undefined) {
      const table = UNITS[split.channel.unit] ?? { [split.channel.unit]: {} };
      const conv = table[unit];
      if (!conv) {
        reject(`unit "${quote(unit)}" does not fit channel ${split.channel.name} (${split.channel.unit}); use one of ${Object.keys(table).join(', ')}`, meter);
        continue;
      }
      value = (value * (conv.mul ?? 1)) / (conv.div ?? 1);
    }
    if (!Number.isFinite(value)) {
      reject(`value ${bv !== 0 ? `${bv} (bv) + ` : ''}${rec.v}${unit !== undefined ? ` ${quote(unit)}` : ''} overflows a double in ${split.channel.unit}`, meter);
      continue;
    }
    if (rec.t !== undefined && !isNum(rec.t)) {
      reject('t (time) must be a number of seconds', meter);
      continue;
    }
    const seconds = bt + ((rec.t as number | undefined) ?? 0);
    const ms = seconds >= SENML_RELATIVE_LIMIT_S ? Math.round(seconds * 1000) : opts.nowMs + Math.round(seconds * 1000);
    const start = new Date(ms);
    if (Number.isNaN(start.getTime())) {
      reject(`time ${seconds} s is out of range`, meter);
      continue;
    }
    rows.push({ meter, channel: split.channel.name, start: start.toISOString(), value });
    indexOf.push(index);
  }
  return { rows, indexOf, rejected };
}
