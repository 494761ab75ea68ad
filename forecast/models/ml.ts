import { createHash } from 'node:crypto';
import { localMinuteOfDay } from '../../models/calendar.js';
import { dayAheadGapMs, featureMatrix, MATRIX_COLUMNS, type MatrixColumn } from '../features.js';
import type { FitContext, FittedModel, ForecastModel, Horizon, QuantileRow, SeriesData } from '../model.js';
import { tfReady } from '../tf-backend.js';
import { predictNetwork, QUANTILES, restoreNetwork, serializeWeights, trainNetwork, type NetworkTopology, type SerializedWeights } from './ml-network.js';
import { seededRandom } from '../../models/random.js';
import { DAY_MS, HOUR_MS } from '../../models/time.js';

/**
 * The ML model (issue 5, "Models: ml"): one global MLP over all series given
 * to fit (e.g. the meters of a portfolio), each series divided by its own
 * recent level (mean of the 28 days before the cut-off) and multiplied back,
 * with a P10/P50/P90 pinball-loss head whose interval is then widened or
 * narrowed on the validation tail (conformalised quantile regression).
 *
 * Forecasts are direct, not recursive: the inputs are forecast/features.ts
 * featureMatrix columns (calendar, holidays, temperature and degree hours,
 * same-hour lags and rolling means), each row seeing only what is known at
 * its emulated cut-off — for a training row the same distance before its
 * local day as the forecast's cut-off is before the forecast day (day-ahead:
 * 10:00 on the day before), for a horizon row the data cut-off itself.
 */

export const ML_ARTEFACT_FORMAT = 'mdm-ml/1';
/** Day-kind inputs: a forecast hour whose flag is set where training never had it set is left empty (predictMl). */
const UNSEEN_DAY_COLUMNS: ReadonlySet<string> = new Set(['holiday', 'religious', 'bridge', 'eve', 'eveAfternoon']);
const LEVEL_DAYS = 28;

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
  readonly maxEpochs?: number;
  /**
   * Training time budget (s), default 20: training stops after the epoch that
   * passes it, keeping the best epoch (info.stoppedBy says so). Runs that hit
   * it depend on the machine's speed; set Infinity for reproducible weights.
   */
  readonly maxTrainSeconds?: number;
  readonly patience?: number;
  /** Default 0: about 100 steps per epoch (a power of two between 64 and 1 024 rows). */
  readonly batchSize?: number;
  readonly learningRate?: number;
  /** Share of the most recent training rows held out for early stopping and interval calibration (default 0.15). */
  readonly validationShare?: number;
  /** featureMatrix input columns (default ML_COLUMNS). */
  readonly columns?: readonly MatrixColumn[];
  /** Also the local hour one-hot (`hour00` … `hour23`; default true): sharp on/off shapes the two hour harmonics smooth over. */
  readonly hourOneHot?: boolean;
  /**
   * Networks trained earlier on the same rows with the same options (trainingMemo), reused instead of
   * training again: the same weights, as training is deterministic. Default none (every fit trains).
   */
  readonly trainings?: TrainingMemo;
}

/** The local-hour one-hot inputs the ML model adds to the featureMatrix columns. */
export const HOUR_COLUMNS: readonly string[] = Array.from({ length: 24 }, (_, h) => `hour${String(h).padStart(2, '0')}`);

/**
 * The default inputs: every featureMatrix column but day of year (with less
 * than a year of history its sin/cos lie outside the training range in the
 * forecast, and the lags and the level already carry the season).
 */
export const ML_COLUMNS: readonly MatrixColumn[] = MATRIX_COLUMNS.filter((c) => c !== 'doySin' && c !== 'doyCos');

const DEFAULTS = {
  seed: 1,
  hidden: [48, 24] as readonly number[],
  maxTrainingRows: 40_000,
  historyDays: 365,
  minHistoryDays: 28,
  maxEpochs: 40,
  maxTrainSeconds: 20,
  patience: 5,
  batchSize: 0,
  learningRate: 0.01,
  validationShare: 0.15,
  columns: ML_COLUMNS,
  hourOneHot: true,
};

/** The trained network of a fit: everything of the artefact that training decides. */
type TrainedNet = Awaited<ReturnType<typeof trainCalibrated>>;

