import { combineMetrics, evaluate, type ForecastMetrics, type QuantileValues } from '../metrics.js';
import type { FitContext, FittedModel, ForecastModel, Horizon, QuantileRow, SeriesData } from '../model.js';
import { HOUR_MS } from '../../models/time.js';

/**
 * Ensemble of forecast models (issue 5, model 4): a weighted average of the
 * members' forecasts, weights from backtest error.
 *
 * - Weights ∝ 1 / WAPE^power of each member over a recent backtest (the
 *   engine's short backtest passes them in `weights`; the backtest computes
 *   them from the member forecasts of earlier origins). Without given
 *   weights, fit holds the last `holdoutDays` days back, fits the members
 *   before them, scores their forecasts of those days, then refits on all data.
 * - Quantiles are combined by averaging each quantile with the same weights
 *   (quantile averaging, "Vincentization"): P10 = Σ wᵢ·P10ᵢ, and so on. It
 *   keeps the band about as wide as the members' bands rather than widening
 *   it the way mixing the members' distributions would; the backtest's
 *   P10–P90 coverage says whether that is calibrated.
 * - An hour a member has no forecast for (NaN) is combined from the others,
 *   weights renormalised.
 */

/**
 * Default power of the inverse-error weights: 2 (∝ 1/WAPE², close to
 * inverse-MSE weighting), so a member clearly worse over the window counts
 * for little. Chosen on the Cambridge Σ portfolio over Mar–Dec 2018 (ensemble
 * median month skill 27.2 % with 1, 31.9 % with 2), not on the benchmark year.
 */
export const ENSEMBLE_POWER = 2;

/**
 * Weights ∝ 1/error^power (default ENSEMBLE_POWER), normalised to sum 1. Unknown errors (NaN) get no
 * weight; all unknown → equal weights; a zero error takes all the weight.
 * @example inverseErrorWeights([0.1, 0.2], 1) // [2/3, 1/3]
 */
export function inverseErrorWeights(errors: readonly number[], power = ENSEMBLE_POWER): number[] {
  if (errors.length === 0) return [];
  const zero = errors.map((e) => e === 0);
  if (zero.some(Boolean)) {
    const n = zero.filter(Boolean).length;
    return zero.map((z) => (z ? 1 / n : 0));
  }
  const raw = errors.map((e) => (Number.isFinite(e) && e > 0 ? 1 / e ** power : 0));
  const sum = raw.reduce((a, b) => a + b, 0);
  return sum > 0 ? raw.map((r) => r / sum) : errors.map(() => 1 / errors.length);
}

/** Weighted quantile average of one hour's member forecasts (NaN members left out, weights renormalised). */
export function combineQuantiles(rows: readonly QuantileValues[], weights: readonly number[]): QuantileValues {
  let w = 0,
    p10 = 0,
    p50 = 0,
    p90 = 0;
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    if (!(weights[i] > 0) || !Number.isFinite(r.p50) || !Number.isFinite(r.p10) || !Number.isFinite(r.p90)) continue;
    w += weights[i];
    p10 += weights[i] * r.p10;
    p50 += weights[i] * r.p50;
    p90 += weights[i] * r.p90;
  }
  if (w === 0) return { p10: Number.NaN, p50: Number.NaN, p90: Number.NaN };
  return { p10: p10 / w, p50: p50 / w, p90: p90 / w };
}

export interface EnsembleOptions {
  /** Weights by member (same order), e.g. from the engine's backtest; normalised. Absent: holdout. */
  readonly weights?: readonly number[];
  /** Member labels for info (default their kinds). */
  readonly names?: readonly string[];
  /** Days held back to score the members when no weights are given; default 7. */
  readonly holdoutDays?: number;
  /** Weight ∝ 1/WAPE^power; default ENSEMBLE_POWER. */
  readonly power?: number;
}

/** Copies of the series with values at or after `cutoff` set to NaN. */
function maskAfter(series: readonly SeriesData[], cutoff: number): SeriesData[] {
  return series.map((s) => {
    const values = Float64Array.from(s.values);
    const from = Math.max(0, Math.ceil((cutoff - s.startMs) / HOUR_MS));
    values.fill(Number.NaN, Math.min(from, values.length));
    return { ...s, values };
  });
}

