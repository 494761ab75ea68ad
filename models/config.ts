import { z } from 'zod';
import { MdmError } from './errors.js';
import { parseForecastSchedule } from './forecast-schedule.js';
import { DEFAULT_READING_LIMITS, type ReadingLimits } from './input-bounds.js';

/**
 * Service configuration: environment variables, optionally a JSON config file
 * (`MDM_CONFIG=path`, same keys), environment winning. Validated once at start;
 * the frozen result is passed down. Nothing else reads process.env.
 */
const port = z.coerce.number().int().min(0).max(65535);

/** Defaults of API_RATE_LIMIT_PER_MIN and API_AUTH_FAILURES_PER_MIN (also what buildApp uses when it is given neither). */
export const API_RATE_LIMIT_DEFAULTS = { perMinute: 60_000, authFailuresPerMinute: 20 } as const;

/** The background components of `mdm serve` (cli/components.ts), by the name MDM_COMPONENTS selects them with. */
export const COMPONENT_NAMES = ['mqtt', 'modbus', 'billing', 'vee', 'alarms', 'hooks', 'epias', 'weather', 'forecast', 'load-shapes'] as const;
export type ComponentName = (typeof COMPONENT_NAMES)[number];

/** Deployment shapes (docs/operations.md): an instance's components by its role. */
export const COMPONENT_SHAPES: Readonly<Record<string, readonly ComponentName[]>> = {
  all: COMPONENT_NAMES,
  api: [],
  ingest: ['mqtt', 'modbus'],
  workers: ['billing', 'vee', 'alarms', 'hooks', 'epias', 'weather', 'forecast', 'load-shapes'],
};

/** MDM_COMPONENTS: shapes and component names, comma-separated, into the set of components to run. */
const componentsSetting = z
  .string()
  .default('all')
  .transform((text, ctx): ReadonlySet<ComponentName> => {
    const out = new Set<ComponentName>();
    for (const word of text.split(',').map((w) => w.trim().toLowerCase())) {
      if (word === '' || word === 'none') continue;
      const shape = COMPONENT_SHAPES[word];
      if (shape) for (const n of shape) out.add(n);
      else if ((COMPONENT_NAMES as readonly string[]).includes(word)) out.add(word as ComponentName);
      else {
        ctx.addIssue({ code: 'custom', message: `unknown component or shape "${word.slice(0, 40)}": shapes ${Object.keys(COMPONENT_SHAPES).join(', ')}; components ${COMPONENT_NAMES.join(', ')}` });
        return z.NEVER;
      }
    }
    return out;
  });

