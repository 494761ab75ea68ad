import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAlarmsComponent } from '../alarms/alarms.component.js';
import { checkSilence } from '../alarms/silence.js';
import { invalidateAlarmRules } from '../alarms/rules.js';
import { ingestReadings } from '../ingest/pipeline.js';
import { runVee } from '../ingest/vee/runner.js';
import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { startOfLocalDate } from '../models/calendar.js';
import type { AlarmRuleDefinition } from '../models/alarm.js';
import { MeterSchema } from '../models/meter.js';
import { qualityCode, sourceCode } from '../models/reading.js';
import { formatInstant } from '../models/time.js';
import { listAlarms } from '../sql/alarm.repository.js';
import { putAlarmRule } from '../sql/alarm-rule.repository.js';
import type { Database } from '../sql/database.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { writeReadings } from '../sql/reading-write.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

const M = 60_000;
const H = 3_600_000;
const IST = 'Europe/Istanbul';
const http = { transport: 'http', principal: 'test', listeners: ALARM_LISTENERS } as const;

describe.each(FLAVOURS)('alarm rules on data (%s)', (flavour) => {
  let database: Database;
  const ids: Record<string, number> = {};
  const rule = async (id: string, definition: Record<string, unknown>) => {
    await putAlarmRule(database, { id, definition: definition as AlarmRuleDefinition, enabled: true, by: 'test' });
    invalidateAlarmRules(database);
  };

  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await upsertMeters(database, [
      MeterSchema.parse({ id: 'G1', timezone: IST, commodity: 'gas', group: 'gas-north' }),
      MeterSchema.parse({ id: 'G2', timezone: IST, commodity: 'gas', group: 'gas-south' }),
      MeterSchema.parse({ id: 'E1', timezone: IST, group: 'north' }),
      MeterSchema.parse({ id: 'R1', timezone: IST, profileClass: 'residential', group: 'north' }),
      MeterSchema.parse({ id: 'X1', timezone: IST, group: 'north', supplyStart: '2020-01-01', supplyEnd: '2020-12-31' }), // no longer supplied: never silent
    ]);
    for (const r of await database.db.selectFrom('meters').select(['id', 'external_id']).execute()) ids[r.external_id] = r.id;
  });
  beforeEach(async () => {
    await database.session(async ({ db }) => {
      for (const table of ['alarms', 'alarm_transitions', 'alarm_rules', 'alarm_rule_state'] as const) await db.deleteFrom(table).execute();
    });
    invalidateAlarmRules(database);
  });
  afterAll(() => database?.close());

  it('threshold rule with hysteresis and duration across ingest batches, only for its group and channel', async () => {
    const T0 = Date.parse('2026-02-01T06:00:00Z');
    await rule('gas-low', {
      kind: 'threshold',
      channel: 'pressure',
      groups: ['gas-north'],
      condition: 'below',
      threshold: 0.5,
      hysteresis: 0.1,
      minDurationMinutes: 15,
      code: 'low_pressure',
      severity: 'critical',
    });
    const batch = (list: [number, number][], meter = 'G1', channel = 'pressure') =>
      ingestReadings(
        database,
        list.map(([min, value]) => ({ meter, channel, start: new Date(T0 + min * M).toISOString(), value })),
        http,
      );

    await batch([
      [0, 0.6],
      [5, 0.45],
      [10, 0.52],
    ]);
    await batch(
      [
        [5, 0.3],
        [10, 0.2],
      ],
      'G2',
    ); // other group: no rule
    await batch([[5, 0.3]], 'G1', 'temperature'); // other channel
    expect(await listAlarms(database, { limit: 10 })).toEqual([]);
    await batch([[15, 0.48]]); // 10 min into the run
    expect(await listAlarms(database, { limit: 10 })).toEqual([]);
    await batch([
      [25, 0.3],
      [20, 0.4],
    ]); // 15 min at 20 → opens
    let [a] = await listAlarms(database, { limit: 10 });
    expect(a).toMatchObject({ meter: 'G1', code: 'low_pressure', severity: 'critical', state: 'open', count: 1, source: 'rule', rule: 'gas-low' });
    expect(a.openedAt).toBe(new Date(T0 + 20 * M).toISOString());
    expect(a.data).toEqual({ channel: 'pressure', value: 0.4, threshold: 0.5, condition: 'below', since: new Date(T0 + 5 * M).toISOString() });
    await batch([[30, 0.55]]); // in the band: stays open
    expect((await listAlarms(database, { state: 'active', limit: 10 })).length).toBe(1);
    await batch([
      [35, 0.6],
      [40, 0.45],
    ]); // clears at 35, a new run from 40
    [a] = await listAlarms(database, { limit: 10 });
    expect(a).toMatchObject({ state: 'closed', closedAt: new Date(T0 + 35 * M).toISOString(), closedBy: 'rule:gas-low' });
    await batch([
      [50, 0.49],
      [55, 0.1],
    ]); // 40 → 55: 15 min → a new alarm
    const rows = await listAlarms(database, { limit: 10 });
    expect(rows.map((r) => [r.state, r.openedAt])).toEqual([
      ['open', new Date(T0 + 55 * M).toISOString()],
      ['closed', new Date(T0 + 20 * M).toISOString()],
    ]);
    const state = await database.db.selectFrom('alarm_rule_state').selectAll().execute();
    expect(state).toHaveLength(1);
    expect(state[0]).toMatchObject({ rule_id: 'gas-low', meter_id: ids.G1, active: true });
    expect(state[0].since?.getTime()).toBe(T0 + 40 * M);

    // Redefined (0.3 bar, no hysteresis): the open alarm stays raised and the first clearing value closes it.
    await rule('gas-low', { kind: 'threshold', channel: 'pressure', groups: ['gas-north'], condition: 'below', threshold: 0.3, minDurationMinutes: 15, code: 'low_pressure', severity: 'critical' });
    await batch([[60, 0.35]]);
    const [last] = await listAlarms(database, { limit: 1 });
    expect(last).toMatchObject({ state: 'closed', closedAt: new Date(T0 + 60 * M).toISOString(), closedBy: 'rule:gas-low' });
  });

  it('silence: no_data opens once per silent meter, closes when data arrives (ingest) or on the periodic check', async () => {
    const now = Date.now();
    const hour = (ms: number) => Math.floor(ms / H) * H;
    await ingestReadings(database, [{ meter: 'E1', channel: 'active_import', start: new Date(hour(now - 10 * H)).toISOString(), value: 1 }], http);
    await ingestReadings(database, [{ meter: 'R1', channel: 'active_import', start: new Date(hour(now - 2 * H)).toISOString(), value: 1 }], http);
    await rule('quiet', { kind: 'silence', groups: ['north'], hours: 6 });

    // E1: 10 h silent → no_data; R1: 2 h; G1/G2: not in the group.
    expect(await checkSilence(database, now)).toEqual({ opened: 1, repeated: 0, closed: 0 });
    expect(await checkSilence(database, now + M)).toEqual({ opened: 0, repeated: 0, closed: 0 }); // one alarm, not one per check
    let [a] = await listAlarms(database, { code: 'no_data', limit: 10 });
    expect(a).toMatchObject({ meter: 'E1', state: 'open', count: 1, source: 'silence', rule: 'quiet', severity: 'major' });

    // Data returns through ingest: closed at once.
    await ingestReadings(database, [{ meter: 'E1', channel: 'active_import', start: new Date(hour(now - H)).toISOString(), value: 2 }], http);
    [a] = await listAlarms(database, { code: 'no_data', limit: 10 });
    expect(a).toMatchObject({ state: 'closed', closedBy: 'data' });

    // Six hours later R1 is silent too (newest 8 h old) and E1 (7 h); X1 (no data since registration, supply ended) is not.
    expect(await checkSilence(database, now + 6 * H)).toEqual({ opened: 2, repeated: 0, closed: 0 });
    // R1's data arrives without the ingest hook (a direct write): the periodic check closes its alarm.
    await writeReadings(database, [{ meterId: ids.R1, channel: 1, startMs: hour(now + 5 * H), value: 1, intervalMinutes: 60, quality: qualityCode('measured'), source: sourceCode('http') }], {
      transport: 'test',
      principal: null,
    });
    expect(await checkSilence(database, now + 6 * H + M)).toEqual({ opened: 0, repeated: 0, closed: 1 });
    const open = await listAlarms(database, { code: 'no_data', state: 'active', limit: 10 });
    expect(open.map((x) => x.meter)).toEqual(['E1']);
  });

  it('the alarms component runs the silence check on its timer and shows the last run in its probe', async () => {
    await rule('south', { kind: 'silence', groups: ['gas-south'], hours: 1, severity: 'minor' });
    const scheduled: { fn: () => void; ms: number }[] = [];
    const timers = { setTimeout: (fn: () => void, ms: number) => scheduled.push({ fn, ms }), clearTimeout: () => {} };
    const now = Date.now() + 2 * H; // G2 was registered without data more than an hour before
    const c = createAlarmsComponent({ database, intervalMs: 300_000, now: () => now, timers });
    await c.start();
    expect(scheduled.map((x) => x.ms)).toEqual([0]);
    scheduled[0].fn();
    await c.stop(); // waits for the run in flight; no next run once stopped
    expect(scheduled).toHaveLength(1);
    expect(c.probe.check()).toMatchObject({ ok: true, silenceCheck: { at: new Date(now).toISOString(), opened: 1, closed: 0 } });
    expect((await listAlarms(database, { code: 'no_data', limit: 5 })).map((a) => [a.meter, a.severity])).toEqual([['G2', 'minor']]);
  });

  it('VEE fail issues raise alarms when a VEE alarm rule asks for them', async () => {
    const day = startOfLocalDate('2026-01-15', IST);
    const rows: object[] = [];
    for (let h = 0; h < 24; h++) rows.push({ meter: 'R1', channel: 'active_import', start: formatInstant(day + h * H, IST), value: h === 2 ? -0.5 : h === 3 ? -0.2 : 1 });
    await ingestReadings(database, rows, http);
    const target = [{ meterId: ids.R1, fromDate: '2026-01-15', toDate: '2026-01-15' }];

    // Without a rule: issues, no alarm.
    const before = await runVee(database, target, { nowMs: day + 3 * 24 * H, listeners: ALARM_LISTENERS });
    expect(before.findings.negative).toBeGreaterThan(0);
    expect(await listAlarms(database, { limit: 10 })).toEqual([]);

    // With a rule for negative values: a new day's issue raises one alarm; re-validating repeats nothing.
    await rule('vee-negative', { kind: 'vee', veeRules: ['negative'], severity: 'major' });
    const day2 = day + 24 * H;
    const rows2: object[] = [];
    for (let h = 0; h < 24; h++) rows2.push({ meter: 'R1', channel: 'active_import', start: formatInstant(day2 + h * H, IST), value: h === 7 ? -1 : 1 });
    await ingestReadings(database, rows2, http);
    const target2 = [{ meterId: ids.R1, fromDate: '2026-01-16', toDate: '2026-01-16' }];
    await runVee(database, target2, { nowMs: day + 4 * 24 * H, listeners: ALARM_LISTENERS });
    let alarms = await listAlarms(database, { limit: 10 });
    expect(alarms).toHaveLength(1);
    expect(alarms[0]).toMatchObject({ meter: 'R1', code: 'vee_negative', severity: 'major', state: 'open', count: 1, source: 'vee', rule: 'vee-negative' });
    expect(alarms[0].openedAt).toBe(new Date(day2 + 7 * H).toISOString());
    expect(alarms[0].data).toMatchObject({ veeRule: 'negative', channel: 1, status: 'open' });
    await runVee(database, target2, { nowMs: day + 4 * 24 * H, listeners: ALARM_LISTENERS });
    alarms = await listAlarms(database, { limit: 10 });
    expect(alarms.map((x) => x.count)).toEqual([1]);
  });
});