/**
 * Trained networks by their training rows and options, the last `size` kept
 * (a forecast thread keeps one: a target's ml, ensemble and auto runs and a
 * retrain of one cut-off train each network once). Training is deterministic
 * (seeded), so a reused network is the one training would give again, unless
 * the time budget (`maxTrainSeconds`) cut the first training short.
 */
export interface TrainingMemo {
  /** The network of `key`, trained by `train` when not kept (a failed training is not kept). */
  get(key: string, train: () => Promise<TrainedNet>): Promise<{ net: TrainedNet; reused: boolean }>;
}

export function trainingMemo(size = 8): TrainingMemo {
  const kept = new Map<string, Promise<TrainedNet>>();
  return {
    async get(key, train) {
      const hit = kept.get(key);
      if (hit) {
        kept.delete(key);
        kept.set(key, hit);
        return { net: await hit, reused: true };
      }
      const p = train();
      kept.set(key, p);
      if (kept.size > size) kept.delete(kept.keys().next().value!);
      try {
        return { net: await p, reused: false };
      } catch (err) {
        if (kept.get(key) === p) kept.delete(key);
        throw err;
      }
    },
  };
}

/** What decides a training: the rows (before standardising), the validation tail and the training options. */
function trainingKey(set: TrainingSet, validationRows: number, o: Options): string {
  const h = createHash('sha256');
  h.update(JSON.stringify([set.rows, set.cols, validationRows, o.seed, o.hidden, o.maxEpochs, o.maxTrainSeconds, o.patience, o.batchSize, o.learningRate]));
  h.update(new Uint8Array(set.data.buffer, set.data.byteOffset, set.data.byteLength));
  h.update(new Uint8Array(set.target.buffer, set.target.byteOffset, set.target.byteLength));
  return h.digest('hex');
}

/** A fitted ML model as stored (forecast_models.artefact): enough to forecast again without training. */
export interface MlArtefact {
  readonly format: typeof ML_ARTEFACT_FORMAT;
  readonly topology: NetworkTopology;
  readonly weights: SerializedWeights;
  /** Input columns in order: forecast/features.ts featureMatrix names, then HOUR_COLUMNS when used. */
  readonly features: readonly string[];
  /**
   * Input standardisation, per column: (x − mean) / std; `constant`: the
   * columns that never varied in training (absent in older artefacts).
   */
  readonly scaler: { readonly mean: readonly number[]; readonly std: readonly number[]; readonly constant?: readonly number[] };
  /** Per-series scaling: values ÷ the mean of the `levelDays` days before the cut-off. */
  readonly levelDays: number;
  /** Added to P90 and taken from P10 (in level units) so the validation tail's P10–P90 covers 80 %. */
  readonly intervalAdjust: number;
  /** Holiday country the model was trained with (null: none). */
  readonly country: string | null;
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
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o: Options = { ...DEFAULTS, ...given };
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
  const known = [...MATRIX_COLUMNS, ...HOUR_COLUMNS];
  const unknown = (a.features ?? []).filter((f) => !known.includes(f));
  if (!a.features?.length || unknown.length) throw new Error(`ml artefact features [${unknown.join(', ')}] are not known to this version (${known.join(', ')}): retrain the model`);
  const hours = a.features.filter((f) => HOUR_COLUMNS.includes(f));
  if (hours.length && (hours.length !== 24 || a.features.slice(-24).join() !== HOUR_COLUMNS.join())) throw new Error('ml artefact: the hour one-hot columns must be the last 24: retrain the model');
  if (a.scaler?.mean.length !== a.features.length || a.topology?.inputs !== a.features.length) throw new Error('ml artefact: scaler, topology and features disagree in size');
  return a as MlArtefact;
}

type Options = typeof DEFAULTS & { readonly trainings?: TrainingMemo };

/** Per-series scaling: the mean of the known values in the `days` days before `cutoff` (≥ 24 of them), NaN when not positive. */
export function seriesLevel(s: SeriesData, cutoff: number, days = LEVEL_DAYS): number {
  const to = Math.min(s.values.length, Math.floor((cutoff - s.startMs) / HOUR_MS));
  let sum = 0;
  let n = 0;
  for (let i = Math.max(0, to - days * 24); i < to; i++) {
    const v = s.values[i];
    if (v === v) {
      sum += v;
      n++;
    }
  }
  return n >= 24 && sum / n > 0 ? sum / n : NaN;
}

