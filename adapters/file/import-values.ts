/**
 * Cell values of imported files → numbers, instants and qualities: decimal
 * comma and thousands separators, local timestamps without an offset in a
 * named IANA zone (with the repeated and the missing hour of DST changes),
 * quality flags in a file's own words. Pure.
 */
import { QUALITIES, type Quality } from '../../models/reading.js';
import { HOUR_MS, parseInstant, tzOffsetMinutes } from '../../models/time.js';

export type DecimalMark = '.' | ',';
export type Thousands = '' | '.' | ',' | ' ' | "'";

const quoted = (t: string) => JSON.stringify(t.length > 40 ? `${t.slice(0, 40)}…` : t);

/**
 * A number cell, written with `decimal` as the decimal mark and optionally
 * `thousands` between groups of three digits. Returns the reason when it is
 * not one. Cells that are numbers already (xlsx) pass through.
 * @example parseNumber('27.424,42', ',', '.') // 27424.42
 * @example parseNumber('1 234.5', '.', ' ') // 1234.5
 */
export function parseNumber(cell: string | number, decimal: DecimalMark = '.', thousands: Thousands = ''): number | { reason: string } {
  if (typeof cell === 'number') return Number.isFinite(cell) ? cell : { reason: `value ${cell} is not a finite number` };
  let t = cell.trim();
  if (thousands) {
    const sep = thousands === ' ' ? '[ \u00a0\u202f]' : thousands === '.' ? '\\.' : thousands;
    const grouped = new RegExp(`^[+-]?\\d{1,3}(?:${sep}\\d{3})+(?:${decimal === '.' ? '\\.' : ','}\\d+)?$`);
    if (grouped.test(t)) t = t.replace(new RegExp(sep, 'g'), '');
  }
  if (decimal === ',') {
    if (t.includes('.')) return { reason: `value ${quoted(cell)} has a "." but the decimal mark is ","${thousands ? '' : ' (set thousands=. if it separates thousands)'}` };
    t = t.replace(',', '.');
  }
  if (!/^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(t))
    return { reason: `value ${quoted(cell)} is not a number${decimal === '.' && /^\d+,\d+$/.test(t) ? ' (a decimal comma? set decimal=,)' : ''}` };
  const n = Number(t);
  return Number.isFinite(n) ? n : { reason: `value ${quoted(cell)} is out of range` };
}

/** Order of day, month and year in dates written without ISO order (27.03.2016, 03/27/2016). */
export type DateOrder = 'dmy' | 'mdy';

/** A wall-clock date and time, no zone. */
export interface WallTime {
  readonly y: number;
  readonly mo: number;
  readonly d: number;
  readonly h: number;
  readonly mi: number;
  readonly s: number;
}

