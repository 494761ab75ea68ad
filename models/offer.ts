import { z } from 'zod';
import { AreaSchema, CurrencySchema } from './market.js';
import { amount, idText } from './input-schemas.js';

/**
 * The request of an offer cost (issue 20, item 6): what POST /v1/offers/cost
 * takes and what `mdm offer-cost` builds from its flags, validated by the same
 * schema. docs/forecasting.md "Offer cost of a load profile".
 */

/** Most hourly values of an uploaded profile or a forward curve: two leap years. */
export const MAX_OFFER_HOURS = 17_568;
/** Longest from..to of a stored profile, days. */
export const MAX_OFFER_DAYS = 732;
/** Longest imbalance history window, days. */
export const MAX_IMBALANCE_DAYS = 366;

const instant = z.string().min(1).max(40).describe('ISO-8601 instant with offset or Z, a whole hour');

const hourly = <T extends z.ZodType>(value: T) =>
  z
    .object({
      start: instant.describe('The first hour of `values`'),
      values: z.array(value).min(1).max(MAX_OFFER_HOURS).describe('One value per hour from `start`'),
    })
    .strict();

export const OfferProfileSchema = hourly(amount().min(0))
  .extend({ unit: z.enum(['kWh', 'MWh']).default('kWh') })
  .strict();

export const OfferPricesSchema = z.discriminatedUnion('source', [
  z
    .object({
      source: z.literal('ptf'),
      area: AreaSchema.optional().describe("Market area of the stored PTF (default: the imbalance portfolio's area, else TR)"),
    })
    .strict(),
  z
    .object({
      source: z.literal('curve'),
      currency: CurrencySchema,
      start: instant,
      values: z.array(amount().nullable()).min(1).max(MAX_OFFER_HOURS).describe('Price per MWh of each hour from `start`; null = no price for that hour (reported, never read as 0)'),
    })
    .strict(),
]);

export const OfferImbalanceSchema = z.union([
  z
    .object({
      portfolio: idText().min(1).optional().describe("The portfolio whose imbalance history prices the risk (default: the target's)"),
      from: instant.optional().describe('Start of the history (default: 90 days before `to`)'),
      to: instant.optional().describe('End of the history, exclusive (default: the end of the offer period or now, the earlier)'),
    })
    .strict(),
  z.object({ costPerMWh: amount().describe('A given expected imbalance cost per MWh instead of the history') }).strict(),
]);

export const OfferRequestSchema = z
  .object({
    target: z
      .string()
      .max(200)
      .regex(/^(meter|group|portfolio):.+$/, 'must be meter:M, group:G or portfolio:P')
      .optional()
      .describe('A stored profile: the hourly active import of a meter, or the sum of a group or portfolio'),
    profile: OfferProfileSchema.optional().describe('An uploaded profile (instead of target)'),
    from: instant.optional().describe('With target: the offer period start (inclusive)'),
    to: instant.optional().describe('With target: the offer period end (exclusive)'),
    basis: z
      .enum(['actual', 'typical'])
      .optional()
      .describe("With target: actual = the target's own hours of the period (past PTF); typical = its mean by month, day type and local hour over the year before `asOf` (default for a curve)"),
    asOf: instant.optional().describe('With basis typical: the end of the history (default now)'),
    prices: OfferPricesSchema,
    imbalance: OfferImbalanceSchema.optional(),
    otherCostsPerMWh: amount().optional().describe('Other costs per MWh added to the break-even price (fees, margin)'),
  })
  .strict();
export type OfferRequest = z.infer<typeof OfferRequestSchema>;
