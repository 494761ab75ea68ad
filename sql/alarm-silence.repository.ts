import { sql } from 'kysely';
import type { Database } from './database.js';

/** A supplied meter as the periodic silence check sees it. */
export interface SilenceCandidate {
  readonly id: number;
  readonly externalId: string;
  readonly group: string | null;
  /** Registration time: a meter that never reported counts as silent from it. */
  readonly createdAt: Date;
  /** Newest reading start over the given channels; null when the meter never reported. */
  readonly newest: Date | null;
  /** Whether the meter has a no_data alarm that is not closed. */
  readonly alarmed: boolean;
}

/**
 * Newest reading time per meter (one index probe per channel through the
 * readings primary key, LATERAL), whether the meter has an active no_data
 * alarm, and its registration time. Meters outside their supply dates on
 * `day` (not yet or no longer supplied) are left out; `groups` null means
 * every group.
 * @example await silenceCandidates(database, { channels: [1, 2], groups: null, day: '2026-12-07' })
 */
export async function silenceCandidates(database: Database, p: { readonly channels: readonly number[]; readonly groups: readonly string[] | null; readonly day: string }): Promise<SilenceCandidate[]> {
  const { rows } = await sql<{ id: number; external_id: string; group: string | null; created_at: Date; newest: Date | null; alarmed: boolean }>`
    SELECT m.id, m.external_id, m."group", m.created_at,
           (SELECT max(l.start) FROM unnest(${p.channels as number[]}::smallint[]) AS c(ch)
              CROSS JOIN LATERAL (SELECT r.start FROM readings r WHERE r.meter_id = m.id AND r.channel = c.ch ORDER BY r.start DESC LIMIT 1) l) AS newest,
           EXISTS (SELECT 1 FROM alarms a WHERE a.meter_id = m.id AND a.code = 'no_data' AND a.state <> 'closed') AS alarmed
    FROM meters m
    WHERE (${p.groups as string[] | null}::text[] IS NULL OR m."group" = ANY(${p.groups as string[] | null}::text[]))
      AND (m.supply_start IS NULL OR m.supply_start <= ${p.day}::date) AND (m.supply_end IS NULL OR m.supply_end >= ${p.day}::date)`.execute(database.db);
  return rows.map((r) => ({ id: r.id, externalId: r.external_id, group: r.group, createdAt: r.created_at, newest: r.newest, alarmed: r.alarmed }));
}

/** Meters with a not-closed no_data alarm: few, read through the partial index alarms_active_code_idx (hence the literals). */
export async function metersWithActiveNoData(database: Database): Promise<Set<number>> {
  const rows = await database.db.selectFrom('alarms').select('meter_id').where('code', '=', sql.lit('no_data')).where('state', '<>', sql.lit('closed')).execute();
  return new Set(rows.map((r) => r.meter_id));
}
