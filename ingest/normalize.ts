import { KNOWN_CHANNELS_HINT, resolveChannel } from '../models/channel.js';
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

/** Rows of one meter and channel seen so far in a batch (duplicate detection). */
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

/**
 * Validates raw reading rows one by one (one bad row rejects only itself) and
 * turns them into storable rows. Checks: shape, field lengths and NUL
 * characters, known meter and scope, known channel or OBIS alias, timestamp
 * with offset inside the plausible window, finite value within the channel
 * kind's bound, interval alignment in the meter's local time, duplicates
 * within the batch. Pure: meters come in as a map, the arrival time as nowMs.
 */
export function normalizeReadings(raw: readonly unknown[], meters: ReadonlyMap<string, MeterRef>, opts: NormalizeOptions): NormalizeResult {
  const rows: NormalizedReading[] = [];
  const rejected: { index: number; reason: string; meter: string | null }[] = [];
  // Duplicate detection per (meter id, channel code). Rows nearly always come
  // in ascending time per meter and channel: a start after the latest one seen
  // is new without a lookup. Only a group that goes back in time gets a
  // start → position map (a string key per row was a third of this function's time).
  const seen = new Map<number, SeenGroup>();
  const origin: number[] = []; // position in rows → index in raw
  let duplicates = 0;
  const defaultSource = sourceCode(opts.defaultSource);
  const measured = qualityCode('measured');
  const validated = qualityCode('validated');
  const limits = opts.limits ?? DEFAULT_READING_LIMITS;
  const nowMs = opts.nowMs ?? Date.now();
  const latestMeasuredMs = nowMs + limits.measuredFutureMs;
  const latestOtherMs = nowMs + limits.otherFutureMs;
  // Rows of one request mostly repeat the previous row's meter: keep its lookup and scope check.
  let lastMeterId: unknown;
  let lastMeter: MeterRef | undefined;
  let lastInScope = false;
  let lastGroup = -1;
  let g: SeenGroup | undefined;

  rowLoop: for (let index = 0; index < raw.length; index++) {
    const r = raw[index] as Record<string, unknown> | null;
    if (r === null || typeof r !== 'object' || Array.isArray(r)) {
      rejected.push({ index, reason: 'row must be an object {meter, channel, start, value}', meter: null });
      continue;
    }
    for (const k in r) {
      if (!ROW_KEYS.has(k)) {
        rejected.push({ index, reason: `unknown field ${show(k)}; allowed: ${[...ROW_KEYS].join(', ')}`, meter: null });
        continue rowLoop;
      }
    }

    const meterId = r.meter ?? opts.meter;
    if (typeof meterId !== 'string' || meterId === '') {
      rejected.push({ index, reason: 'meter is required (the external meter id, a string)', meter: null });
      continue;
    }
    if (meterId !== lastMeterId) {
      const bad = fieldProblem('meter', meterId, FIELD_LIMITS.id);
      if (bad) {
        rejected.push({ index, reason: bad, meter: boundedText(meterId, FIELD_LIMITS.id) });
        continue;
      }
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
    if (!meter) {
      rejected.push({ index, reason: `unknown meter "${meterId}": register it with PUT /v1/meters first`, meter: meterId });
      continue;
    }
    if (!lastInScope) {
      rejected.push({ index, reason: `meter "${meterId}" is outside this key's scope`, meter: meterId });
      continue;
    }
    if (typeof r.channel !== 'string') {
      rejected.push({ index, reason: `channel is required: ${KNOWN_CHANNELS_HINT}`, meter: meterId });
      continue;
    }
    const channel = resolveChannel(r.channel);
    if (!channel) {
      rejected.push({ index, reason: fieldProblem('channel', r.channel, FIELD_LIMITS.code) ?? `unknown channel ${show(r.channel)}: ${KNOWN_CHANNELS_HINT}`, meter: meterId });
      continue;
    }
    const startMs = instantMs(r.start);
    if (Number.isNaN(startMs)) {
      let reason: string;
      if (r.start === undefined) reason = 'start is required (ISO-8601 with offset)';
      else if (typeof r.start === 'string' && r.start.length > 40) reason = `start is ${r.start.length} characters long; an ISO-8601 timestamp with offset has at most 40`;
      else {
        const t = parseInstant(r.start); // fails exactly when instantMs is NaN; here for its reason
        reason = t.ok ? 'start is not a valid timestamp' : boundedText(t.reason, 200);
      }
      rejected.push({ index, reason, meter: meterId });
      continue;
    }
    const value = r.value;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      rejected.push({ index, reason: `value must be a finite number, got ${value === undefined ? 'nothing' : show(value)}`, meter: meterId });
      continue;
    }
    const maxAbs = limits.maxAbs[channel.kind];
    if (Math.abs(value) > maxAbs) {
      rejected.push({
        index,
        reason: `value ${value} is implausible for ${channel.name}: at most ±${maxAbs} ${channel.unit} (the ${channel.kind} bound, MDM_MAX_${channel.kind === 'instantaneous' ? 'INSTANT' : channel.kind.toUpperCase()}_VALUE)`,
        meter: meterId,
      });
      continue;
    }
    let quality = measured;
    if (r.quality !== undefined) {
      if (!QUALITIES.includes(r.quality as Quality)) {
        rejected.push({ index, reason: `unknown quality ${show(r.quality)}; one of ${QUALITIES.join(', ')}`, meter: meterId });
        continue;
      }
      quality = qualityCode(r.quality as Quality);
    }
    if (startMs < limits.earliestMs) {
      rejected.push({ index, reason: `start ${String(r.start)} is before ${isoDay(limits.earliestMs)}, the earliest reading accepted (MDM_EARLIEST_READING)`, meter: meterId });
      continue;
    }
    const measuredLike = quality === measured || quality === validated;
    if (startMs > (measuredLike ? latestMeasuredMs : latestOtherMs)) {
      rejected.push({
        index,
        reason: measuredLike
          ? `start ${String(r.start)} is in the future: a measured value may start at most ${limits.measuredFutureMs / 3_600_000} h after it arrives (MDM_MAX_FUTURE_HOURS); check the device clock and the UTC offset`
          : `start ${String(r.start)} is more than ${Math.round(limits.otherFutureMs / 86_400_000)} days ahead`,
        meter: meterId,
      });
      continue;
    }
    let source = defaultSource;
    if (r.source !== undefined) {
      if (!SOURCES.includes(r.source as Source)) {
        rejected.push({ index, reason: `unknown source ${show(r.source)}; one of ${SOURCES.join(', ')}`, meter: meterId });
        continue;
      }
      source = sourceCode(r.source as Source);
    }
    let intervalMinutes: number | null = null;
    if (channel.kind === 'interval') {
      intervalMinutes = meter.intervalMinutes;
      if (r.intervalMinutes !== undefined) {
        if (r.intervalMinutes !== 15 && r.intervalMinutes !== 30 && r.intervalMinutes !== 60) {
          rejected.push({ index, reason: 'intervalMinutes must be 15, 30 or 60', meter: meterId });
          continue;
        }
        intervalMinutes = r.intervalMinutes;
      }
      if (!isAligned(startMs, intervalMinutes, meter.timezone)) {
        rejected.push({ index, reason: `start ${String(r.start)} is not aligned to a ${intervalMinutes}-minute interval in ${meter.timezone}`, meter: meterId });
        continue;
      }
    } else if (r.intervalMinutes !== undefined) {
      rejected.push({ index, reason: `intervalMinutes applies to interval channels only; ${channel.name} is a ${channel.kind} channel`, meter: meterId });
      continue;
    }

    // Exact in a double: meter ids are int4 serials, channel codes smallints.
    const groupKey = meter.id * 65_536 + channel.code;
    if (groupKey !== lastGroup || g === undefined) {
      lastGroup = groupKey;
      g = seen.get(groupKey);
      if (g === undefined) {
        g = { latestMs: -Infinity, positions: [], byStart: undefined };
        seen.set(groupKey, g);
      }
    }
    if (startMs <= g.latestMs) {
      if (g.byStart === undefined) {
        g.byStart = new Map();
        for (const pos of g.positions) g.byStart.set(rows[pos].startMs, pos);
      }
      const prev = g.byStart.get(startMs);
      if (prev !== undefined) {
        const p = rows[prev];
        if (p.value === value && p.quality === quality) {
          duplicates++;
        } else {
          rejected.push({
            index,
            reason: `conflicts with row ${origin[prev] + (opts.indexOffset ?? 0)} (same meter, channel and start, different value): send the correction in a later request`,
            meter: meterId,
          });
        }
        continue;
      }
    } else {
      g.latestMs = startMs;
    }
    if (g.byStart) g.byStart.set(startMs, rows.length);
    else g.positions.push(rows.length);
    origin.push(index);
    rows.push({ meterId: meter.id, channel: channel.code, startMs, value, intervalMinutes, quality, source });
  }
  return { rows, rejected, duplicates, origin };
}
