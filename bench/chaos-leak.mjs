/**
 * A leak injected into the chaos bench's service to check that its memory
 * goal catches one (docs/performance.md "Chaos"): not loaded otherwise.
 *
 *   CHAOS_SERVICE_NODE_OPTIONS="--import $PWD/bench/chaos-leak.mjs" npm run bench -- chaos --hours 24 --soak-s 180
 *
 * Every second it retains about 50 KB of JavaScript objects
 * (the live heap grows) and as much in touched Buffers (memory outside V8's
 * heap grows): about 3 MB/min each.
 */
const kept = [];
const kb = 50;
setInterval(() => {
  const objects = [];
  for (let i = 0; i < kb * 10; i++) objects.push({ a: i, b: `x${i}`, c: [i, i + 1] });
  kept.push(objects, Buffer.alloc(kb * 1024, 1));
}, 1000).unref();
