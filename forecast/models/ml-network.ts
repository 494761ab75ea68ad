import { tf, tfReady, type TensorFlow } from '../tf-backend.js';
import { seededRandom } from '../../models/random.js';

/**
 * The ML model's network: a small MLP with one output per quantile, trained
 * with the pinball (quantile) loss, deterministic for a given seed (seeded
 * initialisers, seeded shuffling, no dropout), early-stopped on a
 * time-ordered validation tail with the best epoch's weights kept.
 *
 * Plain Float32Array matrices in and out (row-major); every tensor made here
 * is disposed before returning, so repeated fits leak nothing.
 */

export const QUANTILES = [0.1, 0.5, 0.9] as const;

/** What the network looks like; stored in the artefact and enough to rebuild it. */
export interface NetworkTopology {
  readonly inputs: number;
  readonly hidden: readonly number[];
  readonly activation: 'relu' | 'elu' | 'tanh';
  readonly quantiles: readonly number[];
}

export interface TrainOptions {
  readonly seed: number;
  readonly maxEpochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** Stop after this many epochs without a better validation loss. */
  readonly patience: number;
  /** Stop after the epoch that passes this many seconds of training (the best epoch so far is kept); default none. */
  readonly maxSeconds?: number;
  /** Clock for maxSeconds (ms); default Date.now. */
  readonly now?: () => number;
  /** Called after each epoch with (epoch, maxEpochs). */
  readonly onEpoch?: (epoch: number, maxEpochs: number) => void;
}

export interface TrainedNetwork {
  readonly model: TensorFlow.LayersModel;
  readonly epochs: number;
  readonly bestEpoch: number;
  readonly trainLoss: number;
  readonly validationLoss: number;
  /** Why training stopped. */
  readonly stoppedBy: 'maxEpochs' | 'patience' | 'maxSeconds';
}

/** A row-major matrix: `data.length === rows * cols`. */
export interface Matrix {
  readonly data: Float32Array;
  readonly rows: number;
  readonly cols: number;
}

/** The network for `topology` with seeded initial weights. */
export function buildNetwork(topology: NetworkTopology, seed: number): TensorFlow.Sequential {
  const model = tf.sequential();
  topology.hidden.forEach((units, i) => {
    model.add(
      tf.layers.dense({
        units,
        activation: topology.activation,
        inputShape: i === 0 ? [topology.inputs] : undefined,
        kernelInitializer: tf.initializers.heNormal({ seed: seed + i }),
      }),
    );
  });
  model.add(
    tf.layers.dense({
      units: topology.quantiles.length,
      inputShape: topology.hidden.length === 0 ? [topology.inputs] : undefined,
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 101 }),
    }),
  );
  return model;
}

/** Mean pinball loss over the quantile outputs; yTrue and yPred are [n, q] (y repeated per quantile). */
export function pinballLoss(quantiles: readonly number[]): (yTrue: TensorFlow.Tensor, yPred: TensorFlow.Tensor) => TensorFlow.Scalar {
  return (yTrue, yPred) =>
    tf.tidy(() => {
      const q = tf.tensor2d([quantiles as number[]]);
      const e = tf.sub(yTrue, yPred);
      return tf.mean(tf.maximum(tf.mul(q, e), tf.mul(tf.sub(q, 1), e))) as TensorFlow.Scalar;
    });
}

/**
 * Trains on `x`/`y` (y: one target per row) with the last `validationRows`
 * rows as the validation tail (the caller orders rows by time so the tail is
 * the most recent data). Returns the network holding the best epoch's weights.
 */
