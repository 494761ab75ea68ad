import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MdmError } from '../../models/errors.js';
import { toKwhPerM3 } from '../../models/gas/energy.js';
import {
  CALORIFIC_KWH_BOUNDS,
  CalorificValueRowSchema,
  CalorificValuesBodySchema,
  type GasArea,
  GasAreaBodySchema,
  GasAreaCodeSchema,
  MAX_CALORIFIC_PERIOD_DAYS,
  resolveGasArea,
} from '../../models/gas/gas-area.js';
import { gasDayStart } from '../../models/gas/gas-day.js';
import { plausibleDate, storedInstant } from '../../models/input-schemas.js';
import { DAY_MS, formatInstant } from '../../models/time.js';
import { type CalorificInput, getGasArea, listCalorificValues, listGasAreas, putGasArea, storeCalorificValues } from '../../sql/calorific-value.repository.js';
import type { RouteContext } from '../app.js';
import { asOfParam, rangeParams } from '../query-params.js';
import { authErrors, ErrorSchema, InstantQuery } from '../schemas.js';

/** Rejected rows listed in an answer (rejectedCount has them all). */
const MAX_LISTED_REJECTS = 100;
/** Most values one GET returns (truncated says when more matched). */
const MAX_LISTED_VALUES = 5_000;

const GasAreaOut = z.object({
  code: z.string(),
  name: z.string().nullable(),
  timezone: z.string(),
  baseTemperatureC: z.number(),
  basePressureBar: z.number(),
  combustionTemperatureC: z.number(),
  gasDayStartHour: z.number().int(),
  atmosphericPressureBar: z.number(),
  note: z.string().nullable(),
});
const CalorificOut = z.object({
  kind: z.enum(['superior', 'inferior']),
  validFrom: z.string().describe("In the area's zone"),
  validTo: z.string().describe('Exclusive'),
  kwhPerM3: z.number().describe('Per m³ at the area base conditions'),
  valueReceived: z.number(),
  unitReceived: z.string(),
  version: z.number().int(),
  current: z.boolean().describe('True for the version in force now, false for one superseded since (history=true, or an asOf in the past)'),
  source: z.string().nullable(),
  receivedAt: z.string(),
  receivedBy: z.string().nullable(),
  supersededAt: z.string().nullable(),
});
const Reject = z.object({ index: z.number().int().describe('0-based row in values'), reason: z.string() });
const AreaParams = z.object({ area: GasAreaCodeSchema });