export const ConfigSchema = z
  .object({
    PORT: port.default(8080).describe('HTTP port of the API'),
    MDM_COMPONENTS: componentsSetting.describe(
      'What this instance runs besides the HTTP API (which always runs): a shape (all, api = none, ingest = mqtt+modbus, workers = billing+vee+alarms+hooks+epias+weather+forecast+load-shapes) or component names, comma-separated',
    ),
    HOST: z.string().min(1).default('0.0.0.0').describe('Interface the API listens on'),
    METRICS_PORT: z.coerce
      .number()
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('Also serve GET /metrics without a key on this port (on METRICS_HOST), for a scraper inside the network; unset = only /metrics on the API port, with a key'),
    METRICS_HOST: z.string().min(1).default('127.0.0.1').describe('Interface of METRICS_PORT (default: this machine only)'),
    DATABASE_URL: z
      .string()
      .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
      .optional()
      .describe('PostgreSQL server; absent → embedded PGlite under MDM_DATA_DIR'),
    MDM_DATA_DIR: z.string().min(1).default('./data').describe('Embedded database and generated admin key'),
    MQTT_URL: z
      .string()
      .regex(/^mqtts?:\/\/|^wss?:\/\//, 'must be an mqtt://, mqtts://, ws:// or wss:// URL')
      .optional()
      .describe('External MQTT broker; absent → embedded broker on MQTT_PORT'),
    MQTT_PORT: port.default(1883).describe('Embedded MQTT broker port; 0 disables it'),
    MQTT_CLIENT_ID: z.string().min(1).max(128).default('mdm-ingest').describe('External broker: fixed client id of the persistent session; give each instance its own, stable one'),
    MQTT_SHARE_GROUP: z
      .string()
      .regex(/^[^/+#]+$/, 'must be one topic level (no /, + or #)')
      .default('mdm')
      .describe('External broker: subscribe through $share/{group}/… so instances split the load; "none" = plain subscriptions'),
    MQTT_USERNAME: z.string().min(1).optional().describe('External broker: username'),
    MQTT_PASSWORD: z.string().min(1).optional().describe('External broker: password'),
    MQTT_CA_FILE: z.string().min(1).optional().describe('External broker (mqtts://): PEM file of the CA to trust'),
    MQTT_CERT_FILE: z.string().min(1).optional().describe('External broker (mqtts://): PEM client certificate'),
    MQTT_KEY_FILE: z.string().min(1).optional().describe('External broker (mqtts://): PEM private key of the client certificate'),
    MQTT_MAX_INFLIGHT: z.coerce.number().int().min(1).max(65_535).default(2000).describe('External broker: unacknowledged messages it may send us at once (MQTT 5 Receive Maximum)'),
    MQTT_SESSION_EXPIRY_S: z.coerce.number().int().min(0).default(604_800).describe('External broker: seconds it keeps our session and queues messages while we are down (default 7 days)'),
    MQTT_BATCH_MAX_ROWS: z.coerce.number().int().positive().default(5000).describe('MQTT: a database batch is written once it holds this many rows'),
    MQTT_BATCH_MAX_MS: z.coerce.number().int().min(0).default(25).describe('MQTT: … or once its oldest message has waited this many milliseconds'),
    MQTT_BATCH_WRITERS: z.coerce
      .number()
      .int()
      .min(1)
      .max(16)
      .default(3)
      .describe('MQTT: batches written at once on a PostgreSQL server (never two on the same meter; the embedded database writes one at a time)'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    MDM_BOOTSTRAP_ADMIN_KEY: z.string().min(16, 'must be at least 16 characters').optional().describe('Registered as an admin key at start (scripted/container deployments)'),
    MDM_MAX_BATCH_ROWS: z.coerce.number().int().positive().default(100_000).describe('Maximum rows in one JSON readings request'),
    MDM_EARLIEST_READING: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD')
      .refine((d) => !Number.isNaN(Date.parse(`${d}T00:00:00Z`)), 'must be a valid date')
      .default('1990-01-01')
      .describe('Readings that start before this date (UTC) are rejected with a reason (plausibility bound)'),
    MDM_MAX_FUTURE_HOURS: z.coerce
      .number()
      .min(0)
      .max(8784)
      .default(72)
      .describe('A measured or validated reading may start at most this many hours after it arrives; later ones are rejected (device clock, missing UTC offset)'),
    MDM_MAX_INTERVAL_VALUE: z.coerce.number().positive().max(1e300).default(1e9).describe('Largest |value| of an interval channel (kWh, kvarh, m³ per interval) accepted at ingest'),
    MDM_MAX_REGISTER_VALUE: z.coerce.number().positive().max(1e300).default(1e13).describe('Largest |value| of a register (index) channel accepted at ingest'),
    MDM_MAX_INSTANT_VALUE: z.coerce.number().positive().max(1e300).default(1e9).describe('Largest |value| of an instantaneous channel (temperature, pressure) accepted at ingest'),
    MODBUS_DEVICES_FILE: z.string().min(1).optional().describe('JSON file of Modbus devices (an array, or {"devices": [...]}) loaded into the device table at start; see docs/modbus.md'),
    BILLING_ROLLUP_INTERVAL_S: z.coerce
      .number()
      .int()
      .min(0)
      .default(15)
      .describe('Seconds between runs of the billing rollup maintenance (days ingest marked dirty); 0 turns it off and billing reads the readings'),
    BILLING_READINESS_INTERVAL_MIN: z.coerce
      .number()
      .int()
      .min(0)
      .default(60)
      .describe('Minutes between billing readiness runs (current and previous month, stored for GET /v1/billing/readiness); 0 turns the periodic run off'),
    BILLING_NO_DATA_DAYS: z.coerce.number().int().min(1).default(3).describe('A meter whose newest active import value is this many days old is not billable (no_recent_data)'),
    BACKGROUND_YIELD_ROWS_PER_S: z.coerce
      .number()
      .int()
      .min(0)
      .default(20_000)
      .describe(
        'Readings per second (stored by this instance, over the last second) from which ingest is a bulk load: VEE and billing rollup rounds wait until it ends, then catch up at once; 0 = never wait',
      ),
    BACKGROUND_MAX_DEFER_S: z.coerce.number().int().min(1).default(60).describe('During a longer bulk load, VEE and the billing rollup still run one round per this many seconds'),
    ALARMS_SILENCE_INTERVAL_S: z.coerce
      .number()
      .int()
      .min(0)
      .default(300)
      .describe('Seconds between silence checks of the alarms component (no_data alarms for meters without readings, per silence rule); 0 turns the check off'),
    EPIAS_FETCH_INTERVAL_MIN: z.coerce
      .number()
      .int()
      .min(0)
      .default(0)
      .describe('Minutes between fetches of PTF and SMF (yesterday, today, tomorrow) from the EPİAŞ transparency platform into market_prices; 0 (default) = off'),
    EPIAS_BASE_URL: z.string().url().default('https://seffaflik.epias.com.tr/electricity-service').describe('EPİAŞ transparency platform data services (v2)'),
    EPIAS_AUTH_URL: z.string().url().default('https://giris.epias.com.tr/cas/v1/tickets').describe('EPİAŞ login: ticket-granting ticket (TGT) service'),
    EPIAS_USERNAME: z.string().min(1).optional().describe('EPİAŞ transparency platform account (required when EPIAS_FETCH_INTERVAL_MIN > 0)'),
    EPIAS_PASSWORD: z.string().min(1).optional().describe('Password of EPIAS_USERNAME'),
    WEATHER_FORECAST_URL: z
      .string()
      .url()
      .default('https://api.open-meteo.com/v1/forecast')
      .describe('Weather forecast provider (Open-Meteo forecast API shape: hourly.time, hourly.temperature_2m) of POST /v1/weather/forecasts/fetch and `mdm weather fetch`'),
    WEATHER_SINGLE_RUNS_URL: z
      .string()
      .url()
      .default('https://single-runs-api.open-meteo.com/v1/forecast')
      .describe('The same provider for one model run by its initialisation time (run=): Open-Meteo single-runs API'),
    WEATHER_FETCH_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(15_000).describe('Weather provider: a request without a response by then fails'),
    WEATHER_FETCH_INTERVAL_MIN: z.coerce
      .number()
      .int()
      .min(0)
      .max(10_080)
      .default(0)
      .describe('Component weather: minutes between fetches of the WEATHER_FETCH_LOCATIONS forecasts, each stored as a vintage issued then; 0 = off'),
    WEATHER_FETCH_LOCATIONS: z
      .string()
      .min(1)
      .max(10_000)
      .optional()
      .describe('Component weather: LOCATION=LAT,LON entries separated by ";" (e.g. WX=52.13,-0.47), LOCATION the weather station id meters and portfolios name'),
    HOOK_TIMEOUT_MS: z.coerce.number().int().min(100).default(10_000).describe('Hooks: a delivery request without a response by then is a timeout (retried)'),
    HOOK_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(25).describe('Hooks: attempts per delivery before it is marked failed'),
    HOOK_BACKOFF_BASE_MS: z.coerce.number().int().min(1).default(1_000).describe('Hooks: delay after the first failed attempt, doubled after each further one (with jitter: ½ to 1×)'),
    HOOK_BACKOFF_MAX_MS: z.coerce.number().int().min(1).default(600_000).describe('Hooks: the doubled delay stops growing here'),
    HOOK_POLL_MS: z.coerce.number().int().min(10).default(200).describe('Hooks: pause between looks at the delivery outbox when it is idle'),
    HOOK_CONCURRENCY: z.coerce.number().int().min(0).max(256).default(16).describe('Hooks: delivery requests in flight at once (one at a time per alarm and hook); 0 turns the dispatcher off'),
    FORECAST_POLL_S: z.coerce.number().int().min(0).default(5).describe('Forecast worker: seconds between looks at the run queue and the schedule; 0 turns the worker off (queued runs wait)'),
    FORECAST_THREADS: z.coerce
      .number()
      .int()
      .min(1)
      .max(16)
      .default(1)
      .describe('Forecast worker: worker threads the models are fitted in, i.e. runs computed at once (each holds a TensorFlow.js instance); the API thread never fits'),
    LOAD_SHAPES_INTERVAL_H: z.coerce
      .number()
      .int()
      .min(0)
      .max(8784)
      .default(24)
      .describe('Load-shape profiles (component load-shapes): recomputed when the newest run is older than this many hours; 0 turns the schedule off (POST /v1/load-shapes/runs still works)'),
    FORECAST_SCHEDULE: z
      .string()
      .default('day-ahead@09:30')
      .refine((s) => parseForecastSchedule(s).ok, {
        error: (iss) => {
          const r = parseForecastSchedule(String(iss.input));
          return r.ok ? 'invalid' : r.reason;
        },
      })
      .describe('Forecast runs and ML retrains queued by the worker: "<horizon|retrain>@<HH:MM|*:MM> [target …]; …" (local time of each target; no target = every portfolio); off = none'),
    API_RATE_LIMIT_PER_MIN: z.coerce
      .number()
      .int()
      .min(0)
      .default(API_RATE_LIMIT_DEFAULTS.perMinute)
      .describe('API: requests per minute per key (routes without a key: per client address); more → 429 with Retry-After until the minute is over; 0 = off. /health is exempt'),
    API_AUTH_FAILURES_PER_MIN: z.coerce
      .number()
      .int()
      .min(0)
      .default(API_RATE_LIMIT_DEFAULTS.authFailuresPerMinute)
      .describe('API: failed authentications (401) per minute per client address; then 429 with Retry-After, without a key look-up, for keys not seen valid; 0 = off'),
    API_TRUST_PROXY: z
      .string()
      .regex(/^(true|\d+|[0-9a-fA-F.:/]+(,[0-9a-fA-F.:/]+)*)$/, 'must be true, a hop count, or comma-separated proxy addresses/CIDRs')
      .optional()
      .describe('API behind a reverse proxy: trust X-Forwarded-For from it (true, a hop count, or its addresses/CIDRs) so per-address limits see the client address'),
    MQTT_AUTH_RECHECK_S: z.coerce
      .number()
      .positive()
      .max(3600)
      .default(5)
      .describe('Embedded broker: seconds between re-checks of the keys of connected clients; a client whose key was revoked (here or by another instance) is disconnected'),
    MQTT_AUTH_FAILURES_PER_MIN: z.coerce
      .number()
      .int()
      .min(0)
      .default(10)
      .describe('Embedded broker: failed authentications per client address per minute before its CONNECTs are refused without a key look-up; 0 = no limit'),
  })
  .strict();

export type Config = Readonly<z.output<typeof ConfigSchema>>;
export const CONFIG_KEYS = Object.keys(ConfigSchema.shape) as (keyof z.input<typeof ConfigSchema>)[];

/**
 * The reading plausibility bounds of a configuration (ingest/normalize.ts); absent keys take their defaults.
 * @example readingLimitsOf(loadConfig({})).measuredFutureMs // 259200000
 */
export function readingLimitsOf(
  config: Partial<Pick<Config, 'MDM_EARLIEST_READING' | 'MDM_MAX_FUTURE_HOURS' | 'MDM_MAX_INTERVAL_VALUE' | 'MDM_MAX_REGISTER_VALUE' | 'MDM_MAX_INSTANT_VALUE'>>,
): ReadingLimits {
  const d = DEFAULT_READING_LIMITS;
  return {
    ...d,
    earliestMs: config.MDM_EARLIEST_READING === undefined ? d.earliestMs : Date.parse(`${config.MDM_EARLIEST_READING}T00:00:00Z`),
    measuredFutureMs: config.MDM_MAX_FUTURE_HOURS === undefined ? d.measuredFutureMs : config.MDM_MAX_FUTURE_HOURS * 3_600_000,
    maxAbs: {
      interval: config.MDM_MAX_INTERVAL_VALUE ?? d.maxAbs.interval,
      register: config.MDM_MAX_REGISTER_VALUE ?? d.maxAbs.register,
      instantaneous: config.MDM_MAX_INSTANT_VALUE ?? d.maxAbs.instantaneous,
    },
  };
}

/**
 * Builds the configuration from an environment and an optional parsed config
 * file. Throws MDM_ERR_CONFIG listing every bad variable.
 * @example loadConfig({ PORT: '9000' }).PORT // 9000
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>, file: Readonly<Record<string, unknown>> = {}): Config {
  const merged: Record<string, unknown> = { ...file };
  for (const k of CONFIG_KEYS) {
    const v = env[k];
    if (v !== undefined && v !== '') merged[k] = v;
  }
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(config file)'}: ${i.message}`);
    throw new MdmError('MDM_ERR_CONFIG', [lines.join('\n')]);
  }
  return Object.freeze(parsed.data);
}