export async function trainNetwork(x: Matrix, y: Float32Array, validationRows: number, topology: NetworkTopology, opts: TrainOptions): Promise<TrainedNetwork> {
  await tfReady();
  const trainRows = x.rows - validationRows;
  if (trainRows <= 0 || validationRows <= 0) throw new Error(`trainNetwork: need training and validation rows (got ${trainRows} and ${validationRows})`);
  const model = buildNetwork(topology, opts.seed);
  const loss = pinballLoss(topology.quantiles);
  model.compile({ optimizer: tf.train.adam(opts.learningRate), loss });

  const xTrain = tf.tensor2d(x.data.subarray(0, trainRows * x.cols), [trainRows, x.cols]);
  // tfjs checks the target's shape against the output's: one copy of y per quantile output.
  const q = topology.quantiles.length;
  const yTrain = tf.tidy(() => tf.tile(tf.tensor2d(y.subarray(0, trainRows), [trainRows, 1]), [1, q]));
  const xVal = tf.tensor2d(x.data.subarray(trainRows * x.cols), [validationRows, x.cols]);
  const yVal = tf.tidy(() => tf.tile(tf.tensor2d(y.subarray(trainRows), [validationRows, 1]), [1, q]));
  const random = seededRandom(opts.seed);
  const order = Int32Array.from({ length: trainRows }, (_, i) => i);

  let best = Infinity;
  let bestEpoch = -1;
  let bestWeights: TensorFlow.Tensor[] | undefined;
  let trainLoss = NaN;
  let epoch = 0;
  let stoppedBy: TrainedNetwork['stoppedBy'] = 'maxEpochs';
  const now = opts.now ?? Date.now;
  const deadline = opts.maxSeconds === undefined ? Infinity : now() + opts.maxSeconds * 1000;
  try {
    for (; epoch < opts.maxEpochs; epoch++) {
      // Seeded Fisher–Yates: tfjs's own shuffle uses Math.random.
      for (let i = trainRows - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        const t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
      const idx = tf.tensor1d(order, 'int32');
      const xs = tf.gather(xTrain, idx);
      const ys = tf.gather(yTrain, idx);
      idx.dispose();
      const h = await model.fit(xs, ys, { epochs: 1, batchSize: opts.batchSize, shuffle: false, verbose: 0 });
      xs.dispose();
      ys.dispose();
      trainLoss = Number(h.history.loss[0]);
      const valLoss = tf.tidy(() => loss(yVal, model.predict(xVal) as TensorFlow.Tensor).dataSync()[0]);
      opts.onEpoch?.(epoch + 1, opts.maxEpochs);
      if (valLoss < best - 1e-6) {
        best = valLoss;
        bestEpoch = epoch + 1;
        bestWeights?.forEach((w) => w.dispose());
        bestWeights = model.getWeights().map((w) => w.clone());
      } else if (epoch + 1 - bestEpoch >= opts.patience) {
        stoppedBy = 'patience';
        epoch++;
        break;
      }
      if (now() >= deadline) {
        stoppedBy = 'maxSeconds';
        epoch++;
        break;
      }
    }
    if (bestWeights) model.setWeights(bestWeights);
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    bestWeights?.forEach((w) => w.dispose());
    tf.dispose([xTrain, yTrain, xVal, yVal]);
    disposeOptimizer(model);
  }
  return { model, epochs: epoch, bestEpoch, trainLoss, validationLoss: best, stoppedBy };
}

/** Adam keeps two moment tensors per weight; they outlive fit() unless disposed. */
function disposeOptimizer(model: TensorFlow.LayersModel): void {
  const optimizer = model.optimizer as TensorFlow.Optimizer | undefined;
  optimizer?.dispose();
}

/** Predictions, row-major [rows × quantiles], in batches. Quantiles are sorted per row (no crossing). */
export function predictNetwork(model: TensorFlow.LayersModel, x: Matrix, batchSize = 8192): Float32Array {
  const q = (model.outputs[0].shape[1] as number) ?? 1;
  const out = new Float32Array(x.rows * q);
  for (let r = 0; r < x.rows; r += batchSize) {
    const n = Math.min(batchSize, x.rows - r);
    const part = tf.tidy(() => (model.predict(tf.tensor2d(x.data.subarray(r * x.cols, (r + n) * x.cols), [n, x.cols])) as TensorFlow.Tensor).dataSync() as Float32Array);
    out.set(part, r * q);
  }
  for (let r = 0; r < x.rows; r++) {
    const row = out.subarray(r * q, (r + 1) * q);
    row.sort();
  }
  return out;
}

/** Weights as base64 little-endian Float32, with their shapes, in layer order. */
export interface SerializedWeights {
  readonly shapes: readonly (readonly number[])[];
  readonly data: string;
}

export function serializeWeights(model: TensorFlow.LayersModel): SerializedWeights {
  const weights = model.getWeights();
  const total = weights.reduce((n, w) => n + w.size, 0);
  const all = new Float32Array(total);
  let at = 0;
  for (const w of weights) {
    all.set(w.dataSync() as Float32Array, at);
    at += w.size;
  }
  return { shapes: weights.map((w) => [...w.shape]), data: Buffer.from(all.buffer, all.byteOffset, all.byteLength).toString('base64') };
}

/** Rebuilds the network of `topology` and loads `weights` into it. */
export async function restoreNetwork(topology: NetworkTopology, weights: SerializedWeights): Promise<TensorFlow.LayersModel> {
  await tfReady();
  const bytes = Buffer.from(weights.data, 'base64');
  const all = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  const model = buildNetwork(topology, 0);
  const expected = model.getWeights().map((w) => w.shape);
  if (expected.length !== weights.shapes.length || expected.some((s, i) => s.join('x') !== weights.shapes[i].join('x'))) {
    model.dispose();
    throw new Error(`ml artefact: weight shapes ${JSON.stringify(weights.shapes)} do not fit the topology (${JSON.stringify(expected)})`);
  }
  let at = 0;
  const tensors = weights.shapes.map((shape) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const t = tf.tensor(all.subarray(at, at + size), shape as number[]);
    at += size;
    return t;
  });
  if (at !== all.length) {
    tf.dispose(tensors);
    model.dispose();
    throw new Error(`ml artefact: ${all.length} weights stored, the topology takes ${at}`);
  }
  model.setWeights(tensors);
  tf.dispose(tensors);
  return model;
}
