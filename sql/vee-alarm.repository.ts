import { sql } from 'kysely';
import type { Database } from './database.js';

/** The newest validation issue id, 0 when there is none: the watermark a VEE run's alarms start after. */
export async function newestValidationIssueId(database: Database): Promise<number> {
  const r = await database.db
    .selectFrom('validation_issues')
    .select((eb) => eb.fn.coalesce(eb.fn.max('id'), sql.lit(0)).as('max'))
    .executeTakeFirstOrThrow();
  return Number(r.max);
}

/** A fail issue that may raise a VEE alarm, with its meter's group. */
export interface AlarmableIssue {
  readonly id: number;
  readonly meterId: number;
  readonly group: string | null;
  readonly channel: number;
  readonly rule: string;
  readonly status: 'open' | 'replaced';
  readonly fromTs: Date;
  readonly toTs: Date;
  readonly detail: string;
}

/**
 * The fail issues with id above `afterId` on the given meters that are open
 * or replaced by an automatic estimate, in id order.
 * @example await failIssuesAfter(database, 120, [7, 8]) // [{ id: 121, meterId: 7, rule: 'gap', status: 'open', … }]
 */
export async function failIssuesAfter(database: Database, afterId: number, meterIds: readonly number[]): Promise<AlarmableIssue[]> {
  const rows = await database.db
    .selectFrom('validation_issues as v')
    .innerJoin('meters as m', 'm.id', 'v.meter_id')
    .select(['v.id', 'v.meter_id', 'm.group', 'v.channel', 'v.rule', 'v.status', 'v.from_ts', 'v.to_ts', 'v.detail'])
    .where('v.id', '>', afterId)
    .where(sql<boolean>`v.meter_id = any(${meterIds as number[]}::int[])`)
    .where('v.severity', '=', sql.lit('fail'))
    .where('v.status', 'in', [sql.lit('open' as const), sql.lit('replaced' as const)])
    .orderBy('v.id')
    .execute();
  return rows.map((r) => ({
    id: Number(r.id),
    meterId: r.meter_id,
    group: r.group,
    channel: r.channel,
    rule: r.rule,
    status: r.status as AlarmableIssue['status'],
    fromTs: r.from_ts,
    toTs: r.to_ts,
    detail: r.detail,
  }));
}
