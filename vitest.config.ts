import { defineConfig } from 'vitest/config';
import SlowestFirst from './test/sequencer.js';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Migrates one database per flavour once per run; freshDatabase() clones it.
    globalSetup: ['test/global-setup.ts'],
    // Three workers on our 2-core machines: some files mostly wait (Modbus/MQTT timeouts, hook leases, child
    // processes), and a third worker uses that time: whole suite 141 → 130 s (4 workers: 133 s). A worker keeps
    // its databases for its next files (test/database-pool.ts), so PGlite's WASM is not paid per file.
    maxWorkers: 3,
    // V8 compiles WebAssembly (PGlite, TensorFlow.js's backend) with its baseline compiler only: optimising
    // PGlite's 9 MB modules again in every worker costs more CPU than the optimised code saves over a run
    // (whole suite 139 → 126 s, 244 → 223 s of CPU). The service itself runs with V8's defaults.
    execArgv: ['--liftoff-only'],
    // The slowest files first, also on a fresh clone without Vitest's duration cache (test/sequencer.ts).
    sequence: { sequencer: SlowestFirst },
    // A worker runs file after file in one module graph instead of reloading it per file (about 40 % of the
    // suite's CPU went to that: 317 → 236 s on 2 cores). Tests therefore leave no global state behind: fake
    // timers restored in afterEach, no vi.mock/stubGlobal/stubEnv, no process.env writes, every database and
    // server closed in afterAll. `npx vitest run --isolate` runs the old way to rule it out.
    isolate: false,
  },
});
