import { sql } from 'kysely';
import type { MarketPeriod, SpreadRule } from '../market/settlement-periods.js';
import type { SystemDirection } from '../models/market.js';
import type { Database } from './database.js';

/**
 * Market data: hourly prices per area, positions and nominations per
 * portfolio, imbalance price rules. Bulk upserts go in as one statement over
 * unnest()ed arrays (a year of hours is one round trip).
 */

export interface PriceInput {
  readonly startMs: number;
  readonly ptf?: number;
  readonly smf?: number;
  readonly positiveImbalance?: number;
  readonly negativeImbalance?: number;
  readonly systemDirection?: SystemDirection;
}

export interface StoredPrice {
  readonly start: Date;
  readonly currency: string;
  /** Null when absent or held as not yet published (listed in `unpublished`). */
  readonly ptf: number | null;
  readonly smf: number | null;
  readonly positiveImbalance: number | null;
  readonly negativeImbalance: number | null;
  readonly systemDirection: SystemDirection | null;
  readonly source: string;
  readonly updatedAt: Date;
  /** Price columns received as 0 and held as not yet published (migration 016). */
  readonly unpublished: PriceColumn[];
}

/** Price columns by their API names (market_prices.unpublished holds these). */
export const PRICE_COLUMNS = ['ptf', 'smf', 'positiveImbalance', 'negativeImbalance'] as const;
export type PriceColumn = (typeof PRICE_COLUMNS)[number];

/** Why an hour's zeros look unpublished: every price of the hour 0, or SMF 0 while PTF is not. */
export type SuspiciousReason = 'all_zero' | 'smf_zero';

export interface SuspiciousHour {
  readonly startMs: number;
  /** The columns taken as not yet published (or, confirmed, as real zeros). */
  readonly columns: PriceColumn[];
  readonly reason: SuspiciousReason;
  /** PTF of the hour when the reason is smf_zero. */
  readonly ptf: number | null;
}

export interface UpsertPricesResult {
  /** Hours inserted or updated. */
  readonly stored: number;
  /** Hours written whose zeros look unpublished, oldest first. */
  readonly suspicious: SuspiciousHour[];
  /** How many of them are held as not yet published (0 when the write confirmed its zeros). */
  readonly held: number;
}

const col = <T>(rows: readonly PriceInput[], f: (r: PriceInput) => T | undefined) => rows.map((r) => f(r) ?? null);

/** The currency the area's stored prices are in, or undefined when it has none. */
export async function areaCurrency(database: Database, area: string): Promise<string | undefined> {
  const row = await database.db.selectFrom('market_prices').select('currency').where('area', '=', area).limit(1).executeTakeFirst();
  return row?.currency;
}

/**
 * The price columns of a market_prices row that look "not yet published":
 * EPİAŞ publishes `0,00` for hours it has not published (2016-03-27 04:00:
 * PTF = SMF = 0; SMF-only zeros). A PTF of 0 can be real, so only these are
 * suspicious: every price the row has is 0 (all of them), or SMF is 0 while
 * PTF is not (SMF). SQL over the row's own columns; null when nothing is.
 */
const SUSPICIOUS = sql<string[] | null>`CASE
    WHEN COALESCE(ptf, 0) = 0 AND COALESCE(smf, 0) = 0 AND COALESCE(positive_imbalance, 0) = 0 AND COALESCE(negative_imbalance, 0) = 0
      THEN NULLIF(array_remove(ARRAY[CASE WHEN ptf IS NOT NULL THEN 'ptf' END, CASE WHEN smf IS NOT NULL THEN 'smf' END,
        CASE WHEN positive_imbalance IS NOT NULL THEN 'positiveImbalance' END, CASE WHEN negative_imbalance IS NOT NULL THEN 'negativeImbalance' END], NULL), '{}')
    WHEN smf = 0 AND ptf <> 0 THEN ARRAY['smf']
  END`;

