import type { Migration } from './index.js';

/**
 * Which instance polls a Modbus device (issue 19): a lease, renewed by its
 * holder at every reload of the device table and taken over by another
 * instance once it has expired (its holder died) or was released (its holder
 * stopped). adapters/modbus/modbus.component.ts holds them.
 */
export const modbusLeases: Migration = {
  id: 25,
  name: 'modbus-leases',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS modbus_leases (
        device_id  text PRIMARY KEY REFERENCES modbus_devices (id) ON DELETE CASCADE,
        holder     text NOT NULL,
        expires_at timestamptz NOT NULL
      );`);
  },
};
