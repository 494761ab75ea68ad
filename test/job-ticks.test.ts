import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAlarmsComponent } from '../alarms/alarms.component.js';
import { enqueueDue } from '../forecast/forecast-job.js';
import { parseForecastSchedule } from '../models/forecast-schedule.js';
import { MeterSchema } from '../models/meter.js';
import { roundSlot, type Timers } from '../models/periodic.js';
import type { ClaimRound } from '../models/work-metrics.js';
import type { Database } from '../sql/database.js';
import { getRun } from '../sql/forecast.repository.js';
import { claimJobTick, listJobTicks } from '../sql/job-tick.repository.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

/**
 * Issue 19: instances on one database run each round of a periodic job once.
 * Two instance names on one database stand for two `mdm serve` processes
 * (bench/fleet.bench.ts does it with three real ones).
 */

/** Timers the test fires by hand (one pending callback); fire() returns once the round has ended (it scheduled the next). */
function manualTimers() {
  let pending: (() => void) | undefined;
  const timers: Timers = { setTimeout: (fn) => (pending = fn), clearTimeout: () => (pending = undefined) };
  return {
    timers,
    async fire() {
      const fn = pending;
      pending = undefined;
      fn?.();
      while (pending === undefined) await new Promise((r) => setTimeout(r, 5));
    },
  };
}

describe.each(FLAVOURS)('rounds of periodic jobs claimed across instances (%s)', (flavour) => {
  let database: Database;
  const claimFor =
    (instance: string): ClaimRound =>
    (job, slot) =>
      claimJobTick(database, { job, slot, instance });

  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await upsertMeters(database, [MeterSchema.parse({ id: 'JT-1', portfolio: 'JP1', timezone: 'Europe/Istanbul' }), MeterSchema.parse({ id: 'JT-2', portfolio: 'JP2', timezone: 'Europe/Istanbul' })]);
  });
  afterAll(() => database?.close());

  it('a round is the first claimant’s: the others skip it, the claimant may claim it again, the next round is open; rounds older than 7 days are dropped', async () => {
    const slot = roundSlot(Date.parse('2026-12-08T10:07:30Z'), 300_000);
    expect(slot.toISOString()).toBe('2026-12-08T10:05:00.000Z');
    const a = claimFor('host-a:1');
    const b = claimFor('host-b:2');
    expect(await a('test.job', slot)).toBe(true);
    expect(await b('test.job', slot)).toBe(false);
    expect(await a('test.job', slot)).toBe(true); // a round it failed to finish is its own to retry
    expect(await b('other.job', slot)).toBe(true); // jobs are claimed apart
    const next = new Date(slot.getTime() + 300_000);
    expect(await b('test.job', next)).toBe(true);
    expect(await a('test.job', next)).toBe(false);
    expect((await listJobTicks(database, 'test.')).map((t) => [t.slot.toISOString(), t.instance])).toEqual([
      ['2026-12-08T10:05:00.000Z', 'host-a:1'],
      ['2026-12-08T10:10:00.000Z', 'host-b:2'],
    ]);
    expect(await a('test.job', new Date(slot.getTime() + 8 * 86_400_000))).toBe(true);
    expect((await listJobTicks(database, 'test.')).map((t) => t.slot.toISOString())).toEqual(['2026-12-16T10:05:00.000Z']);
  });

  it('scheduled forecast runs and retrains: two instances at the same due instant queue each once', async () => {
    const parsed = parseForecastSchedule('day-ahead@09:30; retrain@03:00 portfolio:JP1');
    if (!parsed.ok) throw new Error(parsed.reason);
    const now = Date.parse('2019-10-20T09:40:00+03:00');
    const [a, b] = await Promise.all([enqueueDue(database, parsed.entries, now, new Set(), claimFor('host-a:1')), enqueueDue(database, parsed.entries, now, new Set(), claimFor('host-b:2'))]);
    const runs = await Promise.all([...a.queued, ...b.queued].map((id) => getRun(database, id)));
    expect(runs.map((r) => `${r?.target} ${r?.issueTime.toISOString()}`).sort()).toEqual(['portfolio:JP1 2019-10-20T06:30:00.000Z', 'portfolio:JP2 2019-10-20T06:30:00.000Z']);
    expect([...a.retrain, ...b.retrain]).toEqual([{ target: 'portfolio:JP1', due: Date.parse('2019-10-20T03:00:00+03:00') }]);
    // A third instance later in the catch-up window finds every round taken.
    const c = await enqueueDue(database, parsed.entries, now + 3_600_000, new Set(), claimFor('host-c:3'));
    expect([c.queued, c.retrain]).toEqual([[], []]);
  });

  it('the silence check: of two alarms components on one database, one checks each round', async () => {
    const t0 = Date.parse('2026-12-08T10:00:10Z');
    let now = t0;
    const made = ['host-a:1', 'host-b:2'].map((name) => {
      const t = manualTimers();
      const c = createAlarmsComponent({ database, intervalMs: 60_000, now: () => now, timers: t.timers, claimRound: claimFor(name) });
      return { c, t, checked: () => c.probe.check().silenceCheck as { at: string } | null };
    });
    for (const m of made) await m.c.start();
    try {
      await made[1].t.fire(); // b first in this round
      await made[0].t.fire();
      expect(made.map((m) => m.checked()?.at ?? null)).toEqual([null, new Date(t0).toISOString()]);
      now += 60_000; // next round: a first
      await made[0].t.fire();
      await made[1].t.fire();
      expect(made.map((m) => m.checked()?.at ?? null)).toEqual([new Date(now).toISOString(), new Date(t0).toISOString()]);
    } finally {
      for (const m of made) await m.c.stop();
    }
  });
});
