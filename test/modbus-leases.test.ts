import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { storeDevices } from '../adapters/modbus/device-config.js';
import { createModbusPoller, type ModbusPoller } from '../adapters/modbus/modbus.component.js';
import { MeterSchema } from '../models/meter.js';
import type { Database } from '../sql/database.js';
import { leaseHolders } from '../sql/modbus-device.repository.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';
import { encode, startMeterSim, waitFor, type MeterSim } from './modbus-sim.js';

/**
 * Issue 19: instances on one database split the Modbus devices by lease —
 * each device polled by one instance, taken over by another when its holder
 * dies (leases not renewed) or stops (leases released). Two pollers with
 * their own instance names stand for two `mdm serve` processes.
 */
describe.each(FLAVOURS)('Modbus device leases across instances (%s)', (flavour) => {
  let database: Database;
  const sims: MeterSim[] = [];
  const running: ModbusPoller[] = [];
  const DEVICES = ['D1', 'D2', 'D3'];
  const poller = (instance: string) => {
    const p = createModbusPoller({ database, reloadMs: 100, leaseMs: 600, instance });
    running.push(p);
    return p;
  };
  const holders = async () => Object.fromEntries([...(await leaseHolders(database))].sort());
  const served = () => sims.map((s) => s.served[3]);

  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await upsertMeters(
      database,
      DEVICES.map((d) => MeterSchema.parse({ id: `M-${d}` })),
    );
    for (const d of DEVICES) {
      const sim = await startMeterSim({ holding: (a) => encode('float32', 1000)[a] });
      sims.push(sim);
      const r = await storeDevices(database, [
        { id: d, transport: 'tcp', host: '127.0.0.1', port: sim.port, pollIntervalMs: 100, registers: [{ address: 0, type: 'float32', meter: `M-${d}`, channel: 'active_import_register' }] },
      ]);
      expect(r.rejected).toEqual([]);
    }
  });
  afterAll(async () => {
    for (const p of running) await p.stop({ release: false }).catch(() => {});
    for (const s of sims) await s.close();
    await database?.close();
  });

  it('one holder per device; a dead holder’s devices are taken over after its leases expire, a stopped one’s at the next reload', async () => {
    const a = poller('A');
    await a.start();
    const b = poller('B');
    await b.start();
    // A reloaded first and holds every device; B, renewing every 100 ms, finds them taken and polls none
    expect(await holders()).toEqual({ D1: 'A', D2: 'A', D3: 'A' });
    await b.reload();
    expect(a.probe.check()).toMatchObject({ leased: 3, online: expect.any(Number) });
    expect(b.probe.check()).toMatchObject({ leased: 0, devices: 0 });
    await waitFor(() => served().every((n) => n >= 2), 15_000, 'A to poll every device');

    // A dies (kill -9: its leases are not released, nobody renews them): B takes every device once they expire
    await a.stop({ release: false });
    // When A's leases run out (its last renewal + 600 ms), on the database's clock: B may not take a device before.
    const expiry = await database.db.selectFrom('modbus_leases').select(sql<Date>`max(expires_at)`.as('at')).where('holder', '=', 'A').executeTakeFirstOrThrow();
    const early: string[] = []; // B holding a device, seen on the database's clock before A's leases ran out
    await waitFor(
      async () => {
        const { rows } = await sql<{ now: Date; device_id: string; holder: string }>`SELECT now() AS now, device_id, holder FROM modbus_leases`.execute(database.db);
        for (const r of rows) if (r.holder === 'B' && new Date(r.now) < new Date(expiry.at)) early.push(`${r.device_id} at ${new Date(r.now).toISOString()}`);
        return rows.length === 3 && rows.every((r) => r.holder === 'B');
      },
      15_000,
      'B to take the devices over',
    );
    expect(early).toEqual([]);
    const at = served();
    await waitFor(() => served().every((n, i) => n >= at[i] + 2), 15_000, 'B to poll every device');
    expect(b.probe.check()).toMatchObject({ leased: 3, devices: 3 });

    // A comes back as a new process: B keeps the devices; B stops cleanly: C (the new A) has them at its next reload, without waiting for expiry
    const c = poller('C');
    await c.start();
    expect(c.probe.check()).toMatchObject({ leased: 0 });
    await b.stop();
    expect(await holders()).toEqual({});
    await c.reload();
    expect(await holders()).toEqual({ D1: 'C', D2: 'C', D3: 'C' });
    await c.stop({ release: false }); // C is killed

    // The embedded database has one process (its data dir is locked): the next start drops the leases a killed one left
    const d = createModbusPoller({ database, reloadMs: 100, leaseMs: 60_000, instance: 'D', onlyInstance: true });
    running.push(d);
    await d.start();
    expect(await holders()).toEqual({ D1: 'D', D2: 'D', D3: 'D' });
    await d.stop();
  });
});
