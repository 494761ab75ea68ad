import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MdmError } from '../../models/errors.js';
import { checkSchedule, TouScheduleOutSchema, TouScheduleSchema } from '../../models/tou.js';
import { DAY_MS, parseInstant } from '../../models/time.js';
import { runBillingForRequest } from '../../billing/billing-run.js';
import { figureChanges } from '../../billing/corrections.js';
import { consumptionJson } from '../../billing/consumption-json.js';
import { billingCsv, billingTable } from '../../billing/csv.js';
import { CsvLocaleQuery, csvStyle } from '../csv-locale.js';
import { sendXlsx, XLSX_TYPE } from '../xlsx-reply.js';
import { REASON_CODES, type BillingFigures } from '../../billing/figures.js';
import { parsePeriod, type Period } from '../../billing/period.js';
import { readinessOf } from '../../billing/readiness.js';
import { closePeriod, findClosedPeriod, listSnapshots, type MeterSelector } from '../../sql/billing.repository.js';
import type { Database } from '../../sql/database.js';
import { findQueryMeters } from '../../sql/reading-query.repository.js';
import { listTouSchedules, putTouSchedule } from '../../sql/tou-schedule.repository.js';
import type { RouteContext } from '../app.js';
import { asOfParam } from '../query-params.js';
import { authErrors, ErrorSchema } from '../schemas.js';

/** Longest meters= list; larger sets: register them in a group or portfolio. */
const MAX_LISTED_METERS = 5_000;
/** Longest from..to range of a consumption query, in days. */
const MAX_RANGE_DAYS = 400;
/** Defaults when the app is built without the billing settings (tests, embedded use). */
const DEFAULTS = { BILLING_NO_DATA_DAYS: 3, BILLING_READINESS_INTERVAL_MIN: 60 };

const ReasonSchema = z.object({ code: z.enum(REASON_CODES), message: z.string() });

const GasFiguresSchema = z
  .object({
    area: z.string().nullable().describe("The meter's gas area (PUT /v1/meters gasArea); null: Vb and energy are not computed"),
    volumeBase: z.number().nullable().describe("Vb, m³ at the area's base conditions; null when nothing could be converted"),
    volumeBaseMethod: z
      .enum(['converted', 'register'])
      .nullable()
      .describe(
        "converted: per interval, Vb = Vm · (p/pb) · (Tb/T) from the temperature and gauge pressure of the same start (EN 12405-1, ideal gas); register: the delta of the converter's Vb register (volume_base_register) between reads at the window start and end",
      ),
    volumeBaseCoverage: z.number().nullable().describe('Share of Vm that volumeBase covers, 0…1 (below 1: reason not_converted); null without an area'),
    energy: z
      .number()
      .nullable()
      .describe("kWh = Vb × the area's superior calorific value in force at each interval, over the part priced; null when no calorific value covers any of it (never 0 for lack of one)"),
    energyCoverage: z.number().nullable().describe('Share of volumeBase priced by a calorific value, 0…1 (below 1: reason missing_calorific_value); null without volumeBase'),
    calorificValues: z
      .array(
        z.object({
          validFrom: z.string(),
          validTo: z.string(),
          kwhPerM3: z.number(),
          version: z.number().int(),
          volumeBase: z.number().describe('m³ Vb priced with it'),
          energy: z.number().describe('kWh'),
        }),
      )
      .describe('The calorific values used (current versions, or as of asOf), oldest first'),
  })
  .describe('Gas meters: volume at base conditions and energy (docs/commodities.md "Billing per commodity")');

const HeatFiguresSchema = z
  .object({
    energy: z.number().nullable().describe('kWh: the heat energy register (heat_energy_register) delta between its first and last read in the window, multiplier applied; null without two reads'),
    from: z.string().nullable().describe('The first read used (local time)'),
    to: z.string().nullable().describe('The last read used (local time)'),
  })
  .describe('Heat meters: energy from the register; billable when reads exist at the window start and end');

