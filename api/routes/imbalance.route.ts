import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { localMonthRange } from '../../models/calendar.js';
import { MdmError } from '../../models/errors.js';
import { roundFigure as r6 } from '../../models/precision.js';
import { formatInstant } from '../../models/time.js';
import { FILL_MODES } from '../../models/market.js';
import { SPREAD_RULES } from '../../market/settlement-periods.js';
import { bucketImbalance, meterImbalance, settlementGrid } from '../../sql/imbalance.repository.js';
import { requirePortfolio } from '../../sql/portfolio.repository.js';
import type { RouteContext } from '../app.js';
import { CsvLocaleQuery } from '../csv-locale.js';
import { rangeParams } from '../query-params.js';
import { sendTable, XLSX_TYPE } from '../xlsx-reply.js';
import { authErrors, ErrorSchema, InstantQuery } from '../schemas.js';

const CSV = 'text/csv';

const UnitsSchema = z.object({ energy: z.literal('MWh'), price: z.string().describe('e.g. TRY/MWh'), cost: z.string().describe('e.g. TRY') });

const FillQuery = z
  .enum(FILL_MODES)
  .default('none')
  .describe(
    'A meter-hour without an actual: none = the hour is left out of the figures and flagged (default); estimate = VEE estimates complete it; ' +
      'forecast = the newest day-ahead P50 fills it; estimate-or-forecast = estimates, then the forecast. Filled values are provisional.',
  );

const SpreadQuery = z
  .enum(SPREAD_RULES)
  .optional()
  .describe(
    "How an hourly meter's value (and an hourly day-ahead P50) is split into shorter settlement periods: flat = equal parts; profile = in proportion to the portfolio's meters that measure at the period " +
      "(flat where they have none). Default: the area's declared rule (PUT /v1/market/periods). Spread meter-periods are flagged (spreadMeters, spreadPeriods).",
  );

/** from/to must be settlement period starts of the area (whole hours where it settles hourly): 400 with the reason otherwise. */
async function checkedGrid(database: RouteContext['database'], area: string, from: Date, to: Date) {
  try {
    return await settlementGrid(database, { area, from, to });
  } catch (e) {
    if (e instanceof RangeError) throw new MdmError('MDM_ERR_MISALIGNED_TIME', [`from and to must start settlement periods of area ${area}: ${e.message}`]);
    throw e;
  }
}

const MetersCountSchema = z
  .object({
    members: z.number().int().describe('Meters expected to have consumption (supply period, else from their first value or registration), plus others that have an actual'),
    withActuals: z.number().int().describe('Meters with a complete actual'),
    provisional: z.number().int().describe('Meters counted with a provisional value (fill)'),
    missing: z.number().int().describe('Members without an actual (nor a fill): the hour is left out'),
  })
  .describe('Per hour bucket: meters; per day/month bucket: meter-hours');

const BucketSchema = z.object({
  start: z.string().describe("Bucket start in the portfolio's zone, with offset"),
  hours: z.number().int().describe('Hours of the bucket in the report: with a position or a meter value, or a finished hour in which a member is expected'),
  unpricedHours: z.number().int().describe('Hours without PTF/SMF or imbalance price (or with a price held as not yet published): left out of the costs'),
  positionMWh: z.number().describe('Σ position of every hour of the bucket (also those left out: see missingPositionMWh)'),
  bilateralMWh: z.number(),
  dayAheadMWh: z.number(),
  intradayMWh: z.number(),
  consumptionMWh: z.number().nullable().describe('Σ actual active import of the member meters over the counted hours; null when no hour is counted (never 0 for a missing actual)'),
  imbalanceMWh: z.number().nullable().describe('position − consumption over the counted hours; > 0 surplus, < 0 deficit; null when no hour is counted'),
  ptf: z.number().nullable().describe('Per MWh; day/month: mean of the hours'),
  smf: z.number().nullable(),
  positivePrice: z.number().nullable().describe('Positive imbalance price (published, else the rule)'),
  negativePrice: z.number().nullable(),
  priceSource: z.enum(['published', 'rule']).nullable().describe('Hour buckets only'),
  systemDirection: z.string().nullable().describe('Hour buckets only, when published'),
  imbalanceCost: z.number().nullable().describe('Portfolio cost against trading at PTF'),
  standaloneCost: z.number().nullable().describe('Σ of the meters’ standalone costs'),
  nettingBenefit: z.number().nullable().describe('standaloneCost − imbalanceCost'),
  actualsComplete: z.boolean().describe('Every member has a complete actual in every hour of the bucket (no hour left out, no provisional value)'),
  missingActualHours: z.number().int().describe('Hours left out of consumption, imbalance and costs because a member has no actual'),
  missingPositionMWh: z.number().describe('Position of those hours: imbalanceMWh = positionMWh − missingPositionMWh − consumptionMWh'),
  provisional: z.boolean().describe('Some counted hour holds a provisional value (fill)'),
  provisionalHours: z.number().int(),
  provisionalMWh: z.number().describe('Consumption of the meter-hours counted with a provisional value'),
  meters: MetersCountSchema,
  priced: z.boolean().describe('Every hour of the bucket has its prices (unpricedHours = 0)'),
  unpublishedPriceHours: z.number().int().describe('Unpriced hours with a price held as not yet published (an EPİAŞ 0 not confirmed)'),
  periodMinutes: z.number().int().describe("The area's settlement period (the shortest in the bucket), minutes; in a 15-minute market the *Hours counts are settlement periods"),
  spreadMeters: z.number().int().describe('Meter-periods whose value is a part of an hourly value spread by the rule (0 where the area settles hourly)'),
});

