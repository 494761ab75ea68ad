import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CHANNEL_NAMES, ChannelNameSchema, type ChannelDef } from '../../models/channel.js';
import { readingLimitsOf } from '../../models/config.js';
import { MdmError } from '../../models/errors.js';
import type { ReadingLimits } from '../../models/input-bounds.js';
import { IngestResultSchema, QUALITIES, ReadingInputSchema, SOURCES, qualityName, sourceName, type IngestResult } from '../../models/reading.js';
import { idText } from '../../models/input-schemas.js';
import { FIGURE_DECIMALS, roundFigure } from '../../models/precision.js';
import { formatInstant, parseInstant } from '../../models/time.js';
import type { Principal } from '../../models/api-key.js';
import type { IngestListeners } from '../../ingest/ingest-listeners.js';
import { ingestReadings } from '../../ingest/pipeline.js';
import type { Database } from '../../sql/database.js';
import { registerRowBatchJsonParser } from '../request-bounds.js';
import { recordDeadLetters, type DeadLetter } from '../../sql/dead-letter.repository.js';
import { findQueryMeter, listBucketedReadings, listRawReadings, listValueVersions, type QueryMeter } from '../../sql/reading-query.repository.js';
import type { RouteContext } from '../app.js';
import { ndjsonLines, type NdjsonLine } from '../ndjson.js';
import { sendXlsx, XLSX_TYPE } from '../xlsx-reply.js';
import { CsvLocaleQuery, csvStyle } from '../csv-locale.js';
import { MAX_RANGE_DAYS, asOfParam, channelParam, rangeParams } from '../query-params.js';
import { authErrors, ErrorSchema, InstantQuery } from '../schemas.js';

/** Rows per ingest transaction when streaming NDJSON. */
export const NDJSON_CHUNK_ROWS = 10_000;
/** Non-JSON NDJSON lines are dead-lettered in groups of this many. */
const BAD_LINE_FLUSH = 1_000;
/** Dead-letter payload excerpt of a non-JSON line, in characters. */
const BAD_LINE_PAYLOAD = 10_000;

const NDJSON = 'application/x-ndjson';

const isStream = (v: unknown): v is AsyncIterable<Buffer> => v !== null && typeof v === 'object' && typeof (v as { pipe?: unknown }).pipe === 'function' && Symbol.asyncIterator in v;

/**
 * Body check for POST /readings. The envelope only: rows are validated one by
 * one by the ingest pipeline so that one bad row rejects only itself (and a
 * per-row zod pass over 100 000 rows costs more than the write). `schema.body`
 * still carries the full row schema, which is what /docs shows. NDJSON bodies
 * arrive as the raw stream and pass through.
 */
const envelopeValidator: FastifySchemaCompiler<unknown> = (route) => {
  if (route.httpPart !== 'body') return validatorCompiler(route as Parameters<FastifySchemaCompiler<z.ZodType>>[0]);
  return (data: unknown) => {
    if (isStream(data)) return { value: data };
    const ok = data !== null && typeof data === 'object' && !Array.isArray(data) && Array.isArray((data as { readings?: unknown }).readings) && Object.keys(data).length === 1;
    if (ok) return { value: data };
    return {
      error: new MdmError('MDM_ERR_VALIDATION', [`body must be a JSON object {"readings": [ … ]} and nothing else (got ${describe(data)}); or send one reading per line as ${NDJSON}`]),
    };
  };
};

function describe(v: unknown): string {
  if (Array.isArray(v)) return 'an array';
  if (v === null || typeof v !== 'object') return typeof v === 'string' ? 'a string' : String(v);
  const keys = Object.keys(v);
  return keys.length ? `an object with keys ${keys.slice(0, 5).join(', ')}` : 'an empty object';
}

const QualityOut = z.enum([...QUALITIES, 'mixed']).describe('Quality flag; in aggregated rows the flag every row of the bucket shares, or "mixed"');
const SourceOut = z.enum([...SOURCES, 'mixed']).describe('Source; in aggregated rows the source every row of the bucket shares, or "mixed"');

