import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { RUN_MODELS } from '../../forecast/forecast-job.js';
import { evaluate, skill, type ForecastMetrics } from '../../forecast/metrics.js';
import { HORIZONS } from '../../forecast/model.js';
import { loadTargetSeries, parseTarget, resolveTarget, type ResolvedTarget } from '../../forecast/target.js';
import { WEATHER_SOURCES } from '../../forecast/weather-vintages.js';
import { localDate, shiftDate, startOfLocalDate } from '../../models/calendar.js';
import { MdmError } from '../../models/errors.js';
import { boundedString, quote, storedInstant } from '../../models/input-schemas.js';
import { FIGURE_DECIMALS, roundFigure } from '../../models/precision.js';
import { DAY_MS, formatInstant, HOUR_MS } from '../../models/time.js';
import type { Database } from '../../sql/database.js';
import { createRun, findIssuedForecast, getRun, listIssuedHours, listRuns, type ForecastRun, type ListedRun } from '../../sql/forecast.repository.js';
import { LIST_BYTE_BUDGET, pageOf } from '../list-budget.js';
import type { RouteContext } from '../app.js';
import { authErrors, ErrorSchema } from '../schemas.js';
import { CsvLocaleQuery } from '../csv-locale.js';
import { sendTable, XLSX_TYPE } from '../xlsx-reply.js';

/** Longest from..to of an accuracy query. */
const MAX_ACCURACY_DAYS = 400;

const TargetText = boundedString(140).min(1).describe('`portfolio:P`, `group:G` or `meter:M` (external ids)');
const HorizonEnum = z.enum(HORIZONS, { error: (iss) => `must be one of ${HORIZONS.join(', ')}, got ${quote(iss.input)}` });

const RunBody = z
  .object({
    target: TargetText,
    horizon: HorizonEnum.describe('Which hours: intraday (rest of today), day-ahead (local D+1, data up to the cut-off), week-ahead, month-ahead, long-term (12 months)'),
    issueTime: z.string().optional().describe('ISO-8601 instant with offset; default now. An earlier one replays a past issue (only data before its cut-off is used)'),
    model: z
      .enum(RUN_MODELS, { error: (iss) => `must be one of ${RUN_MODELS.join(', ')}, got ${quote(iss.input)}` })
      .default('auto')
      .describe('Model kind, or auto: the engine chooses by backtest'),
  })
  .strict();

const Json = z.record(z.string(), z.unknown());

/** Forecast values are energy per hour. */
const UNIT = 'kWh' as const;
const RUN_STATUSES = ['queued', 'running', 'done', 'partial', 'failed'] as const;

const CoverageSchema = z
  .object({
    members: z.number().int().describe('Member meters in supply during the horizon'),
    forecast: z.number().int().describe('Members with a forecast for every hour of the horizon'),
    share: z.number().describe('forecast / members'),
    energyShare: z.number().nullable().describe("Share of the members' energy of the 30 days before the data cut-off that belongs to members forecast (null: no member has a value then)"),
    energyUnknown: z.number().int().describe('Members without a value in those 30 days (not in energyShare)'),
    notForecast: z.array(z.object({ meter: z.string(), reason: z.string() })).describe('Members not forecast (first 20) and why'),
  })
  .describe('How much of the target the run forecast: below 1, the run is partial');

const LeftOutSchema = z
  .object({
    values: z.number().int().describe('Active-import values of quality suspect or missing in the history window'),
    suspect: z.number().int(),
    missing: z.number().int(),
    hoursWithoutValue: z.number().int().describe('History hours without a usable value, summed over members (gaps and left-out values)'),
    meters: z.array(z.object({ meter: z.string(), suspect: z.number().int(), missing: z.number().int() })).describe('The 20 meters with most'),
    reason: z.string(),
  })
  .describe('History values the run did not use, and why');

const HolidayCalendarSchema = z
  .object({ country: z.string().nullable().describe('ISO country (and region) of the holiday calendar; null: none'), source: z.string() })
  .describe('The holiday calendar the run used');

