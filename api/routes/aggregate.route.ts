import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ChannelNameSchema } from '../../models/channel.js';
import { MdmError } from '../../models/errors.js';
import { FIGURE_DECIMALS, roundFigure } from '../../models/precision.js';
import { formatInstant, isValidTimeZone } from '../../models/time.js';
import { aggregateSeries, findQueryMeters } from '../../sql/reading-query.repository.js';
import type { RouteContext } from '../app.js';
import { MAX_RANGE_DAYS, channelParam, rangeParams } from '../query-params.js';
import { authErrors, ErrorSchema, InstantQuery } from '../schemas.js';
import { sendXlsx, XLSX_TYPE } from '../xlsx-reply.js';
import { CsvLocaleQuery, csvStyle } from '../csv-locale.js';

/** Longest meters= list; larger sets: register them in a group or portfolio. */
const MAX_LISTED_METERS = 5_000;

const SelectorSchema = z
  .object({ portfolio: z.string().optional(), group: z.string().optional(), meters: z.array(z.string()).optional() })
  .describe('The selector of the request: exactly one of portfolio, group, meters');

const AggregateSchema = z.object({
  selector: SelectorSchema,
  channel: ChannelNameSchema,
  unit: z.string(),
  aggregation: z.enum(['sum', 'mean', 'max']).describe("The channel's aggregation rule (GET /v1/channels): how the values of a bucket combine"),
  interval: z.enum(['hour', 'day', 'month']),
  tz: z.string().describe('Time zone the buckets are local hours, days or months of'),
  meterCount: z.number().int().describe('Meters selected (with or without data in the range)'),
  rows: z
    .array(
      z.object({
        start: z.string().describe('Bucket start, local time in tz with its offset'),
        value: z
          .number()
          .describe(
            `sum: Σ value × meter multiplier over the bucket; mean: the mean of the stored values (no multiplier: voltages, currents, temperatures); max: the largest value × meter multiplier. Rounded to 10⁻${FIGURE_DECIMALS} of unit`,
          ),
        meters: z.number().int().describe('Distinct meters with data in the bucket'),
        intervals: z.number().int().describe('Stored values behind the value'),
      }),
    )
    .describe('Oldest first; only buckets with data'),
});

/** Columns of format=csv: the row fields, each row with its channel and unit. */
const CSV_COLUMNS = ['channel', 'unit', 'start', 'value', 'meters', 'intervals'] as const;

