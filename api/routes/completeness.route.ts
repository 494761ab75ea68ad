import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { runBillingForRequest } from '../../billing/billing-run.js';
import { completenessOf } from '../../billing/figures.js';
import { FIGURE_DECIMALS } from '../../models/precision.js';
import { formatInstant } from '../../models/time.js';
import type { RouteContext } from '../app.js';
import { asOfParam } from '../query-params.js';
import { authErrors, ErrorSchema } from '../schemas.js';
import { periodParam, selectorParam } from './billing.route.js';

const CompletenessSchema = z.object({
  period: z.string(),
  asOf: z.string().nullable(),
  dataVersion: z.string(),
  meters: z
    .array(
      z.object({
        meter: z.string(),
        from: z.string().nullable().describe("Start of the meter window: its local month cut to its supply dates, in the meter's local time with its offset; null when empty"),
        to: z.string().nullable().describe("End of the meter window (exclusive), in the meter's local time with its offset; null when empty"),
        expected: z
          .number()
          .int()
          .describe(
            "Intervals of the meter's length in the window (DST-aware: 743 hourly in a Warsaw March) of its primary channel: active import; volume for gas and water; 0 for heat (models/commodity.ts)",
          ),
        measured: z.number().int().describe('Quality measured or validated'),
        suspect: z.number().int().describe('Measured values VEE marked suspect'),
        estimated: z.number().int(),
        edited: z.number().int(),
        missing: z.number().int().describe('expected − measured − suspect − estimated − edited (stored "missing" placeholders count here)'),
        completeness: z.number().nullable().describe(`(expected − missing) / expected, to 10⁻${FIGURE_DECIMALS}`),
        openFailIssues: z.number().int().describe('Open validation issues of severity fail overlapping the window'),
      }),
    )
    .describe('Ordered by meter id'),
});

/** GET /completeness: interval counts per meter for a local month. */
export const completenessRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  app.get(
    '/completeness',
    {
      config: { permission: 'readings:read' },
      schema: {
        tags: ['billing'],
        summary: "Completeness of each meter's primary channel (active import; volume for gas and water) for a month in each meter's local time",
        description: 'At most one selector (meters, group, portfolio); none = every meter. asOf: the data as it was then.',
        querystring: z.object({
          period: z.string().describe('Calendar month YYYY-MM'),
          meters: z.string().min(1).optional().describe('Comma-separated external meter ids'),
          group: z.string().min(1).optional(),
          portfolio: z.string().min(1).optional(),
          asOf: z.string().optional(),
        }),
        response: { 200: CompletenessSchema, 400: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const period = periodParam(req.query.period);
      const asOf = asOfParam(req.query.asOf);
      const selector = await selectorParam(database, req.query);
      const now = Date.now();
      const run = await runBillingForRequest(database, {
        selector,
        window: { kind: 'period', fromDate: period.fromDate, toDate: period.toDate },
        asOf,
        readiness: { noDataDays: Number.POSITIVE_INFINITY },
        now,
      });
      return {
        period: period.period,
        asOf: asOf ? asOf.toISOString() : null,
        dataVersion: run.dataVersion,
        meters: run.rows.map((r) => {
          const empty = r.windowTo <= r.windowFrom;
          return {
            meter: r.externalId,
            from: empty ? null : formatInstant(r.windowFrom.getTime(), r.timezone),
            to: empty ? null : formatInstant(r.windowTo.getTime(), r.timezone),
            ...completenessOf(r),
            openFailIssues: r.openFailIssues,
          };
        }),
      };
    },
  );
};
