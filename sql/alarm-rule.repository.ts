import { AlarmRuleSchema, type AlarmRuleDefinition, type StoredAlarmRule } from '../models/alarm.js';
import { sql } from 'kysely';
import type { Database, Session } from './database.js';

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
  const rows = await database.db.selectFrom('alarm_rules').selectAll().orderBy('id').execute();
  return rows.map(toRow);
}

export async function getAlarmRule(database: Database, id: string): Promise<AlarmRuleRow | undefined> {
  const row = await database.db.selectFrom('alarm_rules').selectAll().where('id', '=', id).executeTakeFirst();
  return row ? toRow(row) : undefined;
}

/** The enabled rules, as the evaluators use them. */
export async function loadEnabledRules(database: Database): Promise<StoredAlarmRule[]> {
  const rows = await database.db.selectFrom('alarm_rules').selectAll().where('enabled', '=', true).orderBy('id').execute();
  return rows.map((r) => ({ ...toRow(r).definition, id: r.id, enabled: true }));
}

/**
 * Creates or replaces a rule (validate it first). A changed definition
 * restarts the rule's threshold runs in progress (raised alarms stay raised
 * until a value clears); `created` tells whether the id was new.
 */
export async function putAlarmRule(database: Database, r: { id: string; definition: AlarmRuleDefinition; enabled: boolean; by: string }): Promise<{ rule: AlarmRuleRow; created: boolean }> {
  return database.session(async ({ db }) => {
    const prev = await db.selectFrom('alarm_rules').select('definition').where('id', '=', r.id).forUpdate().executeTakeFirst();
    const row: DbRow = await db
      .insertInto('alarm_rules')
      .values({ id: r.id, kind: r.definition.kind, definition: JSON.stringify(r.definition), enabled: r.enabled, updated_by: r.by })
      .onConflict((oc) =>
        oc.column('id').doUpdateSet((eb) => ({
          kind: eb.ref('excluded.kind'),
          definition: eb.ref('excluded.definition'),
          enabled: eb.ref('excluded.enabled'),
          updated_by: eb.ref('excluded.updated_by'),
          updated_at: sql`now()`,
        })),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
    if (prev && JSON.stringify(prev.definition) !== JSON.stringify(row.definition)) {
      // Runs in progress were measured against the old definition: they restart. A raised alarm stays
      // raised (active) so that the first clearing value under the new definition closes it.
      await db.updateTable('alarm_rule_state').set({ since: null, last_at: null, updated_at: sql`now()` }).where('rule_id', '=', r.id).execute();
    }
    return { rule: toRow(row), created: !prev };
  });
}

/** Deletes a rule and its run state; alarms it raised stay (close them by hand). */
export async function deleteAlarmRule(database: Database, id: string): Promise<boolean> {
  return database.session(async ({ db }) => {
    await db.deleteFrom('alarm_rule_state').where('rule_id', '=', id).execute();
    const gone = await db.deleteFrom('alarm_rules').where('id', '=', id).returning('id').execute();
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
export async function lockRuleStates(s: Session, pairs: readonly { ruleId: string; meterId: number }[]): Promise<RuleStateRow[]> {
  if (pairs.length === 0) return [];
  const rules = pairs.map((p) => p.ruleId);
  const meters = pairs.map((p) => p.meterId);
  // unnest of two arrays: two parameters whatever the number of pairs; sorted, so concurrent batches lock in one order.
  await sql`INSERT INTO alarm_rule_state (rule_id, meter_id) SELECT * FROM unnest(${rules}::text[], ${meters}::int[]) ORDER BY 1, 2 ON CONFLICT DO NOTHING`.execute(s.db);
  const { rows } = await sql<{ rule_id: string; meter_id: number; since: Date | null; active: boolean; last_at: Date | null }>`
    SELECT st.rule_id, st.meter_id, st.since, st.active, st.last_at FROM alarm_rule_state st
    JOIN unnest(${rules}::text[], ${meters}::int[]) AS p(rule_id, meter_id) USING (rule_id, meter_id)
    ORDER BY st.rule_id, st.meter_id FOR UPDATE OF st`.execute(s.db);
  return rows.map((r) => ({ ruleId: r.rule_id, meterId: r.meter_id, sinceMs: ms(r.since), active: r.active, lastMs: ms(r.last_at) }));
}

export async function saveRuleStates(s: Session, rows: readonly RuleStateRow[]): Promise<void> {
  if (rows.length === 0) return;
  const iso = (v: number | null) => (v === null ? null : new Date(v).toISOString());
  const [rules, meters, since, active, last] = [rows.map((r) => r.ruleId), rows.map((r) => r.meterId), rows.map((r) => iso(r.sinceMs)), rows.map((r) => r.active), rows.map((r) => iso(r.lastMs))];
  await sql`
    UPDATE alarm_rule_state st SET since = p.since, active = p.active, last_at = p.last_at, updated_at = now()
    FROM unnest(${rules}::text[], ${meters}::int[], ${since}::timestamptz[], ${active}::boolean[], ${last}::timestamptz[]) AS p(rule_id, meter_id, since, active, last_at)
    WHERE st.rule_id = p.rule_id AND st.meter_id = p.meter_id`.execute(s.db);
}
