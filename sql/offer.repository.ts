import { sql } from 'kysely';
import type { Database } from './database.js';

/**
 * What an offer cost reads besides prices, history and imbalance (their own
 * repositories): the portfolio whose imbalance history prices a meter's or a
 * group's offer.
 */

/** The most common portfolio of `meterIds` (ties: the smaller id), or undefined when none has one. */
export async function mainPortfolioOf(database: Database, meterIds: readonly number[]): Promise<string | undefined> {
  if (meterIds.length === 0) return undefined;
  const row = await database.db
    .selectFrom('meters')
    .select(['portfolio', sql<number>`count(*)::int`.as('n')])
    .where(sql<boolean>`id = any(${meterIds as number[]}::int[])`)
    .where('portfolio', 'is not', null)
    .groupBy('portfolio')
    .orderBy('n', 'desc')
    .orderBy('portfolio')
    .limit(1)
    .executeTakeFirst();
  return row?.portfolio ?? undefined;
}
