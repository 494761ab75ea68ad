import type { KeyScope } from '../models/api-key.js';
import type { IngestResult, NormalizedReading, RowReject, Source } from '../models/reading.js';
import type { Database } from '../sql/database.js';
import type { DeadLetter } from '../sql/dead-letter.repository.js';
import { findMeterRefs } from '../sql/meter-lookup.repository.js';
import { safeJson, type ReadingLimits } from '../models/input-bounds.js';
import { writeIsolating } from './isolate-write.js';
import { meterIdsOf, normalizeReadings, type NormalizeResult } from './normalize.js';
import type { IngestListeners } from './ingest-listeners.js';

export interface IngestContext {
  /** Transport, also the default source: http, mqtt, modbus, file. */
  readonly transport: Source;
  /** Key name or gateway id that sent the batch. */
  readonly principal: string | null;
  readonly scope?: KeyScope | null;
  /** For per-meter MQTT topics: rows may omit `meter`. */
  readonly meter?: string;
  readonly topic?: string | null;
  readonly detail?: string | null;
  /** Added to reported row indexes (NDJSON chunks, file imports). */
  readonly indexOffset?: number;
  /** Plausibility bounds from the configuration (models/config.ts readingLimitsOf); default DEFAULT_READING_LIMITS. */
  readonly limits?: ReadingLimits;
  /** What runs after the write (readingsStored: alarm rules, wired by cli/ and api/); none: the rows are stored only. */
  readonly listeners?: IngestListeners;
  /** X-Request-Id of the HTTP request: on the alarm transitions its values cause. */
  readonly requestId?: string;
}

/**
 * The one ingest path for every transport: validate rows, store the valid ones
 * (versioned, idempotent) and dead-letter the rest with their reasons, in one
 * transaction, which also queues the touched meter days for validation (VEE);
 * then the `readingsStored` listener on the values (alarm rules: alarms/readings.ts,
 * a no-op without rules). Returns counts and per-row rejects. A row the database refuses
 * despite validation is isolated and dead-lettered (ingest/isolate-write.ts);
 * only an unreachable database throws.
 */
export async function ingestReadings(database: Database, raw: readonly unknown[], ctx: IngestContext): Promise<IngestResult & { batchId: number }> {
  const meters = await findMeterRefs(database, meterIdsOf(raw, ctx.meter));
  const n = normalizeReadings(raw, meters, { defaultSource: ctx.transport, scope: ctx.scope, meter: ctx.meter, indexOffset: ctx.indexOffset, limits: ctx.limits, nowMs: Date.now() });
  const offset = ctx.indexOffset ?? 0;
  const deadLetters = n.rejected.map((r) => ({
    rowIndex: r.index + offset,
    meter: r.meter,
    payload: safeJson(raw[r.index]),
    reason: r.reason,
  }));
  const counts = await writeIsolating(
    database,
    n.rows,
    {
      transport: ctx.transport,
      principal: ctx.principal,
      topic: ctx.topic,
      detail: ctx.detail,
      validate: true,
      rowOrigin: (_row, p) => ({ rowIndex: n.origin[p] + offset, payload: safeJson(raw[n.origin[p]]), meter: meterOf(raw[n.origin[p]]) ?? ctx.meter }), // asked only for rows the write dead-letters
    },
    deadLetters,
  );
  await ctx.listeners?.readingsStored?.(database, n.rows, meters.values(), ctx.requestId ? { requestId: ctx.requestId } : undefined); // alarm rules (threshold, silence); nothing to do without rules
  const rejected = n.rejected.map((r) => ({ index: r.index + offset, reason: r.reason }));
  if (counts.rejected.length) {
    // late measured values for settled hours, and rows the database refused, dead-lettered by the write
    for (const r of counts.rejected) rejected.push({ index: r.rowIndex ?? -1, reason: r.reason });
    rejected.sort((a, b) => a.index - b.index);
  }
  const result = {
    batchId: counts.batchId,
    accepted: counts.accepted,
    unchanged: counts.unchanged + n.duplicates,
    superseded: counts.superseded,
    rejected,
  };
  ctx.listeners?.ingested?.(ctx.transport, result);
  return result;
}

/** One message of a multi-message batch (MQTT): validated with its own principal, scope and meter. */
export interface IngestMessage {
  readonly raw: readonly unknown[];
  readonly principal: string | null;
  readonly scope?: KeyScope | null;
  /** Per-meter topic: rows may omit `meter`. */
  readonly meter?: string;
  readonly topic?: string | null;
  /** Position of each raw row in the message as sent, when they differ (a SenML pack with records rejected before ingest). */
  readonly indexOf?: readonly number[];
}

export interface MessageIngestResult {
  /** Valid rows of the message now stored: new, superseding, or identical to the stored value. */
  readonly stored: number;
  readonly rejected: RowReject[];
}

export interface MessagesIngestResult {
  readonly batchIds: number[];
  readonly accepted: number;
  readonly unchanged: number;
  readonly superseded: number;
  readonly messages: MessageIngestResult[];
}

