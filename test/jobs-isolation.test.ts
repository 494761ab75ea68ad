import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBillingComponent } from '../billing/billing.component.js';
import { runForecast } from '../forecast/engine.js';
import { createForecastWorker } from '../forecast/forecast-job.js';
import { horizonWindow } from '../forecast/horizon.js';
import type { ForecastModel, SeriesData } from '../forecast/model.js';
import { storedTargetEngine } from '../forecast/stored-engine.js';
import { createForecastThreads } from '../forecast/forecast-threads.js';
import { createAlarmsComponent } from '../alarms/alarms.component.js';
import { createHookDispatcher } from '../alarms/hook-dispatcher.js';
import type { PostResponse } from '../alarms/hook-http-post.js';
import { invalidateAlarmRules } from '../alarms/rules.js';
import { ingestReadings } from '../ingest/pipeline.js';
import { createVeeWorker } from '../ingest/vee/vee-worker.js';
import type { AlarmRuleDefinition } from '../models/alarm.js';
import { MeterSchema } from '../models/meter.js';
import { listAlarms } from '../sql/alarm.repository.js';
import { putAlarmRule } from '../sql/alarm-rule.repository.js';
import { findReadiness } from '../sql/billing.repository.js';
import { createRun } from '../sql/forecast.repository.js';
import type { Database } from '../sql/database.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { createFailingItems } from '../models/failing-items.js';
import { testApp } from './api-helpers.js';
import { FLAVOURS, freshDatabase } from './helpers.js';
import { until } from './hook-receiver.js';
import { ALARM_LISTENERS, recordEvents } from './alarm-wiring.js';

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
const http = { transport: 'http', principal: 'test', listeners: ALARM_LISTENERS } as const;

/** Timers that never fire: the test drives the ticks. */
const still = { setTimeout: () => 0, clearTimeout: () => {} };

