/**
 * Numbers, dates and times for the chosen language (Intl), in the meter's or
 * portfolio's time zone; and the local-day ↔ instant conversions the range
 * pickers need (a local day may last 23 or 25 hours).
 */
import { locale } from './i18n/index.js';

/**
 * @param {number | null | undefined} value
 * @param {number} [maxDigits]
 */
export function num(value, maxDigits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return new Intl.NumberFormat(locale(), { maximumFractionDigits: maxDigits }).format(value);
}

/** @param {number | null | undefined} ratio 0..1 */
export function percent(ratio) {
  if (ratio === null || ratio === undefined) return '—';
  return new Intl.NumberFormat(locale(), { style: 'percent', maximumFractionDigits: 1 }).format(ratio);
}

/**
 * An instant as a local date and time in `tz`, with the zone's short name.
 * @param {string | number | null | undefined} instant ISO-8601 or epoch ms
 * @param {string} [tz]
 */
export function dateTime(instant, tz) {
  if (instant === null || instant === undefined) return '—';
  const d = new Date(instant);
  if (Number.isNaN(d.getTime())) return String(instant);
  return new Intl.DateTimeFormat(locale(), { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZone: tz, timeZoneName: 'short' }).format(d);
}

/**
 * The UTC offset of `tz` at `utcMs`, in ms (positive east of Greenwich).
 * @param {number} utcMs
 * @param {string} tz
 */
export function offsetMs(utcMs, tz) {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: tz,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(utcMs));
  /** @param {string} type */
  const get = (type) => Number(parts.find((p) => p.type === type)?.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(utcMs / 1000) * 1000;
}

/**
 * The instant local midnight of `day` (YYYY-MM-DD) begins in `tz`.
 * @example startOfLocalDay('2026-03-29', 'Europe/Warsaw') // 2026-03-28T23:00:00.000Z
 * @param {string} day
 * @param {string} tz
 */
export function startOfLocalDay(day, tz) {
  const [y, m, d] = day.split('-').map(Number);
  const guess = Date.UTC(y, m - 1, d);
  const first = guess - offsetMs(guess, tz);
  return guess - offsetMs(first, tz);
}

/**
 * The instant a local date and time (`YYYY-MM-DDTHH:MM`, as a datetime-local input gives it) is in `tz`; NaN when it is not one.
 * In a DST change's repeated hour, the first of the two; in its skipped hour, the instant an hour later.
 * @example localInstant('2026-11-06T10:00', 'Europe/Istanbul') // Date.parse('2026-11-06T07:00:00Z')
 * @param {string} text
 * @param {string} tz
 */
export function localInstant(text, tz) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (!m) return Number.NaN;
  const guess = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0));
  const first = guess - offsetMs(guess, tz);
  return guess - offsetMs(first, tz);
}

/**
 * Today's local date (YYYY-MM-DD) in `tz`.
 * @param {string} tz
 * @param {number} [nowMs]
 */
export function localDay(tz, nowMs = Date.now()) {
  return new Date(nowMs + offsetMs(nowMs, tz)).toISOString().slice(0, 10);
}

/**
 * @param {string} day YYYY-MM-DD
 * @param {number} n
 */
export function addDays(day, n) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}

/** @param {string} text */
export function isDay(text) {
  return /^\d{4}-\d{2}-\d{2}$/.test(text) && !Number.isNaN(Date.parse(text));
}

/** The current month YYYY-MM in `tz`. @param {string} tz */
export function localMonth(tz) {
  return localDay(tz).slice(0, 7);
}

/**
 * Labels of a time axis in `tz`: times of day when the ticks are less than a day apart, else dates.
 * @param {number[]} seconds tick values (epoch seconds)
 * @param {number} spacing seconds between ticks
 * @param {string} tz
 */
export function axisLabels(seconds, spacing, tz) {
  /** @type {Intl.DateTimeFormatOptions} */
  const opts =
    spacing < 86_400
      ? { hour: '2-digit', minute: '2-digit', timeZone: tz }
      : spacing < 28 * 86_400
        ? { day: 'numeric', month: 'short', timeZone: tz }
        : { month: 'short', year: 'numeric', timeZone: tz };
  const f = new Intl.DateTimeFormat(locale(), opts);
  return seconds.map((s) => f.format(new Date(s * 1000)));
}

/**
 * The local time of day of an instant in `tz` (hours and minutes).
 * @param {string | number} instant
 * @param {string} tz
 */
export function timeOfDay(instant, tz) {
  return new Intl.DateTimeFormat(locale(), { hour: '2-digit', minute: '2-digit', timeZone: tz }).format(new Date(instant));
}
