import { KNOWN_CHANNELS_HINT, resolveChannel, type ChannelDef } from '../models/channel.js';
import { scopeAllows, type KeyScope } from '../models/api-key.js';
import { QUALITIES, SOURCES, qualityCode, sourceCode, type NormalizedReading, type Quality, type Source } from '../models/reading.js';
import { DEFAULT_READING_LIMITS, FIELD_LIMITS, boundedText, fieldProblem, safeJson, type ReadingLimits } from '../models/input-bounds.js';
import { instantMs, isAligned, parseInstant } from '../models/time.js';
import type { MeterRef } from '../sql/meter-lookup.repository.js';

export interface NormalizeOptions {
  /** Source stored when a row names none: the transport (http, mqtt, modbus, file). */
  readonly defaultSource: Source;
  /** Gateway key scope; rows for meters outside it are rejected. */
  readonly scope?: KeyScope | null;
  /** Meter id for rows that carry none (MQTT per-meter topic). */
  readonly meter?: string;
  /** Added to the row numbers that messages cite (NDJSON chunks, CSV lines). */
  readonly indexOffset?: number;
  /** Plausibility bounds (time window, absolute value per channel kind); default DEFAULT_READING_LIMITS. */
  readonly limits?: ReadingLimits;
  /** Arrival time (epoch ms) that the future bound counts from; default now. */
  readonly nowMs?: number;
}

/** A value as quoted in a reason: short, one line, never throwing (a 50 MB or 20 000-deep value is cut). */
const show = (v: unknown): string => boundedText(typeof v === 'string' ? JSON.stringify(v) : safeJson(v), 80);

const isoDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

export interface NormalizeResult {
  readonly rows: NormalizedReading[];
  readonly rejected: { index: number; reason: string; meter: string | null }[];
  /** Rows identical to an earlier row of the same batch (counted as unchanged). */
  readonly duplicates: number;
  /** Index in `raw` of each row of `rows` (without indexOffset). */
  readonly origin: readonly number[];
}

/**
 * Rows of one meter and channel seen so far in a batch (duplicate detection).
 * Rows nearly always come in ascending time per meter and channel: a start
 * after the latest one seen is new without a lookup. Only a group that goes
 * back in time gets a start → position map (a string key per row was a third
 * of normalizeReadings' time).
 */
interface SeenGroup {
  latestMs: number;
  /** Positions in `rows` while `byStart` is not built: it is built from them when the group first goes back in time. */
  readonly positions: number[];
  byStart: Map<number, number> | undefined;
}

const ROW_KEYS = new Set(['meter', 'channel', 'start', 'value', 'quality', 'source', 'intervalMinutes']);

/** Meter ids named in a batch (to load them in one query); ids that could not be stored (too long, NUL) are left out: their rows are rejected. */
export function meterIdsOf(raw: readonly unknown[], fallback?: string): string[] {
  const ids = new Set<string>();
  if (fallback && fieldProblem('meter', fallback, FIELD_LIMITS.id) === null) ids.add(fallback);
  let last: unknown;
  for (const r of raw) {
    const m = (r as { meter?: unknown } | null)?.meter;
    if (m !== last && typeof m === 'string') {
      last = m;
      if (fieldProblem('meter', m, FIELD_LIMITS.id) === null) ids.add(m);
    }
  }
  return [...ids];
}

/** A raw row as it may come in: any field may hold anything. */
interface RawRow {
  readonly meter?: unknown;
  readonly channel?: unknown;
  readonly start?: unknown;
  readonly value?: unknown;
  readonly quality?: unknown;
  readonly source?: unknown;
  readonly intervalMinutes?: unknown;
}

/** The plausibility bounds of one batch (MDM_EARLIEST_READING, MDM_MAX_*): the latest starts counted from its arrival. */
interface PlausibleWindow {
  readonly limits: ReadingLimits;
  /** Latest start (epoch ms) of a measured or validated value, and of any other quality. */
  readonly latestMeasuredMs: number;
  readonly latestOtherMs: number;
}

const MEASURED = qualityCode('measured');
const VALIDATED = qualityCode('validated');
/** Code of a name that is not in the list (QUALITIES, SOURCES). */
const UNKNOWN_CODE = -1;

