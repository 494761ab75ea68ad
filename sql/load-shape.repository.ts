import { sql } from 'kysely';
import type { Database } from './database.js';
import type { LoadShapeMetersTable } from './types.js';

/**
 * Load-shape profiles (migration 026): the meters whose daily shapes are
 * clustered, and the runs of the clustering with their profiles and
 * assignments. Readers take the newest run.
 */

/** A meter whose load shape is profiled: every electricity meter (weather stations and other commodities are not). */
export interface ShapeMeterRow {
  readonly id: number;
  readonly externalId: string;
  readonly timezone: string;
  readonly intervalMinutes: number;
  readonly multiplier: number;
  readonly profileClass: string | null;
  readonly group: string | null;
}

export async function listShapeMeters(database: Database): Promise<ShapeMeterRow[]> {
  const rows = await database.db
    .selectFrom('meters')
    .select(['id', 'external_id', 'timezone', 'interval_minutes', 'multiplier', 'profile_class', 'group'])
    .where('commodity', '=', 'electricity')
    .orderBy('external_id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    externalId: r.external_id,
    timezone: r.timezone,
    intervalMinutes: r.interval_minutes,
    multiplier: r.multiplier,
    profileClass: r.profile_class,
    group: r.group,
  }));
}

export interface StoredShapeProfile {
  readonly profile: string;
  readonly name: string;
  readonly members: number;
  /** Per season (winter, spring, summer, autumn) 72 values or null. */
  readonly shape: (number[] | null)[];
  readonly features: Record<string, number>;
}

export interface StoredShapeRun {
  readonly id: number;
  readonly computedAt: Date;
  readonly requestedBy: string | null;
  readonly params: Record<string, unknown>;
  readonly summary: Record<string, unknown>;
}

export interface ShapeAssignmentInput {
  readonly meterId: number;
  readonly profile: string;
  readonly assignedBy: LoadShapeMetersTable['assigned_by'];
  readonly distance: number | null;
  readonly seasons: readonly string[];
  readonly days: number;
}

/** Runs kept: the newest few, older ones (with their profiles and assignments) are dropped by saveShapeRun. */
export const KEEP_RUNS = 5;

/** Stores a run with its profiles and assignments in one transaction; drops runs beyond the newest KEEP_RUNS. Returns the run id. */
export async function saveShapeRun(
  database: Database,
  r: {
    readonly requestedBy: string | null;
    readonly params: object;
    readonly summary: object;
    readonly profiles: readonly StoredShapeProfile[];
    readonly assignments: readonly ShapeAssignmentInput[];
  },
): Promise<number> {
  return database.session(async ({ db }) => {
    const { id } = await db
      .insertInto('load_shape_runs')
      .values({ requested_by: r.requestedBy, params: JSON.stringify(r.params), summary: JSON.stringify(r.summary) })
      .returning('id')
      .executeTakeFirstOrThrow();
    if (r.profiles.length) {
      await db
        .insertInto('load_shape_profiles')
        .values(r.profiles.map((p) => ({ run_id: id, profile: p.profile, name: p.name, members: p.members, shape: JSON.stringify(p.shape), features: JSON.stringify(p.features) })))
        .execute();
    }
    const a = r.assignments;
    if (a.length) {
      // One statement for every meter: unnest()ed arrays (the seasons as a comma list, split back in SQL).
      await sql`
        INSERT INTO load_shape_meters (run_id, meter_id, profile, assigned_by, distance, seasons, days)
        SELECT ${id}, m, p, b, d, CASE WHEN s = '' THEN '{}'::text[] ELSE string_to_array(s, ',') END, n
        FROM unnest(${a.map((x) => x.meterId)}::int[], ${a.map((x) => x.profile)}::text[], ${a.map((x) => x.assignedBy)}::text[],
                    ${a.map((x) => x.distance)}::float8[], ${a.map((x) => x.seasons.join(','))}::text[], ${a.map((x) => x.days)}::int[]) AS t(m, p, b, d, s, n)`.execute(db);
    }
    await db.deleteFrom('load_shape_runs').where('id', 'not in', db.selectFrom('load_shape_runs').select('id').orderBy('id', 'desc').limit(KEEP_RUNS)).execute();
    return id;
  });
}

/** The newest run, or undefined before the first. */
export async function latestShapeRun(database: Database): Promise<StoredShapeRun | undefined> {
  const r = await database.db.selectFrom('load_shape_runs').selectAll().orderBy('id', 'desc').limit(1).executeTakeFirst();
  return r && { id: r.id, computedAt: r.computed_at, requestedBy: r.requested_by, params: r.params as Record<string, unknown>, summary: r.summary as Record<string, unknown> };
}

export async function listShapeProfiles(database: Database, runId: number): Promise<StoredShapeProfile[]> {
  const rows = await database.db.selectFrom('load_shape_profiles').selectAll().where('run_id', '=', runId).orderBy('members', 'desc').orderBy('profile').execute();
  return rows.map((r) => ({ profile: r.profile, name: r.name, members: r.members, shape: r.shape, features: r.features as Record<string, number> }));
}

export interface StoredShapeAssignment {
  readonly meter: string;
  readonly profile: string;
  readonly assignedBy: LoadShapeMetersTable['assigned_by'];
  readonly distance: number | null;
  readonly seasons: string[];
  readonly days: number;
}

/** Assignments of a run by external meter id (one meter, one profile, or all), meter order, at most `limit`. */
export async function listShapeAssignments(database: Database, p: { runId: number; meter?: string; profile?: string; limit: number; after?: string }): Promise<StoredShapeAssignment[]> {
  let q = database.db
    .selectFrom('load_shape_meters as l')
    .innerJoin('meters as m', 'm.id', 'l.meter_id')
    .select(['m.external_id', 'l.profile', 'l.assigned_by', 'l.distance', 'l.seasons', 'l.days'])
    .where('l.run_id', '=', p.runId);
  if (p.meter !== undefined) q = q.where('m.external_id', '=', p.meter);
  if (p.profile !== undefined) q = q.where('l.profile', '=', p.profile);
  if (p.after !== undefined) q = q.where('m.external_id', '>', p.after);
  const rows = await q.orderBy('m.external_id').limit(p.limit).execute();
  return rows.map((r) => ({ meter: r.external_id, profile: r.profile, assignedBy: r.assigned_by, distance: r.distance, seasons: r.seasons, days: r.days }));
}