export const BillingFiguresSchema = z.object({
  meter: z.string().describe('External meter id'),
  activeImport: z.number().describe('kWh, multiplier applied'),
  activeExport: z.number().describe('kWh, multiplier applied'),
  reactiveInductive: z.number().describe('kvarh (Q+), multiplier applied'),
  reactiveCapacitive: z.number().describe('kvarh (Q−), multiplier applied'),
  inductiveRatio: z.number().nullable().describe('reactiveInductive / activeImport (reactive-penalty checks); null without active import'),
  capacitiveRatio: z.number().nullable().describe('reactiveCapacitive / activeImport; null without active import'),
  tou: z
    .record(z.string(), z.number())
    .optional()
    .describe('Active import per TOU bucket, kWh (three-time: T1 06–17, T2 17–22, T3 22–06 local); an interval counts in the bucket of its local start. Absent for single-rate meters'),
  maxDemand: z
    .object({ kw: z.number().describe('kWh × 60 / interval minutes × multiplier'), at: z.string().describe('Interval start, local time with offset') })
    .nullable()
    .describe('Highest interval demand of the period; null without data'),
  estimatedShare: z.number().describe('Share of active import that is estimated or edited, 0…1'),
  completeness: z
    .number()
    .nullable()
    .describe(
      'Intervals of the primary channel (active import; volume for gas and water) present / expected in the meter window; null when the window is empty or the commodity has no interval channel (heat)',
    ),
  billable: z.boolean(),
  reasons: z.array(ReasonSchema).describe('Why not billable; empty when billable'),
  dataVersion: z.string().describe('Newest batch the figures include; GET …?asOf=<dataVersion> reproduces them exactly'),
  commodity: z
    .enum(['gas', 'water', 'heat'])
    .optional()
    .describe(
      'Meters of another commodity than electricity only (absent for electricity): their figures follow. completeness, missing_data and estimatedShare then count the ' +
        'commodity\'s primary channel (volume for gas and water); the electricity fields are 0 / null. docs/billing.md "Per commodity"',
    ),
  volume: z.number().optional().describe('Gas and water: m³ of the interval channel volume, multiplier applied (gas: Vm, at metering conditions)'),
  gas: GasFiguresSchema.optional(),
  heat: HeatFiguresSchema.optional(),
  parts: z
    .array(
      z.object({
        from: z.string().describe('Part start, local time with offset'),
        to: z.string().describe('Part end (exclusive)'),
        multiplier: z.number(),
        tariff: z.string(),
        activeImport: z.number().describe('kWh, the part’s multiplier applied'),
        activeExport: z.number(),
        reactiveInductive: z.number(),
        reactiveCapacitive: z.number(),
        tou: z.record(z.string(), z.number()).optional().describe('Active import per TOU bucket of the part’s tariff'),
      }),
    )
    .optional()
    .describe('Only when the multiplier or tariff changes inside the window (dated attributes, docs/meters.md): the parts; the totals above add them, each with its own multiplier'),
});

export const ConsumptionSchema = z.object({
  period: z.string().nullable().describe('YYYY-MM, or null for a from/to query'),
  from: z.string().nullable(),
  to: z.string().nullable(),
  asOf: z.string().nullable(),
  dataVersion: z.string(),
  meters: z.array(BillingFiguresSchema).describe('Ordered by meter id'),
});

const ReadinessSchema = z.object({
  period: z.string(),
  computedAt: z.string().describe('When the check ran (UTC)'),
  source: z.enum(['stored', 'computed']).describe('stored: the last periodic result, still valid for the current data; computed: run for this request'),
  dataVersion: z.string(),
  meters: z.number().int().describe('Meters checked'),
  billable: z.number().int(),
  notBillable: z.array(z.object({ meter: z.string(), completeness: z.number().nullable(), reasons: z.array(ReasonSchema) })),
});

const ClosedSchema = z.object({
  period: z.string(),
  closedAt: z.string(),
  closedBy: z.string(),
  dataVersion: z.string(),
  meters: z.number().int().describe('Snapshot rows written (one per registered meter)'),
  billable: z.number().int(),
});

const ChangeSchema = z.object({ closed: z.unknown(), current: z.unknown(), delta: z.number().optional() });
const CorrectionsSchema = z.object({
  period: z.string(),
  closedAt: z.string(),
  closedDataVersion: z.string(),
  dataVersion: z.string().describe('Data version of the current figures'),
  meters: z
    .array(
      z.object({
        meter: z.string(),
        changes: z
          .record(z.string(), ChangeSchema)
          .describe(
            'Changed fields by dotted path (activeImport, tou.T1, maxDemand.kw…; volume, gas.volumeBase, gas.energy, heat.energy for other commodities): closed, current, delta = current − closed',
          ),
        current: BillingFiguresSchema.nullable().describe('The current figures (null: the meter is gone)'),
      }),
    )
    .describe('Only meters whose figures changed since the close'),
});

const SelectorQuery = {
  meters: z.string().min(1).optional().describe('Comma-separated external meter ids'),
  group: z.string().min(1).optional(),
  portfolio: z.string().min(1).optional(),
};
const PeriodText = z.string().describe('Calendar month YYYY-MM, taken in each meter’s local time');
const PeriodParams = z.object({ period: PeriodText });