const SeriesRowSchema = z.object({
  start: z.string().describe("Interval start (or read time), or bucket start, in the meter's local time with its offset"),
  value: z
    .number()
    .describe(
      `As recorded, BEFORE the meter multiplier. Aggregated: sum (interval channels), last value (register channels), average (instantaneous channels); sums and averages rounded to 10⁻${FIGURE_DECIMALS} of unit`,
    ),
  quality: QualityOut,
  source: SourceOut,
  count: z.number().int().optional().describe('Aggregated rows: values present in the bucket'),
  expected: z
    .number()
    .int()
    .nullable()
    .optional()
    .describe("Aggregated rows of interval channels: intervals a complete bucket holds at the meter's interval length (a local day has 92, 96 or 100 quarter-hours); null for other channels"),
  completeness: z.number().nullable().optional().describe(`Aggregated rows of interval channels: count / expected (to 10⁻${FIGURE_DECIMALS}); null for other channels`),
});

type SeriesRow = z.infer<typeof SeriesRowSchema>;

const SeriesSchema = z.object({
  meter: z.string(),
  channel: ChannelNameSchema,
  unit: z.string(),
  interval: z.enum(['raw', 'hour', 'day', 'month']),
  timezone: z.string().describe('The meter time zone: aggregated buckets are local hours, days and months in it'),
  multiplier: z.number().describe('CT/VT ratio of the meter; values are NOT multiplied by it'),
  rows: z.array(SeriesRowSchema).describe('Oldest first; aggregated series hold only buckets that have data'),
});

const VersionSchema = z.object({
  version: z.number().int().describe('1 for the first value stored, +1 per correction'),
  value: z.number().describe('As recorded, before the meter multiplier'),
  quality: z.enum(QUALITIES),
  source: z.enum(SOURCES),
  receivedAt: z.string().describe('When the batch that wrote this version was received (UTC)'),
  recordedBy: z.string().nullable().describe('Key name or gateway that sent it'),
  transport: z.string(),
  supersededAt: z.string().nullable().describe('When a later version replaced it; null for the current value'),
  current: z.boolean(),
});

/** Columns of format=csv (raw rows); bucketed rows add count, expected, completeness. Each row carries its meter, channel, unit and multiplier. */
const CSV_COLUMNS = ['meter', 'channel', 'unit', 'multiplier', 'start', 'value', 'quality', 'source'] as const;
const CSV_BUCKET_COLUMNS = ['count', 'expected', 'completeness'] as const;

const MeterParams = z.object({ id: idText().describe('External meter id') });
const ChannelQuery = z
  .string()
  .min(1)
  .describe(`Canonical channel name or OBIS alias (${CHANNEL_NAMES.join(', ')})`);

