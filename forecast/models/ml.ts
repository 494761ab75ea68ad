import type { FitContext, FittedModel, ForecastModel, Horizon, QuantileRow, SeriesData } from '../model.js';
import { tfReady } from '../tf-backend.js';
import { mlFeatureNames, MlSeriesIndex, writeMlFeatures } from './ml-features.js';
import { predictNetwork, QUANTILES, restoreNetwork, seededRandom, serializeWeights, trainNetwork, type Matrix, type NetworkTopology, type SerializedWeights } from './ml-network.js';

/**
 * The ML model (issue 5, "Models: ml"): one global MLP over all series given
 * to fit (e.g. the meters of a portfolio), each series divided by its own
 * recent level (mean of the 28 days before the cut-off) and multiplied back,
 * with a P10/P50/P90 pinball-loss head whose interval is then widened or
 * narrowed on the validation tail (conformalised quantile regression).
 *
 * Forecasts are direct, not recursive: every input of an hour `lead` hours
 * after the cut-off is known at the cut-off (same hour on the latest
 * available day and week, means before the cut-off, calendar, the weather
 * forecast), and training rows are built the same way with a pseudo cut-off
 * `lead` hours before each sampled hour, leads drawn from `leadHours`.
 */

export const ML_ARTEFACT_FORMAT = 'mdm-ml/1';
const HOUR = 3_600_000;

export interface MlModelOptions {
  /** Default 1. Same seed, same data → same weights and forecasts. */
  readonly seed?: number;
  /** Hidden layer widths (default [48, 24]). */
  readonly hidden?: readonly number[];
  /** Training rows sampled over all series (default 40 000). */
  readonly maxTrainingRows?: number;
  /** Days of history sampled before the cut-off (default 365). */
  readonly historyDays?: number;
  /** Least days of data a series needs before the cut-off (default 28). */
  readonly minHistoryDays?: number;
  /** Lead range trained, hours after the cut-off, [min, max] (default [0, 47]: intraday and day-ahead). */
  readonly leadHours?: readonly [number, number];
  readonly maxEpochs?: number;
  readonly patience?: number;
  readonly batchSize?: number;
  readonly learningRate?: number;
  /** Share of the most recent training rows held out for early stopping and interval calibration (default 0.15). */
  readonly validationShare?: number;
}

const DEFAULTS = {
  seed: 1,
  hidden: [48, 24] as readonly number[],
  maxTrainingRows: 40_000,
  historyDays: 365,
  minHistoryDays: 28,
  leadHours: [0, 47] as readonly [number, number],
  maxEpochs: 40,
  patience: 5,
  batchSize: 512,
  learningRate: 0.003,
  validationShare: 0.15,
};

/** A fitted ML model as stored (forecast_models.artefact): enough to forecast again without training. */
export interface MlArtefact {
  readonly format: typeof ML_ARTEFACT_FORMAT;
  readonly topology: NetworkTopology;
  readonly weights: SerializedWeights;
  /** Input columns in order (ml-features.ts). */
  readonly features: readonly string[];
  /** Input standardisation, per column: (x − mean) / std. */
  readonly scaler: { readonly mean: readonly number[]; readonly std: readonly number[] };
  /** Per-series scaling: values ÷ the mean of the `levelDays` days before the cut-off. */
  readonly levelDays: number;
  /** Added to P90 and taken from P10 (in level units) so the validation tail's P10–P90 covers 80 %. */
  readonly intervalAdjust: number;
  readonly leadHours: readonly [number, number];
  readonly country: string;
  readonly training: Readonly<Record<string, unknown>>;
}

export interface MlFittedModel extends FittedModel {
  /** Undefined when the fit fell back (info.fallback says why). */
  readonly artefact?: MlArtefact;
}

export interface MlForecastModel extends ForecastModel {
  fit(series: readonly SeriesData[], ctx: FitContext): Promise<MlFittedModel>;
}

/**
 * The ML model kind.
 * @example
 *   const fitted = await mlModel({ seed: 7 }).fit(meters, { issueTime, dataCutoff, country: 'TR' });
 *   if (fitted.info.fallback) … // too little history: use profile/naive
 *   const rows = await fitted.predict({ fromMs, toMs }); // rows[i] for meters[i]
 */
export function mlModel(options: MlModelOptions = {}): MlForecastModel {
  const o = { ...DEFAULTS, ...options };
  return { kind: 'ml', fit: (series, ctx) => fitMl(series, ctx, o) };
}

/**
 * A model that never trains: fit() re-anchors the stored artefact on the
 * given series and cut-off (the champion/challenger backtest and scheduled
 * forecasts with a promoted model).
 */
export function frozenMlModel(artefact: MlArtefact | Record<string, unknown>): MlForecastModel {
  return { kind: 'ml', fit: (series, ctx) => loadMlModel(artefact, series, ctx) };
}

/** Restores a stored artefact as a FittedModel forecasting `series` with data up to ctx.dataCutoff. */
export async function loadMlModel(artefact: MlArtefact | Record<string, unknown>, series: readonly SeriesData[], ctx: FitContext): Promise<MlFittedModel> {
  const a = checkArtefact(artefact);
  return fittedFrom(a, series, ctx, { ...a.training, restored: true });
}

