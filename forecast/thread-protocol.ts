import type { Challenge, ChampionInput } from './champion.js';
import type { Horizon, HorizonName, ModelKind, QuantileRow, SeriesData } from './model.js';

/**
 * The messages between the service's main thread and its forecast threads
 * (forecast/forecast-threads.ts ↔ forecast/forecast-thread.ts): plain data
 * only (structured clone). Model fitting, prediction and backtests happen in
 * the thread; database reads and writes stay on the main thread.
 */

/** The FitContext of a task, without its onProgress (progress comes back as messages). */
export interface TaskContext {
  readonly issueTime: number;
  readonly dataCutoff: number;
  readonly country: string | null;
}

/** One forecast run's engine call (forecast/engine runForecast), with the target's stored ML champion when there is one. */
export interface ForecastTaskInput {
  readonly series: readonly SeriesData[];
  readonly ctx: TaskContext;
  readonly horizon: Horizon & { readonly name: HorizonName };
  readonly opts: { readonly model: 'auto' | ModelKind; readonly target: string; readonly timezone: string; readonly dayAheadCutoff: string };
  readonly champion?: ChampionInput;
}

/** What a forecast task returns: rows packed per series (packRows), the rest as runForecast gives it. */
export interface ForecastTaskOutput {
  readonly model: string;
  readonly rows: readonly Float64Array[];
  readonly info: Readonly<Record<string, unknown>>;
  readonly metrics: Readonly<Record<string, unknown>> | null;
}

/** The fitting half of a scheduled ML retrain (forecast/champion challenge), backtested day-ahead in the target's zone. */
export interface ChallengeTaskInput {
  readonly series: readonly SeriesData[];
  readonly ctx: TaskContext;
  readonly champion?: ChampionInput;
  readonly timezone: string;
  readonly dayAheadCutoff: string;
}

export interface Tasks {
  readonly forecast: { readonly input: ForecastTaskInput; readonly output: ForecastTaskOutput };
  readonly challenge: { readonly input: ChallengeTaskInput; readonly output: Challenge };
}
export type TaskName = keyof Tasks;

/** Main → thread: one task at a time per thread. */
export interface TaskRequest<K extends TaskName = TaskName> {
  readonly id: number;
  readonly task: K;
  readonly input: Tasks[K]['input'];
}

/** Thread → main. */
export type ThreadMessage =
  | { readonly kind: 'ready'; readonly threadId: number; readonly backend: string | null }
  | { readonly kind: 'log'; readonly level: 'info' | 'warn'; readonly line: string }
  | { readonly kind: 'progress'; readonly id: number; readonly fraction: number }
  | { readonly kind: 'done'; readonly id: number; readonly output: unknown }
  | { readonly kind: 'failed'; readonly id: number; readonly message: string };

/** workerData of a forecast thread: the entry serves only when it is set (never inside a test runner's own worker). */
export const THREAD_MARK = 'mdm-forecast-thread';

/**
 * Hourly rows as one Float64Array (start, p10, p50, p90 per row): a
 * transferable buffer, so a long horizon costs the main thread no object
 * cloning.
 * @example unpackRows(packRows([{ start: 0, p10: 1, p50: 2, p90: 3 }])) // [{ start: 0, p10: 1, p50: 2, p90: 3 }]
 */
export function packRows(rows: readonly QuantileRow[]): Float64Array {
  const out = new Float64Array(rows.length * 4);
  rows.forEach((r, i) => out.set([r.start, r.p10, r.p50, r.p90], i * 4));
  return out;
}

export function unpackRows(a: Float64Array): QuantileRow[] {
  const out: QuantileRow[] = [];
  for (let i = 0; i + 3 < a.length; i += 4) out.push({ start: a[i], p10: a[i + 1], p50: a[i + 2], p90: a[i + 3] });
  return out;
}