/**
 * Inserts or updates hourly prices of one area. A field given overwrites the
 * stored one; a field left out keeps it (a PTF file and an SMF file of the same
 * hours fill one row each).
 *
 * Then every hour written is judged as it stands after the write (so a PTF
 * file and an SMF file give the same result in either order): its suspicious
 * zeros (SUSPICIOUS) are held as not yet published (`unpublished`, readers take
 * them as absent) unless `confirmZeros` says the zeros of this write are real.
 * A later write of the hour judges it again. One transaction: the upsert's row
 * locks keep a concurrent write of the other series from judging a stale row.
 */
export async function upsertPrices(database: Database, p: { area: string; currency: string; source: string; rows: readonly PriceInput[]; confirmZeros?: boolean }): Promise<UpsertPricesResult> {
  if (p.rows.length === 0) return { stored: 0, suspicious: [], held: 0 };
  const keep = (c: string) => sql.raw(`${c} = COALESCE(excluded.${c}, market_prices.${c})`);
  const starts = p.rows.map((r) => r.startMs);
  return database.db.transaction().execute(async (trx) => {
    const { rows } = await sql<{ n: number }>`
      WITH ins AS (
        INSERT INTO market_prices AS market_prices (area, start, currency, ptf, smf, positive_imbalance, negative_imbalance, system_direction, source)
        SELECT ${p.area}, to_timestamp(u.ms / 1000.0), ${p.currency}, u.ptf, u.smf, u.pos, u.neg, u.dir, ${p.source}
        FROM unnest(${starts}::float8[], ${col(p.rows, (r) => r.ptf)}::float8[], ${col(p.rows, (r) => r.smf)}::float8[],
                    ${col(p.rows, (r) => r.positiveImbalance)}::float8[], ${col(p.rows, (r) => r.negativeImbalance)}::float8[],
                    ${col(p.rows, (r) => r.systemDirection)}::text[]) AS u(ms, ptf, smf, pos, neg, dir)
        ON CONFLICT (area, start) DO UPDATE SET
          ${keep('ptf')}, ${keep('smf')}, ${keep('positive_imbalance')}, ${keep('negative_imbalance')}, ${keep('system_direction')},
          currency = excluded.currency, source = excluded.source, updated_at = now()
        RETURNING 1
      )
      SELECT count(*)::int AS n FROM ins`.execute(trx);
    const held = p.confirmZeros ? sql`NULL::text[]` : SUSPICIOUS;
    // Only rows whose flag changes or that are suspicious are touched (a clean re-import rewrites nothing here).
    const { rows: judged } = await sql<{ ms: number; cols: string[]; ptf: number | null }>`
      UPDATE market_prices SET unpublished = ${held}
      WHERE area = ${p.area} AND start = ANY(SELECT to_timestamp(ms / 1000.0) FROM unnest(${starts}::float8[]) AS s(ms))
        AND (unpublished IS DISTINCT FROM ${held} OR ${SUSPICIOUS} IS NOT NULL)
      RETURNING extract(epoch FROM start)::float8 * 1000 AS ms, ${SUSPICIOUS} AS cols, ptf`.execute(trx);
    const suspicious = judged
      .filter((j) => j.cols !== null)
      .map((j) => {
        const columns = j.cols as PriceColumn[];
        const reason: SuspiciousReason = columns.length === 1 && columns[0] === 'smf' && j.ptf !== null && j.ptf !== 0 ? 'smf_zero' : 'all_zero';
        return { startMs: Number(j.ms), columns, reason, ptf: reason === 'smf_zero' ? j.ptf : null };
      })
      .sort((a, b) => a.startMs - b.startMs);
    return { stored: rows[0]?.n ?? 0, suspicious, held: p.confirmZeros ? 0 : suspicious.length };
  });
}