const summaryOut = (s: Record<string, unknown> | null | undefined) => ({
  coverage: (s?.coverage ?? null) as z.infer<typeof CoverageSchema> | null,
  valuesLeftOut: (s?.valuesLeftOut ?? null) as z.infer<typeof LeftOutSchema> | null,
  holidayCalendar: (s?.holidayCalendar ?? null) as z.infer<typeof HolidayCalendarSchema> | null,
  weatherSource: (typeof s?.weatherSource === 'string' ? s.weatherSource : null) as (typeof WEATHER_SOURCES)[number] | null,
  warnings: Array.isArray(s?.warnings) ? (s.warnings as string[]) : [],
});

const SummaryFields = {
  coverage: CoverageSchema.nullable().describe('Members forecast and their share of the energy; null until the run has finished (and when it failed before forecasting)'),
  valuesLeftOut: LeftOutSchema.nullable().describe('History values left out (suspect, missing) and why; null until known'),
  holidayCalendar: HolidayCalendarSchema.nullable().describe('null until the run has started'),
  weatherSource: z
    .enum(WEATHER_SOURCES)
    .nullable()
    .describe(
      'Where the temperatures after the data cut-off came from: forecast-vintage (stored weather forecasts issued at or before the cut-off), observation-with-error-model (no vintage: observations degraded by the documented error model, see warnings), none (no weather after the cut-off); null until the run has finished, and on runs from before weather vintages',
    ),
  warnings: z.array(z.string()).describe('What a reader of the figures must know: members not forecast, values left out, no holiday calendar'),
};

const RunListItemSchema = z.object({
  id: z.number().int(),
  target: z.string(),
  horizon: z.string(),
  status: z.enum(RUN_STATUSES),
  progress: z.number(),
  error: z.string().optional(),
  model: z.string(),
  requestedModel: z.string(),
  issueTime: z.string(),
  dataCutoff: z.string().nullable(),
  from: z.string().nullable(),
  to: z.string().nullable(),
  requestedBy: z.string().nullable(),
  requestId: z.string().nullable().describe('X-Request-Id of the request that queued the run; null for scheduled runs'),
  createdAt: z.string(),
  startedAt: z.string().nullable(),
  finishedAt: z.string().nullable(),
  ...SummaryFields,
});

const RunListQuery = z
  .object({
    target: TargetText.optional().describe('Only runs of this target (as stored: `portfolio:P`, `meter:M`)'),
    status: z.enum(RUN_STATUSES, { error: (iss) => `must be one of ${RUN_STATUSES.join(', ')}, got ${quote(iss.input)}` }).optional(),
    from: z.string().optional().describe('Only runs issued at or after this instant (ISO-8601 with offset)'),
    to: z.string().optional().describe('Only runs issued before this instant'),
    before: z.coerce
      .number()
      .int()
      .positive()
      .max(2 ** 53)
      .optional()
      .describe('Cursor: nextCursor of the previous page (runs with a smaller id)'),
    limit: z.coerce.number().int().min(1).max(500).default(50).describe('Page size, 1–500'),
  })
  .strict();

const RunOutSchema = z
  .object({
    id: z.number().int(),
    target: z.string(),
    horizon: z.string(),
    status: z.enum(RUN_STATUSES).describe('partial: some members could not be forecast (see coverage, warnings); its values leave them out'),
    progress: z.number().describe('0..1'),
    error: z.string().optional().describe('Why the run failed'),
    model: z.string().describe('The model used (once done), else the one requested'),
    requestedModel: z.string().describe('auto or a model kind'),
    metrics: Json.nullable().describe('Backtest metrics the model was chosen on (MAE, WAPE, pinball, coverage, skill vs naive), once done'),
    metadata: Json.nullable().describe('What the run did: meters, history and weather used, quality-gate fallbacks and their reasons, timings'),
    issueTime: z.string(),
    dataCutoff: z.string().nullable().describe('Only values of hours ending by then were used'),
    from: z.string().nullable().describe('First hour forecast'),
    to: z.string().nullable().describe('End of the last hour forecast (exclusive)'),
    requestedBy: z.string().nullable(),
    requestId: z.string().nullable().describe("X-Request-Id of the request that queued the run (its log lines and the run's carry it as reqId); null for scheduled runs"),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    unit: z.literal(UNIT).describe('Unit of the forecast values (energy per hour)'),
    ...SummaryFields,
  })
  .describe('A forecast run (a job)');

