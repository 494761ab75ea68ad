import { readFile } from 'node:fs/promises';
import { ModbusDeviceSchema, parseDeviceRows, type ModbusDevice } from '../../models/modbus.js';
import type { Database } from '../../sql/database.js';
import { findMeterRefs } from '../../sql/meter-lookup.repository.js';
import { listDevices, upsertDevices, type DeviceUpsertCounts } from '../../sql/modbus-device.repository.js';

export interface DeviceReject {
  index: number;
  id: string | null;
  reason: string;
  /** The configuration is valid but waits on the database: a meter not registered yet, or a channel another device reads. */
  retryable?: boolean;
}

export interface StoreDevicesResult extends DeviceUpsertCounts {
  rejected: DeviceReject[];
}

/**
 * Validates device configurations and stores the valid ones (for
 * `PUT /v1/modbus/devices` and MODBUS_DEVICES_FILE). Per device: the schema,
 * every target meter registered, and no meter channel already fed by another
 * device (two pollers writing one register would read as resets).
 */
export async function storeDevices(database: Database, raw: readonly unknown[]): Promise<StoreDevicesResult> {
  const parsed = parseDeviceRows(raw);
  const valid = parsed.valid;
  const rejected: DeviceReject[] = parsed.rejected;
  const meters = await findMeterRefs(database, [...new Set(valid.flatMap((v) => v.device.registers.map((r) => r.meter)))]);
  const owner = new Map<string, string>(); // meter|channel → device id, stored devices first
  for (const d of await listDevices(database)) {
    const stored = ModbusDeviceSchema.safeParse(d.config);
    if (!stored.success || valid.some((v) => v.device.id === d.id)) continue; // replaced by this request
    for (const r of stored.data.registers) owner.set(`${r.meter}|${r.channel}`, d.id);
  }
  const accepted: ModbusDevice[] = [];
  for (const { index, device } of valid) {
    const reasons: string[] = [];
    const unknown = [...new Set(device.registers.map((r) => r.meter).filter((m) => !meters.has(m)))];
    if (unknown.length) reasons.push(`meter${unknown.length > 1 ? 's' : ''} ${unknown.map((m) => `"${m}"`).join(', ')} not registered: register them with PUT /v1/meters first`);
    device.registers.forEach((r, i) => {
      const other = owner.get(`${r.meter}|${r.channel}`);
      if (other !== undefined && other !== device.id) reasons.push(`registers.${i}: meter "${r.meter}" channel ${r.channel} is already read by device "${other}"`);
    });
    if (reasons.length) {
      rejected.push({ index, id: device.id, reason: reasons.join('; '), retryable: true });
      continue;
    }
    for (const r of device.registers) owner.set(`${r.meter}|${r.channel}`, device.id);
    accepted.push(device);
  }
  rejected.sort((a, b) => a.index - b.index);
  const counts = await upsertDevices(
    database,
    accepted.map((d) => ({ id: d.id, config: d })),
  );
  return { ...counts, rejected };
}

/**
 * Reads MODBUS_DEVICES_FILE: a JSON array of devices, or `{"devices": [...]}`.
 * Throws with the file name when it is missing or not such JSON.
 */
export async function readDeviceFile(path: string): Promise<unknown[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`MODBUS_DEVICES_FILE ${path} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`MODBUS_DEVICES_FILE ${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const list = Array.isArray(doc) ? doc : (doc as { devices?: unknown } | null)?.devices;
  if (!Array.isArray(list)) throw new Error(`MODBUS_DEVICES_FILE ${path} must hold a JSON array of devices or {"devices": [...]}`);
  return list;
}