/** Prices of an area with `from <= start < to`, oldest first; a column held as not yet published reads as null. */
export async function listPrices(database: Database, p: { area: string; from: Date; to: Date }): Promise<StoredPrice[]> {
  const rows = await database.db.selectFrom('market_prices').selectAll().where('area', '=', p.area).where('start', '>=', p.from).where('start', '<', p.to).orderBy('start').execute();
  return rows.map((r) => {
    const held = new Set(r.unpublished ?? []);
    const v = (c: PriceColumn, x: number | null) => (held.has(c) ? null : x);
    return {
      start: r.start,
      currency: r.currency,
      ptf: v('ptf', r.ptf),
      smf: v('smf', r.smf),
      positiveImbalance: v('positiveImbalance', r.positive_imbalance),
      negativeImbalance: v('negativeImbalance', r.negative_imbalance),
      systemDirection: r.system_direction,
      source: r.source,
      updatedAt: r.updated_at,
      unpublished: PRICE_COLUMNS.filter((c) => held.has(c)),
    };
  });
}

export interface PositionInput {
  readonly startMs: number;
  readonly bilateral: number;
  readonly dayAhead: number;
  readonly intraday: number;
}

/** Inserts or replaces a portfolio's hourly positions (MWh); returns the rows written. */
export async function upsertPositions(database: Database, portfolio: string, rows: readonly PositionInput[]): Promise<number> {
  if (rows.length === 0) return 0;
  const { rows: out } = await sql<{ n: number }>`
    WITH ins AS (
      INSERT INTO positions (portfolio, start, bilateral, day_ahead, intraday)
      SELECT ${portfolio}, to_timestamp(u.ms / 1000.0), u.b, u.d, u.i
      FROM unnest(${rows.map((r) => r.startMs)}::float8[], ${rows.map((r) => r.bilateral)}::float8[], ${rows.map((r) => r.dayAhead)}::float8[],
                  ${rows.map((r) => r.intraday)}::float8[]) AS u(ms, b, d, i)
      ON CONFLICT (portfolio, start) DO UPDATE SET bilateral = excluded.bilateral, day_ahead = excluded.day_ahead, intraday = excluded.intraday, updated_at = now()
      RETURNING 1
    )
    SELECT count(*)::int AS n FROM ins`.execute(database.db);
  return out[0]?.n ?? 0;
}

export interface StoredPosition {
  readonly start: Date;
  readonly bilateral: number;
  readonly dayAhead: number;
  readonly intraday: number;
  readonly updatedAt: Date;
}

/** A portfolio's positions with `from <= start < to`, oldest first. */
export async function listPositions(database: Database, p: { portfolio: string; from: Date; to: Date }): Promise<StoredPosition[]> {
  const rows = await database.db
    .selectFrom('positions')
    .select(['start', 'bilateral', 'day_ahead', 'intraday', 'updated_at'])
    .where('portfolio', '=', p.portfolio)
    .where('start', '>=', p.from)
    .where('start', '<', p.to)
    .orderBy('start')
    .execute();
  return rows.map((r) => ({ start: r.start, bilateral: r.bilateral, dayAhead: r.day_ahead, intraday: r.intraday, updatedAt: r.updated_at }));
}

/** Inserts or replaces meter nominations (MWh) of a portfolio; `meterId` is the internal id. */
export async function upsertNominations(database: Database, portfolio: string, rows: readonly { meterId: number; startMs: number; mwh: number }[]): Promise<number> {
  if (rows.length === 0) return 0;
  const { rows: out } = await sql<{ n: number }>`
    WITH ins AS (
      INSERT INTO nominations (portfolio, meter_id, start, mwh)
      SELECT ${portfolio}, u.m, to_timestamp(u.ms / 1000.0), u.q
      FROM unnest(${rows.map((r) => r.meterId)}::int[], ${rows.map((r) => r.startMs)}::float8[], ${rows.map((r) => r.mwh)}::float8[]) AS u(m, ms, q)
      ON CONFLICT (portfolio, start, meter_id) DO UPDATE SET mwh = excluded.mwh, updated_at = now()
      RETURNING 1
    )
    SELECT count(*)::int AS n FROM ins`.execute(database.db);
  return out[0]?.n ?? 0;
}

