import type { Migration } from './index.js';

/**
 * Modbus devices (configuration as validated JSON), their poll status, and
 * per meter register channel the last read and the partly filled interval
 * that register→interval conversion (ingest/register-delta.ts) carries from
 * one poll to the next, so a restart neither loses nor doubles consumption.
 */
export const modbus: Migration = {
  id: 4,
  name: 'modbus',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS modbus_devices (
        id         text PRIMARY KEY,
        config     jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE IF NOT EXISTS modbus_device_status (
        device_id            text PRIMARY KEY REFERENCES modbus_devices (id) ON DELETE CASCADE,
        state                text NOT NULL,
        last_poll_at         timestamptz,
        last_success_at      timestamptz,
        consecutive_failures integer NOT NULL DEFAULT 0,
        last_error           text,
        last_error_code      text,
        updated_at           timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE IF NOT EXISTS modbus_register_state (
        meter_id         integer NOT NULL,
        channel          smallint NOT NULL,
        device_id        text NOT NULL REFERENCES modbus_devices (id) ON DELETE CASCADE,
        last_at          timestamptz NOT NULL,
        last_value       double precision NOT NULL,
        pending_start    timestamptz NOT NULL,
        pending_value    double precision NOT NULL,
        pending_kind     text NOT NULL CHECK (pending_kind IN ('pinned', 'loose', 'partial')),
        updated_at       timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (meter_id, channel)
      );
      CREATE INDEX IF NOT EXISTS modbus_register_state_device_idx ON modbus_register_state (device_id);
    `);
  },
};
