/**
 * Instants and local time. Pure; offsets per IANA zone are memoised per
 * quarter-hour of UTC so per-row work in ingest stays a map lookup.
 */

/** Lengths of time in ms: the one place they are defined. */
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

// ISO-8601 date-time that carries an explicit offset or Z.
const ISO_WITH_OFFSET = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)$/;
const ISO_NO_OFFSET = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/;

/** The timestamp as quoted in a reason: JSON-escaped, at most 64 characters (a 50 MB field is not echoed back). */
const quoted = (text: string): string => (text.length > 64 ? `${JSON.stringify(text.slice(0, 64))}… (${text.length} characters)` : JSON.stringify(text));

export type ParsedInstant = { ok: true; ms: number } | { ok: false; reason: string };

/**
 * Parses an ISO-8601 timestamp that must carry an offset (`+03:00`) or `Z`.
 * @example parseInstant('2026-01-01T10:00:00+03:00') // { ok: true, ms: 1767250800000 }
 */
export function parseInstant(text: unknown): ParsedInstant {
  if (typeof text !== 'string') return { ok: false, reason: 'timestamp must be an ISO-8601 string with an offset, e.g. 2026-01-01T10:00:00+03:00' };
  const fast = fastInstantMs(text);
  if (!Number.isNaN(fast)) return { ok: true, ms: fast };
  const m = ISO_WITH_OFFSET.exec(text);
  if (!m) {
    if (ISO_NO_OFFSET.test(text)) {
      return { ok: false, reason: `timestamp ${quoted(text)} has no UTC offset: add Z or an offset such as +03:00 (local time alone is ambiguous)` };
    }
    return { ok: false, reason: `timestamp ${quoted(text)} is not ISO-8601 with an offset, e.g. 2026-01-01T10:00:00+03:00` };
  }
  const [, y, mo, d, h, mi, s, frac, off] = m;
  const month = Number(mo),
    day = Number(d),
    hour = Number(h),
    minute = Number(mi),
    second = s ? Number(s) : 0;
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) {
    return { ok: false, reason: `timestamp ${quoted(text)} is not a valid date-time` };
  }
  let ms = Date.UTC(Number(y), month - 1, day, hour, minute, second, frac ? Number(frac.slice(0, 3).padEnd(3, '0')) : 0);
  if (new Date(ms).getUTCDate() !== day) return { ok: false, reason: `timestamp ${quoted(text)} is not a valid date-time` };
  if (off !== 'Z' && off !== 'z') {
    const sign = off[0] === '-' ? -1 : 1;
    const digits = off.slice(1).replace(':', '');
    const offH = Number(digits.slice(0, 2));
    const offM = digits.length > 2 ? Number(digits.slice(2, 4)) : 0;
    if (offH > 23 || offM > 59) return { ok: false, reason: `timestamp ${quoted(text)} has an offset outside ±23:59` };
    const offMin = offH * 60 + offM;
    ms -= sign * offMin * 60_000;
  }
  return { ok: true, ms };
}

const DIGIT_0 = 48;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Two ASCII digits at `i` as a number, or NaN. */
function two(t: string, i: number): number {
  const a = t.charCodeAt(i) - DIGIT_0;
  const b = t.charCodeAt(i + 1) - DIGIT_0;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : NaN;
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  return era * 146_097 + yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy - 719_468;
}

/**
 * Epoch ms of the layouts head-ends send nearly always, `YYYY-MM-DDTHH:MM:SS`
 * with optional `.fff…` and `Z`, `±HH:MM`, `±HHMM` or `±HH`, read by char code
 * (a regex with eight groups costs ~1 µs a row at 10⁵ rows a request). NaN for
 * anything else, including every invalid value, so that parseInstant's regex
 * path keeps the one source of error messages. Years below 100 go there too
 * (Date.UTC maps them to 19xx).
 */