const ISO_DATE = /^(\d{4})-(\d{1,2})-(\d{1,2})$/;
const OTHER_DATE = /^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$/;
const COMPACT_DATE = /^(\d{4})(\d{2})(\d{2})$/;
const TIME = /^(\d{1,2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?$/;

/** `2026-03-29`, `29.03.2026`, `29/03/2026`, `20260329` → the date; undefined when not a date. */
export function parseDate(text: string, order: DateOrder = 'dmy'): { y: number; mo: number; d: number } | undefined {
  const t = text.trim();
  let y: number, mo: number, d: number;
  let m = ISO_DATE.exec(t) ?? COMPACT_DATE.exec(t);
  if (m) [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  else if ((m = OTHER_DATE.exec(t))) {
    y = Number(m[3]);
    [d, mo] = order === 'dmy' ? [Number(m[1]), Number(m[2])] : [Number(m[2]), Number(m[1])];
  } else return undefined;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || new Date(Date.UTC(y, mo - 1, d)).getUTCDate() !== d) return undefined;
  return { y, mo, d };
}

/**
 * A date and a time (one cell `2026-03-29 02:00[:00]`, `29.03.2026 02:00`, or
 * two cells) → wall time; `24:00` is the next midnight (some exports end the
 * day with it). Undefined when it is not one.
 */
export function parseWallTime(dateText: string, timeText: string | undefined, order: DateOrder = 'dmy'): WallTime | undefined {
  if (timeText === undefined) {
    const fast = fastIsoWall(dateText);
    if (fast) return fast;
  }
  let dt = dateText.trim();
  let tt = timeText?.trim();
  if (tt === undefined) {
    const sp = dt.search(/[T ]/);
    if (sp < 0) tt = '00:00';
    else [dt, tt] = [dt.slice(0, sp), dt.slice(sp + 1).trim()];
  }
  const date = parseDate(dt, order);
  const tm = TIME.exec(tt);
  if (!date || !tm) return undefined;
  const h = Number(tm[1]);
  const mi = Number(tm[2]);
  const s = tm[3] ? Number(tm[3]) : 0;
  if (h > 24 || mi > 59 || s > 59 || (h === 24 && (mi || s))) return undefined;
  return { ...date, h, mi, s };
}

const d2 = (t: string, i: number) => {
  const a = t.charCodeAt(i) - 48;
  const b = t.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
};

/** `YYYY-MM-DD HH:MM[:SS]` (or with T), the shape most files have, without regexes: the per-row path. */
function fastIsoWall(t: string): WallTime | undefined {
  const n = t.length;
  if ((n !== 16 && n !== 19) || t[4] !== '-' || t[7] !== '-' || (t[10] !== ' ' && t[10] !== 'T') || t[13] !== ':' || (n === 19 && t[16] !== ':')) return undefined;
  const c = d2(t, 0);
  const y = d2(t, 2);
  const mo = d2(t, 5);
  const d = d2(t, 8);
  const h = d2(t, 11);
  const mi = d2(t, 14);
  const s = n === 19 ? d2(t, 17) : 0;
  if (c < 0 || y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59) return undefined;
  if (d > 28 && new Date(Date.UTC(c * 100 + y, mo - 1, d)).getUTCDate() !== d) return undefined;
  return { y: c * 100 + y, mo, d, h, mi, s };
}

/** Epoch ms of a wall time read as if it were UTC (the arithmetic base for local times). */
export const wallMs = (w: WallTime): number => Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s);

/**
 * The instants a wall time names in zone `tz`, oldest first: one normally,
 * two in the repeated hour when clocks go back (the first in summer time),
 * none in the hour skipped when clocks go forward.
 * @example localInstants(Date.UTC(2026, 9, 25, 2, 30), 'Europe/Warsaw') // [00:30Z, 01:30Z]
 */
export function localInstants(wall: number, tz: string): number[] {
  // the common case costs a map lookup: no offset change within a day of the wall time's UTC day
  const steady = steadyOffset(tz, wall);
  if (steady !== undefined) return [wall - steady * 60_000];
  const before = tzOffsetMinutes(tz, wall - 26 * HOUR_MS);
  const after = tzOffsetMinutes(tz, wall + 26 * HOUR_MS);
  const out: number[] = [];
  for (const off of before === after ? [before] : [before, after]) {
    const ms = wall - off * 60_000;
    if (tzOffsetMinutes(tz, ms) === off && !out.includes(ms)) out.push(ms);
  }
  // an offset change that is not at the day's edge (rare): look at the instant itself too
  if (out.length === 0 && before === after) {
    const off = tzOffsetMinutes(tz, wall - before * 60_000);
    const ms = wall - off * 60_000;
    if (tzOffsetMinutes(tz, ms) === off) out.push(ms);
  }
  return out.sort((a, b) => a - b);
}

const DAY = 24 * HOUR_MS;
/** zone → UTC day → its offset when the offset is the same from a day before to a day after it, else NaN. */
const steadyCache = new Map<string, Map<number, number>>();
let steadySize = 0;

function steadyOffset(tz: string, wall: number): number | undefined {
  const day = Math.floor(wall / DAY);
  let byDay = steadyCache.get(tz);
  if (byDay === undefined) steadyCache.set(tz, (byDay = new Map()));
  let off = byDay.get(day);
  if (off === undefined) {
    // zones change offset at most twice a year, never twice within three days
    const a = tzOffsetMinutes(tz, day * DAY - 2 * DAY);
    const b = tzOffsetMinutes(tz, day * DAY + 3 * DAY);
    off = a === b ? a : Number.NaN;
    if (++steadySize > 100_000) {
      for (const m of steadyCache.values()) m.clear();
      steadySize = 1;
    }
    byDay.set(day, off);
  }
  return Number.isNaN(off) ? undefined : off;
}

/**
 * Local midnight of a date in `tz` and the length of that local day in ms
 * (23, 24 or 25 hours across DST changes).
 */
export function localDay(y: number, mo: number, d: number, tz: string): { startMs: number; lengthMs: number } | undefined {
  const start = localInstants(Date.UTC(y, mo - 1, d), tz)[0];
  const next = localInstants(Date.UTC(y, mo - 1, d + 1), tz)[0];
  if (start === undefined || next === undefined) return undefined; // a zone that skips midnight: not in use in Europe or Turkey
  return { startMs: start, lengthMs: next - start };
}

/** How the second of two equal wall times is told apart: by the order in the file, or by a flag cell. */
const SUMMER_FLAGS = new Set(['1', 'true', 'yes', 'y', 's', 'summer', 'dst', 'cest', 'eest', 'bst', 'a', 'l', 'letni']);
const WINTER_FLAGS = new Set(['0', 'false', 'no', 'n', 'w', 'winter', 'std', 'cet', 'eet', 'gmt', 'b', 'z', 'zimowy']);

/**
 * A DST flag cell → which of the two instants of a repeated hour it means:
 * 0 = the first (summer time), 1 = the second (standard time), undefined =
 * empty (by order), or the reason it is not a flag.
 */
export function dstFlag(cell: string): 0 | 1 | undefined | { reason: string } {
  const t = cell.trim().toLowerCase();
  if (t === '') return undefined;
  if (SUMMER_FLAGS.has(t)) return 0;
  if (WINTER_FLAGS.has(t)) return 1;
  return { reason: `DST flag ${quoted(cell)} is not one of 1/0, S/W, A/B, summer/winter, CEST/CET` };
}

/**
 * Timestamp cells → an instant. Text with an offset or Z is taken as it is;
 * text without one is local time in `tz` (required then). The repeated hour
 * of the autumn change is resolved by `flag` when given, else by `seen`: the
 * caller's record of repeated wall times already met (the first occurrence is
 * summer time, the second standard time). The hour skipped in spring is
 * rejected with the reason.
 */
export function resolveTimestamp(
  dateText: string,
  timeText: string | undefined,
  opts: { tz?: string; dateOrder?: DateOrder; flag?: 0 | 1; seen?: Set<string>; key?: string },
): number | { reason: string } {
  const whole = timeText === undefined ? dateText.trim() : `${dateText.trim()}T${timeText.trim()}`;
  if (/(?:Z|z|[+-]\d{2}:?\d{2})$/.test(whole) && /^\d{4}-/.test(whole)) {
    const p = parseInstant(whole.replace(' ', 'T'));
    return p.ok ? p.ms : { reason: p.reason };
  }
  const wall = parseWallTime(dateText, timeText, opts.dateOrder);
  if (!wall) return { reason: `timestamp ${quoted(whole)} is not a date and time (YYYY-MM-DD HH:MM, DD.MM.YYYY HH:MM or with an offset)` };
  if (!opts.tz) return { reason: `timestamp ${quoted(whole)} has no UTC offset: name the time zone of the file (timezone=Europe/Warsaw, or UTC)` };
  const w = wallMs(wall);
  const candidates = localInstants(w, opts.tz);
  if (candidates.length === 0) {
    return { reason: `${quoted(whole)} does not exist in ${opts.tz}: the clocks skip that hour (spring DST change); a file in local time has no row for it` };
  }
  if (candidates.length === 1) return candidates[0];
  if (opts.flag !== undefined) return candidates[opts.flag];
  if (!opts.seen) return candidates[0];
  const k = `${opts.key ?? ''}|${w}`;
  if (opts.seen.has(k)) {
    opts.seen.delete(k);
    return candidates[1];
  }
  if (opts.seen.size > 100_000) opts.seen.clear(); // bound: repeated hours are one a year per series
  opts.seen.add(k);
  return candidates[0];
}

/**
 * Quality words of other systems → ours. Keys are matched case-insensitively;
 * `mapping` (a preset's or a request's) wins over the built-in words.
 */
const BUILT_IN_QUALITY: Record<string, Quality> = {
  // ours
  ...Object.fromEntries(QUALITIES.map((q) => [q, q])),
  // common letters in head-end exports
  a: 'measured',
  m: 'measured',
  r: 'measured',
  e: 'estimated',
  s: 'estimated',
  v: 'validated',
  x: 'suspect',
  // Polish and Turkish words
  rzeczywisty: 'measured',
  pomiar: 'measured',
  szacowany: 'estimated',
  oszacowany: 'estimated',
  gerçek: 'measured',
  tahmini: 'estimated',
};

export function mapQuality(cell: string, mapping?: Readonly<Record<string, string>>): Quality | undefined | { reason: string } {
  const t = cell.trim();
  if (t === '') return undefined;
  const lower = t.toLocaleLowerCase('en');
  if (mapping) {
    for (const [k, v] of Object.entries(mapping)) if (k.toLocaleLowerCase('en') === lower) return v as Quality;
  }
  const q = BUILT_IN_QUALITY[lower];
  if (q) return q;
  return { reason: `quality flag ${quoted(t)} is not known: map it (qualityMap ${JSON.stringify({ [t]: 'estimated' })}) to one of ${QUALITIES.join(', ')}` };
}
