import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import { maintainBillingRollup } from '../sql/billing-rollup.repository.js';
import type { Database } from '../sql/database.js';
import { formatInstant } from '../models/time.js';
import { seededRandom } from '../models/random.js';
import { loadNow, median } from './bench.js';
import type { BenchService } from './bench-service.js';
import { copyText, timeRawCopy } from './copy-baseline.js';
import { startCpuMeter } from './cpu-meter.js';
import { BENCH_TZ } from './load-profile.js';
import { postBatches, timeGets } from './post-batches.js';
import { hourStartMs, postRows, requestBodies, storedRows, type ValueOf } from './scale-load.js';

/**
 * What the scale bench measures at one size of readings, through the
 * service's HTTP API (bench/bench-service.ts: the real routes, in process):
 * a fresh batch posted beside a raw text COPY of it, one meter-month read of
 * random meters, a group's month aggregate, the billing pull, and the bytes
 * a stored reading takes.
 */
const REQUEST_TIMEOUT_MS = 300_000;
const AGGREGATE_RUNS = 5;
const BILLING_RUNS = 3;
/** January 2019: hours 0–743 since BENCH_FROM_MS (Istanbul, UTC+3 all year). */
export const MONTH = { period: '2019-01', from: 0, to: 744 } as const;
const FRESH_HOURS = 720;

const monthRange = () => `from=${encodeURIComponent(formatInstant(hourStartMs(MONTH.from), BENCH_TZ))}&to=${encodeURIComponent(formatInstant(hourStartMs(MONTH.to), BENCH_TZ))}`;

export interface Meters {
  /** External ids, by bench index. */
  readonly external: readonly string[];
  /** Database ids, by bench index. */
  readonly ids: readonly number[];
  /** The first `aggregate` meters form group AGG_GROUP. */
  readonly aggregate: number;
}

export const AGG_GROUP = 'scale-agg';

export interface IngestFigures {
  /** rows/s of raw text COPY of the batch into an empty copy of readings, before and after the service's run. */
  readonly copyText: number[];
  readonly service: number;
  /** CPU µs per row of the service's run: this process (HTTP, JSON, checks, encoding) and the database backends (null on PGlite). */
  readonly cpuSelf: number;
  readonly cpuBackend: number | null;
  readonly rows: number;
}

/**
 * A fresh batch (the first `meters` meters × 720 h from hour `from`, rows no
 * stored value has) through POST /v1/readings, between two raw text COPYs of
 * the same rows into an empty table LIKE readings (bench/copy-baseline.ts).
 */
export async function measureIngest(
  database: Database,
  service: BenchService,
  meters: Meters,
  count: number,
  from: number,
  valueAt: ValueOf,
  p: { batchRows: number; concurrency: number },
): Promise<IngestFigures> {
  const posted = postRows(meters.external, 0, count, from, from + FRESH_HOURS, valueAt);
  const stored = storedRows(meters.ids, 0, count, from, from + FRESH_HOURS, valueAt);
  const data = { rows: stored, text: copyText(stored, (_, i) => posted[i].start) };
  const bodies = requestBodies(posted, p.batchRows);
  const rate = (ms: number) => (posted.length / ms) * 1000;
  const copyText1 = rate(await timeRawCopy(database, data, 'text'));
  const stop = await startCpuMeter(database);
  const t = await postBatches(`${service.url}/v1/readings`, service.keys.gateway, bodies, p.concurrency, REQUEST_TIMEOUT_MS);
  const use = await stop();
  if (t.accepted !== posted.length || t.unchanged || t.superseded || t.rejected) throw new Error(`fresh batch: expected ${posted.length} accepted rows, got ${JSON.stringify(t)}`);
  const copyText2 = rate(await timeRawCopy(database, data, 'text'));
  return {
    copyText: [copyText1, copyText2],
    service: rate(t.ms),
    cpuSelf: (use.self / posted.length) * 1e6,
    cpuBackend: use.backend === null ? null : (use.backend / posted.length) * 1e6,
    rows: posted.length,
  };
}

/** POSTs rows that go nowhere near the measured ones (another channel) so that the first measured batch finds the hot paths compiled. */
export async function warmUp(service: BenchService, meters: Meters, count: number, valueAt: ValueOf, p: { batchRows: number; concurrency: number }): Promise<void> {
  const rows = postRows(meters.external, 0, count, 0, FRESH_HOURS, valueAt, 'active_export');
  const t = await postBatches(`${service.url}/v1/readings`, service.keys.gateway, requestBodies(rows, p.batchRows), p.concurrency, REQUEST_TIMEOUT_MS);
  if (t.accepted !== rows.length) throw new Error(`warm-up: expected ${rows.length} accepted rows, got ${JSON.stringify(t)}`);
}

/** GET /v1/meters/:id/readings, raw, January, one request each for `count` meters drawn at random; each answer must hold 744 rows. */
export async function measureMeterMonthReads(service: BenchService, meters: Meters, count: number, seed: number): Promise<number[]> {
  const rand = seededRandom(seed);
  const ms: number[] = [];
  for (let i = 0; i < count; i++) {
    const id = meters.external[Math.floor(rand() * meters.external.length)];
    const {
      ms: [t],
      body,
    } = await timeGets(`${service.url}/v1/meters/${id}/readings?channel=active_import&${monthRange()}`, service.keys.trader, 1, REQUEST_TIMEOUT_MS);
    const n = (body as { rows: unknown[] }).rows.length;
    if (n !== MONTH.to - MONTH.from) throw new Error(`meter-month read of ${id}: ${n} rows, expected ${MONTH.to - MONTH.from}`);
    ms.push(t);
  }
  return ms;
}

