import { describe, expect, it } from 'vitest';
import { gcOf, isGcTrace, judgeMemory, levelSlope, lowest, median, outsideHeap, type GcEvent, type MemorySample } from '../bench/chaos-memory.js';

// Node 20's `--trace-gc` lines, as the chaos bench's service prints them.
const FULL =
  '[29583:0x26bc5c40]    83962 ms: Mark-Compact 267.9 (301.8) -> 65.6 (244.6) MB, 36.83 / 0.01 ms  (+ 70.1 ms in 53 steps since start of marking, biggest step 3.1 ms, walltime since start of marking 385 ms) (average mu = 0.951, current mu = 0.947) finalize incremental marking via task; GC in old space requested';
const YOUNG = '[29583:0x26bc5c40]    84010 ms: Scavenge 93.0 (252.6) -> 78.4 (252.6) MB, 4.12 / 0.00 ms  (average mu = 0.951, current mu = 0.947) allocation failure; ';

/**
 * A soak as V8 runs it: every `cycleS` the old generation, grown from `live`
 * to `live + amplitude(t)`, is collected back to `live(t)`; scavenges every
 * second between; RSS = `outside(t)` + committed heap, sampled every 2 s.
 * Returns the samples and collections on one clock (ms).
 */
function soak(o: { minutes: number; cycleS: number; live: (min: number) => number; amplitude: (min: number) => number; outside: (min: number) => number }) {
  const rss: MemorySample[] = [];
  const gcs: (GcEvent & { t: number })[] = [];
  for (let s = 0; s < o.minutes * 60; s++) {
    const min = s / 60;
    const phase = (s % o.cycleS) / o.cycleS;
    const used = o.live(min) + phase * o.amplitude(min);
    const committed = used + 30;
    gcs.push({ t: s * 1000, atMs: s * 1000, full: phase === 0, usedMb: used, committedMb: committed });
    if (s % 2 === 0) rss.push({ t: s * 1000 + 500, mb: o.outside(min) + committed });
  }
  return { rss, gcs };
}

describe('chaos bench memory judge', () => {
  it('reads full and young collections from --trace-gc, and tells trace lines from the service output', () => {
    expect(gcOf(FULL)).toEqual({ atMs: 83962, full: true, usedMb: 65.6, committedMb: 244.6 });
    expect(gcOf(YOUNG)).toEqual({ atMs: 84010, full: false, usedMb: 78.4, committedMb: 252.6 });
    expect(gcOf(FULL.replace('Mark-Compact', 'Mark-Compact (reduce)'))?.full).toBe(true);
    expect(gcOf('Stop with Ctrl+C.')).toBeUndefined();
    expect(isGcTrace(YOUNG)).toBe(true);
    expect(isGcTrace('  API:        http://127.0.0.1:42015/v1')).toBe(false);
  });

  it('compares the lowest live heap of each half: a job holding memory over a few collections is not growth', () => {
    const samples = [60, 75, 62, 90, 88, 61, 60, 74].map((mb, i) => ({ t: i * 30_000, mb }));
    const f = levelSlope(samples, 0, 240_000, lowest);
    expect(f.levels).toEqual([
      { min: 1, mb: 60 },
      { min: 3, mb: 60 },
    ]);
    expect(f.slope).toBe(0);
    expect(levelSlope(samples, 0, 240_000, lowest, 4).levels.map((x) => x.mb)).toEqual([60, 62, 61, 60]);
    expect(levelSlope([], 0, 240_000, lowest).slope).toBeNaN();
  });

  it('compares the median memory outside the heap of each half: strays either way do not count', () => {
    const samples = [97, 97, 40, 97, 97, 150, 97, 97].map((mb, i) => ({ t: i * 30_000, mb }));
    expect(levelSlope(samples, 0, 240_000, median).slope).toBe(0);
    expect(levelSlope(samples, 0, 240_000, lowest).slope).toBeCloseTo(28.5);
    expect(median([3, 1, 2, 10])).toBe(2.5);
  });

  it('pairs each RSS sample with the collection just before it (at most 2 s) to get the memory outside the heap', () => {
    const gcs = [
      { t: 0, atMs: 0, full: false, usedMb: 50, committedMb: 200 },
      { t: 1_000, atMs: 1_000, full: true, usedMb: 40, committedMb: 150 },
    ];
    expect(
      outsideHeap(
        [
          { t: 500, mb: 300 },
          { t: 1_500, mb: 260 },
          { t: 5_000, mb: 900 },
        ],
        gcs,
      ),
    ).toEqual([
      { t: 500, mb: 100 },
      { t: 1_500, mb: 110 },
    ]);
  });

  it('passes a heap whose sawtooth grows while nothing stays, though raw RSS climbs 15 MB/min', () => {
    // What the MISS of 2026-12-07 was: V8 raised the old generation's limit (amplitude 170 → 320 MB) over the soak.
    const { rss, gcs } = soak({ minutes: 5, cycleS: 7, live: () => 60, amplitude: (min) => 170 + 30 * min, outside: () => 97 });
    const v = judgeMemory(rss, gcs, 60_000, 300_000);
    expect(v.rssSlope).toBeGreaterThan(10);
    expect(v.live.slope).toBeCloseTo(0, 6);
    expect(v.outside.slope).toBeCloseTo(0, 6);
    expect(v.slope).toBeLessThanOrEqual(2);
  });

  it('fails objects retained per message (live heap +3 MB/min) and Buffers never freed (outside the heap +3 MB/min)', () => {
    const heapLeak = soak({ minutes: 5, cycleS: 7, live: (min) => 60 + 3 * min, amplitude: () => 200, outside: () => 97 });
    const js = judgeMemory(heapLeak.rss, heapLeak.gcs, 60_000, 300_000);
    expect(js.live.slope).toBeGreaterThan(2.5);
    expect(js.slope).toBeGreaterThan(2);
    const bufferLeak = soak({ minutes: 5, cycleS: 7, live: () => 60, amplitude: () => 200, outside: (min) => 97 + 3 * min });
    const native = judgeMemory(bufferLeak.rss, bufferLeak.gcs, 60_000, 300_000);
    expect(native.outside.slope).toBeGreaterThan(2.5);
    expect(native.slope).toBeGreaterThan(2);
  });

  it('cannot pass without full collections to judge', () => {
    const { rss, gcs } = soak({ minutes: 5, cycleS: 7, live: () => 60, amplitude: () => 200, outside: () => 97 });
    expect(
      judgeMemory(
        rss,
        gcs.filter((g) => !g.full),
        60_000,
        300_000,
      ).slope,
    ).toBeNaN();
  });
});