function combineAll(memberRows: readonly QuantileRow[][][], weights: readonly number[], seriesCount: number): QuantileRow[][] {
  const out: QuantileRow[][] = [];
  for (let j = 0; j < seriesCount; j++) {
    const byStart = new Map<number, QuantileValues[]>();
    memberRows.forEach((rows, m) => {
      for (const r of rows[j] ?? []) {
        let list = byStart.get(r.start);
        if (!list) byStart.set(r.start, (list = memberRows.map(() => ({ p10: Number.NaN, p50: Number.NaN, p90: Number.NaN }))));
        list[m] = r;
      }
    });
    out.push([...byStart].sort((a, b) => a[0] - b[0]).map(([start, rows]) => ({ start, ...combineQuantiles(rows, weights) })));
  }
  return out;
}

class FittedEnsemble implements FittedModel {
  readonly kind = 'ensemble' as const;
  constructor(
    private readonly members: readonly FittedModel[],
    private readonly memberModels: readonly ForecastModel[],
    readonly weights: readonly number[],
    readonly info: Readonly<Record<string, unknown>>,
  ) {}

  async predict(horizon: Horizon): Promise<QuantileRow[][]> {
    const rows = await Promise.all(this.members.map((m) => m.predict(horizon)));
    return combineAll(rows, this.weights, Math.max(0, ...rows.map((r) => r.length)));
  }

  async update(series: readonly SeriesData[], ctx: FitContext): Promise<FittedModel> {
    const members: FittedModel[] = [];
    for (let i = 0; i < this.members.length; i++) {
      const m = this.members[i];
      members.push(m.update ? await m.update(series, ctx) : await this.memberModels[i].fit(series, ctx));
    }
    return new FittedEnsemble(members, this.memberModels, this.weights, this.info);
  }
}

/**
 * An ensemble of `members` (kind 'ensemble').
 * @example
 * const e = ensembleModel([profileModel(), mlModel()], { weights: [0.4, 0.6], names: ['profile', 'ml'] });
 * const rows = await (await e.fit(series, ctx)).predict(window);
 */
export function ensembleModel(members: readonly ForecastModel[], opts: EnsembleOptions = {}): ForecastModel {
  if (members.length === 0) throw new Error('ensembleModel: no members');
  if (opts.weights && opts.weights.length !== members.length) {
    throw new Error(`ensembleModel: ${opts.weights.length} weights for ${members.length} members`);
  }
  const names = opts.names ?? members.map((m) => m.kind);
  return {
    kind: 'ensemble',
    async fit(series, ctx) {
      let weights: number[];
      let how: string;
      let holdoutWape: number[] | undefined;
      if (opts.weights) {
        const sum = opts.weights.reduce((a, b) => a + Math.max(0, b), 0);
        weights = sum > 0 ? opts.weights.map((w) => Math.max(0, w) / sum) : members.map(() => 1 / members.length);
        how = 'given (engine backtest)';
      } else {
        const holdoutMs = (opts.holdoutDays ?? 7) * 24 * HOUR_MS;
        const start = ctx.dataCutoff - holdoutMs;
        const masked = maskAfter(series, start);
        const hctx: FitContext = { issueTime: start, dataCutoff: start, country: ctx.country };
        holdoutWape = [];
        for (const m of members) {
          const rows = await (await m.fit(masked, hctx)).predict({ fromMs: start, toMs: ctx.dataCutoff });
          const parts: ForecastMetrics[] = series.map((s, j) => {
            const rs = rows[j] ?? [];
            const actual = rs.map((r) => {
              const i = (r.start - s.startMs) / HOUR_MS;
              return r.start < ctx.dataCutoff && i >= 0 && i < s.values.length ? s.values[i] : Number.NaN;
            });
            return evaluate(actual, rs);
          });
          holdoutWape.push(combineMetrics(parts).wape);
        }
        weights = inverseErrorWeights(holdoutWape, opts.power ?? ENSEMBLE_POWER);
        how = `holdout of the last ${opts.holdoutDays ?? 7} days (inverse WAPE)`;
      }
      const fitted: FittedModel[] = [];
      for (let i = 0; i < members.length; i++) {
        fitted.push(await members[i].fit(series, { ...ctx, onProgress: ctx.onProgress && ((f) => ctx.onProgress!((i + f) / members.length)) }));
      }
      const info = {
        members: names,
        weights: Object.fromEntries(names.map((n, i) => [n, weights[i]])),
        weighting: how,
        ...(holdoutWape ? { holdoutWape: Object.fromEntries(names.map((n, i) => [n, holdoutWape![i]])) } : {}),
        memberInfo: Object.fromEntries(names.map((n, i) => [n, fitted[i].info])),
      };
      return new FittedEnsemble(fitted, members, weights, info);
    },
  };
}
