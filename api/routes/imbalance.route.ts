import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { csvLine } from '../../adapters/file/csv.js';
import { localMonthRange } from '../../models/calendar.js';
import { MdmError } from '../../models/errors.js';
import { formatInstant } from '../../models/time.js';
import { bucketImbalance, isWholeHour, meterImbalance } from '../../sql/imbalance.repository.js';
import { requirePortfolio } from '../../sql/portfolio.repository.js';
import type { RouteContext } from '../app.js';
import { rangeParams } from '../query-params.js';
import { authErrors, ErrorSchema, InstantQuery } from '../schemas.js';

const CSV = 'text/csv';

const UnitsSchema = z.object({ energy: z.literal('MWh'), price: z.string().describe('e.g. TRY/MWh'), cost: z.string().describe('e.g. TRY') });

const BucketSchema = z.object({
  start: z.string().describe("Bucket start in the portfolio's zone, with offset"),
  hours: z.number().int().describe('Hours with a position or a meter value'),
  unpricedHours: z.number().int().describe('Hours without PTF/SMF or imbalance price: left out of the costs'),
  positionMWh: z.number(),
  bilateralMWh: z.number(),
  dayAheadMWh: z.number(),
  intradayMWh: z.number(),
  consumptionMWh: z.number().describe('Σ actual active import of the member meters'),
  imbalanceMWh: z.number().describe('position − consumption; > 0 surplus, < 0 deficit'),
  ptf: z.number().nullable().describe('Per MWh; day/month: mean of the hours'),
  smf: z.number().nullable(),
  positivePrice: z.number().nullable().describe('Positive imbalance price (published, else the rule)'),
  negativePrice: z.number().nullable(),
  priceSource: z.enum(['published', 'rule']).nullable().describe('Hour buckets only'),
  systemDirection: z.string().nullable().describe('Hour buckets only, when published'),
  imbalanceCost: z.number().nullable().describe('Portfolio cost against trading at PTF'),
  standaloneCost: z.number().nullable().describe('Σ of the meters’ standalone costs'),
  nettingBenefit: z.number().nullable().describe('standaloneCost − imbalanceCost'),
});

const METER_FIELDS = ['meter', 'energyMWh', 'imbalanceMWh', 'imbalanceCost', 'standaloneCost', 'costPerMWh', 'shareOfPortfolioCost'] as const;
const MeterRowSchema = z.object({
  meter: z.string(),
  energyMWh: z.number().describe('Actual consumption'),
  imbalanceMWh: z.number().describe('Σ (allocated position − actual)'),
  imbalanceCost: z.number().describe('The meter’s share of the portfolio cost (pro rata to standalone costs, hour by hour)'),
  standaloneCost: z.number().describe('Cost of its imbalance as if settled alone'),
  costPerMWh: z.number().nullable().describe('imbalanceCost / energyMWh; null without consumption'),
  shareOfPortfolioCost: z.number().nullable().describe('imbalanceCost / portfolio cost, 0…1; null when the portfolio cost is 0'),
});
type MeterRow = z.infer<typeof MeterRowSchema>;

const units = (currency: string) => ({ energy: 'MWh' as const, price: `${currency}/MWh`, cost: currency });

