import type { SelectType } from 'kysely';
import type { DB } from './types.js';

/** `true` when a column of this Kysely type reads as null (its select type admits null). */
type Nullable<T> = null extends SelectType<T> ? true : false;

/** The shape sql/types.ts dictates: every table of `DB`, every column of it, nothing else, each with its nullability. */
export type SchemaColumns = { readonly [K in keyof DB]: { readonly [C in keyof DB[K]]-?: Nullable<DB[K][C]> } };

/**
 * The columns sql/types.ts declares, as a value the drift test
 * (test/schema-types.test.ts) compares with `information_schema.columns`
 * after migrating, on every flavour: `true` = the column may hold null.
 * tsc holds this object to the interfaces in types.ts (a missing, extra or
 * wrongly nullable column fails the typecheck), the test holds both to the
 * migrations. A migration that adds, drops or changes a column therefore
 * needs an edit in types.ts and here. Views report every column nullable in
 * information_schema: their nullability here follows types.ts and is not compared.
 */
export const SCHEMA_COLUMNS = {
  alarm_rule_state: { rule_id: false, meter_id: false, since: true, active: false, last_at: true, updated_at: false },
  alarm_rules: { id: false, kind: false, definition: false, enabled: false, created_at: false, updated_at: false, updated_by: true },
  alarm_transitions: { id: false, alarm_id: false, transition: false, at: false, actor: true, comment: true, payload: false },
  alarms: {
    id: false, meter_id: false, code: false, severity: false, state: false, count: false, opened_at: false, last_seen_at: false, acknowledged_at: true,
    acknowledged_by: true, closed_at: true, closed_by: true, comment: true, source: false, rule_id: true, data: true, work_order_id: true,
    work_order_status: true, created_at: false, updated_at: false
  },
  api_keys: { id: false, name: false, role: false, scope: true, key_hash: false, created_at: false, last_used_at: true, revoked_at: true },
  billing_daily: {
    meter_id: false, channel: false, local_date: false, energy: false, est_energy: false, n_measured: false, n_suspect: false, n_estimated: false,
    n_edited: false, n_missing: false, tou: false, peak_rate: true, peak_start: true, last_start: true, max_received: true
  },
  billing_dirty: { meter_id: false, local_date: false, marked_at: false },
  billing_periods: { period: false, closed_at: false, closed_by: false, data_version: false, meters: false },
  billing_readiness: { period: false, computed_at: false, state_key: false, result: false },
  billing_rollup_meters: { meter_id: false, stamp: false, rolled_at: false },
  billing_snapshots: { period: false, meter_id: false, figures: false, data_version: false, closed_at: false, closed_by: false },
  channels: { code: false, name: false, unit: false, kind: false, obis: true },
  forecast_models: {
    id: false, target: false, kind: false, version: false, status: false, artefact: false, metrics: true, trained_at: false, data_cutoff: false,
    promoted_at: true
  },
  forecast_runs: {
    id: false, target: false, horizon: false, model: false, status: false, progress: false, error: true, issue_time: false, data_cutoff: true, from_ts: true,
    to_ts: true, used_model: true, metadata: true, metrics: true, requested_by: true, created_at: false, started_at: true, finished_at: true
  },
  forecast_values: { run_id: false, target: false, start: false, p10: true, p50: false, p90: true },
  hook_deliveries: {
    id: false, hook_id: false, transition_id: false, alarm_id: false, transition: false, status: false, attempts: false, next_attempt_at: false,
    last_status: true, last_error: true, created_at: false, delivered_at: true
  },
  hooks: {
    id: false, url: false, secret: false, codes: true, severities: true, groups: true, transitions: false, active: false, from_transition_id: false,
    description: true, created_by: true, created_at: false, deactivated_at: true
  },
  imbalance_price_rules: {
    area: false, effective_from: false, rule: false, k_positive: false, k_negative: false, note: true, created_at: false, created_by: true
  },
  ingest_batches: { id: false, received_at: false, transport: false, principal: true, detail: true },
  market_prices: {
    area: false, start: false, currency: false, ptf: true, smf: true, positive_imbalance: true, negative_imbalance: true, system_direction: true,
    source: false, updated_at: false, unpublished: true
  },
  mdm_migrations: { id: false, name: false, applied_at: false },
  mdm_settings: { key: false, value: false },
  meter_events: { id: false, meter_id: false, code: false, at: false, severity: true, data: true, transport: false, topic: true, received_at: false },
  meters: {
    id: false, external_id: false, commodity: false, timezone: false, interval_minutes: false, multiplier: false, group: true, portfolio: true,
    profile_class: true, tariff: false, region: true, labels: false, supply_start: true, supply_end: true, weather_station: true, created_at: false,
    updated_at: false, register_digits: true
  },
  modbus_device_status: {
    device_id: false, state: false, last_poll_at: true, last_success_at: true, consecutive_failures: false, last_error: true, last_error_code: true,
    updated_at: false
  },
  modbus_devices: { id: false, config: false, created_at: false, updated_at: false },
  modbus_register_state: {
    meter_id: false, channel: false, device_id: false, last_at: false, last_value: false, pending_start: false, pending_value: false, pending_kind: false,
    updated_at: false
  },
  nominations: { portfolio: false, meter_id: false, start: false, mwh: false, updated_at: false },
  portfolios: { id: false, area: false, currency: false, timezone: true, weather_station: true, day_ahead_cutoff: false, created_at: false, updated_at: false },
  positions: { portfolio: false, start: false, bilateral: false, day_ahead: false, intraday: false, updated_at: false },
  profile_coefficients: {
    period: false, region: false, reading_type: false, profile_group: false, local_date: true, day_type: true, hour: false, coefficient: false,
    imported_at: false, imported_by: true, origin: false
  },
  qualities: { code: false, name: false },
  reading_history: {
    meter_id: false, channel: false, start: false, value: false, interval_minutes: true, quality: false, source: false, version: false, batch_id: false,
    superseded_at: false, superseded_by_batch: false
  },
  reading_notes: {
    meter_id: false, channel: false, start: false, version: false, batch_id: false, method: true, params: true, reason_code: false, comment: true,
    recorded_by: false, issue_id: true, created_at: false
  },
  readings: {
    meter_id: false, channel: false, start: false, value: false, interval_minutes: true, quality: false, source: false, version: false, batch_id: false
  },
  readings_hourly: { meter_id: false, channel: false, bucket: false, value_sum: false, value_count: false },
  rejects: {
    id: false, received_at: false, batch_id: true, transport: false, principal: true, topic: true, row_index: true, meter: true, payload: false, reason: false,
    payload_bytes: true, payload_sha256: true
  },
  settlement_rows: {
    meter_id: false, period: false, version: false, start: false, withdrawal: false, supply: true, imported_at: false, imported_by: true, origin: false,
    applied_batch: true
  },
  sources: { code: false, name: false },
  tou_schedules: { tariff: false, effective_from: false, buckets: false, created_at: false, created_by: true },
  validation_issues: {
    id: false, meter_id: false, channel: false, rule: false, severity: false, from_ts: false, to_ts: false, detail: false, status: false, created_at: false,
    resolved_at: true, resolved_by: true, resolution_comment: true
  },
  vee_queue: { meter_id: false, channel: false, local_date: false, enqueued_at: false, claimed_at: true },
  vee_settings: { id: false, profile_class: true, commodity: true, effective_from: false, params: false, created_at: false, created_by: true },
} as const satisfies SchemaColumns;