function fastInstantMs(t: string): number {
  const len = t.length;
  if (len < 20 || t.charCodeAt(4) !== 45 || t.charCodeAt(7) !== 45 || t.charCodeAt(13) !== 58 || t.charCodeAt(16) !== 58) return NaN;
  const sep = t.charCodeAt(10);
  if (sep !== 84 && sep !== 32) return NaN; // 'T' or ' '
  const year = two(t, 0) * 100 + two(t, 2);
  const month = two(t, 5),
    day = two(t, 8),
    hour = two(t, 11),
    minute = two(t, 14),
    second = two(t, 17);
  // NaN fails every comparison, so a non-digit anywhere lands in the `return NaN`.
  if (!(year >= 100 && month >= 1 && month <= 12 && day >= 1 && hour <= 23 && minute <= 59 && second <= 59)) return NaN;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 1 : 0;
  if (day > DAYS_IN_MONTH[month - 1] + leap) return NaN;
  let i = 19;
  let frac = 0;
  if (t.charCodeAt(i) === 46) {
    // '.': 1 to 9 digits, milliseconds from the first three (as the regex path).
    const from = ++i;
    let scale = 100;
    while (i < len) {
      const c = t.charCodeAt(i) - DIGIT_0;
      if (c < 0 || c > 9) break;
      if (scale >= 1) frac += c * scale;
      scale /= 10;
      i++;
    }
    if (i === from || i - from > 9) return NaN;
  }
  let offMin: number;
  const o = t.charCodeAt(i);
  const rest = len - i;
  if ((o === 90 || o === 122) && rest === 1) {
    offMin = 0; // 'Z' or 'z'
  } else if ((o === 43 || o === 45) && (rest === 3 || rest === 5 || rest === 6)) {
    const hh = two(t, i + 1);
    const mm = rest === 3 ? 0 : rest === 5 ? two(t, i + 3) : t.charCodeAt(i + 3) === 58 ? two(t, i + 4) : NaN;
    if (!(hh >= 0 && hh <= 23 && mm >= 0 && mm <= 59)) return NaN; // RFC 3339 time-offset: hours 00–23, minutes 00–59
    offMin = (o === 45 ? -1 : 1) * (hh * 60 + mm);
  } else {
    return NaN;
  }
  return ((daysFromCivil(year, month, day) * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + frac - offMin * 60_000;
}

/**
 * Epoch ms of what parseInstant accepts, NaN for what it rejects: the per-row
 * path of ingest, with no result object per call (call parseInstant for the
 * reason).
 */
export function instantMs(text: unknown): number {
  if (typeof text !== 'string') return NaN;
  const fast = fastInstantMs(text);
  if (!Number.isNaN(fast)) return fast;
  const p = parseInstant(text);
  return p.ok ? p.ms : NaN;
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
// zone → quarter-hour index (a small integer) → offset; no per-call string key.
const offsetCache = new Map<string, Map<number, number>>();
let offsetCacheSize = 0;

/**
 * The last span of time (a UTC week, or a day in a week with a change)
 * whose offset was found constant, of the last zone asked: callers mostly ask
 * for many instants of one zone close together (a meter's readings, the
 * midnights of its days), and an instant in that span costs three
 * comparisons instead of two map lookups (issue 14: VEE, ingest and the
 * API's formatting ask millions of times).
 */
let spanTz = '';
let spanFrom = 0;
let spanTo = 0;
let spanOff = 0;
const WEEK_MS = 7 * DAY_MS;

/** UTC offset of `tz` at instant `ms`, in minutes (Europe/Istanbul → 180). */
export function tzOffsetMinutes(tz: string, ms: number): number {
  if (ms >= spanFrom && ms < spanTo && tz === spanTz) return spanOff;
  const off = quarterOffset(tz, ms);
  if (!Number.isFinite(ms)) return off;
  // Zones change their offset at most once a day (and not twice within a week but Morocco's Ramadan, a month):
  // a week whose every midnight and noon have this offset has it throughout; else the day, checked the same way.
  const week = Math.floor(ms / WEEK_MS) * WEEK_MS;
  if (constantOver(tz, week, week + WEEK_MS, off)) setSpan(tz, week, week + WEEK_MS, off);
  else {
    const day = Math.floor(ms / DAY_MS) * DAY_MS;
    if (constantOver(tz, day, day + DAY_MS, off)) setSpan(tz, day, day + DAY_MS, off);
  }
  return off;
}

/** True when the offset is `off` at every midnight and noon (UTC) in [from, to) and at its last quarter hour. */
function constantOver(tz: string, from: number, to: number, off: number): boolean {
  for (let t = from; t < to; t += DAY_MS / 2) if (quarterOffset(tz, t) !== off) return false;
  return quarterOffset(tz, to - QUARTER) === off;
}

function setSpan(tz: string, from: number, to: number, off: number): void {
  spanTz = tz;
  spanFrom = from;
  spanTo = to;
  spanOff = off;
}

/** The offset at `ms` by quarter hour, cached per zone. */
function quarterOffset(tz: string, ms: number): number {
  const q = Math.floor(ms / QUARTER);
  let byQuarter = offsetCache.get(tz);
  if (byQuarter === undefined) {
    byQuarter = new Map();
    offsetCache.set(tz, byQuarter);
  }
  let off = byQuarter.get(q);
  if (off === undefined) {
    // Offsets change only on quarter-hour boundaries in every zone in use today.
    const at = q * QUARTER;
    const parts = formatter(tz).formatToParts(new Date(at));
    const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
    const local = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
    off = Math.round((local - at) / 60_000);
    if (++offsetCacheSize > 200_000) {
      for (const m of offsetCache.values()) m.clear();
      offsetCacheSize = 1;
    }
    byQuarter.set(q, off);
  }
  return off;
}

/** True when `ms` starts an interval of `intervalMinutes` in the local time of `tz` (10:15 is aligned for 15, not 60). */
export function isAligned(ms: number, intervalMinutes: number, tz: string): boolean {
  if (ms % 60_000 !== 0) return false;
  const localMin = ms / 60_000 + tzOffsetMinutes(tz, ms);
  return ((localMin % intervalMinutes) + intervalMinutes) % intervalMinutes === 0;
}

/**
 * ISO-8601 in the local time of `tz` with its offset: `2026-03-29T03:00:00+02:00`.
 * Milliseconds are kept when they are not zero (`05:34:12.003+03:00`), so that
 * every time the API shows parses back (parseInstant) to the same instant: a
 * register read at 12.003 s is found again by the value it was shown with
 * (issue 12, defect 12). The one formatter of local-offset times in the API.
 * @example formatInstant(Date.UTC(2026, 0, 1, 2, 34, 12, 3), 'Europe/Istanbul') // '2026-01-01T05:34:12.003+03:00'
 */
export function formatInstant(ms: number, tz: string): string {
  const off = tzOffsetMinutes(tz, ms);
  const at = new Date(ms + off * 60_000);
  const local = at.toISOString().slice(0, at.getUTCMilliseconds() === 0 ? 19 : 23);
  if (off === 0) return `${local}Z`;
  const a = Math.abs(off);
  return `${local}${off < 0 ? '-' : '+'}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}
