import { sql, type Kysely } from 'kysely';
import type { DeviceOut, DeviceSpan, Exchange } from '../models/meter-device.js';
import type { Database } from './database.js';
import type { DB } from './types.js';

/** Devices installed on metering points (migration 028). */

interface DeviceRow {
  serial: string;
  make: string | null;
  model: string | null;
  register_digits: number | null;
  multiplier: number | null;
  installed_from: Date | null;
  installed_to: Date | null;
  initial_read: number | null;
  final_read: number | null;
}

const iso = (d: Date | null) => (d === null ? null : new Date(d).toISOString());

/** The devices of a point, oldest first (the open one last). */
export async function listDevices(database: Database, meterId: number): Promise<DeviceOut[]> {
  const rows: DeviceRow[] = await database.db
    .selectFrom('meter_devices')
    .select(['serial', 'make', 'model', 'register_digits', 'multiplier', 'installed_from', 'installed_to', 'initial_read', 'final_read'])
    .where('meter_id', '=', meterId)
    .orderBy(sql`installed_from NULLS FIRST`)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    serial: r.serial,
    make: r.make,
    model: r.model,
    registerDigits: r.register_digits,
    multiplier: r.multiplier,
    installedFrom: iso(r.installed_from),
    installedTo: iso(r.installed_to),
    initialRead: r.initial_read,
    finalRead: r.final_read,
  }));
}

/**
 * Exchanges the open device of a point at `x.at`, in the caller's
 * transaction: the open device closes with its final read, the new one opens
 * with its initial read, and the point's register digits become the new
 * device's (VEE's register wrap point). Returns the reason when it cannot be
 * done (no open device, or `at` not after its installation).
 */
export async function exchangeDevice(db: Kysely<DB>, meterId: number, x: Exchange): Promise<string | undefined> {
  const at = new Date(x.at);
  const open = await db.selectFrom('meter_devices').select(['id', 'serial', 'installed_from']).where('meter_id', '=', meterId).where('installed_to', 'is', null).forUpdate().executeTakeFirst();
  if (!open) return 'the point has no installed device to exchange';
  if (open.installed_from !== null && new Date(open.installed_from).getTime() >= at.getTime()) {
    return `at ${x.at} is not after the installation of device "${open.serial}" (${new Date(open.installed_from).toISOString()})`;
  }
  await db.updateTable('meter_devices').set({ installed_to: at, final_read: x.finalRead, updated_at: sql`now()` }).where('id', '=', open.id).execute();
  await db
    .insertInto('meter_devices')
    .values({
      meter_id: meterId,
      serial: x.device.serial,
      make: x.device.make ?? null,
      model: x.device.model ?? null,
      register_digits: x.device.registerDigits ?? null,
      multiplier: x.device.multiplier ?? null,
      installed_from: at,
      initial_read: x.initialRead,
    })
    .execute();
  // The trigger of migration 028 copies a change of the column to the open device: the new one already has it.
  await db
    .updateTable('meters')
    .set({ register_digits: x.device.registerDigits ?? null, updated_at: sql`now()` })
    .where('id', '=', meterId)
    .where(sql<boolean>`register_digits IS DISTINCT FROM ${x.device.registerDigits ?? null}::smallint`)
    .execute();
  return undefined;
}

/** The device spans of a point overlapping [from, to), oldest first; the multiplier is the device's, else `pointMultiplier`. */
/**
 * Device exchanges of the meters (epoch ms, oldest first): the installation
 * instants of devices that replaced another (a device removed at that
 * instant). VEE's register rules do not compare reads across one.
 */
export async function exchangeInstants(database: Database, meterIds: readonly number[]): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  if (meterIds.length === 0) return out;
  const rows = await database.db
    .selectFrom('meter_devices as d')
    .select(['d.meter_id', 'd.installed_from'])
    .where('d.meter_id', 'in', meterIds as number[])
    .where('d.installed_from', 'is not', null)
    .where((eb) => eb.exists(eb.selectFrom('meter_devices as p').select('p.id').whereRef('p.meter_id', '=', 'd.meter_id').whereRef('p.installed_to', '=', 'd.installed_from')))
    .orderBy('d.installed_from')
    .execute();
  for (const r of rows) (out.get(r.meter_id) ?? out.set(r.meter_id, []).get(r.meter_id)!).push(new Date(r.installed_from!).getTime());
  return out;
}

export async function deviceSpans(db: Kysely<DB>, meterId: number, from: Date, to: Date, pointMultiplier: number): Promise<DeviceSpan[]> {
  const rows: (DeviceRow & { id: number })[] = await db
    .selectFrom('meter_devices')
    .select(['id', 'serial', 'make', 'model', 'register_digits', 'multiplier', 'installed_from', 'installed_to', 'initial_read', 'final_read'])
    .where('meter_id', '=', meterId)
    .where((eb) => eb.or([eb('installed_from', 'is', null), eb('installed_from', '<', to)]))
    .where((eb) => eb.or([eb('installed_to', 'is', null), eb('installed_to', '>', from)]))
    .orderBy(sql`installed_from NULLS FIRST`)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    serial: r.serial,
    fromMs: r.installed_from === null ? null : new Date(r.installed_from).getTime(),
    toMs: r.installed_to === null ? null : new Date(r.installed_to).getTime(),
    initialRead: r.initial_read,
    finalRead: r.final_read,
    registerDigits: r.register_digits,
    multiplier: r.multiplier ?? pointMultiplier,
  }));
}

/**
 * The local window [fromDate, toDate) of a point in its zone as instants, and
 * its register reads of `channel` in it: the last read at or before the start,
 * every read after it up to and including the end (a read at 00:00 of the
 * next month closes the month).
 */
export async function registerReads(
  db: Kysely<DB>,
  p: { meterId: number; timezone: string; channel: number; fromDate: string; toDate: string },
): Promise<{ from: Date; to: Date; reads: { ms: number; value: number }[] }> {
  const { rows: w } = await sql<{ f: Date; t: Date }>`
    SELECT (${p.fromDate}::date)::timestamp AT TIME ZONE ${p.timezone} AS f, (${p.toDate}::date)::timestamp AT TIME ZONE ${p.timezone} AS t`.execute(db);
  const from = new Date(w[0].f);
  const to = new Date(w[0].t);
  const { rows } = await sql<{ ms: number; value: number }>`
    (SELECT floor(extract(epoch FROM r.start) * 1000)::float8 AS ms, r.value FROM readings r
     WHERE r.meter_id = ${p.meterId} AND r.channel = ${p.channel} AND r.start <= ${from} ORDER BY r.start DESC LIMIT 1)
    UNION ALL
    (SELECT floor(extract(epoch FROM r.start) * 1000)::float8, r.value FROM readings r
     WHERE r.meter_id = ${p.meterId} AND r.channel = ${p.channel} AND r.start > ${from} AND r.start <= ${to})
    ORDER BY 1`.execute(db);
  return { from, to, reads: rows.map((r) => ({ ms: Number(r.ms), value: r.value })) };
}