/** Wall times of the requests, and CPU ms per request: this process and the client backends (parallel workers are not counted: they are gone before /proc can be read). */
export interface Timed {
  readonly ms: number[];
  readonly cpuMs: number;
}

async function timedGets(database: Database, url: string, key: string, runs: number): Promise<Timed & { body: unknown }> {
  const stop = await startCpuMeter(database);
  const { ms, body } = await timeGets(url, key, runs, REQUEST_TIMEOUT_MS);
  const use = await stop();
  return { ms, body, cpuMs: ((use.self + (use.backend ?? 0)) / runs) * 1000 };
}

/** GET /v1/aggregate group=AGG_GROUP, January by day; its sum checked. */
export async function measureAggregate(database: Database, service: BenchService, meters: Meters, expected: number): Promise<Timed> {
  const url = `${service.url}/v1/aggregate?group=${AGG_GROUP}&channel=active_import&${monthRange()}&interval=day`;
  const { ms, body, cpuMs } = await timedGets(database, url, service.keys.trader, AGGREGATE_RUNS);
  const out = body as { meterCount: number; rows: { value: number; intervals: number }[] };
  const sum = out.rows.reduce((a, r) => a + r.value, 0);
  const intervals = out.rows.reduce((a, r) => a + r.intervals, 0);
  const want = meters.aggregate * (MONTH.to - MONTH.from);
  if (out.meterCount !== meters.aggregate || intervals !== want || Math.abs(sum - expected) > 1e-6 * expected) {
    throw new Error(`aggregate: ${out.meterCount} meters, ${intervals} intervals, Σ ${sum} (expected ${meters.aggregate}, ${want}, ${expected})`);
  }
  return { ms, cpuMs };
}

/**
 * Brings the billing rollup up to date as the billing component would
 * (maintainBillingRollup: adopts meters a COPY loaded, recomputes the days
 * marked dirty), then VACUUM ANALYZE of its tables. Returns ms and meter days.
 */
export async function catchUpRollup(database: Database): Promise<{ ms: number; days: number; adopted: number }> {
  const t0 = performance.now();
  const r = await maintainBillingRollup(database);
  const ms = performance.now() - t0;
  // As autovacuum would (the bench server runs with it off): a catch-up of millions of days leaves billing_dirty
  // all dead rows, which the billing pull's scan of it reads until vacuumed. billing_monthly: migration 019.
  const { rows } = await sql<{ t: string }>`SELECT t FROM unnest(ARRAY['billing_daily', 'billing_dirty', 'billing_monthly']) AS t WHERE to_regclass(t) IS NOT NULL`.execute(database.db);
  for (const { t } of rows) await sql`VACUUM ANALYZE ${sql.table(t)}`.execute(database.db);
  return { ms, days: r.refreshed, adopted: r.adopted };
}

/** GET /v1/billing/consumption?period=2019-01 for every registered meter; meter count and Σ activeImport checked. */
export async function measureBilling(database: Database, service: BenchService, meters: Meters, expected: number): Promise<Timed> {
  const { ms, body, cpuMs } = await timedGets(database, `${service.url}/v1/billing/consumption?period=${MONTH.period}`, service.keys.admin, BILLING_RUNS);
  const out = body as { meters: { activeImport: number; completeness: number }[] };
  const total = out.meters.reduce((a, m) => a + m.activeImport, 0);
  const incomplete = out.meters.filter((m) => m.completeness !== 1).length;
  if (out.meters.length !== meters.ids.length || incomplete || Math.abs(total - expected) > 1e-6 * expected) {
    throw new Error(`billing: ${out.meters.length} meters, ${incomplete} incomplete, Σ activeImport ${total} (expected ${meters.ids.length}, 0, ${expected})`);
  }
  return { ms, cpuMs };
}

export interface Storage {
  readonly rows: number;
  /** Bytes of readings: heap (with TOAST and free space map) and its indexes. */
  readonly heap: number;
  readonly index: number;
  readonly perRow: number;
}

/** pg_total_relation_size of readings (heap + indexes) ÷ its rows, after VACUUM. */
export async function readingsStorage(database: Database): Promise<Storage> {
  const {
    rows: [r],
  } = await sql<{ rows: number; total: number; index: number }>`
    SELECT (SELECT count(*) FROM readings)::int8 AS rows, pg_total_relation_size('readings') AS total, pg_indexes_size('readings') AS index`.execute(database.db);
  return { rows: r.rows, heap: r.total - r.index, index: r.index, perRow: r.total / r.rows };
}

/** As autovacuum would after a load; the vacuum also sets the visibility map that index-only scans need. */
export async function vacuumReadings(database: Database, log: (line: string) => void, tag: string): Promise<void> {
  const t0 = performance.now();
  await sql`VACUUM ANALYZE readings`.execute(database.db);
  await sql`ANALYZE meters`.execute(database.db);
  log(`${tag}: VACUUM ANALYZE readings ${((performance.now() - t0) / 1000).toFixed(1)} s (load ${loadNow()})`);
}

export const describeMs = (xs: readonly number[]): string => `median ${median(xs).toFixed(0)} ms of ${xs.length}`;
