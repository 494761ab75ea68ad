/**
 * Seeded pseudo-random numbers for reproducible fixtures, benchmarks,
 * simulated forecast errors and model initialisation: the one PRNG of the
 * codebase. Pure.
 */

/**
 * mulberry32: a small, fast 32-bit PRNG; the same seed gives the same sequence.
 * @example const rand = seededRandom(7); rand() // a number in [0, 1)
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/** A standard normal draw (Box–Muller) from a uniform source such as seededRandom. */
export function gaussian(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}
