import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeDevices } from '../adapters/modbus/device-config.js';
import { createPollSink } from '../adapters/modbus/poll-sink.js';
import { decodeBlock, planReads } from '../adapters/modbus/register-map.js';
import { ingestReadings } from '../ingest/pipeline.js';
import { createVeeWorker } from '../ingest/vee/vee-worker.js';
import { channelDef } from '../models/channel.js';
import { MeterSchema } from '../models/meter.js';
import { ModbusDeviceSchema } from '../models/modbus.js';
import { qualityName } from '../models/reading.js';
import type { Database } from '../sql/database.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { listDevices } from '../sql/modbus-device.repository.js';
import { putVeeSetting } from '../sql/vee.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

/**
 * Issue 12, defect 11: a Modbus energy counter (uint32, 0.01 kWh) wraps at
 * 2^32 × 0.01 = 42 949 672.96 kWh. The poller unwraps it; VEE must agree
 * (the register map's wrap point) instead of writing the read back as suspect.
 */

const MIN = 60_000;
const Q = 15 * MIN;

async function drain(database: Database, nowMs: number): Promise<void> {
  const worker = createVeeWorker({ database, now: () => nowMs });
  while ((await worker.drainOnce()) > 0);
}

async function stored(database: Database, meter: string, channel: 'active_import' | 'active_import_register') {
  const rows = await database.db
    .selectFrom('readings as r')
    .innerJoin('meters as m', 'm.id', 'r.meter_id')
    .select(['r.start', 'r.value', 'r.quality', 'r.version'])
    .where('m.external_id', '=', meter)
    .where('r.channel', '=', channelDef(channel).code)
    .orderBy('r.start')
    .execute();
  return rows.map((r) => ({ at: r.start.getTime(), value: r.value, quality: qualityName(r.quality), version: r.version }));
}

async function issues(database: Database, meter: string) {
  return database.db
    .selectFrom('validation_issues as v')
    .innerJoin('meters as m', 'm.id', 'v.meter_id')
    .select(['v.rule', 'v.severity', 'v.status', 'v.detail'])
    .where('m.external_id', '=', meter)
    .orderBy('v.id')
    .execute();
}

describe.each(FLAVOURS)('VEE and the register wrap point (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await upsertMeters(database, [
      MeterSchema.parse({ id: 'PLC-M1', timezone: 'Europe/Istanbul', intervalMinutes: 15 }),
      MeterSchema.parse({ id: 'HES-M2', timezone: 'Europe/Istanbul', intervalMinutes: 15, profileClass: 'six-digit' }),
    ]);
  });
  afterAll(() => database?.close());

  it('a 32-bit 0.01 kWh counter wrapping past 42949672.96: the poller unwraps it, VEE keeps the read measured and opens no fail issue', async () => {
    expect(
      await storeDevices(database, [
        { id: 'PLC-1', transport: 'tcp', host: '127.0.0.1', registers: [{ address: 0, type: 'uint32', scale: 0.01, meter: 'PLC-M1', channel: 'active_import_register' }] },
      ]),
    ).toMatchObject({ created: 1, rejected: [] });
    const row = (await listDevices(database)).find((d) => d.id === 'PLC-1')!;
    const device = ModbusDeviceSchema.parse(row.config);
    const [block] = planReads(device.registers);
    const logged: { msg: string; obj: Record<string, unknown> }[] = [];
    const log = { info: (obj: object, msg: string) => logged.push({ msg, obj: obj as Record<string, unknown> }), warn: () => {}, error: () => {} };
    const sink = createPollSink(database, row.version, new Map(), log);

    // Raw counts as the device answers them (big-endian words), a poll every quarter hour, three hours ago.
    const raw = [4_294_962_795, 4_294_964_573, 4_294_966_351, 877, 2_699, 4_521];
    const t0 = Math.floor((Date.now() - 3 * 60 * MIN) / Q) * Q;
    for (const [k, count] of raw.entries()) {
      const atMs = t0 + k * Q;
      const values = decodeBlock(block, [count >>> 16, count & 0xffff], device.registers).map((v) => ({ ...v, atMs }));
      await sink(device, { atMs, values }, { state: 'online', consecutiveFailures: 0, lastPollAtMs: atMs, lastSuccessAtMs: atMs, lastError: null, lastErrorCode: null }, undefined);
    }
    const rolled = logged.find((l) => l.msg === 'modbus: register rolled over');
    expect(rolled?.obj).toMatchObject({ previous: 42_949_663.51, current: 8.77 });
    expect(rolled?.obj.delta).toBeCloseTo(18.22, 6);

    await drain(database, Date.now());

    const reads = await stored(database, 'PLC-M1', 'active_import_register');
    expect(reads.map((r) => [r.value, r.quality, r.version])).toEqual([
      [42_949_627.95, 'measured', 1],
      [42_949_645.73, 'measured', 1],
      [42_949_663.51, 'measured', 1],
      [8.77, 'measured', 1], // before the fix: version 2, suspect
      [26.99, 'measured', 1],
      [45.21, 'measured', 1],
    ]);
    const intervals = await stored(database, 'PLC-M1', 'active_import');
    expect(intervals).toHaveLength(5);
    expect(intervals[2].value).toBeCloseTo(18.22, 6);
    expect(intervals.every((i) => i.quality === 'measured' && i.version === 1)).toBe(true);
    // The wrap is on record as a warning; nothing fails (the sum check across the wrap agrees too).
    expect(await issues(database, 'PLC-M1')).toEqual([
      { rule: 'register', severity: 'warn', status: 'open', detail: 'register rolled over from 42949663.51 to 8.77 (wraps at 42949672.96): consumption 18.22' },
    ]);
  });

  it("a register meter no device reads: the rolloverAt of its VEE parameters, judged with the poller's window", async () => {
    // A six-digit register (999999.99 kWh) read by the head-end, not by our poller.
    await putVeeSetting(database, { profileClass: 'six-digit', commodity: null, effectiveFrom: '2020-01-01', params: { register: { rolloverAt: 1_000_000 } }, createdBy: 'test' });
    const t0 = Math.floor((Date.now() - 6 * 60 * MIN) / Q) * Q;
    const at = (k: number) => new Date(t0 + k * Q).toISOString();
    // 999 990 → 15: wrapped 25 kWh (a rollover); 950 000 → 80 000: wrapped 130 000, 13 % of the range: the poller calls that a reset, so does VEE.
    const rows = [999_990, 15, 950_000, 80_000].map((value, k) => ({ meter: 'HES-M2', channel: 'active_import_register', start: at(k), value }));
    expect((await ingestReadings(database, rows, { transport: 'http', principal: 'test' })).rejected).toEqual([]);
    await drain(database, Date.now());
    expect((await issues(database, 'HES-M2')).filter((i) => i.rule === 'register')).toEqual([
      { rule: 'register', severity: 'warn', status: 'open', detail: 'register rolled over from 999990 to 15 (wraps at 1000000): consumption 25' },
      { rule: 'register', severity: 'fail', status: 'open', detail: 'register decreased from 950000 to 80000: meter reset or replaced' },
    ]);
    expect((await stored(database, 'HES-M2', 'active_import_register')).map((r) => r.quality)).toEqual(['measured', 'measured', 'measured', 'suspect']);
  });
});
