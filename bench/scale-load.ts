import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import type { Database } from '../sql/database.js';
import { toCopyBinary } from '../sql/reading-write.repository.js';
import type { NormalizedReading } from '../models/reading.js';
import { seededRandom } from '../models/random.js';
import { formatInstant } from '../models/time.js';
import { loadNow } from './bench.js';
import { BENCH_FROM_MS, BENCH_TZ, loadBuildingSeries } from './load-profile.js';

/**
 * Data of the scale bench (issue 14 §4): hourly active import of `meters`
 * meters from 2019-01-01 00:00 Istanbul on, meter i following Cambridge
 * building i mod N (2019 wraps after 8 760 h) with ±10 % noise. The noise of
 * (meter, hour) is a function of both alone, so a row is the same value
 * whichever load, batch or baseline produces it, and expected sums can be
 * computed without the rows.
 */
const HOUR_MS = 3_600_000;
const YEAR_HOURS = 8_760;
/** Rows per COPY statement (~18 MB binary). */
const COPY_ROWS = 400_000;
const PROGRESS_MS = 30_000;
const COPY_STREAMS = 2;

export interface PostRow {
  readonly meter: string;
  readonly channel: string;
  readonly start: string;
  readonly value: number;
}

export type ValueOf = (meter: number, hour: number) => number;

/** Value of meter `m` (0-based) at hour `h` since BENCH_FROM_MS, kWh to Wh resolution. */
export function scaleValues(dataDir: string): ValueOf {
  const series = loadBuildingSeries(dataDir, YEAR_HOURS);
  return (m, h) => Math.round(series[m % series.length][h % YEAR_HOURS] * (0.9 + 0.2 * seededRandom(m * 1_048_576 + h)()) * 1000) / 1000;
}

export const hourStartMs = (h: number): number => BENCH_FROM_MS + h * HOUR_MS;

/** Hours [from, to) of meters [first, last), meter-major, as POST /v1/readings rows (start text as a head-end would send it). */
export function postRows(meterIds: readonly string[], first: number, last: number, from: number, to: number, valueAt: ValueOf, channel = 'active_import'): PostRow[] {
  const starts = Array.from({ length: to - from }, (_, i) => formatInstant(hourStartMs(from + i), BENCH_TZ));
  const rows: PostRow[] = [];
  for (let m = first; m < last; m++) for (let h = from; h < to; h++) rows.push({ meter: meterIds[m], channel, start: starts[h - from], value: valueAt(m, h) });
  return rows;
}

/** JSON bodies `{"readings": […]}` of `batchRows` rows each, serialised before any clock starts. */
export function requestBodies(rows: readonly PostRow[], batchRows: number): Uint8Array<ArrayBuffer>[] {
  const utf8 = new TextEncoder();
  const out: Uint8Array<ArrayBuffer>[] = [];
  for (let i = 0; i < rows.length; i += batchRows) out.push(utf8.encode(JSON.stringify({ readings: rows.slice(i, i + batchRows) })));
  return out;
}

/** The same rows as readings stores them (meter ids resolved; 60-minute, measured, http). */
export function storedRows(ids: readonly number[], first: number, last: number, from: number, to: number, valueAt: ValueOf): NormalizedReading[] {
  const rows: NormalizedReading[] = [];
  for (let m = first; m < last; m++) {
    for (let h = from; h < to; h++) rows.push({ meterId: ids[m], channel: 1, startMs: hourStartMs(h), value: valueAt(m, h), intervalMinutes: 60, quality: 0, source: 0 });
  }
  return rows;
}

/** Σ value over meters [0, meters) and hours [from, to): what a month's aggregate and billing must add up to. */
export function expectedSum(meters: number, from: number, to: number, valueAt: ValueOf): number {
  let total = 0;
  for (let m = 0; m < meters; m++) for (let h = from; h < to; h++) total += valueAt(m, h);
  return total;
}

