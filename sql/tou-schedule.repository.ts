import { sql } from 'kysely';
import type { TouSchedule } from '../models/tou.js';
import type { Database } from './database.js';

/** Stored TOU schedules (every tariff, every effective date), by tariff then effective date. */
export async function listTouSchedules(database: Database): Promise<TouSchedule[]> {
  const rows = await database.db
    .selectFrom('tou_schedules')
    .select(['tariff', 'effective_from', 'buckets'])
    .orderBy('tariff')
    .orderBy('effective_from')
    .execute();
  return rows.map((r) => ({ tariff: r.tariff, effectiveFrom: r.effective_from, buckets: r.buckets }));
}

/** Stores a schedule; one with the same tariff and effective date is replaced. True when it was new. */
export async function putTouSchedule(database: Database, schedule: TouSchedule, by: string): Promise<boolean> {
  const { rows } = await sql<{ inserted: boolean }>`
    INSERT INTO tou_schedules (tariff, effective_from, buckets, created_by)
    VALUES (${schedule.tariff}, ${schedule.effectiveFrom}, ${JSON.stringify(schedule.buckets)}::jsonb, ${by})
    ON CONFLICT (tariff, effective_from) DO UPDATE SET buckets = excluded.buckets, created_by = excluded.created_by, created_at = now()
    RETURNING (xmax = 0) AS inserted`.execute(database.db);
  return rows[0].inserted;
}