/** Reading ingest (JSON or NDJSON), series queries and value history. */
export const readingRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database, config, listeners }) => {
  const maxRows = config.MDM_MAX_BATCH_ROWS;
  const limits = readingLimitsOf(config);
  // Scoped to this plugin: NDJSON hands the raw stream to the handler, text/plain is refused (415).
  app.addContentTypeParser(NDJSON, (_req, payload, done) => done(null, payload));
  app.removeContentTypeParser('text/plain');
  registerRowBatchJsonParser(app); // a row nested too deep is rejected alone, not the batch

  app.post(
    '/readings',
    {
      config: { permission: 'readings:write' },
      validatorCompiler: envelopeValidator,
      schema: {
        tags: ['readings'],
        summary: 'Store readings (JSON batch or NDJSON stream)',
        description:
          `application/json: {"readings": [ … ]}, at most ${maxRows} rows (larger → 413: split, or stream NDJSON); the whole batch is one transaction.\n\n` +
          `${NDJSON}: one reading object per line, streamed, no row limit; stored in transactions of ${NDJSON_CHUNK_ROWS} rows as the stream arrives; ` +
          'indexes are 0-based line numbers; a line that is not JSON is rejected ("line N is not valid JSON") and dead-lettered; blank lines are skipped.\n\n' +
          'Each row is checked on its own: valid rows are stored even when others are rejected; rejected rows are listed with their reason and kept in GET /v1/rejects. ' +
          're-sending an identical value is a no-op (unchanged); a different value supersedes the stored one, which moves to the history.',
        consumes: ['application/json', NDJSON],
        body: z.object({ readings: z.array(ReadingInputSchema).max(maxRows) }),
        response: { 200: IngestResultSchema, 400: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const ctx = { principal: req.principal };
      const body: unknown = req.body;
      if (isStream(body)) return ingestNdjson(database, body, ctx.principal, limits, listeners, req.id);
      const rows = (body as { readings: unknown[] }).readings;
      if (rows.length > maxRows) {
        throw new MdmError('MDM_ERR_BATCH_TOO_LARGE', [
          `batch has ${rows.length} readings; the limit is ${maxRows} per JSON request: split it into smaller requests or stream it as ${NDJSON} (no row limit)`,
        ]);
      }
      const { batchId: _, ...result } = await ingestReadings(database, rows, ingestCtx(ctx.principal, 0, limits, listeners, req.id));
      return result;
    },
  );

  app.get(
    '/meters/:id/readings',
    {
      config: { permission: 'readings:read' },
      schema: {
        tags: ['readings'],
        summary: "Readings of one meter and channel, raw or bucketed by local hour/day/month in the meter's time zone",
        description:
          `from inclusive, to exclusive, ISO-8601 with an offset. Longest range: ${MAX_RANGE_DAYS.raw} days raw or hourly, ${MAX_RANGE_DAYS.day} days by day or month. ` +
          'Values are as recorded (before the meter multiplier, which the response carries). Aggregation: interval channels sum, register channels last value, ' +
          'instantaneous channels average; only buckets with data are returned. Sums and averages are rounded to ' +
          `10⁻${FIGURE_DECIMALS} of the unit (docs/api.md, Precision). format=csv: text/csv, header ${CSV_COLUMNS.join(',')} (bucketed: + ${CSV_BUCKET_COLUMNS.join(',')}), one line per row.`,
        produces: ['application/json', 'text/csv', XLSX_TYPE],
        params: MeterParams,
        querystring: z.object({
          channel: ChannelQuery,
          from: InstantQuery.describe('Inclusive, ISO-8601 with offset or Z'),
          to: InstantQuery.describe('Exclusive, ISO-8601 with offset or Z'),
          interval: z.enum(['raw', 'hour', 'day', 'month']).default('raw'),
          asOf: InstantQuery.optional().describe(
            'Read the data as it was at this instant (ISO-8601 with offset): the versions received by then and not yet superseded. A billing dataVersion reproduces the figures it was computed from',
          ),
          format: z.enum(['json', 'csv', 'xlsx']).default('json').describe('csv: text/csv, the rows only (same rounding); xlsx: the same columns as a workbook'),
          locale: CsvLocaleQuery,
        }),
        response: { 200: SeriesSchema, 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const { channel: channelText, interval } = req.query;
      const channel = channelParam(channelText);
      const range = rangeParams(req.query.from, req.query.to, interval);
      const asOf = asOfParam(req.query.asOf);
      const meter = await meterOr404(database, req.params.id);
      const head = {
        meter: meter.externalId,
        channel: channel.name,
        unit: channel.unit,
        interval,
        timezone: meter.timezone,
        multiplier: meter.multiplier,
      };
      let rows: SeriesRow[];
      if (interval === 'raw') {
        const raw = await listRawReadings(database, { meterId: meter.id, channel: channel.code, ...range, asOf });
        rows = raw.map((r) => ({ start: formatInstant(r.start.getTime(), meter.timezone), value: r.value, quality: qualityName(r.quality), source: sourceName(r.source) }));
      } else {
        rows = await bucketRows(database, meter, channel, interval, range, asOf);
      }
      if (req.query.format === 'xlsx') {
        const cols = interval === 'raw' ? CSV_COLUMNS : [...CSV_COLUMNS, ...CSV_BUCKET_COLUMNS];
        const cells = rows.map((r) => {
          const c: (string | number | null)[] = [head.meter, head.channel, head.unit, head.multiplier, r.start, r.value, r.quality, r.source];
          if (interval !== 'raw') c.push(r.count ?? null, r.expected ?? null, r.completeness ?? null);
          return c;
        });
        return sendXlsx(reply, `readings-${meter.externalId}-${channel.name}-${interval}.xlsx`, `${channel.name} ${interval}`, cols, cells);
      }
      if (req.query.format === 'csv') {
        const cols = interval === 'raw' ? CSV_COLUMNS : [...CSV_COLUMNS, ...CSV_BUCKET_COLUMNS];
        const line = (r: SeriesRow) => {
          const fields: (string | number)[] = [head.meter, head.channel, head.unit, head.multiplier, r.start, r.value, r.quality, r.source];
          if (interval !== 'raw') fields.push(r.count ?? '', r.expected ?? '', r.completeness ?? '');
          return style.line(fields);
        };
        const style = csvStyle(req.query.locale);
        const name = `readings-${meter.externalId}-${channel.name}-${interval}.csv`.replace(/[^\w.-]/g, '_');
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${name}"`)
          .send((style.bom + style.line(cols) + rows.map(line).join('')) as never);
      }
      return { ...head, rows };
    },
  );

  app.get(
    '/meters/:id/readings/history',
    {
      config: { permission: 'readings:read' },
      schema: {
        tags: ['readings'],
        summary: 'Every stored version of one value (meter, channel, start), oldest first; the current one is marked current',
        params: MeterParams,
        querystring: z.object({ channel: ChannelQuery, start: InstantQuery.describe('Interval start (or read time) of the value') }),
        response: {
          200: z.object({ meter: z.string(), channel: ChannelNameSchema, start: z.string(), versions: z.array(VersionSchema) }),
          400: ErrorSchema,
          404: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const channel = channelParam(req.query.channel);
      const start = parseInstant(req.query.start);
      if (!start.ok) throw new MdmError('MDM_ERR_VALIDATION', [`start: ${start.reason}`]);
      const meter = await meterOr404(database, req.params.id);
      const versions = await listValueVersions(database, { meterId: meter.id, channel: channel.code, start: new Date(start.ms) });
      const startText = formatInstant(start.ms, meter.timezone);
      if (versions.length === 0) {
        throw new MdmError('MDM_ERR_NOT_FOUND', [`no value was ever stored for meter "${meter.externalId}", channel ${channel.name}, start ${startText}`]);
      }
      return {
        meter: meter.externalId,
        channel: channel.name,
        start: startText,
        versions: versions.map((v) => ({
          version: v.version,
          value: v.value,
          quality: qualityName(v.quality),
          source: sourceName(v.source),
          receivedAt: v.receivedAt.toISOString(),
          recordedBy: v.recordedBy,
          transport: v.transport,
          supersededAt: v.supersededAt ? v.supersededAt.toISOString() : null,
          current: v.current,
        })),
      };
    },
  );
};

async function meterOr404(database: Database, id: string): Promise<QueryMeter> {
  const meter = await findQueryMeter(database, id);
  if (!meter) throw new MdmError('MDM_ERR_UNKNOWN_METER', [id]);
  return meter;
}

async function bucketRows(database: Database, meter: QueryMeter, channel: ChannelDef, unit: 'hour' | 'day' | 'month', range: { from: Date; to: Date }, asOf: Date | undefined): Promise<SeriesRow[]> {
  const isInterval = channel.kind === 'interval';
  // Sums and averages are computed here: rounded at the edge (models/precision.ts); a last or max value is as recorded.
  const value = channel.aggregation === 'last' || channel.aggregation === 'max' ? (x: number) => x : roundFigure;
  const rows = await listBucketedReadings(database, {
    meterId: meter.id,
    channel: channel.code,
    aggregation: channel.aggregation,
    unit,
    tz: meter.timezone,
    ...range,
    expectedIntervalMinutes: isInterval ? meter.intervalMinutes : undefined,
    asOf,
  });
  return rows.map((r) => ({
    start: formatInstant(r.bucket.getTime(), meter.timezone),
    value: value(r.value),
    quality: r.quality === null ? ('mixed' as const) : qualityName(r.quality),
    source: r.source === null ? ('mixed' as const) : sourceName(r.source),
    count: r.count,
    expected: r.expected,
    completeness: r.expected ? roundFigure(r.count / r.expected) : null,
  }));
}

const ingestCtx = (principal: Principal, indexOffset: number, limits: ReadingLimits, listeners: IngestListeners, requestId: string) =>
  ({ transport: 'http', principal: principal.name, scope: principal.scope, indexOffset, limits, listeners, requestId }) as const;

/**
 * Streams an NDJSON body into the ingest pipeline. A chunk is a run of
 * consecutive JSON lines (at most NDJSON_CHUNK_ROWS), so `indexOffset` turns
 * row positions into line numbers; a blank or non-JSON line ends the chunk.
 * Chunks commit one by one: if the stream breaks, the lines before it stay stored.
 */
async function ingestNdjson(database: Database, stream: AsyncIterable<Buffer>, principal: Principal, limits: ReadingLimits, listeners: IngestListeners, requestId: string): Promise<IngestResult> {
  const total: IngestResult = { accepted: 0, unchanged: 0, superseded: 0, rejected: [] };
  let chunk: unknown[] = [];
  let chunkStart = 0;
  let badLines: DeadLetter[] = [];

  const flush = async () => {
    if (chunk.length === 0) return;
    const r = await ingestReadings(database, chunk, ingestCtx(principal, chunkStart, limits, listeners, requestId));
    total.accepted += r.accepted;
    total.unchanged += r.unchanged;
    total.superseded += r.superseded;
    for (const x of r.rejected) total.rejected.push(x);
    chunk = [];
  };
  const flushBad = async () => {
    if (badLines.length === 0) return;
    await recordDeadLetters(database, { transport: 'http', principal: principal.name }, badLines);
    badLines = [];
  };

  const lines = ndjsonLines(stream);
  let storedBefore = 0; // every line before this one has been ingested
  for (;;) {
    let next: IteratorResult<NdjsonLine>;
    try {
      next = await lines.next();
    } catch (err) {
      // The upload broke (client abort, socket error): a request problem, not a server fault.
      await flushBad();
      throw new MdmError('MDM_ERR_STREAM_BROKEN', [`the NDJSON stream broke (${(err as Error).message}); lines 0..${storedBefore - 1} are processed, re-send from line ${storedBefore}`], {
        cause: err,
      });
    }
    if (next.done) break;
    const line = next.value;
    if (line.ok === true) {
      if (chunk.length === 0) chunkStart = line.index;
      chunk.push(line.value);
      if (chunk.length >= NDJSON_CHUNK_ROWS) {
        await flush();
        storedBefore = line.index + 1;
      }
      continue;
    }
    await flush();
    storedBefore = line.index + 1;
    if (line.ok === false) {
      total.rejected.push({ index: line.index, reason: line.reason });
      badLines.push({ rowIndex: line.index, meter: null, payload: line.text.slice(0, BAD_LINE_PAYLOAD), reason: line.reason });
      if (badLines.length >= BAD_LINE_FLUSH) await flushBad();
    }
  }
  await flush();
  await flushBad();
  return total;
}