export interface CopySpec {
  /** Database ids of the meters, by bench index. */
  readonly ids: readonly number[];
  readonly hours: { readonly from: number; readonly to: number };
  /** Rows already stored (a previous size's fresh batch): left out. */
  readonly skip?: (meter: number, hour: number) => boolean;
  /** Mark the local days written dirty for the billing rollup (billing_dirty), as ingest marks the days it writes. */
  readonly markDirty: boolean;
  readonly batchId: number;
}

/**
 * The meter days the load wrote, marked dirty in one statement: what ingest
 * does batch by batch (sql/billing-rollup.repository.ts markDirtyDays), so
 * that maintenance rolls them up. Every meter's local days in the hours, in
 * the meters' own zones.
 */
async function markDays(database: Database, spec: CopySpec): Promise<void> {
  const from = new Date(hourStartMs(spec.hours.from));
  const last = new Date(hourStartMs(spec.hours.to - 1));
  await sql`
    INSERT INTO billing_dirty (meter_id, local_date)
    SELECT m.id, d::date
    FROM meters m CROSS JOIN LATERAL generate_series((${from}::timestamptz AT TIME ZONE m.timezone)::date, (${last}::timestamptz AT TIME ZONE m.timezone)::date, interval '1 day') d
    WHERE m.id = ANY(${spec.ids as number[]}::int[])
    ORDER BY 1, 2
    ON CONFLICT (meter_id, local_date) DO NOTHING`.execute(database.db);
}

/**
 * Binary COPY straight into readings (the bench's load, not its measure:
 * the billing bench's copyReadings on any size), meter-major in statements
 * of ~COPY_ROWS rows, two at a time. Returns rows written and milliseconds.
 */
export async function copyHours(database: Database, valueAt: ValueOf, spec: CopySpec, log: (line: string) => void, tag: string): Promise<{ rows: number; ms: number }> {
  const span = spec.hours.to - spec.hours.from;
  const metersPerCopy = Math.max(1, Math.floor(COPY_ROWS / span));
  const total = spec.ids.length * span;
  let rows = 0;
  const t0 = performance.now();
  let lastLog = t0;
  let next = 0;
  // Two statements in flight on the server: one encodes here while the other's backend inserts (PGlite runs them one after the other).
  const worker = async () => {
    while (next < spec.ids.length) {
      const first = next;
      const last = Math.min(first + metersPerCopy, spec.ids.length);
      next = last;
      const chunk: NormalizedReading[] = [];
      for (let m = first; m < last; m++) {
        const meterId = spec.ids[m];
        for (let h = spec.hours.from; h < spec.hours.to; h++) {
          if (spec.skip?.(m, h)) continue;
          chunk.push({ meterId, channel: 1, startMs: hourStartMs(h), value: valueAt(m, h), intervalMinutes: null, quality: 0, source: 0 });
        }
      }
      await database.session(
        (s) => s.raw.copyFrom('COPY readings (meter_id, channel, start, value, interval_minutes, quality, source, batch_id) FROM STDIN (FORMAT binary)', toCopyBinary(chunk, spec.batchId)),
        { transaction: false },
      );
      rows += chunk.length;
      const now = performance.now();
      if (now - lastLog > PROGRESS_MS) {
        lastLog = now;
        const k = rows / ((now - t0) / 1000);
        log(
          `${tag}: COPY ${rows.toLocaleString('en-US')} / ~${total.toLocaleString('en-US')} rows, ${Math.round(k).toLocaleString('en-US')} rows/s, ~${Math.round((total - rows) / k)} s left (load ${loadNow()})`,
        );
      }
    }
  };
  await Promise.all(Array.from({ length: COPY_STREAMS }, worker));
  if (spec.markDirty) await markDays(database, spec);
  const ms = performance.now() - t0;
  log(
    `${tag}: COPY of ${rows.toLocaleString('en-US')} rows (hours ${spec.hours.from}–${spec.hours.to}) in ${(ms / 1000).toFixed(1)} s, ${Math.round((rows / ms) * 1000).toLocaleString('en-US')} rows/s (load ${loadNow()})`,
  );
  return { rows, ms };
}