/**
 * Several messages through the same validation and versioned write as
 * ingestReadings, in one transaction instead of one per message. Each message
 * keeps its own scope, meter, topic and result. When two messages carry
 * different values for the same meter/channel/start, the later one goes into a
 * following transaction so that it supersedes the earlier (history kept), as if
 * it had arrived in a later batch. `deadLetters` (payloads rejected before
 * ingest, e.g. not JSON) are stored in the first transaction. Then the
 * `readingsStored` listener, once, over the rows of every transaction.
 */
export async function ingestMessages(
  database: Database,
  messages: readonly IngestMessage[],
  ctx: { readonly transport: Source; readonly detail?: string | null; readonly limits?: ReadingLimits; readonly listeners?: IngestListeners },
  deadLetters: readonly DeadLetter[] = [],
): Promise<MessagesIngestResult> {
  if (messages.length === 0 && deadLetters.length === 0) return { batchIds: [], accepted: 0, unchanged: 0, superseded: 0, messages: [] };
  const ids = new Set<string>();
  for (const m of messages) for (const id of meterIdsOf(m.raw, m.meter)) ids.add(id);
  const meters = await findMeterRefs(database, [...ids]);
  const nowMs = Date.now();

  const groups: NormalizedReading[][] = [[]];
  const latest = new Map<string, { group: number; pos: number }>(); // meter|channel|start → newest row for it
  const letters: DeadLetter[] = [...deadLetters];
  let repeated = 0; // rows identical to one in an earlier message or within their own message
  const normalized: NormalizeResult[] = [];
  const results: MessageIngestResult[] = messages.map((m) => {
    const n = normalizeReadings(m.raw, meters, { defaultSource: ctx.transport, scope: m.scope, meter: m.meter, limits: ctx.limits, nowMs });
    normalized.push(n);
    for (const row of n.rows) {
      const key = `${row.meterId}|${row.channel}|${row.startMs}`;
      const at = latest.get(key);
      let group = 0;
      if (at) {
        const prev = groups[at.group][at.pos];
        if (prev.value === row.value && prev.quality === row.quality) {
          repeated++;
          continue;
        }
        group = at.group + 1;
        groups[group] ??= [];
      }
      latest.set(key, { group, pos: groups[group].push(row) - 1 });
    }
    repeated += n.duplicates;
    const position = (i: number) => m.indexOf?.[i] ?? i;
    for (const r of n.rejected) {
      letters.push({ rowIndex: position(r.index), meter: r.meter, payload: safeJson(m.raw[r.index]), reason: r.reason, topic: m.topic ?? null, principal: m.principal });
    }
    return { stored: n.rows.length + n.duplicates, rejected: n.rejected.map((r) => ({ index: position(r.index), reason: r.reason })) };
  });

  const principals = [...new Set(messages.map((m) => m.principal).filter((p): p is string => p !== null))];
  // Which message and raw index a row came from: built only when a write dead-letters rows (a late measured value for a settled hour).
  let whence: Map<NormalizedReading, { k: number; i: number }> | undefined;
  const whereFrom = (row: NormalizedReading) => {
    if (whence === undefined) {
      const map = (whence = new Map());
      normalized.forEach((n, k) => n.rows.forEach((r, p) => map.set(r, { k, i: n.origin[p] })));
    }
    return whence.get(row);
  };
  const rowOrigin = (row: NormalizedReading) => {
    const w = whereFrom(row);
    if (w === undefined) return undefined;
    const m = messages[w.k];
    return { rowIndex: m.indexOf?.[w.i] ?? w.i, payload: safeJson(m.raw[w.i]), topic: m.topic ?? null, principal: m.principal, meter: meterOf(m.raw[w.i]) ?? m.meter };
  };
  const batch = { transport: ctx.transport, principal: principals.length ? principals.join(',').slice(0, 512) : null, detail: ctx.detail ?? null, validate: true, rowOrigin };
  const out = { batchIds: [] as number[], accepted: 0, unchanged: repeated, superseded: 0, messages: results };
  for (let g = 0; g < groups.length; g++) {
    const c = await writeIsolating(database, groups[g], batch, g === 0 ? letters : []);
    out.batchIds.push(c.batchId);
    out.accepted += c.accepted;
    out.unchanged += c.unchanged;
    out.superseded += c.superseded;
    for (const r of c.rejected) {
      const k = whereFrom(r.row)?.k;
      if (k === undefined) continue;
      const before = results[k];
      results[k] = { stored: before.stored - 1, rejected: [...before.rejected, { index: r.rowIndex ?? -1, reason: r.reason }].sort((a, b) => a.index - b.index) };
    }
  }
  await ctx.listeners?.readingsStored?.(database, groups.length === 1 ? groups[0] : groups.flat(), meters.values());
  ctx.listeners?.ingested?.(ctx.transport, { ...out, rejected: [...deadLetters, ...results.flatMap((m) => m.rejected)] });
  return out;
}

/** The meter a raw row names, if it names one as a string. */
function meterOf(raw: unknown): string | undefined {
  const m = (raw as { meter?: unknown } | null)?.meter;
  return typeof m === 'string' ? m : undefined;
}
