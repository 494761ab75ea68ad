import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ModbusDeviceSchema } from '../models/modbus.js';
import { MeterSchema } from '../models/meter.js';
import type { Database } from '../sql/database.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { listDevices, loadRegisterStates, recordPoll, upsertDevices } from '../sql/modbus-device.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

const status = { state: 'online', lastPollAt: '2026-03-02T10:05:00.000Z', lastSuccessAt: '2026-03-02T10:05:00.000Z', consecutiveFailures: 0, lastError: null, lastErrorCode: null } as const;
const state = { lastAtMs: Date.parse('2026-03-02T10:05:00Z'), lastValue: 1000.1, pendingStartMs: Date.parse('2026-03-02T10:00:00Z'), pendingValue: 0.1, pendingStart: 'partial' } as const;

describe.each(FLAVOURS)('modbus device repository (%s)', (flavour) => {
  let database: Database;
  let meterId: number;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await upsertMeters(database, [MeterSchema.parse({ id: 'R-M1' })]);
    meterId = (await database.db.selectFrom('meters').select('id').where('external_id', '=', 'R-M1').executeTakeFirstOrThrow()).id;
  });
  afterAll(() => database?.close());

  const device = (scale: number) => ModbusDeviceSchema.parse({ id: 'R-D1', transport: 'tcp', host: '10.0.0.1', registers: [{ address: 0, type: 'uint32', scale, meter: 'R-M1', channel: '1.8.0' }] });

  it('keeps register state across polls, drops it when the configuration changes, and refuses writes of the replaced configuration', async () => {
    expect(await upsertDevices(database, [{ id: 'R-D1', config: device(0.001) }])).toEqual({ created: 1, updated: 0, unchanged: 0 });
    const [v1] = await listDevices(database);
    expect(v1.status).toBeUndefined();
    expect(await recordPoll(database, 'R-D1', v1.version, status, [{ meterId, channel: 5, state }])).toBe(true);
    expect(await loadRegisterStates(database, 'R-D1')).toEqual(new Map([[`${meterId}|5`, state]]));
    expect((await listDevices(database))[0].status).toEqual(status);

    // the same configuration again: nothing changes, the state stays
    expect(await upsertDevices(database, [{ id: 'R-D1', config: device(0.001) }])).toEqual({ created: 0, updated: 0, unchanged: 1 });
    expect((await listDevices(database))[0].version).toBe(v1.version);
    expect((await loadRegisterStates(database, 'R-D1')).size).toBe(1);

    // a new scale: the state of the old register map is dropped, and a poll of the old configuration is not recorded
    expect(await upsertDevices(database, [{ id: 'R-D1', config: device(0.01) }])).toEqual({ created: 0, updated: 1, unchanged: 0 });
    const [v2] = await listDevices(database);
    expect(v2.version).toBeGreaterThan(v1.version);
    expect((await loadRegisterStates(database, 'R-D1')).size).toBe(0);
    expect(await recordPoll(database, 'R-D1', v1.version, { ...status, consecutiveFailures: 9 }, [{ meterId, channel: 5, state }])).toBe(false);
    expect((await loadRegisterStates(database, 'R-D1')).size).toBe(0);
    expect((await listDevices(database))[0].status).toEqual(status);
    expect(await recordPoll(database, 'R-D1', v2.version, status, [{ meterId, channel: 5, state }])).toBe(true);
    expect((await loadRegisterStates(database, 'R-D1')).size).toBe(1);
    expect(await recordPoll(database, 'NOPE', v2.version, status, [])).toBe(false);
  });
});
