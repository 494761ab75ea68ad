import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { parseSettlementCsv } from '../../adapters/file/settlement-csv.js';
import { CsvError, CsvHeaderError } from '../../adapters/file/csv.js';
import { importSettlement } from '../../ingest/settlement-import.js';
import { localMonthRange } from '../../models/calendar.js';
import { channelDef } from '../../models/channel.js';
import { MdmError } from '../../models/errors.js';
import { sourceCode } from '../../models/reading.js';
import { idText } from '../../models/input-schemas.js';
import { PeriodText, SettlementBodySchema, SettlementImportResultSchema, type SettlementImportResult } from '../../models/settlement.js';
import { roundFigure } from '../../models/precision.js';
import { formatInstant } from '../../models/time.js';
import { recordDeadLetters } from '../../sql/dead-letter.repository.js';
import { findMeterRefs } from '../../sql/meter-lookup.repository.js';
import { listMetersForPeriod, listSettlementRows, settlementDifferences, type DifferenceRow } from '../../sql/settlement.repository.js';
import { CsvLocaleQuery } from '../csv-locale.js';
import { sendTable, XLSX_TYPE } from '../xlsx-reply.js';
import type { RouteContext } from '../app.js';
import { decodeCsvBody } from '../csv-body.js';
import { authErrors, ErrorSchema } from '../schemas.js';

const CSV = 'text/csv';
/** Most rows GET /settlement returns. */
const MAX_LIST_ROWS = 50_000;

/** JSON bodies: the envelope only (rows are checked one by one on import); CSV text passes through. */
const envelopeValidator: FastifySchemaCompiler<unknown> = (route) => {
  if (route.httpPart !== 'body') return validatorCompiler(route as Parameters<FastifySchemaCompiler<z.ZodType>>[0]);
  const envelope = SettlementBodySchema.extend({ rows: z.array(z.unknown()) }).strict();
  return (data: unknown) => {
    if (Buffer.isBuffer(data)) return { value: data };
    const r = envelope.safeParse(data);
    if (r.success) return { value: r.data };
    const why = r.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ');
    return { error: new MdmError('MDM_ERR_VALIDATION', [`body must be {period: "YYYY-MM", version, rows: [{meter, start, withdrawal, supply?}]} (${why}); or send ${CSV}`]) };
  };
};

export const DifferenceSchema = z.object({
  meter: z.string(),
  version: z.number().int().nullable().describe('Newest settlement version of the meter in the period; null: no settlement rows'),
  measuredKWh: z.number().nullable().describe('What we measured: newest non-settlement active_import values, multiplier applied; null: none'),
  settlementKWh: z.number().nullable().describe('Withdrawal of the newest settlement version of each hour; null: none'),
  differenceKWh: z.number().nullable().describe('settlementKWh − measuredKWh; null when either side is missing'),
  differencePercent: z.number().nullable().describe('differenceKWh / measuredKWh × 100; null when measuredKWh is 0 or missing'),
  hoursCompared: z.number().int().describe('Hours present on both sides'),
  hoursMissingMeasured: z.number().int().describe('Settled hours without a measured value'),
  hoursMissingSettlement: z.number().int().describe('Measured hours without a settlement row'),
});
type Difference = z.infer<typeof DifferenceSchema>;

/** Repository rows → report rows (multiplier applied, difference, percentage). Pure. */
export function differenceOf(r: DifferenceRow): Difference {
  const measured = r.measuredRaw === null ? null : roundFigure(r.measuredRaw * r.multiplier);
  const settled = r.settled === null ? null : roundFigure(r.settled);
  const diff = measured !== null && settled !== null ? roundFigure(settled - measured) : null;
  return {
    meter: r.meter,
    version: r.version,
    measuredKWh: measured,
    settlementKWh: settled,
    differenceKWh: diff,
    // A percentage to 10⁻⁴: the ratio to 10⁻⁶, the precision of every figure (models/precision.ts).
    differencePercent: diff !== null && measured ? Math.round((diff / measured) * 100 * 1e4) / 1e4 : null,
    hoursCompared: r.hoursBoth,
    hoursMissingMeasured: r.hoursMissingMeasured,
    hoursMissingSettlement: r.hoursMissingSettlement,
  };
}

