import type { Database, Flavour, RawSql } from './database.js';
import { MIGRATIONS, type Migration } from './migrations/index.js';

export interface MigrateResult {
  flavour: Flavour;
  applied: string[];
}

const LOCK_KEY = 7_242_001; // pg_advisory_lock id: one migrator at a time across instances

/**
 * Applies pending migrations and settles the storage flavour. The flavour is
 * chosen once (TimescaleDB when the extension can be created) and stored in
 * mdm_settings, so a database never switches flavour under its data.
 */
export async function migrate(database: Database, log: (msg: string) => void = () => {}, migrations: readonly Migration[] = MIGRATIONS): Promise<MigrateResult> {
  const result = await database.session(
    async ({ raw: s }) => {
      // Migrations are raw SQL by design (DDL, scripts, BEGIN/COMMIT per step).
      if (database.engine === 'pg') await s.query(`SELECT pg_advisory_lock(${LOCK_KEY})`);
      try {
        await s.query(`CREATE TABLE IF NOT EXISTS mdm_migrations (id integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
        await s.query(`CREATE TABLE IF NOT EXISTS mdm_settings (key text PRIMARY KEY, value text NOT NULL)`);
        const flavour = await settleFlavour(s, log);
        const done = new Set((await s.query<{ id: number }>('SELECT id FROM mdm_migrations')).map((r) => r.id));
        const applied: string[] = [];
        for (const m of migrations) {
          if (done.has(m.id)) continue;
          const tx = m.transaction !== false;
          if (tx) await s.query('BEGIN');
          try {
            await m.up(s, flavour);
            await s.query('INSERT INTO mdm_migrations (id, name) VALUES ($1, $2)', [m.id, m.name]);
            if (tx) await s.query('COMMIT');
          } catch (err) {
            if (tx) await s.query('ROLLBACK').catch(() => {});
            throw new Error(`migration ${m.id}-${m.name} failed: ${(err as Error).message}`, { cause: err });
          }
          applied.push(`${m.id}-${m.name}`);
          log(`applied migration ${m.id}-${m.name} (${flavour})`);
        }
        return { flavour, applied };
      } finally {
        if (database.engine === 'pg') await s.query(`SELECT pg_advisory_unlock(${LOCK_KEY})`);
      }
    },
    { transaction: false },
  );
  database.flavour = result.flavour;
  return result;
}

async function settleFlavour(s: RawSql, log: (msg: string) => void): Promise<Flavour> {
  const stored = await s.query<{ value: string }>(`SELECT value FROM mdm_settings WHERE key = 'flavour'`);
  if (stored.length) return stored[0].value as Flavour;
  let flavour: Flavour = 'postgres';
  const available = await s.query(`SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'`);
  if (available.length) {
    try {
      await s.query('CREATE EXTENSION IF NOT EXISTS timescaledb');
      flavour = 'timescaledb';
    } catch (err) {
      log(`timescaledb is installed but could not be enabled (${(err as Error).message}); using plain PostgreSQL`);
    }
  }
  await s.query(`INSERT INTO mdm_settings (key, value) VALUES ('flavour', $1) ON CONFLICT (key) DO NOTHING`, [flavour]);
  return flavour;
}
