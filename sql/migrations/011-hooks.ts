import type { Migration } from './index.js';

/**
 * Work-order hooks (issue 6): subscriptions and their delivery outbox (the
 * work order a receiver reports back is kept on the alarm, migration 010).
 *
 * Fan-out is a statement trigger on alarm_transitions (migration 010, the
 * alarms' transactional outbox): the delivery rows of a transition commit in
 * the same transaction as the alarm change that wrote it. A polling cursor
 * over alarm_transitions.id could skip rows: ids are taken at insert but rows
 * become visible at commit, so a transaction with a smaller id can commit
 * after the cursor has passed it (MQTT writes batches concurrently).
 *
 * hooks.from_transition_id: a hook receives transitions with a larger id
 * (those written after it was created; nothing from before).
 * hook_deliveries.id is the delivery id sent as X-MDM-Delivery: the same on
 * every attempt and redelivery (the receiver's idempotency key).
 * status: pending → delivering (claimed; next_attempt_at is then the lease
 * end, after which another dispatcher takes it over: a crash mid-request) →
 * delivered | failed; pending again on a retry or a redeliver.
 */
export const hooks: Migration = {
  id: 11,
  name: 'hooks',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS hooks (
        id                 bigserial PRIMARY KEY,
        url                text NOT NULL,
        secret             text NOT NULL,
        codes              text[],
        severities         text[],
        groups             text[],
        transitions        text[] NOT NULL,
        active             boolean NOT NULL DEFAULT true,
        from_transition_id bigint NOT NULL DEFAULT 0,
        description        text,
        created_by         text,
        created_at         timestamptz NOT NULL DEFAULT now(),
        deactivated_at     timestamptz
      );

      CREATE TABLE IF NOT EXISTS hook_deliveries (
        id              text PRIMARY KEY,
        hook_id         bigint NOT NULL REFERENCES hooks (id),
        transition_id   bigint NOT NULL,
        alarm_id        bigint NOT NULL,
        transition      text NOT NULL,
        status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivering', 'delivered', 'failed')),
        attempts        integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz NOT NULL DEFAULT now(),
        last_status     integer,
        last_error      text,
        created_at      timestamptz NOT NULL DEFAULT now(),
        delivered_at    timestamptz,
        UNIQUE (hook_id, transition_id)
      );
      CREATE INDEX IF NOT EXISTS hook_deliveries_due_idx ON hook_deliveries (next_attempt_at) WHERE status IN ('pending', 'delivering');
      CREATE INDEX IF NOT EXISTS hook_deliveries_alarm_idx ON hook_deliveries (hook_id, alarm_id, transition_id) WHERE status IN ('pending', 'delivering');
      CREATE INDEX IF NOT EXISTS hook_deliveries_failed_idx ON hook_deliveries (hook_id, transition_id) WHERE status = 'failed';

      CREATE OR REPLACE FUNCTION mdm_hook_fanout() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        INSERT INTO hook_deliveries (id, hook_id, transition_id, alarm_id, transition)
        SELECT gen_random_uuid()::text, h.id, t.id, t.alarm_id, t.transition
        FROM new_transitions t
        JOIN hooks h ON h.active AND t.id > h.from_transition_id AND t.transition = ANY (h.transitions)
          AND (h.codes IS NULL OR t.payload -> 'alarm' ->> 'code' = ANY (h.codes))
          AND (h.severities IS NULL OR t.payload -> 'alarm' ->> 'severity' = ANY (h.severities))
          AND (h.groups IS NULL OR t.payload -> 'meter' ->> 'group' = ANY (h.groups))
        ORDER BY t.id, h.id
        ON CONFLICT (hook_id, transition_id) DO NOTHING;
        RETURN NULL;
      END $$;
      DROP TRIGGER IF EXISTS alarm_transitions_hook_fanout ON alarm_transitions;
      CREATE TRIGGER alarm_transitions_hook_fanout AFTER INSERT ON alarm_transitions
        REFERENCING NEW TABLE AS new_transitions FOR EACH STATEMENT EXECUTE FUNCTION mdm_hook_fanout();
    `);
  },
};
