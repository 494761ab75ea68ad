#!/usr/bin/env node
// `mdm` command. The sources are TypeScript run through tsx (no build step):
// register its loader with our tsconfig (whatever the working directory),
// then hand over to cli/main.ts, which returns the exit code.
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { main } = await import(new URL('../cli/main.ts', import.meta.url).href);
process.exitCode = await main(process.argv.slice(2), process.env);

// Everything is closed by now and the process should end on its own; if a
// stray handle keeps it alive, do not leave a finished command hanging.
setTimeout(() => {
  process.stderr.write('mdm: exiting although something still held the event loop open (a bug: please report it)\n');
  process.exit();
}, 10_000).unref();
