/**
 * Vitest globalSetup: migrates one database per storage flavour once per test
 * run, so that freshDatabase() (test/helpers.ts) clones it instead of running
 * initdb and the migrations again in every test file.
 *
 * - embedded / timescaledb (PGlite): the migrated data directory is dumped
 *   with `dumpDataDir()` to a tar file in a temporary directory (by
 *   test/dump-template.ts, one child process per flavour, in parallel); each
 *   database opens its own copy with `loadDataDir`.
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
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';
import { createPgDatabase, type Database } from '../sql/database.js';
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

/** Migrates and dumps one PGlite flavour in a child process (test/dump-template.ts): both flavours build at once on two cores. */
function pgliteDump(dir: string, flavour: 'embedded' | 'timescaledb'): Promise<string> {
  const file = join(dir, `${flavour}.tar`);
  const script = fileURLToPath(new URL('./dump-template.ts', import.meta.url));
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', script, flavour, file], { cwd: fileURLToPath(new URL('..', import.meta.url)) }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${flavour} template: ${stderr.trim() || err.message}`));
      else resolve(file);
    });
  });
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
    const rows = await q(`SELECT datname FROM pg_database WHERE starts_with(datname, '${TEMPLATE_PREFIX}')`);
    for (const { datname } of rows as { datname: string }[]) {
      const born = new RegExp(`^${TEMPLATE_PREFIX}\\d+_([0-9a-z]+)$`).exec(datname)?.[1];
      if (born && now - parseInt(born, 36) > STALE_MS) await q(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => {});
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
    orWarn('embedded', () => pgliteDump(dir, 'embedded')),
    orWarn('timescaledb', () => pgliteDump(dir, 'timescaledb')),
    base ? orWarn('server', () => serverTemplate(base)) : undefined,
  ]);
  project.provide('mdmTemplates', { embedded, timescaledb, server });
  return async () => {
    await rm(dir, { recursive: true, force: true });
    if (base && server) await admin(base, (q) => q(`DROP DATABASE IF EXISTS ${server} WITH (FORCE)`)).catch(() => {});
  };
}
