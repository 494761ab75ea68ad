import { randomBytes } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AlarmSchema } from '../../models/alarm.js';
import { MdmError } from '../../models/errors.js';
import { DEFAULT_HOOK_TRANSITIONS, DELIVERY_STATUSES, DeliveryOutSchema, HookCreateSchema, HookOutSchema, WorkOrderBodySchema } from '../../models/hook.js';
import { applyWorkOrder } from '../../sql/alarm.repository.js';
import { createHook, deactivateHook, getDelivery, getHook, listDeliveries, listHooks, redeliver, type DeliveryRow, type HookRow } from '../../sql/hook.repository.js';
import type { RouteContext } from '../app.js';
import { pageOf } from '../list-budget.js';
import { authErrors, ErrorSchema } from '../schemas.js';

/** A generated hook secret: 192 random bits. */
const generateSecret = (): string => `whsec_${randomBytes(24).toString('base64url')}`;

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());

function hookOut(h: HookRow): z.infer<typeof HookOutSchema> {
  return { ...h, createdAt: iso(h.createdAt)!, deactivatedAt: iso(h.deactivatedAt) };
}

function deliveryOut(d: DeliveryRow): z.infer<typeof DeliveryOutSchema> {
  return {
    ...d,
    nextAttemptAt: d.status === 'pending' ? iso(d.nextAttemptAt) : null,
    createdAt: iso(d.createdAt)!,
    deliveredAt: iso(d.deliveredAt),
  };
}

const HookParams = z.object({ id: z.coerce.number().int().positive() });

