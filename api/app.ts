import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { API_RATE_LIMIT_DEFAULTS, type Config } from '../models/config.js';
import type { Database } from '../sql/database.js';
import type { IngestListeners } from '../ingest/ingest-listeners.js';
import { registerAuth } from './auth.js';
import { registerFormatParam } from './format-param.js';
import { registerErrorHandler } from './error-handler.js';
import { MAX_BODY_BYTES, registerRequestBounds } from './request-bounds.js';
import { registerRateLimit } from './rate-limit.js';
import type { HealthProbe } from '../models/health-probe.js';
import { healthRoutes } from './routes/health.route.js';
import { keyRoutes } from './routes/keys.route.js';
import { meterRoutes } from './routes/meters.route.js';
import { meterChangeRoutes } from './routes/meter-changes.route.js';
import { readingRoutes } from './routes/readings.route.js';
import { readingImportRoutes } from './routes/reading-import.route.js';
import { rejectRoutes } from './routes/rejects.route.js';
import { aggregateRoutes } from './routes/aggregate.route.js';
import { billingRoutes } from './routes/billing.route.js';
import { completenessRoutes } from './routes/completeness.route.js';
import { modbusRoutes } from './routes/modbus.route.js';
import { validationRoutes } from './routes/validation.route.js';
import { editRoutes } from './routes/edits.route.js';
import { settlementRoutes } from './routes/settlement.route.js';
import { profileRoutes } from './routes/profiles.route.js';
import { portfolioRoutes } from './routes/portfolios.route.js';
import { marketRoutes } from './routes/market.route.js';
import { imbalanceRoutes } from './routes/imbalance.route.js';
import { forecastRoutes } from './routes/forecasts.route.js';
import { hookRoutes } from './routes/hooks.route.js';
import { eventRoutes } from './routes/events.route.js';
import { alarmRoutes } from './routes/alarms.route.js';
import { alarmRuleRoutes } from './routes/alarm-rules.route.js';
import { calorificValueRoutes } from './routes/calorific-values.route.js';
import { channelRoutes } from './routes/channels.route.js';
import { loadShapeRoutes } from './routes/load-shapes.route.js';
import { offerRoutes } from './routes/offers.route.js';
import { weatherRoutes } from './routes/weather.route.js';
import { consoleRoutes } from '../web/console.plugin.js';

/** What the API reads of the configuration; absent rate-limit and reading-bound keys take their defaults. */
export type AppConfig = Pick<Config, 'MDM_MAX_BATCH_ROWS' | 'LOG_LEVEL'> &
  Partial<
    Pick<
      Config,
      | 'API_RATE_LIMIT_PER_MIN'
      | 'API_AUTH_FAILURES_PER_MIN'
      | 'API_TRUST_PROXY'
      | 'MDM_EARLIEST_READING'
      | 'MDM_MAX_FUTURE_HOURS'
      | 'MDM_MAX_INTERVAL_VALUE'
      | 'MDM_MAX_REGISTER_VALUE'
      | 'MDM_MAX_INSTANT_VALUE'
      | 'WEATHER_FORECAST_URL'
      | 'WEATHER_SINGLE_RUNS_URL'
      | 'WEATHER_FETCH_TIMEOUT_MS'
    >
  >;

export interface AppDeps {
  readonly database: Database;
  readonly config: AppConfig;
  /** What ingest, events and validation runs trigger (alarms/alarm-listeners.ts ALARM_LISTENERS; cli/serve.ts wires it). */
  readonly listeners: IngestListeners;
  /** Extra components reporting into /health (MQTT connection, pollers…). */
  readonly health?: HealthProbe[];
  readonly logger?: boolean | object;
}

export const API_VERSION = '0.1.0';

