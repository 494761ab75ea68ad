/**
 * Instants and local time. Pure; offsets per IANA zone are memoised per
 * quarter-hour of UTC so per-row work in ingest stays a map lookup.
 */

// ISO-8601 date-time that carries an explicit offset or Z.
const ISO_WITH_OFFSET = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)$/;
const ISO_NO_OFFSET = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/;

export type ParsedInstant = { ok: true; ms: number } | { ok: false; reason: string };

/**
 * Parses an ISO-8601 timestamp that must carry an offset (`+03:00`) or `Z`.
 * @example parseInstant('2026-01-01T10:00:00+03:00') // { ok: true, ms: 1767250800000 }
 */
export function parseInstant(text: unknown): ParsedInstant {
  if (typeof text !== 'string') return { ok: false, reason: 'timestamp must be an ISO-8601 string with an offset, e.g. 2026-01-01T10:00:00+03:00' };
  const m = ISO_WITH_OFFSET.exec(text);
  if (!m) {
    if (ISO_NO_OFFSET.test(text)) {
      return { ok: false, reason: `timestamp "${text}" has no UTC offset: add Z or an offset such as +03:00 (local time alone is ambiguous)` };
    }
    return { ok: false, reason: `timestamp "${text}" is not ISO-8601 with an offset, e.g. 2026-01-01T10:00:00+03:00` };
  }
  const [, y, mo, d, h, mi, s, frac, off] = m;
  const month = Number(mo), day = Number(d), hour = Number(h), minute = Number(mi), second = s ? Number(s) : 0;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    return { ok: false, reason: `timestamp "${text}" is not a valid date-time` };
  }
  let ms = Date.UTC(Number(y), month - 1, day, hour, minute, second, frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0);
  if (new Date(ms).getUTCDate() !== day) return { ok: false, reason: `timestamp "${text}" is not a valid date-time` };
  if (off !== 'Z' && off !== 'z') {
    const sign = off[0] === '-' ? -1 : 1;
    const digits = off.slice(1).replace(':', '');
    const offMin = Number(digits.slice(0, 2)) * 60 + (digits.length > 2 ? Number(digits.slice(2, 4)) : 0);
    ms -= sign * offMin * 60_000;
  }
  return { ok: true, ms };
}

const dtfCache = new Map<string, Intl.DateTimeFormat>();
function formatter(tz: string): Intl.DateTimeFormat {
  let f = dtfCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    dtfCache.set(tz, f);
  }
  return f;
}

/** True when `tz` is an IANA time zone this runtime knows. */
export function isValidTimeZone(tz: string): boolean {
  try {
    formatter(tz);
    return true;
  } catch {
    return false;
  }
}

const QUARTER = 15 * 60_000;
const offsetCache = new Map<string, number>();

/** UTC offset of `tz` at instant `ms`, in minutes (Europe/Istanbul → 180). */
export function tzOffsetMinutes(tz: string, ms: number): number {
  const q = Math.floor(ms / QUARTER);
  const key = `${tz}|${q}`;
  let off = offsetCache.get(key);
  if (off === undefined) {
    // Offsets change only on quarter-hour boundaries in every zone in use today.
    const at = q * QUARTER;
    const parts = formatter(tz).formatToParts(new Date(at));
    const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
    const local = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
    off = Math.round((local - at) / 60_000);
    if (offsetCache.size > 200_000) offsetCache.clear();
    offsetCache.set(key, off);
  }
  return off;
}

/** True when `ms` starts an interval of `intervalMinutes` in the local time of `tz` (10:15 is aligned for 15, not 60). */
export function isAligned(ms: number, intervalMinutes: number, tz: string): boolean {
  if (ms % 60_000 !== 0) return false;
  const localMin = ms / 60_000 + tzOffsetMinutes(tz, ms);
  return ((localMin % intervalMinutes) + intervalMinutes) % intervalMinutes === 0;
}

/** ISO-8601 in the local time of `tz` with its offset: `2026-03-29T03:00:00+02:00`. */
export function formatInstant(ms: number, tz: string): string {
  const off = tzOffsetMinutes(tz, ms);
  const local = new Date(ms + off * 60_000).toISOString().slice(0, 19);
  if (off === 0) return `${local}Z`;
  const a = Math.abs(off);
  return `${local}${off < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}
