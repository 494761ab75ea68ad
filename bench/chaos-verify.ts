/**
 * What `npm run bench -- chaos` checks in the database after a phase: every
 * good row stored with its value (and whether it had been acknowledged),
 * no two current rows for one key and no extra versions, and the dead letter
 * of every poison item, found by its marker (bench/chaos-poison.ts).
 */
import { sql } from 'kysely';
import { qualityCode } from '../models/reading.js';
import type { Database } from '../sql/database.js';
import { markersIn } from './chaos-poison.js';
import { chaosMeterId, sliceRows, type ChaosData, type ExtraGood, type Slice } from './chaos-load.js';

const METER_BLOCK = 50;

export interface GoodLedger {
  readonly slices: { slice: Slice; acked: boolean }[];
  readonly extras: { row: ExtraGood; acked: boolean }[];
}

export interface GoodCheck {
  readonly total: number;
  readonly stored: number;
  /** Stored with another value than sent. */
  readonly wrong: number;
  /** Stored, then replaced by VEE (an estimate or edit in its place, the value sent kept in the history). */
  readonly replaced: number;
  /** Never stored as sent: VEE's estimate fills the gap. */
  readonly estimated: number;
  readonly missing: number;
  /** Acknowledged (HTTP 200, broker PUBACK) but missing or wrong: lost. */
  readonly lost: number;
  readonly examples: string[];
}

/** Compares the good rows of the ledger with the current readings. */
export async function checkGoodRows(database: Database, data: ChaosData, ledger: GoodLedger): Promise<GoodCheck> {
  const out = { total: 0, stored: 0, replaced: 0, wrong: 0, estimated: 0, missing: 0, lost: 0, examples: [] as string[] };
  const note = (ok: Outcome, acked: boolean, what: string) => {
    out.total++;
    out[ok]++;
    const kept = ok === 'stored' || ok === 'replaced';
    if (!kept && acked) out.lost++;
    if (!kept && out.examples.length < 5) out.examples.push(`${what} ${ok}${acked ? ' (acknowledged)' : ''}`);
  };
  if (ledger.slices.length) {
    const maxMeter = Math.max(...ledger.slices.map((s) => s.slice.meter0 + s.slice.meters));
    const fromHour = Math.min(...ledger.slices.map((s) => s.slice.hour0));
    const toHour = Math.max(...ledger.slices.map((s) => s.slice.hour0 + s.slice.hours));
    for (let b0 = 0; b0 < maxMeter; b0 += METER_BLOCK) {
      const b1 = Math.min(maxMeter, b0 + METER_BLOCK);
      const slices = ledger.slices.filter((s) => s.slice.meter0 < b1 && s.slice.meter0 + s.slice.meters > b0);
      if (slices.length === 0) continue;
      const ids = Array.from({ length: b1 - b0 }, (_, k) => chaosMeterId(b0 + k));
      const stored = await currentValues(database, ids, data.startMs(fromHour), data.startMs(toHour));
      for (const { slice: s, acked } of slices) {
        for (let m = Math.max(b0, s.meter0); m < Math.min(b1, s.meter0 + s.meters); m++) {
          for (let h = s.hour0; h < s.hour0 + s.hours; h++) {
            note(outcome(stored.get(`${chaosMeterId(m)}|${data.startMs(h)}`), data.value(m, h)), acked, `${chaosMeterId(m)} ${data.start(h)} (${s.shape})`);
          }
        }
      }
    }
  }
  if (ledger.extras.length) {
    const rows = ledger.extras;
    const times = rows.map((r) => Date.parse(r.row.start));
    const stored = await currentValues(database, [...new Set(rows.map((r) => r.row.meter))], Math.min(...times), Math.max(...times) + 1);
    for (const { row, acked } of rows) {
      note(outcome(stored.get(`${row.meter}|${Date.parse(row.start)}`), row.value), acked, `${row.meter} ${row.start} (conflict's original)`);
    }
  }
  return out;
}

const ESTIMATED = qualityCode('estimated');

type Outcome = 'stored' | 'replaced' | 'wrong' | 'estimated' | 'missing';

interface Versions {
  readonly value: number;
  readonly quality: number;
  /** Values of the earlier versions. */
  readonly history: readonly number[];
}

function outcome(v: Versions | undefined, sent: number): Outcome {
  if (v === undefined) return 'missing';
  if (v.value === sent) return 'stored';
  if (v.history.includes(sent)) return 'replaced';
  return v.quality === ESTIMATED ? 'estimated' : 'wrong';
}