interface Line {
  level: 'debug' | 'info' | 'warn' | 'error';
  obj: Record<string, unknown>;
  msg?: string;
}
function capture() {
  const lines: Line[] = [];
  const at = (level: Line['level']) => (obj: object | string, msg?: string) =>
    void lines.push({ level, obj: typeof obj === 'string' ? {} : (obj as Record<string, unknown>), msg: typeof obj === 'string' ? obj : msg });
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
  await upsertMeters(
    database,
    ['A', 'B', 'P', 'Y'].map((id) => MeterSchema.parse({ id, timezone: IST, ...extra })),
  );
  const ids: Record<string, number> = {};
  for (const r of await database.db.selectFrom('meters').select(['id', 'external_id']).execute()) ids[r.external_id] = r.id;
  const rows = [];
  for (const meter of ['A', 'B', 'P', 'Y'])
    for (let h = 0; h < 48; h++) rows.push({ meter, channel: 'active_import', start: new Date(Date.parse('2026-01-09T21:00:00Z') + h * H).toISOString(), value: 1 });
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
      (await sql<{ meter: string; day: string }>`SELECT m.external_id AS meter, d.local_date::text AS day FROM billing_dirty d JOIN meters m ON m.id = d.meter_id ORDER BY 1, 2`.execute(database.db))
        .rows;
    const rolled = async () =>
      (await sql<{ meter: string; day: string }>`SELECT m.external_id AS meter, d.local_date::text AS day FROM billing_daily d JOIN meters m ON m.id = d.meter_id ORDER BY 1, 2`.execute(database.db))
        .rows;

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
      expect(byKey[`rollup|${ids.P}|2026-01-10`]).toMatchObject({
        meter: 'P',
        localDate: '2026-01-10',
        error: expect.stringMatching(/out of range/),
        since: new Date(NOW).toISOString(),
        attempts: 1,
        retryAt: new Date(NOW + M).toISOString(),
      });
      expect(byKey[`rollup|${ids.Y}|10000-01-01`]).toMatchObject({ meter: 'Y', localDate: '10000-01-01', attempts: 1 });
      expect(byKey[`readiness|2026-01|P`]).toMatchObject({ meter: 'P', period: '2026-01', attempts: 1 });
      expect(
        logs
          .errors()
          .map((l) => (l.obj.item as { key: string }).key)
          .sort(),
      ).toEqual(Object.keys(byKey).sort());

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
      expect(
        logs.lines
          .filter((l) => l.level === 'info' && /processed again/.test(l.msg ?? ''))
          .map((l) => l.obj.item)
          .sort(),
      ).toEqual([`readiness|2026-01|P`, `rollup|${ids.P}|2026-01-10`]);
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
      (
        await sql<{ meter: string; day: string; claimed: boolean }>`
        SELECT m.external_id AS meter, q.local_date::text AS day, q.claimed_at IS NOT NULL AS claimed FROM vee_queue q JOIN meters m ON m.id = q.meter_id ORDER BY 1, 2`.execute(database.db)
      ).rows;

    it('a reading in the year 9999 does not stop or loop the queue: its day is parked with the reason, every other day validated, retried with backoff, logged once', async () => {
      let now = NOW;
      const logs = capture();
      const w = createVeeWorker({ database, listeners: ALARM_LISTENERS, now: () => now, timers: still, batchSize: 500 });
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
      await sql`INSERT INTO vee_queue (meter_id, channel, local_date) VALUES (${ids.A}, 1, '2026-01-10'), (${ids.B}, 1, '2026-01-10'), (${ids.B}, 1, '2026-01-11') ON CONFLICT DO NOTHING`.execute(
        database.db,
      );
      const w = createVeeWorker({ database, listeners: ALARM_LISTENERS, now: () => now, timers: still });
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
      await ingestReadings(
        database,
        ['A', 'P'].map((meter) => ({ meter, channel: 'active_import', start: '2026-01-15T10:00:00Z', value: -5 })),
        http,
      );
      await sql`DELETE FROM vee_queue WHERE local_date <> '2026-01-15'`.execute(database.db);
      const logs = capture();
      const w = createVeeWorker({ database, listeners: ALARM_LISTENERS, now: () => NOW, timers: still });
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

  describe('hooks', () => {
    it("a receiver's answer the database refuses (a NUL in the body) fails only its own delivery; the others' ends are recorded, nothing is sent twice", async () => {
      const t = await testApp(flavour);
      try {
        const rows = await t.database.db
          .insertInto('meters')
          .values(['H1', 'H2', 'H3'].map((id) => ({ external_id: id, commodity: 'electricity', timezone: IST, interval_minutes: 15, multiplier: 1, tariff: 'single', labels: '{}', group: 'north' })))
          .returning(['id', 'external_id'])
          .execute();
        const hook = await t.app.inject({ method: 'POST', url: '/v1/hooks', headers: t.auth('admin'), payload: { url: 'http://receiver.invalid/hook' } });
        expect(hook.statusCode).toBe(201);
        await recordEvents(
          t.database,
          rows.map((r) => ({ meterId: r.id, code: 'tamper', at: new Date(NOW), transport: 'test' })),
        );
        // The three requests are answered together, H1 first: H2's and H3's ends are written in one statement.
        const posts: string[] = [];
        const held: { meter: string; answer: (r: PostResponse) => void }[] = [];
        const answerFor = (meter: string): PostResponse => (meter === 'H2' ? { status: 500, retryAfter: null, text: 'bad\u0000answer' } : { status: 200, retryAfter: null, text: '' });
        const post = (_url: string, _h: Readonly<Record<string, string>>, body: string) =>
          new Promise<PostResponse>((answer) => {
            const meter = (JSON.parse(body) as { meter: { id: string } }).meter.id;
            posts.push(meter);
            if (posts.length > 3) return answer(answerFor(meter));
            held.push({ meter, answer });
            if (held.length === 3) for (const h of held.sort((a, b) => a.meter.localeCompare(b.meter))) h.answer(answerFor(h.meter));
          });
        const d = createHookDispatcher({ database: t.database, timeoutMs: 1_000, maxAttempts: 1, backoffBaseMs: 10, backoffMaxMs: 20, pollMs: 20, concurrency: 4, post });
        await d.start();
        const status = async () =>
          Object.fromEntries(
            (
              await sql<{ meter: string; status: string; last_error: string | null }>`
              SELECT m.external_id AS meter, d.status, d.last_error FROM hook_deliveries d JOIN alarms a ON a.id = d.alarm_id JOIN meters m ON m.id = a.meter_id`.execute(t.database.db)
            ).rows.map((r) => [r.meter, `${r.status} ${r.last_error ?? ''}`.trim()]),
          );
        // Before the fix H2's end was never recorded (it stayed "delivering" and was sent again after each lease) and H3's with it.
        await until('every delivery ended', async () => Object.values(await status()).every((x) => !x.startsWith('delivering') && !x.startsWith('pending')), 5_000);
        await d.stop();
        expect(await status()).toEqual({ H1: 'delivered', H2: expect.stringMatching(/^failed HTTP 500: badanswer/), H3: 'delivered' });
        expect(posts.sort()).toEqual(['H1', 'H2', 'H3']);
      } finally {
        await t.close();
      }
    });
  });

  describe('forecast', () => {
    let database: Database;
    beforeAll(async () => {
      database = await freshDatabase(flavour);
      await upsertMeters(database, [...['A', 'B'].map((id) => MeterSchema.parse({ id, timezone: IST, group: 'G' })), MeterSchema.parse({ id: 'Q', timezone: IST, group: 'G', intervalMinutes: 15 })]);
      const rows = [];
      const from = Date.parse('2026-01-01T00:00:00Z');
      for (let h = 0; h < 20 * 24; h++) {
        for (const meter of ['A', 'B']) rows.push({ meter, channel: 'active_import', start: new Date(from + h * H).toISOString(), value: 1 + (h % 24) / 10 });
        for (let q = 0; q < 4; q++) rows.push({ meter: 'Q', channel: 'active_import', start: new Date(from + h * H + q * 15 * M).toISOString(), value: 0.25 });
      }
      expect((await ingestReadings(database, rows, http)).rejected).toEqual([]);
      // Two quarter-hours of Q at 1.8e308: their hourly sum overflows in the history load.
      const q = (await database.db.selectFrom('meters').select('id').where('external_id', '=', 'Q').executeTakeFirstOrThrow()).id;
      await poison(database, q, '2026-01-15T05:00:00Z', 1.7976931348623157e308);
      await poison(database, q, '2026-01-15T05:15:00Z', 1.7976931348623157e308);
    });
    afterAll(() => database?.close());

    it("a member whose history cannot be loaded is left out of the run and listed in its metadata; the group and the other members are forecast; the worker's probe names it", async () => {
      const id = await createRun(database, { target: 'group:G', horizon: 'day-ahead', model: 'naive', issueTime: new Date('2026-01-20T06:00:00Z'), requestedBy: 'test' });
      const logs = capture();
      const threads = createForecastThreads();
      const w = createForecastWorker({ database, engine: storedTargetEngine(database, threads), pollMs: 60_000, now: () => NOW, timers: still, threads });
      await w.start(logs.log);
      await w.tick(); // before the fix: the run failed, "forecast failed: value out of range: overflow"
      const run = (await sql<{ status: string; error: string | null; metadata: Record<string, any> }>`SELECT status, error, metadata FROM forecast_runs WHERE id = ${id}`.execute(database.db)).rows[0];
      expect(run).toMatchObject({ status: 'partial', error: null }); // a member left out: not done (issue 12, defect 2)
      expect(run.metadata.membersFailed).toEqual([{ meter: 'Q', reason: expect.stringMatching(/left out of the run and of the group sum: .*out of range/) }]);
      expect(run.metadata.meters).toMatchObject({ members: 3, inSupply: 3, withHistory: 2 });
      const targets = (await sql<{ target: string; n: number }>`SELECT target, count(*)::int AS n FROM forecast_values WHERE run_id = ${id} GROUP BY target ORDER BY target`.execute(database.db)).rows;
      expect(targets).toEqual([
        { target: 'group:G', n: 24 },
        { target: 'meter:A', n: 24 },
        { target: 'meter:B', n: 24 },
      ]);
      const probe = w.probe.check() as Record<string, any>;
      expect(probe).toMatchObject({ ok: true, done: 0, partial: 1, failed: 0, failingCount: 1 });
      expect(probe.failing[0]).toMatchObject({ key: 'member|group:G|Q', target: 'group:G', meter: 'Q', error: expect.stringMatching(/out of range/) });
      expect(logs.errors()).toHaveLength(1);
      await w.stop();
    }, 60_000);
  });
});

describe('a forecast model that throws on some series', () => {
  it('does not fail the run: those series get the naive forecast, each listed in the fallbacks with the reason', async () => {
    const T0 = Date.UTC(2026, 0, 1);
    const series = (id: string, scale: number): SeriesData => {
      const values = new Float64Array(40 * 24);
      for (let i = 0; i < values.length; i++) values[i] = scale * (1 + (i % 24) / 10);
      return { id, timezone: 'UTC', startMs: T0, values };
    };
    const throwing: ForecastModel = {
      kind: 'profile',
      fit: async (ss) => {
        if (ss.some((s) => s.values.some((v) => v > 1e300))) throw new Error('weights overflowed');
        throw new Error('unreachable in this test');
      },
    };
    const issueTime = T0 + 38 * 24 * H + 6 * H;
    const w = horizonWindow('day-ahead', issueTime, 'UTC');
    const r = await runForecast(
      [series('meter:a', 1), series('meter:huge', 1e301)],
      { issueTime, dataCutoff: w.dataCutoff, country: 'GB' },
      { ...w, name: 'day-ahead' },
      {
        model: 'profile',
        backtestDays: 0,
        models: { profile: throwing },
      },
    );
    expect(r.rows.map((rows) => rows.length)).toEqual([24, 24]);
    expect(r.rows.every((rows) => rows.every((x) => Number.isFinite(x.p50)))).toBe(true);
    expect(r.info.fallbacks).toEqual([
      { id: 'meter:a', model: 'naive', reason: 'profile failed: weights overflowed' },
      { id: 'meter:huge', model: 'naive', reason: 'profile failed: weights overflowed' },
    ]);
  });
});

describe('failing items', () => {
  it('backs off 1, 2, 4 … 60 minutes, keeps the first failure time, lists at most `shown`, forgets the oldest beyond capacity', () => {
    let t = 0;
    const events: string[] = [];
    const f = createFailingItems({ now: () => t, capacity: 3, shown: 2, report: (e) => events.push(`${e.kind}:${e.item.key}${e.kind === 'failed' ? `:${e.first}` : ''}`) });
    expect(f.probe()).toEqual({});
    f.fail('a', Object.assign(new Error('value out of range:\n overflow'), { code: '22003' }), { meter: 'M1' });
    expect(f.get('a')).toEqual({ key: 'a', meter: 'M1', error: 'value out of range: overflow (SQLSTATE 22003)', since: '1970-01-01T00:00:00.000Z', attempts: 1, retryAt: '1970-01-01T00:01:00.000Z' });
    expect(f.waiting('a')).toBe(true);
    t = M;
    expect(f.waiting('a')).toBe(false);
    const retries = [];
    for (let i = 0; i < 8; i++) retries.push((Date.parse(f.fail('a', 'again').retryAt) - t) / M);
    expect(retries).toEqual([2, 4, 8, 16, 32, 60, 60, 60]);
    expect(f.get('a')).toMatchObject({ since: '1970-01-01T00:00:00.000Z', attempts: 9, error: 'again' });
    f.fail('b', 'x');
    f.fail('c', 'x');
    expect(f.probe()).toEqual({ failing: [expect.objectContaining({ key: 'a' }), expect.objectContaining({ key: 'b' })], failingCount: 3 });
    f.fail('d', 'x'); // beyond capacity: the oldest ('a') is forgotten
    expect(f.keys()).toEqual(['b', 'c', 'd']);
    expect(f.succeed('c')).toBe(true);
    expect(f.succeed('c')).toBe(false);
    expect(events.slice(0, 2)).toEqual(['failed:a:true', 'failed:a:false']);
    expect(events.at(-1)).toBe('recovered:c');
  });
});