const RowSchema = z.object({
  start: z.string().describe('Hour start, local time of the target with offset'),
  p10: z.number().nullable().describe(`kWh in the hour (unit), to 10⁻${FIGURE_DECIMALS} like p50 and p90`),
  p50: z.number(),
  p90: z.number().nullable(),
  actual: z.number().nullable().optional().describe('With actuals=true: the stored actual of the hour (kWh; a group/portfolio hour when every member has it), null when not (yet) measured'),
});

const ForecastOutSchema = z.object({
  target: z.string(),
  horizon: z.string(),
  for: z.string().describe('Local date YYYY-MM-DD'),
  timezone: z.string(),
  hours: z.number().int().describe('Hours of the local day: 24, or 23/25 when the clocks change'),
  unit: z.literal(UNIT).describe('Unit of p10, p50, p90: energy per hour'),
  status: z.enum(['done', 'partial']).describe("The run's status: partial when some members are not in the figures (see coverage, warnings)"),
  coverage: CoverageSchema.nullable(),
  warnings: z.array(z.string()),
  run: z.object({
    id: z.number().int(),
    status: z.enum(RUN_STATUSES),
    model: z.string().nullable(),
    issueTime: z.string(),
    dataCutoff: z.string().nullable(),
    finishedAt: z.string().nullable(),
    metrics: Json.nullable().describe('Backtest metrics of the run'),
    metadata: Json.nullable(),
  }),
  rows: z.array(RowSchema),
});

const MetricsSchema = z.object({
  hours: z.number().int(),
  mae: z.number().nullable().describe('kWh'),
  rmse: z.number().nullable(),
  mape: z.number().nullable().describe('Fraction, near-zero hours left out'),
  wape: z.number().nullable().describe('Σ|error| / Σ|actual|'),
  bias: z.number().nullable().describe('Mean forecast − actual, kWh (> 0: over-forecast)'),
  pinball: z.object({ p10: z.number().nullable(), p50: z.number().nullable(), p90: z.number().nullable(), mean: z.number().nullable() }),
  coverage: z.number().nullable().describe('Share of hours with P10 ≤ actual ≤ P90 (0.8 when calibrated)'),
});

const AccuracyOutSchema = z.object({
  target: z.string(),
  horizon: z.string(),
  unit: z.literal(UNIT).describe('Unit of mae, rmse, bias, pinball and the daily actual/forecast (per hour: kWh; per day: kWh)'),
  from: z.string(),
  to: z.string(),
  timezone: z.string(),
  forecastHours: z.number().int().describe('Hours in from..to with an issued forecast'),
  runs: z.number().int().describe('Runs those forecasts come from'),
  metrics: MetricsSchema.describe('Issued forecasts (P50, P10/P90) against actuals, over hours that have both'),
  naive: MetricsSchema.describe('Same hour a week earlier (D−7 actual) over the same hours, the bar to beat; coverage null (naive has no band)'),
  skillVsNaive: z.number().nullable().describe('1 − MAE / naive MAE over the hours both have'),
  days: z
    .array(z.object({ date: z.string(), hours: z.number().int(), actual: z.number(), forecast: z.number(), mae: z.number().nullable(), wape: z.number().nullable(), coverage: z.number().nullable() }))
    .describe('Per local day'),
});

/** A metric rounded to 10⁻⁶ of its unit (models/precision.ts); null when not finite (no hours). */
const fin = (x: number): number | null => (Number.isFinite(x) ? roundFigure(x) : null);
const metricsOut = (m: ForecastMetrics) => ({
  hours: m.n,
  mae: fin(m.mae),
  rmse: fin(m.rmse),
  mape: fin(m.mape),
  wape: fin(m.wape),
  bias: fin(m.bias),
  pinball: { p10: fin(m.pinball.p10), p50: fin(m.pinball.p50), p90: fin(m.pinball.p90), mean: fin(m.pinball.mean) },
  coverage: fin(m.coverage),
});

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