const METER_FIELDS = [
  'meter',
  'energyMWh',
  'imbalanceMWh',
  'imbalanceCost',
  'standaloneCost',
  'costPerMWh',
  'shareOfPortfolioCost',
  'missingActualHours',
  'provisionalHours',
  'provisionalMWh',
] as const;
const MeterRowSchema = z.object({
  meter: z.string(),
  energyMWh: z.number().describe('Actual consumption over the counted hours'),
  imbalanceMWh: z.number().describe('Σ (allocated position − actual)'),
  imbalanceCost: z.number().describe('The meter’s share of the portfolio cost (pro rata to standalone costs, hour by hour)'),
  standaloneCost: z.number().describe('Cost of its imbalance as if settled alone'),
  costPerMWh: z.number().nullable().describe('imbalanceCost / energyMWh; null without consumption'),
  shareOfPortfolioCost: z.number().nullable().describe('imbalanceCost / portfolio cost, 0…1; null when the portfolio cost is 0'),
  missingActualHours: z.number().int().describe('Hours the meter was expected and has no actual (each one leaves its hour out of every figure)'),
  provisionalHours: z.number().int().describe('Counted hours in which its consumption is (partly) a provisional value'),
  provisionalMWh: z.number(),
  spreadPeriods: z
    .number()
    .int()
    .optional()
    .describe(
      'Only where the area has periods shorter than an hour in the month: settlement periods in which its value is a part of an hourly value spread by the rule (an hourly meter in a 15-minute market)',
    ),
});
type MeterRow = z.infer<typeof MeterRowSchema>;

