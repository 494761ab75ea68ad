import { sql } from 'kysely';
import type { Database } from './database.js';

/**
 * Notes on stored versions of values: how an estimate was made (method,
 * parameters) or why a value was edited (reason code, comment), and by whom.
 * Keyed by meter/channel/start/version, so the history of a value explains
 * itself version by version.
 */
export interface NoteInput {
  readonly meterId: number;
  readonly channel: number;
  readonly startMs: number;
  /** The value and quality just written: the note attaches to the version holding them. */
  readonly value: number;
  readonly quality: number;
  readonly method: string | null;
  readonly params: Readonly<Record<string, unknown>> | null;
  readonly reasonCode: string;
  readonly comment: string | null;
  readonly issueId?: number | null;
  /**
   * Without issueId: the validation issue the note answers, by its key (the
   * finding a VEE run estimated); the note links to the newest stored issue of
   * that meter, channel, rule and range. Store the issues first.
   */
  readonly issue?: { readonly rule: string; readonly fromMs: number; readonly toMs: number } | null;
}

/**
 * Attaches notes to the current versions holding the given values, in one
 * statement. A version that already has a note keeps it (re-running an
 * estimate that did not change anything adds nothing). A note given an
 * `issue` key instead of an id is linked to the newest issue with that key.
 */
export async function insertNotes(database: Database, notes: readonly NoteInput[], recordedBy: string): Promise<number> {
  if (notes.length === 0) return 0;
  const n = notes;
  const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());
  const { rows } = await sql<{ n: number }>`
    WITH ins AS (
      INSERT INTO reading_notes (meter_id, channel, start, version, batch_id, method, params, reason_code, comment, recorded_by, issue_id)
      SELECT r.meter_id, r.channel, r.start, r.version, r.batch_id, u.method, u.params::jsonb, u.reason_code, u.comment, ${recordedBy},
             coalesce(u.issue_id, (SELECT max(v.id) FROM validation_issues v
                                   WHERE u.issue_rule IS NOT NULL AND v.meter_id = u.meter_id AND v.channel = u.channel AND v.rule = u.issue_rule
                                     AND v.from_ts = u.issue_from AND v.to_ts = u.issue_to))
      FROM unnest(${n.map((x) => x.meterId)}::int[], ${n.map((x) => x.channel)}::smallint[], ${n.map((x) => new Date(x.startMs).toISOString())}::timestamptz[],
                  ${n.map((x) => x.value)}::float8[], ${n.map((x) => x.quality)}::smallint[], ${n.map((x) => x.method)}::text[],
                  ${n.map((x) => (x.params ? JSON.stringify(x.params) : null))}::text[], ${n.map((x) => x.reasonCode)}::text[],
                  ${n.map((x) => x.comment)}::text[], ${n.map((x) => x.issueId ?? null)}::bigint[], ${n.map((x) => x.issue?.rule ?? null)}::text[],
                  ${n.map((x) => iso(x.issue?.fromMs))}::timestamptz[], ${n.map((x) => iso(x.issue?.toMs))}::timestamptz[])
        AS u(meter_id, channel, start, value, quality, method, params, reason_code, comment, issue_id, issue_rule, issue_from, issue_to)
      JOIN readings r ON r.meter_id = u.meter_id AND r.channel = u.channel AND r.start = u.start AND r.value = u.value AND r.quality = u.quality
      ON CONFLICT DO NOTHING
      RETURNING 1
    )
    SELECT count(*)::int AS n FROM ins`.execute(database.db);
  return rows[0].n;
}

export interface NoteRow {
  readonly start: Date;
  readonly version: number;
  readonly current: boolean;
  /** null when neither the current value nor the history holds the version any more. */
  readonly value: number | null;
  readonly quality: number | null;
  readonly source: number | null;
  readonly method: string | null;
  readonly params: Record<string, unknown> | null;
  readonly reasonCode: string;
  readonly comment: string | null;
  readonly recordedBy: string;
  readonly issueId: number | null;
  readonly createdAt: Date;
}

/** Notes of one meter/channel with from <= start < to, with the value of the version they explain; oldest first. */
export async function listNotes(database: Database, p: { meterId: number; channel: number; from: Date; to: Date; limit: number }): Promise<NoteRow[]> {
  const { rows } = await sql<NoteRow>`
    SELECT n.start, n.version, (r.version IS NOT NULL) AS current, coalesce(r.value, h.value) AS value,
           coalesce(r.quality, h.quality) AS quality, coalesce(r.source, h.source) AS source, n.method, n.params,
           n.reason_code AS "reasonCode", n.comment, n.recorded_by AS "recordedBy", n.issue_id AS "issueId", n.created_at AS "createdAt"
    FROM reading_notes n
    LEFT JOIN readings r ON r.meter_id = n.meter_id AND r.channel = n.channel AND r.start = n.start AND r.version = n.version
    LEFT JOIN reading_history h ON h.meter_id = n.meter_id AND h.channel = n.channel AND h.start = n.start AND h.version = n.version
    WHERE n.meter_id = ${p.meterId} AND n.channel = ${p.channel} AND n.start >= ${p.from.toISOString()}::timestamptz AND n.start < ${p.to.toISOString()}::timestamptz
    ORDER BY n.start, n.version
    LIMIT ${p.limit}`.execute(database.db);
  return rows;
}
