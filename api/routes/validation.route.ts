import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { localDate, shiftDate } from '../../models/calendar.js';
import { ChannelNameSchema, channelByCode } from '../../models/channel.js';
import { MdmError } from '../../models/errors.js';
import { COMMODITIES } from '../../models/meter.js';
import { amount, boundedString, codeText, DATE_WINDOW, idText, plausibleDate, storedInstant } from '../../models/input-schemas.js';
import { formatInstant } from '../../models/time.js';
import { DEFAULT_VEE_PARAMS, ISSUE_STATUSES, RULES, SEVERITIES } from '../../models/vee.js';
import { overrideProblems } from '../../ingest/vee/config.js';
import { acceptIssue, applyEdit, EDIT_METHODS } from '../../ingest/vee/editor.js';
import { runVee, type VeeTarget } from '../../ingest/vee/runner.js';
import { findVeeMeters, getIssue, listIssues, listVeeSettings, putVeeSetting, resolveIssue, type IssueRow } from '../../sql/vee.repository.js';
import type { RouteContext } from '../app.js';
import { pageOf } from '../list-budget.js';
import { channelParam } from '../query-params.js';
import { authErrors, ErrorSchema, InstantQuery } from '../schemas.js';

const DateOnly = plausibleDate().describe('Local calendar date YYYY-MM-DD');
/** Longest on-demand run, in local days. */
const MAX_RUN_DAYS = 92;
const MAX_RUN_METERS = 10_000;

export const IssueSchema = z
  .object({
    id: z.number().int(),
    meter: z.string(),
    channel: ChannelNameSchema,
    rule: z.enum(RULES),
    severity: z.enum(SEVERITIES).describe('fail: the values are suspect and block billing until resolved; warn: for information'),
    from: z.string().describe("Start of the range concerned, in the meter's local time with its offset"),
    to: z.string().describe('Exclusive end (equal to from for one instantaneous value; for register findings, the later read)'),
    detail: z.string(),
    status: z.enum(ISSUE_STATUSES).describe('open; accepted (as is); replaced (by an edit or estimate); obsolete (a re-run no longer finds it)'),
    createdAt: z.string(),
    resolvedAt: z.string().nullable(),
    resolvedBy: z.string().nullable().describe('Key name of the person, or "vee" for automatic estimates and obsoletion'),
    comment: z.string().nullable(),
  })
  .describe('A validation issue');

export function issueOut(r: IssueRow): z.infer<typeof IssueSchema> {
  return {
    id: r.id,
    meter: r.meter,
    channel: channelByCode(r.channel).name,
    rule: r.rule,
    severity: r.severity,
    from: formatInstant(r.fromTs.getTime(), r.timezone),
    to: formatInstant(r.toTs.getTime(), r.timezone),
    detail: r.detail,
    status: r.status,
    createdAt: r.createdAt.toISOString(),
    resolvedAt: r.resolvedAt ? r.resolvedAt.toISOString() : null,
    resolvedBy: r.resolvedBy,
    comment: r.resolutionComment,
  };
}

