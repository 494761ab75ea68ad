import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../models/config.js';
import { createEmbeddedDatabase, createPgDatabase, redact, type Database } from '../sql/database.js';
import { migrate } from '../sql/migrator.js';
import { loadChannelRegistry } from '../ingest/channel-registry.js';
import { acquireDataDirLock } from './data-dir-lock.js';

export interface OpenedDatabase {
  readonly database: Database;
  /** e.g. `embedded PGlite in ./data/pgdata, postgres flavour`. */
  readonly description: string;
  /** Migrations applied by this open. */
  readonly applied: readonly string[];
  /** Closes the database and releases the data-dir lock. */
  close(): Promise<void>;
}

/**
 * Opens the database the configuration names and migrates it: the PostgreSQL
 * server at DATABASE_URL, or else the embedded PGlite in
 * `$MDM_DATA_DIR/pgdata` (created on first use) under the data-dir lock.
 */
export async function openDatabase(config: Config, command: string, notice: (msg: string) => void): Promise<OpenedDatabase> {
  if (config.DATABASE_URL) {
    const database = await createPgDatabase(config.DATABASE_URL);
    try {
      const { applied, flavour } = await migrate(database, notice);
      await loadChannelRegistry(database); // user-defined channels, for the ingest paths (models/channel.ts)
      return { database, applied, description: `PostgreSQL server ${redact(config.DATABASE_URL)}, ${flavour} flavour`, close: () => database.close() };
    } catch (err) {
      await database.close().catch(() => {});
      throw err;
    }
  }
  const dir = config.MDM_DATA_DIR;
  mkdirSync(dir, { recursive: true });
  const lock = acquireDataDirLock(dir, command, { dirLabel: dir, notice });
  let database: Database | undefined;
  try {
    const pgdata = join(dir, 'pgdata');
    database = await createEmbeddedDatabase(pgdata);
    const { applied, flavour } = await migrate(database, notice);
    await loadChannelRegistry(database); // user-defined channels, for the ingest paths (models/channel.ts)
    const db = database;
    return {
      database,
      applied,
      description: `embedded PGlite in ${pgdata}, ${flavour} flavour`,
      async close() {
        try {
          await db.close();
        } finally {
          lock.release();
        }
      },
    };
  } catch (err) {
    await database?.close().catch(() => {});
    lock.release();
    throw err;
  }
}
