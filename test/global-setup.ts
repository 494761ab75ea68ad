/**
 * Vitest globalSetup: lets freshDatabase() (test/helpers.ts) copy a migrated
 * database instead of running initdb and every migration for each one.
 *
 * - embedded / timescaledb (PGlite): a temporary directory for the templates.
 *   The first freshDatabase() of a flavour that finds no template migrates a
 *   new database as before and writes its `dumpDataDir()` there; later ones
 *   open a copy with `loadDataDir`. A run that never opens a PGlite database
 *   pays nothing.
 * - server (TEST_DATABASE_URL): a migrated template database, named per run
 *   (`mdm_tmpl_<pid>_<time>`), with connections disallowed so that
 *   `CREATE DATABASE … TEMPLATE` never finds it in use. Templates of runs
 *   older than STALE_MS (killed runs) are dropped first.
 *
 * Teardown removes the directory and drops this run's template and the
 * copies of it that the workers kept for reuse (`<template>_w<pid>_<n>`,
 * test/database-pool.ts).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { TestProject } from 'vitest/node';
import { createPgDatabase, type Database } from '../sql/database.js';
import { migrate } from '../sql/migrator.js';

/** What the setup hands to the test workers (read with `inject('mdmTemplates')`). */
export interface MdmTemplates {
  /**
   * Directory for the PGlite flavours' templates: `<flavour>.tar`, the
   * `dumpDataDir()` of a just-migrated database, written by the first
   * freshDatabase() of the run that had to migrate one (test/helpers.ts).
   */
  dir?: string;
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

async function admin<T>(base: string, fn: (q: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>): Promise<T> {
  const a: Database = await createPgDatabase(base, { max: 1 });
  try {
    return await fn(async (text) => (await sql.raw<Record<string, unknown>>(text).execute(a.db)).rows);
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
      const born = new RegExp(`^${TEMPLATE_PREFIX}\\d+_([0-9a-z]+)(_w\\d+_\\d+)?$`).exec(datname)?.[1]; // a template, or a worker's copy of it
      if (born && now - parseInt(born, 36) > STALE_MS) await q(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => {});
    }
    await q(`CREATE DATABASE ${name}`);
  });
  try {
    const database = await createPgDatabase(withDatabase(base, name), { max: 1 });
    try {
      await migrate(database);
    } finally {
      await database.close(); // CREATE DATABASE … TEMPLATE needs the template free of connections
    }
    await admin(base, (q) => q(`ALTER DATABASE ${name} WITH ALLOW_CONNECTIONS false`));
  } catch (err) {
    await admin(base, (q) => q(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch(() => {});
    throw err;
  }
  return name;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'mdm-test-templates-'));
  const base = process.env.TEST_DATABASE_URL;
  let server: string | undefined;
  if (base) {
    try {
      server = await serverTemplate(base);
    } catch (err) {
      // The server tests then create and migrate their databases as before (and fail there if the server is down).
      console.warn(`[global-setup] no server template: ${(err as Error).message}`);
    }
  }
  project.provide('mdmTemplates', { dir, server });
  return async () => {
    await rm(dir, { recursive: true, force: true });
    if (base && server) {
      await admin(base, async (q) => {
        // The copies the workers kept for reuse (test/database-pool.ts), then the template.
        const copies = (await q(`SELECT datname FROM pg_database WHERE starts_with(datname, '${server}_w')`)) as { datname: string }[];
        for (const { datname } of copies) await q(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => {});
        await q(`DROP DATABASE IF EXISTS ${server} WITH (FORCE)`);
      }).catch(() => {});
    }
  };
}