function checkArtefact(artefact: MlArtefact | Record<string, unknown>): MlArtefact {
  const a = artefact as Partial<MlArtefact>;
  if (a.format !== ML_ARTEFACT_FORMAT) throw new Error(`ml artefact format ${JSON.stringify(a.format)} is not ${ML_ARTEFACT_FORMAT}: retrain the model`);
  const names = mlFeatureNames();
  if (!a.features || a.features.join(',') !== names.join(',')) throw new Error(`ml artefact features [${a.features?.join(', ')}] are not this version's [${names.join(', ')}]: retrain the model`);
  return a as MlArtefact;
}

type Options = typeof DEFAULTS;

async function fitMl(series: readonly SeriesData[], ctx: FitContext, o: Options): Promise<MlFittedModel> {
  const started = Date.now();
  const progress = ctx.onProgress ?? (() => {});
  const indexes = series.map((s) => new MlSeriesIndex(s, ctx.country));
  const cutoff = Math.floor(ctx.dataCutoff / HOUR) * HOUR;

  // Quality gates per series: enough history before the cut-off, not a flat line.
  const gates = indexes.map((ix) => ix.gate(cutoff, o.minHistoryDays));
  const usable = gates.map((g, i) => (g === undefined ? i : -1)).filter((i) => i >= 0);
  const seriesFallback = Object.fromEntries(gates.map((g, i) => [series[i].id, g]).filter(([, g]) => g !== undefined));
  const fallback = (reason: string): MlFittedModel => ({
    kind: 'ml',
    info: { fallback: reason, seriesFallback },
    predict: async (h) => series.map(() => nanRows(h)),
  });
  if (usable.length === 0) return fallback(`too little history: ${gates.find((g) => g) ?? 'no series'}`);

  // Training rows: sampled (series, hour, lead) triples, oldest first so the tail is the validation set.
  const random = seededRandom(o.seed);
  const names = mlFeatureNames();
  const cols = names.length;
  const perSeries = Math.max(1, Math.floor(o.maxTrainingRows / usable.length));
  const samples: { s: number; t: number; lead: number }[] = [];
  for (const s of usable) {
    const ix = indexes[s];
    const first = Math.max(ix.firstUsableMs(), cutoff - o.historyDays * 86_400_000);
    const hours = Math.floor((cutoff - first) / HOUR);
    if (hours <= 0) continue;
    let taken = 0;
    for (let k = 0; k < perSeries * 2 && taken < perSeries; k++) {
      const lead = o.leadHours[0] + Math.floor(random() * (o.leadHours[1] - o.leadHours[0] + 1));
      const t = first + Math.floor(random() * hours) * HOUR;
      if (t - lead * HOUR < first) continue;
      samples.push({ s, t, lead });
      taken++;
    }
  }
  samples.sort((a, b) => a.t - b.t || a.s - b.s);
  const x = new Float32Array(samples.length * cols);
  const y = new Float32Array(samples.length);
  let rows = 0;
  for (const { s, t, lead } of samples) {
    const target = indexes[s].scaledValue(t, t - lead * HOUR, DEFAULT_LEVEL_DAYS);
    if (!Number.isFinite(target)) continue;
    if (!writeMlFeatures(indexes[s], t, t - lead * HOUR, DEFAULT_LEVEL_DAYS, x, rows * cols)) continue;
    y[rows++] = target;
  }
  const validationRows = Math.floor(rows * o.validationShare);
  if (rows < 500 || validationRows < 50) return fallback(`too little history: ${rows} usable training rows (at least 500 needed)`);
  progress(0.05);

  const data = x.subarray(0, rows * cols);
  const scaler = standardise(data, rows, cols);
  const { backend } = await tfReady();
  const topology: NetworkTopology = { inputs: cols, hidden: o.hidden, activation: 'relu', quantiles: [...QUANTILES] };
  const matrix: Matrix = { data, rows, cols };
  const target = y.subarray(0, rows);
  const trained = await trainNetwork(matrix, target, validationRows, topology, {
    seed: o.seed,
    maxEpochs: o.maxEpochs,
    batchSize: o.batchSize,
    learningRate: o.learningRate,
    patience: o.patience,
    onEpoch: (e, n) => progress(0.05 + 0.9 * (e / n)),
  });
  const weights = serializeWeights(trained.model);
  // Conformal adjustment of the P10–P90 interval on the validation tail (time-ordered, not trained on).
  const valX: Matrix = { data: data.subarray((rows - validationRows) * cols), rows: validationRows, cols };
  const valPred = predictNetwork(trained.model, valX);
  trained.model.dispose();
  const intervalAdjust = conformalAdjust(valPred, target.subarray(rows - validationRows), 0.8);

  const artefact: MlArtefact = {
    format: ML_ARTEFACT_FORMAT,
    topology,
    weights,
    features: names,
    scaler,
    levelDays: DEFAULT_LEVEL_DAYS,
    intervalAdjust,
    leadHours: o.leadHours,
    country: ctx.country,
    training: {
      backend,
      seed: o.seed,
      series: series.length,
      seriesUsed: usable.length,
      rows,
      validationRows,
      epochs: trained.epochs,
      bestEpoch: trained.bestEpoch,
      trainLoss: trained.trainLoss,
      validationLoss: trained.validationLoss,
      dataCutoff: cutoff,
      trainSeconds: (Date.now() - started) / 1000,
    },
  };
  progress(1);
  return fittedFrom(artefact, series, ctx, { ...artefact.training, seriesFallback }, indexes);
}

