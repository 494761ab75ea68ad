#!/usr/bin/env node
// `mdm` command. Runs the compiled sources (bin/build.mjs: built on the first
// start after a change, checked in a few ms on every start); where they
// cannot be built, runs the TypeScript through tsx as before (also with
// MDM_NO_BUILD=1). cli/main.ts returns the exit code.
import { fileURLToPath } from 'node:url';
import { builtEntry } from './build.mjs';

const compiled = await builtEntry('cli-main');
let main;
if (compiled) {
  // MDM_SOURCE_MAPS=1: stack traces name the TypeScript sources (the build writes source maps; reading them costs about 0.1 s a start).
  if (process.env.MDM_SOURCE_MAPS === '1') process.setSourceMapsEnabled(true);
  ({ main } = await import(compiled));
} else {
  const { register } = await import('tsx/esm/api');
  register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
  ({ main } = await import(new URL('../cli/main.ts', import.meta.url).href));
}
process.exitCode = await main(process.argv.slice(2), process.env);

// Everything is closed by now and the process should end on its own; if a
// stray handle keeps it alive, do not leave a finished command hanging.
setTimeout(() => {
  process.stderr.write('mdm: exiting although something still held the event loop open (a bug: please report it)\n');
  process.exit();
}, 10_000).unref();