export interface StoredRule {
  readonly area: string;
  readonly effectiveFrom: string;
  readonly rule: 'min-max-k';
  readonly kPositive: number;
  readonly kNegative: number;
  readonly note: string | null;
  readonly createdAt: Date;
  readonly createdBy: string | null;
}

/** Imbalance price rules, by area and effective date. */
export async function listImbalanceRules(database: Database, area?: string): Promise<StoredRule[]> {
  let q = database.db.selectFrom('imbalance_price_rules').selectAll().orderBy('area').orderBy('effective_from');
  if (area !== undefined) q = q.where('area', '=', area);
  return (await q.execute()).map((r) => ({
    area: r.area,
    effectiveFrom: r.effective_from,
    rule: r.rule,
    kPositive: r.k_positive,
    kNegative: r.k_negative,
    note: r.note,
    createdAt: r.created_at,
    createdBy: r.created_by,
  }));
}

/** Creates or replaces the rule of an area from a date on; returns true when created. */
export async function putImbalanceRule(
  database: Database,
  r: { area: string; effectiveFrom: string; rule: 'min-max-k'; kPositive: number; kNegative: number; note?: string; createdBy: string | null },
): Promise<boolean> {
  const row = await database.db
    .insertInto('imbalance_price_rules')
    .values({ area: r.area, effective_from: r.effectiveFrom, rule: r.rule, k_positive: r.kPositive, k_negative: r.kNegative, note: r.note ?? null, created_by: r.createdBy })
    .onConflict((oc) =>
      oc.columns(['area', 'effective_from']).doUpdateSet((eb) => ({
        rule: eb.ref('excluded.rule'),
        k_positive: eb.ref('excluded.k_positive'),
        k_negative: eb.ref('excluded.k_negative'),
        note: eb.ref('excluded.note'),
        created_by: eb.ref('excluded.created_by'),
        created_at: sql<Date>`now()`,
      })),
    )
    .returning(sql<boolean>`(xmax = 0)`.as('created'))
    .executeTakeFirstOrThrow();
  return row.created;
}

export interface StoredMarketPeriod extends MarketPeriod {
  readonly area: string;
  readonly note: string | null;
  readonly createdAt: Date;
  readonly createdBy: string | null;
}

/** Settlement periods (migration 031) of one area or all, by area and effective date. */
export async function listMarketPeriods(database: Database, area?: string): Promise<StoredMarketPeriod[]> {
  let q = database.db.selectFrom('market_periods').selectAll().orderBy('area').orderBy('effective_from');
  if (area !== undefined) q = q.where('area', '=', area);
  return (await q.execute()).map((r) => ({
    area: r.area,
    effectiveFrom: r.effective_from,
    minutes: r.minutes,
    spread: r.spread,
    note: r.note,
    createdAt: r.created_at,
    createdBy: r.created_by,
  }));
}

/** Creates or replaces the settlement period of an area from a local date on; returns true when created. */
export async function putMarketPeriod(database: Database, r: { area: string; effectiveFrom: string; minutes: number; spread: SpreadRule; note?: string; createdBy: string | null }): Promise<boolean> {
  const row = await database.db
    .insertInto('market_periods')
    .values({ area: r.area, effective_from: r.effectiveFrom, minutes: r.minutes, spread: r.spread, note: r.note ?? null, created_by: r.createdBy })
    .onConflict((oc) =>
      oc.columns(['area', 'effective_from']).doUpdateSet((eb) => ({
        minutes: eb.ref('excluded.minutes'),
        spread: eb.ref('excluded.spread'),
        note: eb.ref('excluded.note'),
        created_by: eb.ref('excluded.created_by'),
        created_at: sql<Date>`now()`,
      })),
    )
    .returning(sql<boolean>`(xmax = 0)`.as('created'))
    .executeTakeFirstOrThrow();
  return row.created;
}
