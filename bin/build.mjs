// The service's TypeScript, compiled once into plain ES modules (issue 13):
// `mdm` and its forecast threads run the compiled code, so a process start
// no longer sends every import through tsx's loader thread (about a second
// of CPU per start on our machines) and the service runs without tsx's
// hooks. There is still no build step to remember: the first start after a
// change of any compiled source builds again (esbuild, about a second), and
// every start checks the sources' times against the build's (a few ms).
//
// Layout: .build/<id>/ holds one build (cli-main.js, forecast-thread.js and
// the chunks they import when a command or component needs them);
// .build/current.json names the newest and the sources it was built from
// with their modification times. A build is written to a new directory and
// published by renaming current.json, so processes starting side by side
// never see half a build. A running process may still load chunks of the
// build it started from: builds no longer current are removed only when a
// day old and three newer ones exist (sources change only where someone
// develops; an installed service builds once).
//
// `import.meta.url` in a source is replaced by that source's own URL, so
// paths relative to a source (web assets, tsconfig.json) resolve as they do
// when tsx runs it. Packages stay external (node_modules as installed).
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUILD_DIR = join(ROOT, '.build');
const CURRENT = join(BUILD_DIR, 'current.json');
/** Entry name → source, relative to the root. */
const ENTRIES = { 'cli-main': 'cli/main.ts', 'forecast-thread': 'forecast/forecast-thread.ts' };
const KEEP_OLD_MS = 86_400_000;
const KEEP_NEWEST = 3;

/** The current build when every source it was built from is unchanged, else undefined. */
function freshBuild() {
  let current;
  try {
    current = JSON.parse(readFileSync(CURRENT, 'utf8'));
  } catch {
    return undefined;
  }
  if (current?.version !== 1 || typeof current.dir !== 'string') return undefined;
  for (const [file, mtimeMs] of Object.entries(current.inputs ?? {})) {
    try {
      if (statSync(join(ROOT, file)).mtimeMs !== mtimeMs) return undefined;
    } catch {
      return undefined; // a source was removed or renamed
    }
  }
  return current;
}

/**
 * Loads our sources (esbuild plugin): notes each one's modification time as
 * read (a source saved during the build makes the next start build again)
 * and replaces `import.meta.url` by the source's own URL.
 */
const loadSources = (times) => ({
  name: 'mdm-sources',
  setup(build) {
    build.onLoad({ filter: /\.(ts|mts|js|mjs)$/ }, (args) => {
      const file = relative(ROOT, args.path);
      if (file.startsWith('node_modules') || file.startsWith('..')) return undefined;
      times.set(file.split(sep).join('/'), statSync(args.path).mtimeMs);
      const text = readFileSync(args.path, 'utf8').replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href));
      return { contents: text, loader: /\.m?ts$/.test(args.path) ? 'ts' : 'js' };
    });
  },
});

async function build() {
  const esbuild = await import('esbuild');
  const id = `${Date.now().toString(36)}-${process.pid}`;
  const outdir = join(BUILD_DIR, id);
  mkdirSync(outdir, { recursive: true });
  const times = new Map();
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: Object.fromEntries(Object.entries(ENTRIES)),
    outdir,
    bundle: true,
    // Dynamic imports stay chunks of their own: `mdm keys list` loads neither fastify nor TensorFlow.js.
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    tsconfig: join(ROOT, 'tsconfig.json'),
    outExtension: { '.js': '.js' },
    sourcemap: 'linked', // read only with source maps on (MDM_SOURCE_MAPS=1 or node --enable-source-maps)
    metafile: true,
    logLevel: 'silent',
    plugins: [loadSources(times)],
  });
  const inputs = {};
  for (const file of Object.keys(result.metafile.inputs)) if (!file.startsWith('node_modules/')) inputs[file] = times.get(file) ?? statSync(join(ROOT, file)).mtimeMs;
  // The build's own sources: a change of this file or the configuration builds again.
  for (const file of ['bin/build.mjs', 'tsconfig.json', 'package.json']) inputs[file] = statSync(join(ROOT, file)).mtimeMs;
  const current = { version: 1, dir: id, builtAt: new Date().toISOString(), inputs };
  const tmp = `${CURRENT}.${id}`;
  writeFileSync(tmp, JSON.stringify(current));
  renameSync(tmp, CURRENT);
  removeOld(id);
  return current;
}

/** Removes builds other than `keep` that are a day old, keeping the newest KEEP_NEWEST. */
function removeOld(keep) {
  const builds = readdirSync(BUILD_DIR)
    .filter((name) => name !== keep && name !== 'current.json')
    .map((name) => {
      try {
        return { path: join(BUILD_DIR, name), mtimeMs: statSync(join(BUILD_DIR, name)).mtimeMs };
      } catch {
        return undefined; // another process removed it first
      }
    })
    .filter((b) => b !== undefined)
    .sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const b of builds.slice(KEEP_NEWEST)) if (Date.now() - b.mtimeMs > KEEP_OLD_MS) rmSync(b.path, { recursive: true, force: true });
}

/**
 * The file URL of the compiled `entry` ('cli-main' or 'forecast-thread'),
 * built first when a source changed; undefined when it cannot be built here
 * (no esbuild, a read-only install): the caller runs the sources through tsx.
 * MDM_NO_BUILD=1 always answers undefined.
 */
export async function builtEntry(entry, env = process.env) {
  if (!(entry in ENTRIES)) throw new Error(`unknown entry ${entry}`);
  if (env.MDM_NO_BUILD === '1') return undefined;
  let current = freshBuild();
  if (!current) {
    try {
      current = await build();
    } catch (err) {
      if (env.MDM_BUILD_DEBUG === '1') process.stderr.write(`mdm: could not compile the sources (${err?.message ?? err}); running them through tsx\n`);
      return undefined;
    }
  }
  return pathToFileURL(join(BUILD_DIR, current.dir, `${entry}.js`)).href;
}