/** GET /aggregate: the series of a portfolio, a group or a list of meters, combined by the channel's aggregation rule. */
export const aggregateRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  app.get(
    '/aggregate',
    {
      config: { permission: 'aggregate:read' },
      schema: {
        tags: ['aggregate'],
        summary: "Series of a set of meters combined by the channel's aggregation rule (sum, mean, max), bucketed by local hour/day/month in tz",
        description:
          'Exactly one selector: portfolio, group or meters (comma-separated external ids; unknown ids → 404). The channel decides how values combine ' +
          '(GET /v1/channels, aggregation): sum channels (energy, volume) add up with meter multipliers, mean channels (voltage, current, temperature, pressure) ' +
          'average, max channels (maximum demand) take the largest; last channels (register indexes, states) do not combine across meters (400: read them per meter). ' +
          'tz defaults to the time zone the selected meters share and is required ' +
          `when they differ. from inclusive, to exclusive; longest range ${MAX_RANGE_DAYS.hour} days hourly, ${MAX_RANGE_DAYS.day} days by day or month. ` +
          `Sums are rounded to 10⁻${FIGURE_DECIMALS} of the unit (docs/api.md, Precision). format=csv: text/csv, header ${CSV_COLUMNS.join(',')}, one line per row.`,
        produces: ['application/json', 'text/csv', XLSX_TYPE],
        querystring: z.object({
          portfolio: z.string().min(1).optional(),
          group: z.string().min(1).optional(),
          meters: z.string().min(1).optional().describe('Comma-separated external meter ids'),
          channel: z.string().min(1).describe('A channel whose aggregation is sum, mean or max (GET /v1/channels), by name or OBIS code'),
          from: InstantQuery.describe('Inclusive, ISO-8601 with offset or Z'),
          to: InstantQuery.describe('Exclusive, ISO-8601 with offset or Z'),
          interval: z.enum(['hour', 'day', 'month']),
          tz: z.string().min(1).optional().describe("IANA time zone of the buckets; default: the selected meters' common zone"),
          format: z.enum(['json', 'csv', 'xlsx']).default('json').describe('csv: text/csv, the rows only (same rounding); xlsx: the same columns as a workbook'),
          locale: CsvLocaleQuery,
        }),
        response: { 200: AggregateSchema, 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const given = (['portfolio', 'group', 'meters'] as const).filter((k) => q[k] !== undefined);
      if (given.length !== 1) {
        throw new MdmError('MDM_ERR_VALIDATION', [`give exactly one selector of portfolio, group, meters (got ${given.length ? given.join(', ') : 'none'})`]);
      }
      const channel = channelParam(q.channel);
      const aggregation = channel.aggregation;
      if (aggregation === 'last') {
        throw new MdmError('MDM_ERR_VALIDATION', [
          `channel ${channel.name} is ${channel.kind === 'instantaneous' || channel.kind === 'interval' ? 'an' : 'a'} ${channel.kind} channel aggregated by its last value: ` +
            'its values do not combine across meters; read them per meter (GET /v1/meters/{id}/readings), or aggregate a channel whose aggregation is sum, mean or max',
        ]);
      }
      const range = rangeParams(q.from, q.to, q.interval);
      if (q.tz !== undefined && !isValidTimeZone(q.tz)) {
        throw new MdmError('MDM_ERR_VALIDATION', [`unknown time zone "${q.tz}": use an IANA name such as Europe/Istanbul or Europe/Warsaw`]);
      }

      let selector: { portfolio: string } | { group: string } | { meters: string[] };
      if (q.portfolio !== undefined) selector = { portfolio: q.portfolio };
      else if (q.group !== undefined) selector = { group: q.group };
      else {
        const ids = [
          ...new Set(
            q
              .meters!.split(',')
              .map((s) => s.trim())
              .filter(Boolean),
          ),
        ];
        if (ids.length === 0) throw new MdmError('MDM_ERR_VALIDATION', ['meters= lists no meter id; give comma-separated external ids']);
        if (ids.length > MAX_LISTED_METERS) {
          throw new MdmError('MDM_ERR_TOO_MANY_METERS', [`meters= lists ${ids.length} ids; the limit is ${MAX_LISTED_METERS}: put the meters in a group or portfolio`]);
        }
        selector = { meters: ids };
      }

      const meters = await findQueryMeters(database, selector, range); // a portfolio: its members in the range (dated membership, docs/meters.md)
      if ('meters' in selector) {
        const found = new Set(meters.map((m) => m.externalId));
        const unknown = selector.meters.filter((id) => !found.has(id));
        if (unknown.length) throw new MdmError('MDM_ERR_UNKNOWN_METER', [unknown.join('", "')], { details: { unknownMeters: unknown } });
      } else if (meters.length === 0) {
        const [code, kind, name] = 'portfolio' in selector ? (['MDM_ERR_UNKNOWN_PORTFOLIO', 'portfolio', selector.portfolio] as const) : (['MDM_ERR_UNKNOWN_GROUP', 'group', selector.group] as const);
        throw new MdmError(code, [`no meter is registered in ${kind} "${name}"`]);
      }

      let tz = q.tz;
      if (tz === undefined) {
        const zones = [...new Set(meters.map((m) => m.timezone))].sort();
        if (zones.length > 1) {
          throw new MdmError('MDM_ERR_AMBIGUOUS_TIME_ZONE', [`the selected meters are in ${zones.length} time zones (${zones.join(', ')}): say which one to bucket in with tz=`], {
            details: { timezones: zones },
          });
        }
        tz = zones[0];
      }

      const parts = new Map(meters.flatMap((m) => (m.member ? [[m.id, m.member] as const] : [])));
      const series = await aggregateSeries(database, { meterIds: meters.map((m) => m.id), channel: channel.code, unit: q.interval, tz, aggregation, ...range, parts });
      // Computed in double precision, rounded at the edge (models/precision.ts): 769.1, not 769.0999999999999.
      const rows = series.map((r) => ({ start: formatInstant(r.bucket.getTime(), tz), value: roundFigure(r.value), meters: r.meters, intervals: r.intervals }));
      if (q.format === 'xlsx') {
        const cells = rows.map((r) => [channel.name, channel.unit, r.start, r.value, r.meters, r.intervals]);
        return sendXlsx(reply, `aggregate-${channel.name}-${q.interval}.xlsx`, `${channel.name} ${q.interval}`, CSV_COLUMNS, cells);
      }
      if (q.format === 'csv') {
        const style = csvStyle(q.locale);
        const text = style.bom + style.line(CSV_COLUMNS) + rows.map((r) => style.line([channel.name, channel.unit, r.start, r.value, r.meters, r.intervals])).join('');
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="aggregate-${channel.name}-${q.interval}.csv"`)
          .send(text as never);
      }
      return { selector, channel: channel.name, unit: channel.unit, aggregation, interval: q.interval, tz, meterCount: meters.length, rows };
    },
  );
};
