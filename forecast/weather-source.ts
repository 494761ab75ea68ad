import type { Database } from '../sql/database.js';
import { loadStationTemperature } from '../sql/forecast.repository.js';
import { loadVintageSets, loadVintageTemperature } from '../sql/weather.repository.js';
import { HOUR_MS } from '../models/time.js';
import { combineWeather, type StationWeather, type VintageSet } from './weather-vintages.js';

/**
 * The temperatures a forecast run may know at its data cut-off (issue 20,
 * item 1): observations for the hours before the cut-off, and for the hours
 * from it on a weather forecast: the newest stored vintage issued at or
 * before the cut-off (sql/weather.repository.ts), or, where no vintage of
 * the station was issued by then, the observations of those hours degraded
 * by the documented error model (forecast/weather-error-model.ts), or nothing
 * (the engine then fills temperature normals). Observations stored for hours
 * after the cut-off are never used as they are.
 */

/**
 * Loads the weather of `stations` (external ids; `stationIds` maps those that
 * are registered weather-station meters to their ids) for a run whose grid is
 * `hours` hours from `startMs` and whose data cut-off is `cutoffMs`: two
 * statements (observations, vintages issued ≤ cut-off).
 */
export async function loadRunWeather(
  database: Database,
  p: { stations: readonly string[]; stationIds: ReadonlyMap<string, number>; startMs: number; hours: number; cutoffMs: number },
): Promise<Map<string, StationWeather>> {
  const toMs = p.startMs + p.hours * HOUR_MS;
  const observed = await loadStationTemperature(database, { stationIds: [...p.stationIds.values()], fromMs: p.startMs, toMs });
  const gridCutoff = Math.max(p.startMs, Math.floor(p.cutoffMs / HOUR_MS) * HOUR_MS);
  const vintages = await loadVintageTemperature(database, { locations: p.stations, cutoffMs: p.cutoffMs, fromMs: gridCutoff, toMs });
  const out = new Map<string, StationWeather>();
  const offset = Math.round((gridCutoff - p.startMs) / HOUR_MS);
  for (const station of p.stations) {
    const id = p.stationIds.get(station);
    const obs = id === undefined ? undefined : observed.get(id);
    const v = vintages.get(station);
    // The vintage grid starts at the cut-off hour: shift it onto the run's grid.
    const onGrid = v && { values: new Float64Array(p.hours).fill(Number.NaN), issuedAt: new Float64Array(p.hours).fill(Number.NaN) };
    if (v && onGrid) onGrid.values.set(v.values.subarray(0, p.hours - offset), offset), onGrid.issuedAt.set(v.issuedAt.subarray(0, p.hours - offset), offset);
    if (obs === undefined && onGrid === undefined) continue;
    out.set(station, combineWeather(obs, onGrid, { startMs: p.startMs, cutoffMs: gridCutoff, station, hours: p.hours }));
  }
  return out;
}

/** Hours after its issue time a vintage is kept for backtests (their horizons end within 10 days of an origin). */
export const BACKTEST_MAX_LEAD_HOURS = 240;
/** Vintages loaded for a run's backtests at most, all stations: four a day for a year of one station (at most 240 hours each, about 3 MB of values). */
export const BACKTEST_MAX_VINTAGES = 1_500;

/**
 * The vintages of `stations` issued in the run's history (from `startMs` to
 * its data cut-off), for its backtests: each origin reads the newest issued by
 * its own cut-off (forecast/backtest.ts seriesAsOf). One statement; the oldest
 * are left out past BACKTEST_MAX_VINTAGES (`truncated`).
 */
export async function loadBacktestVintages(database: Database, p: { stations: readonly string[]; startMs: number; cutoffMs: number }): Promise<{ sets: Map<string, VintageSet>; truncated: boolean }> {
  return loadVintageSets(database, {
    locations: p.stations,
    issuedFromMs: p.startMs,
    issuedToMs: p.cutoffMs,
    maxLeadHours: BACKTEST_MAX_LEAD_HOURS,
    maxVintages: BACKTEST_MAX_VINTAGES,
  });
}
