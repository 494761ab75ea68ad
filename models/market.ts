import { z } from 'zod';
import { amount, boundedString, idText, plausibleDate, storedInstant } from './input-schemas.js';
import { HOUR_MS } from './time.js';

/**
 * Market data bodies (issue 7): hourly prices per area (per MWh), a
 * portfolio's purchased positions per hour (MWh), meter nominations (MWh) and
 * imbalance price rules. The zod schemas are the OpenAPI document; the hour
 * checks below give each bad row its own reason.
 */

/** Rows in one JSON request (a year of hours is 8 784). */
export const MAX_MARKET_ROWS = 100_000;

export const AreaSchema = z
  .string()
  .min(1)
  .max(32)
  .regex(/^[A-Z0-9_-]+$/, 'must be an upper-case market area code such as TR, PL');
export const CurrencySchema = z.string().regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as TRY, EUR');
export const SYSTEM_DIRECTIONS = ['surplus', 'deficit', 'balanced'] as const;
export type SystemDirection = (typeof SYSTEM_DIRECTIONS)[number];

const price = amount();
const mwh = amount();
const Start = z.string().describe("Start of the area's settlement period (an hour, or a quarter-hour where the market settles by 15 minutes), ISO-8601 with offset, e.g. 2026-03-01T00:00:00+03:00");

export const PriceRowSchema = z
  .object({
    start: Start,
    ptf: price.describe('Day-ahead clearing price (PTF), per MWh'),
    smf: price.describe('System marginal price (SMF), per MWh'),
    positiveImbalance: price.optional().describe('Published positive imbalance price, per MWh; absent → the imbalance price rule'),
    negativeImbalance: price.optional().describe('Published negative imbalance price, per MWh; absent → the imbalance price rule'),
    systemDirection: z.enum(SYSTEM_DIRECTIONS).optional().describe('Published system direction of the hour'),
  })
  .strict();
export type PriceRow = z.infer<typeof PriceRowSchema>;

export const PricesBodySchema = z
  .object({
    area: AreaSchema.describe('Market area, e.g. TR'),
    currency: CurrencySchema.describe('Currency of every price in the body'),
    prices: z.array(PriceRowSchema).min(1).max(MAX_MARKET_ROWS),
  })
  .strict();

export const PositionRowSchema = z
  .object({
    start: Start,
    bilateral: mwh.optional().describe('Bought bilaterally, MWh (absent = 0)'),
    dayAhead: mwh.optional().describe('Bought on the day-ahead market, MWh (absent = 0)'),
    intraday: mwh.optional().describe('Bought on the intraday market, MWh (absent = 0; sales are negative)'),
  })
  .strict();
export type PositionRow = z.infer<typeof PositionRowSchema>;

export const PositionsBodySchema = z
  .object({
    portfolio: idText().min(1),
    positions: z.array(PositionRowSchema).min(1).max(MAX_MARKET_ROWS),
  })
  .strict();

export const NominationsBodySchema = z
  .object({
    portfolio: idText().min(1),
    nominations: z
      .array(z.object({ meter: idText().min(1), start: Start, mwh: amount().min(0).describe('MWh the meter is nominated for in the hour') }).strict())
      .min(1)
      .max(MAX_MARKET_ROWS),
  })
  .strict();

export const ImbalanceRuleSchema = z
  .object({
    area: AreaSchema,
    effectiveFrom: plausibleDate().describe('First local date the rule applies to'),
    rule: z.enum(['min-max-k']).default('min-max-k').describe('positive = min(PTF, SMF) × (1 − kPositive); negative = max(PTF, SMF) × (1 + kNegative)'),
    kPositive: z.number().min(0).lt(1),
    kNegative: z.number().min(0).max(10).optional().describe('Default: kPositive; at most 10'),
    note: boundedString(500).optional(),
  })
  .strict();

export interface RowProblem {
  /** 0-based index in the request's array (or 1-based line for CSV). */
  readonly index: number;
  readonly reason: string;
}

/**
 * Hour starts of a batch as epoch ms: each must carry an offset, lie on a
 * whole UTC hour and appear once. Returns the instants (NaN for bad rows) and
 * one problem per bad row.
 * @example hourStarts(['2026-03-01T00:00:00+03:00']).ms // [1772312400000]
 */
export function hourStarts(starts: readonly string[], firstIndex = 0): { ms: number[]; problems: RowProblem[] } {
  const problems: RowProblem[] = [];
  const seen = new Map<number, number>();
  const ms = starts.map((s, i) => {
    const index = i + firstIndex;
    const p = storedInstant(s);
    if (!p.ok) {
      problems.push({ index, reason: `start: ${p.reason}` });
      return NaN;
    }
    if (p.ms % HOUR_MS !== 0) {
      problems.push({ index, reason: `start ${s} is not the start of an hour (minutes and seconds must be 0)` });
      return NaN;
    }
    const dup = seen.get(p.ms);
    if (dup !== undefined) {
      problems.push({ index, reason: `start ${s} repeats row ${dup}: one row per hour` });
      return NaN;
    }
    seen.set(p.ms, index);
    return p.ms;
  });
  return { ms, problems };
}

/**
 * How the imbalance reports treat a meter-hour without a complete actual
 * (docs/imbalance.md "What the figures mean when data is missing"): `none`
 * leaves its hour out of the figures and flags it (the default); `estimate`
 * completes it with VEE estimates, `forecast` with the newest day-ahead P50,
 * `estimate-or-forecast` with estimates first — declared provisional.
 */
export const FILL_MODES = ['none', 'estimate', 'forecast', 'estimate-or-forecast'] as const;
export type FillMode = (typeof FILL_MODES)[number];

/** Zone prices of an area are shown in (GET /v1/market/prices); areas not listed: UTC. */
export const AREA_TIMEZONES: Readonly<Record<string, string>> = { TR: 'Europe/Istanbul', PL: 'Europe/Warsaw', SK: 'Europe/Bratislava', CZ: 'Europe/Prague', HU: 'Europe/Budapest' };
export const areaTimezone = (area: string): string => AREA_TIMEZONES[area] ?? 'UTC';
