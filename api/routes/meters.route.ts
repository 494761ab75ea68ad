import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { scopeAllows, type KeyScope } from '../../models/api-key.js';
import { MdmError } from '../../models/errors.js';
import { COMMODITIES, MeterOutSchema, MeterSchema, parseMeterRows, type Meter } from '../../models/meter.js';
import { idText } from '../../models/input-schemas.js';
import { findMeterRefs } from '../../sql/meter-lookup.repository.js';
import { getMeter, listMeters, upsertMeters } from '../../sql/meter.repository.js';
import { decodeStatusCursor, encodeStatusCursor, listMeterStatus, METER_SORTS, type StatusCursor } from '../../sql/meter-status.repository.js';
import { channelByCode } from '../../models/channel.js';
import { PERMISSIONS, roleMay, type Permission } from '../../models/api-key.js';
import { periodAt } from '../../billing/period.js';
import { periodParam } from './billing.route.js';
import { createReadinessView } from '../meter-readiness.js';
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
    status: z
      .enum(['true', 'false'])
      .optional()
      .describe('true: each meter with its `status` (last value, completeness and billability in `period`, active alarms); implied by sort, completenessBelow and billable'),
    period: z.string().optional().describe('Month YYYY-MM of completeness and billable (billing readiness of the period, as GET /v1/billing/readiness); default the current UTC month'),
    completenessBelow: z.coerce
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe('Only meters whose completeness in `period` is below this fraction (0.95 = 95 %); meters without one are left out. Needs billing:read'),
    billable: z.enum(['true', 'false']).optional().describe('false: only meters not billable in `period` (true: only billable ones). Needs billing:read'),
    sort: z.enum(METER_SORTS).default('id').describe('Order of the whole registry: id, lastValueAt (readings:read), completeness (billing:read), openAlarms (alarms:read); nulls last, then by id'),
    order: z.enum(['asc', 'desc']).default('asc'),
    cursor: z.string().min(1).max(1000).optional().describe('nextCursor of the previous page (with the same sort and order)'),
    limit: z.coerce.number().int().min(1).max(1000).default(100).describe('Page size, 1–1000'),
  })
  .strict();

const MeterStatusSchema = z.object({
  lastValueAt: z
    .string()
    .nullable()
    .describe("Start of the meter's newest value (not a missing placeholder) of its primary channel (heat: its energy register); null: none, or the role may not read readings"),
  lastValue: z.number().nullable(),
  lastChannel: z.string().nullable().describe('The channel of lastValue'),
  completeness: z
    .number()
    .nullable()
    .describe('Completeness in `period` as billing readiness computed it (1 for a billable meter; null: not computed yet, nothing expected, or the role may not read billing)'),
  billable: z.boolean().nullable().describe('Billable in `period` (null: registered after readiness was computed, or the role may not read billing)'),
  openAlarms: z.number().int().nullable().describe('Alarms not closed (open or acknowledged); null: the role may not read alarms'),
});

