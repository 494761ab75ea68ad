import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { scopeAllows, type KeyScope } from '../../models/api-key.js';
import { MdmError } from '../../models/errors.js';
import { COMMODITIES, MeterOutSchema, MeterSchema, parseMeterRows, type Meter } from '../../models/meter.js';
import { idText } from '../../models/input-schemas.js';
import { findMeterRefs } from '../../sql/meter-lookup.repository.js';
import { getMeter, listMeters, upsertMeters } from '../../sql/meter.repository.js';
import type { RouteContext } from '../app.js';
import { withinBytes } from '../list-budget.js';
import { authErrors, ErrorSchema } from '../schemas.js';

/** Most meters one `PUT /v1/meters` takes; larger registries go in several requests. */
export const MAX_METERS_PER_REQUEST = 10_000;

// The body is checked row by row (parseMeterRows) so one bad meter rejects only
// itself; the array items are documented with the Meter schema all the same.
const { $schema: _drop, ...meterJsonSchema } = z.toJSONSchema(MeterSchema, { io: 'input', unrepresentable: 'any' });
const MeterBody = z
  .array(z.unknown().meta(meterJsonSchema))
  .describe(
    `Meters to create or replace, keyed by id (at most ${MAX_METERS_PER_REQUEST}; more → 413). ` +
      'A PUT replaces the whole meter: optional fields left out are cleared or take their defaults. ' +
      'Each row is validated on its own; an id repeated in the same array rejects the later rows.',
  );

const UpsertResultSchema = z.object({
  created: z.number().int().describe('Meters that were not registered before'),
  updated: z.number().int().describe('Registered meters with at least one changed field (updatedAt moves)'),
  unchanged: z.number().int().describe('Registered meters sent exactly as stored: nothing written, updatedAt kept'),
  rejected: z
    .array(z.object({ index: z.number().int().describe('Position in the request array'), reason: z.string() }))
    .describe('Rows not stored, with the field path and the reason; the other rows are stored regardless'),
});

const ListQuery = z
  .object({
    group: idText().min(1).optional().describe('Only meters of this group'),
    portfolio: idText().min(1).optional().describe('Only meters of this portfolio'),
    commodity: z.enum(COMMODITIES).optional(),
    q: z.string().min(1).max(128).optional().describe('Case-insensitive substring of the meter id'),
    region: idText().min(1).optional().describe('Only meters of this region'),
    profileClass: idText().min(1).optional().describe('Only meters of this profile class'),
    tariff: idText().min(1).optional().describe('Only meters on this tariff'),
    label: z
      .string()
      .max(400)
      .regex(/^[^=]+=.*$/s, 'key=value')
      .optional()
      .describe('Only meters whose labels hold key=value (e.g. label=feeder=F12)'),
    openAlarms: z.enum(['true', 'false']).optional().describe('true: only meters with an alarm not closed (open or acknowledged); false: only meters without'),
    cursor: idText().min(1).optional().describe('nextCursor of the previous page'),
    limit: z.coerce.number().int().min(1).max(1000).default(100).describe('Page size, 1–1000'),
  })
  .strict();

const MeterPageSchema = z.object({
  meters: z.array(MeterOutSchema).describe('Ordered by id'),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
});

/** Why a scoped gateway key may not write `meter`, or undefined when it may. */
function outsideScope(scope: KeyScope | null, meter: Meter, stored: { group: string | null } | undefined): string | undefined {
  if (!scope) return undefined;
  const limits = [scope.groups?.length ? `groups ${scope.groups.join(', ')}` : '', scope.meterPrefixes?.length ? `id prefixes ${scope.meterPrefixes.join(', ')}` : ''].filter(Boolean).join(' or ');
  if (stored && !scopeAllows(scope, { id: meter.id, group: stored.group })) {
    return `meter "${meter.id}" is registered in group ${JSON.stringify(stored.group)}, outside this key's scope (${limits})`;
  }
  if (!scopeAllows(scope, { id: meter.id, group: meter.group ?? null })) {
    return `meter "${meter.id}" with group ${JSON.stringify(meter.group ?? null)} is outside this key's scope (${limits})`;
  }
  return undefined;
}

/** Meter registry. */
export const meterRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  app.put(
    '/meters',
    {
      config: { permission: 'meters:write' },
      schema: {
        tags: ['meters'],
        summary: 'Create or replace meters in bulk',
        description:
          `Upserts up to ${MAX_METERS_PER_REQUEST} meters by id. Valid rows are stored even when others are rejected. ` +
          'Counts: `created` (new id), `updated` (a stored field changed), `unchanged` (sent exactly as stored; nothing written). ' +
          'A gateway key with a scope may only write meters inside it, both as stored and as sent; others are rejected per row.',
        body: MeterBody,
        response: { 200: UpsertResultSchema, 400: ErrorSchema, 413: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const raw = req.body;
      if (raw.length > MAX_METERS_PER_REQUEST) {
        throw new MdmError('MDM_ERR_BATCH_TOO_LARGE', [`PUT /v1/meters takes at most ${MAX_METERS_PER_REQUEST} meters per request, got ${raw.length}: split the array into several requests`]);
      }
      const { valid, rejected } = parseMeterRows(raw);
      let allowed = valid;
      const scope = req.principal.scope;
      if (scope && valid.length) {
        const stored = await findMeterRefs(
          database,
          valid.map((v) => v.meter.id),
        );
        allowed = [];
        for (const v of valid) {
          const reason = outsideScope(scope, v.meter, stored.get(v.meter.id));
          if (reason) rejected.push({ index: v.index, reason });
          else allowed.push(v);
        }
        rejected.sort((a, b) => a.index - b.index);
      }
      const counts = await upsertMeters(
        database,
        allowed.map((v) => v.meter),
      );
      return { ...counts, rejected };
    },
  );

  app.get(
    '/meters',
    {
      config: { permission: 'meters:read' },
      schema: {
        tags: ['meters'],
        summary: 'List meters (filters, cursor pagination)',
        description: 'Filters combine with AND. Follow `nextCursor` until it is null to read the whole registry.',
        querystring: ListQuery,
        response: { 200: MeterPageSchema, 400: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const { label, openAlarms, ...rest } = req.query;
      const at = label?.indexOf('=') ?? -1;
      const { meters, nextCursor } = await listMeters(database, {
        ...rest,
        ...(label !== undefined ? { label: { key: label.slice(0, at), value: label.slice(at + 1) } } : {}),
        ...(openAlarms !== undefined ? { openAlarms: openAlarms === 'true' } : {}),
      });
      const { page, cut } = withinBytes(meters); // labels make rows of up to ~30 kB
      return { meters: page, nextCursor: cut ? page[page.length - 1].id : nextCursor };
    },
  );

  app.get(
    '/meters/:id',
    {
      config: { permission: 'meters:read' },
      schema: {
        tags: ['meters'],
        summary: 'One meter',
        params: z.object({ id: idText().min(1).describe('External meter id') }),
        response: { 200: MeterOutSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const meter = await getMeter(database, req.params.id);
      if (!meter) throw new MdmError('MDM_ERR_UNKNOWN_METER', [req.params.id]);
      return meter;
    },
  );
};