/** A row's zod issues as one reason. */
const issuesText = (error: z.ZodError) =>
  error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || 'row'}: ${i.message}`)
    .join('; ');

/** validFrom / validTo: a gas day of the area (its start) or an instant with offset. */
function stampMs(text: string, area: GasArea, field: string): { ms: number } | { reason: string } {
  if (/^\d{4}-\d{2}-\d{2}$/.test(text)) {
    const d = plausibleDate().safeParse(text);
    if (!d.success) return { reason: `${field}: ${d.error.issues[0].message}` };
    return { ms: gasDayStart(text, area.gasDayStartHour, area.timezone) };
  }
  const t = storedInstant(text);
  return t.ok ? { ms: t.ms } : { reason: `${field}: ${t.reason} (or give a gas day YYYY-MM-DD)` };
}

/** Gas areas (base conditions, gas day) and their calorific values, versions kept. See docs/commodities.md. */
export const calorificValueRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  app.put(
    '/gas-areas/:area',
    {
      config: { permission: 'billing:admin' },
      schema: {
        tags: ['gas'],
        summary: 'Create or replace a gas area: zone, base conditions, gas day start hour',
        description:
          'A gas network area (a Turkish distribution area, an EU balancing zone). preset EU: 0 °C and 1.01325 bar, combustion 25 °C, gas day 06:00 Europe/Brussels ' +
          '(EASEE-gas CBP 2003-001/01, Regulation (EU) 2017/459); preset TR: 15 °C and 1.01325 bar, gas day 08:00 Europe/Istanbul. Fields given override the preset; ' +
          'without a preset every one is needed. Calorific values of the area are per m³ at its base conditions. See docs/commodities.md.',
        params: AreaParams,
        body: GasAreaBodySchema,
        response: { 200: GasAreaOut, 201: GasAreaOut, 400: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const r = resolveGasArea(req.params.area, req.body);
      if (!r.ok) throw new MdmError('MDM_ERR_VALIDATION', [`gas area ${req.params.area}: ${r.missing.join(', ')} missing; give them, or preset EU or TR to fill them in`]);
      const created = await putGasArea(database, r.area, req.principal?.name ?? null);
      return reply.code(created ? 201 : 200).send((await getGasArea(database, req.params.area))!);
    },
  );

  app.get(
    '/gas-areas',
    {
      config: { permission: 'billing:read' },
      schema: { tags: ['gas'], summary: 'Every gas area', response: { 200: z.object({ areas: z.array(GasAreaOut) }), ...authErrors } },
    },
    async () => ({ areas: await listGasAreas(database) }),
  );

  app.get(
    '/gas-areas/:area',
    {
      config: { permission: 'billing:read' },
      schema: { tags: ['gas'], summary: 'One gas area', params: AreaParams, response: { 200: GasAreaOut, 404: ErrorSchema, ...authErrors } },
    },
    async (req) => {
      const a = await getGasArea(database, req.params.area);
      if (!a) throw new MdmError('MDM_ERR_NOT_FOUND', [`gas area "${req.params.area}" is not defined: PUT /v1/gas-areas/${req.params.area} first`]);
      return a;
    },
  );

  app.post(
    '/calorific-values',
    {
      config: { permission: 'billing:admin' },
      schema: {
        tags: ['gas'],
        summary: 'Store calorific values per area and period (row-level rejects, versions kept)',
        description:
          '{values: [{area, validFrom, validTo, kind?, value, unit?, source?}]}: validFrom inclusive, validTo exclusive, each a gas day YYYY-MM-DD of the area ' +
          '(the value starts or ends where that gas day starts) or an instant with offset; a Turkish month is validFrom 2026-01-01, validTo 2026-02-01. ' +
          `unit kWh/m3 (default), MJ/m3 or kcal/m3; stored as kWh/m³, which must lie in ${CALORIFIC_KWH_BOUNDS[0]}…${CALORIFIC_KWH_BOUNDS[1]}. ` +
          'A period is (area, kind, validFrom): the same value and end again is unchanged; another value or end supersedes the stored version, which is kept ' +
          '(GET with history=true or asOf). A row overlapping another stored period, naming an undefined area, or malformed is rejected with its reason and the ' +
          'other rows are stored; when every row is rejected the answer is 400 with the reasons.',
        body: CalorificValuesBodySchema,
        response: {
          200: z.object({
            inserted: z.number().int(),
            superseded: z.number().int().describe('Periods that got a new version'),
            unchanged: z.number().int(),
            rejectedCount: z.number().int(),
            rejected: z.array(Reject).describe(`The first ${MAX_LISTED_REJECTS}`),
          }),
          400: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const items = req.body.values;
      const rejected: { index: number; reason: string }[] = [];
      const accepted: { index: number; row: CalorificInput }[] = [];
      const areas = new Map<string, GasArea | null>();
      for (let i = 0; i < items.length; i++) {
        const parsed = CalorificValueRowSchema.safeParse(items[i]);
        if (!parsed.success) {
          rejected.push({ index: i, reason: issuesText(parsed.error) });
          continue;
        }
        const v = parsed.data;
        if (!areas.has(v.area)) areas.set(v.area, (await getGasArea(database, v.area)) ?? null);
        const area = areas.get(v.area);
        if (!area) {
          rejected.push({ index: i, reason: `gas area "${v.area.slice(0, 64)}" is not defined: PUT /v1/gas-areas/${v.area.slice(0, 64)} first` });
          continue;
        }
        const from = stampMs(v.validFrom, area, 'validFrom');
        const to = stampMs(v.validTo, area, 'validTo');
        const bad = 'reason' in from ? from.reason : 'reason' in to ? to.reason : undefined;
        if (bad || !('ms' in from) || !('ms' in to)) {
          rejected.push({ index: i, reason: bad ?? 'bad period' });
          continue;
        }
        if (to.ms <= from.ms) {
          rejected.push({ index: i, reason: `validTo (${v.validTo}) must be after validFrom (${v.validFrom}); validTo is exclusive` });
          continue;
        }
        if (to.ms - from.ms > MAX_CALORIFIC_PERIOD_DAYS * DAY_MS) {
          rejected.push({ index: i, reason: `the period spans ${Math.ceil((to.ms - from.ms) / DAY_MS)} days; at most ${MAX_CALORIFIC_PERIOD_DAYS}` });
          continue;
        }
        if (!Number.isFinite(v.value)) {
          rejected.push({ index: i, reason: 'value must be a finite number' });
          continue;
        }
        const kwh = toKwhPerM3(v.value, v.unit);
        if (kwh < CALORIFIC_KWH_BOUNDS[0] || kwh > CALORIFIC_KWH_BOUNDS[1]) {
          rejected.push({
            index: i,
            reason: `${v.value} ${v.unit} = ${kwh.toPrecision(4)} kWh/m³ is outside ${CALORIFIC_KWH_BOUNDS[0]}…${CALORIFIC_KWH_BOUNDS[1]} kWh/m³: check the unit (kWh/m3, MJ/m3, kcal/m3)`,
          });
          continue;
        }
        accepted.push({
          index: i,
          row: { area: v.area, kind: v.kind, validFromMs: from.ms, validToMs: to.ms, kwhPerM3: kwh, valueReceived: v.value, unitReceived: v.unit, source: v.source ?? null },
        });
      }
      const outcomes = accepted.length
        ? await storeCalorificValues(
            database,
            accepted.map((a) => a.row),
            { now: new Date(), by: req.principal?.name ?? null },
          )
        : [];
      const counts = { inserted: 0, superseded: 0, unchanged: 0 };
      outcomes.forEach((o, k) => {
        if (o.status === 'rejected') rejected.push({ index: accepted[k].index, reason: o.reason });
        else counts[o.status]++;
      });
      rejected.sort((a, b) => a.index - b.index);
      if (rejected.length === items.length) {
        throw new MdmError('MDM_ERR_INVALID_ROWS', [`every one of ${items.length} calorific value row(s) was rejected, nothing stored; first: row ${rejected[0].index}: ${rejected[0].reason}`], {
          details: { rejected: rejected.slice(0, MAX_LISTED_REJECTS), count: rejected.length },
        });
      }
      return { ...counts, rejectedCount: rejected.length, rejected: rejected.slice(0, MAX_LISTED_REJECTS) };
    },
  );

  app.get(
    '/calorific-values',
    {
      config: { permission: 'billing:read' },
      schema: {
        tags: ['gas'],
        summary: 'Calorific values of a gas area over a range: current, as of an instant, or every version',
        description:
          'Values whose period overlaps [from, to) (at most 10 years), in kWh/m³ at the area base conditions, times in the area zone. asOf: the versions current at that ' +
          'instant (what a bill computed then used); history=true: every version (asOf ignored).',
        querystring: z.object({
          area: GasAreaCodeSchema,
          from: InstantQuery,
          to: InstantQuery,
          kind: z.enum(['superior', 'inferior']).optional(),
          asOf: InstantQuery.optional(),
          history: z.enum(['true', 'false']).default('false'),
        }),
        response: {
          200: z.object({
            area: GasAreaOut,
            unit: z.literal('kWh/m3'),
            values: z.array(CalorificOut),
            truncated: z.boolean().describe(`True when more than ${MAX_LISTED_VALUES} values matched: narrow from..to`),
          }),
          400: ErrorSchema,
          404: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const { from, to } = rangeParams(req.query.from, req.query.to, 'month');
      const asOf = asOfParam(req.query.asOf);
      const area = await getGasArea(database, req.query.area);
      if (!area) throw new MdmError('MDM_ERR_NOT_FOUND', [`gas area "${req.query.area}" is not defined: PUT /v1/gas-areas/${req.query.area} first`]);
      const rows = await listCalorificValues(database, { area: area.code, kind: req.query.kind, from, to, asOf, history: req.query.history === 'true', limit: MAX_LISTED_VALUES + 1 });
      const tz = area.timezone;
      return {
        area,
        unit: 'kWh/m3' as const,
        truncated: rows.length > MAX_LISTED_VALUES,
        values: rows.slice(0, MAX_LISTED_VALUES).map((r) => ({
          kind: r.kind,
          validFrom: formatInstant(r.validFrom.getTime(), tz),
          validTo: formatInstant(r.validTo.getTime(), tz),
          kwhPerM3: r.kwhPerM3,
          valueReceived: r.valueReceived,
          unitReceived: r.unitReceived,
          version: r.version,
          current: r.supersededAt === null,
          source: r.source,
          receivedAt: r.receivedAt.toISOString(),
          receivedBy: r.receivedBy,
          supersededAt: r.supersededAt?.toISOString() ?? null,
        })),
      };
    },
  );
};