const IssuesQuery = z
  .object({
    meter: idText().min(1).optional().describe('External meter id'),
    group: idText().min(1).optional().describe('Meter group'),
    channel: codeText().min(1).optional().describe('Channel name or OBIS alias'),
    rule: z.enum(RULES).optional(),
    severity: z.enum(SEVERITIES).optional(),
    status: z.enum(ISSUE_STATUSES).optional(),
    from: InstantQuery.optional().describe('Issues overlapping [from, to): inclusive, ISO-8601 with offset'),
    to: InstantQuery.optional().describe('Exclusive'),
    before: z.coerce.number().int().positive().optional().describe('Cursor: nextCursor of the previous page'),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

const ValueIn = z.object({ start: z.string().describe('Interval start or read time, ISO-8601 with offset'), value: amount() }).strict();

const ResolveBody = z
  .object({
    action: z.enum(['accept', 'estimate', 'replace']).describe('accept: the values are right as they are; estimate: replace the range by an estimate; replace: by the given values'),
    values: z.array(ValueIn).max(10_000).optional().describe('replace: the new figures (inside the issue range)'),
    method: z.enum(EDIT_METHODS).optional().describe('estimate: linear, like-day or zero; default linear up to 2 h, like-day beyond'),
    comment: boundedString(1000).trim().min(1).describe('Why (kept with the issue and the values)'),
    reasonCode: codeText().trim().min(1).optional().describe('Reason code noted with replaced values; default "issue-<rule>"'),
  })
  .strict();

const RunBody = z
  .object({
    meters: z.array(idText().min(1)).min(1).max(MAX_RUN_METERS).optional().describe('External meter ids'),
    group: idText().min(1).optional().describe('…or every meter of a group'),
    from: z.string().describe('Local date YYYY-MM-DD (each meter in its own time zone) or ISO-8601 instant; inclusive'),
    to: z.string().describe('Exclusive, same forms'),
  })
  .strict();

const RunResultSchema = z.object({
  meters: z.number().int().describe('Meters validated'),
  values: z.number().int().describe('Stored values inside the ranges, all channels'),
  findings: z.record(z.string(), z.number().int()).describe('Findings by rule (including those already recorded)'),
  issuesCreated: z.number().int(),
  issuesObsoleted: z.number().int(),
  markedSuspect: z.number().int(),
  estimated: z.number().int(),
  unmarked: z.number().int().describe('Values VEE had marked suspect that no rule fails any more, back to measured'),
});

const SettingBody = z
  .object({
    profileClass: codeText().min(1).nullable().default(null).describe('null: every profile class'),
    commodity: z.enum(COMMODITIES).nullable().default(null).describe('null: every commodity'),
    effectiveFrom: DateOnly.describe('First local date it applies to'),
    params: z.record(z.string(), z.unknown()).describe('Partial rule parameters, e.g. {"spike": {"severity": "fail", "k": 4}}; see GET defaults'),
  })
  .strict();

const SettingSchema = z.object({
  id: z.number().int(),
  profileClass: z.string().nullable(),
  commodity: z.string().nullable(),
  effectiveFrom: z.string(),
  params: z.record(z.string(), z.unknown()),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
});

/** Validation issues, their resolution, on-demand runs and rule parameters. */
export const validationRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database, listeners }) => {
  app.get(
    '/validation/issues',
    {
      config: { permission: 'validation:read' },
      schema: {
        tags: ['validation'],
        summary: 'List validation issues, newest first',
        description: 'Filters combine with AND. Page backwards by passing `nextCursor` as `before` until it is null.',
        querystring: IssuesQuery,
        response: { 200: z.object({ issues: z.array(IssueSchema), nextCursor: z.string().nullable() }), 400: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const q = req.query;
      const rows = await listIssues(database, {
        meter: q.meter,
        group: q.group,
        channel: q.channel === undefined ? undefined : channelParam(q.channel).code,
        rule: q.rule,
        severity: q.severity,
        status: q.status,
        from: q.from === undefined ? undefined : instant('from', q.from),
        to: q.to === undefined ? undefined : instant('to', q.to),
        before: q.before,
        limit: q.limit + 1, // one extra row tells whether an older page follows
      });
      const { page, nextCursor } = pageOf(rows.map(issueOut), q.limit, (i) => i.id);
      return { issues: page, nextCursor };
    },
  );

  app.post(
    '/validation/issues/:id/resolve',
    {
      config: { permission: 'validation:admin' },
      schema: {
        tags: ['validation'],
        summary: 'Resolve an open issue: accept the values as they are, or replace them by an estimate or given values',
        description:
          'accept: the issue becomes accepted and its suspect values become `validated` (same figure, new version; values still under another open fail issue stay suspect); ' +
          'the rules leave validated values alone and the same finding is not reported again. ' +
          'estimate / replace: the range becomes `estimated` / `edited` (source manual), like POST /v1/meters/:id/edits, and the issue is replaced. ' +
          'The comment and the key name are recorded.',
        params: z.object({ id: z.coerce.number().int().positive() }),
        body: ResolveBody,
        response: {
          200: z.object({
            issue: IssueSchema,
            validated: z.number().int().optional().describe('accept: values set to validated'),
            written: z.number().int().optional().describe('estimate/replace: values stored as new versions'),
          }),
          400: ErrorSchema,
          404: ErrorSchema,
          409: ErrorSchema,
          422: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const { action, values, method, comment } = req.body;
      const issue = await getIssue(database, req.params.id);
      if (!issue) throw new MdmError('MDM_ERR_NOT_FOUND', [`no validation issue ${req.params.id}`]);
      if (issue.status !== 'open') throw new MdmError('MDM_ERR_CONFLICT', [`issue ${issue.id} is ${issue.status}, not open: only open issues can be resolved`]);
      if (action !== 'replace' && values) throw new MdmError('MDM_ERR_VALIDATION', ['values are for action "replace"']);
      if (action !== 'estimate' && method) throw new MdmError('MDM_ERR_VALIDATION', ['method is for action "estimate"']);
      const [meter] = await findVeeMeters(database, { ids: [issue.meterId] });
      const user = req.principal.name;
      if (action === 'accept') {
        const r = await acceptIssue(database, issue, meter, user, comment);
        return { issue: issueOut((await getIssue(database, issue.id))!), validated: r.validated };
      }
      if (action === 'replace' && !values?.length) throw new MdmError('MDM_ERR_VALIDATION', ['action "replace" needs values: [{start, value}, …] inside the issue range']);
      const channel = channelByCode(issue.channel);
      const fromMs = issue.fromTs.getTime();
      // Register and instantaneous issues name reads at both ends: the end read is part of the range.
      const toMs = channel.kind === 'interval' ? issue.toTs.getTime() : issue.toTs.getTime() + 1;
      const chosen = action === 'estimate' ? (method ?? (toMs - fromMs <= 2 * 3_600_000 ? 'linear' : 'like-day')) : undefined;
      const r = await applyEdit(database, {
        meter,
        channel,
        fromMs,
        toMs,
        values: values?.map((v, i) => ({ startMs: instant(`values[${i}].start`, v.start).getTime(), value: v.value })),
        method: chosen,
        reasonCode: req.body.reasonCode ?? `issue-${issue.rule}`,
        comment,
        user,
        issueId: issue.id,
        nowMs: Date.now(),
        listeners,
      });
      // The edit closed the open issues of its range as replaced, this one included; the call is a safety net.
      await resolveIssue(database, { id: issue.id, status: 'replaced', by: user, comment });
      return { issue: issueOut((await getIssue(database, issue.id))!), written: r.written };
    },
  );

  app.post(
    '/validation/run',
    {
      config: { permission: 'validation:admin' },
      schema: {
        tags: ['validation'],
        summary: 'Validate meters over a range now (besides the automatic validation of arriving data)',
        description: `Runs every rule in force, marks failing values suspect, estimates what the parameters say, records issues. At most ${MAX_RUN_DAYS} days and ${MAX_RUN_METERS} meters per request; the response comes when the run is done.`,
        body: RunBody,
        response: { 200: RunResultSchema, 400: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const { meters: ids, group, from, to } = req.body;
      if ((ids === undefined) === (group === undefined)) throw new MdmError('MDM_ERR_VALIDATION', ['give either meters (a list of ids) or group']);
      localRange(from, to, 'UTC'); // the form and order of from/to, before any meter is looked at
      const meters = await findVeeMeters(database, ids ? { externalIds: ids } : { group: group! });
      const missing = ids?.filter((id) => !meters.some((m) => m.externalId === id)) ?? [];
      if (missing.length) throw new MdmError('MDM_ERR_BAD_METER_REFERENCE', [`unknown meter${missing.length > 1 ? 's' : ''}: ${missing.slice(0, 10).join(', ')}`]);
      const targets: VeeTarget[] = meters.map((m) => ({ meterId: m.id, ...localRange(from, to, m.timezone) }));
      const r = await runVee(database, targets, { nowMs: Date.now(), listeners });
      const { ranges: _, ...rest } = r;
      return { meters: meters.length, ...rest };
    },
  );

  app.get(
    '/validation/settings',
    {
      config: { permission: 'validation:read' },
      schema: {
        tags: ['validation'],
        summary: 'Rule parameters: the defaults and the stored overrides',
        description:
          'For a meter on a date, the defaults apply, then the newest override (effectiveFrom ≤ date) of each level, least specific first: ' +
          'any class/any commodity, any class/its commodity, its class/any commodity, its class/its commodity. Rule objects merge field by field.',
        response: { 200: z.object({ defaults: z.record(z.string(), z.unknown()), overrides: z.array(SettingSchema) }), ...authErrors },
      },
    },
    async () => ({ defaults: DEFAULT_VEE_PARAMS, overrides: (await listVeeSettings(database)).map(settingOut) }),
  );

  app.put(
    '/validation/settings',
    {
      config: { permission: 'validation:admin' },
      schema: {
        tags: ['validation'],
        summary: 'Store a rule parameter override for a profile class and/or commodity from a date on',
        description: 'The same profileClass/commodity/effectiveFrom replaces the stored override. Applies to validations run from now on.',
        body: SettingBody,
        response: { 200: SettingSchema, 400: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const problems = overrideProblems(req.body.params);
      if (problems.length) throw new MdmError('MDM_ERR_VALIDATION', [`invalid params: ${problems.join('; ')}`], { details: problems });
      return settingOut(await putVeeSetting(database, { ...req.body, createdBy: req.principal.name }));
    },
  );
};

function instant(name: string, text: string): Date {
  const t = storedInstant(text);
  if (!t.ok) throw new MdmError('MDM_ERR_VALIDATION', [`${name}: ${t.reason}`]);
  return new Date(t.ms);
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** from (inclusive) / to (exclusive), local dates or instants → the meter's local dates, inclusive. */
function localRange(from: string, to: string, tz: string): { fromDate: string; toDate: string } {
  const fromDate = DATE.test(from) ? checkedDate('from', from) : localDate(instant('from', from).getTime(), tz);
  const toDate = DATE.test(to) ? shiftDate(checkedDate('to', to), -1) : localDate(instant('to', to).getTime() - 1, tz);
  if (toDate < fromDate) throw new MdmError('MDM_ERR_RANGE_INVERTED', [`from (${from}) must be before to (${to}); from is inclusive, to exclusive`]);
  if (Date.parse(toDate) - Date.parse(fromDate) >= MAX_RUN_DAYS * 86_400_000) {
    throw new MdmError('MDM_ERR_RANGE_TOO_LONG', [`from..to spans more than ${MAX_RUN_DAYS} days: split the run`]);
  }
  return { fromDate, toDate };
}

function checkedDate(name: string, d: string): string {
  if (!DateOnly.safeParse(d).success) throw new MdmError('MDM_ERR_VALIDATION', [`${name}: "${d}" is not a calendar date from ${DATE_WINDOW.from} to ${DATE_WINDOW.to}`]);
  return d;
}

function settingOut(s: Awaited<ReturnType<typeof listVeeSettings>>[number]): z.infer<typeof SettingSchema> {
  return { ...s, createdAt: s.createdAt.toISOString() };
}
