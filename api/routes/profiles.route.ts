import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CsvError, CsvHeaderError } from '../../adapters/file/csv.js';
import { parseProfileCoefficientCsv } from '../../adapters/file/profile-coefficient-csv.js';
import { spreadProfiles } from '../../ingest/profile-spread.js';
import { MdmError } from '../../models/errors.js';
import { FIGURE_DECIMALS, roundFigure } from '../../models/precision.js';
import { checkCoefficientRows, DAY_TYPES, ProfileCoefficientsBodySchema, READING_TYPES } from '../../models/profile-coefficient.js';
import { amount, codeText, idText } from '../../models/input-schemas.js';
import { PeriodText } from '../../models/settlement.js';
import { recordDeadLetters } from '../../sql/dead-letter.repository.js';
import { listProfileCoefficients, putProfileCoefficients } from '../../sql/profile-coefficient.repository.js';
import type { RouteContext } from '../app.js';
import { decodeCsvBody } from '../csv-body.js';
import { authErrors, ErrorSchema } from '../schemas.js';

const CSV = 'text/csv';
const Rejected = z.array(z.object({ index: z.number().int(), reason: z.string() }));

/** JSON: the envelope only (rows are checked one by one); CSV bytes pass through. */
const envelopeValidator: FastifySchemaCompiler<unknown> = (route) => {
  if (route.httpPart !== 'body') return validatorCompiler(route as Parameters<FastifySchemaCompiler<z.ZodType>>[0]);
  const envelope = z.object({ coefficients: z.array(z.unknown()) }).strict();
  return (data: unknown) => {
    if (Buffer.isBuffer(data)) return { value: data };
    if (envelope.safeParse(data).success) return { value: data };
    return { error: new MdmError('MDM_ERR_VALIDATION', [`body must be {"coefficients": [ … ]} and nothing else; or send ${CSV} (docs/settlement.md)`]) };
  };
};

const SpreadBodySchema = z
  .object({
    period: PeriodText,
    meters: z.array(idText()).max(100_000).optional().describe('External meter ids; default every electricity meter with a profileClass'),
    totals: z
      .array(z.object({ meter: idText(), kWh: amount().min(0) }).strict())
      .max(100_000)
      .optional()
      .describe('Period totals in kWh (after the multiplier) that take precedence over the register reads'),
  })
  .strict();