function runOut(r: ForecastRun) {
  return {
    id: r.id,
    target: r.target,
    horizon: r.horizon,
    status: r.status,
    progress: r.progress,
    ...(r.error ? { error: r.error } : {}),
    model: r.usedModel ?? r.model,
    requestedModel: r.model,
    metrics: r.metrics,
    metadata: r.metadata,
    issueTime: r.issueTime.toISOString(),
    dataCutoff: iso(r.dataCutoff),
    from: iso(r.from),
    to: iso(r.to),
    requestedBy: r.requestedBy,
    requestId: r.requestId,
    createdAt: r.createdAt.toISOString(),
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    unit: UNIT,
    ...summaryOut(r.metadata?.summary as Record<string, unknown> | undefined),
  };
}

function listedOut(r: ListedRun) {
  return {
    id: r.id,
    target: r.target,
    horizon: r.horizon,
    status: r.status,
    progress: r.progress,
    ...(r.error ? { error: r.error } : {}),
    model: r.usedModel ?? r.model,
    requestedModel: r.model,
    issueTime: r.issueTime.toISOString(),
    dataCutoff: iso(r.dataCutoff),
    from: iso(r.from),
    to: iso(r.to),
    requestedBy: r.requestedBy,
    requestId: r.requestId,
    createdAt: r.createdAt.toISOString(),
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    ...summaryOut(r.summary),
  };
}

const UNKNOWN_TARGET = { group: 'MDM_ERR_UNKNOWN_GROUP', portfolio: 'MDM_ERR_UNKNOWN_PORTFOLIO' } as const;

/** A known target or 400 (not kind:id; a weather station) / 404 (no such meter, group or portfolio: each its own code). */
async function targetParam(database: Database, text: string): Promise<ResolvedTarget> {
  const parsed = parseTarget(text);
  if (!parsed.ok) throw new MdmError('MDM_ERR_VALIDATION', [`target: ${parsed.reason}`]);
  const resolved = await resolveTarget(database, parsed.target);
  if (resolved.ok) return resolved.target;
  if (resolved.kind === 'invalid') throw new MdmError('MDM_ERR_BAD_METER_REFERENCE', [`target: ${resolved.reason}`]);
  // The meter's message is the catalogue's template; a group or portfolio without meters keeps the target's reason.
  if (parsed.target.kind === 'meter') throw new MdmError('MDM_ERR_UNKNOWN_METER', [parsed.target.id]);
  throw new MdmError(UNKNOWN_TARGET[parsed.target.kind], [resolved.reason]);
}

function instantParam(name: string, text: string): number {
  const t = storedInstant(text);
  if (!t.ok) throw new MdmError('MDM_ERR_VALIDATION', [`${name}: ${t.reason}`]);
  return t.ms;
}

