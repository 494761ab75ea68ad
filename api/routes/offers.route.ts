import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_MISSING_RANGES } from '../../forecast/offer-cost.js';
import { priceOffer, type OfferPricing } from '../../forecast/offer-pricing.js';
import { OfferRequestSchema } from '../../models/offer.js';
import { roundFigure as r6 } from '../../models/precision.js';
import type { RouteContext } from '../app.js';
import { authErrors, ErrorSchema } from '../schemas.js';

const price = (what: string) => z.number().nullable().describe(`${what}, per MWh in \`currency\`; null when no hour is priced`);

export const OfferCostSchema = z.object({
  currency: z.string().nullable().describe('Of the prices (the area’s stored PTF, or the curve’s); null when the area has no price at all'),
  profile: z.object({
    source: z.string().describe('meter:M, group:G, portfolio:P or uploaded'),
    basis: z.enum(['actual', 'typical', 'uploaded']),
    timezone: z.string().describe('Of the day types and local hours of a typical profile'),
    from: z.string(),
    to: z.string(),
    hours: z.number().int(),
    hoursWithValue: z.number().int(),
    missingHours: z.number().int().describe('Hours of the period without a profile value (a stored hour missing or incomplete, no typical value): left out, never read as 0'),
    energyMWh: z.number().describe('Σ over the hours with a value'),
    history: z.object({ from: z.string(), to: z.string() }).optional().describe('Typical: the history it is the mean of'),
  }),
  prices: z.object({
    source: z.enum(['ptf', 'curve']),
    area: z.string().nullable(),
    pricedHours: z.number().int().describe('Hours with a profile value and a price: every figure is over these'),
    missingHours: z.number().int().describe('Hours with a profile value and no price (absent, or held as not yet published): left out of every figure, never read as 0'),
    missing: z.array(z.object({ from: z.string(), to: z.string(), hours: z.number().int() })).describe(`Runs of hours without a price, oldest first, at most ${MAX_MISSING_RANGES}`),
    coverage: z.number().nullable().describe('pricedHours / hoursWithValue, 0…1'),
    energyCoverage: z.number().nullable().describe('Share of the profile energy in priced hours, 0…1'),
  }),
  pricedEnergyMWh: z.number(),
  energyCost: z.number().nullable().describe('Σ energy × price over the priced hours, in `currency`'),
  energyWeightedPrice: price('Σ energy × price / Σ energy'),
  baseloadPrice: price('Mean price of the priced hours (a flat band over the same hours)'),
  profileFactor: z.number().nullable().describe('energyWeightedPrice / baseloadPrice: 1 = flat, > 1 the profile consumes more in dear hours'),
  shapePremium: price('energyWeightedPrice − baseloadPrice'),
  imbalance: z.object({
    basis: z.enum(['history', 'given', 'none']),
    portfolio: z.string().nullable(),
    from: z.string().nullable(),
    to: z.string().nullable(),
    costPerMWh: z.number().nullable().describe("Σ imbalance cost / Σ consumption over the portfolio's hours with both (history), or the given figure; null: unknown (reason)"),
    cost: z.number().nullable(),
    energyMWh: z.number().nullable(),
    hours: z.number().int().describe('Hours of the history with consumption and a cost'),
    unpricedHours: z.number().int().describe('Hours of the history without prices: left out'),
    missingActualHours: z.number().int().describe('Hours of the history left out because a member had no actual'),
    reason: z.string().optional(),
  }),
  otherCostsPerMWh: z.number(),
  breakEvenPrice: price('energyWeightedPrice + imbalance.costPerMWh + otherCostsPerMWh: the lowest flat price covering the expected cost; null when either is unknown'),
  complete: z.boolean().describe('Every hour of the period has a profile value and a price'),
});

/** The response body of an offer cost (also what `mdm offer-cost --json` prints). */
export function offerCostBody(p: OfferPricing): z.infer<typeof OfferCostSchema> {
  const c = p.cost;
  const i = p.imbalance;
  return {
    currency: p.currency,
    profile: { ...p.profile, hours: c.hours, hoursWithValue: c.profileHours, energyMWh: r6(c.energyMWh) },
    prices: {
      source: p.prices.source,
      area: p.prices.area,
      pricedHours: c.pricedHours,
      missingHours: c.missingPriceHours,
      missing: c.missingPriceRanges,
      coverage: r6(c.priceCoverage),
      energyCoverage: r6(c.energyCoverage),
    },
    pricedEnergyMWh: r6(c.pricedEnergyMWh),
    energyCost: r6(c.energyCost),
    energyWeightedPrice: r6(c.energyWeightedPrice),
    baseloadPrice: r6(c.baseloadPrice),
    profileFactor: r6(c.profileFactor),
    shapePremium: r6(c.shapePremium),
    imbalance: {
      basis: i.basis,
      portfolio: i.portfolio,
      from: i.from,
      to: i.to,
      costPerMWh: r6(i.costPerMWh),
      cost: r6(i.cost),
      energyMWh: r6(i.energyMWh),
      hours: i.hours,
      unpricedHours: i.unpricedHours,
      missingActualHours: i.missingActualHours,
      ...(i.reason ? { reason: i.reason } : {}),
    },
    otherCostsPerMWh: c.otherCostsPerMWh,
    breakEvenPrice: r6(c.breakEvenPrice),
    complete: c.complete,
  };
}

/** Offer cost of a load profile (issue 20): docs/forecasting.md "Offer cost of a load profile". */
export const offerRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  app.post(
    '/offers/cost',
    {
      // Traders price offers (the sales desk uses trader keys): it reads market prices, meter data and imbalance history.
      config: { permission: 'market:read' },
      bodyLimit: 2 * 1024 * 1024,
      schema: {
        tags: ['market'],
        summary: 'Offer cost of a load profile: energy-weighted price, profile factor, expected imbalance cost per MWh, break-even price',
        description:
          'The profile: a stored meter, group or portfolio (target, from, to; basis actual = its own hours, typical = its mean by month, day type and local hour over the year before asOf) ' +
          'or uploaded hourly values (profile). The prices: the stored PTF of an area, or a forward curve in the body. The imbalance cost per MWh: from the history of the ' +
          "target's portfolio (or imbalance.portfolio), or given. Hours without a price are reported (prices.missing, coverage), never read as 0. See docs/forecasting.md.",
        body: OfferRequestSchema,
        response: { 200: OfferCostSchema, 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, 413: ErrorSchema, ...authErrors },
      },
    },
    async (req) => offerCostBody(await priceOffer(database, req.body, Date.now())),
  );
};