/** Current value, quality and earlier values of the meters' active_import rows in [fromMs, toMs). */
async function currentValues(database: Database, meters: readonly string[], fromMs: number, toMs: number): Promise<Map<string, Versions>> {
  const { rows } = await sql<{ meter: string; ms: string | number; value: number; quality: number; history: number[] | null }>`
    SELECT m.external_id AS meter, (extract(epoch FROM r.start) * 1000)::bigint AS ms, r.value, r.quality,
           (SELECT array_agg(h.value) FROM reading_history h WHERE h.meter_id = r.meter_id AND h.channel = r.channel AND h.start = r.start AND r.version > 1) AS history
    FROM readings r JOIN meters m ON m.id = r.meter_id
    WHERE r.channel = 1 AND m.external_id = ANY(${meters}::text[]) AND r.start >= ${new Date(fromMs)} AND r.start < ${new Date(toMs)}`.execute(database.db);
  return new Map(rows.map((r) => [`${r.meter}|${Number(r.ms)}`, { value: Number(r.value), quality: Number(r.quality), history: (r.history ?? []).map(Number) }]));
}

export interface IntegrityCheck {
  /** Keys with more than one current row (the primary key should make this 0). */
  readonly duplicateKeys: number;
  /**
   * Versions of bench meters' rows that repeat the value and quality of the
   * version before them: an identical resend (HTTP retry, MQTT redelivery)
   * that made a version. VEE's own versions (measured → validated) change
   * the quality and are not counted.
   */
  readonly identicalVersions: number;
  /** All versions past the first, whatever made them (VEE, corrections). */
  readonly laterVersions: number;
}

export async function checkIntegrity(database: Database): Promise<IntegrityCheck> {
  const {
    rows: [r],
  } = await sql<{ dup: number; identical: number; later: number }>`
    WITH chaos AS (SELECT id FROM meters WHERE external_id LIKE 'CHAOS%'),
    v AS (
      SELECT meter_id, channel, start, version, value, quality FROM reading_history WHERE meter_id IN (SELECT id FROM chaos)
      UNION ALL
      SELECT meter_id, channel, start, version, value, quality FROM readings WHERE meter_id IN (SELECT id FROM chaos) AND version > 1
    )
    SELECT (SELECT count(*) FROM (SELECT 1 FROM readings GROUP BY meter_id, channel, start HAVING count(*) > 1) d)::int AS dup,
           (SELECT count(*) FROM v a JOIN v b ON b.meter_id = a.meter_id AND b.channel = a.channel AND b.start = a.start AND b.version = a.version + 1
             WHERE a.value = b.value AND a.quality = b.quality)::int AS identical,
           (SELECT count(*) FROM v WHERE version > 1)::int AS later`.execute(database.db);
  return { duplicateKeys: r.dup, identicalVersions: r.identical, laterVersions: r.later };
}

export interface DeadLetters {
  /** Marker seq → reasons of the dead letters that carry it. */
  readonly bySeq: Map<number, string[]>;
  /** MQTT messages dead-lettered whole, by the ack id their payload starts with (`{"id":N,…`): id → reason. */
  readonly wholeMessages: Map<number, string>;
  /** Dead letters read (since the id given). */
  readonly rows: number;
  /** Dead letters without a reason. */
  readonly withoutReason: number;
  readonly lastId: number;
}

/**
 * The dead letters with id > `afterId`, indexed by the poison markers in
 * their meter, topic or payload excerpt, and whole MQTT messages by the ack id
 * at the start of their payload (a marker deep in a big message may lie past
 * the stored excerpt).
 */
export async function readDeadLetters(database: Database, afterId: number): Promise<DeadLetters> {
  const bySeq = new Map<number, string[]>();
  const wholeMessages = new Map<number, string>();
  let rows = 0;
  let withoutReason = 0;
  let lastId = afterId;
  for (;;) {
    const { rows: page } = await sql<{ id: string | number; payload: string; meter: string | null; topic: string | null; reason: string; row_index: number | null }>`
      SELECT id, left(payload, 8192) AS payload, left(meter, 1024) AS meter, topic, reason, row_index FROM rejects WHERE id > ${lastId} ORDER BY id LIMIT 5000`.execute(database.db);
    if (page.length === 0) break;
    for (const r of page) {
      rows++;
      lastId = Number(r.id);
      if (!r.reason || r.reason.trim() === '') withoutReason++;
      const whole = r.row_index === null ? /^\{"id":(\d+),/.exec(r.payload) : null;
      if (whole && r.reason) wholeMessages.set(Number(whole[1]), r.reason);
      for (const seq of new Set([...markersIn(r.meter), ...markersIn(r.topic), ...markersIn(r.payload)])) {
        const list = bySeq.get(seq) ?? [];
        if (r.reason) list.push(r.reason);
        bySeq.set(seq, list);
      }
    }
  }
  return { bySeq, wholeMessages, rows, withoutReason, lastId };
}

/** Highest dead-letter id so far (0 when none), to read a later phase's own. */
export async function lastDeadLetterId(database: Database): Promise<number> {
  const {
    rows: [r],
  } = await sql<{ id: string | number | null }>`SELECT max(id) AS id FROM rejects`.execute(database.db);
  return Number(r.id ?? 0);
}

export const goodRowsOf = (ledger: GoodLedger): number => ledger.slices.reduce((a, s) => a + sliceRows(s.slice), 0) + ledger.extras.length;
