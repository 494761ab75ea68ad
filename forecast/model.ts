/**
 * The one forecasting interface (issue 5). Every model kind — naive, profile,
 * ml, ensemble — is a ForecastModel: fit(history + features available at the
 * issue time) → FittedModel.predict(horizon) with P10/P50/P90 per hour.
 *
 * Pure data in, pure data out: loading series from storage and storing runs
 * lives in sql/ and the forecast job, not here.
 */

import type { VintageSet } from './weather-vintages.js';

export const MODEL_KINDS = ['naive', 'profile', 'ml', 'ensemble'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

export const HORIZONS = ['intraday', 'day-ahead', 'week-ahead', 'month-ahead', 'long-term'] as const;
export type HorizonName = (typeof HORIZONS)[number];

/**
 * A target's hourly history on a contiguous UTC hour grid.
 * values[i] is the energy of hour startMs + i·3 600 000 (kWh); NaN = missing
 * or excluded (suspect). The grid may extend past the data cut-off: models
 * must not read values at or after FitContext.dataCutoff.
 */
export interface SeriesData {
  /** `meter:M`, `group:G`, `portfolio:P`, or any label in benchmarks. */
  readonly id: string;
  /** IANA zone the target's local hours/days/day types are counted in. */
  readonly timezone: string;
  readonly startMs: number;
  readonly values: Float64Array;
  /** 1 where the value is estimated (usable, lower weight); absent = none. */
  readonly estimated?: Uint8Array;
  /**
   * Outdoor temperature (°C) on a grid starting at the same startMs; may be
   * longer than values (covering the horizon). Entries at or after the issue
   * time are the weather forecast, earlier ones observations. NaN = unknown.
   */
  readonly temperature?: Float64Array;
  /**
   * The weather forecast vintages of the series' station issued in its
   * history (forecast/weather-vintages.ts): a backtest origin reads the newest
   * one issued by its own cut-off instead of the observations (seriesAsOf).
   */
  readonly temperatureVintages?: VintageSet;
}

export interface FitContext {
  /** When the forecast is issued (ms). */
  readonly issueTime: number;
  /** Only values with start + 1 h <= dataCutoff are known (ms); ≤ issueTime. */
  readonly dataCutoff: number;
  /**
   * Holiday calendar country (ISO 3166 alpha-2, optionally a region), e.g. 'TR', 'PL', 'GB-ENG';
   * null: no holiday calendar (the target's country is unknown), every date an ordinary day.
   */
  readonly country: string | null;
  /** 0..1 */
  readonly onProgress?: (fraction: number) => void;
}

export interface Horizon {
  /** First forecast hour (ms, hour-aligned UTC), inclusive. */
  readonly fromMs: number;
  /** End (ms), exclusive. */
  readonly toMs: number;
}

export interface QuantileRow {
  readonly start: number;
  readonly p10: number;
  readonly p50: number;
  readonly p90: number;
}

export interface FittedModel {
  readonly kind: ModelKind;
  /** What the fit decided: fallbacks and why ("too little history → naive"), parameters, sizes. */
  readonly info: Readonly<Record<string, unknown>>;
  /** One array of hourly rows per fitted series, in the order given to fit. */
  predict(horizon: Horizon): Promise<QuantileRow[][]>;
  /**
   * Optional: the same fitted parameters (network weights, profile shapes)
   * re-anchored on data up to a later ctx.dataCutoff (lags, recent level),
   * without training; same series in the same order. The backtest uses it
   * to refit on a cadence (e.g. weekly) and predict every day; a model
   * without it is fitted again at every origin.
   */
  update?(series: readonly SeriesData[], ctx: FitContext): Promise<FittedModel>;
}

export interface ForecastModel {
  readonly kind: ModelKind;
  fit(series: readonly SeriesData[], ctx: FitContext): Promise<FittedModel>;
}
