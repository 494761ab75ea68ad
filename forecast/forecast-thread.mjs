// Entry of a forecast thread (forecast/forecast-threads.ts starts it with
// node:worker_threads). The sources are TypeScript run through tsx without a
// build step, and a thread does not inherit the loader its parent registered
// (bin/mdm.js; vitest transforms its own files only): register tsx with our
// tsconfig here, then load the thread's module.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
await import(new URL('./forecast-thread.ts', import.meta.url).href);
