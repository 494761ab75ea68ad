/**
 * Test file order: the files that take longest start first, so that no
 * worker is left running one of them after the others have finished. Vitest
 * orders by the durations it cached from the last run, but a fresh clone (CI)
 * has no cache and falls back to file size: there the whole suite took
 * 157 s instead of 126 s. SLOWEST lists the files that take longest (wall
 * time of each file in a 3-worker run, 2026-12-07); the others follow in
 * Vitest's own order.
 */
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const SLOWEST = [
  'cli', // ~53 s: `mdm` child processes
  'modbus-tcp', // ~34 s: device timeouts and backoff
  'hooks-restart', // ~17 s: claim leases run out
  'api-bad-input',
  'forecast-thread',
  'mqtt',
  'jobs-isolation',
  'reading-write-concurrency',
  'forecast-models-api',
  'fuzz-ingest',
  'mqtt-poison',
  'billing',
];

function rank(spec: TestSpecification): number {
  const i = SLOWEST.findIndex((name) => spec.moduleId.endsWith(`/test/${name}.test.ts`));
  return i < 0 ? SLOWEST.length : i;
}

export default class SlowestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const base = await super.sort(files);
    return base
      .map((spec, i) => ({ spec, i }))
      .sort((a, b) => rank(a.spec) - rank(b.spec) || a.i - b.i)
      .map((x) => x.spec);
  }
}
