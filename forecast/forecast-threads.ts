import { Worker } from 'node:worker_threads';
import { builtEntry } from '../bin/build.mjs';
import { EngineStoppedError } from './forecast-job.js';
import { THREAD_MARK, unpackRows, type TaskName, type TaskRequest, type Tasks, type ThreadMessage } from './thread-protocol.js';
import type { QuantileRow } from './model.js';

/**
 * The forecast threads of a process (issue 12, defect 6): a small pool of
 * node:worker_threads running forecast/forecast-thread.ts, so model fitting,
 * prediction and backtests never hold the main thread's event loop (the API,
 * MQTT acknowledgements and alarms share it). Tasks carry plain data
 * (forecast/thread-protocol.ts); each thread runs one at a time, the others
 * wait in order. Threads start on their first task (TensorFlow.js loads
 * there, not at service start) and stay for the next.
 *
 * A task that throws in its thread rejects with the thread's message. A
 * thread that dies (uncaught error, out of memory, exit) rejects its task
 * with the reason and is started again for the next task: the service goes
 * on. close() terminates the threads; tasks still running or waiting reject
 * with EngineStoppedError (the run is not failed: it is recovered at the
 * next start).
 */

export interface ForecastThreadsOptions {
  /** Threads (default 1): runs computed at once. */
  readonly size?: number;
  /** The thread's entry (default: the compiled forecast/forecast-thread.ts, see bin/build.mjs); tests pass one that misbehaves. */
  readonly entry?: URL;
  /** Lines the threads log (the TensorFlow.js backend chosen), and thread crashes. */
  readonly log?: (level: 'info' | 'warn', line: string, fields?: Record<string, unknown>) => void;
}

export interface ForecastResultRows {
  readonly model: string;
  readonly rows: QuantileRow[][];
  readonly info: Readonly<Record<string, unknown>>;
  readonly metrics: Readonly<Record<string, unknown>> | null;
}

export interface ForecastThreadsProbe {
  readonly size: number;
  /** Threads alive / computing a task; tasks waiting for a thread. */
  readonly started: number;
  readonly busy: number;
  readonly waiting: number;
  /** Threads that died and were replaced since start, and the last reason. */
  readonly restarts: number;
  readonly lastCrash: string | null;
  /** TensorFlow.js backend the threads initialised (null before the first thread is ready). */
  readonly backend: string | null;
}

export interface ForecastThreads {
  /** forecast/engine runForecast in a thread; rows unpacked. */
  forecast(input: Tasks['forecast']['input'], onProgress?: (f: number) => void): Promise<ForecastResultRows>;
  /** forecast/champion challenge (an ML retrain's fitting and backtests) in a thread. */
  challenge(input: Tasks['challenge']['input'], onProgress?: (f: number) => void): Promise<Tasks['challenge']['output']>;
  probe(): ForecastThreadsProbe;
  /** Terminates the threads; running and waiting tasks reject with EngineStoppedError. */
  close(): Promise<void>;
}

/** The thread's entry when the sources cannot be compiled: registers tsx in the thread, then loads forecast-thread.ts. */
const TSX_ENTRY = new URL('./forecast-thread.mjs', import.meta.url);

/** The compiled thread (bin/build.mjs: no tsx loader in every thread), or the tsx entry. */
async function defaultEntry(): Promise<URL> {
  const built = await builtEntry('forecast-thread').catch(() => undefined);
  return built ? new URL(built) : TSX_ENTRY;
}

interface Pending {
  readonly request: TaskRequest;
  readonly onProgress?: (f: number) => void;
  resolve(output: unknown): void;
  reject(err: Error): void;
}

interface Slot {
  worker?: Worker;
  task?: Pending;
  /** Why the thread failed (its 'error' event comes before 'exit'). */
  error?: Error;
}

/**
 * @example
 *   const threads = createForecastThreads({ size: 1 });
 *   const r = await threads.forecast({ series, ctx, horizon, opts }, (f) => bar.update(f));
 *   await threads.close();
 */
