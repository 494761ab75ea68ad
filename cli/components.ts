/**
 * Long-running parts of `mdm serve` besides the HTTP API (MQTT, Modbus
 * poller…). serve creates each from the configuration, reports its probe in
 * /health, starts them in list order after the database is migrated and
 * stops them in reverse order on shutdown, before the database closes.
 */
import type { FastifyInstance } from 'fastify';
import type { HealthProbe } from '../models/health-probe.js';
import type { ComponentName, Config } from '../models/config.js';
import type { Database } from '../sql/database.js';
import type { IngestListeners } from '../ingest/ingest-listeners.js';
import type { IngestActivity } from '../models/ingest-activity.js';
import type { ClaimRound, WorkMetrics } from '../models/work-metrics.js';
import { mqttComponent } from '../adapters/mqtt/component.js';
import { modbusComponent } from '../adapters/modbus/modbus.component.js';
import { billingComponent } from '../billing/billing.component.js';
import { veeComponent } from '../ingest/vee/vee-worker.js';
import { alarmsComponent } from '../alarms/alarms.component.js';
import { hooksComponent } from '../alarms/hook-dispatcher.js';
import { epiasComponent } from '../adapters/market/epias.component.js';
import { weatherFetchComponent } from '../adapters/weather/weather-fetch.component.js';
import { forecastComponent } from '../forecast/forecast.component.js';
import { loadShapesComponent } from '../forecast/load-shape.component.js';

type LogFn = (objOrMsg: object | string, msg?: string) => void;

/** The logger a component gets (a pino child of the API logger, tagged with the component name). */
export interface Logger {
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
}

export interface Component {
  readonly name: string;
  /** Reported under `components.<name>` in GET /health. */
  readonly probe?: HealthProbe;
  /** Extra HTTP routes (registered before the API starts listening), e.g. `PUT /v1/modbus/devices`. */
  readonly routes?: (app: FastifyInstance) => Promise<void> | void;
  start(log: Logger): Promise<void>;
  stop(): Promise<void>;
}

export interface ComponentContext {
  readonly config: Config;
  readonly database: Database;
  /** What ingest runs when data is stored (alarms/alarm-listeners.ts ALARM_LISTENERS): the MQTT and Modbus adapters and the VEE worker pass it on. */
  readonly listeners: IngestListeners;
  /** Ingest's rate (every transport counts into it through `listeners`): VEE and the billing rollup wait while it is a bulk load. */
  readonly activity?: IngestActivity;
  /** This process's name among the instances sharing the database (host:pid:random): Modbus leases, claimed rounds. */
  readonly instance?: string;
  /** Claims a round of a periodic job for this instance (sql/job-tick.repository.ts): each round runs on one instance. */
  readonly claimRound?: ClaimRound;
  /** Forecast run and hook delivery durations, rounds run or skipped: the instance's metrics (api/metrics.ts). */
  readonly work?: WorkMetrics;
}

/** Returns undefined when the configuration turns the component off. */
export type ComponentFactory = (ctx: ComponentContext) => Component | undefined | Promise<Component | undefined>;

/** A factory of COMPONENTS with the name MDM_COMPONENTS selects it by (an unnamed one, e.g. a test's, always runs). */
export type NamedComponentFactory = ComponentFactory & { readonly component: ComponentName };

const named = (component: ComponentName, make: ComponentFactory): NamedComponentFactory => Object.assign((ctx: ComponentContext) => make(ctx), { component });

/** Whether `mdm serve` makes this factory's component with MDM_COMPONENTS = `wanted` (absent: all). */
export function isWanted(factory: ComponentFactory, wanted: ReadonlySet<ComponentName> | undefined): boolean {
  const name = (factory as Partial<NamedComponentFactory>).component;
  return name === undefined || wanted === undefined || wanted.has(name);
}

/**
 * The components `mdm serve` runs, in start order (MDM_COMPONENTS picks
 * some by name). ADD ONE LINE PER COMPONENT HERE (its import above and its
 * name in models/config.ts COMPONENT_NAMES), e.g.
 *   named('mqtt', mqttComponent),     // adapters/mqtt: embedded aedes broker on MQTT_PORT, or the broker at MQTT_URL
 *   named('modbus', modbusComponent), // adapters/modbus: register poller
 */
export const COMPONENTS: readonly ComponentFactory[] = [
  named('mqtt', mqttComponent), // adapters/mqtt: embedded aedes broker on MQTT_PORT, or the broker at MQTT_URL
  named('modbus', modbusComponent), // adapters/modbus: register poller for the devices in modbus_devices (PUT /v1/modbus/devices, MODBUS_DEVICES_FILE)
  named('billing', billingComponent), // billing: daily rollup maintenance (BILLING_ROLLUP_INTERVAL_S), readiness of the current and previous month (BILLING_READINESS_INTERVAL_MIN)
  named('vee', veeComponent), // ingest/vee: validates the meter days ingest queued (vee_queue)
  named('alarms', alarmsComponent), // alarms: silence check every ALARMS_SILENCE_INTERVAL_S (no_data alarms open and close)
  named('hooks', hooksComponent), // alarms: sends alarm transitions to work-order hooks from the hook_deliveries outbox (HOOK_* settings)
  named('epias', epiasComponent), // adapters/market: PTF/SMF of yesterday, today, tomorrow from the EPİAŞ transparency platform into market_prices (EPIAS_*; off by default)
  named('weather', weatherFetchComponent), // adapters/weather: forecasts of WEATHER_FETCH_LOCATIONS from the provider as vintages every WEATHER_FETCH_INTERVAL_MIN (0 = off, the default)
  named('forecast', forecastComponent), // forecast: runs queued forecast runs (POST /v1/forecasts/runs), queues FORECAST_SCHEDULE's, retrains ML champions (FORECAST_POLL_S; 0 = off)
  named('load-shapes', loadShapesComponent), // forecast: load-shape profiles of the meters recomputed when the newest run is older than LOAD_SHAPES_INTERVAL_H (0 = off)
];
