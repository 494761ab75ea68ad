import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AlarmActionBody, AlarmSchema, AlarmsQuery } from '../../models/alarm.js';
import { MdmError } from '../../models/errors.js';
import { parseInstant } from '../../models/time.js';
import { getAlarm, listAlarms, transitionAlarm, type AlarmAction } from '../../sql/alarm.repository.js';
import type { RouteContext } from '../app.js';
import { pageOf } from '../list-budget.js';
import { authErrors, ErrorSchema } from '../schemas.js';

const IdParams = z.object({ id: z.coerce.number().int().positive().describe('Alarm id') });

function instantParam(name: string, text: string | undefined): Date | undefined {
  if (text === undefined) return undefined;
  const t = parseInstant(text);
  if (!t.ok) throw new MdmError('MDM_ERR_VALIDATION', [`${name}: ${t.reason}`]);
  return new Date(t.ms);
}

/** Alarms: list, one, acknowledge, close. */
export const alarmRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  app.get(
    '/alarms',
    {
      config: { permission: 'alarms:read' },
      schema: {
        tags: ['alarms'],
        summary: 'List alarms, newest first',
        description: 'Filters combine with AND; from/to select by openedAt. Page backwards by passing `nextCursor` as `before` until it is null; a page ends at `limit` rows or about 4 MiB.',
        querystring: AlarmsQuery,
        response: { 200: z.object({ alarms: z.array(AlarmSchema), nextCursor: z.string().nullable() }), 400: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const q = req.query;
      const from = instantParam('from', q.from);
      const to = instantParam('to', q.to);
      if (from && to && to <= from) throw new MdmError('MDM_ERR_RANGE_INVERTED', ['to must be after from']);
      const rows = await listAlarms(database, { ...q, from, to, limit: q.limit + 1 });
      const { page, nextCursor } = pageOf(rows, q.limit, (a) => a.id);
      return { alarms: page, nextCursor };
    },
  );

  app.get(
    '/alarms/:id',
    {
      config: { permission: 'alarms:read' },
      schema: { tags: ['alarms'], summary: 'One alarm', params: IdParams, response: { 200: AlarmSchema, 404: ErrorSchema, ...authErrors } },
    },
    async (req) => {
      const alarm = await getAlarm(database, req.params.id);
      if (!alarm) throw new MdmError('MDM_ERR_NOT_FOUND', [`alarm ${req.params.id} not found: list alarms with GET /v1/alarms`]);
      return alarm;
    },
  );

  const action = (path: string, act: AlarmAction, summary: string, description: string) =>
    app.post(
      `/alarms/:id/${path}`,
      {
        config: { permission: 'alarms:write' },
        schema: {
          tags: ['alarms'],
          summary,
          description,
          params: IdParams,
          body: AlarmActionBody,
          response: { 200: AlarmSchema, 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, ...authErrors },
        },
      },
      async (req) => {
        const { alarm } = await transitionAlarm(database, req.params.id, act, { actor: req.body.user ?? req.principal.name, comment: req.body.comment, requestId: req.id });
        return alarm;
      },
    );
  action(
    'acknowledge',
    'acknowledge',
    'Acknowledge an alarm (open → acknowledged)',
    'Someone is on it. Acknowledging an acknowledged alarm changes nothing (200); a closed alarm cannot be acknowledged (409). `user` defaults to the API key name.',
  );
  action(
    'close',
    'close',
    'Close an alarm (open or acknowledged → closed)',
    'Closing a closed alarm changes nothing and returns it (200), so retries are safe. The next occurrence of the code opens a new alarm. `user` defaults to the API key name.',
  );
};
