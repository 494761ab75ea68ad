import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingComponent } from '../billing/billing.component.js';
import { createAlarmsComponent } from '../ingest/alarms/alarms.component.js';
import { invalidateAlarmRules } from '../ingest/alarms/rules.js';
import { ingestReadings } from '../ingest/pipeline.js';
import { createVeeWorker } from '../ingest/vee/vee-worker.js';
import type { AlarmRuleDefinition } from '../models/alarm.js';
import { MeterSchema } from '../models/meter.js';
import { listAlarms } from '../sql/alarm.repository.js';
import { putAlarmRule } from '../sql/alarm-rule.repository.js';
import { findReadiness } from '../sql/billing.repository.js';
import type { Database } from '../sql/database.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

/*
 * Issue 11, defect 3: data already stored (before ingest had plausibility
 * bounds, a direct edit, an old import) must not stop a background job for
 * everyone. The poison goes straight into the tables, as such data would have;
 * then the real component ticks run on the real database.
 */

const H = 3_600_000;
const M = 60_000;
const IST = 'Europe/Istanbul';
const NOW = Date.parse('2026-01-20T09:00:00Z');
const http = { transport: 'http', principal: 'test' } as const;

/** Timers that never fire: the test drives the ticks. */
const still = { setTimeout: () => 0, clearTimeout: () => {} };

interface Line {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg?: string;
}
function capture() {
  const lines: Line[] = [];
  const at = (level: Line['level']) => (obj: object | string, msg?: string) => void lines.push({ level, obj: typeof obj === 'string' ? {} : (obj as Record<string, unknown>), msg: typeof obj === 'string' ? obj : msg });
  return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') }, errors: () => lines.filter((l) => l.level === 'error') };
}

/** A stored reading as an old version, a direct edit or an import would have left it, with its VEE queue entry and billing dirty day. */
async function poison(database: Database, meterId: number, start: string, value: number): Promise<void> {
  const { rows } = await sql<{ id: number }>`INSERT INTO ingest_batches (transport, principal) VALUES ('test', 'poison') RETURNING id`.execute(database.db);
  await sql`
    INSERT INTO readings (meter_id, channel, start, value, quality, source, batch_id) VALUES (${meterId}, 1, ${start}::timestamptz, ${value}, 0, 0, ${rows[0].id})
    ON CONFLICT (meter_id, channel, start) DO UPDATE SET value = excluded.value, batch_id = excluded.batch_id`.execute(database.db);
  const day = sql`(${start}::timestamptz AT TIME ZONE m.timezone)::date`;
  await sql`INSERT INTO vee_queue (meter_id, channel, local_date) SELECT m.id, 1, ${day} FROM meters m WHERE m.id = ${meterId} ON CONFLICT DO NOTHING`.execute(database.db);
  await sql`INSERT INTO billing_dirty (meter_id, local_date) SELECT m.id, ${day} FROM meters m WHERE m.id = ${meterId} ON CONFLICT DO NOTHING`.execute(database.db);
}

/** Meters A, B, P, Y (Istanbul), hourly active import on 10–11 January 2026; P holds 1.8e308 at one hour, Y a reading in the year 9999. */
async function fixture(database: Database, extra: Record<string, unknown> = {}): Promise<Record<string, number>> {
  await upsertMeters(database, ['A', 'B', 'P', 'Y'].map((id) => MeterSchema.parse({ id, timezone: IST, ...extra })));
  const ids: Record<string, number> = {};
  for (const r of await database.db.selectFrom('meters').select(['id', 'external_id']).execute()) ids[r.external_id] = r.id;
  const rows = [];
  for (const meter of ['A', 'B', 'P', 'Y']) for (let h = 0; h < 48; h++) rows.push({ meter, channel: 'active_import', start: new Date(Date.parse('2026-01-09T21:00:00Z') + h * H).toISOString(), value: 1 });
  expect((await ingestReadings(database, rows, http)).rejected).toEqual([]);
  await poison(database, ids.P, '2026-01-10T05:00:00Z', 1.7976931348623157e308);
  await poison(database, ids.Y, '9999-12-31T23:00:00Z', 1); // local date 10000-01-01 in Istanbul
  return ids;
}

