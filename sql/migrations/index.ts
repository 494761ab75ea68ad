import type { Flavour, RawSql } from '../database.js';
import { init } from './001-init.js';
import { flavour } from './002-flavour.js';
import { events } from './003-events.js';
import { modbus } from './004-modbus.js';
import { vee } from './005-vee.js';
import { billing } from './006-billing.js';
import { billingRollup } from './007-billing-rollup.js';
import { billingRollupAsOf } from './008-billing-rollup-asof.js';
import { portfoliosForecasts } from './009-portfolios-forecasts.js';
import { alarms } from './010-alarms.js';
import { hooks } from './011-hooks.js';
import { market } from './012-market.js';
import { settlement } from './013-settlement.js';
import { forecastModels } from './014-forecast-models.js';
import { boundedRejects } from './015-bounded-rejects.js';
import { marketUnpublished } from './016-market-unpublished.js';
import { forecastPartial } from './017-forecast-partial.js';
import { meterRegisterDigits } from './018-meter-register-digits.js';
import { billingMonthly } from './019-billing-monthly.js';
import { calorificValues } from './020-calorific-values.js';
import { channelRegistry } from './021-channels.js';
import { importPresets } from './022-import-presets.js';
import { meterGasArea } from './023-meter-gas-area.js';
import { forecastRunRequest } from './024-forecast-run-request.js';
import { modbusLeases } from './025-modbus-leases.js';
import { loadShapes } from './026-load-shapes.js';
import { weatherForecasts } from './027-weather-forecasts.js';
import { meterDevicesAttributes } from './028-meter-devices-attributes.js';
import { meterAttributesInsertTrigger } from './029-meter-attributes-insert-trigger.js';
import { jobTicks } from './030-job-ticks.js';
import { marketPeriods } from './031-market-periods.js';

/** A numbered, idempotent schema step. Never edit one that has shipped: add the next. */
export interface Migration {
  readonly id: number;
  readonly name: string;
  /** Default true. False for DDL that cannot run in a transaction block; it must then be idempotent. */
  readonly transaction?: boolean;
  up(s: RawSql, flavour: Flavour): Promise<void>;
}

export const MIGRATIONS: readonly Migration[] = [
  init,
  flavour,
  events,
  modbus,
  vee,
  billing,
  billingRollup,
  billingRollupAsOf,
  portfoliosForecasts,
  alarms,
  hooks,
  market,
  settlement,
  forecastModels,
  boundedRejects,
  marketUnpublished,
  forecastPartial,
  meterRegisterDigits,
  billingMonthly,
  calorificValues,
  channelRegistry,
  importPresets,
  meterGasArea,
  forecastRunRequest,
  modbusLeases,
  loadShapes,
  weatherForecasts,
  meterDevicesAttributes,
  meterAttributesInsertTrigger,
  jobTicks,
  marketPeriods,
];
