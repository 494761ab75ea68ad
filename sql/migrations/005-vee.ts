import type { Migration } from './index.js';

/**
 * VEE: validation issues, rule parameter overrides, the queue of meter days
 * awaiting validation, and notes explaining estimated and edited values.
 */
export const vee: Migration = {
  id: 5,
  name: 'vee',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS validation_issues (
        id                 bigserial PRIMARY KEY,
        meter_id           integer NOT NULL,
        channel            smallint NOT NULL,
        rule               text NOT NULL,
        severity           text NOT NULL CHECK (severity IN ('warn', 'fail')),
        from_ts            timestamptz NOT NULL,
        to_ts              timestamptz NOT NULL,
        detail             text NOT NULL,
        status             text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'replaced', 'obsolete')),
        created_at         timestamptz NOT NULL DEFAULT now(),
        resolved_at        timestamptz,
        resolved_by        text,
        resolution_comment text
      );
      -- At most one open issue per finding: re-runs never duplicate.
      CREATE UNIQUE INDEX IF NOT EXISTS validation_issues_open_uq ON validation_issues (meter_id, channel, rule, from_ts, to_ts) WHERE status = 'open';
      CREATE INDEX IF NOT EXISTS validation_issues_meter_idx ON validation_issues (meter_id, from_ts);
      CREATE INDEX IF NOT EXISTS validation_issues_status_idx ON validation_issues (status, id);

      -- Rule parameter overrides (validated against VeeParamsSchema before they are stored).
      CREATE TABLE IF NOT EXISTS vee_settings (
        id             bigserial PRIMARY KEY,
        profile_class  text,
        commodity      text,
        effective_from date NOT NULL,
        params         jsonb NOT NULL,
        created_at     timestamptz NOT NULL DEFAULT now(),
        created_by     text
      );
      CREATE UNIQUE INDEX IF NOT EXISTS vee_settings_uq ON vee_settings (coalesce(profile_class, ''), coalesce(commodity, ''), effective_from);

      -- Meter days awaiting validation. claimed_at: taken by a worker (reset when new data arrives meanwhile).
      CREATE TABLE IF NOT EXISTS vee_queue (
        meter_id    integer NOT NULL,
        channel     smallint NOT NULL,
        local_date  date NOT NULL,
        enqueued_at timestamptz NOT NULL DEFAULT now(),
        claimed_at  timestamptz,
        PRIMARY KEY (meter_id, channel, local_date)
      );
      CREATE INDEX IF NOT EXISTS vee_queue_enqueued_idx ON vee_queue (enqueued_at);

      -- Why a stored version of a value is what it is: estimation method and parameters, or an edit's reason.
      CREATE TABLE IF NOT EXISTS reading_notes (
        meter_id    integer NOT NULL,
        channel     smallint NOT NULL,
        start       timestamptz NOT NULL,
        version     integer NOT NULL,
        batch_id    bigint NOT NULL,
        method      text,
        params      jsonb,
        reason_code text NOT NULL,
        comment     text,
        recorded_by text NOT NULL,
        issue_id    bigint,
        created_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (meter_id, channel, start, version)
      );
    `);
  },
};