export function createForecastThreads(o: ForecastThreadsOptions = {}): ForecastThreads {
  const size = Math.max(1, o.size ?? 1);
  let entry: URL | string | undefined = o.entry;
  const entryReady = entry === undefined ? defaultEntry().then((e) => void (entry = e)) : Promise.resolve();
  const log = o.log ?? (() => {});
  const slots: Slot[] = Array.from({ length: size }, () => ({}));
  const queue: Pending[] = [];
  let nextId = 1;
  let closed = false;
  let restarts = 0;
  let lastCrash: string | null = null;
  let backend: string | null = null;

  const spawn = (slot: Slot): Worker => {
    const worker = new Worker(entry!, { workerData: { mark: THREAD_MARK } });
    slot.worker = worker;
    slot.error = undefined;
    worker.on('message', (m: ThreadMessage) => {
      if (m.kind === 'log') return log(m.level, m.line);
      if (m.kind === 'ready') return void (backend = m.backend);
      const task = slot.task;
      if (!task || task.request.id !== m.id) return;
      if (m.kind === 'progress') return task.onProgress?.(m.fraction);
      finish(slot);
      if (m.kind === 'done') task.resolve(m.output);
      else task.reject(new Error(m.message));
    });
    worker.on('error', (err) => (slot.error = err));
    worker.on('exit', (code) => {
      if (slot.worker !== worker) return;
      slot.worker = undefined;
      const task = slot.task;
      slot.task = undefined;
      if (closed) {
        task?.reject(new EngineStoppedError('the forecast threads were stopped (service stopping)'));
        return;
      }
      const reason = slot.error ? slot.error.message : `exit code ${code}`;
      restarts++;
      lastCrash = reason;
      log('warn', `forecast thread stopped (${reason})${task ? ` while running a ${task.request.task} task: that task failed` : ''}; a new thread takes the next task`, { threadId: worker.threadId });
      task?.reject(new Error(`the forecast thread stopped while computing (${reason}); the thread was restarted`));
      dispatch();
    });
    return worker;
  };

  /** Frees the slot for the next task; an idle thread does not keep the process alive. */
  const finish = (slot: Slot) => {
    slot.task = undefined;
    slot.worker?.unref();
    queueMicrotask(dispatch);
  };

  function dispatch(): void {
    if (closed) return;
    if (entry === undefined) return void entryReady.then(dispatch); // the first task waits for the build check
    for (const slot of slots) {
      if (slot.task || queue.length === 0) continue;
      const task = queue.shift()!;
      slot.task = task;
      const worker = slot.worker ?? spawn(slot);
      worker.ref(); // a task in flight keeps the process alive (`mdm forecast` awaits it)
      try {
        worker.postMessage(task.request);
      } catch (err) {
        // e.g. a value that cannot be cloned: this task fails, the thread stays
        slot.task = undefined;
        queueMicrotask(dispatch);
        task.reject(new Error(`forecast thread task ${task.request.task}: its input could not be sent: ${(err as Error).message}`));
      }
    }
  }

  const run = <K extends TaskName>(task: K, input: Tasks[K]['input'], onProgress?: (f: number) => void): Promise<unknown> => {
    if (closed) return Promise.reject(new EngineStoppedError('the forecast threads are stopped'));
    return new Promise((resolve, reject) => {
      queue.push({ request: { id: nextId++, task, input }, onProgress, resolve, reject });
      dispatch();
    });
  };

  return {
    async forecast(input, onProgress) {
      const out = (await run('forecast', input, onProgress)) as Tasks['forecast']['output'];
      return { model: out.model, rows: out.rows.map(unpackRows), info: out.info, metrics: out.metrics };
    },
    async challenge(input, onProgress) {
      return (await run('challenge', input, onProgress)) as Tasks['challenge']['output'];
    },
    probe: () => ({
      size,
      started: slots.filter((s) => s.worker).length,
      busy: slots.filter((s) => s.task).length,
      waiting: queue.length,
      restarts,
      lastCrash,
      backend,
    }),
    async close() {
      if (closed) return;
      closed = true;
      for (const task of queue.splice(0)) task.reject(new EngineStoppedError('the forecast threads were stopped (service stopping)'));
      await Promise.all(slots.map((s) => s.worker?.terminate()));
    },
  };
}