const DIFF_COLUMNS = ['meter', 'version', 'measuredKWh', 'settlementKWh', 'differenceKWh', 'differencePercent', 'hoursCompared', 'hoursMissingMeasured', 'hoursMissingSettlement'] as const;

/** Settlement data: import (JSON or CSV), stored rows, and the measured-vs-settled reconciliation. */
export const settlementRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database, config, listeners }) => {
  const maxRows = config.MDM_MAX_BATCH_ROWS;
  app.addContentTypeParser(CSV, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.put(
    '/settlement',
    {
      config: { permission: 'settlement:write' },
      validatorCompiler: envelopeValidator,
      schema: {
        tags: ['settlement'],
        summary: 'Import one settlement version of a period (JSON), or a settlement CSV (text/csv, every version in it)',
        description:
          'application/json: {period, version, rows: [{meter, start, withdrawal, supply?}]} in kWh as settled (after the meter multiplier). ' +
          `text/csv: header meter,start,withdrawal[,supply][,version] (docs/settlement.md), with ?period=YYYY-MM (and ?version=N when there is no version column); ` +
          'the response then lists one result per version. Every version is kept; an hour is written into readings (source settlement, quality validated, ' +
          'the measured value moves to the history) unless a higher version of it is already stored. Rows outside the period, unknown meters, duplicate ' +
          `hours and a changed figure in an already stored version are rejected with their reason (GET /v1/rejects). At most ${maxRows} rows per request.`,
        consumes: ['application/json', CSV],
        querystring: z.object({
          period: PeriodText.optional().describe('text/csv only: the settlement month'),
          version: z.coerce.number().int().min(1).optional().describe('text/csv only: version of every row when the file has no version column'),
        }),
        body: SettlementBodySchema,
        response: {
          200: z.union([SettlementImportResultSchema, z.object({ results: z.array(SettlementImportResultSchema), rejected: SettlementImportResultSchema.shape.rejected })]),
          400: ErrorSchema,
          413: ErrorSchema,
          415: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const principal = req.principal.name;
      const body: unknown = req.body;
      if (!Buffer.isBuffer(body)) {
        const b = body as z.infer<typeof SettlementBodySchema>;
        if (b.rows.length > maxRows) throw new MdmError('MDM_ERR_BATCH_TOO_LARGE', [`${b.rows.length} rows; the limit is ${maxRows} per request: split the period by meters`]);
        return importSettlement(database, { period: b.period, version: b.version, rows: b.rows, principal, origin: 'api', listeners });
      }
      const period = req.query.period;
      if (!period) throw new MdmError('MDM_ERR_VALIDATION', ['a text/csv settlement import needs ?period=YYYY-MM (the settlement month)']);
      let csv;
      try {
        csv = parseSettlementCsv(decodeCsvBody(body, req.headers['content-type']), req.query.version);
      } catch (err) {
        if (err instanceof CsvHeaderError || err instanceof CsvError) throw new MdmError('MDM_ERR_CSV_FORMAT', [err.message]);
        throw err;
      }
      const total = csv.groups.reduce((n, g) => n + g.rows.length, 0);
      if (total > maxRows) throw new MdmError('MDM_ERR_BATCH_TOO_LARGE', [`${total} rows; the limit is ${maxRows} per request: split the file`]);
      await recordDeadLetters(
        database,
        { transport: 'settlement', principal, topic: 'api:csv' },
        csv.rejected.map((r) => ({ rowIndex: r.line, meter: null, payload: r.raw, reason: r.reason })),
      );
      const results: SettlementImportResult[] = [];
      for (const g of csv.groups) results.push(await importSettlement(database, { period, version: g.version, rows: g.rows, principal, origin: 'api:csv', indexOf: g.lines, listeners }));
      return { results, rejected: csv.rejected.map((r) => ({ index: r.line, reason: r.reason })) };
    },
  );

  app.get(
    '/settlement',
    {
      config: { permission: 'settlement:read' },
      schema: {
        tags: ['settlement'],
        summary: 'Stored settlement rows of a period (every version), optionally of one meter and/or version',
        querystring: z.object({
          period: PeriodText,
          meter: idText().optional().describe('External meter id'),
          version: z.coerce.number().int().min(1).optional(),
          limit: z.coerce.number().int().min(1).max(MAX_LIST_ROWS).default(10_000),
        }),
        response: {
          200: z.object({
            period: z.string(),
            rows: z.array(
              z.object({
                meter: z.string(),
                version: z.number().int(),
                start: z.string().describe("Hour start in the meter's local time with its offset"),
                withdrawal: z.number().describe('kWh'),
                supply: z.number().nullable().describe('kWh'),
                importedAt: z.string(),
                importedBy: z.string().nullable(),
                origin: z.string().describe('api, api:csv or file:NAME'),
                applied: z.boolean().describe('Written into readings when imported (false: a higher version already held the hour)'),
              }),
            ),
          }),
          400: ErrorSchema,
          404: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const q = req.query;
      let meterId: number | undefined;
      if (q.meter !== undefined) {
        const m = (await findMeterRefs(database, [q.meter])).get(q.meter);
        if (!m) throw new MdmError('MDM_ERR_UNKNOWN_METER', [q.meter]);
        meterId = m.id;
      }
      const rows = await listSettlementRows(database, { period: q.period, meterId, version: q.version, limit: q.limit });
      return {
        period: q.period,
        rows: rows.map((r) => ({
          meter: r.meter,
          version: r.version,
          start: formatInstant(r.start.getTime(), r.timezone),
          withdrawal: r.withdrawal,
          supply: r.supply,
          importedAt: r.importedAt.toISOString(),
          importedBy: r.importedBy,
          origin: r.origin,
          applied: r.applied,
        })),
      };
    },
  );

  app.get(
    '/settlement/differences',
    {
      config: { permission: 'settlement:read' },
      schema: {
        tags: ['settlement'],
        summary: 'Reconciliation: per meter, what we measured vs the newest settlement version, for one month',
        description:
          "Each meter's local month. Measured = the newest non-settlement version of each active_import value (readings and history), multiplier applied; " +
          'settlement = withdrawal of the newest version of each hour. Meters with neither are left out. format=csv: text/csv (locale=tr|pl: ";", decimal comma, UTF-8 BOM for Excel); ' +
          'format=xlsx: the same rows as a workbook. See docs/settlement.md.',
        produces: ['application/json', 'text/csv', XLSX_TYPE],
        querystring: z.object({
          period: PeriodText,
          meters: z.string().optional().describe('Comma-separated external meter ids; default every electricity meter'),
          format: z.enum(['json', 'csv', 'xlsx']).default('json'),
          locale: CsvLocaleQuery,
        }),
        response: { 200: z.object({ period: z.string(), unit: z.literal('kWh'), meters: z.array(DifferenceSchema) }), 400: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const { period, format } = req.query;
      const ids = req.query.meters
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const meters = await listMetersForPeriod(database, { externalIds: ids, commodity: 'electricity' });
      const unknown = ids?.filter((id) => !meters.some((m) => m.externalId === id));
      if (unknown?.length)
        throw new MdmError('MDM_ERR_BAD_METER_REFERENCE', [
          `meters: ${unknown
            .slice(0, 10)
            .map((id) => `"${id}"`)
            .join(', ')} not registered electricity meter(s)`,
        ]);
      const windows = meters.map((m) => ({ meterId: m.id, ...localMonthRange(period, m.timezone) }));
      const rows = await settlementDifferences(database, { period, windows, settlementSource: sourceCode('settlement'), channel: channelDef('active_import').code });
      const out = rows.map(differenceOf);
      if (format !== 'json') {
        return sendTable(
          reply,
          format,
          req.query.locale,
          `settlement-differences-${period}`,
          DIFF_COLUMNS,
          out.map((d) => DIFF_COLUMNS.map((c) => d[c] ?? null)),
        );
      }
      return { period, unit: 'kWh' as const, meters: out };
    },
  );
};