/** Why series `s` cannot be modelled at `cutoff` (the quality gate), or undefined when it can. */
export function mlGate(s: SeriesData, cutoff: number, minDays: number): string | undefined {
  const to = Math.min(s.values.length, Math.floor((cutoff - s.startMs) / HOUR_MS));
  const from = to - minDays * 24;
  if (from < 0) return `${s.id}: ${Math.max(0, Math.floor(to / 24))} days of history before the cut-off (at least ${minDays} needed)`;
  let n = 0;
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  for (let i = from; i < to; i++) {
    const v = s.values[i];
    if (v !== v) continue;
    n++;
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const need = Math.ceil(minDays * 24 * 0.8);
  if (n < need) return `${s.id}: ${n} of the ${minDays * 24} hours before the cut-off have values (at least ${need} needed: too many gaps)`;
  if (!(sum / n > 0)) return `${s.id}: mean of the last ${minDays} days is not positive`;
  if (max - min <= 1e-9 * Math.abs(max)) return `${s.id}: flat line over the last ${minDays} days (${min})`;
  return undefined;
}

async function fitMl(series: readonly SeriesData[], ctx: FitContext, o: Options): Promise<MlFittedModel> {
  const started = Date.now();
  const progress = ctx.onProgress ?? (() => {});
  const cutoff = Math.floor(ctx.dataCutoff / HOUR_MS) * HOUR_MS;

  const { gates, usable, seriesFallback } = gateSeries(series, cutoff, o.minHistoryDays);
  if (usable.length === 0) return fallbackModel(series, `too little history: ${gates.find((g) => g) ?? 'no series'}`, seriesFallback);

  const features = [...o.columns, ...(o.hourOneHot ? HOUR_COLUMNS : [])];
  const set = trainingSet(chunkMatrices(series, trainingChunks(series, usable, cutoff, o), cutoff, ctx, o.columns), o.columns.length, features.length, o.hourOneHot);
  const validationRows = Math.floor(set.rows * o.validationShare);
  if (set.rows < 500 || validationRows < 50) return fallbackModel(series, `too little history: ${set.rows} usable training rows (at least 500 needed)`, seriesFallback);
  progress(0.05);

  const train = () => trainCalibrated(set, validationRows, o, progress);
  const { net, reused } = o.trainings ? await o.trainings.get(trainingKey(set, validationRows, o), train) : { net: await train(), reused: false };
  const artefact: MlArtefact = {
    format: ML_ARTEFACT_FORMAT,
    topology: net.topology,
    weights: net.weights,
    features,
    scaler: net.scaler,
    levelDays: LEVEL_DAYS,
    intervalAdjust: net.intervalAdjust,
    country: ctx.country,
    training: {
      backend: net.backend,
      seed: o.seed,
      batchSize: net.batchSize,
      series: series.length,
      seriesUsed: usable.length,
      rows: set.rows,
      validationRows,
      epochs: net.epochs,
      stoppedBy: net.stoppedBy,
      bestEpoch: net.bestEpoch,
      trainLoss: net.trainLoss,
      validationLoss: net.validationLoss,
      intervalAdjust: net.intervalAdjust,
      dataCutoff: new Date(cutoff).toISOString(),
      trainSeconds: (Date.now() - started) / 1000,
      ...(reused ? { reused: true } : {}),
    },
  };
  progress(1);
  return fittedFrom(artefact, series, ctx, { ...artefact.training, seriesFallback });
}

/** The quality gate of every series: why each one cannot be modelled (undefined when it can), the usable ones' indexes, and the reasons by series id. */
function gateSeries(series: readonly SeriesData[], cutoff: number, minHistoryDays: number) {
  const gates = series.map((s) => mlGate(s, cutoff, minHistoryDays));
  const usable = gates.map((g, i) => (g === undefined ? i : -1)).filter((i) => i >= 0);
  const seriesFallback = Object.fromEntries(gates.flatMap((g, i) => (g === undefined ? [] : [[series[i].id, g]])));
  return { gates, usable, seriesFallback };
}

/** The model of a fit that did not train: info.fallback says why, every forecast is NaN (the engine falls back to profile/naive). */
function fallbackModel(series: readonly SeriesData[], reason: string, seriesFallback: Record<string, string>): MlFittedModel {
  return {
    kind: 'ml',
    info: { fallback: reason, seriesFallback },
    predict: async (h) => series.map(() => nanRows(h)),
  };
}

/** A training chunk: the 24 h [cutoff − (c+1) days, cutoff − c days) of series i. */
interface TrainingChunk {
  readonly c: number;
  readonly i: number;
}

/**
 * Training rows: 24 h chunks [cutoff − (c+1) days, cutoff − c days) of each series' history,
 * sampled when there are more than its share of maxTrainingRows (a global model over 1 000
 * meters sees a few days of each). Ordered day by day (c, then series), so that chunks are
 * built over windowed views and every series on the same grid shares one calendar.
 */
function trainingChunks(series: readonly SeriesData[], usable: readonly number[], cutoff: number, o: Options): TrainingChunk[] {
  const random = seededRandom(o.seed);
  const perSeries = Math.max(24, Math.floor(o.maxTrainingRows / usable.length));
  const work: TrainingChunk[] = [];
  for (const i of usable) {
    const s = series[i];
    const first = Math.max(s.startMs + 15 * DAY_MS, cutoff - o.historyDays * DAY_MS);
    const chunks = Math.floor((cutoff - first) / DAY_MS);
    if (chunks <= 0) continue;
    const take = Math.min(chunks, Math.max(1, Math.floor(perSeries / 24)));
    for (const c of take === chunks ? Array.from({ length: chunks }, (_, k) => k) : sampleDistinct(chunks, take, random)) work.push({ c, i });
  }
  work.sort((x, y) => x.c - y.c || x.i - y.i);
  return work;
}

/** One chunk's known-target rows as featureMatrix gives them (scaled by the series' level), their hours and zone. */
interface ChunkMatrix {
  readonly X: Float32Array;
  readonly y: Float32Array;
  readonly starts: Float64Array;
  readonly rows: number;
  readonly tz: string;
}

/** The feature matrices of the chunks; a chunk without a level or without known targets gives none. */
function chunkMatrices(series: readonly SeriesData[], work: readonly TrainingChunk[], cutoff: number, ctx: FitContext, columns: readonly MatrixColumn[]): ChunkMatrix[] {
  const parts: ChunkMatrix[] = [];
  for (const { c, i } of work) {
    const s = series[i];
    const from = cutoff - (c + 1) * DAY_MS;
    // Rolling per-series scaling: the level as known before every row of the chunk (their cut-offs are ≥ from − 1 day − gap).
    const level = seriesLevel(s, from - DAY_MS - dayAheadGapMs(s, ctx));
    if (!Number.isFinite(level)) continue;
    const m = featureMatrix(windowOf(s, from, from + DAY_MS), ctx, { fromMs: from, toMs: from + DAY_MS }, { scale: level, onlyKnownY: true, columns });
    if (m.rows === 0) continue;
    parts.push({ X: m.X, y: m.y, starts: m.rowStarts, rows: m.rows, tz: s.timezone });
  }
  return parts;
}

/** Training inputs and targets, row-major `rows × cols`. */
interface TrainingSet {
  readonly data: Float32Array;
  readonly target: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

/**
 * The chunks' rows in one matrix ordered by time (then chunk), so that the tail is the
 * validation set: the `matrixCols` featureMatrix columns, then the local hour one-hot when asked.
 */
function trainingSet(parts: readonly ChunkMatrix[], matrixCols: number, cols: number, hourOneHot: boolean): TrainingSet {
  let rows = 0;
  const order: { p: number; r: number; t: number }[] = [];
  parts.forEach((part, p) => {
    rows += part.rows;
    for (let r = 0; r < part.rows; r++) order.push({ p, r, t: part.starts[r] });
  });
  order.sort((x, y) => x.t - y.t || x.p - y.p);
  const data = new Float32Array(rows * cols);
  const target = new Float32Array(rows);
  order.forEach(({ p, r, t }, k) => {
    data.set(parts[p].X.subarray(r * matrixCols, (r + 1) * matrixCols), k * cols);
    if (hourOneHot) data[k * cols + matrixCols + localHour(t, parts[p].tz)] = 1;
    target[k] = parts[p].y[r];
  });
  return { data, target, rows, cols };
}

/**
 * Standardises the inputs (in place), trains the network on all but the last
 * `validationRows` rows and widens or narrows its P10–P90 interval so that it
 * covers 80 % of the validation tail (conformal adjustment; the tail is
 * time-ordered and not trained on). Progress runs from 0.05 to 0.95.
 */
async function trainCalibrated(set: TrainingSet, validationRows: number, o: Options, progress: (share: number) => void) {
  const { data, target, rows, cols } = set;
  const scaler = standardise(data, rows, cols);
  const { backend } = await tfReady();
  const topology: NetworkTopology = { inputs: cols, hidden: o.hidden, activation: 'relu', quantiles: [...QUANTILES] };
  const batchSize = o.batchSize || autoBatchSize(rows - validationRows);
  const trained = await trainNetwork({ data, rows, cols }, target, validationRows, topology, {
    seed: o.seed,
    maxEpochs: o.maxEpochs,
    batchSize,
    learningRate: o.learningRate,
    patience: o.patience,
    maxSeconds: o.maxTrainSeconds,
    onEpoch: (e, n) => progress(0.05 + 0.9 * (e / n)),
  });
  let weights: SerializedWeights;
  let valPred: Float32Array;
  try {
    weights = serializeWeights(trained.model);
    valPred = predictNetwork(trained.model, { data: data.subarray((rows - validationRows) * cols), rows: validationRows, cols });
  } finally {
    trained.model.dispose();
  }
  const intervalAdjust = conformalAdjust(valPred, target.subarray(rows - validationRows), 0.8);
  const { epochs, stoppedBy, bestEpoch, trainLoss, validationLoss } = trained;
  return { scaler, backend, topology, batchSize, weights, intervalAdjust, epochs, stoppedBy, bestEpoch, trainLoss, validationLoss };
}

/** Local wall-clock hour 0–23 of instant `t` in `tz`. */
function localHour(t: number, tz: string): number {
  return Math.floor(localMinuteOfDay(t, tz) / 60);
}

/** Longest look-back of a feature row: lastWeek/prevWeek up to 8 weeks, mean168 a week before the cut-off, the level 28 days. */
const LOOKBACK_MS = 64 * DAY_MS;

/** A view (no copy) of `s` on its own grid covering [fromMs − LOOKBACK_MS, toMs): what featureMatrix reads for rows in [fromMs, toMs). */
function windowOf(s: SeriesData, fromMs: number, toMs: number): SeriesData {
  const a = Math.max(0, Math.floor((fromMs - LOOKBACK_MS - s.startMs) / HOUR_MS));
  const b = Math.max(a, Math.ceil((toMs - s.startMs) / HOUR_MS));
  return {
    id: s.id,
    timezone: s.timezone,
    startMs: s.startMs + a * HOUR_MS,
    values: s.values.subarray(a, Math.min(b, s.values.length)),
    estimated: s.estimated?.subarray(a, Math.min(b, s.estimated.length)),
    temperature: s.temperature?.subarray(a, Math.min(b, s.temperature.length)),
  };
}

/** A power of two between 64 and 1 024 giving about 100 steps per epoch: small sets get many updates, large ones fast epochs. */
export function autoBatchSize(rows: number): number {
  return Math.min(1024, Math.max(64, 2 ** Math.round(Math.log2(Math.max(1, rows) / 100))));
}

/** `k` distinct integers of [0, n), seeded (partial Fisher–Yates). */
function sampleDistinct(n: number, k: number, random: () => number): number[] {
  const a = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (n - i));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a.slice(0, k).sort((x, y) => x - y);
}

function fittedFrom(a: MlArtefact, series: readonly SeriesData[], ctx: FitContext, info: Record<string, unknown>): MlFittedModel {
  const gates = series.map((s) => mlGate(s, ctx.dataCutoff, 7));
  return {
    kind: 'ml',
    info: { ...info, model: 'global MLP, pinball P10/P50/P90 + conformal interval', features: a.features.length, hidden: a.topology.hidden },
    artefact: a,
    predict: (h) => predictMl(a, series, ctx, gates, h),
    update: async (newer, newCtx) => fittedFrom(a, newer, newCtx, info),
  };
}

/**
 * Forecast rows of every series for horizon `h` in one batch. A series that
 * fails the gate at this cut-off (fewer than 7 days, gaps, flat) gets NaN rows.
 */
async function predictMl(a: MlArtefact, series: readonly SeriesData[], ctx: FitContext, gates: readonly (string | undefined)[], h: Horizon): Promise<QuantileRow[][]> {
  const cols = a.features.length;
  const matrixColumns = a.features.filter((f): f is MatrixColumn => (MATRIX_COLUMNS as readonly string[]).includes(f));
  const mc = matrixColumns.length;
  const hourOneHot = mc < cols;
  const fromMs = Math.ceil(h.fromMs / HOUR_MS) * HOUR_MS;
  const hours = Math.max(0, Math.ceil((h.toMs - fromMs) / HOUR_MS));
  const x = new Float32Array(series.length * hours * cols);
  const levels = series.map((s, i) => (gates[i] === undefined ? seriesLevel(s, ctx.dataCutoff, a.levelDays) : NaN));
  series.forEach((s, i) => {
    if (!Number.isFinite(levels[i]) || fromMs < s.startMs) return;
    const m = featureMatrix(windowOf(s, fromMs, fromMs + hours * HOUR_MS), ctx, { fromMs, toMs: fromMs + hours * HOUR_MS }, { scale: levels[i], columns: matrixColumns });
    for (let k = 0; k < hours; k++) {
      const r = i * hours + k;
      x.set(m.X.subarray(k * mc, (k + 1) * mc), r * cols);
      if (hourOneHot) x[r * cols + mc + localHour(m.rowStarts[k], s.timezone)] = 1;
    }
  });
  const rows = series.length * hours;
  // A day kind the training rows never had (the first bayram in the history): the network never
  // learnt what its flag does, so ml leaves those hours empty (NaN) rather than guess; the ensemble
  // takes its other members there, a run fills them from naive.
  const unseen = (a.scaler.constant ?? []).filter((c) => UNSEEN_DAY_COLUMNS.has(a.features[c]));
  const outOfDomain = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    for (const c of unseen) if (x[r * cols + c] !== a.scaler.mean[c]) outOfDomain[r] = 1;
    for (let c = 0; c < cols; c++) x[r * cols + c] = (x[r * cols + c] - a.scaler.mean[c]) / a.scaler.std[c];
  }
  const model = await restoreNetwork(a.topology, a.weights);
  let out: Float32Array;
  try {
    out = predictNetwork(model, { data: x, rows, cols });
  } finally {
    model.dispose();
  }
  const q = a.topology.quantiles.length;
  return series.map((s, i) => {
    const L = fromMs < s.startMs ? NaN : levels[i];
    return Array.from({ length: hours }, (_, k) => {
      const r = (i * hours + k) * q;
      if (outOfDomain[i * hours + k]) return { start: fromMs + k * HOUR_MS, p10: NaN, p50: NaN, p90: NaN };
      const p50 = out[r + 1] * L;
      const p10 = Math.min((out[r] - a.intervalAdjust) * L, p50);
      const p90 = Math.max((out[r + 2] + a.intervalAdjust) * L, p50);
      return { start: fromMs + k * HOUR_MS, p10, p50, p90 };
    });
  });
}

function nanRows(h: Horizon): QuantileRow[] {
  const rows: QuantileRow[] = [];
  for (let t = Math.ceil(h.fromMs / HOUR_MS) * HOUR_MS; t < h.toMs; t += HOUR_MS) rows.push({ start: t, p10: NaN, p50: NaN, p90: NaN });
  return rows;
}

/** Standardises the columns of `data` in place; returns the scaler (std 1 for constant columns, listed in `constant`). */
function standardise(data: Float32Array, rows: number, cols: number): { mean: number[]; std: number[]; constant: number[] } {
  const mean = new Array<number>(cols).fill(0);
  const sq = new Array<number>(cols).fill(0);
  for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) mean[c] += data[i * cols + c];
  for (let c = 0; c < cols; c++) mean[c] /= rows;
  for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) sq[c] += (data[i * cols + c] - mean[c]) ** 2;
  const std = sq.map((s) => Math.sqrt(s / rows) || 1);
  const constant = sq.flatMap((s, c) => (s === 0 ? [c] : []));
  for (let i = 0; i < rows; i++) for (let c = 0; c < cols; c++) data[i * cols + c] = (data[i * cols + c] - mean[c]) / std[c];
  return { mean, std, constant };
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