/** Forecast runs (jobs), issued forecasts per local day, realised accuracy. See docs/forecasting.md. */
export const forecastRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  app.post(
    '/forecasts/runs',
    {
      config: { permission: 'forecasts:run' },
      schema: {
        tags: ['forecasts'],
        summary: 'Queue a forecast run',
        description:
          'Queues a run for the forecast worker of `mdm serve` (component forecast) and returns its id at once (202); poll GET /v1/forecasts/runs/:id. ' +
          'A group or portfolio run also stores the forecast of each member meter. Unknown target → 404; bad target text, horizon, model or issueTime → 400.',
        body: RunBody,
        response: { 202: z.object({ id: z.number().int() }), 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const b = req.body;
      const target = await targetParam(database, b.target);
      const issueTime = b.issueTime === undefined ? Date.now() : instantParam('issueTime', b.issueTime);
      const id = await createRun(database, { target: target.text, horizon: b.horizon, model: b.model, issueTime: new Date(issueTime), requestedBy: req.principal?.name ?? null, requestId: req.id });
      return reply.code(202).header('location', `/v1/forecasts/runs/${id}`).send({ id });
    },
  );

  app.get(
    '/forecasts/runs',
    {
      config: { permission: 'forecasts:read' },
      schema: {
        tags: ['forecasts'],
        summary: 'List forecast runs, newest first',
        description:
          'Runs newest first (by creation), filtered by target, status and issue time (from inclusive, to exclusive; filters combine with AND), ' +
          'each with its status, window, coverage, holiday calendar and warnings (not its metadata and metrics: GET /v1/forecasts/runs/:id). ' +
          'Page backwards by passing `nextCursor` as `before` until it is null.',
        querystring: RunListQuery,
        response: {
          200: z.object({
            runs: z.array(RunListItemSchema).describe('Newest first'),
            nextCursor: z
              .string()
              .nullable()
              .describe(`Pass as \`before\` for the next (older) page; null on the last page. A page ends at \`limit\` runs or about ${LIST_BYTE_BUDGET / 1024 / 1024} MiB`),
          }),
          400: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const q = req.query;
      const fromMs = q.from === undefined ? undefined : instantParam('from', q.from);
      const toMs = q.to === undefined ? undefined : instantParam('to', q.to);
      if (fromMs !== undefined && toMs !== undefined && fromMs >= toMs) throw new MdmError('MDM_ERR_RANGE_INVERTED', [`from (${q.from}) must be before to (${q.to}); from is inclusive, to exclusive`]);
      if (q.target !== undefined) {
        const parsed = parseTarget(q.target);
        if (!parsed.ok) throw new MdmError('MDM_ERR_VALIDATION', [`target: ${parsed.reason}`]);
      }
      // One extra run tells whether an older page follows; the page also stops at LIST_BYTE_BUDGET.
      const rows = await listRuns(database, { target: q.target, status: q.status, fromMs, toMs, before: q.before, limit: q.limit + 1 });
      const { page, nextCursor } = pageOf(rows.map(listedOut), q.limit, (r) => r.id);
      return { runs: page, nextCursor };
    },
  );

  app.get(
    '/forecasts/runs/:id',
    {
      config: { permission: 'forecasts:read' },
      schema: {
        tags: ['forecasts'],
        summary: 'Status, progress and results of a forecast run',
        params: z.object({ id: z.coerce.number().int().positive().describe('Run id from POST /v1/forecasts/runs') }),
        response: { 200: RunOutSchema, 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const run = await getRun(database, req.params.id);
      if (!run) throw new MdmError('MDM_ERR_NOT_FOUND', [`no forecast run ${req.params.id}`]);
      return runOut(run);
    },
  );

  app.get(
    '/forecasts',
    {
      config: { permission: 'forecasts:read' },
      schema: {
        tags: ['forecasts'],
        summary: 'The issued forecast of a target for one local day',
        description:
          "Hourly rows {start, p10, p50, p90} (kWh per hour) of the local day `for` in the target's time zone (24 rows; 23 or 25 when the clocks change) " +
          "from the newest done run of `horizon` that covers it, with that run's metadata (model, issue time, data cut-off, backtest metrics). " +
          'A member meter of a portfolio or group run can be read as `meter:M`. A `partial` run (some members could not be forecast) is served with ' +
          '`status: partial`, its coverage and warnings. actuals=true: each row also carries `actual`, the stored actual of the hour (null when not measured yet). ' +
          'format=csv: text/csv `start,p10,p50,p90` (+ `actual`), run, status, unit and coverage in X-Forecast-* headers (locale=tr|pl: ";", decimal comma, UTF-8 BOM); ' +
          'format=xlsx: the same columns as a workbook.',
        produces: ['application/json', 'text/csv', XLSX_TYPE],
        querystring: z.object({
          target: TargetText,
          horizon: HorizonEnum.default('day-ahead'),
          for: z.iso.date({ error: (iss) => `must be a local date YYYY-MM-DD, got ${quote(iss.input)}` }),
          actuals: z
            .enum(['true', 'false'])
            .default('false')
            .transform((v) => v === 'true')
            .describe('true: the actual of each hour beside the forecast'),
          format: z.enum(['json', 'csv', 'xlsx']).default('json'),
          locale: CsvLocaleQuery,
        }),
        response: { 200: ForecastOutSchema, 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const q = req.query;
      const target = await targetParam(database, q.target);
      const tz = target.ref.kind === 'meter' ? target.meters[0].timezone : target.timezone;
      const fromMs = startOfLocalDate(q.for, tz);
      const toMs = startOfLocalDate(shiftDate(q.for, 1), tz);
      const found = await findIssuedForecast(database, { series: target.text, horizon: q.horizon, fromMs, toMs });
      if (!found) {
        throw new MdmError('MDM_ERR_NO_FORECAST', [
          `no done ${q.horizon} forecast of ${target.text} covers ${q.for} (${tz}): queue one with POST /v1/forecasts/runs {"target": "${target.text}", "horizon": "${q.horizon}"}`,
        ]);
      }
      const r = found.run;
      const summary = summaryOut(r.metadata?.summary as Record<string, unknown> | undefined);
      let actualAt: ((ms: number) => number | null) | undefined;
      if (q.actuals) {
        const loaded = await loadTargetSeries(database, target, target.meters, { historyFromMs: fromMs, dataCutoffMs: toMs, toMs });
        const values = (loaded.aggregate ?? loaded.members[0])?.values ?? [];
        actualAt = (ms) => {
          const y = values[(ms - loaded.startMs) / HOUR_MS];
          return y !== undefined && Number.isFinite(y) ? roundFigure(y) : null;
        };
      }
      const rows = found.values.map((v) => ({
        start: formatInstant(v.start.getTime(), tz),
        p10: roundFigure(v.p10),
        p50: roundFigure(v.p50),
        p90: roundFigure(v.p90),
        ...(actualAt ? { actual: actualAt(v.start.getTime()) } : {}),
      }));
      if (q.format !== 'json') {
        const head = ['start', 'p10', 'p50', 'p90', ...(actualAt ? ['actual'] : [])];
        reply
          .header('x-forecast-run', String(r.id))
          .header('x-forecast-model', r.usedModel ?? '')
          .header('x-forecast-issue-time', r.issueTime.toISOString())
          .header('x-forecast-data-cutoff', iso(r.dataCutoff) ?? '')
          .header('x-forecast-status', r.status)
          .header('x-forecast-unit', UNIT)
          .header('x-forecast-coverage', summary.coverage ? `${summary.coverage.forecast}/${summary.coverage.members}` : '');
        const cells = rows.map((x) => [x.start, x.p10, x.p50, x.p90, ...(actualAt ? [x.actual ?? null] : [])]);
        return sendTable(reply, q.format, q.locale, `forecast-${target.text.replace(/[^\w.-]/g, '_')}-${q.for}`, head, cells);
      }
      return {
        target: target.text,
        horizon: q.horizon,
        for: q.for,
        timezone: tz,
        hours: Math.round((toMs - fromMs) / HOUR_MS),
        unit: UNIT,
        status: r.status === 'partial' ? ('partial' as const) : ('done' as const),
        coverage: summary.coverage,
        warnings: summary.warnings,
        run: {
          id: r.id,
          status: r.status,
          model: r.usedModel,
          issueTime: r.issueTime.toISOString(),
          dataCutoff: iso(r.dataCutoff),
          finishedAt: iso(r.finishedAt),
          metrics: r.metrics,
          metadata: r.metadata,
        },
        rows,
      };
    },
  );

  app.get(
    '/forecasts/accuracy',
    {
      config: { permission: 'forecasts:read' },
      schema: {
        tags: ['forecasts'],
        summary: 'Realised accuracy of issued forecasts against actuals',
        description:
          'For every hour in from..to: the forecast of the newest done run of `horizon` issued before the hour began (what a trader had), against the ' +
          'stored actual (active import, usable values; a group/portfolio hour counts when every member meter has it). Metrics as in the backtest ' +
          '(forecast/metrics.ts), the D−7 naive forecast over the same hours, skill vs naive, and per local day.',
        querystring: z.object({
          target: TargetText,
          from: z.string().describe('ISO-8601 instant with offset, inclusive'),
          to: z.string().describe('ISO-8601 instant with offset, exclusive'),
          horizon: HorizonEnum.default('day-ahead'),
        }),
        response: { 200: AccuracyOutSchema, 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const q = req.query;
      const target = await targetParam(database, q.target);
      const fromMs = Math.floor(instantParam('from', q.from) / HOUR_MS) * HOUR_MS;
      const toMs = Math.ceil(instantParam('to', q.to) / HOUR_MS) * HOUR_MS;
      if (fromMs >= toMs) throw new MdmError('MDM_ERR_RANGE_INVERTED', [`from (${q.from}) must be before to (${q.to}); from is inclusive, to exclusive`]);
      if (toMs - fromMs > MAX_ACCURACY_DAYS * DAY_MS) throw new MdmError('MDM_ERR_RANGE_TOO_LONG', [`from..to spans more than ${MAX_ACCURACY_DAYS} days: ask per quarter or year`]);
      const tz = target.ref.kind === 'meter' ? target.meters[0].timezone : target.timezone;
      const issued = await listIssuedHours(database, { series: target.text, horizon: q.horizon, fromMs, toMs });
      // Actuals from a week before `from` (the D−7 naive forecast) up to `to`.
      const loaded = await loadTargetSeries(database, target, target.meters, { historyFromMs: fromMs - 7 * DAY_MS, dataCutoffMs: toMs, toMs });
      const actual = (loaded.aggregate ?? loaded.members[0]).values;
      const at = (ms: number) => actual[(ms - loaded.startMs) / HOUR_MS] ?? NaN;
      const ys: number[] = [];
      const fs: { p10: number; p50: number; p90: number }[] = [];
      const naive: { p10: number; p50: number; p90: number }[] = [];
      const byDay = new Map<string, { ys: number[]; fs: { p10: number; p50: number; p90: number }[] }>();
      for (const h of issued) {
        const y = at(h.startMs);
        if (!Number.isFinite(y)) continue;
        const n = at(h.startMs - 7 * DAY_MS);
        ys.push(y);
        fs.push(h);
        naive.push({ p10: n, p50: n, p90: n });
        const d = localDate(h.startMs, tz);
        let day = byDay.get(d);
        if (!day) byDay.set(d, (day = { ys: [], fs: [] }));
        day.ys.push(y);
        day.fs.push(h);
      }
      const m = evaluate(ys, fs);
      const both = ys.map((_, i) => Number.isFinite(naive[i].p50));
      const mBoth = evaluate(
        ys.filter((_, i) => both[i]),
        fs.filter((_, i) => both[i]),
      );
      const nBoth = evaluate(
        ys.filter((_, i) => both[i]),
        naive.filter((_, i) => both[i]),
      );
      return {
        target: target.text,
        horizon: q.horizon,
        unit: UNIT,
        from: new Date(fromMs).toISOString(),
        to: new Date(toMs).toISOString(),
        timezone: tz,
        forecastHours: issued.length,
        runs: new Set(issued.map((h) => h.runId)).size,
        metrics: metricsOut(m),
        // Naive is a point forecast (P10 = P50 = P90): it has no band whose coverage could be measured.
        naive: { ...metricsOut(nBoth), coverage: null },
        skillVsNaive: nBoth.n > 0 ? fin(skill(mBoth, nBoth)) : null,
        days: [...byDay].map(([date, d]) => {
          const dm = evaluate(d.ys, d.fs);
          const actual = roundFigure(d.ys.reduce((a, b) => a + b, 0));
          const forecast = roundFigure(d.fs.reduce((a, b) => a + b.p50, 0));
          return { date, hours: dm.n, actual, forecast, mae: fin(dm.mae), wape: fin(dm.wape), coverage: fin(dm.coverage) };
        }),
      };
    },
  );
};
