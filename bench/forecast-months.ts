import type { BacktestResult } from '../forecast/backtest.js';
import { combineMetrics, evaluate, skill, type ForecastMetrics, type QuantileValues } from '../forecast/metrics.js';
import { localDate } from '../models/calendar.js';

/**
 * Figures by local month of a backtest kept with `keepForecasts` (issue 20:
 * "skill on rolling windows across a whole year, median and worst month"),
 * for the forecast bench. Pure.
 */

export interface MonthFigures {
  /** Local month YYYY-MM. */
  readonly month: string;
  readonly metrics: ForecastMetrics;
  /** 1 − MAE/MAE(naive) on the month's hours. */
  readonly skill: number;
}

export interface ModelMonths {
  readonly months: readonly MonthFigures[];
  /** Over every scored hour. */
  readonly all: ForecastMetrics;
  readonly skill: number;
}

/** Median of finite values (NaN when none). */
export function median(xs: readonly number[]): number {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  if (!s.length) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/**
 * Per model and local month: metrics over the hours of every series
 * (pooled) and skill against the baseline on the same hours.
 * @param pick keep only the hours for which it returns true (by hour start), e.g. special days
 */
export function byMonth(r: BacktestResult, tz: string, baseline = 'naive', pick: (startMs: number) => boolean = () => true): Record<string, ModelMonths> {
  const smp = r.samples;
  if (!smp) throw new Error('byMonth: the backtest must keep its forecasts (keepForecasts)');
  const monthOf = smp.start.map((t) => localDate(t, tz).slice(0, 7));
  const months = [...new Set(monthOf)];
  const scored = (y: number, i: number) => Number.isFinite(y) && pick(smp.start[i]);
  const score = (model: string, mo: string | null) =>
    combineMetrics(
      smp.actual.map((a, j) =>
        evaluate(
          Array.from(a, (y, i) => (scored(y, i) && (mo === null || monthOf[i] === mo) ? y : Number.NaN)),
          smp.forecasts[model][j],
        ),
      ),
    );
  const out: Record<string, ModelMonths> = {};
  const base = Object.fromEntries([null, ...months].map((mo) => [mo ?? '', score(baseline, mo)]));
  for (const m of r.models) {
    const ms = months.map((mo) => ({ month: mo, metrics: score(m, mo) })).filter((x) => x.metrics.n > 0);
    const all = score(m, null);
    out[m] = { months: ms.map((x) => ({ ...x, skill: skill(x.metrics, base[x.month]) })), all, skill: skill(all, base['']) };
  }
  return out;
}

/** The same, for the portfolio sum of a backtest with `portfolio` and `keepForecasts` (Σ actuals against the calibrated Σ forecasts). */
export function portfolioByMonth(r: BacktestResult, tz: string, baseline = 'naive'): Record<string, ModelMonths> {
  const smp = r.samples;
  const p = smp?.portfolio;
  if (!smp || !p) throw new Error('portfolioByMonth: the backtest needs portfolio and keepForecasts');
  // The Σ of the scored (masked) member actuals: unknown where any member is, or before scoreFrom.
  const total = smp.start.map((_, i) => smp.actual.reduce((a, x) => a + x[i], 0));
  const forecasts: Record<string, QuantileValues[][]> = Object.fromEntries(r.models.map((m) => [m, [portfolioRows(r, m)]]));
  return byMonth({ ...r, samples: { ...smp, actual: [Float64Array.from(total)], forecasts } }, tz, baseline);
}

/** The calibrated portfolio rows of a model. */
function portfolioRows(r: BacktestResult, m: string): QuantileValues[] {
  const rows = r.samples?.portfolio?.forecasts[m];
  if (!rows) throw new Error('portfolioByMonth: the backtest kept no portfolio forecasts');
  return rows as QuantileValues[];
}

/** Median and worst (lowest) month of a figure. */
export function medianWorst(ms: readonly MonthFigures[], f: (m: MonthFigures) => number, worst: 'min' | 'max' = 'min'): { median: number; worst: number; worstMonth: string } {
  const vals = ms.map((m) => [f(m), m.month] as const).filter(([x]) => Number.isFinite(x));
  if (!vals.length) return { median: Number.NaN, worst: Number.NaN, worstMonth: '–' };
  const w = vals.reduce((a, b) => ((worst === 'min' ? b[0] < a[0] : b[0] > a[0]) ? b : a));
  return { median: median(vals.map(([x]) => x)), worst: w[0], worstMonth: w[1] };
}