describe.each(FLAVOURS)('background jobs isolate a failing item (%s)', (flavour) => {
  describe('billing', () => {
    let database: Database;
    let ids: Record<string, number>;
    beforeAll(async () => {
      database = await freshDatabase(flavour);
      ids = await fixture(database);
    });
    afterAll(() => database?.close());

    const dirty = async () =>
      (await sql<{ meter: string; day: string }>`SELECT m.external_id AS meter, d.local_date::text AS day FROM billing_dirty d JOIN meters m ON m.id = d.meter_id ORDER BY 1, 2`.execute(database.db)).rows;
    const rolled = async () =>
      (await sql<{ meter: string; day: string }>`SELECT m.external_id AS meter, d.local_date::text AS day FROM billing_daily d JOIN meters m ON m.id = d.meter_id ORDER BY 1, 2`.execute(database.db)).rows;

    it('an overflowing value (1.8e308) and a reading in the year 9999 fail only their meter day; the rest is rolled up and ready, the probe stays ok and names them, logged once, retried with backoff', async () => {
      let now = NOW;
      const logs = capture();
      const c = createBillingComponent({ database, rollupMs: 15_000, readinessMs: 60 * M, params: { noDataDays: 3 }, now: () => now, timers: still });
      await c.start(logs.log);
      await c.tick(); // before the fix: "value out of range: overflow" for every meter, nothing rolled up

      // Only the two poisoned days stay dirty (billing reads them from the readings); every other day is rolled up.
      expect(await dirty()).toEqual([
        { meter: 'P', day: '2026-01-10' },
        { meter: 'Y', day: '10000-01-01' },
      ]);
      expect(await rolled()).toEqual([
        { meter: 'A', day: '2026-01-10' },
        { meter: 'A', day: '2026-01-11' },
        { meter: 'B', day: '2026-01-10' },
        { meter: 'B', day: '2026-01-11' },
        { meter: 'P', day: '2026-01-11' },
        { meter: 'Y', day: '2026-01-10' },
        { meter: 'Y', day: '2026-01-11' },
      ]);

      // Readiness of January: every meter checked; P (its raw day overflows) not billable with the reason.
      const ready = (await findReadiness(database, '2026-01'))!.result as { meters: number; notBillable: { meter: string; reasons: { code: string; message: string }[] }[] };
      expect(ready.meters).toBe(4);
      const p = ready.notBillable.find((n) => n.meter === 'P')!;
      expect(p.reasons).toEqual([{ code: 'figures_failed', message: expect.stringMatching(/out of range/) }]);
      for (const m of ['A', 'B', 'Y']) expect(ready.notBillable.find((n) => n.meter === m)?.reasons.map((r) => r.code) ?? []).not.toContain('figures_failed');

      let probe = c.probe.check() as Record<string, any>;
      expect(probe.ok).toBe(true);
      expect(probe.error).toBeUndefined();
      expect(probe.readiness.periods['2026-01']).toEqual({ meters: 4, notBillable: expect.any(Number) });
      expect(probe.failingCount).toBe(3);
      const byKey = Object.fromEntries((probe.failing as Record<string, unknown>[]).map((f) => [f.key, f]));
      expect(byKey[`rollup|${ids.P}|2026-01-10`]).toMatchObject({ meter: 'P', localDate: '2026-01-10', error: expect.stringMatching(/out of range/), since: new Date(NOW).toISOString(), attempts: 1, retryAt: new Date(NOW + M).toISOString() });
      expect(byKey[`rollup|${ids.Y}|10000-01-01`]).toMatchObject({ meter: 'Y', localDate: '10000-01-01', attempts: 1 });
      expect(byKey[`readiness|2026-01|P`]).toMatchObject({ meter: 'P', period: '2026-01', attempts: 1 });
      expect(logs.errors().map((l) => (l.obj.item as { key: string }).key).sort()).toEqual(Object.keys(byKey).sort());

      // The next tick (15 s later) leaves them out: nothing fails, nothing is logged at error.
      now += 15_000;
      await c.tick();
      probe = c.probe.check() as Record<string, any>;
      expect(probe).toMatchObject({ ok: true, failingCount: 3, rollup: { adopted: 0, refreshed: 0 } });
      expect((probe.failing as { attempts: number }[]).map((f) => f.attempts)).toEqual([1, 1, 1]);
      expect(logs.errors()).toHaveLength(3);

      // After the backoff they are tried again (and fail again): counted, logged below error.
      now += 2 * M;
      await c.tick();
      probe = c.probe.check() as Record<string, any>;
      expect(probe.failing.find((f: { key: string }) => f.key === `rollup|${ids.P}|2026-01-10`)).toMatchObject({ attempts: 2, since: new Date(NOW).toISOString() });
      expect(logs.errors()).toHaveLength(3);
      expect(logs.lines.filter((l) => l.level === 'debug' && /still failing/.test(l.msg ?? ''))).not.toHaveLength(0);

      // Someone corrects P's value: at its next retry the day is rolled up and the item is gone.
      await sql`UPDATE readings SET value = 1 WHERE meter_id = ${ids.P} AND start = '2026-01-10T05:00:00Z'`.execute(database.db);
      now += 60 * M;
      await c.tick();
      expect(await dirty()).toEqual([{ meter: 'Y', day: '10000-01-01' }]);
      probe = c.probe.check() as Record<string, any>;
      expect(probe).toMatchObject({ ok: true, failingCount: 1 });
      expect(probe.failing[0]).toMatchObject({ key: `rollup|${ids.Y}|10000-01-01` });
      expect(logs.lines.filter((l) => l.level === 'info' && /processed again/.test(l.msg ?? '')).map((l) => l.obj.item).sort()).toEqual([`readiness|2026-01|P`, `rollup|${ids.P}|2026-01-10`]);
      await c.stop();
    });
  });

  describe('vee', () => {
    let database: Database;
    let ids: Record<string, number>;
    beforeAll(async () => {
      database = await freshDatabase(flavour);
      ids = await fixture(database);
    });
    afterAll(() => database?.close());

    const queue = async () =>
      (await sql<{ meter: string; day: string; claimed: boolean }>`
        SELECT m.external_id AS meter, q.local_date::text AS day, q.claimed_at IS NOT NULL AS claimed FROM vee_queue q JOIN meters m ON m.id = q.meter_id ORDER BY 1, 2`.execute(database.db)).rows;

    it('a reading in the year 9999 does not stop or loop the queue: its day is parked with the reason, every other day validated, retried with backoff, logged once', async () => {
      let now = NOW;
      const logs = capture();
      const w = createVeeWorker({ database, now: () => now, timers: still, batchSize: 500 });
      await w.start(logs.log);
      expect((await queue()).length).toBeGreaterThan(8);
      await w.drainOnce(); // before the fix: "Invalid time value", every claimed entry stuck until the claim goes stale

      expect(await queue()).toEqual([{ meter: 'Y', day: '10000-01-01', claimed: true }]);
      const issues = await database.db.selectFrom('validation_issues').select('meter_id').distinct().execute();
      expect(issues.map((i) => i.meter_id)).toContain(ids.P); // P's absurd value was validated (spike/high), not a failure
      let probe = (await w.probe.check()) as Record<string, any>;
      expect(probe).toMatchObject({ ok: true, pending: 1, failingCount: 1 });
      expect(probe.error).toBeUndefined();
      expect(probe.failing[0]).toMatchObject({ key: `day|${ids.Y}|10000-01-01`, meter: 'Y', localDate: '10000-01-01', error: expect.stringMatching(/implausible/), attempts: 1 });
      expect(logs.errors()).toHaveLength(1);

      // The parked day is not claimed again before its retry time: the queue is idle, no loop.
      now += 30_000;
      expect(await w.drainOnce()).toBe(0);
      // New data for the other meters goes through at once.
      await ingestReadings(database, [{ meter: 'A', channel: 'active_import', start: '2026-01-12T00:00:00Z', value: 1 }], http);
      expect(await w.drainOnce()).toBe(1);
      expect(await queue()).toEqual([{ meter: 'Y', day: '10000-01-01', claimed: true }]);

      // After the backoff it is tried again, fails again: counted, logged below error.
      now += 2 * M;
      expect(await w.drainOnce()).toBe(1);
      probe = (await w.probe.check()) as Record<string, any>;
      expect(probe.failing[0]).toMatchObject({ attempts: 2, since: new Date(NOW).toISOString() });
      expect(logs.errors()).toHaveLength(1);
      await w.stop();
    });

    it('a meter day whose validation throws is isolated: the round goes meter by meter, then day by day; the rest is validated', async () => {
      let now = NOW + 24 * H;
      const logs = capture();
      // A time zone no one knows (a direct edit of the registry): validating B throws, for every day of B.
      await sql`UPDATE meters SET timezone = 'Mars/Olympus_Mons' WHERE id = ${ids.B}`.execute(database.db);
      await sql`INSERT INTO vee_queue (meter_id, channel, local_date) VALUES (${ids.A}, 1, '2026-01-10'), (${ids.B}, 1, '2026-01-10'), (${ids.B}, 1, '2026-01-11')`.execute(database.db);
      const w = createVeeWorker({ database, now: () => now, timers: still });
      await w.start(logs.log);
      expect(await w.drainOnce()).toBe(4); // with Y's parked day, its retry time passed
      expect((await queue()).map((q) => `${q.meter} ${q.day}`)).toEqual(['B 2026-01-10', 'B 2026-01-11', 'Y 10000-01-01']);
      const probe = (await w.probe.check()) as Record<string, any>;
      expect(probe).toMatchObject({ ok: true, failingCount: 3 });
      expect(probe.failing.filter((f: { meter: string }) => f.meter === 'B')).toEqual([
        expect.objectContaining({ localDate: '2026-01-10', error: expect.stringMatching(/time zone|timeZone|Mars/i) }),
        expect.objectContaining({ localDate: '2026-01-11' }),
      ]);
      await sql`UPDATE meters SET timezone = ${IST} WHERE id = ${ids.B}`.execute(database.db);
      now += H;
      await w.drainOnce();
      expect((await queue()).map((q) => `${q.meter} ${q.day}`)).toEqual(['Y 10000-01-01']);
      expect(w.failing.keys('day|').map((k) => k)).toEqual([`day|${ids.Y}|10000-01-01`]);
      await w.stop();
    });
  });

  describe('alarms', () => {
    let database: Database;
    let ids: Record<string, number>;
    const rule = async (id: string, definition: Record<string, unknown>) => {
      await putAlarmRule(database, { id, definition: definition as AlarmRuleDefinition, enabled: true, by: 'test' });
      invalidateAlarmRules(database);
    };
    beforeAll(async () => {
      database = await freshDatabase(flavour);
      ids = await fixture(database, { group: 'north' });
      // The database refuses P's alarm rows (stands in for any data error of one meter's alarm change).
      await sql.raw(`ALTER TABLE alarms ADD CONSTRAINT test_poison CHECK (meter_id <> ${ids.P}) NOT VALID`).execute(database.db);
    });
    afterAll(() => database?.close());

    it('silence check: a meter whose alarm cannot be written is isolated; the other silent meters get theirs; probe ok and names it; retried with backoff, logged once', async () => {
      let now = NOW; // A, B, P: newest reading 8 days old; Y's newest is in the year 9999, not silent
      await rule('quiet', { kind: 'silence', groups: ['north'], hours: 6 });
      const logs = capture();
      const c = createAlarmsComponent({ database, intervalMs: 60_000, now: () => now, timers: still });
      await c.start(logs.log);
      await c.tick(); // before the fix: the check fails for every meter, no alarm opened

      const open = await listAlarms(database, { code: 'no_data', state: 'active', limit: 10 });
      expect(open.map((a) => a.meter).sort()).toEqual(['A', 'B']);
      let probe = c.probe.check() as Record<string, any>;
      expect(probe).toMatchObject({ ok: true, silenceCheck: { opened: 2 }, failingCount: 1 });
      expect(probe.failing[0]).toMatchObject({ key: `silence|${ids.P}`, meter: 'P', error: expect.stringMatching(/test_poison/), attempts: 1 });
      expect(logs.errors()).toHaveLength(1);

      now += M / 2;
      await c.tick(); // P waits for its retry
      probe = c.probe.check() as Record<string, any>;
      expect(probe.failing[0]).toMatchObject({ attempts: 1 });
      now += 2 * M;
      await c.tick();
      probe = c.probe.check() as Record<string, any>;
      expect(probe.failing[0]).toMatchObject({ attempts: 2 });
      expect(logs.errors()).toHaveLength(1);

      await sql`ALTER TABLE alarms DROP CONSTRAINT test_poison`.execute(database.db);
      now += 10 * M;
      await c.tick();
      expect((await listAlarms(database, { code: 'no_data', state: 'active', limit: 10 })).map((a) => a.meter).sort()).toEqual(['A', 'B', 'P']);
      expect(c.probe.check()).not.toHaveProperty('failing');
      await c.stop();
      await sql.raw(`ALTER TABLE alarms ADD CONSTRAINT test_poison CHECK (meter_id <> ${ids.P}) NOT VALID`).execute(database.db);
    });

    it('VEE alarms: a meter whose alarm cannot be written does not fail validation; the others are raised; the VEE probe names it', async () => {
      await rule('vee-negative', { kind: 'vee', veeRules: ['negative'], severity: 'major' });
      await ingestReadings(database, ['A', 'P'].map((meter) => ({ meter, channel: 'active_import', start: '2026-01-15T10:00:00Z', value: -5 })), http);
      await sql`DELETE FROM vee_queue WHERE local_date <> '2026-01-15'`.execute(database.db);
      const logs = capture();
      const w = createVeeWorker({ database, now: () => NOW, timers: still });
      await w.start(logs.log);
      expect(await w.drainOnce()).toBe(2);
      expect(await database.db.selectFrom('vee_queue').selectAll().execute()).toEqual([]); // both days validated
      expect((await listAlarms(database, { code: 'vee_negative', limit: 10 })).map((a) => a.meter)).toEqual(['A']);
      const issues = await database.db.selectFrom('validation_issues').select(['meter_id']).where('rule', '=', 'negative').execute();
      expect(issues.map((i) => i.meter_id).sort()).toEqual([ids.A, ids.P].sort());
      const probe = (await w.probe.check()) as Record<string, any>;
      expect(probe).toMatchObject({ ok: true, failingCount: 1 });
      expect(probe.failing[0]).toMatchObject({ key: `alarm|${ids.P}`, meter: 'P', error: expect.stringMatching(/test_poison/) });
      expect(logs.errors()).toHaveLength(1);
      await w.stop();
    });
  });
});
