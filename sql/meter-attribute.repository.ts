import { sql, type Kysely, type RawBuilder } from 'kysely';
import { ATTRIBUTE_COLUMN, attributeOfColumn, attributeValueOut, type DatedAttribute } from '../models/meter-attribute.js';
import type { Database } from './database.js';
import type { DB } from './types.js';

/**
 * Dated meter attributes (migration 028): versions valid from a local date
 * until the next one, bitemporal (a replaced version keeps its row with
 * superseded_at), and the meters column kept at the newest version's value.
 */

/** The versions known at `asOf` (undefined: the current ones), as a condition on `meter_attributes a`. */
export function knownAt(asOf: Date | undefined): RawBuilder<boolean> {
  return asOf === undefined ? sql<boolean>`a.superseded_at IS NULL` : sql<boolean>`(a.recorded_at <= ${asOf} AND (a.superseded_at IS NULL OR a.superseded_at > ${asOf}))`;
}

/** A version as the API shows it. */
export interface AttributeVersionOut {
  readonly attribute: DatedAttribute;
  /** First local date it holds; null: since always. */
  readonly validFrom: string | null;
  /** Local date the next version starts (exclusive); null: open. */
  readonly validTo: string | null;
  readonly value: string | number | null;
  readonly recordedAt: string | null;
  readonly recordedBy: string | null;
}

/** Every version of a meter's dated attributes known at `asOf`, by attribute then date. */
export async function listAttributeVersions(database: Database, meterId: number, asOf?: Date): Promise<AttributeVersionOut[]> {
  const { rows } = await sql<{ attribute: string; valid_from: string; valid_to: string | null; value: string | null; recorded_at: Date | null; recorded_by: string | null }>`
    SELECT a.attribute, a.valid_from::text AS valid_from, (lead(a.valid_from) OVER (PARTITION BY a.attribute ORDER BY a.valid_from))::text AS valid_to,
           a.value, CASE WHEN a.recorded_at = '-infinity' THEN NULL ELSE a.recorded_at END AS recorded_at, a.recorded_by
    FROM meter_attributes a WHERE a.meter_id = ${meterId} AND ${knownAt(asOf)}
    ORDER BY a.attribute, a.valid_from`.execute(database.db);
  return rows.map((r) => {
    const attribute = attributeOfColumn(r.attribute)!;
    return {
      attribute,
      validFrom: r.valid_from === '-infinity' ? null : r.valid_from,
      validTo: r.valid_to,
      value: attributeValueOut(attribute, r.value),
      recordedAt: r.recorded_at ? new Date(r.recorded_at).toISOString() : null,
      recordedBy: r.recorded_by,
    };
  });
}

/**
 * Stores `value` as the version of `attribute` valid from local date `date`
 * (replacing one of the same date, which is kept as superseded), then sets
 * the meters column to the newest version's value. Run it in the row's
 * transaction (`db`). Returns the value in force the day before `date`.
 */
export async function setDatedAttribute(db: Kysely<DB>, p: { meterId: number; attribute: DatedAttribute; date: string; value: string | null; by: string | null }): Promise<{ before: string | null }> {
  const column = ATTRIBUTE_COLUMN[p.attribute];
  const { rows: prior } = await sql<{ value: string | null }>`
    SELECT a.value FROM meter_attributes a
    WHERE a.meter_id = ${p.meterId} AND a.attribute = ${column} AND a.superseded_at IS NULL AND a.valid_from < ${p.date}::date
    ORDER BY a.valid_from DESC LIMIT 1`.execute(db);
  await sql`
    UPDATE meter_attributes SET superseded_at = now()
    WHERE meter_id = ${p.meterId} AND attribute = ${column} AND valid_from = ${p.date}::date AND superseded_at IS NULL`.execute(db);
  await sql`
    INSERT INTO meter_attributes (meter_id, attribute, valid_from, value, recorded_by)
    VALUES (${p.meterId}, ${column}, ${p.date}::date, ${p.value}, ${p.by})`.execute(db);
  await syncColumn(db, p.meterId, column);
  return { before: prior[0]?.value ?? null };
}

