import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CHANNEL_NAMES, ChannelNameSchema } from '../../models/channel.js';
import { MdmError } from '../../models/errors.js';
import { QUALITIES, SOURCES, qualityName, sourceName } from '../../models/reading.js';
import { amount, boundedString, codeText, idText, storedInstant } from '../../models/input-schemas.js';
import { formatInstant } from '../../models/time.js';
import { applyEdit, EDIT_METHODS } from '../../ingest/vee/editor.js';
import { listNotes } from '../../sql/reading-note.repository.js';
import { findVeeMeters, type VeeMeterRow } from '../../sql/vee.repository.js';
import type { Database } from '../../sql/database.js';
import type { RouteContext } from '../app.js';
import { channelParam, rangeParams } from '../query-params.js';
import { authErrors, ErrorSchema, InstantQuery } from '../schemas.js';

/** Longest edited range, in days. */
const MAX_EDIT_DAYS = 31;

const MeterParams = z.object({ id: idText().describe('External meter id') });

const EditBody = z
  .object({
    channel: codeText()
      .min(1)
      .describe(`Channel name or OBIS alias (${CHANNEL_NAMES.join(', ')})`),
    from: InstantQuery.describe('Inclusive'),
    to: InstantQuery.describe(`Exclusive; at most ${MAX_EDIT_DAYS} days after from`),
    values: z
      .array(z.object({ start: InstantQuery, value: amount() }).strict())
      .min(1)
      .max(10_000)
      .optional()
      .describe('Replacement values inside from..to (stored as quality edited); or…'),
    method: z.enum(EDIT_METHODS).optional().describe('…estimate every interval of from..to (quality estimated): linear between the neighbours, like-day, or zero'),
    reasonCode: codeText().trim().min(1, 'is required').describe('Why, as a code from your catalogue (e.g. METER_REPLACED, CT_FAULT)'),
    comment: boundedString(1000).trim().min(1, 'is required').describe('Why, in words'),
  })
  .strict();

const EditedValueSchema = z.object({
  start: z.string(),
  value: z.number(),
  quality: z.enum(QUALITIES),
  source: z.enum(SOURCES),
  method: z.string().nullable().describe('Estimation method, null for given values'),
});

const NoteSchema = z.object({
  start: z.string(),
  version: z.number().int().describe('Version of the value this note explains'),
  current: z.boolean(),
  value: z.number().nullable(),
  quality: z.enum(QUALITIES).nullable(),
  source: z.enum(SOURCES).nullable(),
  method: z.string().nullable().describe('linear, like-day, profile-class, zero; null for given values'),
  params: z.record(z.string(), z.unknown()).nullable().describe('Estimation parameters (neighbours, like days used, register scaling)'),
  reasonCode: z.string().describe('Edit reason code, "accepted", or the VEE rules behind an automatic estimate (gap, spike, …)'),
  comment: z.string().nullable(),
  recordedBy: z.string().describe('Key name, or "vee"'),
  issueId: z.number().int().nullable(),
  createdAt: z.string(),
});

/** Manual edits of stored values and the notes explaining estimated and edited versions. */
export const editRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database, listeners }) => {
  app.post(
    '/meters/:id/edits',
    {
      config: { permission: 'edits:write' },
      schema: {
        tags: ['validation'],
        summary: 'Replace the values of a range with given values or an estimate, with a reason',
        description:
          'Give `values` (stored as quality edited) or `method` (every interval of from..to estimated, quality estimated; interval channels only; ' +
          'linear and like-day are scaled to bracketing register reads). Source is manual; the key name, reason code and comment are recorded with each value ' +
          '(GET /v1/meters/:id/edits) and earlier versions stay in the history. Open issues of the range become replaced and the days are validated again.',
        params: MeterParams,
        body: EditBody,
        response: {
          200: z.object({
            meter: z.string(),
            channel: ChannelNameSchema,
            written: z.number().int().describe('Values stored as new versions'),
            unchanged: z.number().int().describe('Values that already held exactly this'),
            issuesReplaced: z.number().int().describe('Open issues of the range closed as replaced'),
            values: z.array(EditedValueSchema),
          }),
          400: ErrorSchema,
          404: ErrorSchema,
          422: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const b = req.body;
      const channel = channelParam(b.channel);
      const range = rangeParams(b.from, b.to, 'raw');
      if (range.to.getTime() - range.from.getTime() > MAX_EDIT_DAYS * 86_400_000) {
        throw new MdmError('MDM_ERR_RANGE_TOO_LONG', [`from..to spans more than ${MAX_EDIT_DAYS} days: split the edit`]);
      }
      const meter = await meterOr404(database, req.params.id);
      const r = await applyEdit(database, {
        meter,
        channel,
        fromMs: range.from.getTime(),
        toMs: range.to.getTime(),
        values: b.values?.map((v, i) => {
          const t = storedInstant(v.start);
          if (!t.ok) throw new MdmError('MDM_ERR_VALIDATION', [`values[${i}].start: ${t.reason}`]);
          return { startMs: t.ms, value: v.value };
        }),
        method: b.method,
        reasonCode: b.reasonCode,
        comment: b.comment,
        user: req.principal.name,
        nowMs: Date.now(),
        listeners,
      });
      return {
        meter: meter.externalId,
        channel: channel.name,
        written: r.written,
        unchanged: r.unchanged,
        issuesReplaced: r.issuesReplaced,
        values: r.values.map((v) => ({ start: formatInstant(v.startMs, meter.timezone), value: v.value, quality: v.quality, source: v.source, method: v.method })),
      };
    },
  );

  app.get(
    '/meters/:id/edits',
    {
      config: { permission: 'validation:read' },
      schema: {
        tags: ['validation'],
        summary: 'Notes on estimated, edited and accepted values of a range: method and parameters, or reason, comment and who',
        params: MeterParams,
        querystring: z.object({
          channel: codeText().min(1),
          from: InstantQuery.describe('Inclusive'),
          to: InstantQuery.describe('Exclusive'),
          limit: z.coerce.number().int().min(1).max(10_000).default(1000),
        }),
        response: { 200: z.object({ meter: z.string(), channel: ChannelNameSchema, notes: z.array(NoteSchema) }), 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const channel = channelParam(req.query.channel);
      const range = rangeParams(req.query.from, req.query.to, 'raw');
      const meter = await meterOr404(database, req.params.id);
      const notes = await listNotes(database, { meterId: meter.id, channel: channel.code, ...range, limit: req.query.limit });
      return {
        meter: meter.externalId,
        channel: channel.name,
        notes: notes.map((n) => ({
          start: formatInstant(n.start.getTime(), meter.timezone),
          version: n.version,
          current: n.current,
          value: n.value,
          quality: n.quality === null ? null : qualityName(n.quality),
          source: n.source === null ? null : sourceName(n.source),
          method: n.method,
          params: n.params,
          reasonCode: n.reasonCode,
          comment: n.comment,
          recordedBy: n.recordedBy,
          issueId: n.issueId,
          createdAt: n.createdAt.toISOString(),
        })),
      };
    },
  );
};

async function meterOr404(database: Database, id: string): Promise<VeeMeterRow> {
  const [meter] = await findVeeMeters(database, { externalIds: [id] });
  if (!meter) throw new MdmError('MDM_ERR_UNKNOWN_METER', [id]);
  return meter;
}
