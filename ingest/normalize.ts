import { KNOWN_CHANNELS_HINT, resolveChannel } from '../models/channel.js';
import { scopeAllows, type KeyScope } from '../models/api-key.js';
import { QUALITIES, SOURCES, qualityCode, sourceCode, type NormalizedReading, type Quality, type Source } from '../models/reading.js';
import { isAligned, parseInstant } from '../models/time.js';
import type { MeterRef } from '../sql/meter-lookup.repository.js';

export interface NormalizeOptions {
  /** Source stored when a row names none: the transport (http, mqtt, modbus, file). */
  readonly defaultSource: Source;
  /** Gateway key scope; rows for meters outside it are rejected. */
  readonly scope?: KeyScope | null;
  /** Meter id for rows that carry none (MQTT per-meter topic). */
  readonly meter?: string;
}

export interface NormalizeResult {
  readonly rows: NormalizedReading[];
  readonly rejected: { index: number; reason: string; meter: string | null }[];
  /** Rows identical to an earlier row of the same batch (counted as unchanged). */
  readonly duplicates: number;
}

const ROW_KEYS = new Set(['meter', 'channel', 'start', 'value', 'quality', 'source', 'intervalMinutes']);

/** Meter ids named in a batch (to load them in one query). */
export function meterIdsOf(raw: readonly unknown[], fallback?: string): string[] {
  const ids = new Set<string>();
  if (fallback) ids.add(fallback);
  for (const r of raw) {
    const m = (r as { meter?: unknown } | null)?.meter;
    if (typeof m === 'string') ids.add(m);
  }
  return [...ids];
}

/**
 * Validates raw reading rows one by one (one bad row rejects only itself) and
 * turns them into storable rows. Checks: shape, known meter and scope, known
 * channel or OBIS alias, timestamp with offset, finite value, interval
 * alignment in the meter's local time, duplicates within the batch.
 * Pure: meters come in as a map.
 */
export function normalizeReadings(raw: readonly unknown[], meters: ReadonlyMap<string, MeterRef>, opts: NormalizeOptions): NormalizeResult {
  const rows: NormalizedReading[] = [];
  const rejected: { index: number; reason: string; meter: string | null }[] = [];
  const seen = new Map<string, number>(); // key → position in rows
  const origin: number[] = []; // position in rows → index in raw
  let duplicates = 0;
  const defaultSource = sourceCode(opts.defaultSource);

  for (let index = 0; index < raw.length; index++) {
    const r = raw[index] as Record<string, unknown> | null;
    const reject = (reason: string, meter: string | null = null) => rejected.push({ index, reason, meter });
    if (r === null || typeof r !== 'object' || Array.isArray(r)) {
      reject('row must be an object {meter, channel, start, value}');
      continue;
    }
    for (const k in r) {
      if (!ROW_KEYS.has(k)) {
        reject(`unknown field "${k}"; allowed: ${[...ROW_KEYS].join(', ')}`);
        break;
      }
    }
    if (rejected.length && rejected[rejected.length - 1].index === index) continue;

    const meterId = r.meter ?? opts.meter;
    if (typeof meterId !== 'string' || meterId === '') {
      reject('meter is required (the external meter id, a string)');
      continue;
    }
    if (opts.meter !== undefined && r.meter !== undefined && r.meter !== opts.meter) {
      reject(`row names meter "${String(r.meter)}" but was sent for meter "${opts.meter}"`, meterId);
      continue;
    }
    const meter = meters.get(meterId);
    if (!meter) {
      reject(`unknown meter "${meterId}": register it with PUT /v1/meters first`, meterId);
      continue;
    }
    if (opts.scope && !scopeAllows(opts.scope, { id: meter.externalId, group: meter.group })) {
      reject(`meter "${meterId}" is outside this key's scope`, meterId);
      continue;
    }
    if (typeof r.channel !== 'string') {
      reject(`channel is required: ${KNOWN_CHANNELS_HINT}`, meterId);
      continue;
    }
    const channel = resolveChannel(r.channel);
    if (!channel) {
      reject(`unknown channel "${r.channel}": ${KNOWN_CHANNELS_HINT}`, meterId);
      continue;
    }
    const t = parseInstant(r.start);
    if (!t.ok) {
      reject(r.start === undefined ? 'start is required (ISO-8601 with offset)' : t.reason, meterId);
      continue;
    }
    const value = r.value;
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      reject(`value must be a finite number, got ${JSON.stringify(value) ?? 'nothing'}`, meterId);
      continue;
    }
    let quality = qualityCode('measured');
    if (r.quality !== undefined) {
      if (!QUALITIES.includes(r.quality as Quality)) {
        reject(`unknown quality "${String(r.quality)}"; one of ${QUALITIES.join(', ')}`, meterId);
        continue;
      }
      quality = qualityCode(r.quality as Quality);
    }
    let source = defaultSource;
    if (r.source !== undefined) {
      if (!SOURCES.includes(r.source as Source)) {
        reject(`unknown source "${String(r.source)}"; one of ${SOURCES.join(', ')}`, meterId);
        continue;
      }
      source = sourceCode(r.source as Source);
    }
    let intervalMinutes: number | null = null;
    if (channel.kind === 'interval') {
      intervalMinutes = meter.intervalMinutes;
      if (r.intervalMinutes !== undefined) {
        if (r.intervalMinutes !== 15 && r.intervalMinutes !== 30 && r.intervalMinutes !== 60) {
          reject('intervalMinutes must be 15, 30 or 60', meterId);
          continue;
        }
        intervalMinutes = r.intervalMinutes;
      }
      if (!isAligned(t.ms, intervalMinutes, meter.timezone)) {
        reject(`start ${String(r.start)} is not aligned to a ${intervalMinutes}-minute interval in ${meter.timezone}`, meterId);
        continue;
      }
    } else if (r.intervalMinutes !== undefined) {
      reject(`intervalMinutes applies to interval channels only; ${channel.name} is a ${channel.kind} channel`, meterId);
      continue;
    }

    const key = `${meter.id}|${channel.code}|${t.ms}`;
    const prev = seen.get(key);
    if (prev !== undefined) {
      const p = rows[prev];
      if (p.value === value && p.quality === quality) {
        duplicates++;
      } else {
        reject(`conflicts with row ${origin[prev]} (same meter, channel and start, different value): send the correction in a later request`, meterId);
      }
      continue;
    }
    seen.set(key, rows.length);
    origin.push(index);
    rows.push({ meterId: meter.id, channel: channel.code, startMs: t.ms, value, intervalMinutes, quality, source });
  }
  return { rows, rejected, duplicates };
}
