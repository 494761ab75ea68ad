import { parentPort, threadId, workerData, type MessagePort } from 'node:worker_threads';
import { localDate, shiftDate } from '../models/calendar.js';
import { backtest } from './backtest.js';
import { challenge, type BacktestFn, type Challenge } from './champion.js';
import { runForecast } from './engine.js';
import { frozenMlModel, mlModel, trainingMemo } from './models/ml.js';
import { tfReady } from './tf-backend.js';
import { packRows, THREAD_MARK, type ChallengeTaskInput, type ForecastTaskInput, type ForecastTaskOutput, type TaskRequest, type ThreadMessage } from './thread-protocol.js';

/**
 * A forecast thread (node:worker_threads) of `mdm serve` and `mdm forecast`:
 * the model code — forecast/engine runForecast (fits, predictions, the short
 * backtest) and the ML retrain's challenge — runs here, one task at a time,
 * so the main thread (API, MQTT acknowledgements, alarms) keeps its event
 * loop. TensorFlow.js and its wasm backend are loaded and initialised in this
 * thread only. Started by forecast/forecast-threads.ts through
 * forecast-thread.mjs (which registers tsx: threads do not inherit it).
 */

/** Progress messages at most this often (ms): the engine reports far more often. */
const PROGRESS_EVERY_MS = 250;

/**
 * The networks this thread trained, reused by its later tasks on the same training rows: a target's
 * ml, ensemble and auto runs of one cut-off (and their backtests) train each network once.
 */
const TRAININGS = trainingMemo();

/** runForecast with the stored champion as its `ml` (frozen weights re-anchored on the run's data) when one is given, else the ML model with this thread's trainings. */
export async function forecastTask(input: ForecastTaskInput, onProgress: (f: number) => void): Promise<ForecastTaskOutput> {
  const ml = input.champion ? frozenMlModel(input.champion.artefact) : mlModel({ trainings: TRAININGS });
  const r = await runForecast(input.series, { ...input.ctx, onProgress }, input.horizon, { ...input.opts, models: { ml } });
  return { model: r.model, rows: r.rows.map(packRows), info: { ...r.info, thread: threadId }, metrics: r.metrics as Record<string, unknown> | null };
}

/** The champion/challenger decision of a retrain, backtested day-ahead over its window (forecast/backtest). */
export async function challengeTask(input: ChallengeTaskInput, onProgress: (f: number) => void): Promise<Challenge> {
  const bt: BacktestFn = async (model, series, window, ctx) => {
    const fromDate = shiftDate(localDate(window.fromMs, input.timezone), 1);
    const toDate = shiftDate(localDate(window.toMs, input.timezone), -2); // D+1 of the last issue day is known by the cut-off
    const r = await backtest(series, { models: { ml: model }, horizon: 'day-ahead', fromDate, toDate, timezone: input.timezone, dayAheadCutoff: input.dayAheadCutoff, country: ctx.country });
    return { ...r.aggregate.ml.metrics };
  };
  return challenge(input.series, { ...input.ctx, onProgress }, input.champion, bt, { ml: { trainings: TRAININGS } });
}

const TASKS = { forecast: forecastTask, challenge: challengeTask } as const;

/** The thread's loop: runs each request, posts progress, then its output or its error's message. */
async function serve(port: MessagePort): Promise<void> {
  const post = (m: ThreadMessage, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
  port.on('message', async (req: TaskRequest) => {
    let last = 0;
    const onProgress = (fraction: number) => {
      const now = Date.now();
      if (now - last < PROGRESS_EVERY_MS) return;
      last = now;
      post({ kind: 'progress', id: req.id, fraction });
    };
    try {
      const run = TASKS[req.task] as (input: unknown, p: (f: number) => void) => Promise<unknown>;
      if (!run) throw new Error(`unknown forecast thread task "${String(req.task)}"`);
      const output = await run(req.input, onProgress);
      const transfer = req.task === 'forecast' ? (output as ForecastTaskOutput).rows.map((a) => a.buffer as ArrayBuffer) : [];
      post({ kind: 'done', id: req.id, output }, transfer);
    } catch (err) {
      post({ kind: 'failed', id: req.id, message: (err as Error)?.message ?? String(err) });
    }
  });
  // The backend is chosen here, in this thread (tfjs-node, else wasm, else cpu); its line goes to the service log.
  let backend: string | null = null;
  try {
    backend = (await tfReady((line) => post({ kind: 'log', level: 'info', line }))).backend;
  } catch (err) {
    post({ kind: 'log', level: 'warn', line: `forecast thread: ${(err as Error).message}; ml runs will fail, the other models work` });
  }
  post({ kind: 'ready', threadId, backend });
}

if (parentPort && (workerData as { mark?: string } | undefined)?.mark === THREAD_MARK) void serve(parentPort);
