import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MdmError } from '../../models/errors.js';
import { codeText, idText } from '../../models/input-schemas.js';
import { parseInstant } from '../../models/time.js';
import { DEAD_LETTER_EXCERPT_CHARS } from '../../models/input-bounds.js';
import { listDeadLetters } from '../../sql/dead-letter.repository.js';
import { LIST_BYTE_BUDGET, pageOf } from '../list-budget.js';
import type { RouteContext } from '../app.js';
import { authErrors, ErrorSchema, InstantQuery } from '../schemas.js';
import { CsvLocaleQuery, csvStyle } from '../csv-locale.js';
import { sendXlsx, XLSX_TYPE } from '../xlsx-reply.js';

const RejectsQuery = z
  .object({
    meter: idText().min(1).optional().describe('Only rows naming this meter id'),
    transport: codeText().min(1).optional().describe('Only rows that came in over this transport: http, mqtt, modbus, file'),
    since: InstantQuery.optional().describe('Only rows received at or after this instant (ISO-8601 with offset or Z)'),
    before: z.coerce.number().int().positive().optional().describe('Cursor: nextCursor of the previous page (rows with a smaller id)'),
    limit: z.coerce.number().int().min(1).max(1000).default(100).describe('Page size, 1–1000'),
    format: z.enum(['json', 'csv', 'xlsx']).default('json').describe('csv / xlsx: the page as a table (the next cursor in the X-Next-Cursor header)'),
    locale: CsvLocaleQuery,
  })
  .strict();

const RejectSchema = z.object({
  id: z.number().int().describe('Increasing with arrival'),
  receivedAt: z.string().describe('When the row arrived (UTC)'),
  transport: z.string().describe('http, mqtt, modbus, file'),
  principal: z.string().nullable().describe('Name of the key or gateway that sent it'),
  topic: z.string().nullable().describe('MQTT topic or file name, when there is one'),
  rowIndex: z.number().int().nullable().describe('Position in the request, message or file; null for a whole message'),
  meter: z.string().nullable().describe('Meter id the row named, when it named one'),
  payload: z.string().describe(`The raw row as received (JSON text), cut to ${DEAD_LETTER_EXCERPT_CHARS} characters`),
  payloadBytes: z.number().int().nullable().describe('Size in bytes of the whole raw row (null: stored before this was recorded)'),
  payloadSha256: z.string().nullable().describe('SHA-256 (hex) of the whole raw row: match it to what was sent'),
  reason: z.string().describe('Why it was not stored'),
  batchId: z.number().int().nullable().describe('Ingest batch the row came with'),
});

const RejectPageSchema = z.object({
  rejects: z.array(RejectSchema).describe('Newest first'),
  nextCursor: z
    .string()
    .nullable()
    .describe(`Pass as \`before\` for the next (older) page; null on the last page. A page ends at \`limit\` rows or about ${LIST_BYTE_BUDGET / 1024 / 1024} MiB, whichever comes first`),
});

/** Dead-letter listing: every row or message ingest could not store, with its reason. */
export const rejectRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  app.get(
    '/rejects',
    {
      config: { permission: 'rejects:read' },
      schema: {
        tags: ['rejects'],
        summary: 'List rejected rows (dead letters), newest first',
        description: 'Filters combine with AND. Page backwards in time by passing `nextCursor` as `before` until it is null.',
        querystring: RejectsQuery,
        produces: ['application/json', 'text/csv', XLSX_TYPE],
        response: { 200: RejectPageSchema, 400: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const { meter, transport, since, before, limit } = req.query;
      let sinceDate: Date | undefined;
      if (since !== undefined) {
        const t = parseInstant(since);
        if (!t.ok) throw new MdmError('MDM_ERR_VALIDATION', [`since: ${t.reason}`]);
        sinceDate = new Date(t.ms);
      }
      // One extra row tells whether an older page follows; the page also stops at LIST_BYTE_BUDGET.
      const rows = await listDeadLetters(database, { meter, transport, since: sinceDate, before, limit: limit + 1 });
      const { page, nextCursor } = pageOf(
        rows.map((r) => ({ ...r, receivedAt: r.receivedAt.toISOString() })),
        limit,
        (r) => r.id,
      );
      if (req.query.format !== 'json') {
        // a table of the page: what a data steward opens in Excel next to the file it came from
        const cols = ['id', 'receivedAt', 'transport', 'principal', 'topic', 'rowIndex', 'meter', 'reason', 'payload', 'batchId'] as const;
        const cells = page.map((r) => cols.map((c) => r[c] ?? ''));
        if (nextCursor) reply.header('x-next-cursor', nextCursor);
        if (req.query.format === 'xlsx') return sendXlsx(reply, 'rejects.xlsx', 'rejects', cols, cells);
        const style = csvStyle(req.query.locale);
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', 'attachment; filename="rejects.csv"')
          .send((style.bom + style.line(cols) + cells.map((c) => style.line(c)).join('')) as never);
      }
      return { rejects: page, nextCursor };
    },
  );
};
