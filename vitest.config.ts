import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    // Migrates one database per flavour once per run; freshDatabase() clones it.
    globalSetup: ['test/global-setup.ts'],
    // PGlite instances are heavy (WASM); keep two workers on our 2-core machines.
    maxWorkers: 2,
    // A worker runs file after file in one module graph instead of reloading it per file (about 40 % of the
    // suite's CPU went to that: 317 → 236 s on 2 cores). Tests therefore leave no global state behind: fake
    // timers restored in afterEach, no vi.mock/stubGlobal/stubEnv, no process.env writes, every database and
    // server closed in afterAll. `npx vitest run --isolate` runs the old way to rule it out.
    isolate: false,
  },
});
