import { sql } from 'kysely';
import { createPgDatabase, redact, type Database } from '../sql/database.js';
import { migrate } from '../sql/migrator.js';

export const DEFAULT_BENCH_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';
const PREFIX = 'mdm_bench_';

export interface BenchDatabase {
  readonly database: Database;
  readonly name: string;
  readonly url: string;
  /** Closes the pool and drops the database. Safe to call twice. */
  drop(): Promise<void>;
}

async function onAdmin<T>(baseUrl: string, text: string): Promise<T[]> {
  const admin = await createPgDatabase(baseUrl, { max: 1 });
  try {
    return (await sql.raw<T>(text).execute(admin.db)).rows;
  } finally {
    await admin.close();
  }
}

/**
 * Rerun guard: drops `mdm_bench_<ms>` databases left by a run that was killed
 * before its cleanup, once they are older than `staleMs` (a live run never is,
 * since every run stops itself before that) and nobody is connected to them.
 */
export async function dropStaleBenchDatabases(baseUrl: string, nowMs: number, staleMs: number): Promise<string[]> {
  const rows = await onAdmin<{ datname: string }>(
    baseUrl,
    `SELECT datname FROM pg_database d WHERE datname LIKE '${PREFIX}%'
       AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)`,
  );
  const dropped: string[] = [];
  for (const { datname } of rows) {
    const born = Number(/^mdm_bench_(\d+)(?:_|$)/.exec(datname)?.[1]);
    if (!Number.isFinite(born) || nowMs - born < staleMs) continue;
    await onAdmin(baseUrl, `DROP DATABASE IF EXISTS ${datname}`);
    dropped.push(datname);
  }
  return dropped;
}

/** A fresh migrated database `mdm_bench_<ms>_<pid>` on the server at `baseUrl`. */
export async function createBenchDatabase(baseUrl: string, nowMs: number, opts: { max?: number } = {}): Promise<BenchDatabase> {
  const name = `${PREFIX}${nowMs}_${process.pid}`;
  try {
    await onAdmin(baseUrl, `CREATE DATABASE ${name}`);
  } catch (err) {
    throw new Error(`cannot create the bench database on ${redact(baseUrl)} (set BENCH_DATABASE_URL): ${(err as Error).message}`, { cause: err });
  }
  const url = new URL(baseUrl);
  url.pathname = `/${name}`;
  let database: Database | undefined;
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    await database?.close().catch(() => {});
    await onAdmin(baseUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  };
  try {
    database = await createPgDatabase(url.toString(), { max: opts.max });
    await migrate(database);
  } catch (err) {
    await drop().catch(() => {});
    throw err;
  }
  return { database, name, url: url.toString(), drop };
}

/**
 * What every server bench does first: drop databases killed runs left behind
 * (older than twice the bench's time bound), create a fresh migrated one and
 * register its drop with the runner's cleanup.
 */
export async function openBenchDatabase(baseUrl: string, timeoutMs: number, log: (line: string) => void, onCleanup: (fn: () => Promise<void>) => void): Promise<BenchDatabase> {
  const dropped = await dropStaleBenchDatabases(baseUrl, Date.now(), 2 * timeoutMs);
  if (dropped.length) log(`dropped bench databases left by killed runs: ${dropped.join(', ')}`);
  const bench = await createBenchDatabase(baseUrl, Date.now());
  onCleanup(bench.drop);
  return bench;
}

/** Tables a load writes to (ingest fills the validation queue and billing's dirty days in the same transaction; the background fills the rest). */
const LOAD_TABLES = ['readings', 'reading_history', 'ingest_batches', 'rejects', 'vee_queue', 'billing_dirty', 'billing_daily', 'billing_monthly', 'vee_issues', 'reading_notes'];

/** Fresh-load conditions for the next round: the load's tables emptied (meters, keys and a running service's caches stay; tables not migrated are skipped). */
export async function emptyLoadTables(database: Database): Promise<void> {
  const { rows } = await sql<{ name: string }>`SELECT t AS name FROM unnest(${LOAD_TABLES}::text[]) AS t WHERE to_regclass(t) IS NOT NULL`.execute(database.db);
  await sql`TRUNCATE ${sql.join(rows.map((p) => sql.table(p.name)))}`.execute(database.db);
}

/** Flushes the previous phase's dirty pages so that it does not bill the next one (server only; needs superuser, skipped otherwise). */
export async function checkpoint(database: Database): Promise<void> {
  if (database.engine !== 'pg') return;
  await sql`CHECKPOINT`.execute(database.db).catch(() => {});
}
