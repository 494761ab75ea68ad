import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CsvError, CsvHeaderError } from '../../adapters/file/csv.js';
import { parseWeatherForecastCsv } from '../../adapters/weather/forecast-csv.js';
import { fetchOpenMeteoForecast } from '../../adapters/weather/open-meteo.js';
import { MdmError } from '../../models/errors.js';
import { boundedString, storedInstant } from '../../models/input-schemas.js';
import { HOUR_MS } from '../../models/time.js';
import { checkForecastRow, type ForecastReject, MAX_LOCATION_CHARS, MAX_WEATHER_ROWS, type ParsedForecastRow, parseInstant } from '../../models/weather-forecast.js';
import { deleteWeatherVintage, getWeatherVintage, listWeatherVintages, loadVintageTemperature, upsertWeatherForecasts } from '../../sql/weather.repository.js';
import type { RouteContext } from '../app.js';
import { decodeCsvBody } from '../csv-body.js';
import { authErrors, ErrorSchema } from '../schemas.js';

/**
 * Weather forecast vintages (issue 20, item 1; docs/forecasting.md "Weather
 * forecasts and vintages"): import from a file or JSON, fetch from the
 * provider (Open-Meteo's shape), list, read and delete vintages, and what a
 * run with a given cut-off reads.
 */

const CSV = 'text/csv';
const Location = boundedString(MAX_LOCATION_CHARS).min(1).describe("The weather station's external id, as meters and portfolios name it in weatherStation");
const Instant = z.string().describe('ISO-8601 instant with an offset or Z');
const Rejected = z.array(z.object({ line: z.number().int(), reason: z.string() })).describe('Rows left out and why (CSV line, or index in forecasts); first 100');
const VintageSummary = z.object({ location: z.string(), issuedAt: z.string(), hours: z.number().int() });
const ImportResult = z.object({
  stored: z.number().int().describe('Forecast hours written (a stored hour of the same location and issue time is replaced)'),
  rejected: Rejected,
  rejectedCount: z.number().int(),
  vintages: z.array(VintageSummary).describe('The vintages written (first 100)'),
});

const ForecastRowSchema = z.object({
  time: Instant.describe('Start of the forecast hour'),
  issuedAt: Instant.optional().describe("When this forecast was issued (default: the body's issuedAt)"),
  temperature: z.number().describe('°C'),
  location: Location.optional().describe("Default: the body's location"),
});
const ImportBodySchema = z
  .object({
    location: Location.optional(),
    issuedAt: Instant.optional(),
    forecasts: z.array(z.unknown()).max(MAX_WEATHER_ROWS),
  })
  .strict();

/** JSON: the envelope (rows are checked one by one); CSV bytes pass through. */
const envelopeValidator: FastifySchemaCompiler<unknown> = (route) => {
  if (route.httpPart !== 'body') return validatorCompiler(route as Parameters<FastifySchemaCompiler<z.ZodType>>[0]);
  return (data: unknown) => {
    if (Buffer.isBuffer(data)) return { value: data };
    const r = ImportBodySchema.safeParse(data);
    if (r.success) return { value: r.data };
    return {
      error: new MdmError('MDM_ERR_VALIDATION', [
        `body must be {"location"?, "issuedAt"?, "forecasts": [{"time", "issuedAt"?, "temperature", "location"?}, …]} with at most ${MAX_WEATHER_ROWS} forecasts, or ${CSV} (docs/forecasting.md): ${r.error.issues[0]?.message ?? ''}`,
      ]),
    };
  };
};

const ImportQuery = z
  .object({
    location: Location.optional().describe('CSV: the location of rows without a location column'),
    issuedAt: Instant.optional().describe('CSV: the issue time of rows without an issued_at column'),
  })
  .strict();

const FetchBodySchema = z
  .object({
    location: Location,
    latitude: z.number().min(-90).max(90),
    longitude: z.number().min(-180).max(180),
    forecastDays: z.number().int().min(1).max(16).default(7).describe('Days ahead, 1–16'),
    model: boundedString(64)
      .regex(/^[a-z0-9_]+$/, 'a model name such as ecmwf_ifs025 or icon_seamless')
      .optional()
      .describe("The provider's weather model; default its best match"),
    run: Instant.optional().describe('A model run by its UTC initialisation time (Open-Meteo single-runs API); default the latest forecast, issued now'),
    availabilityDelayHours: z.number().min(0).max(48).default(6).describe('With run: hours after the initialisation until the run is published; its issue time is run + this'),
  })
  .strict();

