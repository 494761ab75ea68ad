import { sql } from 'kysely';
import type { Database } from './database.js';

/** Resolves when the database answers a trivial query; rejects with the driver's error otherwise (GET /health). */
export async function pingDatabase(database: Database): Promise<void> {
  await sql`SELECT 1`.execute(database.db);
}