/** Builds the HTTP API (no port opened: tests use app.inject()). */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: deps.logger ?? false,
    bodyLimit: MAX_BODY_BYTES,
    trustProxy: trustProxy(deps.config.API_TRUST_PROXY),
    genReqId: requestId, // every log line of a request carries it as reqId
  });
  app.addHook('onRequest', async (request, reply) => void reply.header('x-request-id', request.id));
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  registerErrorHandler(app);
  registerRequestBounds(app);
  const failures = await registerRateLimit(app, {
    perMinute: deps.config.API_RATE_LIMIT_PER_MIN ?? API_RATE_LIMIT_DEFAULTS.perMinute,
    authFailuresPerMinute: deps.config.API_AUTH_FAILURES_PER_MIN ?? API_RATE_LIMIT_DEFAULTS.authFailuresPerMinute,
  });

  await app.register(swagger, {
    openapi: {
      info: {
        title: 'MDM — meter data management API',
        description: 'Meter registry, reading ingest and queries. Authenticate with `Authorization: Bearer <key>`.',
        version: API_VERSION,
      },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  registerAuth(app, deps.database, failures);
  registerFormatParam(app); // format= on a route without other formats → 400, never ignored

  const ctx = { database: deps.database, config: deps.config, listeners: deps.listeners };
  await app.register(healthRoutes, { ...ctx, probes: deps.health ?? [] });
  await app.register(keyRoutes, { ...ctx, prefix: '/v1' });
  await app.register(meterRoutes, { ...ctx, prefix: '/v1' });
  await app.register(meterChangeRoutes, { ...ctx, prefix: '/v1' }); // devices, exchanges, dated attributes, bulk changes (docs/meters.md)
  await app.register(readingRoutes, { ...ctx, prefix: '/v1' });
  await app.register(readingImportRoutes, { ...ctx, prefix: '/v1' }); // files in every layout, presets (docs/import.md)
  await app.register(aggregateRoutes, { ...ctx, prefix: '/v1' });
  await app.register(billingRoutes, { ...ctx, prefix: '/v1' });
  await app.register(completenessRoutes, { ...ctx, prefix: '/v1' });
  await app.register(rejectRoutes, { ...ctx, prefix: '/v1' });
  await app.register(modbusRoutes, { ...ctx, prefix: '/v1' });
  await app.register(validationRoutes, { ...ctx, prefix: '/v1' });
  await app.register(editRoutes, { ...ctx, prefix: '/v1' });
  await app.register(settlementRoutes, { ...ctx, prefix: '/v1' });
  await app.register(profileRoutes, { ...ctx, prefix: '/v1' });
  await app.register(portfolioRoutes, { ...ctx, prefix: '/v1' });
  await app.register(marketRoutes, { ...ctx, prefix: '/v1' });
  await app.register(imbalanceRoutes, { ...ctx, prefix: '/v1' });
  await app.register(forecastRoutes, { ...ctx, prefix: '/v1' });
  await app.register(loadShapeRoutes, { ...ctx, prefix: '/v1' }); // load-shape profiles (docs/forecasting.md)
  await app.register(offerRoutes, { ...ctx, prefix: '/v1' }); // offer cost of a load profile (docs/forecasting.md)
  await app.register(weatherRoutes, { ...ctx, prefix: '/v1' }); // weather forecast vintages (docs/forecasting.md)
  await app.register(hookRoutes, { ...ctx, prefix: '/v1' });
  await app.register(eventRoutes, { ...ctx, prefix: '/v1' });
  await app.register(alarmRoutes, { ...ctx, prefix: '/v1' });
  await app.register(alarmRuleRoutes, { ...ctx, prefix: '/v1' });
  await app.register(calorificValueRoutes, { ...ctx, prefix: '/v1' });
  await app.register(channelRoutes, { ...ctx, prefix: '/v1' }); // also loads the user-defined channels into the registry
  await app.register(consoleRoutes); // the web console at /console/ (docs/console.md)
  return app;
}

/** Options every route plugin receives. */
export interface RouteContext {
  readonly database: Database;
  readonly config: AppConfig;
  /** Passed to every ingest, event and validation call (AppDeps.listeners). */
  readonly listeners: IngestListeners;
}

/** What an incoming X-Request-Id may be: up to 128 characters of letters, digits and `-_.:/+=@` (no spaces, quotes or control characters to forge log lines with). */
const REQUEST_ID = /^[A-Za-z0-9\-_.:/+=@]{1,128}$/;

/**
 * The request's id: the caller's `X-Request-Id` when it is a plausible one
 * (a proxy's or a client's trace id), else a new UUID. Answered in the
 * `X-Request-Id` response header and logged on every line of the request.
 */
export function requestId(req: { headers: Record<string, string | string[] | undefined> }): string {
  const given = req.headers['x-request-id'];
  return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
}

/** fastify's trustProxy from API_TRUST_PROXY: "true", a hop count, or proxy addresses/CIDRs. */
function trustProxy(text: string | undefined): FastifyServerOptions['trustProxy'] {
  if (text === undefined) return false;
  if (text === 'true') return true;
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    return (_address, hop) => hop < hops;
  }
  return text.split(',');
}