const ListQuery = z
  .object({
    location: Location.optional(),
    issuedFrom: Instant.optional().describe('Vintages issued at or after this instant'),
    issuedTo: Instant.optional().describe('Vintages issued before this instant'),
    from: Instant.optional().describe('Vintages covering some hour at or after this instant'),
    to: Instant.optional().describe('Vintages covering some hour before this instant'),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

const VintageQuery = z.object({ location: Location, issuedAt: Instant }).strict();
const AsOfQuery = z
  .object({
    location: Location,
    cutoff: Instant.describe("A run's data cut-off: each hour from the newest vintage issued at or before it"),
    from: Instant.describe('First hour'),
    to: Instant.describe('End (exclusive); at most 40 days after from'),
  })
  .strict();

/** ms of a query or body instant, or a 400 naming the field. */
function instant(text: string, field: string): number {
  const t = storedInstant(text);
  if (!t.ok) throw new MdmError('MDM_ERR_VALIDATION', [`${field}: ${t.reason}`]);
  return t.ms;
}

/** Stores checked rows; a request with nothing to store is a 400 with the first reasons. */
async function store(ctx: RouteContext, rows: readonly ParsedForecastRow[], rejected: readonly ForecastReject[], source: string) {
  if (rows.length === 0) {
    const why = rejected
      .slice(0, 5)
      .map((r) => `line ${r.line}: ${r.reason}`)
      .join('; ');
    throw new MdmError('MDM_ERR_VALIDATION', [`no forecast hour to store${why ? `: ${why}` : ' (the file or list is empty)'}`]);
  }
  const stored = await upsertWeatherForecasts(ctx.database, rows, source);
  const byVintage = new Map<string, { location: string; issuedAt: string; hours: number }>();
  for (const r of rows) {
    const k = `${r.location}\u0000${r.issuedAt.getTime()}`;
    const v = byVintage.get(k) ?? { location: r.location, issuedAt: r.issuedAt.toISOString(), hours: 0 };
    v.hours++;
    byVintage.set(k, v);
  }
  return { stored, rejected: rejected.slice(0, 100), rejectedCount: rejected.length, vintages: [...byVintage.values()].slice(0, 100) };
}

export const weatherRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, ctx) => {
  const { database, config } = ctx;
  app.addContentTypeParser(CSV, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.post(
    '/weather/forecasts',
    {
      config: { permission: 'forecasts:run' },
      validatorCompiler: envelopeValidator,
      schema: {
        tags: ['forecasts'],
        summary: 'Import weather forecast vintages (JSON or CSV)',
        description:
          'Forecast temperatures with their issue time, stored apart from observed temperatures: many vintages of the same hour are kept. A run reads, for each hour after its data ' +
          'cut-off, the newest vintage issued at or before the cut-off. JSON: {"location", "issuedAt", "forecasts": [{"time", "issuedAt"?, "temperature", "location"?}]}; ' +
          `${CSV}: header time,issued_at,temperature[,location] (issued_at and location may come from the query instead). Times: ISO-8601 instants with an offset, hour starts; °C. ` +
          `Bad rows are rejected with their reason; at most ${MAX_WEATHER_ROWS} rows. See docs/forecasting.md.`,
        consumes: ['application/json', CSV],
        querystring: ImportQuery,
        body: ImportBodySchema,
        response: { 200: ImportResult, 400: ErrorSchema, 413: ErrorSchema, 415: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      if (Buffer.isBuffer(req.body)) {
        const q = req.query;
        let parsed;
        try {
          parsed = parseWeatherForecastCsv(decodeCsvBody(req.body, req.headers['content-type']), {
            location: q.location,
            issuedAt: q.issuedAt === undefined ? undefined : instant(q.issuedAt, 'issuedAt'),
          });
        } catch (err) {
          if (err instanceof CsvHeaderError || err instanceof CsvError) throw new MdmError('MDM_ERR_CSV_FORMAT', [err.message]);
          throw err;
        }
        return store(ctx, parsed.rows, parsed.rejected, 'file');
      }
      const body = req.body as z.infer<typeof ImportBodySchema>;
      const issued = body.issuedAt === undefined ? undefined : instant(body.issuedAt, 'issuedAt');
      const rows: ParsedForecastRow[] = [];
      const rejected: ForecastReject[] = [];
      body.forecasts.forEach((raw, i) => {
        const r = ForecastRowSchema.strict().safeParse(raw);
        if (!r.success) return void rejected.push({ line: i, reason: `${r.error.issues[0].path.join('.') || 'row'}: ${r.error.issues[0].message}` });
        const checked = checkForecastRow({
          location: r.data.location ?? body.location,
          validTime: parseInstant(r.data.time, 'time'),
          issuedAt: r.data.issuedAt !== undefined ? parseInstant(r.data.issuedAt, 'issuedAt') : (issued ?? 'no issuedAt: give it on the row or the body'),
          temperature: r.data.temperature,
        });
        if (typeof checked === 'string') rejected.push({ line: i, reason: checked });
        else rows.push(checked);
      });
      return store(ctx, rows, rejected, 'api');
    },
  );

  app.post(
    '/weather/forecasts/fetch',
    {
      config: { permission: 'forecasts:run' },
      schema: {
        tags: ['forecasts'],
        summary: "Fetch a location's forecast from the weather provider and store it as a vintage",
        description:
          "Asks the provider (WEATHER_FORECAST_URL, Open-Meteo's forecast API shape: hourly.time, hourly.temperature_2m) for the location's hourly 2 m temperature and stores it as one vintage. " +
          'Its issue time is the time of the request, or, for a named model run (run; WEATHER_SINGLE_RUNS_URL), the run plus availabilityDelayHours. ' +
          '502 MDM_ERR_UPSTREAM when the provider fails or answers another shape.',
        body: FetchBodySchema,
        response: { 200: ImportResult.extend({ issuedAt: z.string(), url: z.string().describe('The request made') }), 400: ErrorSchema, 502: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const b = req.body;
      const runMs = b.run === undefined ? undefined : instant(b.run, 'run');
      if (runMs !== undefined && runMs % HOUR_MS !== 0) throw new MdmError('MDM_ERR_VALIDATION', ['run: a model run starts on the hour (e.g. 2025-09-01T00:00Z)']);
      let r;
      try {
        r = await fetchOpenMeteoForecast(
          { location: b.location, latitude: b.latitude, longitude: b.longitude, forecastDays: b.forecastDays, model: b.model, runMs },
          {
            urls: {
              forecast: config.WEATHER_FORECAST_URL ?? 'https://api.open-meteo.com/v1/forecast',
              singleRuns: config.WEATHER_SINGLE_RUNS_URL ?? 'https://single-runs-api.open-meteo.com/v1/forecast',
            },
            now: Date.now(),
            timeoutMs: config.WEATHER_FETCH_TIMEOUT_MS ?? 15_000,
            availabilityDelayMs: b.availabilityDelayHours * HOUR_MS,
          },
        );
      } catch (err) {
        throw new MdmError('MDM_ERR_UPSTREAM', [(err as Error).message], { cause: err });
      }
      if (r.rows.length === 0)
        throw new MdmError('MDM_ERR_UPSTREAM', [`the weather provider returned no usable hour (${r.rejected.length} rejected${r.rejected[0] ? `: ${r.rejected[0].reason}` : ''})`]);
      return { ...(await store(ctx, r.rows, r.rejected, `open-meteo${b.model ? `:${b.model}` : ''}`)), issuedAt: new Date(r.issuedAt).toISOString(), url: r.url };
    },
  );

  app.get(
    '/weather/forecasts',
    {
      config: { permission: 'forecasts:read' },
      schema: {
        tags: ['forecasts'],
        summary: 'Stored weather forecast vintages, newest issue first',
        querystring: ListQuery,
        response: {
          200: z.object({
            vintages: z.array(
              z.object({
                location: z.string(),
                issuedAt: z.string(),
                source: z.string().describe('file, api, open-meteo[:model]'),
                hours: z.number().int(),
                firstHour: z.string(),
                lastHour: z.string(),
                minTemperature: z.number(),
                maxTemperature: z.number(),
                importedAt: z.string(),
              }),
            ),
          }),
          400: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const q = req.query;
      const at = (t: string | undefined, f: string) => (t === undefined ? undefined : new Date(instant(t, f)));
      const vintages = await listWeatherVintages(database, {
        location: q.location,
        issuedFrom: at(q.issuedFrom, 'issuedFrom'),
        issuedTo: at(q.issuedTo, 'issuedTo'),
        validFrom: at(q.from, 'from'),
        validTo: at(q.to, 'to'),
        limit: q.limit,
      });
      return {
        vintages: vintages.map((v) => ({
          ...v,
          issuedAt: v.issuedAt.toISOString(),
          firstHour: v.firstHour.toISOString(),
          lastHour: v.lastHour.toISOString(),
          importedAt: v.importedAt.toISOString(),
        })),
      };
    },
  );

  app.get(
    '/weather/forecasts/vintage',
    {
      config: { permission: 'forecasts:read' },
      schema: {
        tags: ['forecasts'],
        summary: 'The hours of one vintage',
        querystring: VintageQuery,
        response: {
          200: z.object({ location: z.string(), issuedAt: z.string(), hours: z.array(z.object({ time: z.string(), temperature: z.number() })) }),
          400: ErrorSchema,
          404: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const issuedAt = new Date(instant(req.query.issuedAt, 'issuedAt'));
      const hours = await getWeatherVintage(database, { location: req.query.location, issuedAt, limit: 24 * 400 });
      if (hours.length === 0) throw new MdmError('MDM_ERR_NOT_FOUND', [`no vintage of "${req.query.location}" issued at ${issuedAt.toISOString()} (GET /v1/weather/forecasts lists them)`]);
      return { location: req.query.location, issuedAt: issuedAt.toISOString(), hours: hours.map((h) => ({ time: h.validTime.toISOString(), temperature: h.temperature })) };
    },
  );

  app.get(
    '/weather/forecasts/as-of',
    {
      config: { permission: 'forecasts:read' },
      schema: {
        tags: ['forecasts'],
        summary: 'What a run with this cut-off reads: each hour from the newest vintage issued at or before the cut-off',
        querystring: AsOfQuery,
        response: {
          200: z.object({
            location: z.string(),
            cutoff: z.string(),
            hours: z.array(z.object({ time: z.string(), temperature: z.number().nullable(), issuedAt: z.string().nullable() })).describe('null: no vintage issued by the cut-off covers the hour'),
          }),
          400: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const q = req.query;
      const cutoff = instant(q.cutoff, 'cutoff');
      const from = Math.floor(instant(q.from, 'from') / HOUR_MS) * HOUR_MS;
      const to = instant(q.to, 'to');
      if (to <= from) throw new MdmError('MDM_ERR_RANGE_INVERTED', ['to must be after from']);
      if (to - from > 40 * 24 * HOUR_MS) throw new MdmError('MDM_ERR_RANGE_TOO_LONG', ['at most 40 days from from to to']);
      const g = (await loadVintageTemperature(database, { locations: [q.location], cutoffMs: cutoff, fromMs: from, toMs: to })).get(q.location);
      const n = Math.ceil((to - from) / HOUR_MS);
      const hours = Array.from({ length: n }, (_, i) => {
        const v = g?.values[i];
        const issued = g?.issuedAt[i];
        return {
          time: new Date(from + i * HOUR_MS).toISOString(),
          temperature: v === undefined || v !== v ? null : v,
          issuedAt: issued === undefined || issued !== issued ? null : new Date(issued).toISOString(),
        };
      });
      return { location: q.location, cutoff: new Date(cutoff).toISOString(), hours };
    },
  );

  app.delete(
    '/weather/forecasts/vintage',
    {
      config: { permission: 'forecasts:run' },
      schema: {
        tags: ['forecasts'],
        summary: 'Delete one vintage',
        querystring: VintageQuery,
        response: { 200: z.object({ deleted: z.number().int().describe('Hours deleted') }), 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const issuedAt = new Date(instant(req.query.issuedAt, 'issuedAt'));
      const deleted = await deleteWeatherVintage(database, { location: req.query.location, issuedAt });
      if (deleted === 0) throw new MdmError('MDM_ERR_NOT_FOUND', [`no vintage of "${req.query.location}" issued at ${issuedAt.toISOString()}`]);
      return { deleted };
    },
  );
};
