import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { Readable } from 'node:stream';
import { CsvError } from '../../adapters/file/csv.js';
import { importOptions, ImportOptionsSchema, LAYOUTS } from '../../adapters/file/import-options.js';
import { recordsOf, XlsxSheetError, type FileKind } from '../../adapters/file/import-records.js';
import { formatPtpiree, PtpireeError } from '../../adapters/file/ptpiree.js';
import { localDay, parseDate } from '../../adapters/file/import-values.js';
import { DecodeError, ENCODINGS, type Encoding } from '../../adapters/file/text-decode.js';
import { readingLimitsOf } from '../../models/config.js';
import { MdmError } from '../../models/errors.js';
import { QUALITIES, qualityName } from '../../models/reading.js';
import { channelParam } from '../query-params.js';
import { findQueryMeter, listRawReadings } from '../../sql/reading-query.repository.js';
import { FileImportError, importReadingRecords } from '../../ingest/reading-file-import.js';
import { deleteImportPreset, findImportPreset, listImportPresets, saveImportPreset, type ImportPresetRow } from '../../sql/import-preset.repository.js';
import type { RouteContext } from '../app.js';
import { ImportJobs, type ImportJob } from '../import-jobs.js';
import { authErrors, ErrorSchema } from '../schemas.js';

const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
const CSV = 'text/csv';
const TEXT = 'text/plain';
const OCTETS = 'application/octet-stream';
const FORM = 'multipart/form-data';

/** Largest file one request imports; the import streams, so this bounds time and disk (xlsx), not memory. */
export const MAX_IMPORT_BYTES = 1024 * 1024 * 1024;
/** Rejects listed in a response; all are counted, and kept in GET /v1/rejects. */
export const SHOWN_REJECTS = 1000;

const jsonParam = <T extends z.ZodType>(schema: T, what: string) =>
  z
    .string()
    .max(20_000)
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: `${what} must be JSON, e.g. ${what === 'columns' ? '{"time":"Tarih","value":3}' : '{"E":"estimated"}'}` });
        return z.NEVER;
      }
    })
    .pipe(schema);

const shape = ImportOptionsSchema.shape;
const ImportQuery = z.object({
  layout: z.enum(LAYOUTS).optional().describe('long (default), wide-meter, wide-hour, single, ptpiree: docs/import.md'),
  meter: shape.meter,
  channel: shape.channel,
  timezone: z
    .string()
    .max(64)
    .optional()
    .describe(shape.timezone.description ?? ''),
  dateOrder: z.enum(['dmy', 'mdy']).optional(),
  decimal: z.enum(['auto', '.', ',']).optional(),
  thousands: z.enum(['', '.', ',', ' ', "'"]).optional(),
  delimiter: z.enum([',', ';']).optional(),
  encoding: z.enum(ENCODINGS).optional().describe('Default: the charset of Content-Type, else auto (UTF-8, else Windows-1254)'),
  skipLines: z.coerce.number().int().min(0).max(1000).optional(),
  sheet: shape.sheet,
  columns: jsonParam(z.record(z.string(), z.union([z.string(), z.number()])), 'columns')
    .optional()
    .describe('JSON: {"time":"Tarih","value":3,"quality":"Status"}; names or 1-based positions'),
  meters: jsonParam(z.record(z.string(), z.string()), 'meters').optional().describe('JSON, wide-meter: {"Licznik 1":"PL0001"}'),
  qualityMap: jsonParam(z.record(z.string(), z.enum(QUALITIES)), 'qualityMap')
    .optional()
    .describe('JSON: {"E":"estimated","0":"measured"}'),
  intervalMinutes: z.coerce.number().int().optional(),
  verifyChecksum: z.enum(['true', 'false']).optional().describe('PTPiREE: false imports a file whose checksum does not match'),
  preset: z.string().min(1).max(100).optional().describe('A saved preset (PUT /v1/import-presets/{name}); the other parameters override it'),
  dryRun: z.enum(['true', 'false']).default('false').describe('true: validate the whole file and report what would be stored, store nothing'),
  async: z.enum(['true', 'false']).default('false').describe('true: answer 202 with a job once the file is uploaded; GET /v1/readings/import/jobs/{id} reports progress and the report'),
  filename: z.string().max(200).optional().describe('Kept with the rejects (their topic)'),
});

