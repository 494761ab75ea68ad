import { KNOWN_CHANNELS_HINT, resolveChannel, type ChannelDef } from '../models/channel.js';
import { MdmError } from '../models/errors.js';
import { storedInstant } from '../models/input-schemas.js';
import { DAY_MS, parseInstant } from '../models/time.js';

/**
 * Query-string checks shared by the readings and aggregate routes. Each throws a
 * 400 with a reason that says how to fix the request: MDM_ERR_UNKNOWN_CHANNEL,
 * MDM_ERR_RANGE_INVERTED, MDM_ERR_RANGE_TOO_LONG, else MDM_ERR_VALIDATION.
 */

export type SeriesInterval = 'raw' | 'hour' | 'day' | 'month';

/**
 * Longest `from`..`to` span per interval, in days: 400 days of raw 15-minute
 * values is 38 400 rows; day and month buckets may span ten years.
 */
export const MAX_RANGE_DAYS: Record<SeriesInterval, number> = { raw: 400, hour: 400, day: 3660, month: 3660 };

/** Canonical channel for a name or OBIS alias. */
export function channelParam(text: string): ChannelDef {
  const c = resolveChannel(text);
  if (!c) throw new MdmError('MDM_ERR_UNKNOWN_CHANNEL', [`unknown channel "${text}": ${KNOWN_CHANNELS_HINT}`]);
  return c;
}

/** `from` (inclusive) and `to` (exclusive) as instants; both need an offset and lie in 1990..2099, from < to, span within MAX_RANGE_DAYS. */
export function rangeParams(from: string, to: string, interval: SeriesInterval): { from: Date; to: Date } {
  const f = storedInstant(from);
  if (!f.ok) throw new MdmError('MDM_ERR_VALIDATION', [`from: ${f.reason}`]);
  const t = storedInstant(to);
  if (!t.ok) throw new MdmError('MDM_ERR_VALIDATION', [`to: ${t.reason}`]);
  if (f.ms >= t.ms) throw new MdmError('MDM_ERR_RANGE_INVERTED', [`from (${from}) must be before to (${to}); from is inclusive, to exclusive`]);
  const max = MAX_RANGE_DAYS[interval];
  if (t.ms - f.ms > max * DAY_MS) {
    throw new MdmError('MDM_ERR_RANGE_TOO_LONG', [
      `from..to spans ${Math.ceil((t.ms - f.ms) / DAY_MS)} days; at interval=${interval} the limit is ${max} days: split the range or use a coarser interval`,
    ]);
  }
  return { from: new Date(f.ms), to: new Date(t.ms) };
}

/** Optional `asOf` instant (ISO-8601 with offset): read the data as it was then. */
export function asOfParam(text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const t = parseInstant(text);
  if (!t.ok) throw new MdmError('MDM_ERR_VALIDATION', [`asOf: ${t.reason}`]);
  return new Date(t.ms);
}