const DEFAULT_LEVEL_DAYS = 28;

async function fittedFrom(a: MlArtefact, series: readonly SeriesData[], ctx: FitContext, info: Record<string, unknown>, indexes?: MlSeriesIndex[]): Promise<MlFittedModel> {
  const ix = indexes ?? series.map((s) => new MlSeriesIndex(s, ctx.country));
  const cutoff = Math.floor(ctx.dataCutoff / HOUR) * HOUR;
  const fitted: MlFittedModel = {
    kind: 'ml',
    info: { ...info, model: 'global MLP, pinball P10/P50/P90', features: a.features.length, hidden: a.topology.hidden },
    artefact: a,
    predict: (h) => predictMl(a, ix, cutoff, h),
    update: async (newer, newCtx) => fittedFrom(a, newer, newCtx, info),
  };
  return fitted;
}

async function predictMl(a: MlArtefact, indexes: readonly MlSeriesIndex[], cutoff: number, h: Horizon): Promise<QuantileRow[][]> {
  const cols = a.features.length;
  const hours: number[] = [];
  for (let t = Math.ceil(h.fromMs / HOUR) * HOUR; t < h.toMs; t += HOUR) hours.push(t);
  const x = new Float32Array(indexes.length * hours.length * cols);
  const level = new Float64Array(indexes.length * hours.length);
  let r = 0;
  for (const ix of indexes) {
    for (const t of hours) {
      // Hours before the cut-off (an intraday horizon starting earlier) are forecast as known one hour before them.
      const ok = writeMlFeatures(ix, t, Math.min(cutoff, t), a.levelDays, x, r * cols);
      level[r] = ok ? ix.level(Math.min(cutoff, t), a.levelDays) : NaN;
      r++;
    }
  }
  for (let i = 0; i < r; i++) {
    for (let c = 0; c < cols; c++) x[i * cols + c] = (x[i * cols + c] - a.scaler.mean[c]) / a.scaler.std[c];
  }
  const model = await restoreNetwork(a.topology, a.weights);
  let out: Float32Array;
  try {
    out = predictNetwork(model, { data: x, rows: r, cols });
  } finally {
    model.dispose();
  }
  const q = a.topology.quantiles.length;
  const result: QuantileRow[][] = [];
  r = 0;
  for (let s = 0; s < indexes.length; s++) {
    const rowsOf: QuantileRow[] = [];
    for (const t of hours) {
      const L = level[r];
      const p10 = (out[r * q] - a.intervalAdjust) * L;
      const p50 = out[r * q + 1] * L;
      const p90 = (out[r * q + 2] + a.intervalAdjust) * L;
      rowsOf.push({ start: t, p10: Math.min(p10, p50), p50, p90: Math.max(p90, p50) });
      r++;
    }
    result.push(rowsOf);
  }
  return result;
}

function nanRows(h: Horizon): QuantileRow[] {
  const rows: QuantileRow[] = [];
  for (let t = Math.ceil(h.fromMs / HOUR) * HOUR; t < h.toMs; t += HOUR) rows.push({ start: t, p10: NaN, p50: NaN, p90: NaN });
  return rows;
}

/** Standardises the columns of `data` in place; returns the scaler (std 1 for constant columns). */
function standardise(data: Float32Array, rows: number, cols: number): { mean: number[]; std: number[] } {
  const mean = new Array<number>(cols).fill(0);
  const sq = new Array<number>(cols).fill(0);
  for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) mean[c] += data[i * cols + c];
  for (let c = 0; c < cols; c++) mean[c] /= rows;
  for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) sq[c] += (data[i * cols + c] - mean[c]) ** 2;
  const std = sq.map((s) => Math.sqrt(s / rows) || 1);
  for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) data[i * cols + c] = (data[i * cols + c] - mean[c]) / std[c];
  return { mean, std };
}

/**
 * Conformalised quantile regression: the amount by which to widen (or, when
 * negative, narrow) [P10, P90] so `coverage` of the validation rows fall
 * inside — the ⌈(n+1)·coverage⌉-th smallest of max(P10 − y, y − P90).
 */
export function conformalAdjust(pred: Float32Array, y: ArrayLike<number>, coverage: number): number {
  const n = y.length;
  const scores = new Float64Array(n);
  for (let i = 0; i < n; i++) scores[i] = Math.max(pred[i * 3] - y[i], y[i] - pred[i * 3 + 2]);
  scores.sort();
  return scores[Math.min(n - 1, Math.ceil((n + 1) * coverage) - 1)];
}