/** The meters column ← the newest current version (the trigger then finds the versions in step and writes nothing). */
async function syncColumn(db: Kysely<DB>, meterId: number, column: string): Promise<void> {
  const newest = sql`(SELECT a.value FROM meter_attributes a WHERE a.meter_id = ${meterId} AND a.attribute = ${column} AND a.superseded_at IS NULL ORDER BY a.valid_from DESC LIMIT 1)`;
  const typed = column === 'multiplier' ? sql`${newest}::double precision` : column.startsWith('supply_') ? sql`${newest}::date` : newest;
  await sql`UPDATE meters SET ${sql.ref(column)} = ${typed}, updated_at = now() WHERE id = ${meterId} AND ${sql.ref(column)} IS DISTINCT FROM ${typed}`.execute(db);
}

/**
 * Meters (of `ids`, or all) whose attributes among `columns` are not one
 * value over the whole of [fromDate, …): a current version starting after
 * `fromDate`; with `asOf` also any version recorded or superseded after it
 * (the registry then differs from the columns). The slow path of a period's
 * figures; every other meter's columns hold for the period. Usually none.
 */
export async function metersWithDatedChanges(db: Kysely<DB>, p: { fromDate: string; columns: readonly string[]; asOf?: Date; ids?: readonly number[] }): Promise<Set<number>> {
  const only = p.ids ? sql`AND a.meter_id = ANY(${p.ids as number[]}::int[])` : sql``;
  const late =
    p.asOf === undefined
      ? sql``
      : // A version since always recorded after asOf without superseding one is a meter registered later: none known then, its columns hold.
        sql`UNION SELECT a.meter_id FROM meter_attributes a WHERE a.attribute = ANY(${p.columns as string[]}::text[]) AND a.superseded_at > ${p.asOf} ${only}
            UNION SELECT a.meter_id FROM meter_attributes a WHERE a.attribute = ANY(${p.columns as string[]}::text[]) AND a.valid_from > '-infinity'::date AND a.recorded_at > ${p.asOf} ${only}`;
  const { rows } = await sql<{ meter_id: number }>`
    SELECT a.meter_id FROM meter_attributes a
    WHERE a.valid_from > ${p.fromDate}::date AND a.valid_from > '-infinity'::date AND a.superseded_at IS NULL
      AND a.attribute = ANY(${p.columns as string[]}::text[]) ${only}
    ${late}`.execute(db);
  return new Set(rows.map((r) => r.meter_id));
}

/** A version with its start as an instant in the meter's zone (epoch ms; −∞ for since always). */
export interface DatedVersionRow {
  readonly meterId: number;
  readonly attribute: string;
  readonly sinceMs: number;
  readonly value: string | null;
}

/** The versions of `columns` of `ids` known at `asOf`, ordered by meter, attribute and start. */
export async function datedVersions(db: Kysely<DB>, p: { ids: readonly number[]; columns: readonly string[]; asOf?: Date }): Promise<DatedVersionRow[]> {
  if (p.ids.length === 0) return [];
  const { rows } = await sql<{ meter_id: number; attribute: string; since_ms: number | null; value: string | null }>`
    SELECT a.meter_id, a.attribute, CASE WHEN a.valid_from = '-infinity' THEN NULL ELSE floor(extract(epoch FROM a.valid_from::timestamp AT TIME ZONE m.timezone) * 1000)::float8 END AS since_ms, a.value
    FROM meter_attributes a JOIN meters m ON m.id = a.meter_id
    WHERE a.meter_id = ANY(${p.ids as number[]}::int[]) AND a.attribute = ANY(${p.columns as string[]}::text[]) AND ${knownAt(p.asOf)}
    ORDER BY a.meter_id, a.attribute, a.valid_from`.execute(db);
  return rows.map((r) => ({ meterId: r.meter_id, attribute: r.attribute, sinceMs: r.since_ms === null ? Number.NEGATIVE_INFINITY : Number(r.since_ms), value: r.value }));
}

/**
 * The meters that are members of `portfolio` at some time in [from, to)
 * with the first and last instant of their membership in that range
 * (null: from before `from` / until after `to`), from the dated portfolio
 * versions known at `asOf`: a customer joining on 1 March is a member of
 * March, not of February. A gap inside the range (left and joined again) is
 * not cut out. Rows `meter_id, mfrom, mto` for a SQL join.
 */