/**
 * Validates raw reading rows one by one (one bad row rejects only itself) and
 * turns them into storable rows. Checks: shape, field lengths and NUL
 * characters, known meter and scope, known channel or OBIS alias, timestamp
 * with offset inside the plausible window, finite value within the channel
 * kind's bound, interval alignment in the meter's local time, duplicates
 * within the batch. Pure: meters come in as a map, the arrival time as nowMs.
 *
 * The ingest hot path: the loop keeps the batch's state in locals and reports
 * the first failing check in this order; the steps below check a row's
 * reading fields and build the reasons (for rejected rows only).
 */
export function normalizeReadings(raw: readonly unknown[], meters: ReadonlyMap<string, MeterRef>, opts: NormalizeOptions): NormalizeResult {
  const rows: NormalizedReading[] = [];
  const rejected: { index: number; reason: string; meter: string | null }[] = [];
  const origin: number[] = []; // position in rows → index in raw
  let duplicates = 0;
  const window = plausibleWindow(opts);
  const defaultSource = sourceCode(opts.defaultSource);
  // Rows of one request mostly repeat the previous row's meter: keep its lookup and scope check.
  let lastMeterId: unknown;
  let lastMeter: MeterRef | undefined;
  let lastInScope = false;
  const seen = new Map<number, SeenGroup>();
  let lastGroupKey = -1;
  let g: SeenGroup | undefined;

  for (let index = 0; index < raw.length; index++) {
    const r = raw[index] as RawRow;
    const shape = shapeProblem(r);
    if (shape !== null) {
      rejected.push({ index, reason: shape, meter: null });
      continue;
    }
    const meterId = r.meter ?? opts.meter;
    if (typeof meterId !== 'string' || meterId === '') {
      rejected.push({ index, reason: 'meter is required (the external meter id, a string)', meter: null });
      continue;
    }
    const idProblem = meterId === lastMeterId ? null : fieldProblem('meter', meterId, FIELD_LIMITS.id);
    if (idProblem !== null) {
      rejected.push({ index, reason: idProblem, meter: boundedText(meterId, FIELD_LIMITS.id) });
      continue;
    }
    if (opts.meter !== undefined && r.meter !== undefined && r.meter !== opts.meter) {
      rejected.push({ index, reason: `row names meter ${show(r.meter)} but was sent for meter "${opts.meter}"`, meter: meterId });
      continue;
    }
    if (meterId !== lastMeterId) {
      lastMeterId = meterId;
      lastMeter = meters.get(meterId);
      lastInScope = lastMeter !== undefined && (!opts.scope || scopeAllows(opts.scope, { id: lastMeter.externalId, group: lastMeter.group }));
    }
    const meter = lastMeter;
    const channel = typeof r.channel === 'string' ? resolveChannel(r.channel) : undefined;
    if (!meter || !lastInScope || !channel) {
      rejected.push({ index, reason: meterOrChannelProblem(meterId, meter, lastInScope, r.channel), meter: meterId });
      continue;
    }
    const startMs = instantMs(r.start);
    const quality = r.quality === undefined ? MEASURED : QUALITIES.indexOf(r.quality as Quality);
    const source = r.source === undefined ? defaultSource : SOURCES.indexOf(r.source as Source);
    const intervalMinutes = rowIntervalMinutes(r.intervalMinutes, channel, meter);
    const problem = readingProblem(r, channel, meter, startMs, quality, source, intervalMinutes, window);
    if (problem !== null) {
      rejected.push({ index, reason: problem, meter: meterId });
      continue;
    }

    const value = r.value as number; // readingProblem checked it, and that intervalMinutes is not undefined
    const groupKey = meter.id * 65_536 + channel.code; // exact in a double: meter ids are int4 serials, channel codes smallints
    if (groupKey !== lastGroupKey || g === undefined) {
      lastGroupKey = groupKey;
      g = openGroup(seen, groupKey);
    }
    const earlier = startMs > g.latestMs ? -1 : positionByStart(g, startMs, rows);
    if (earlier !== -1) {
      if (rows[earlier].value === value && rows[earlier].quality === quality) duplicates++;
      else rejected.push({ index, reason: conflictReason(origin[earlier] + (opts.indexOffset ?? 0)), meter: meterId });
      continue;
    }
    remember(g, startMs, rows.length);
    origin.push(index);
    rows.push({ meterId: meter.id, channel: channel.code, startMs, value, intervalMinutes: intervalMinutes as number | null, quality, source });
  }
  return { rows, rejected, duplicates, origin };
}