const RejectOut = z.object({ line: z.number().int(), reason: z.string(), raw: z.string() });
const ReportSchema = z.object({
  dryRun: z.boolean().describe('true: nothing was stored; the counts are what the import would do'),
  records: z.number().int().describe('Data lines (rows) read after the header'),
  readings: z.number().int().describe('Readings they held (a wide row holds many)'),
  accepted: z.number().int(),
  unchanged: z.number().int(),
  superseded: z.number().int(),
  rejected: z.number().int().describe('Rejects in all (lines, or values of a wide line)'),
  rejects: z.array(RejectOut).describe(`The first ${SHOWN_REJECTS}, with file line and reason`),
  lastLine: z.number().int(),
});

const JobSchema = z.object({
  id: z.string(),
  status: z.enum(['running', 'done', 'failed', 'stopped']).describe('stopped: the service stopped during the import; the chunks before are stored, re-send the file'),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
  totalBytes: z.number().int(),
  bytesRead: z.number().int(),
  progress: z.number().describe('bytesRead / totalBytes'),
  records: z.number().int(),
  readings: z.number().int(),
  report: ReportSchema.nullable().describe('When done'),
  error: ErrorSchema.nullable().describe('When failed: what a synchronous import would have answered with 4xx'),
});
const jobOut = (j: ImportJob) => ({
  id: j.id,
  status: j.status,
  createdAt: j.createdAt.toISOString(),
  finishedAt: j.finishedAt?.toISOString() ?? null,
  totalBytes: j.totalBytes,
  bytesRead: j.bytesRead,
  progress: j.totalBytes ? Math.round((j.bytesRead / j.totalBytes) * 1000) / 1000 : 1,
  records: j.records,
  readings: j.readings,
  report: j.report,
  error: j.error,
});

