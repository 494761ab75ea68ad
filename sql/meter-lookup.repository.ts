import { sql } from 'kysely';
import type { Database } from './database.js';

/** What ingest needs to know about a meter to validate a row. */
export interface MeterRef {
  readonly id: number;
  readonly externalId: string;
  readonly timezone: string;
  readonly intervalMinutes: number;
  readonly group: string | null;
}

/** Loads the meters named in a batch, keyed by external id; absent ids are simply missing. */
export async function findMeterRefs(database: Database, externalIds: readonly string[]): Promise<Map<string, MeterRef>> {
  const out = new Map<string, MeterRef>();
  if (externalIds.length === 0) return out;
  const rows = await database.db
    .selectFrom('meters')
    .select(['id', 'external_id', 'timezone', 'interval_minutes', 'group'])
    .where(sql<boolean>`external_id = any(${externalIds as string[]}::text[])`)
    .execute();
  for (const r of rows) {
    out.set(r.external_id, { id: r.id, externalId: r.external_id, timezone: r.timezone, intervalMinutes: r.interval_minutes, group: r.group });
  }
  return out;
}
