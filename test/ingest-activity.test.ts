import { describe, expect, it, vi } from 'vitest';
import { createIngestActivity } from '../models/ingest-activity.js';
import { createPeriodic } from '../models/periodic.js';

describe('ingest activity (background work yields to bulk loads)', () => {
  it('is busy from the bulk rate over the last second, gates loops, bounds the wait and wakes them when the load ends', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    try {
      const activity = createIngestActivity({ busyRowsPerS: 20_000, maxDeferMs: 5_000 });
      const gate = activity.gate();
      const woken: number[] = [];
      activity.onQuiet(() => woken.push(Date.now()));
      expect(activity.busy()).toBe(false);
      expect(gate()).toBe(0);
      // a trickle: 1 000 rows a quarter second (4 000/s) is not a bulk load
      for (let i = 0; i < 8; i++) {
        activity.note(1_000);
        vi.advanceTimersByTime(250);
      }
      expect(activity.busy()).toBe(false);
      expect(woken).toEqual([]);
      // a bulk load: 20 000 rows at once, then 10 000 rows a quarter second for 6 s
      activity.note(20_000);
      expect(activity.busy()).toBe(true);
      const waits: number[] = [];
      for (let i = 0; i < 24; i++) {
        activity.note(10_000);
        waits.push(gate());
        vi.advanceTimersByTime(250);
      }
      expect(activity.busy()).toBe(true);
      // the loop waited, then ran one round after maxDeferMs (5 s = 20 quarter seconds), then waited again
      expect(waits.slice(0, 20).every((w) => w > 0)).toBe(true);
      expect(waits[20]).toBe(0);
      expect(waits.slice(21).every((w) => w > 0)).toBe(true);
      expect(woken).toEqual([]);
      const end = Date.now();
      vi.advanceTimersByTime(2_000); // no rows for half a second: the load has ended
      expect(woken).toHaveLength(1);
      expect(woken[0] - end).toBeLessThanOrEqual(750); // half a second without rows ends it
      expect(activity.busy()).toBe(false);
      expect(gate()).toBe(0);
    } finally {
      vi.useRealTimers();
    }
  });

  it('ends a fast load sooner: four times its usual pause between stores, at least 150 ms', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    try {
      const activity = createIngestActivity({ busyRowsPerS: 20_000, maxDeferMs: 60_000 });
      const woken: number[] = [];
      activity.onQuiet(() => woken.push(Date.now()));
      // 10 000 rows every 20 ms for 2 s (500 000 rows/s, as a head-end's backlog over HTTP)
      for (let i = 0; i < 100; i++) {
        activity.note(10_000);
        vi.advanceTimersByTime(20);
      }
      const end = Date.now() - 20;
      expect(activity.busy()).toBe(true);
      vi.advanceTimersByTime(100); // a pause of 120 ms (a GC pause, a slow commit) is not the end
      expect(woken).toEqual([]);
      vi.advanceTimersByTime(1_000);
      expect(woken).toHaveLength(1);
      expect(woken[0] - end).toBeGreaterThanOrEqual(150);
      expect(woken[0] - end).toBeLessThanOrEqual(250); // instead of 500–750 ms
      // the next load starts from the cautious half second again
      activity.note(30_000);
      const start = Date.now();
      vi.advanceTimersByTime(2_000);
      expect(woken).toHaveLength(2);
      expect(woken[1] - start).toBeGreaterThanOrEqual(500);
    } finally {
      vi.useRealTimers();
    }
  });

  it('never waits with a threshold of 0', () => {
    const activity = createIngestActivity({ busyRowsPerS: 0, maxDeferMs: 1_000 });
    activity.note(1e9);
    expect(activity.busy()).toBe(false);
    expect(activity.gate()()).toBe(0);
  });

  it("wake() runs a periodic loop's next round at once", async () => {
    vi.useFakeTimers();
    try {
      let rounds = 0;
      const loop = createPeriodic({ tick: async () => void rounds++, everyMs: 60_000, onError: () => {} });
      loop.start();
      await vi.advanceTimersByTimeAsync(10);
      expect(rounds).toBe(1);
      loop.wake();
      await vi.advanceTimersByTimeAsync(10);
      expect(rounds).toBe(2);
      await loop.stop();
      loop.wake(); // stopped: nothing
      await vi.advanceTimersByTimeAsync(120_000);
      expect(rounds).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });
});
