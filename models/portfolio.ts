import { z } from 'zod';
import { idText } from './input-schemas.js';
import { isValidTimeZone } from './time.js';

/** Market areas whose rules ship with the product; others can be named and get rules through the API. */
export const DEFAULT_AREA = 'TR';
export const DEFAULT_CURRENCY = 'TRY';
export const DEFAULT_TIMEZONE = 'Europe/Istanbul';
export const DEFAULT_DAY_AHEAD_CUTOFF = '10:00';

/**
 * `PUT /v1/portfolios/:id`: a portfolio's settings. Membership is the
 * meters' `portfolio` field. A PUT replaces the settings: a field left out
 * takes its default, and `timezone`/`weatherStation` left out are derived
 * from the member meters (the most common value) whenever they are read.
 */
export const PortfolioSettingsSchema = z
  .object({
    area: z
      .string()
      .min(1)
      .max(32)
      .regex(/^[A-Z0-9_-]+$/, 'must be an upper-case market area code such as TR, PL, SK')
      .default(DEFAULT_AREA)
      .describe('Market area the portfolio is settled in (prices and imbalance rules)'),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as TRY, EUR, PLN')
      .default(DEFAULT_CURRENCY)
      .describe('Currency of prices and costs'),
    timezone: z
      .string()
      .max(64)
      .refine(isValidTimeZone, { message: 'unknown IANA time zone (e.g. Europe/Istanbul, Europe/Warsaw)' })
      .nullish()
      .describe('IANA zone of local hours, days and months; default: the most common zone of the member meters'),
    weatherStation: idText().min(1).nullish().describe('Id of a registered meter with commodity `weather`; default: the most common station of the member meters'),
    dayAheadCutoff: z
      .string()
      .regex(/^([01][0-9]|2[0-3]):[0-5][0-9]$/, 'must be a local time HH:MM, e.g. 10:00')
      .default(DEFAULT_DAY_AHEAD_CUTOFF)
      .describe('Local time on day D up to which data is used for the day-ahead forecast of D+1'),
  })
  .strict();
export type PortfolioSettingsInput = z.input<typeof PortfolioSettingsSchema>;

export const PortfolioOutSchema = z
  .object({
    id: z.string(),
    area: z.string(),
    currency: z.string(),
    timezone: z.string().describe('As set, else derived from the member meters, else Europe/Istanbul'),
    weatherStation: z.string().nullable().describe('As set, else derived from the member meters, else null'),
    dayAheadCutoff: z.string(),
    derived: z.object({ timezone: z.boolean(), weatherStation: z.boolean() }).describe('True where the value comes from the member meters rather than the stored settings'),
    meters: z.number().int().describe('Member meters (meters whose portfolio is this id)'),
    stored: z.boolean().describe('False when no settings were PUT: every value is a default or derived'),
    updatedAt: z.string().nullable(),
  })
  .describe('A portfolio with its settings resolved');
export type PortfolioSettings = z.infer<typeof PortfolioOutSchema>;
