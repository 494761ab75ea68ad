import { buildFeatures, type FeatureFrame } from '../features.js';
import type { FitContext, FittedModel, ForecastModel, Horizon, QuantileRow, SeriesData } from '../model.js';
import { fitResidualQuantiles, quantileRow, type ResidualQuantiles } from '../quantiles.js';
import { DAY_MS } from '../../models/time.js';

/**
 * Naive baselines (issue 5, model 1), the bar every model must beat:
 * - `d7`: the same local hour one week earlier; beyond 7 days ahead the last
 *   known week repeats (the newest known same weekday and hour, up to 8 weeks
 *   back: forecast/features `lastWeek`).
 * - `mean-d7-d14`: the mean of the two newest known same weekday-and-hour
 *   values (D−7 and D−14 day-ahead; `lastWeek` and `prevWeek`).
 * An hour with no known weekly value takes the newest known same-hour value
 * (`lastSame`), then the mean of the last 168 known hours.
 *
 * P10/P90: residual quantiles (forecast/quantiles) of the same rule replayed
 * day-ahead over the `residualDays` (default 56) days before the cut-off.
 */
export interface NaiveOptions {
  readonly variant?: 'd7' | 'mean-d7-d14';
  readonly residualDays?: number;
}

const H = 3_600_000;

/** The naive P50 of row r of a feature frame. */
export function naiveP50(f: FeatureFrame, r: number, variant: 'd7' | 'mean-d7-d14'): number {
  const c = f.columns;
  const a = c.lastWeek[r];
  if (a === a) {
    if (variant === 'd7') return a;
    const b = c.prevWeek[r];
    return b === b ? (a + b) / 2 : a;
  }
  const s = c.lastSame[r];
  return s === s ? s : c.mean168[r];
}

export function naiveModel(opts: NaiveOptions = {}): ForecastModel {
  const variant = opts.variant ?? 'd7';
  const residualDays = opts.residualDays ?? 56;
  return {
    kind: 'naive',
    async fit(series: readonly SeriesData[], ctx: FitContext): Promise<FittedModel> {
      const fitted: { s: SeriesData; q: ResidualQuantiles }[] = [];
      series.forEach((s, n) => {
        // Residuals of the rule replayed day-ahead on the last residualDays before the cut-off.
        const toMs = s.startMs + Math.max(0, Math.floor((ctx.dataCutoff - s.startMs) / H)) * H;
        const fromMs = Math.max(s.startMs, toMs - residualDays * DAY_MS);
        fitted.push({ s, q: naiveResiduals(s, ctx, { fromMs, toMs }, variant) });
        ctx.onProgress?.((n + 1) / series.length);
      });
      return {
        kind: 'naive',
        info: { variant, residualDays, series: fitted.map(({ s, q }) => ({ id: s.id, residuals: q.count })) },
        async predict(horizon: Horizon): Promise<QuantileRow[][]> {
          return fitted.map(({ s, q }) => {
            const f = buildFeatures(s, ctx, horizon);
            const rows: QuantileRow[] = new Array(f.rows);
            for (let r = 0; r < f.rows; r++) rows[r] = quantileRow(f.fromMs + r * H, naiveP50(f, r, variant), f.calendar.hour[r], f.calendar.dayType[r], q);
            return rows;
          });
        },
      };
    },
  };
}

function naiveResiduals(s: SeriesData, ctx: FitContext, range: { fromMs: number; toMs: number }, variant: 'd7' | 'mean-d7-d14'): ResidualQuantiles {
  const f = buildFeatures(s, ctx, range);
  const residual = new Float64Array(f.rows);
  for (let r = 0; r < f.rows; r++) residual[r] = f.y[r] - naiveP50(f, r, variant);
  return fitResidualQuantiles({ hour: f.calendar.hour, dayType: f.calendar.dayType, residual });
}