/** Profile coefficients: import, read, and spreading period totals of profiled meters into hourly estimates. */
export const profileRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database, config }) => {
  const maxRows = config.MDM_MAX_BATCH_ROWS;
  app.addContentTypeParser(CSV, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.put(
    '/profiles/coefficients',
    {
      config: { permission: 'settlement:write' },
      validatorCompiler: envelopeValidator,
      schema: {
        tags: ['settlement'],
        summary: 'Import profile coefficients (EPİAŞ profil katsayıları): JSON rows or the CSV layout of docs/settlement.md',
        description:
          'Each row is one local hour of one distribution company (region, "*" = any), reading type and subscriber profile group, either for one date ' +
          '(per-day layout) or for every date of a month with a day type (per-day-type layout). A row already stored under the same key gets the new ' +
          `coefficient. Bad rows are rejected with their reason (also in GET /v1/rejects, transport profile). At most ${maxRows} rows per request.`,
        consumes: ['application/json', CSV],
        body: ProfileCoefficientsBodySchema,
        response: {
          200: z.object({
            inserted: z.number().int(),
            updated: z.number().int().describe('Rows whose coefficient changed'),
            unchanged: z.number().int(),
            rejected: Rejected.describe('index: row index (JSON) or CSV line'),
          }),
          400: ErrorSchema,
          413: ErrorSchema,
          415: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      let raw: unknown[];
      let at: (i: number) => number = (i) => i;
      const rejected: { index: number; reason: string; payload: string }[] = [];
      if (Buffer.isBuffer(req.body)) {
        let csv;
        try {
          csv = parseProfileCoefficientCsv(decodeCsvBody(req.body, req.headers['content-type']));
        } catch (err) {
          if (err instanceof CsvHeaderError || err instanceof CsvError) throw new MdmError('MDM_ERR_CSV_FORMAT', [err.message]);
          throw err;
        }
        raw = csv.rows;
        const lines = csv.lines;
        at = (i) => lines[i];
        for (const r of csv.rejected) rejected.push({ index: r.line, reason: r.reason, payload: r.raw });
      } else {
        raw = (req.body as { coefficients: unknown[] }).coefficients;
      }
      if (raw.length > maxRows) throw new MdmError('MDM_ERR_BATCH_TOO_LARGE', [`${raw.length} rows; the limit is ${maxRows} per request: split by month or company`]);
      const checked = checkCoefficientRows(raw);
      for (const r of checked.rejected) rejected.push({ index: at(r.index), reason: r.reason, payload: JSON.stringify(raw[r.index]) ?? '' });
      const origin = Buffer.isBuffer(req.body) ? 'api:csv' : 'api';
      const counts = await putProfileCoefficients(database, checked.rows, { importedBy: req.principal.name, origin });
      await recordDeadLetters(
        database,
        { transport: 'profile', principal: req.principal.name, topic: origin },
        rejected.map((r) => ({ rowIndex: r.index, meter: null, payload: r.payload, reason: r.reason })),
      );
      return { ...counts, rejected: rejected.map(({ index, reason }) => ({ index, reason })).sort((a, b) => a.index - b.index) };
    },
  );

  app.get(
    '/profiles/coefficients',
    {
      config: { permission: 'settlement:read' },
      schema: {
        tags: ['settlement'],
        summary: 'Stored profile coefficients of a month',
        querystring: z.object({
          period: PeriodText,
          region: idText().optional(),
          readingType: z.enum(READING_TYPES).optional(),
          profileGroup: codeText().optional(),
        }),
        response: {
          200: z.object({
            period: z.string(),
            coefficients: z.array(
              z.object({
                period: z.string(),
                region: z.string(),
                readingType: z.enum(READING_TYPES),
                profileGroup: z.string(),
                date: z.string().nullable(),
                dayType: z.enum(DAY_TYPES).nullable(),
                hour: z.number().int(),
                coefficient: z.number(),
              }),
            ),
          }),
          400: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const q = req.query;
      const coefficients = await listProfileCoefficients(database, {
        periods: [q.period],
        regions: q.region !== undefined ? [q.region] : undefined,
        readingType: q.readingType,
        profileGroups: q.profileGroup !== undefined ? [q.profileGroup] : undefined,
      });
      return { period: q.period, coefficients };
    },
  );

  app.post(
    '/profiles/spread',
    {
      config: { permission: 'validation:admin' },
      schema: {
        tags: ['settlement'],
        summary: 'Spread the period totals of profiled meters into hourly estimated readings (method profile-coefficients)',
        description:
          'Per meter (default: every electricity meter with a profileClass): its local month cut to its supply dates; the total from `totals`, else from its ' +
          'active_import_register reads (nearest read within 3 days of each bound, pro rata when not on them); hourly values by the coefficients of its ' +
          'region (or "*"), tariff (reading type) and profileClass (profile group), summing to the total. Written as active_import, quality estimated, ' +
          'source profile, with a reading note each. Meters with interval data of their own in the period, without a total or without coefficients are ' +
          'skipped with the reason. Re-running replaces earlier estimates (history kept). See docs/settlement.md.',
        body: SpreadBodySchema,
        response: {
          200: z.object({
            period: z.string(),
            spread: z.number().int(),
            skipped: z.number().int(),
            readings: z.object({ accepted: z.number().int(), unchanged: z.number().int(), superseded: z.number().int() }),
            meters: z.array(
              z.object({
                meter: z.string(),
                status: z.enum(['spread', 'skipped']),
                totalKWh: z.number().nullable().describe(`kWh, multiplier applied, to 10⁻${FIGURE_DECIMALS}`),
                totalFrom: z.enum(['request', 'register']).nullable(),
                hours: z.number().int(),
                reason: z.string().nullable(),
              }),
            ),
          }),
          400: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const b = req.body;
      const totals = new Map<string, number>();
      for (const t of b.totals ?? []) {
        if (totals.has(t.meter)) throw new MdmError('MDM_ERR_VALIDATION', [`totals: meter "${t.meter}" is given twice; give each meter once`]);
        totals.set(t.meter, t.kWh);
      }
      const out = await spreadProfiles(database, { period: b.period, meters: b.meters, totals, principal: req.principal.name });
      return { ...out, meters: out.meters.map((m) => ({ ...m, totalKWh: roundFigure(m.totalKWh) })) };
    },
  );
};
