import { afterAll, describe, expect, it } from 'vitest';
import { createHookDispatcher } from '../alarms/hook-dispatcher.js';
import { listAlarms, transitionAlarm } from '../sql/alarm.repository.js';
import { createHook } from '../sql/hook.repository.js';
import { migrate } from '../sql/migrator.js';
import { FLAVOURS, reopenableDatabase } from './helpers.js';
import { startReceiver, until } from './hook-receiver.js';
import { cuedTimeouts } from './hook-timeouts.js';
import { recordEvents } from './alarm-wiring.js';

const SECRET = 'restart-secret-0123456789';
const T0 = Date.parse('2026-03-01T10:00:00Z');

describe.each(FLAVOURS)('hook deliveries across a crash (%s)', (flavour) => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => {});
  });

  it('pending deliveries go out after a restart; the one in flight at the crash is sent again under the same id', async () => {
    const storage = await reopenableDatabase(flavour);
    cleanups.push(storage.dispose);
    let hold = true;
    const rx = await startReceiver(SECRET, () => (hold ? 'hang' : { status: 200 }));
    cleanups.push(rx.close);

    const db1 = await storage.open();
    cleanups.push(() => db1.close());
    await migrate(db1);
    const meters = await db1.db
      .insertInto('meters')
      .values(['R1', 'R2', 'R3', 'R4'].map((id) => ({ external_id: id, commodity: 'gas', timezone: 'Europe/Istanbul', interval_minutes: 60, multiplier: 1, tariff: 'single', labels: '{}' })))
      .returning('id')
      .execute();
    await createHook(db1, { url: rx.url, secret: SECRET, filter: {}, transitions: ['opened', 'acknowledged', 'closed'], createdBy: 'test' });
    await recordEvents(
      db1,
      meters.map((m) => ({ meterId: m.id, code: 'valve_closed', at: new Date(T0), transport: 'test' })),
    );
    const [r1] = await listAlarms(db1, { meter: 'R1', limit: 1 });
    await transitionAlarm(db1, r1.id, 'acknowledge', { actor: 'op' });
    await transitionAlarm(db1, r1.id, 'close', { actor: 'op' });

    // One request at a time; the receiver holds the first one: the process "crashes" with it in flight and five pending.
    // Request timeouts fire on cue only (test/hook-timeouts.ts): no request of the second dispatcher is taken for one on a loaded machine.
    const cue1 = cuedTimeouts(1);
    const cue2 = cuedTimeouts(4);
    cleanups.push(async () => (cue1.close(), cue2.close()));
    const first = createHookDispatcher({
      database: db1,
      timeoutMs: 1000,
      maxAttempts: 5,
      backoffBaseMs: 20,
      backoffMaxMs: 100,
      pollMs: 20,
      concurrency: 1,
      post: cue1.post,
      requestTimeout: cue1.requestTimeout,
    });
    await first.start();
    await until('the first request', () => rx.received.length === 1);
    await db1.close();
    const stopped = first.stop(); // its request times out; recording that fails: the database is gone
    expect(cue1.timeOutAll()).toBe(1);
    hold = false;

    const db2 = await storage.open();
    cleanups.push(() => db2.close());
    await migrate(db2);
    const second = createHookDispatcher({
      database: db2,
      timeoutMs: 1000,
      maxAttempts: 5,
      backoffBaseMs: 20,
      backoffMaxMs: 100,
      pollMs: 20,
      concurrency: 4,
      post: cue2.post,
      requestTimeout: cue2.requestTimeout,
    });
    await second.start();
    cleanups.push(() => second.stop());
    const stored = () => db2.db.selectFrom('hook_deliveries').select(['id', 'transition_id', 'alarm_id', 'status', 'attempts']).orderBy('transition_id').execute();
    await until('6 deliveries delivered after the restart', async () => (await stored()).every((d) => d.status === 'delivered'), 20_000);
    await stopped;

    const rows = await stored();
    expect(rows).toHaveLength(6);
    expect(new Set(rows.map((d) => d.transition_id)).size).toBe(6);
    // The receiver saw exactly the stored ids; only the one in flight at the crash twice (attempt 1, then 2 after its claim ran out).
    // (The first dispatcher had also claimed the next one ahead, unsent: it goes out once, as attempt 2.)
    const ids = rows.map((d) => d.id);
    expect([...rx.acked].sort()).toEqual([...ids].sort());
    const perId = new Map<string, number[]>();
    for (const r of rx.received) perId.set(r.delivery, [...(perId.get(r.delivery) ?? []), r.attempt]);
    const heldId = rx.received[0].delivery;
    expect(perId.get(heldId)).toEqual([1, 2]);
    expect(rows.find((d) => d.id === heldId)?.attempts).toBe(2);
    expect([...perId.entries()].filter(([id]) => id !== heldId).map(([, a]) => a.length)).toEqual([1, 1, 1, 1, 1]);
    expect(rx.received.every((r) => r.signatureOk)).toBe(true);
    // R1's three transitions in order.
    expect(rx.received.filter((r) => r.body.meter.id === 'R1' && rx.acked.has(r.delivery) && r.attempt === perId.get(r.delivery)!.at(-1)).map((r) => r.body.transition.type)).toEqual([
      'opened',
      'acknowledged',
      'closed',
    ]);
  }, 60_000);
});
