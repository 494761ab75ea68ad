import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AlarmRuleSchema, CodeMapRuleSchema, RuleIdSchema, SilenceRuleSchema, ThresholdRuleSchema, VeeAlarmRuleSchema } from '../../models/alarm.js';
import { MdmError } from '../../models/errors.js';
import { invalidateAlarmRules } from '../../alarms/rules.js';
import { deleteAlarmRule, getAlarmRule, listAlarmRules, putAlarmRule, type AlarmRuleRow } from '../../sql/alarm-rule.repository.js';
import type { RouteContext } from '../app.js';
import { authErrors, ErrorSchema } from '../schemas.js';

const enabled = { enabled: z.boolean().default(true).describe('false keeps the rule but stops evaluating it') };

/** PUT body: a rule definition of one kind, plus `enabled`. */
const RuleBody = z.discriminatedUnion('kind', [ThresholdRuleSchema.extend(enabled), SilenceRuleSchema.extend(enabled), VeeAlarmRuleSchema.extend(enabled), CodeMapRuleSchema.extend(enabled)]);

const RuleOut = z
  .looseObject({
    id: z.string(),
    kind: z.enum(['threshold', 'silence', 'vee', 'map']),
    enabled: z.boolean(),
    createdAt: z.string(),
    updatedAt: z.string(),
    updatedBy: z.string().nullable(),
  })
  .describe('An alarm rule: its definition (with defaults filled in) and bookkeeping');

const IdParams = z.object({ id: RuleIdSchema });

const ruleOut = (r: AlarmRuleRow): z.infer<typeof RuleOut> => ({
  id: r.id,
  ...r.definition,
  enabled: r.enabled,
  createdAt: r.createdAt.toISOString(),
  updatedAt: r.updatedAt.toISOString(),
  updatedBy: r.updatedBy,
});

/** Alarm rules: thresholds, silence, VEE alarms and vendor-code mappings (admin). */
export const alarmRuleRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  app.get(
    '/alarm-rules',
    {
      config: { permission: 'alarms:admin' },
      schema: { tags: ['alarms'], summary: 'List alarm rules', response: { 200: z.object({ rules: z.array(RuleOut) }), ...authErrors } },
    },
    async () => ({ rules: (await listAlarmRules(database)).map(ruleOut) }),
  );

  app.get(
    '/alarm-rules/:id',
    {
      config: { permission: 'alarms:admin' },
      schema: { tags: ['alarms'], summary: 'One alarm rule', params: IdParams, response: { 200: RuleOut, 400: ErrorSchema, 404: ErrorSchema, ...authErrors } },
    },
    async (req) => {
      const rule = await getAlarmRule(database, req.params.id);
      if (!rule) throw new MdmError('MDM_ERR_NOT_FOUND', [`alarm rule "${req.params.id}" not found: list them with GET /v1/alarm-rules`]);
      return ruleOut(rule);
    },
  );

  app.put(
    '/alarm-rules/:id',
    {
      config: { permission: 'alarms:admin' },
      schema: {
        tags: ['alarms'],
        summary: 'Create or replace an alarm rule',
        description:
          'kind threshold: a channel value beyond a threshold for a minimum duration, with hysteresis; silence: no reading for N hours → no_data; ' +
          'vee: VEE fail issues → alarms; map: a vendor event code → an alarm or restore code. Examples in docs/alarms.md. ' +
          'Changing a threshold rule restarts its runs (values are judged against the new definition from the next batch on). Applies in this process at once, in others within 5 s.',
        params: IdParams,
        body: RuleBody,
        response: { 200: RuleOut, 201: RuleOut, 400: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const { enabled: on, ...definition } = req.body;
      const { rule, created } = await putAlarmRule(database, { id: req.params.id, definition: AlarmRuleSchema.parse(definition), enabled: on, by: req.principal.name });
      invalidateAlarmRules(database);
      reply.status(created ? 201 : 200);
      return ruleOut(rule);
    },
  );

  app.delete(
    '/alarm-rules/:id',
    {
      config: { permission: 'alarms:admin' },
      schema: {
        tags: ['alarms'],
        summary: 'Delete an alarm rule',
        description: 'Alarms the rule raised stay as they are (close them with POST /v1/alarms/{id}/close).',
        params: IdParams,
        response: { 204: z.null().describe('Deleted'), 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      if (!(await deleteAlarmRule(database, req.params.id))) throw new MdmError('MDM_ERR_NOT_FOUND', [`alarm rule "${req.params.id}" not found`]);
      invalidateAlarmRules(database);
      return reply.status(204).send(null);
    },
  );
};