const DeliveriesQuery = z
  .object({
    status: z.enum(DELIVERY_STATUSES).optional(),
    alarm: z.coerce.number().int().positive().optional().describe('Only this alarm'),
    before: z.coerce.number().int().positive().optional().describe('Cursor: nextCursor of the previous page (a transition id)'),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

/** Work-order hooks (admin), their deliveries, and the work-order callback. See docs/alarms.md. */
export const hookRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  const admin = { permission: 'alarms:admin' } as const;

  async function hookOr404(id: number): Promise<HookRow> {
    const h = await getHook(database, id);
    if (!h) throw new MdmError('MDM_ERR_NOT_FOUND', [`hook ${id} not found: list hooks with GET /v1/hooks`]);
    return h;
  }

  app.post(
    '/hooks',
    {
      config: admin,
      schema: {
        tags: ['hooks'],
        summary: 'Create a hook: alarm transitions matching its filter are POSTed to its URL, signed with its secret',
        description:
          'The hook receives transitions written after its creation. Without `secret` one is generated; either way the secret is in this response only. ' +
          `Without \`transitions\`: ${DEFAULT_HOOK_TRANSITIONS.join(', ')}.`,
        body: HookCreateSchema,
        response: { 201: HookOutSchema.extend({ secret: z.string().describe('HMAC key of X-MDM-Signature: store it now, it is not shown again') }), 400: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const secret = b.secret ?? generateSecret();
      const hook = await createHook(database, {
        url: b.url,
        secret,
        filter: b.filter,
        transitions: [...new Set(b.transitions ?? DEFAULT_HOOK_TRANSITIONS)],
        description: b.description,
        createdBy: req.principal.name,
      });
      return reply.status(201).send({ ...hookOut(hook), secret });
    },
  );

  app.get(
    '/hooks',
    {
      config: admin,
      schema: {
        tags: ['hooks'],
        summary: 'List hooks (secrets are never shown)',
        querystring: z.object({ inactive: z.enum(['true', 'false']).default('false').describe('true: deactivated hooks too') }).strict(),
        response: { 200: z.object({ hooks: z.array(HookOutSchema) }), 400: ErrorSchema, ...authErrors },
      },
    },
    async (req) => ({ hooks: (await listHooks(database, { includeInactive: req.query.inactive === 'true' })).map(hookOut) }),
  );

  app.get('/hooks/:id', { config: admin, schema: { tags: ['hooks'], summary: 'One hook', params: HookParams, response: { 200: HookOutSchema, 404: ErrorSchema, ...authErrors } } }, async (req) =>
    hookOut(await hookOr404(req.params.id)),
  );

  app.delete(
    '/hooks/:id',
    {
      config: admin,
      schema: {
        tags: ['hooks'],
        summary: 'Deactivate a hook',
        description: 'Nothing more is sent to it: its pending deliveries become failed ("hook deactivated before delivery"); the hook and its deliveries stay listed.',
        params: HookParams,
        response: { 204: z.null(), 404: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      if (!(await deactivateHook(database, req.params.id))) throw new MdmError('MDM_ERR_NOT_FOUND', [`no active hook ${req.params.id}`]);
      return reply.status(204).send(null);
    },
  );

  app.get(
    '/hooks/:id/deliveries',
    {
      config: admin,
      schema: {
        tags: ['hooks'],
        summary: "A hook's deliveries, newest transition first",
        description: 'Page backwards by passing `nextCursor` as `before` until it is null.',
        params: HookParams,
        querystring: DeliveriesQuery,
        response: { 200: z.object({ deliveries: z.array(DeliveryOutSchema), nextCursor: z.string().nullable() }), 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      await hookOr404(req.params.id);
      const q = req.query;
      const rows = await listDeliveries(database, { hookId: req.params.id, status: q.status, alarmId: q.alarm, before: q.before, limit: q.limit + 1 });
      const { page, nextCursor } = pageOf(rows.map(deliveryOut), q.limit, (d) => d.transitionId);
      return { deliveries: page, nextCursor };
    },
  );

  app.post(
    '/hooks/:id/deliveries/:deliveryId/redeliver',
    {
      config: admin,
      schema: {
        tags: ['hooks'],
        summary: 'Send a delivered or failed delivery again, under the same delivery id, with a fresh attempt budget',
        params: HookParams.extend({ deliveryId: z.string().min(1).max(64) }),
        response: { 200: DeliveryOutSchema, 404: ErrorSchema, 409: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const hook = await hookOr404(req.params.id);
      if (!hook.active) throw new MdmError('MDM_ERR_CONFLICT', [`hook ${hook.id} is deactivated: create a new hook to send to this URL again`]);
      const row = await redeliver(database, hook.id, req.params.deliveryId);
      if (row) return deliveryOut(row);
      const d = await getDelivery(database, hook.id, req.params.deliveryId);
      if (!d) throw new MdmError('MDM_ERR_NOT_FOUND', [`hook ${hook.id} has no delivery ${req.params.deliveryId}`]);
      throw new MdmError('MDM_ERR_CONFLICT', [`delivery ${d.id} is ${d.status}: it is going out already`]);
    },
  );

  app.post(
    '/alarms/:id/work-order',
    {
      config: { permission: 'alarms:write' },
      schema: {
        tags: ['alarms'],
        summary: 'Work-order callback: record the work order and acknowledge (open, in_progress) or close (done) the alarm',
        description:
          'Idempotent: repeating a call changes nothing more. The work order is stored on the alarm in every case. ' +
          'open / in_progress acknowledge an open alarm (an acknowledged or closed one stays as it is); done closes it; cancelled only records the work order. ' +
          'An acknowledge or close writes a transition that hooks receive (actor: the key name).',
        params: z.object({ id: z.coerce.number().int().positive() }),
        body: WorkOrderBodySchema,
        response: { 200: z.object({ alarm: AlarmSchema, changed: z.boolean().describe('True when the alarm changed state') }), 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const { workOrderId, status, comment } = req.body;
      const alarmId = req.params.id;
      const actor = req.principal.name;
      const workOrder = { id: workOrderId, status };
      const text = comment ?? `work order ${workOrderId}: ${status}`;
      return applyWorkOrder(database, alarmId, workOrder, { actor, comment: text, requestId: req.id });
    },
  );
};
