import { sql, type Kysely } from 'kysely';
import type { TouSchedule } from '../models/tou.js';
import { effectiveSchedules, touPlan, type TouPlan } from '../models/tou-plan.js';
import type { Database } from './database.js';
import type { DB } from './types.js';

/** Stored TOU schedules (every tariff, every effective date), by tariff then effective date. */
export async function listTouSchedules(database: Database): Promise<TouSchedule[]> {
  return schedulesVia(database.db);
}

async function schedulesVia(db: Kysely<DB>): Promise<TouSchedule[]> {
  const rows = await db.selectFrom('tou_schedules').select(['tariff', 'effective_from', 'buckets']).orderBy('tariff').orderBy('effective_from').execute();
  return rows.map((r) => ({ tariff: r.tariff, effectiveFrom: r.effective_from, buckets: r.buckets }));
}

/**
 * The TOU plan in force, read through `db` (a transaction: the plan then
 * belongs to the same snapshot as the figures or rollup rows built with it).
 */
export async function loadTouPlan(db: Kysely<DB>): Promise<TouPlan> {
  return touPlan(effectiveSchedules(await schedulesVia(db)));
}

/**
 * Stores a schedule (one with the same tariff and effective date is
 * replaced) and, in the same transaction, marks the rolled-up days it
 * re-buckets (meters of the tariff, from the effective date on) dirty.
 * True when the schedule was new.
 */
export async function putTouSchedule(database: Database, schedule: TouSchedule, by: string): Promise<boolean> {
  return database.db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ inserted: boolean }>`
      INSERT INTO tou_schedules (tariff, effective_from, buckets, created_by)
      VALUES (${schedule.tariff}, ${schedule.effectiveFrom}, ${JSON.stringify(schedule.buckets)}::jsonb, ${by})
      ON CONFLICT (tariff, effective_from) DO UPDATE SET buckets = excluded.buckets, created_by = excluded.created_by, created_at = now()
      RETURNING (xmax = 0) AS inserted`.execute(trx);
    await sql`
      INSERT INTO billing_dirty (meter_id, local_date)
      SELECT DISTINCT d.meter_id, d.local_date
      FROM billing_daily d JOIN meters m ON m.id = d.meter_id
      WHERE m.tariff = ${schedule.tariff} AND d.local_date >= ${schedule.effectiveFrom}::date
      ORDER BY 1, 2
      ON CONFLICT (meter_id, local_date) DO NOTHING`.execute(trx);
    return rows[0].inserted;
  });
}
