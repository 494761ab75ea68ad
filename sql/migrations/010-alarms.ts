import type { Migration } from './index.js';

/**
 * Alarms (issue 6): one row per alarm with its lifecycle open → acknowledged
 * → closed; a partial unique index keeps at most one not-closed alarm per
 * meter and code, so concurrent events repeat it (INSERT … ON CONFLICT) and
 * never open two. alarm_transitions is the transactional outbox: every alarm
 * change writes its row in the same transaction, with the alarm as the API
 * shows it and a meter summary; the hook dispatcher reads it in id order.
 * alarm_rules holds admin rules (threshold, silence, vee, vendor-code map);
 * alarm_rule_state keeps a threshold rule's run per meter across batches.
 */
export const alarms: Migration = {
  id: 10,
  name: 'alarms',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS alarms (
        id                bigserial PRIMARY KEY,
        meter_id          integer NOT NULL,
        code              text NOT NULL,
        severity          text NOT NULL CHECK (severity IN ('critical', 'major', 'minor', 'warning', 'info')),
        state             text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acknowledged', 'closed')),
        count             integer NOT NULL DEFAULT 1,
        opened_at         timestamptz NOT NULL,
        last_seen_at      timestamptz NOT NULL,
        acknowledged_at   timestamptz,
        acknowledged_by   text,
        closed_at         timestamptz,
        closed_by         text,
        comment           text,
        source            text NOT NULL CHECK (source IN ('event', 'rule', 'silence', 'vee')),
        rule_id           text,
        data              jsonb,
        work_order_id     text,
        work_order_status text,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now()
      );
      CREATE UNIQUE INDEX IF NOT EXISTS alarms_one_active_idx ON alarms (meter_id, code) WHERE state <> 'closed';
      CREATE INDEX IF NOT EXISTS alarms_opened_idx ON alarms (opened_at DESC, id DESC);
      CREATE INDEX IF NOT EXISTS alarms_meter_idx ON alarms (meter_id, opened_at DESC);
      CREATE INDEX IF NOT EXISTS alarms_active_code_idx ON alarms (code) WHERE state <> 'closed';

      CREATE TABLE IF NOT EXISTS alarm_transitions (
        id          bigserial PRIMARY KEY,
        alarm_id    bigint NOT NULL,
        transition  text NOT NULL CHECK (transition IN ('opened', 'repeated', 'acknowledged', 'closed')),
        at          timestamptz NOT NULL DEFAULT now(),
        actor       text,
        comment     text,
        payload     jsonb NOT NULL
      );
      CREATE INDEX IF NOT EXISTS alarm_transitions_alarm_idx ON alarm_transitions (alarm_id, id);

      CREATE TABLE IF NOT EXISTS alarm_rules (
        id          text PRIMARY KEY,
        kind        text NOT NULL CHECK (kind IN ('threshold', 'silence', 'vee', 'map')),
        definition  jsonb NOT NULL,
        enabled     boolean NOT NULL DEFAULT true,
        created_at  timestamptz NOT NULL DEFAULT now(),
        updated_at  timestamptz NOT NULL DEFAULT now(),
        updated_by  text
      );

      CREATE TABLE IF NOT EXISTS alarm_rule_state (
        rule_id     text NOT NULL,
        meter_id    integer NOT NULL,
        since       timestamptz,
        active      boolean NOT NULL DEFAULT false,
        last_at     timestamptz,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (rule_id, meter_id)
      );
    `);
  },
};
