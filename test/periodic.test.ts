import { describe, expect, it } from 'vitest';
import { createPeriodic, type Timers } from '../models/periodic.js';

/** Timers the test fires by hand: `fire()` runs the pending callback and reports its delay. */
function manualTimers() {
  let pending: { fn: () => void; ms: number } | undefined;
  const timers: Timers = {
    setTimeout: (fn, ms) => (pending = { fn, ms }),
    clearTimeout: (h) => {
      if (h === pending) pending = undefined;
    },
  };
  return {
    timers,
    get delay() {
      return pending?.ms;
    },
    async fire() {
      const p = pending;
      pending = undefined;
      p?.fn();
      for (let i = 0; i < 10; i++) await Promise.resolve(); // let the round settle
    },
  };
}

describe('createPeriodic: the loop of the background components', () => {
  it('runs a round at once, then after everyMs or the pause the round asks for; a failed round is reported, kept as lastError and the loop goes on', async () => {
    const t = manualTimers();
    const results: (() => Promise<number | void>)[] = [async () => 0, async () => {}, async () => Promise.reject(new Error('db down')), async () => {}];
    const errors: string[] = [];
    let after = 0;
    const loop = createPeriodic({ tick: () => results.shift()!(), everyMs: 5_000, timers: t.timers, onError: (e) => errors.push(e.message), afterTick: () => after++ });
    loop.start();
    expect(t.delay).toBe(0);
    await t.fire(); // returns 0: more is waiting
    expect(t.delay).toBe(0);
    await t.fire(); // returns nothing: the usual pause
    expect(t.delay).toBe(5_000);
    await t.fire(); // throws
    expect(errors).toEqual(['db down']);
    expect(loop.lastError).toBe('db down');
    expect(t.delay).toBe(5_000);
    await t.fire(); // succeeds again
    expect(loop.lastError).toBeUndefined();
    expect(after).toBe(4);
    await loop.stop();
    expect(t.delay).toBeUndefined();
    expect(loop.running).toBe(false);
  });

  it('a logger that throws in onError or afterTick does not end the loop; stop waits for the round in flight', async () => {
    const t = manualTimers();
    let release!: () => void;
    let rounds = 0;
    const loop = createPeriodic({
      tick: async () => {
        rounds++;
        if (rounds === 1) throw new Error('first');
        if (rounds === 3) await new Promise<void>((r) => (release = r));
      },
      everyMs: 1_000,
      timers: t.timers,
      onError: () => {
        throw new Error('logger broke');
      },
      afterTick: () => {
        if (rounds === 2) throw new Error('reporter broke');
      },
    });
    loop.start();
    await t.fire();
    expect(loop.lastError).toBe('first');
    expect(t.delay).toBe(1_000);
    await t.fire();
    expect(t.delay).toBe(1_000);
    await t.fire(); // round 3 hangs until released
    let stopped = false;
    const stopping = loop.stop().then(() => (stopped = true));
    await Promise.resolve();
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(stopped).toBe(true);
    expect(t.delay).toBeUndefined(); // nothing scheduled after stop
  });
});