export function periodParam(text: string): Period {
  const p = parsePeriod(text);
  if (!p) throw new MdmError('MDM_ERR_VALIDATION', [`period: "${text}" is not a month YYYY-MM (e.g. 2026-03)`]);
  return p;
}

/** At most one of meters, group, portfolio; none = every registered meter. Listed ids must exist. */
export async function selectorParam(database: Database, q: { meters?: string; group?: string; portfolio?: string }): Promise<MeterSelector> {
  const given = (['meters', 'group', 'portfolio'] as const).filter((k) => q[k] !== undefined);
  if (given.length > 1) throw new MdmError('MDM_ERR_VALIDATION', [`give at most one selector of meters, group, portfolio (got ${given.join(', ')}); none = every meter`]);
  if (q.group !== undefined) return { group: q.group };
  if (q.portfolio !== undefined) return { portfolio: q.portfolio };
  if (q.meters === undefined) return { all: true };
  const ids = [
    ...new Set(
      q.meters
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
  if (ids.length === 0) throw new MdmError('MDM_ERR_VALIDATION', ['meters= lists no meter id; give comma-separated external ids']);
  if (ids.length > MAX_LISTED_METERS) {
    throw new MdmError('MDM_ERR_TOO_MANY_METERS', [`meters= lists ${ids.length} ids; the limit is ${MAX_LISTED_METERS}: put the meters in a group or portfolio`]);
  }
  const found = new Set((await findQueryMeters(database, { meters: ids })).map((m) => m.externalId));
  const unknown = ids.filter((id) => !found.has(id));
  if (unknown.length) throw new MdmError('MDM_ERR_UNKNOWN_METER', [unknown.join('", "')], { details: { unknownMeters: unknown } });
  return { meters: ids };
}

function windowParams(q: { period?: string; from?: string; to?: string }) {
  if (q.period !== undefined) {
    if (q.from !== undefined || q.to !== undefined) throw new MdmError('MDM_ERR_VALIDATION', ['give either period=YYYY-MM or from= and to=, not both']);
    const p = periodParam(q.period);
    return { period: p.period, window: { kind: 'period' as const, fromDate: p.fromDate, toDate: p.toDate } };
  }
  if (q.from === undefined || q.to === undefined) throw new MdmError('MDM_ERR_VALIDATION', ['give period=YYYY-MM, or both from= and to= (ISO-8601 instants with offset)']);
  const f = parseInstant(q.from);
  if (!f.ok) throw new MdmError('MDM_ERR_VALIDATION', [`from: ${f.reason}`]);
  const t = parseInstant(q.to);
  if (!t.ok) throw new MdmError('MDM_ERR_VALIDATION', [`to: ${t.reason}`]);
  if (f.ms >= t.ms) throw new MdmError('MDM_ERR_RANGE_INVERTED', [`from (${q.from}) must be before to (${q.to}); from is inclusive, to exclusive`]);
  if (t.ms - f.ms > MAX_RANGE_DAYS * DAY_MS) throw new MdmError('MDM_ERR_RANGE_TOO_LONG', [`from..to spans more than ${MAX_RANGE_DAYS} days: bill per period`]);
  return { period: null, window: { kind: 'range' as const, from: new Date(f.ms), to: new Date(t.ms) } };
}

/** Billing: consumption figures, readiness, period close and corrections, TOU schedules. */
export const billingRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database, config }) => {
  const settings = { ...DEFAULTS, ...config };
  const readiness = { noDataDays: settings.BILLING_NO_DATA_DAYS };
  const readinessMaxAgeMs = (settings.BILLING_READINESS_INTERVAL_MIN || 15) * 60_000;

  app.get(
    '/billing/consumption',
    {
      config: { permission: 'billing:read' },
      schema: {
        tags: ['billing'],
        summary: 'Billable consumption per meter: energies, TOU buckets, max demand, estimated share, completeness, billable with reasons',
        description:
          "period=YYYY-MM is each meter's local calendar month (DST-aware), cut to its supply dates; or from/to instants. " +
          'At most one selector (meters, group, portfolio); none = every meter. asOf: the data as it was then. format=csv: text/csv, one row per meter (locale=tr|pl: ";", decimal comma, UTF-8 BOM for Excel); format=xlsx: the same rows as a workbook. See docs/billing.md.',
        produces: ['application/json', 'text/csv', XLSX_TYPE],
        querystring: z.object({
          period: PeriodText.optional(),
          from: z.string().optional().describe('Inclusive ISO-8601 instant (instead of period)'),
          to: z.string().optional().describe('Exclusive ISO-8601 instant'),
          ...SelectorQuery,
          asOf: z.string().optional().describe('Figures from the data as it was at this instant; a dataVersion reproduces its figures'),
          format: z.enum(['json', 'csv', 'xlsx']).default('json'),
          locale: CsvLocaleQuery,
        }),
        response: { 200: ConsumptionSchema, 400: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const { period, window } = windowParams(q);
      const asOf = asOfParam(q.asOf);
      const selector = await selectorParam(database, q);
      const run = await runBillingForRequest(database, { selector, window, asOf, readiness, now: Date.now() });
      if (q.format === 'xlsx' || (q.format === 'csv' && q.locale !== 'en')) {
        const { header, rows } = billingTable(run.figures);
        const cells = rows.map((r) => r.map((v) => (typeof v === 'boolean' ? String(v) : v)));
        if (q.format === 'xlsx') return sendXlsx(reply, `consumption-${period ?? 'range'}.xlsx`, `consumption ${period ?? 'range'}`, header, cells);
        const style = csvStyle(q.locale);
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="consumption-${period ?? 'range'}.csv"`)
          .send((style.bom + style.line(header) + cells.map((r) => style.line(r.map((v) => v ?? ''))).join('')) as never);
      }
      if (q.format === 'csv') {
        const name = `consumption-${period ?? 'range'}.csv`;
        return reply
          .type('text/csv; charset=utf-8')
          .header('content-disposition', `attachment; filename="${name}"`)
          .send(billingCsv(run.figures) as never); // text, not the JSON schema
      }
      const body = {
        period,
        from: window.kind === 'range' ? window.from.toISOString() : null,
        to: window.kind === 'range' ? window.to.toISOString() : null,
        asOf: asOf ? asOf.toISOString() : null,
        dataVersion: run.dataVersion,
        meters: run.figures as BillingFigures[],
      };
      // The schema's text, written directly (billing/consumption-json.ts): the schema serializer copied 10 000 figure objects first.
      return reply
        .type('application/json; charset=utf-8')
        .serializer(consumptionJson as (payload: unknown) => string)
        .send(body);
    },
  );

  app.get(
    '/billing/readiness',
    {
      config: { permission: 'billing:read' },
      schema: {
        tags: ['billing'],
        summary: 'Meters that are not billable for a period, and why',
        description:
          'Reasons: outside_supply, missing_data, no_recent_data, open_fail_issues, register_mismatch (docs/billing.md). For a period in progress ' +
          'each window is cut at now. Without a selector the last periodic result is served while the data, issues, meters and schedules are unchanged ' +
          `and it is younger than the run interval; otherwise it is computed (and stored).`,
        querystring: z.object({ period: PeriodText, ...SelectorQuery }),
        response: { 200: ReadinessSchema, 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const period = periodParam(req.query.period);
      const selector = await selectorParam(database, req.query);
      const r = await readinessOf(database, period, {
        params: readiness,
        now: Date.now(),
        selector: 'all' in selector ? undefined : selector,
        maxAgeMs: readinessMaxAgeMs,
      });
      return { ...r, notBillable: [...r.notBillable].map((m) => ({ ...m, reasons: [...m.reasons] })) };
    },
  );

  app.post(
    '/billing/periods/:period/close',
    {
      config: { permission: 'billing:admin' },
      schema: {
        tags: ['billing'],
        summary: 'Close a period: freeze the figures of every meter (one snapshot row each)',
        description:
          "The period must have ended in every meter's time zone (else 422). A second close is a 409: a closed period stays as billed; later " +
          'changes to its data show up in GET /v1/billing/periods/{period}/corrections.',
        params: PeriodParams,
        response: { 201: ClosedSchema, 400: ErrorSchema, 409: ErrorSchema, 422: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const period = periodParam(req.params.period);
      const already = await findClosedPeriod(database, period.period);
      if (already) throw closedConflict(already.period, already.closedAt, already.closedBy);
      const now = Date.now();
      const run = await runBillingForRequest(database, { selector: { all: true }, window: { kind: 'period', fromDate: period.fromDate, toDate: period.toDate }, readiness, now });
      const open = run.rows.filter((r) => r.windowTo.getTime() > now);
      if (open.length) {
        throw new MdmError('MDM_ERR_PERIOD_NOT_ENDED', [
          `period ${period.period} has not ended yet for ${open.length} meter(s) (e.g. "${open[0].externalId}" until ${open[0].windowTo.toISOString()}): close it after the month is over`,
        ]);
      }
      const closed = await closePeriod(database, {
        period: period.period,
        closedBy: req.principal.name,
        dataVersion: new Date(run.dataVersion),
        snapshots: run.rows.map((r, i) => ({ meterId: r.meterId, figures: run.figures[i] })),
      });
      if (!closed) {
        const other = await findClosedPeriod(database, period.period);
        throw closedConflict(period.period, other?.closedAt, other?.closedBy);
      }
      return reply.status(201).send({
        period: closed.period,
        closedAt: closed.closedAt.toISOString(),
        closedBy: closed.closedBy,
        dataVersion: run.dataVersion,
        meters: closed.meters,
        billable: run.figures.filter((f) => f.billable).length,
      });
    },
  );

  app.get(
    '/billing/periods/:period/corrections',
    {
      config: { permission: 'billing:read' },
      schema: {
        tags: ['billing'],
        summary: 'Re-billing: per meter, how the figures of a closed period differ from the current data',
        params: PeriodParams,
        response: { 200: CorrectionsSchema, 400: ErrorSchema, 404: ErrorSchema, 422: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const period = periodParam(req.params.period);
      const closed = await findClosedPeriod(database, period.period);
      if (!closed) throw new MdmError('MDM_ERR_PERIOD_NOT_CLOSED', [`period ${period.period} is not closed: close it with POST /v1/billing/periods/${period.period}/close`]);
      const snapshots = await listSnapshots(database, period.period);
      const run = await runBillingForRequest(database, {
        selector: { all: true },
        window: { kind: 'period', fromDate: period.fromDate, toDate: period.toDate },
        readiness,
        now: Date.now(),
      });
      const current = new Map(run.rows.map((r, i) => [r.meterId, run.figures[i]]));
      const meters = [];
      const seen = new Set<number>();
      for (const s of snapshots) {
        seen.add(s.meterId);
        const now = current.get(s.meterId);
        const changes = figureChanges(s.figures as Partial<BillingFigures>, now ?? {});
        if (Object.keys(changes).length) meters.push({ meter: s.externalId, changes, current: now ?? null });
      }
      // Meters registered after the close that have figures for the period.
      for (const [id, f] of current) {
        const none = f.activeImport === 0 && f.activeExport === 0 && f.maxDemand === null && !f.volume && !f.heat?.energy;
        if (seen.has(id) || none) continue;
        meters.push({ meter: f.meter, changes: figureChanges({}, f), current: f });
      }
      meters.sort((a, b) => (a.meter < b.meter ? -1 : a.meter > b.meter ? 1 : 0));
      return {
        period: period.period,
        closedAt: closed.closedAt.toISOString(),
        closedDataVersion: closed.dataVersion.toISOString(),
        dataVersion: run.dataVersion,
        meters,
      };
    },
  );

  const ScheduleOut = TouScheduleOutSchema;
  app.get(
    '/billing/tou-schedules',
    {
      config: { permission: 'billing:read' },
      schema: {
        tags: ['billing'],
        summary: 'TOU schedules per tariff and effective date (stored ones; the built-in three-time default applies to a tariff without any)',
        response: { 200: z.object({ schedules: z.array(ScheduleOut) }), ...authErrors },
      },
    },
    async () => ({ schedules: await listTouSchedules(database) }),
  );

  app.put(
    '/billing/tou-schedules',
    {
      config: { permission: 'billing:admin' },
      schema: {
        tags: ['billing'],
        summary: 'Store a TOU schedule of a tariff from a local date on (replaces one with the same tariff and date)',
        description: 'Buckets must cover every minute of the local day exactly once; ranges are local wall-clock [from, to) and may wrap midnight.',
        body: TouScheduleSchema,
        response: { 200: z.object({ created: z.boolean(), schedule: ScheduleOut }), 400: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const problems = checkSchedule(req.body);
      if (problems.length) {
        throw new MdmError('MDM_ERR_INVALID_TOU_SCHEDULE', [`the buckets must cover every minute of the day exactly once: ${problems.join('; ')}`], { details: { problems } });
      }
      const created = await putTouSchedule(database, req.body, req.principal.name);
      return { created, schedule: req.body };
    },
  );
};

function closedConflict(period: string, at: Date | undefined, by: string | undefined): MdmError {
  return new MdmError('MDM_ERR_PERIOD_CLOSED', [
    `period ${period} is already closed${at ? ` (${at.toISOString()} by ${by})` : ''}: its figures are frozen; see GET /v1/billing/periods/${period}/corrections for later changes`,
  ]);
}
