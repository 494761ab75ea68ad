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
  },
});