/** Portfolio and per-meter imbalance volumes and costs. See docs/imbalance.md. */
export const imbalanceRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  app.get(
    '/imbalance',
    {
      config: { permission: 'imbalance:read' },
      schema: {
        tags: ['imbalance'],
        summary: 'Portfolio imbalance per local hour, day or month: position, consumption, imbalance (MWh), prices, cost, netting benefit',
        description:
          "Buckets in the portfolio's zone (a DST day has 23 or 25 hours); from/to whole hours. Only buckets with a position or meter data. format=csv: the row fields as columns. See docs/imbalance.md.",
        produces: ['application/json', CSV],
        querystring: z.object({
          portfolio: z.string().min(1),
          from: InstantQuery.describe('Inclusive, a whole hour'),
          to: InstantQuery.describe('Exclusive, a whole hour'),
          interval: z.enum(['hour', 'day', 'month']).default('hour'),
          format: z.enum(['json', 'csv']).default('json'),
        }),
        response: {
          200: z.object({
            portfolio: z.string(),
            area: z.string(),
            currency: z.string(),
            timezone: z.string(),
            interval: z.enum(['hour', 'day', 'month']),
            from: z.string(),
            to: z.string(),
            units: UnitsSchema,
            rows: z.array(BucketSchema),
          }),
          400: ErrorSchema,
          404: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const p = await requirePortfolio(database, q.portfolio);
      const { from, to } = rangeParams(q.from, q.to, q.interval);
      if (!isWholeHour(from.getTime()) || !isWholeHour(to.getTime())) throw new MdmError('MDM_ERR_VALIDATION', ['from and to must be whole hours (minutes and seconds 0)']);
      const buckets = await bucketImbalance(database, { portfolio: p.id, area: p.area, timezone: p.timezone, from, to, unit: q.interval });
      const rows = buckets.map((b) => ({
        start: formatInstant(new Date(b.bucket).getTime(), p.timezone),
        hours: b.hours,
        unpricedHours: b.unpricedHours,
        positionMWh: b.position,
        bilateralMWh: b.bilateral,
        dayAheadMWh: b.dayAhead,
        intradayMWh: b.intraday,
        consumptionMWh: b.consumption,
        imbalanceMWh: b.imbalance,
        ptf: b.ptf,
        smf: b.smf,
        positivePrice: b.positivePrice,
        negativePrice: b.negativePrice,
        priceSource: b.priceSource as 'published' | 'rule' | null,
        systemDirection: b.systemDirection,
        imbalanceCost: b.cost,
        standaloneCost: b.standalone,
        nettingBenefit: b.cost === null || b.standalone === null ? null : b.standalone - b.cost,
      }));
      if (q.format === 'csv') {
        const cols = Object.keys(BucketSchema.shape) as (keyof (typeof rows)[number])[];
        const text = csvLine(cols) + rows.map((r) => csvLine(cols.map((c) => r[c] ?? ''))).join('');
        return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="imbalance-${p.id}.csv"`).send(text as never);
      }
      return { portfolio: p.id, area: p.area, currency: p.currency, timezone: p.timezone, interval: q.interval, from: from.toISOString(), to: to.toISOString(), units: units(p.currency), rows };
    },
  );

  app.get(
    '/imbalance/meters',
    {
      config: { permission: 'imbalance:read' },
      schema: {
        tags: ['imbalance'],
        summary: 'Per-meter imbalance of a portfolio for a month: energy, imbalance, cost share, standalone cost, cost per MWh',
        description:
          "period=YYYY-MM is the portfolio's local month. The position of each hour is allocated to the meters in proportion to their newest day-ahead P50 " +
          '(or their nominations, where given). sort: one of the row fields (default imbalanceCost), order asc|desc (default desc). format=csv: the rows only. See docs/imbalance.md.',
        produces: ['application/json', CSV],
        querystring: z.object({
          portfolio: z.string().min(1),
          period: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month YYYY-MM'),
          sort: z.enum(METER_FIELDS).default('imbalanceCost'),
          order: z.enum(['asc', 'desc']).default('desc'),
          format: z.enum(['json', 'csv']).default('json'),
        }),
        response: {
          200: z.object({
            portfolio: z.string(),
            period: z.string(),
            area: z.string(),
            currency: z.string(),
            timezone: z.string(),
            from: z.string(),
            to: z.string(),
            units: UnitsSchema,
            totals: z.object({
              hours: z.number().int(),
              unpricedHours: z.number().int(),
              positionMWh: z.number(),
              energyMWh: z.number(),
              imbalanceMWh: z.number(),
              imbalanceCost: z.number().describe('Portfolio cost'),
              standaloneCost: z.number().describe('Σ of the meters’ standalone costs'),
              nettingBenefit: z.number().describe('standaloneCost − imbalanceCost'),
            }),
            meters: z.array(MeterRowSchema),
          }),
          400: ErrorSchema,
          404: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const p = await requirePortfolio(database, q.portfolio);
      const { fromMs, toMs } = localMonthRange(q.period, p.timezone);
      const r = await meterImbalance(database, { portfolio: p.id, area: p.area, timezone: p.timezone, from: new Date(fromMs), to: new Date(toMs) });
      const t = r.totals;
      const meters: MeterRow[] = r.meters.map((m) => ({
        meter: m.meter,
        energyMWh: m.energy,
        imbalanceMWh: m.imbalance,
        imbalanceCost: m.cost,
        standaloneCost: m.standalone,
        costPerMWh: m.energy > 0 ? m.cost / m.energy : null,
        shareOfPortfolioCost: t.cost !== 0 ? m.cost / t.cost : null,
      }));
      const dir = q.order === 'asc' ? 1 : -1;
      meters.sort((a, b) => {
        const x = a[q.sort];
        const y = b[q.sort];
        if (x === y) return a.meter < b.meter ? -1 : 1;
        if (x === null) return 1; // nulls last either way
        if (y === null) return -1;
        return (x < y ? -1 : 1) * dir;
      });
      if (q.format === 'csv') {
        const text = csvLine(METER_FIELDS) + meters.map((m) => csvLine(METER_FIELDS.map((c) => m[c] ?? ''))).join('');
        return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="imbalance-meters-${p.id}-${q.period}.csv"`).send(text as never);
      }
      return {
        portfolio: p.id,
        period: q.period,
        area: p.area,
        currency: p.currency,
        timezone: p.timezone,
        from: formatInstant(fromMs, p.timezone),
        to: formatInstant(toMs, p.timezone),
        units: units(p.currency),
        totals: {
          hours: t.hours,
          unpricedHours: t.unpricedHours,
          positionMWh: t.position,
          energyMWh: t.energy,
          imbalanceMWh: t.imbalance,
          imbalanceCost: t.cost,
          standaloneCost: t.standalone,
          nettingBenefit: t.standalone - t.cost,
        },
        meters,
      };
    },
  );
};
