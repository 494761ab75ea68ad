import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createPollSink } from '../adapters/modbus/poll-sink.js';
import { ModbusDeviceSchema } from '../models/modbus.js';
import { invalidateAlarmRules } from '../alarms/rules.js';
import { listAlarms, transitionAlarm } from '../sql/alarm.repository.js';
import { putAlarmRule } from '../sql/alarm-rule.repository.js';
import type { Database } from '../sql/database.js';
import type { MeterEventRow } from '../sql/event.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';
import { ALARM_LISTENERS, recordEvents } from './alarm-wiring.js';

const T0 = Date.parse('2026-03-01T10:00:00Z');
const at = (minutes: number) => new Date(T0 + minutes * 60_000);
const ev = (meterId: number, code: string, minutes: number, extra: Partial<MeterEventRow> = {}): MeterEventRow => ({ meterId, code, at: at(minutes), transport: 'test', ...extra });

describe.each(FLAVOURS)('alarm lifecycle (%s)', (flavour) => {
  let database: Database;
  let m1: number;
  let m2: number;
  const transitions = () => database.db.selectFrom('alarm_transitions').select(['alarm_id', 'transition', 'actor', 'payload']).orderBy('id').execute();

  beforeAll(async () => {
    database = await freshDatabase(flavour);
    const ids = await database.db
      .insertInto('meters')
      .values([
        { external_id: 'A1', commodity: 'electricity', timezone: 'Europe/Istanbul', interval_minutes: 15, multiplier: 1, tariff: 'single', labels: '{"feeder":"F7"}', group: 'north' },
        { external_id: 'A2', commodity: 'gas', timezone: 'Europe/Istanbul', interval_minutes: 60, multiplier: 1, tariff: 'single', labels: '{}', group: 'south' },
      ])
      .returning('id')
      .execute();
    [m1, m2] = ids.map((r) => r.id);
  });
  beforeEach(async () => {
    await database.session(async ({ db }) => {
      for (const table of ['alarms', 'alarm_transitions', 'meter_events', 'alarm_rules'] as const) await db.deleteFrom(table).execute();
    });
    invalidateAlarmRules(database);
  });
  afterAll(() => database?.close());

  it('opens, repeats (count, lastSeenAt), acknowledges and closes, with one outbox row per change', async () => {
    const r1 = await recordEvents(database, [ev(m1, 'tamper', 0, { data: { n: 1 } })]);
    expect(r1).toEqual({ inserted: 1, unchanged: 0, alarms: { opened: 1, repeated: 0, closed: 0 } });
    // Two repeats in one batch and the redelivered first one: +2, not +3.
    const r2 = await recordEvents(database, [ev(m1, 'tamper', 0), ev(m1, 'tamper', 5), ev(m1, 'tamper', 7, { data: { n: 3 } })]);
    expect(r2).toEqual({ inserted: 2, unchanged: 1, alarms: { opened: 0, repeated: 1, closed: 0 } });
    let [a] = await listAlarms(database, { limit: 10 });
    expect(a).toMatchObject({ meter: 'A1', code: 'tamper', severity: 'critical', state: 'open', count: 3, source: 'event', data: { n: 3 } });
    expect(a.openedAt).toBe(at(0).toISOString());
    expect(a.lastSeenAt).toBe(at(7).toISOString());
    expect(a.closedAt).toBeNull();

    const ack = await transitionAlarm(database, a.id, 'acknowledge', { actor: 'alice', comment: 'crew sent' });
    expect(ack.changed).toBe(true);
    expect(ack.alarm).toMatchObject({ state: 'acknowledged', acknowledgedBy: 'alice', comment: 'crew sent' });
    expect((await transitionAlarm(database, a.id, 'acknowledge', { actor: 'alice' })).changed).toBe(false);
    // A repeat while acknowledged keeps it acknowledged.
    await recordEvents(database, [ev(m1, 'tamper', 9)]);
    const closed = await transitionAlarm(database, a.id, 'close', { actor: 'bob', comment: 'seal replaced', workOrder: { id: 'WO-1', status: 'done' } });
    expect(closed.alarm).toMatchObject({ state: 'closed', count: 4, closedBy: 'bob', comment: 'seal replaced', workOrder: { id: 'WO-1', status: 'done' } });
    expect((await transitionAlarm(database, a.id, 'close', { actor: 'bob' })).changed).toBe(false);
    await expect(transitionAlarm(database, a.id, 'acknowledge', { actor: 'x' })).rejects.toMatchObject({ code: 'MDM_ERR_CONFLICT', statusCode: 409 });
    await expect(transitionAlarm(database, 999_999, 'close', { actor: 'x' })).rejects.toMatchObject({ code: 'MDM_ERR_NOT_FOUND', statusCode: 404 });

    // After closing, the next tamper opens a new alarm.
    expect((await recordEvents(database, [ev(m1, 'tamper', 30)])).alarms.opened).toBe(1);

    const t = await transitions();
    expect(t.map((x) => x.transition)).toEqual(['opened', 'repeated', 'acknowledged', 'repeated', 'closed', 'opened']);
    expect(t.map((x) => x.actor)).toEqual(['event:test', 'event:test', 'alice', 'event:test', 'bob', 'event:test']);
    expect(t[1].payload.alarm).toMatchObject({ state: 'open', count: 3 });
    expect(t[4].payload.alarm).toMatchObject({ state: 'closed', count: 4 });
    expect(t[0].payload.meter).toEqual({ id: 'A1', group: 'north', portfolio: null, commodity: 'electricity', region: null, labels: { feeder: 'F7' } });
    [a] = await listAlarms(database, { state: 'closed', limit: 10 });
    expect(t[4].payload.alarm).toEqual(a); // the outbox carries the alarm exactly as the API shows it
  });

  it('a restore event closes its counterpart opened before it; a late, older restore does not', async () => {
    await recordEvents(database, [ev(m1, 'power_failure', 10), ev(m2, 'power_failure', 10)]);
    const r = await recordEvents(database, [ev(m1, 'power_restored', 20), ev(m2, 'power_restored', 5)]);
    expect(r.alarms).toEqual({ opened: 0, repeated: 0, closed: 1 });
    const rows = await listAlarms(database, { code: 'power_failure', limit: 10 });
    expect(rows.find((x) => x.meter === 'A1')).toMatchObject({ state: 'closed', closedAt: at(20).toISOString(), closedBy: 'event:power_restored' });
    expect(rows.find((x) => x.meter === 'A2')).toMatchObject({ state: 'open' });
  });

  it('failure, restore, failure in one batch: one closed and one open alarm, in time order whatever the order sent', async () => {
    const r = await recordEvents(database, [ev(m1, 'power_failure', 20), ev(m1, 'power_restored', 10), ev(m1, 'power_failure', 0), ev(m1, 'power_failure', 25)]);
    expect(r.alarms).toEqual({ opened: 2, repeated: 0, closed: 1 });
    const rows = await listAlarms(database, { meter: 'A1', limit: 10 });
    expect(rows.map((x) => [x.state, x.count, x.openedAt, x.lastSeenAt])).toEqual([
      ['open', 2, at(20).toISOString(), at(25).toISOString()],
      ['closed', 1, at(0).toISOString(), at(0).toISOString()],
    ]);
  });

  it('unknown codes are stored as events only; a vendor mapping turns them into alarms (or restores)', async () => {
    expect(await recordEvents(database, [ev(m1, 'E-0x1A07', 0), ev(m1, 'E-0x1A08', 1)])).toEqual({ inserted: 2, unchanged: 0, alarms: { opened: 0, repeated: 0, closed: 0 } });
    await putAlarmRule(database, { id: 'map-1a07', definition: { kind: 'map', vendorCode: 'E-0x1A07', code: 'magnetic_field', severity: 'major' }, enabled: true, by: 't' });
    await putAlarmRule(database, { id: 'map-1a08', definition: { kind: 'map', vendorCode: 'E-0x1A08', code: 'magnetic_field_cleared' }, enabled: true, by: 't' });
    invalidateAlarmRules(database);
    expect((await recordEvents(database, [ev(m1, 'E-0x1A07', 10, { severity: 'info' })])).alarms.opened).toBe(1);
    const [a] = await listAlarms(database, { limit: 1 });
    expect(a).toMatchObject({ code: 'magnetic_field', severity: 'major' }); // the mapping's severity beats the device's
    expect((await recordEvents(database, [ev(m1, 'E-0x1A08', 11)])).alarms.closed).toBe(1);
    // The device severity beats the code default when it is an alarm severity.
    await recordEvents(database, [ev(m2, 'low_battery', 0, { severity: 'critical' }), ev(m1, 'low_battery', 0, { severity: 'loud' })]);
    const lb = await listAlarms(database, { code: 'low_battery', limit: 10 });
    expect(lb.map((x) => [x.meter, x.severity]).sort()).toEqual([
      ['A1', 'minor'],
      ['A2', 'critical'],
    ]);
  });

  it("Modbus: communication_failure opens an alarm for the device's meters; communication_restored closes it", async () => {
    const device = ModbusDeviceSchema.parse({ id: 'D1', transport: 'tcp', host: '127.0.0.1', registers: [{ address: 0, type: 'uint32', meter: 'A1', channel: 'active_import_register' }] });
    const quiet = { info: () => {}, warn: () => {}, error: () => {} };
    const sink = createPollSink(database, 1, new Map(), quiet, ALARM_LISTENERS);
    const status = (state: 'offline' | 'online', ms: number) => ({
      state,
      consecutiveFailures: state === 'offline' ? 3 : 0,
      lastPollAtMs: ms,
      lastSuccessAtMs: null,
      lastError: null,
      lastErrorCode: null,
    });
    await sink(device, { atMs: at(0).getTime(), values: [] }, status('offline', at(0).getTime()), 'communication_failure');
    let [a] = await listAlarms(database, { code: 'communication_failure', limit: 5 });
    expect(a).toMatchObject({ meter: 'A1', state: 'open', severity: 'warning', count: 1, data: { device: 'D1', consecutiveFailures: 3 } });
    await sink(device, { atMs: at(5).getTime(), values: [] }, status('online', at(5).getTime()), 'communication_restored');
    [a] = await listAlarms(database, { code: 'communication_failure', limit: 5 });
    expect(a).toMatchObject({ state: 'closed', closedBy: 'event:communication_restored', closedAt: at(5).toISOString() });
  });

  it('concurrent events never open two alarms for one meter and code', async () => {
    const calls = Array.from({ length: 24 }, (_, i) => recordEvents(database, [ev(m1, 'cover_open', i), ev(m2, 'cover_open', 100 - i)]));
    const results = await Promise.all(calls);
    expect(results.reduce((n, r) => n + r.alarms.opened, 0)).toBe(2);
    expect(results.reduce((n, r) => n + r.alarms.repeated, 0)).toBe(46);
    const rows = await listAlarms(database, { code: 'cover_open', limit: 10 });
    expect(rows.map((x) => [x.meter, x.count, x.state]).sort()).toEqual([
      ['A1', 24, 'open'],
      ['A2', 24, 'open'],
    ]);
    const byMeter = Object.fromEntries(rows.map((x) => [x.meter, x]));
    expect(byMeter.A1.openedAt).toBeDefined();
    expect(byMeter.A1.lastSeenAt).toBe(at(23).toISOString());
    expect(byMeter.A2.lastSeenAt).toBe(at(100).toISOString());
    const t = await transitions();
    expect(t.filter((x) => x.transition === 'opened')).toHaveLength(2);
    expect(t.filter((x) => x.transition === 'repeated')).toHaveLength(46);
  });

  it('concurrent failures, restores and acknowledgements leave at most one active alarm per meter and code', async () => {
    await recordEvents(database, [ev(m1, 'power_failure', 0)]);
    const [first] = await listAlarms(database, { limit: 1 });
    const work: Promise<unknown>[] = [];
    for (let i = 1; i <= 20; i++) {
      work.push(recordEvents(database, [ev(m1, i % 3 === 0 ? 'power_restored' : 'power_failure', i)]));
      if (i === 5) work.push(transitionAlarm(database, first.id, 'acknowledge', { actor: 'op', comment: 'seen' }).catch(() => undefined));
    }
    await Promise.all(work);
    const rows = await listAlarms(database, { code: 'power_failure', limit: 100 });
    expect(rows.filter((x) => x.state !== 'closed').length).toBeLessThanOrEqual(1);
    const counted = rows.reduce((n, x) => n + x.count, 0);
    expect(counted).toBe(1 + 14); // every failure counted once (i = 1..20 without multiples of 3: 14)
  });
});
