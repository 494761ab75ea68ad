import { calendarColumns } from '../features.js';
import type { FitContext, Horizon, QuantileRow, SeriesData } from '../model.js';
import { quantileSorted } from '../quantiles.js';

/**
 * The last resort of a member whose naive forecast left hours empty (issue
 * 12, defect 2): its data ended more than 8 weeks before the cut-off, or is
 * too sparse for the weekly and daily lags. Rather than leave the member out
 * of its portfolio (a sum that looks complete and is not), its hours are the
 * mean of its own known values of the same day type and local hour over the
 * `windowDays` (56) days ending at its last known value, falling back to the
 * hour over all day types, then to every value. P10/P90 are the 10 % / 90 %
 * quantiles of those values (type 6). NaN only for a series with no known
 * value before the cut-off at all. Pure.
 */

const H = 3_600_000;

export interface HistoryMeanInfo {
  readonly id: string;
  /** Known values used. */
  readonly values: number;
  /** Hour start (ISO) of the newest known value before the cut-off, or null. */
  readonly lastValue: string | null;
}

/**
 * Rows over `horizon` from the series' own day-type × hour means.
 * @example historyMeanRows(s, ctx, { fromMs, toMs }).rows // [{ start, p10, p50, p90 }, …]
 */
export function historyMeanRows(s: SeriesData, ctx: FitContext, horizon: Horizon, windowDays = 56): { rows: QuantileRow[]; info: HistoryMeanInfo } {
  const known = Math.max(0, Math.min(s.values.length, Math.floor((ctx.dataCutoff - s.startMs) / H)));
  let last = -1;
  for (let i = known - 1; i >= 0 && last < 0; i--) if (s.values[i] === s.values[i]) last = i;
  const n = Math.max(0, Math.round((horizon.toMs - horizon.fromMs) / H));
  const nanRows = () => Array.from({ length: n }, (_, k) => ({ start: horizon.fromMs + k * H, p10: NaN, p50: NaN, p90: NaN }));
  if (last < 0) return { rows: nanRows(), info: { id: s.id, values: 0, lastValue: null } };
  const endIdx = Math.max(0, Math.ceil((horizon.toMs - s.startMs) / H));
  const cal = calendarColumns(s.timezone, ctx.country, s.startMs, Math.max(endIdx, last + 1));
  const buckets: number[][] = Array.from({ length: 96 }, () => []);
  const hours: number[][] = Array.from({ length: 24 }, () => []);
  const all: number[] = [];
  for (let i = Math.max(0, last + 1 - windowDays * 24); i <= last; i++) {
    const v = s.values[i];
    if (v !== v) continue;
    buckets[cal.dayType[i] * 24 + cal.hour[i]].push(v);
    hours[cal.hour[i]].push(v);
    all.push(v);
  }
  const stats = (xs: number[]) => {
    const sorted = Float64Array.from(xs).sort();
    const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
    return { p10: Math.min(mean, quantileSorted(sorted, 0.1)), p50: mean, p90: Math.max(mean, quantileSorted(sorted, 0.9)) };
  };
  const memo = new Map<number[], { p10: number; p50: number; p90: number }>();
  const of = (xs: number[]) => {
    let r = memo.get(xs);
    if (!r) memo.set(xs, (r = stats(xs)));
    return r;
  };
  const rows: QuantileRow[] = [];
  for (let k = 0; k < n; k++) {
    const start = horizon.fromMs + k * H;
    const i = (start - s.startMs) / H;
    if (!Number.isInteger(i) || i < 0) {
      rows.push({ start, ...of(all) });
      continue;
    }
    const b = buckets[cal.dayType[i] * 24 + cal.hour[i]];
    const h = hours[cal.hour[i]];
    rows.push({ start, ...of(b.length >= 3 ? b : h.length >= 3 ? h : all) });
  }
  return { rows, info: { id: s.id, values: all.length, lastValue: new Date(s.startMs + last * H).toISOString() } };
}