/** A CSV cell: booleans as true/false, null as empty. */
const cell = (v: unknown): string | number => (typeof v === 'number' ? v : v === null || v === undefined ? '' : String(v));

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
          "Buckets in the portfolio's zone (a DST day has 23 or 25 hours); from/to whole hours. Only buckets with a position, meter data or an expected member. " +
          'An hour in which a member has no actual is never read as 0: it is left out of consumption, imbalance and costs and flagged (missingActualHours, actualsComplete, meters), ' +
          'unless fill= declares a provisional value. Figures rounded to 10⁻⁶ of their unit. format=csv: the row fields as columns (meters as metersMembers, …). See docs/imbalance.md.',
        produces: ['application/json', CSV, XLSX_TYPE],
        querystring: z.object({
          portfolio: z.string().min(1),
          from: InstantQuery.describe('Inclusive, a whole hour'),
          to: InstantQuery.describe('Exclusive, a whole hour'),
          interval: z
            .enum(['period', 'hour', 'day', 'month'])
            .default('hour')
            .describe('period: each settlement period of the area (15 minutes where it settles by 15); hour, day, month: local buckets'),
          fill: FillQuery,
          spread: SpreadQuery,
          format: z.enum(['json', 'csv', 'xlsx']).default('json'),
          locale: CsvLocaleQuery,
        }),
        response: {
          200: z.object({
            portfolio: z.string(),
            area: z.string(),
            currency: z.string(),
            timezone: z.string(),
            interval: z.enum(['period', 'hour', 'day', 'month']),
            from: z.string(),
            to: z.string(),
            fill: z.enum(FILL_MODES),
            units: UnitsSchema,
            missingActualHours: z.number().int().describe('Σ over the rows'),
            provisionalHours: z.number().int(),
            unpricedHours: z.number().int(),
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
      const { from, to } = rangeParams(q.from, q.to, q.interval === 'period' ? 'hour' : q.interval);
      await checkedGrid(database, p.area, from, to);
      const buckets = await bucketImbalance(database, { portfolio: p.id, area: p.area, timezone: p.timezone, from, to, unit: q.interval, fill: q.fill, spread: q.spread, now: new Date() });
      const rows = buckets.map((b) => ({
        start: formatInstant(new Date(b.bucket).getTime(), p.timezone),
        hours: b.hours,
        unpricedHours: b.unpricedHours,
        positionMWh: r6(b.position),
        bilateralMWh: r6(b.bilateral),
        dayAheadMWh: r6(b.dayAhead),
        intradayMWh: r6(b.intraday),
        consumptionMWh: r6(b.consumption),
        imbalanceMWh: r6(b.imbalance),
        ptf: r6(b.ptf),
        smf: r6(b.smf),
        positivePrice: r6(b.positivePrice),
        negativePrice: r6(b.negativePrice),
        priceSource: b.priceSource as 'published' | 'rule' | null,
        systemDirection: b.systemDirection,
        imbalanceCost: r6(b.cost),
        standaloneCost: r6(b.standalone),
        nettingBenefit: b.cost === null || b.standalone === null ? null : r6(b.standalone - b.cost),
        actualsComplete: b.missingActualHours === 0 && b.provisionalHours === 0,
        missingActualHours: b.missingActualHours,
        missingPositionMWh: r6(b.missingPosition),
        provisional: b.provisionalHours > 0,
        provisionalHours: b.provisionalHours,
        provisionalMWh: r6(b.provisionalEnergy ?? 0),
        meters: { members: b.members, withActuals: b.withActuals, provisional: b.provisionalMeters, missing: b.missingMeters },
        priced: b.unpricedHours === 0,
        unpublishedPriceHours: b.unpublishedPriceHours,
        periodMinutes: b.periodMinutes,
        spreadMeters: b.spreadMeters,
      }));
      if (q.format !== 'json') {
        const cols = (Object.keys(BucketSchema.shape) as (keyof (typeof rows)[number])[]).filter((c) => c !== 'meters' && c !== 'periodMinutes' && c !== 'spreadMeters');
        const mcols = ['members', 'withActuals', 'provisional', 'missing'] as const;
        const head = [...cols, ...mcols.map((c) => `meters${c[0].toUpperCase()}${c.slice(1)}`)];
        return sendTable(
          reply,
          q.format,
          q.locale,
          `imbalance-${p.id}`,
          head,
          rows.map((r) => [...cols.map((c) => cell(r[c])), ...mcols.map((c) => r.meters[c])]),
        );
      }
      const sum = (f: (r: (typeof rows)[number]) => number) => rows.reduce((a, r) => a + f(r), 0);
      return {
        portfolio: p.id,
        area: p.area,
        currency: p.currency,
        timezone: p.timezone,
        interval: q.interval,
        from: from.toISOString(),
        to: to.toISOString(),
        fill: q.fill,
        units: units(p.currency),
        missingActualHours: sum((r) => r.missingActualHours),
        provisionalHours: sum((r) => r.provisionalHours),
        unpricedHours: sum((r) => r.unpricedHours),
        rows,
      };
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
          '(or their nominations, where given). An hour in which a member has no actual is left out of every figure (each meter counts its own missingActualHours) unless fill= declares ' +
          'a provisional value. sort: one of the row fields (default imbalanceCost), order asc|desc (default desc). Figures rounded to 10⁻⁶ of their unit. format=csv: the rows only. See docs/imbalance.md.',
        produces: ['application/json', CSV, XLSX_TYPE],
        querystring: z.object({
          portfolio: z.string().min(1),
          period: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month YYYY-MM'),
          sort: z.enum(METER_FIELDS).default('imbalanceCost'),
          order: z.enum(['asc', 'desc']).default('desc'),
          fill: FillQuery,
          spread: SpreadQuery,
          format: z.enum(['json', 'csv', 'xlsx']).default('json'),
          locale: CsvLocaleQuery,
        }),
        response: {
          200: z.object({
            portfolio: z.string(),
            period: z.string(),
            periodMinutes: z.number().int().describe("The area's shortest settlement period in the month, minutes"),
            area: z.string(),
            currency: z.string(),
            timezone: z.string(),
            from: z.string(),
            to: z.string(),
            fill: z.enum(FILL_MODES),
            units: UnitsSchema,
            totals: z.object({
              hours: z.number().int(),
              unpricedHours: z.number().int(),
              positionMWh: z.number().describe('Every hour (also those left out)'),
              energyMWh: z.number().describe('Counted hours'),
              imbalanceMWh: z.number().describe('Counted hours: positionMWh − missingPositionMWh − energyMWh'),
              imbalanceCost: z.number().describe('Portfolio cost'),
              standaloneCost: z.number().describe('Σ of the meters’ standalone costs'),
              nettingBenefit: z.number().describe('standaloneCost − imbalanceCost'),
              actualsComplete: z.boolean().describe('No hour left out and no provisional value'),
              missingActualHours: z.number().int().describe('Hours left out because a member has no actual'),
              missingMeterHours: z.number().int().describe('Member meter-hours without an actual'),
              missingPositionMWh: z.number(),
              provisionalHours: z.number().int(),
              provisionalMWh: z.number(),
              priced: z.boolean(),
              unpublishedPriceHours: z.number().int(),
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
      const grid = await checkedGrid(database, p.area, new Date(fromMs), new Date(toMs));
      const r = await meterImbalance(database, { portfolio: p.id, area: p.area, timezone: p.timezone, from: new Date(fromMs), to: new Date(toMs), fill: q.fill, spread: q.spread, now: new Date() });
      const t = r.totals;
      const subHourly = grid.segments.some((s) => s.minutes < 60);
      // Ratios from the unrounded sums, then every figure rounded at the edge.
      const meters: MeterRow[] = r.meters.map((m) => ({
        meter: m.meter,
        energyMWh: r6(m.energy),
        imbalanceMWh: r6(m.imbalance),
        imbalanceCost: r6(m.cost),
        standaloneCost: r6(m.standalone),
        costPerMWh: m.energy > 0 ? r6(m.cost / m.energy) : null,
        shareOfPortfolioCost: t.cost !== 0 ? r6(m.cost / t.cost) : null,
        missingActualHours: m.missingActualHours,
        provisionalHours: m.provisionalHours,
        provisionalMWh: r6(m.provisionalEnergy),
        ...(subHourly ? { spreadPeriods: m.spreadPeriods } : {}),
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
      if (q.format !== 'json') {
        return sendTable(
          reply,
          q.format,
          q.locale,
          `imbalance-meters-${p.id}-${q.period}`,
          METER_FIELDS,
          meters.map((m) => METER_FIELDS.map((c) => cell(m[c]))),
        );
      }
      return {
        portfolio: p.id,
        period: q.period,
        periodMinutes: grid.segments.reduce((a, s) => Math.min(a, s.minutes), 60),
        area: p.area,
        currency: p.currency,
        timezone: p.timezone,
        from: formatInstant(fromMs, p.timezone),
        to: formatInstant(toMs, p.timezone),
        fill: q.fill,
        units: units(p.currency),
        totals: {
          hours: t.hours,
          unpricedHours: t.unpricedHours,
          positionMWh: r6(t.position),
          energyMWh: r6(t.energy),
          imbalanceMWh: r6(t.imbalance),
          imbalanceCost: r6(t.cost),
          standaloneCost: r6(t.standalone),
          nettingBenefit: r6(t.standalone - t.cost),
          actualsComplete: t.missingActualHours === 0 && t.provisionalHours === 0,
          missingActualHours: t.missingActualHours,
          missingMeterHours: t.missingMeterHours,
          missingPositionMWh: r6(t.missingPosition),
          provisionalHours: t.provisionalHours,
          provisionalMWh: r6(t.provisionalEnergy),
          priced: t.unpricedHours === 0,
          unpublishedPriceHours: t.unpublishedPriceHours,
        },
        meters,
      };
    },
  );
};
