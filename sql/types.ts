import type { ColumnType, Generated, JSONColumnType } from 'kysely';

/**
 * Kysely table types; keep in step with sql/migrations. sql/schema-columns.ts
 * mirrors the columns as a value and test/schema-types.test.ts compares it with
 * the migrated schema on every flavour, so a column added, dropped or made
 * nullable by a migration without an edit here fails the tests.
 */
type Timestamp = ColumnType<Date, Date | string, Date | string>;
type GeneratedTimestamp = ColumnType<Date, Date | string | undefined, Date | string>;

export interface MetersTable {
  id: Generated<number>;
  external_id: string;
  commodity: string;
  timezone: string;
  interval_minutes: number;
  multiplier: number;
  group: string | null;
  portfolio: string | null;
  profile_class: string | null;
  tariff: string;
  region: string | null;
  labels: JSONColumnType<Record<string, string>, string, string>;
  supply_start: string | null;
  supply_end: string | null;
  weather_station: string | null;
  register_digits: number | null;
  gas_area: string | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

/**
 * The channel registry (migrations 001, 021): built-in rows written from
 * models/channel.ts (the code reads the TypeScript list for those), user-defined
 * rows from PUT /v1/channels/:name with a code ≥ 1000 from channel_code_seq.
 */
export interface ChannelsTable {
  code: Generated<number>;
  name: string;
  unit: string;
  kind: string;
  obis: string | null;
  commodities: ColumnType<string[], string[] | undefined, string[]>;
  aggregation: string;
  meaning: ColumnType<string, string | undefined, string>;
  builtin: ColumnType<boolean, boolean | undefined, boolean>;
  updated_at: GeneratedTimestamp;
  updated_by: string | null;
}

export interface QualitiesTable {
  code: number;
  name: string;
}

export interface SourcesTable {
  code: number;
  name: string;
}

export interface ReadingsTable {
  meter_id: number;
  channel: number;
  start: Timestamp;
  value: number;
  interval_minutes: number | null;
  quality: number;
  source: number;
  version: Generated<number>;
  batch_id: number;
}

export interface ReadingHistoryTable extends Omit<ReadingsTable, 'version'> {
  version: number;
  superseded_at: GeneratedTimestamp;
  superseded_by_batch: number;
}

export interface ReadingsHourlyView {
  meter_id: number;
  channel: number;
  bucket: Timestamp;
  value_sum: number;
  value_count: number;
}

export interface IngestBatchesTable {
  id: Generated<number>;
  received_at: GeneratedTimestamp;
  transport: string;
  principal: string | null;
  detail: string | null;
}

export interface RejectsTable {
  id: Generated<number>;
  received_at: GeneratedTimestamp;
  batch_id: number | null;
  transport: string;
  principal: string | null;
  topic: string | null;
  row_index: number | null;
  meter: string | null;
  payload: string;
  reason: string;
  /** Size in bytes of the raw input that `payload` is an excerpt of (migration 015; null on rows from before it). */
  payload_bytes: number | null;
  /** SHA-256 (hex) of that raw input. */
  payload_sha256: string | null;
}

export interface MeterEventsTable {
  id: Generated<number>;
  meter_id: number;
  code: string;
  at: Timestamp;
  severity: string | null;
  data: ColumnType<unknown, string | null, string | null>;
  transport: string;
  topic: string | null;
  received_at: GeneratedTimestamp;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  role: string;
  scope: JSONColumnType<{ groups?: string[]; meterPrefixes?: string[] } | null, string | null, string | null>;
  key_hash: string;
  created_at: GeneratedTimestamp;
  last_used_at: Timestamp | null;
  revoked_at: Timestamp | null;
}

export interface ModbusDevicesTable {
  id: string;
  config: JSONColumnType<object, string, string>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

/** One round of a periodic job, claimed by the instance that ran it (migration 030). */
export interface JobTicksTable {
  job: string;
  slot: Timestamp;
  instance: string;
  claimed_at: GeneratedTimestamp;
}

export interface ModbusLeasesTable {
  device_id: string;
  holder: string;
  expires_at: Timestamp;
}

export interface ModbusDeviceStatusTable {
  device_id: string;
  state: string;
  last_poll_at: Timestamp | null;
  last_success_at: Timestamp | null;
  consecutive_failures: number;
  last_error: string | null;
  last_error_code: string | null;
  updated_at: GeneratedTimestamp;
}

export interface ModbusRegisterStateTable {
  meter_id: number;
  channel: number;
  device_id: string;
  last_at: Timestamp;
  last_value: number;
  pending_start: Timestamp;
  pending_value: number;
  pending_kind: 'pinned' | 'loose' | 'partial';
  updated_at: GeneratedTimestamp;
}

export interface ValidationIssuesTable {
  id: Generated<number>;
  meter_id: number;
  channel: number;
  rule: string;
  severity: 'warn' | 'fail';
  from_ts: Timestamp;
  to_ts: Timestamp;
  detail: string;
  status: ColumnType<'open' | 'accepted' | 'replaced' | 'obsolete', 'open' | 'accepted' | 'replaced' | 'obsolete' | undefined>;
  created_at: GeneratedTimestamp;
  resolved_at: Timestamp | null;
  resolved_by: string | null;
  resolution_comment: string | null;
}

export interface VeeSettingsTable {
  id: Generated<number>;
  profile_class: string | null;
  commodity: string | null;
  effective_from: string;
  params: JSONColumnType<Record<string, unknown>, string, string>;
  created_at: GeneratedTimestamp;
  created_by: string | null;
}

export interface VeeQueueTable {
  meter_id: number;
  channel: number;
  local_date: string;
  enqueued_at: GeneratedTimestamp;
  claimed_at: Timestamp | null;
}

export interface ReadingNotesTable {
  meter_id: number;
  channel: number;
  start: Timestamp;
  version: number;
  batch_id: number;
  method: string | null;
  params: JSONColumnType<Record<string, unknown> | null, string | null, string | null>;
  reason_code: string;
  comment: string | null;
  recorded_by: string;
  issue_id: number | null;
  created_at: GeneratedTimestamp;
}

export interface TouSchedulesTable {
  tariff: string;
  effective_from: string;
  buckets: JSONColumnType<{ name: string; ranges: { from: string; to: string }[] }[], string, string>;
  created_at: GeneratedTimestamp;
  created_by: string | null;
}

export interface BillingPeriodsTable {
  period: string;
  closed_at: GeneratedTimestamp;
  closed_by: string;
  data_version: Timestamp;
  meters: number;
}

export interface BillingSnapshotsTable {
  period: string;
  meter_id: number;
  figures: JSONColumnType<Record<string, unknown>, string, string>;
  data_version: Timestamp;
  closed_at: Timestamp;
  closed_by: string;
}

export interface BillingReadinessTable {
  period: string;
  computed_at: Timestamp;
  state_key: string;
  result: JSONColumnType<Record<string, unknown>, string, string>;
}

export interface BillingDailyTable {
  meter_id: number;
  channel: number;
  local_date: string;
  energy: number;
  est_energy: number;
  n_measured: number;
  n_suspect: number;
  n_estimated: number;
  n_edited: number;
  n_missing: number;
  tou: number[];
  peak_rate: number | null;
  peak_start: Timestamp | null;
  last_start: Timestamp | null;
  max_received: Timestamp | null;
}

export interface BillingMonthlyTable {
  meter_id: number;
  channel: number;
  month: string;
  energy: number;
  est_energy: number;
  n_measured: number;
  n_suspect: number;
  n_estimated: number;
  n_edited: number;
  n_missing: number;
  tou: number[];
  peak: number[] | null;
  last_start: Timestamp | null;
}

export interface BillingDirtyTable {
  meter_id: number;
  local_date: string;
  marked_at: GeneratedTimestamp;
}

export interface BillingRollupMetersTable {
  meter_id: number;
  stamp: string;
  rolled_at: GeneratedTimestamp;
}

export interface MdmSettingsTable {
  key: string;
  value: string;
}

export interface MdmMigrationsTable {
  id: number;
  name: string;
  applied_at: GeneratedTimestamp;
}

export interface PortfoliosTable {
  id: string;
  area: ColumnType<string, string | undefined, string>;
  currency: ColumnType<string, string | undefined, string>;
  timezone: string | null;
  weather_station: string | null;
  day_ahead_cutoff: ColumnType<string, string | undefined, string>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export type ForecastRunStatus = 'queued' | 'running' | 'done' | 'partial' | 'failed';

export interface ForecastRunsTable {
  id: Generated<number>;
  target: string;
  horizon: string;
  model: ColumnType<string, string | undefined, string>;
  status: ColumnType<ForecastRunStatus, ForecastRunStatus | undefined, ForecastRunStatus>;
  progress: ColumnType<number, number | undefined, number>;
  error: string | null;
  issue_time: Timestamp;
  data_cutoff: Timestamp | null;
  from_ts: Timestamp | null;
  to_ts: Timestamp | null;
  used_model: string | null;
  metadata: JSONColumnType<Record<string, unknown> | null, string | null, string | null>;
  metrics: JSONColumnType<Record<string, unknown> | null, string | null, string | null>;
  requested_by: string | null;
  request_id: string | null;
  created_at: GeneratedTimestamp;
  started_at: Timestamp | null;
  finished_at: Timestamp | null;
}

export interface ForecastValuesTable {
  run_id: number;
  target: string;
  start: Timestamp;
  p10: number | null;
  p50: number;
  p90: number | null;
}

export interface MarketPricesTable {
  area: string;
  start: Timestamp;
  currency: string;
  ptf: number | null;
  smf: number | null;
  positive_imbalance: number | null;
  negative_imbalance: number | null;
  system_direction: 'surplus' | 'deficit' | 'balanced' | null;
  source: string;
  updated_at: GeneratedTimestamp;
  /** Price columns held as not yet published (migration 016): ptf, smf, positiveImbalance, negativeImbalance; null = none. */
  unpublished: ColumnType<string[] | null, string[] | null | undefined, string[] | null>;
}

export interface PositionsTable {
  portfolio: string;
  start: Timestamp;
  bilateral: ColumnType<number, number | undefined, number>;
  day_ahead: ColumnType<number, number | undefined, number>;
  intraday: ColumnType<number, number | undefined, number>;
  updated_at: GeneratedTimestamp;
}

export interface NominationsTable {
  portfolio: string;
  meter_id: number;
  start: Timestamp;
  mwh: number;
  updated_at: GeneratedTimestamp;
}

export interface ImbalancePriceRulesTable {
  area: string;
  effective_from: string;
  rule: ColumnType<'min-max-k', 'min-max-k' | undefined, 'min-max-k'>;
  k_positive: number;
  k_negative: number;
  note: string | null;
  created_at: GeneratedTimestamp;
  created_by: string | null;
}

/** Settlement period of a market area from a local date on (migration 031); none: 60 minutes. */
export interface MarketPeriodsTable {
  area: string;
  effective_from: string;
  minutes: number;
  spread: ColumnType<'flat' | 'profile', 'flat' | 'profile' | undefined, 'flat' | 'profile'>;
  note: string | null;
  created_at: GeneratedTimestamp;
  created_by: string | null;
}

/** Every version of every imported settlement hour (migration 013). kWh after the meter multiplier. */
export interface SettlementRowsTable {
  meter_id: number;
  period: string;
  version: number;
  start: Timestamp;
  withdrawal: number;
  supply: number | null;
  imported_at: GeneratedTimestamp;
  imported_by: string | null;
  origin: string;
  applied_batch: number | null;
}

/** EPİAŞ profile coefficients per day and hour, or per day type and hour (migration 013). */
export interface ProfileCoefficientsTable {
  period: string;
  region: string;
  reading_type: string;
  profile_group: string;
  local_date: ColumnType<string | null, string | null | undefined, string | null>;
  day_type: string | null;
  hour: number;
  coefficient: number;
  imported_at: GeneratedTimestamp;
  imported_by: string | null;
  origin: string;
}

export type HookTransition = 'opened' | 'repeated' | 'acknowledged' | 'closed';
export type HookDeliveryStatus = 'pending' | 'delivering' | 'delivered' | 'failed';

export interface HooksTable {
  id: Generated<number>;
  url: string;
  secret: string;
  codes: string[] | null;
  severities: string[] | null;
  groups: string[] | null;
  transitions: HookTransition[];
  active: ColumnType<boolean, boolean | undefined, boolean>;
  from_transition_id: ColumnType<number, number | undefined, number>;
  description: string | null;
  created_by: string | null;
  created_at: GeneratedTimestamp;
  deactivated_at: Timestamp | null;
}

export interface HookDeliveriesTable {
  id: string;
  hook_id: number;
  transition_id: number;
  alarm_id: number;
  transition: HookTransition;
  status: ColumnType<HookDeliveryStatus, HookDeliveryStatus | undefined, HookDeliveryStatus>;
  attempts: ColumnType<number, number | undefined, number>;
  next_attempt_at: GeneratedTimestamp;
  last_status: number | null;
  last_error: string | null;
  created_at: GeneratedTimestamp;
  delivered_at: Timestamp | null;
}

export type ForecastModelStatus = 'champion' | 'challenger' | 'retired';

export interface ForecastModelsTable {
  id: Generated<number>;
  target: string;
  kind: string;
  version: number;
  status: ColumnType<ForecastModelStatus, ForecastModelStatus | undefined, ForecastModelStatus>;
  artefact: JSONColumnType<Record<string, unknown>, string, string>;
  metrics: JSONColumnType<Record<string, unknown> | null, string | null, string | null>;
  trained_at: GeneratedTimestamp;
  data_cutoff: Timestamp;
  promoted_at: Timestamp | null;
}

export interface AlarmsTable {
  id: Generated<number>;
  meter_id: number;
  code: string;
  severity: string;
  state: ColumnType<'open' | 'acknowledged' | 'closed', 'open' | 'acknowledged' | 'closed' | undefined>;
  count: ColumnType<number, number | undefined, number>;
  opened_at: Timestamp;
  last_seen_at: Timestamp;
  acknowledged_at: Timestamp | null;
  acknowledged_by: string | null;
  closed_at: Timestamp | null;
  closed_by: string | null;
  comment: string | null;
  source: string;
  rule_id: string | null;
  data: ColumnType<unknown, string | null, string | null>;
  work_order_id: string | null;
  work_order_status: string | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

export interface AlarmTransitionsTable {
  id: Generated<number>;
  alarm_id: number;
  transition: 'opened' | 'repeated' | 'acknowledged' | 'closed';
  at: GeneratedTimestamp;
  actor: string | null;
  comment: string | null;
  payload: JSONColumnType<{ alarm: Record<string, unknown>; meter: Record<string, unknown> }, string, string>;
}

export interface AlarmRulesTable {
  id: string;
  kind: string;
  definition: JSONColumnType<Record<string, unknown>, string, string>;
  enabled: ColumnType<boolean, boolean | undefined, boolean>;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
  updated_by: string | null;
}

export interface AlarmRuleStateTable {
  rule_id: string;
  meter_id: number;
  since: Timestamp | null;
  active: ColumnType<boolean, boolean | undefined, boolean>;
  last_at: Timestamp | null;
  updated_at: GeneratedTimestamp;
}

/** Gas network areas and their calorific values, migration 020 (models/gas/). */
export interface GasAreasTable {
  code: string;
  name: string | null;
  timezone: string;
  base_temperature_c: number;
  base_pressure_bar: number;
  combustion_temperature_c: number;
  gas_day_start_hour: number;
  atmospheric_pressure_bar: ColumnType<number, number | undefined, number>;
  note: string | null;
  updated_at: GeneratedTimestamp;
  updated_by: string | null;
}

/** Every version of every calorific value; superseded_at NULL = current. */
export interface CalorificValuesTable {
  area: string;
  kind: 'superior' | 'inferior';
  valid_from: Timestamp;
  version: number;
  valid_to: Timestamp;
  value_kwh_per_m3: number;
  value_received: number;
  unit_received: string;
  source: string | null;
  received_at: GeneratedTimestamp;
  received_by: string | null;
  superseded_at: Timestamp | null;
}

/** Named import mapping presets (migration 022): validated ImportOptions as JSON. */
export interface ImportPresetsTable {
  name: string;
  options: ColumnType<object, string, string>;
  description: string | null;
  created_by: string | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

/** Weather forecast vintages (migration 027): one row per location, issue time and forecast hour. */
export interface WeatherForecastsTable {
  location: string;
  issued_at: Timestamp;
  /** Start of the forecast hour. */
  valid_time: Timestamp;
  /** °C */
  temperature: number;
  source: string;
  imported_at: GeneratedTimestamp;
}

/** Devices installed on a metering point (migration 028): [installed_from, installed_to), null = open. */
export interface MeterDevicesTable {
  id: Generated<number>;
  meter_id: number;
  serial: string;
  make: string | null;
  model: string | null;
  register_digits: number | null;
  multiplier: number | null;
  installed_from: Timestamp | null;
  installed_to: Timestamp | null;
  initial_read: number | null;
  final_read: number | null;
  created_at: GeneratedTimestamp;
  updated_at: GeneratedTimestamp;
}

/** Dated versions of a meter's attributes (migration 028): valid from a local date ('-infinity': since always), bitemporal. */
export interface MeterAttributesTable {
  id: Generated<number>;
  meter_id: number;
  attribute: string;
  valid_from: string;
  value: string | null;
  recorded_at: GeneratedTimestamp;
  recorded_by: string | null;
  superseded_at: Timestamp | null;
}

/** Load-shape profile runs (migration 026): forecast/load-shape.ts's clustering of the meters' daily shapes. */
export interface LoadShapeRunsTable {
  id: Generated<number>;
  computed_at: GeneratedTimestamp;
  requested_by: string | null;
  params: ColumnType<object, string, string>;
  summary: ColumnType<object, string, string>;
}

export interface LoadShapeProfilesTable {
  run_id: number;
  profile: string;
  name: string;
  members: number;
  /** Per season (winter, spring, summer, autumn) 72 values (day type × local hour) or null. */
  shape: ColumnType<(number[] | null)[], string, string>;
  features: ColumnType<object, string, string>;
}

export interface LoadShapeMetersTable {
  run_id: number;
  meter_id: number;
  profile: string;
  assigned_by: 'shape' | 'profileClass' | 'group' | 'largest';
  distance: number | null;
  seasons: string[];
  days: number;
}

export interface DB {
  meters: MetersTable;
  meter_devices: MeterDevicesTable;
  meter_attributes: MeterAttributesTable;
  channels: ChannelsTable;
  qualities: QualitiesTable;
  sources: SourcesTable;
  readings: ReadingsTable;
  reading_history: ReadingHistoryTable;
  readings_hourly: ReadingsHourlyView;
  ingest_batches: IngestBatchesTable;
  rejects: RejectsTable;
  meter_events: MeterEventsTable;
  api_keys: ApiKeysTable;
  modbus_devices: ModbusDevicesTable;
  modbus_device_status: ModbusDeviceStatusTable;
  modbus_leases: ModbusLeasesTable;
  job_ticks: JobTicksTable;
  modbus_register_state: ModbusRegisterStateTable;
  validation_issues: ValidationIssuesTable;
  vee_settings: VeeSettingsTable;
  vee_queue: VeeQueueTable;
  reading_notes: ReadingNotesTable;
  tou_schedules: TouSchedulesTable;
  billing_periods: BillingPeriodsTable;
  billing_snapshots: BillingSnapshotsTable;
  billing_readiness: BillingReadinessTable;
  billing_daily: BillingDailyTable;
  billing_monthly: BillingMonthlyTable;
  billing_dirty: BillingDirtyTable;
  billing_rollup_meters: BillingRollupMetersTable;
  mdm_settings: MdmSettingsTable;
  mdm_migrations: MdmMigrationsTable;
  portfolios: PortfoliosTable;
  forecast_runs: ForecastRunsTable;
  forecast_values: ForecastValuesTable;
  market_prices: MarketPricesTable;
  positions: PositionsTable;
  nominations: NominationsTable;
  imbalance_price_rules: ImbalancePriceRulesTable;
  market_periods: MarketPeriodsTable;
  settlement_rows: SettlementRowsTable;
  profile_coefficients: ProfileCoefficientsTable;
  hooks: HooksTable;
  hook_deliveries: HookDeliveriesTable;
  forecast_models: ForecastModelsTable;
  alarms: AlarmsTable;
  alarm_transitions: AlarmTransitionsTable;
  alarm_rules: AlarmRulesTable;
  alarm_rule_state: AlarmRuleStateTable;
  gas_areas: GasAreasTable;
  calorific_values: CalorificValuesTable;
  import_presets: ImportPresetsTable;
  load_shape_runs: LoadShapeRunsTable;
  load_shape_profiles: LoadShapeProfilesTable;
  load_shape_meters: LoadShapeMetersTable;
  weather_forecasts: WeatherForecastsTable;
}
