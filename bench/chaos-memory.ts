/**
 * What the chaos soak judges about memory (bench/chaos.bench.ts,
 * docs/performance.md "Chaos"). A leak is memory that stays. The resident
 * size (RSS) sampled at random moments mostly measures where V8's heap is in
 * its sawtooth: between two full collections the old generation grows up to
 * a limit V8 sets from the live size (about four times it under this load,
 * with a 4 GB heap limit), and how far that limit goes changes as V8 adapts
 * it, so a least-squares line through raw RSS samples rises or falls by
 * 15 MB/min over a few minutes with nothing retained.
 *
 * The service is started with `--trace-gc` and its memory is judged in two
 * parts that add up to RSS, each without the sawtooth:
 * - the live heap: heap used after each full collection (Mark-Compact);
 *   objects retained per request, message or row raise it. Its floor (the
 *   lowest value in each half of the judged soak) is compared, so that a
 *   background job holding its working set over a few collections does not
 *   count as growth;
 * - memory outside V8's heap: RSS minus the heap V8 has committed (from the
 *   GC line just before each RSS sample); Buffers and native allocations
 *   that are never freed raise it. It has no sawtooth, only strays both ways
 *   (a large allocation since that GC line, committed pages not yet
 *   touched), so the median of each half is compared.
 * The judged slope is the sum of the two slopes (negative parts as 0).
 */
import { linearRegression } from 'simple-statistics';

export interface MemorySample {
  /** ms since the sampler started. */
  readonly t: number;
  readonly mb: number;
}

/** One garbage collection in V8's `--trace-gc` output. */
export interface GcEvent {
  /** ms since the process started (V8's clock, printed when the collection ends). */
  readonly atMs: number;
  /** Mark-Compact (the whole heap), not a Scavenge of the young generation. */
  readonly full: boolean;
  /** Heap used after it (MB). */
  readonly usedMb: number;
  /** Heap committed after it (MB). */
  readonly committedMb: number;
}

const GC_LINE = /^\[\d+:0x[0-9a-f]+\]\s+([\d.]+) ms: (Scavenge|Mark-Compact|Mark-Sweep|Minor Mark-Sweep|Minor Mark-Compact)(?: \([a-z ]+\))? [\d.]+ \([\d.]+\) -> ([\d.]+) \(([\d.]+)\) MB/;

/**
 * @example gcOf('[41:0x5e0]   220 ms: Mark-Compact 44.3 (77.0) -> 20.7 (54.4) MB, 23.08 / 0.00 ms …') // { atMs: 220, full: true, usedMb: 20.7, committedMb: 54.4 }
 */
export function gcOf(line: string): GcEvent | undefined {
  const m = GC_LINE.exec(line);
  return m ? { atMs: Number(m[1]), full: m[2].startsWith('Mark-'), usedMb: Number(m[3]), committedMb: Number(m[4]) } : undefined;
}

/** Whether a line of the service's output is V8's GC trace (kept out of the start-up text). */
export const isGcTrace = (line: string): boolean => /^\[\d+:0x[0-9a-f]+\]\s+[\d.]+ ms: /.test(line);

export interface LevelSlope {
  /** MB/min of the line through the windows' levels (NaN: fewer than two windows had a sample). */
  readonly slope: number;
  /** Level of each window that had a sample: its middle (min since the sampler started) and value (MB). */
  readonly levels: readonly { readonly min: number; readonly mb: number }[];
}

export const lowest = (xs: readonly number[]): number => Math.min(...xs);
export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Splits `[fromMs, toMs)` into `windows` equal windows, takes the `level`
 * (lowest, median) of each window's samples, and fits a line through those
 * levels (MB/min).
 * @example levelSlope(liveHeap, 60_000, 300_000, lowest) // the floor of 1–3 min against that of 3–5 min
 */
export function levelSlope(samples: readonly MemorySample[], fromMs: number, toMs: number, level: (mbs: readonly number[]) => number, windows = 2): LevelSlope {
  const width = (toMs - fromMs) / windows;
  const levels: { min: number; mb: number }[] = [];
  for (let w = 0; w < windows && width > 0; w++) {
    const a = fromMs + w * width;
    const inside = samples.filter((s) => s.t >= a && s.t < a + width).map((s) => s.mb);
    if (inside.length) levels.push({ min: (a + width / 2) / 60_000, mb: level(inside) });
  }
  const slope = levels.length >= 2 ? linearRegression(levels.map((f) => [f.min, f.mb])).m : NaN;
  return { slope, levels };
}

/** Least-squares slope of samples in `[fromMs, toMs)` (MB/min); NaN under 3 samples. */
export function leastSquaresSlope(samples: readonly MemorySample[], fromMs: number, toMs: number): number {
  const used = samples.filter((s) => s.t >= fromMs && s.t < toMs);
  return used.length >= 3 ? linearRegression(used.map((s) => [s.t / 60_000, s.mb])).m : NaN;
}

/** A GC counts for an RSS sample when it ended at most this long before it (V8 scavenges several times a second under load). */
const GC_PAIRING_MS = 2_000;

/**
 * RSS minus the heap V8 had committed at the last collection before each
 * RSS sample: the service's memory outside the JavaScript heap. `gcs` carry
 * `t` on the samples' clock, oldest first.
 */
export function outsideHeap(rss: readonly MemorySample[], gcs: readonly (GcEvent & { readonly t: number })[]): MemorySample[] {
  const out: MemorySample[] = [];
  let j = -1;
  for (const s of rss) {
    while (j + 1 < gcs.length && gcs[j + 1].t <= s.t) j++;
    if (j >= 0 && s.t - gcs[j].t <= GC_PAIRING_MS) out.push({ t: s.t, mb: s.mb - gcs[j].committedMb });
  }
  return out;
}

export interface MemoryVerdict {
  /** Heap used after full collections: lowest per half. */
  readonly live: LevelSlope;
  readonly fullGcs: number;
  /** RSS outside V8's heap: median per half. */
  readonly outside: LevelSlope;
  readonly outsideSamples: number;
  /** What is judged: the two slopes added, negative parts as 0 (NaN when either cannot be measured). */
  readonly slope: number;
  /** The least-squares slope of raw RSS, printed only. */
  readonly rssSlope: number;
}

/** The soak's memory over `[fromMs, toMs)` of the sampler's clock. */
export function judgeMemory(rss: readonly MemorySample[], gcs: readonly (GcEvent & { readonly t: number })[], fromMs: number, toMs: number): MemoryVerdict {
  const full = gcs.filter((g) => g.full && g.t >= fromMs && g.t < toMs);
  const live = levelSlope(
    full.map((g) => ({ t: g.t, mb: g.usedMb })),
    fromMs,
    toMs,
    lowest,
  );
  const outsideSamples = outsideHeap(rss, gcs).filter((s) => s.t >= fromMs && s.t < toMs);
  const outside = levelSlope(outsideSamples, fromMs, toMs, median);
  const slope = Math.max(0, live.slope) + Math.max(0, outside.slope); // NaN stays NaN
  return { live, fullGcs: full.length, outside, outsideSamples: outsideSamples.length, slope, rssSlope: leastSquaresSlope(rss, fromMs, toMs) };
}
