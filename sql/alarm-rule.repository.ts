import { AlarmRuleSchema, type AlarmRuleDefinition, type StoredAlarmRule } from '../models/alarm.js';
import type { Database, SqlSession } from './database.js';

/** Admin alarm rules (alarm_rules) and threshold run state (alarm_rule_state). */

export interface AlarmRuleRow {
  readonly id: string;
  readonly enabled: boolean;
  readonly definition: AlarmRuleDefinition;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly updatedBy: string | null;
}

interface DbRow {
  id: string;
  enabled: boolean;
  definition: unknown;
  created_at: Date;
  updated_at: Date;
  updated_by: string | null;
}

function toRow(r: DbRow): AlarmRuleRow {
  const def = typeof r.definition === 'string' ? JSON.parse(r.definition) : r.definition;
  // Stored definitions were validated on the way in; parse again to apply defaults added since.
  return { id: r.id, enabled: r.enabled, definition: AlarmRuleSchema.parse(def), createdAt: r.created_at, updatedAt: r.updated_at, updatedBy: r.updated_by };
}

export async function listAlarmRules(database: Database): Promise<AlarmRuleRow[]> {
  const rows = await database.session((s) => s.query<DbRow>('SELECT * FROM alarm_rules ORDER BY id'), { transaction: false });
  return rows.map(toRow);
}

export async function getAlarmRule(database: Database, id: string): Promise<AlarmRuleRow | undefined> {
  const [row] = await database.session((s) => s.query<DbRow>('SELECT * FROM alarm_rules WHERE id = $1', [id]), { transaction: false });
  return row ? toRow(row) : undefined;
}

/** The enabled rules, as the evaluators use them. */
export async function loadEnabledRules(database: Database): Promise<StoredAlarmRule[]> {
  const rows = await database.session((s) => s.query<DbRow>('SELECT * FROM alarm_rules WHERE enabled ORDER BY id'), { transaction: false });
  return rows.map((r) => ({ ...toRow(r).definition, id: r.id, enabled: true }));
}

/**
 * Creates or replaces a rule (validate it first). A changed definition
 * restarts the rule's threshold runs in progress (raised alarms stay raised
 * until a value clears); `created` tells whether the id was new.
 */
export async function putAlarmRule(
  database: Database,
  r: { id: string; definition: AlarmRuleDefinition; enabled: boolean; by: string },
): Promise<{ rule: AlarmRuleRow; created: boolean }> {
  return database.session(async (s) => {
    const [prev] = await s.query<{ definition: unknown }>('SELECT definition FROM alarm_rules WHERE id = $1 FOR UPDATE', [r.id]);
    const json = JSON.stringify(r.definition);
    const [row] = await s.query<DbRow>(
      `INSERT INTO alarm_rules (id, kind, definition, enabled, updated_by) VALUES ($1, $2, $3::jsonb, $4, $5)
       ON CONFLICT (id) DO UPDATE SET kind = excluded.kind, definition = excluded.definition, enabled = excluded.enabled,
         updated_by = excluded.updated_by, updated_at = now()
       RETURNING *`,
      [r.id, r.definition.kind, json, r.enabled, r.by],
    );
    if (prev && JSON.stringify(prev.definition) !== JSON.stringify(row.definition)) {
      // Runs in progress were measured against the old definition: they restart. A raised alarm stays
      // raised (active) so that the first clearing value under the new definition closes it.
      await s.query('UPDATE alarm_rule_state SET since = NULL, last_at = NULL, updated_at = now() WHERE rule_id = $1', [r.id]);
    }
    return { rule: toRow(row), created: !prev };
  });
}

/** Deletes a rule and its run state; alarms it raised stay (close them by hand). */
export async function deleteAlarmRule(database: Database, id: string): Promise<boolean> {
  return database.session(async (s) => {
    await s.query('DELETE FROM alarm_rule_state WHERE rule_id = $1', [id]);
    const gone = await s.query<{ id: string }>('DELETE FROM alarm_rules WHERE id = $1 RETURNING id', [id]);
    return gone.length > 0;
  });
}

/* ------------------------------------------------------------ run state */

export interface RuleStateRow {
  readonly ruleId: string;
  readonly meterId: number;
  readonly sinceMs: number | null;
  readonly active: boolean;
  readonly lastMs: number | null;
}

const ms = (d: Date | string | null): number | null => (d === null ? null : new Date(d).getTime());

/**
 * Loads and row-locks the run state of the given (rule, meter) pairs, in the
 * caller's transaction; missing pairs are created idle first, so two batches
 * of the same meter evaluate one after the other, never from the same state.
 */
export async function lockRuleStates(s: SqlSession, pairs: readonly { ruleId: string; meterId: number }[]): Promise<RuleStateRow[]> {
  if (pairs.length === 0) return [];
  const rules = pairs.map((p) => p.ruleId);
  const meters = pairs.map((p) => p.meterId);
  await s.query(
    `INSERT INTO alarm_rule_state (rule_id, meter_id) SELECT * FROM unnest($1::text[], $2::int[]) ORDER BY 1, 2 ON CONFLICT DO NOTHING`,
    [rules, meters],
  );
  const rows = await s.query<{ rule_id: string; meter_id: number; since: Date | null; active: boolean; last_at: Date | null }>(
    `SELECT st.rule_id, st.meter_id, st.since, st.active, st.last_at FROM alarm_rule_state st
     JOIN unnest($1::text[], $2::int[]) AS p(rule_id, meter_id) USING (rule_id, meter_id)
     ORDER BY st.rule_id, st.meter_id FOR UPDATE OF st`,
    [rules, meters],
  );
  return rows.map((r) => ({ ruleId: r.rule_id, meterId: r.meter_id, sinceMs: ms(r.since), active: r.active, lastMs: ms(r.last_at) }));
}

export async function saveRuleStates(s: SqlSession, rows: readonly RuleStateRow[]): Promise<void> {
  if (rows.length === 0) return;
  const iso = (v: number | null) => (v === null ? null : new Date(v).toISOString());
  await s.query(
    `UPDATE alarm_rule_state st SET since = p.since, active = p.active, last_at = p.last_at, updated_at = now()
     FROM unnest($1::text[], $2::int[], $3::timestamptz[], $4::boolean[], $5::timestamptz[]) AS p(rule_id, meter_id, since, active, last_at)
     WHERE st.rule_id = p.rule_id AND st.meter_id = p.meter_id`,
    [rows.map((r) => r.ruleId), rows.map((r) => r.meterId), rows.map((r) => iso(r.sinceMs)), rows.map((r) => r.active), rows.map((r) => iso(r.lastMs))],
  );
}