function plausibleWindow(opts: NormalizeOptions): PlausibleWindow {
  const limits = opts.limits ?? DEFAULT_READING_LIMITS;
  const nowMs = opts.nowMs ?? Date.now();
  return { limits, latestMeasuredMs: nowMs + limits.measuredFutureMs, latestOtherMs: nowMs + limits.otherFutureMs };
}

/** Why a row is not an object of known fields, or null. */
function shapeProblem(r: unknown): string | null {
  if (r === null || typeof r !== 'object' || Array.isArray(r)) return 'row must be an object {meter, channel, start, value}';
  const unknownField = firstUnknownField(r);
  return unknownField === undefined ? null : `unknown field ${show(unknownField)}; allowed: ${[...ROW_KEYS].join(', ')}`;
}

/** The first field of a row that a reading does not have (ROW_KEYS), if any. */
function firstUnknownField(r: object): string | undefined {
  for (const k in r) {
    if (!ROW_KEYS.has(k)) return k;
  }
  return undefined;
}

/** Why a row's meter (not registered, outside the key's scope) or else its channel (channelProblem) is refused. */
function meterOrChannelProblem(meterId: string, meter: MeterRef | undefined, inScope: boolean, channel: unknown): string {
  if (!meter) return `unknown meter "${meterId}": register it with PUT /v1/meters first`;
  if (!inScope) return `meter "${meterId}" is outside this key's scope`;
  return channelProblem(channel);
}

/**
 * Why a row's reading fields are refused, in the order they are checked, or
 * null: start (parsed as startMs), value and its channel kind's bound, quality
 * (UNKNOWN_CODE when not one), the plausible window, source, interval length
 * (undefined when not allowed, see rowIntervalMinutes) and alignment.
 */
function readingProblem(
  r: RawRow,
  channel: ChannelDef,
  meter: MeterRef,
  startMs: number,
  quality: number,
  source: number,
  intervalMinutes: number | null | undefined,
  window: PlausibleWindow,
): string | null {
  if (Number.isNaN(startMs)) return startProblem(r.start);
  const value = r.value;
  if (typeof value !== 'number' || !Number.isFinite(value)) return notFiniteReason(value);
  const maxAbs = window.limits.maxAbs[channel.kind === 'status' ? 'instantaneous' : channel.kind]; // a status code is bounded like a sampled value
  if (Math.abs(value) > maxAbs) return implausibleValueReason(value, channel, maxAbs);
  if (quality === UNKNOWN_CODE) return unknownNameReason('quality', r.quality, QUALITIES);
  if (!inPlausibleWindow(startMs, quality, window)) return outsideWindowReason(r.start, startMs, quality, window);
  if (source === UNKNOWN_CODE) return unknownNameReason('source', r.source, SOURCES);
  if (intervalMinutes === undefined) return intervalMinutesProblem(channel);
  if (intervalMinutes !== null && !isAligned(startMs, intervalMinutes, meter.timezone)) return notAlignedReason(r.start, intervalMinutes, meter);
  return null;
}

function notFiniteReason(value: unknown): string {
  return `value must be a finite number, got ${value === undefined ? 'nothing' : show(value)}`;
}

function unknownNameReason(field: 'quality' | 'source', given: unknown, names: readonly string[]): string {
  return `unknown ${field} ${show(given)}; one of ${names.join(', ')}`;
}

function notAlignedReason(start: unknown, intervalMinutes: number, meter: MeterRef): string {
  return `start ${String(start)} is not aligned to a ${intervalMinutes}-minute interval in ${meter.timezone}`;
}

/** Why a row's channel is missing or not known (resolveChannel found none). */
function channelProblem(channel: unknown): string {
  if (typeof channel !== 'string') return `channel is required: ${KNOWN_CHANNELS_HINT}`;
  return fieldProblem('channel', channel, FIELD_LIMITS.code) ?? `unknown channel ${show(channel)}: ${KNOWN_CHANNELS_HINT}`;
}

