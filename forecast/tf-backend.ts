import { createRequire } from 'node:module';
import type * as TensorFlow from '@tensorflow/tfjs';

// TensorFlow.js is CommonJS: required, not imported. An ESM import makes Node lex its bundles
// (tfjs re-exports core, layers, converter, data and two backends, megabytes each) for their named
// exports: ~250 ms more of CPU at every start of a forecast thread.
const require = createRequire(import.meta.url);
const tf: typeof TensorFlow = require('@tensorflow/tfjs');
require('@tensorflow/tfjs-backend-wasm');

/**
 * TensorFlow.js backend selection, once per process: the native
 * `@tensorflow/tfjs-node` binding ('tensorflow') when a deployment has it
 * installed (it is not a dependency: its install downloads libtensorflow), else
 * the WebAssembly backend ('wasm', single-threaded, bundled), else plain JS
 * ('cpu'). Every ML entry point awaits `tfReady()` before touching tensors.
 */

export interface TfBackend {
  /** 'tensorflow' (tfjs-node), 'wasm' or 'cpu'. */
  readonly backend: string;
}

let ready: Promise<TfBackend> | undefined;

// A variable specifier keeps TypeScript and bundlers from resolving the optional module.
const TFJS_NODE = '@tensorflow/tfjs-node';

async function init(log: (line: string) => void): Promise<TfBackend> {
  try {
    await import(TFJS_NODE);
    // tfjs-node registers its backend on the tfjs-core it resolves; only the same copy as ours counts.
    if (tf.findBackendFactory('tensorflow') && (await tf.setBackend('tensorflow'))) {
      await tf.ready();
      log('forecast ml: TensorFlow.js backend tensorflow (@tensorflow/tfjs-node)');
      return { backend: tf.getBackend() };
    }
  } catch {
    // not installed (the default): fall through to wasm
  }
  for (const name of ['wasm', 'cpu']) {
    try {
      const before = processListeners();
      const ok = await tf.setBackend(name);
      // The wasm backend's Emscripten glue adds uncaughtException / unhandledRejection listeners
      // that rethrow (and print its minified source with every crash): the service's own
      // handling stays in charge.
      removeListenersAddedSince(before);
      if (ok) {
        await tf.ready();
        log(`forecast ml: TensorFlow.js backend ${name}`);
        return { backend: tf.getBackend() };
      }
    } catch {
      // try the next one
    }
  }
  throw new Error('no TensorFlow.js backend could be initialised (tried tensorflow, wasm, cpu)');
}

type Listener = (...args: unknown[]) => void;
// Typed as one event name: @types/node overloads listeners()/removeListener() per event.
const EVENTS = ['uncaughtException', 'unhandledRejection'] as 'uncaughtException'[];

function processListeners(): Map<string, Set<Listener>> {
  return new Map(EVENTS.map((e) => [e, new Set(process.listeners(e) as Listener[])]));
}

function removeListenersAddedSince(before: Map<string, Set<Listener>>): void {
  for (const e of EVENTS) {
    for (const l of process.listeners(e) as Listener[]) if (!before.get(e)!.has(l)) process.removeListener(e, l as NodeJS.UncaughtExceptionListener);
  }
}

/**
 * Initialises the backend on first call (later calls share the result).
 * `log` receives one line naming the backend chosen.
 *
 * @example
 *   const { backend } = await tfReady(); // 'wasm' unless tfjs-node is installed
 */
export function tfReady(log: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): Promise<TfBackend> {
  ready ??= init(log).catch((err: unknown) => {
    ready = undefined;
    throw err;
  });
  return ready;
}

export { tf };
export type { TensorFlow };
