import type { Migration } from './index.js';

/**
 * Meter events and alarms (MQTT `mdm/v1/meters/{meterId}/events`, Modbus
 * `communication_failure`). Unique on (meter_id, code, at): a redelivered
 * message stores nothing new. A plain table on both flavours: events are few
 * next to readings, and a hypertable would need `at` in the primary key.
 */
export const events: Migration = {
  id: 3,
  name: 'meter-events',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS meter_events (
        id          bigserial PRIMARY KEY,
        meter_id    integer NOT NULL,
        code        text NOT NULL,
        at          timestamptz NOT NULL,
        severity    text,
        data        jsonb,
        transport   text NOT NULL,
        topic       text,
        received_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (meter_id, code, at)
      );
      CREATE INDEX IF NOT EXISTS meter_events_meter_at_idx ON meter_events (meter_id, at DESC);
      CREATE INDEX IF NOT EXISTS meter_events_received_idx ON meter_events (received_at DESC, id DESC);
    `);
  },
};
