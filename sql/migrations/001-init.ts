import { CHANNELS } from '../../models/channel.js';
import { QUALITIES, SOURCES } from '../../models/reading.js';
import type { Migration } from './index.js';

const list = (xs: readonly string[]) => xs.map((x, i) => `(${i}, '${x}')`).join(', ');

/** Registry, readings with versions, history, batches, dead-letter, keys. */
export const init: Migration = {
  id: 1,
  name: 'init',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS meters (
        id               serial PRIMARY KEY,
        external_id      text NOT NULL UNIQUE,
        commodity        text NOT NULL,
        timezone         text NOT NULL,
        interval_minutes smallint NOT NULL CHECK (interval_minutes IN (15, 30, 60)),
        multiplier       double precision NOT NULL DEFAULT 1,
        "group"          text,
        portfolio        text,
        profile_class    text,
        tariff           text NOT NULL DEFAULT 'single',
        region           text,
        labels           jsonb NOT NULL DEFAULT '{}',
        supply_start     date,
        supply_end       date,
        weather_station  text,
        created_at       timestamptz NOT NULL DEFAULT now(),
        updated_at       timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX IF NOT EXISTS meters_group_idx ON meters ("group");
      CREATE INDEX IF NOT EXISTS meters_portfolio_idx ON meters (portfolio);

      -- Lookup tables so SQL users can read the smallint codes stored in readings.
      CREATE TABLE IF NOT EXISTS channels (code smallint PRIMARY KEY, name text NOT NULL UNIQUE, unit text NOT NULL, kind text NOT NULL, obis text);
      CREATE TABLE IF NOT EXISTS qualities (code smallint PRIMARY KEY, name text NOT NULL UNIQUE);
      CREATE TABLE IF NOT EXISTS sources (code smallint PRIMARY KEY, name text NOT NULL UNIQUE);
      INSERT INTO channels VALUES ${CHANNELS.map((c) => `(${c.code}, '${c.name}', '${c.unit}', '${c.kind}', ${c.obis ? `'${c.obis}'` : 'NULL'})`).join(', ')} ON CONFLICT DO NOTHING;
      INSERT INTO qualities VALUES ${list(QUALITIES)} ON CONFLICT DO NOTHING;
      INSERT INTO sources VALUES ${list(SOURCES)} ON CONFLICT DO NOTHING;

      -- Who sent what, when: every stored value points at the batch that wrote it.
      CREATE TABLE IF NOT EXISTS ingest_batches (
        id          bigserial PRIMARY KEY,
        received_at timestamptz NOT NULL DEFAULT now(),
        transport   text NOT NULL,
        principal   text,
        detail      text
      );

      -- Current value per meter/channel/start; older versions live in reading_history.
      CREATE TABLE IF NOT EXISTS readings (
        meter_id         integer NOT NULL,
        channel          smallint NOT NULL,
        start            timestamptz NOT NULL,
        value            double precision NOT NULL,
        interval_minutes smallint,
        quality          smallint NOT NULL,
        source           smallint NOT NULL,
        version          integer NOT NULL DEFAULT 1,
        batch_id         bigint NOT NULL,
        PRIMARY KEY (meter_id, channel, start)
      );

      CREATE TABLE IF NOT EXISTS reading_history (
        meter_id            integer NOT NULL,
        channel             smallint NOT NULL,
        start               timestamptz NOT NULL,
        value               double precision NOT NULL,
        interval_minutes    smallint,
        quality             smallint NOT NULL,
        source              smallint NOT NULL,
        version             integer NOT NULL,
        batch_id            bigint NOT NULL,
        superseded_at       timestamptz NOT NULL DEFAULT now(),
        superseded_by_batch bigint NOT NULL,
        PRIMARY KEY (meter_id, channel, start, version)
      );

      -- Dead letter: every row or message we could not store, with the reason.
      CREATE TABLE IF NOT EXISTS rejects (
        id          bigserial PRIMARY KEY,
        received_at timestamptz NOT NULL DEFAULT now(),
        batch_id    bigint,
        transport   text NOT NULL,
        principal   text,
        topic       text,
        row_index   integer,
        meter       text,
        payload     text NOT NULL,
        reason      text NOT NULL
      );
      CREATE INDEX IF NOT EXISTS rejects_received_idx ON rejects (received_at DESC, id DESC);

      CREATE TABLE IF NOT EXISTS api_keys (
        id           text PRIMARY KEY,
        name         text NOT NULL,
        role         text NOT NULL,
        scope        jsonb,
        key_hash     text NOT NULL UNIQUE,
        created_at   timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        revoked_at   timestamptz
      );
    `);
  },
};
