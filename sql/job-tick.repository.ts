import { sql } from 'kysely';
import type { ClaimRound, WorkMetrics } from '../models/work-metrics.js';
import type { Database } from './database.js';

/** Claimed rounds are kept this long (what listJobTicks lists), then dropped by the job's next claim. */
const KEEP_MS = 7 * 86_400_000;

/**
 * Claims round `slot` of periodic job `job` for `instance`: true when the
 * round is this instance's (inserted now, or by this instance before: a
 * round it failed to finish is its own to retry), false when another
 * instance has it. Rounds of the same job older than seven days are dropped
 * on the way.
 */
export async function claimJobTick(database: Database, p: { job: string; slot: Date; instance: string }): Promise<boolean> {
  const { rows } = await sql<{ instance: string }>`
    WITH old AS (DELETE FROM job_ticks WHERE job = ${p.job} AND slot < ${new Date(p.slot.getTime() - KEEP_MS)})
    INSERT INTO job_ticks (job, slot, instance) VALUES (${p.job}, ${p.slot}, ${p.instance})
    ON CONFLICT (job, slot) DO UPDATE SET instance = job_ticks.instance WHERE job_ticks.instance = excluded.instance
    RETURNING instance`.execute(database.db);
  return rows.length === 1;
}

/** The ClaimRound of instance `instance` (what mdm serve hands its components), counting each round ran or skipped into `work`. */
export function roundClaimer(database: Database, instance: string, work?: WorkMetrics): ClaimRound {
  return async (job, slot) => {
    const ran = await claimJobTick(database, { job, slot, instance });
    work?.round(job, ran);
    return ran;
  };
}

export interface JobTick {
  readonly job: string;
  readonly slot: Date;
  readonly instance: string;
  readonly claimedAt: Date;
}

/** The claimed rounds of the jobs whose name starts with `prefix` (all: ''), oldest slot first. */
export async function listJobTicks(database: Database, prefix = ''): Promise<JobTick[]> {
  const rows = await database.db
    .selectFrom('job_ticks')
    .select(['job', 'slot', 'instance', 'claimed_at'])
    .where('job', 'like', `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)
    .orderBy('job')
    .orderBy('slot')
    .execute();
  return rows.map((r) => ({ job: r.job, slot: new Date(r.slot), instance: r.instance, claimedAt: new Date(r.claimed_at) }));
}