export function portfolioMembershipSql(p: { portfolio: string; from: Date; to: Date; asOf?: Date }): RawBuilder<{ meter_id: number; mfrom: Date | null; mto: Date | null }> {
  return sql<{ meter_id: number; mfrom: Date | null; mto: Date | null }>`
    SELECT v.meter_id,
           CASE WHEN min(v.f) IS NULL OR min(v.f) <= ${p.from}::timestamptz THEN NULL ELSE min(v.f) END AS mfrom,
           CASE WHEN bool_or(v.t IS NULL) OR max(v.t) >= ${p.to}::timestamptz THEN NULL ELSE max(v.t) END AS mto
    FROM (
      SELECT w.meter_id, w.value,
             CASE WHEN w.valid_from = '-infinity' THEN NULL ELSE w.valid_from::timestamp AT TIME ZONE w.timezone END AS f,
             CASE WHEN w.valid_to IS NULL THEN NULL ELSE w.valid_to::timestamp AT TIME ZONE w.timezone END AS t
      FROM (
        SELECT a.meter_id, a.value, a.valid_from, m.timezone, lead(a.valid_from) OVER (PARTITION BY a.meter_id ORDER BY a.valid_from) AS valid_to
        FROM meter_attributes a JOIN meters m ON m.id = a.meter_id
        WHERE a.attribute = 'portfolio' AND ${knownAt(p.asOf)}
          AND a.meter_id IN (SELECT c.meter_id FROM meter_attributes c WHERE c.attribute = 'portfolio' AND c.value = ${p.portfolio})
      ) w
    ) v
    WHERE v.value = ${p.portfolio} AND (v.f IS NULL OR v.f < ${p.to}::timestamptz) AND (v.t IS NULL OR v.t > ${p.from}::timestamptz)
    GROUP BY v.meter_id`;
}

/** Meter ids that are ever members of `portfolio` in the versions known now (any date), with the hull of their membership as local dates (null: open). */
export async function portfolioMembersEver(db: Kysely<DB>, portfolio: string): Promise<Map<number, { from: string | null; to: string | null }>> {
  const { rows } = await sql<{ meter_id: number; f: string | null; t: string | null }>`
    SELECT w.meter_id, CASE WHEN bool_or(w.valid_from = '-infinity') THEN NULL ELSE min(w.valid_from)::text END AS f,
           CASE WHEN bool_or(w.valid_to IS NULL) THEN NULL ELSE (max(w.valid_to) - 1)::text END AS t
    FROM (
      SELECT a.meter_id, a.value, a.valid_from, lead(a.valid_from) OVER (PARTITION BY a.meter_id ORDER BY a.valid_from) AS valid_to
      FROM meter_attributes a
      WHERE a.attribute = 'portfolio' AND a.superseded_at IS NULL
        AND a.meter_id IN (SELECT c.meter_id FROM meter_attributes c WHERE c.attribute = 'portfolio' AND c.value = ${portfolio} AND c.superseded_at IS NULL)
    ) w
    WHERE w.value = ${portfolio}
    GROUP BY w.meter_id`.execute(db);
  return new Map(rows.map((r) => [r.meter_id, { from: r.f, to: r.t }]));
}

/**
 * When the dated registry last changed (a dated version recorded, at or before `asOf`), epoch ms; 0 when never.
 * Part of a figure's data version: `asOf = dataVersion` then reads the registry as the figures did.
 * Versions since always (registration, PUT corrections of an undated value) are left out, as before issue 16.
 */
export async function registryVersionMs(db: Kysely<DB>, asOf?: Date): Promise<number> {
  const { rows } = await sql<{ ms: number | null }>`
    SELECT ceil(extract(epoch FROM max(a.recorded_at)) * 1000)::float8 AS ms FROM meter_attributes a
    WHERE a.valid_from > '-infinity'::date ${asOf === undefined ? sql`` : sql`AND a.recorded_at <= ${asOf}`}`.execute(db);
  return Number(rows[0]?.ms ?? 0);
}