const MeterPageSchema = z.object({
  meters: z.array(MeterOutSchema.extend({ status: MeterStatusSchema.optional().describe('With status=true, a sort or a status filter') })).describe('Ordered by `sort` (default id)'),
  nextCursor: z.string().nullable().describe('Pass as `cursor` for the next page; null on the last page'),
  period: z.string().optional().describe('With status: the month of completeness and billable'),
  readinessComputedAt: z.string().nullable().optional().describe('With status: when the readiness behind completeness and billable was computed (null: not read)'),
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
export const meterRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database, config }) => {
  const readinessView = createReadinessView(database, config);
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
        description:
          'Filters combine with AND. Follow `nextCursor` until it is null to read the whole registry. With status=true, a sort other than id, ' +
          'completenessBelow or billable each meter comes with its status; completeness and billable are those of the stored billing readiness of ' +
          '`period` (recomputed first when older than the readiness interval). A filter or sort on a figure the role may not read is a 403.',
        querystring: ListQuery,
        response: { 200: MeterPageSchema, 400: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const { label, openAlarms, status, period: periodText, completenessBelow, billable, sort, order, cursor, ...rest } = req.query;
      const at = label?.indexOf('=') ?? -1;
      const filter = {
        ...rest,
        ...(label !== undefined ? { label: { key: label.slice(0, at), value: label.slice(at + 1) } } : {}),
        ...(openAlarms !== undefined ? { openAlarms: openAlarms === 'true' } : {}),
      };
      if (status === 'true' || sort !== 'id' || order !== 'asc' || completenessBelow !== undefined || billable !== undefined) {
        const role = req.principal.role;
        const may = (p: Permission) => roleMay(role, p);
        const need = (p: Permission, what: string) => {
          if (!may(p)) throw new MdmError('MDM_ERR_FORBIDDEN', [role, `${p} (${what})`, PERMISSIONS_OF(p)]);
        };
        if (sort === 'lastValueAt') need('readings:read', 'sort=lastValueAt');
        if (sort === 'completeness') need('billing:read', 'sort=completeness');
        if (sort === 'openAlarms') need('alarms:read', 'sort=openAlarms');
        if (completenessBelow !== undefined) need('billing:read', 'completenessBelow');
        if (billable !== undefined) need('billing:read', 'billable');
        const period = periodParam(periodText ?? periodAt(Date.now()));
        let after: StatusCursor | undefined;
        if (cursor !== undefined) {
          after = sort === 'id' ? { key: null, id: cursor } : decodeStatusCursor(cursor, sort);
          if (!after) throw new MdmError('MDM_ERR_VALIDATION', ['cursor: not a nextCursor of this sort; start again without cursor']);
        }
        // Readiness that cannot be computed fails a filter or sort by it; shown only, its columns are left null.
        const byReadiness = sort === 'completeness' || completenessBelow !== undefined || billable !== undefined;
        const readiness = may('billing:read')
          ? await readinessView(period).catch((err: unknown) => {
              if (byReadiness) throw err;
              req.log.warn({ err: err instanceof Error ? err.message : String(err), period: period.period }, 'meter list: billing readiness failed; completeness and billable left null');
              return undefined;
            })
          : undefined;
        const { rows, next } = await listMeterStatus(database, {
          ...filter,
          sort,
          order,
          readiness,
          ...(completenessBelow !== undefined ? { completenessBelow } : {}),
          ...(billable !== undefined ? { billable: billable === 'true' } : {}),
          ...(after ? { after } : {}),
        });
        const readings = may('readings:read');
        const alarms = may('alarms:read');
        const meters = rows.map(({ meter, status: s }) => ({
          ...meter,
          status: {
            lastValueAt: readings && s.lastValueAt ? s.lastValueAt.toISOString() : null,
            lastValue: readings ? s.lastValue : null,
            lastChannel: readings && s.lastChannel !== null ? channelByCode(s.lastChannel).name : null,
            completeness: s.completeness,
            billable: s.billable,
            openAlarms: alarms ? s.openAlarms : null,
          },
        }));
        const { page, cut } = withinBytes(meters);
        const last = page[page.length - 1];
        const nextCursor = !cut && !next ? null : sort === 'id' ? (cut ? last.id : next!.id) : cut ? encodeStatusCursor(cursorOf(sort, last)) : encodeStatusCursor(next!);
        return { meters: page, nextCursor, period: period.period, readinessComputedAt: readiness ? readiness.computedAt.toISOString() : null };
      }
      if (cursor !== undefined && !idText().safeParse(cursor).success) throw new MdmError('MDM_ERR_VALIDATION', ['cursor: not a meter id']);
      const { meters, nextCursor } = await listMeters(database, { ...filter, ...(cursor !== undefined ? { cursor } : {}) });
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

/** The roles holding a permission, for the 403 message. */
function PERMISSIONS_OF(p: Permission): string {
  return PERMISSIONS[p].join(', ');
}

/** The cursor after a meter of a page cut by size: its sort key as the status list keeps it. */
function cursorOf(sort: Exclude<(typeof METER_SORTS)[number], 'id'>, m: { id: string; status: { lastValueAt: string | null; completeness: number | null; openAlarms: number | null } }): StatusCursor {
  const key = sort === 'lastValueAt' ? m.status.lastValueAt : sort === 'completeness' ? m.status.completeness : m.status.openAlarms;
  return { key, id: m.id };
}
