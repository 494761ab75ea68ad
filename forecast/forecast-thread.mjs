// Entry of a forecast thread when the sources cannot be compiled
// (forecast/forecast-threads.ts starts the compiled forecast-thread.ts of
// bin/build.mjs otherwise, or this with MDM_NO_BUILD=1). The sources are
// then TypeScript run through tsx, and a thread does not inherit the loader its parent registered
// (bin/mdm.js; vitest transforms its own files only): register tsx with our
// tsconfig here, then load the thread's module.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
await import(new URL('./forecast-thread.ts', import.meta.url).href);