const PresetSchema = z.object({
  name: z.string(),
  options: z.unknown().describe('Import options (docs/import.md)'),
  description: z.string().nullable(),
  createdBy: z.string().nullable(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
const presetOut = (p: ImportPresetRow) => ({ ...p, createdAt: p.createdAt.toISOString(), updatedAt: p.updatedAt.toISOString() });
const PresetName = z.object({
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[\w.-]+$/, 'letters, digits, _ . - only'),
});

const isStream = (v: unknown): v is Readable => v !== null && typeof v === 'object' && typeof (v as { pipe?: unknown }).pipe === 'function';

/** Counts the bytes of an upload and stops it past MAX_IMPORT_BYTES. */
async function* bounded(stream: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const c of stream) {
    n += c.length;
    if (n > MAX_IMPORT_BYTES) throw new MdmError('MDM_ERR_BATCH_TOO_LARGE', [`the file is larger than ${MAX_IMPORT_BYTES} bytes: split it (by month or by meters)`]);
    yield c;
  }
}

/** File imports of readings in every layout (docs/import.md) and the named mapping presets. */
export const readingImportRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database, config, listeners }) => {
  const limits = readingLimitsOf(config);
  const jobs = new ImportJobs();
  app.addHook('onClose', async () => jobs.close());
  for (const type of [CSV, XLSX, OCTETS, TEXT]) {
    if (app.hasContentTypeParser(type)) app.removeContentTypeParser(type);
    app.addContentTypeParser(type, { bodyLimit: MAX_IMPORT_BYTES }, (_req, payload, done) => done(null, payload));
  }
  // A browser form or `curl -F file=@x.csv`: the file streamed from its part, the options as query parameters or
  // as form fields before the file (the field names of the query). One file per request.
  await app.register(multipart, { limits: { fileSize: MAX_IMPORT_BYTES, files: 1, fields: 32, fieldSize: 20_000, parts: 40, headerPairs: 200 } });

  app.post(
    '/readings/import',
    {
      config: { permission: 'readings:write' },
      bodyLimit: MAX_IMPORT_BYTES,
      schema: {
        tags: ['readings'],
        summary: 'Import a readings file: CSV or xlsx in any layout (long, wide by meter, wide by hour, single meter) or a PTPiREE file; dryRun=true validates only',
        description:
          `Body: the file as it is (${CSV}, ${XLSX}, ${TEXT} or ${OCTETS}; xlsx by its Content-Type), or one file in a ${FORM} form (its options as query parameters or as fields before the file; xlsx by its part's type or .xlsx name), streamed: constant memory, at most ${MAX_IMPORT_BYTES} bytes. ` +
          'The query names the layout and how the file is written (docs/import.md); a preset supplies saved options. ' +
          'Rows go through the same validation, versioning and dead letters as POST /v1/readings, in transactions of 20 000 readings; ' +
          `the report counts accepted / unchanged / superseded / rejected and lists the first ${SHOWN_REJECTS} rejects with their file line. ` +
          'dryRun=true: every chunk runs the real merge in a transaction that is rolled back: nothing is stored, no dead letter written. ' +
          'A header that does not fit the layout (or a PTPiREE checksum that does not match) → 400 and nothing is stored.',
        consumes: [CSV, XLSX, TEXT, OCTETS, FORM],
        querystring: ImportQuery,
        response: { 200: ReportSchema, 202: JobSchema, 400: ErrorSchema, 404: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const principal = req.principal.name;
      let body: unknown = req.body;
      let q = req.query;
      let partType: string | undefined;
      if (req.isMultipart()) {
        const part = await req.file();
        if (!part) throw new MdmError('MDM_ERR_VALIDATION', [`${FORM} without a file: send the file as a form field of type file (curl -F file=@readings.csv)`]);
        const fields: Record<string, unknown> = {};
        for (const [name, f] of Object.entries(part.fields)) {
          const field = Array.isArray(f) ? f[0] : f;
          if (field && field.type === 'field' && name !== part.fieldname) fields[name] = field.value;
        }
        // Form fields sent before the file, under the query; the query's own parameters win.
        const merged = ImportQuery.safeParse({ ...fields, ...(req.raw.url?.includes('?') ? Object.fromEntries(new URL(req.raw.url, 'http://x').searchParams) : {}) });
        if (!merged.success) throw new MdmError('MDM_ERR_VALIDATION', [merged.error.issues.map((i) => `${i.path.join('.') || 'form'}: ${i.message}`).join('; ')]);
        q = { ...merged.data, filename: merged.data.filename ?? part.filename?.slice(0, 200) };
        body = part.file;
        partType = /\.xlsx$/i.test(part.filename ?? '') ? XLSX : part.mimetype;
      }
      if (!isStream(body)) throw new MdmError('MDM_ERR_UNSUPPORTED_MEDIA', [`send the file as the body with Content-Type ${CSV}, ${XLSX}, ${TEXT} or ${OCTETS}, or as the file of a ${FORM} form`]);
      let base: Record<string, unknown> = {};
      if (q.preset) {
        const p = await findImportPreset(database, q.preset);
        if (!p) throw new MdmError('MDM_ERR_NOT_FOUND', [`no import preset "${q.preset}": GET /v1/import-presets lists them`]);
        base = p.options as Record<string, unknown>;
      }
      const contentType = (partType ?? req.headers['content-type'] ?? '').toLowerCase();
      const charset = /charset=([^;]+)/.exec(contentType)?.[1]?.trim();
      const input: Record<string, unknown> = { ...base };
      for (const [k, v] of Object.entries(q)) {
        if (v === undefined || ['preset', 'dryRun', 'async', 'filename', 'verifyChecksum'].includes(k)) continue;
        input[k] = k === 'columns' ? { ...((base.columns as object) ?? {}), ...(v as object) } : v;
      }
      if (q.verifyChecksum) input.verifyChecksum = q.verifyChecksum === 'true';
      if (input.encoding === undefined && charset) {
        const enc = charset === 'utf8' ? 'utf-8' : charset === 'cp1250' ? 'windows-1250' : charset === 'cp1254' ? 'windows-1254' : charset;
        if (!(ENCODINGS as readonly string[]).includes(enc)) throw new MdmError('MDM_ERR_UNSUPPORTED_MEDIA', [`charset "${charset}" is not one of ${ENCODINGS.slice(1).join(', ')}`]);
        input.encoding = enc as Encoding;
      }
      const parsed = importOptions(input);
      if (!parsed.ok) throw new MdmError('MDM_ERR_VALIDATION', [parsed.problems.join('; ')]);
      const kind: FileKind = contentType.startsWith(XLSX) ? 'xlsx' : 'csv';
      const run = (input: Readable, progress?: ImportJob, signal?: AbortSignal) =>
        importReadingRecords(database, recordsOf(input, kind, parsed.options), parsed.options, {
          transport: 'http',
          principal: req.principal.name,
          scope: req.principal.scope,
          topic: q.filename ?? `import:${parsed.options.layout}`,
          limits,
          listeners,
          dryRun: q.dryRun === 'true',
          keepRejects: SHOWN_REJECTS,
          signal,
          onProgress: progress
            ? (records, readings) => {
                progress.records = records;
                progress.readings = readings;
              }
            : undefined,
        });
      const asError = (err: unknown): MdmError | undefined => {
        if (err instanceof FileImportError || err instanceof DecodeError || err instanceof XlsxSheetError || err instanceof CsvError || err instanceof PtpireeError) {
          return new MdmError('MDM_ERR_CSV_FORMAT', [err.message]);
        }
        if (err instanceof MdmError) return err;
        // exceljs on a body that is not a zip (a CSV sent as xlsx)
        if (kind === 'xlsx' && /zip|signature|end of central directory|invalid/i.test((err as Error).message)) {
          return new MdmError('MDM_ERR_CSV_FORMAT', [`the body is not an xlsx workbook (${(err as Error).message}); send CSV as ${CSV}`]);
        }
        return undefined;
      };
      if (q.async === 'true') {
        const job = await jobs.start(
          principal,
          bounded(body as AsyncIterable<Buffer>),
          (input, j, signal) => run(input, j, signal),
          (err) => {
            const e = asError(err);
            if (!e) req.log.error({ err }, 'readings import job failed');
            return e ? { error: e.code, message: e.message } : { error: 'MDM_ERR_INTERNAL', message: `the import stopped: ${(err as Error).message}` };
          },
        );
        return reply.code(202).header('location', `/v1/readings/import/jobs/${job.id}`).send(jobOut(job));
      }
      try {
        const { interrupted: _, ...out } = await run(Readable.from(bounded(body as AsyncIterable<Buffer>)));
        return out;
      } catch (err) {
        throw asError(err) ?? err;
      }
    },
  );

  app.get(
    '/readings/import/jobs/:id',
    {
      config: { permission: 'readings:write' },
      schema: {
        tags: ['readings'],
        summary: 'Progress and report of an import job (POST /v1/readings/import?async=true)',
        params: z.object({ id: z.string().uuid() }),
        response: { 200: JobSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const job = jobs.get(req.params.id);
      if (!job || (job.principal !== req.principal.name && req.principal.role !== 'admin')) {
        throw new MdmError('MDM_ERR_NOT_FOUND', [`no import job ${req.params.id} (jobs are kept in memory until the service restarts; the last 100 finished ones)`]);
      }
      return jobOut(job);
    },
  );

  app.get(
    '/meters/:id/readings/ptpiree',
    {
      config: { permission: 'readings:read' },
      schema: {
        tags: ['readings'],
        summary: "One meter-day as a PTPiREE file (Polish daily metering data): six header lines, value,quality lines of the meter's local day, CRC-16/XMODEM checksum",
        description:
          "The day is the meter's local day (23, 24 or 25 hours); hourly or 15-minute meters (the meter's interval). A period without a value is written 0.000 with the missing flag. " +
          'Header lines 3–6 and the quality flags (0 measured/validated, 1 estimated/edited/suspect, 2 missing) are our reading of the format: docs/import.md, PTPiREE.',
        produces: ['text/plain'],
        params: z.object({ id: z.string().min(1).max(200) }),
        querystring: z.object({
          date: z
            .string()
            .regex(/^\d{4}-\d{2}-\d{2}$/, 'YYYY-MM-DD')
            .describe("The meter's local day"),
          channel: z.string().min(1).max(60).default('active_import'),
        }),
        response: { 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const channel = channelParam(req.query.channel);
      if (channel.kind !== 'interval') throw new MdmError('MDM_ERR_VALIDATION', [`PTPiREE files hold interval energy: ${channel.name} is a ${channel.kind} channel`]);
      const meter = await findQueryMeter(database, req.params.id);
      if (!meter) throw new MdmError('MDM_ERR_UNKNOWN_METER', [req.params.id]);
      if (meter.intervalMinutes !== 60 && meter.intervalMinutes !== 15) {
        throw new MdmError('MDM_ERR_VALIDATION', [`PTPiREE files are hourly or quarter-hourly; meter ${meter.externalId} has ${meter.intervalMinutes}-minute intervals`]);
      }
      const date = parseDate(req.query.date)!;
      const day = date && localDay(date.y, date.mo, date.d, meter.timezone);
      if (!day) throw new MdmError('MDM_ERR_VALIDATION', [`date ${req.query.date} is not a day`]);
      const step = meter.intervalMinutes * 60_000;
      const rows = await listRawReadings(database, { meterId: meter.id, channel: channel.code, from: new Date(day.startMs), to: new Date(day.startMs + day.lengthMs) });
      const values: { value: number | null; quality: (typeof QUALITIES)[number] }[] = Array.from({ length: Math.round(day.lengthMs / step) }, () => ({ value: null, quality: 'missing' }));
      for (const r of rows) {
        const k = Math.round((r.start.getTime() - day.startMs) / step);
        if (k >= 0 && k < values.length) values[k] = { value: r.value, quality: qualityName(r.quality) };
      }
      const file = formatPtpiree({ ppe: meter.externalId, date: req.query.date, channel: channel.name, unit: channel.unit, intervalMinutes: meter.intervalMinutes, values });
      const name = `${meter.externalId}_${req.query.date.replaceAll('-', '')}.txt`.replace(/[^\w.-]/g, '_');
      return reply
        .type('text/plain; charset=windows-1250')
        .header('content-disposition', `attachment; filename="${name}"`)
        .send(Buffer.from(file) as never);
    },
  );

  app.get(
    '/import-presets',
    {
      config: { permission: 'readings:write' },
      schema: { tags: ['readings'], summary: 'Saved import presets (named import options)', response: { 200: z.object({ presets: z.array(PresetSchema) }), ...authErrors } },
    },
    async () => ({ presets: (await listImportPresets(database)).map(presetOut) }),
  );

  app.get(
    '/import-presets/:name',
    {
      config: { permission: 'readings:write' },
      schema: { tags: ['readings'], summary: 'One import preset', params: PresetName, response: { 200: PresetSchema, 404: ErrorSchema, ...authErrors } },
    },
    async (req) => {
      const p = await findImportPreset(database, req.params.name);
      if (!p) throw new MdmError('MDM_ERR_NOT_FOUND', [`no import preset "${req.params.name}"`]);
      return presetOut(p);
    },
  );

  app.put(
    '/import-presets/:name',
    {
      config: { permission: 'readings:write' },
      schema: {
        tags: ['readings'],
        summary: 'Create or replace a named import preset: the options of POST /v1/readings/import, saved',
        params: PresetName,
        body: z.object({ options: z.record(z.string(), z.unknown()), description: z.string().max(500).optional() }).strict(),
        response: { 200: PresetSchema, 201: PresetSchema, 400: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const parsed = importOptions(req.body.options);
      if (!parsed.ok) throw new MdmError('MDM_ERR_VALIDATION', [parsed.problems.join('; ')]);
      // stored as given (defaults are applied on use), so a later default change reaches old presets
      const r = await saveImportPreset(database, { name: req.params.name, options: req.body.options, description: req.body.description, createdBy: req.principal.name });
      return reply.code(r.created ? 201 : 200).send(presetOut(r.preset));
    },
  );

  app.delete(
    '/import-presets/:name',
    {
      config: { permission: 'readings:write' },
      schema: { tags: ['readings'], summary: 'Delete an import preset', params: PresetName, response: { 204: z.null(), 404: ErrorSchema, ...authErrors } },
    },
    async (req, reply) => {
      if (!(await deleteImportPreset(database, req.params.name))) throw new MdmError('MDM_ERR_NOT_FOUND', [`no import preset "${req.params.name}"`]);
      return reply.code(204).send(null);
    },
  );
};
