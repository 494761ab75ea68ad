import { localDate, localMinuteOfDay } from '../models/calendar.js';
import type { SeriesData } from './model.js';
import { HOUR_MS } from '../models/time.js';

/**
 * Temperature normals for hours the weather forecast does not reach (issue 5,
 * long-term: "monthly energy using temperature normals"). A normal is the
 * mean observed temperature of the same local month and local hour over every
 * observation before the issue time (all stored years). Pure.
 */

/**
 * A copy of `s` whose temperature grid runs to `toMs`, with every unknown
 * (NaN) hour from `issueTime` on filled with its month-and-hour normal.
 * Known values (observations, the weather forecast) are kept. Returns `s`
 * itself when it has no temperature or nothing to fill; `filled` counts the
 * hours filled.
 * @example withTemperatureNormals(series, issueTime, horizon.toMs).series.temperature
 */
export function withTemperatureNormals(s: SeriesData, issueTime: number, toMs: number): { series: SeriesData; filled: number } {
  if (!s.temperature) return { series: s, filled: 0 };
  const len = Math.max(s.temperature.length, Math.ceil((toMs - s.startMs) / HOUR_MS));
  const firstFuture = Math.max(0, Math.ceil((issueTime - s.startMs) / HOUR_MS));
  let gaps = 0;
  for (let i = firstFuture; i < len; i++) if (!(i < s.temperature.length && Number.isFinite(s.temperature[i]))) gaps++;
  if (gaps === 0) return { series: s, filled: 0 };
  const sum = new Float64Array(12 * 24);
  const count = new Float64Array(12 * 24);
  const bucket = (ms: number) => (Number(localDate(ms, s.timezone).slice(5, 7)) - 1) * 24 + Math.floor(localMinuteOfDay(ms, s.timezone) / 60);
  for (let i = 0; i < Math.min(firstFuture, s.temperature.length); i++) {
    const t = s.temperature[i];
    if (!Number.isFinite(t)) continue;
    const b = bucket(s.startMs + i * HOUR_MS);
    sum[b] += t;
    count[b]++;
  }
  const temperature = new Float64Array(len).fill(Number.NaN);
  temperature.set(s.temperature);
  let filled = 0;
  for (let i = firstFuture; i < len; i++) {
    if (Number.isFinite(temperature[i])) continue;
    const b = bucket(s.startMs + i * HOUR_MS);
    if (count[b] > 0) {
      temperature[i] = sum[b] / count[b];
      filled++;
    }
  }
  return { series: { ...s, temperature }, filled };
}