/** Why a row's start is not an instant (instantMs gave NaN). */
function startProblem(start: unknown): string {
  if (start === undefined) return 'start is required (ISO-8601 with offset)';
  if (typeof start === 'string' && start.length > 40) return `start is ${start.length} characters long; an ISO-8601 timestamp with offset has at most 40`;
  const t = parseInstant(start); // fails exactly when instantMs is NaN; here for its reason
  return t.ok ? 'start is not a valid timestamp' : boundedText(t.reason, 200);
}

/** Why a finite value beyond its channel kind's bound (MDM_MAX_*_VALUE) is rejected. */
function implausibleValueReason(value: number, channel: ChannelDef, maxAbs: number): string {
  return `value ${value} is implausible for ${channel.name}: at most ±${maxAbs} ${channel.unit} (the ${channel.kind} bound, MDM_MAX_${channel.kind === 'instantaneous' ? 'INSTANT' : channel.kind.toUpperCase()}_VALUE)`;
}

const isMeasuredLike = (quality: number): boolean => quality === MEASURED || quality === VALIDATED;

/**
 * Whether a start lies in the plausible window: not before
 * MDM_EARLIEST_READING; a measured or validated value at most
 * MDM_MAX_FUTURE_HOURS after it arrives, any other quality further ahead.
 */
function inPlausibleWindow(startMs: number, quality: number, window: PlausibleWindow): boolean {
  return startMs >= window.limits.earliestMs && startMs <= (isMeasuredLike(quality) ? window.latestMeasuredMs : window.latestOtherMs);
}

/** Why a start outside the plausible window is rejected. */
function outsideWindowReason(start: unknown, startMs: number, quality: number, window: PlausibleWindow): string {
  const { limits } = window;
  if (startMs < limits.earliestMs) return `start ${String(start)} is before ${isoDay(limits.earliestMs)}, the earliest reading accepted (MDM_EARLIEST_READING)`;
  return isMeasuredLike(quality)
    ? `start ${String(start)} is in the future: a measured value may start at most ${limits.measuredFutureMs / 3_600_000} h after it arrives (MDM_MAX_FUTURE_HOURS); check the device clock and the UTC offset`
    : `start ${String(start)} is more than ${Math.round(limits.otherFutureMs / 86_400_000)} days ahead`;
}

/**
 * Interval length of a row: the row's own (15, 30 or 60) or its meter's on an
 * interval channel, null on any other channel; undefined when the row's is
 * not allowed (intervalMinutesProblem says why).
 */
function rowIntervalMinutes(given: unknown, channel: ChannelDef, meter: MeterRef): number | null | undefined {
  if (channel.kind !== 'interval') return given === undefined ? null : undefined;
  if (given === undefined) return meter.intervalMinutes;
  return given === 15 || given === 30 || given === 60 ? given : undefined;
}

function intervalMinutesProblem(channel: ChannelDef): string {
  return channel.kind === 'interval' ? 'intervalMinutes must be 15, 30 or 60' : `intervalMinutes applies to interval channels only; ${channel.name} is a ${channel.kind} channel`;
}

/** The duplicate-detection group of `key` (meter id and channel code), opened on its first row. */
function openGroup(seen: Map<number, SeenGroup>, key: number): SeenGroup {
  let g = seen.get(key);
  if (g === undefined) {
    g = { latestMs: -Infinity, positions: [], byStart: undefined };
    seen.set(key, g);
  }
  return g;
}

/** Position in `rows` of the group's row with this start, or -1; builds the group's start → position map when it first goes back in time. */
function positionByStart(g: SeenGroup, startMs: number, rows: readonly NormalizedReading[]): number {
  if (g.byStart === undefined) {
    g.byStart = new Map();
    for (const pos of g.positions) g.byStart.set(rows[pos].startMs, pos);
  }
  return g.byStart.get(startMs) ?? -1;
}

/** Records that the group's row with this start is at `position` in rows. */
function remember(g: SeenGroup, startMs: number, position: number): void {
  if (startMs > g.latestMs) g.latestMs = startMs;
  if (g.byStart) g.byStart.set(startMs, position);
  else g.positions.push(position);
}

/** Why a row with the start of an earlier, different one (row `earlierRow` as the sender counts) is refused. */
function conflictReason(earlierRow: number): string {
  return `conflicts with row ${earlierRow} (same meter, channel and start, different value): send the correction in a later request`;
}
