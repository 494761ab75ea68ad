import { CHANNELS, USER_CHANNEL_CODE_MIN } from '../../models/channel.js';
import type { Migration } from './index.js';

const text = (s: string) => `'${s.replace(/'/g, "''")}'`;
const textArray = (xs: readonly string[]) => `ARRAY[${xs.map(text).join(', ')}]::text[]`;

/**
 * The channel registry (issue 15): `channels` was a reference copy of the
 * built-in list; it now also holds user-defined channels (PUT /v1/channels/:name)
 * with the definition the code needs: commodities, aggregation rule, meaning.
 * Built-in rows are written from models/channel.ts (codes 11+ appended, 1–10
 * unchanged, OBIS stored as the normalised key `1-0:1.8.0`). A user-defined
 * channel gets its code from `channel_code_seq`, starting at 1000, so built-in
 * codes (below 1000) can keep growing without ever meeting a user's.
 */
export const channelRegistry: Migration = {
  id: 21,
  name: 'channels',
  async up(s) {
    const rows = CHANNELS.map(
      (c) => `(${c.code}, ${text(c.name)}, ${text(c.unit)}, ${text(c.kind)}, ${c.obis ? text(c.obis) : 'NULL'}, ${textArray(c.commodities)}, ${text(c.aggregation)}, ${text(c.meaning)}, true)`,
    );
    await s.exec(`
      ALTER TABLE channels ADD COLUMN IF NOT EXISTS commodities text[] NOT NULL DEFAULT '{}';
      ALTER TABLE channels ADD COLUMN IF NOT EXISTS aggregation text NOT NULL DEFAULT 'sum';
      ALTER TABLE channels ADD COLUMN IF NOT EXISTS meaning text NOT NULL DEFAULT '';
      ALTER TABLE channels ADD COLUMN IF NOT EXISTS builtin boolean NOT NULL DEFAULT false;
      ALTER TABLE channels ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
      ALTER TABLE channels ADD COLUMN IF NOT EXISTS updated_by text;

      INSERT INTO channels (code, name, unit, kind, obis, commodities, aggregation, meaning, builtin) VALUES
        ${rows.join(',\n        ')}
      ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name, unit = EXCLUDED.unit, kind = EXCLUDED.kind, obis = EXCLUDED.obis,
        commodities = EXCLUDED.commodities, aggregation = EXCLUDED.aggregation, meaning = EXCLUDED.meaning, builtin = true;

      ALTER TABLE channels ADD CONSTRAINT channels_kind_check CHECK (kind IN ('interval', 'register', 'instantaneous', 'status'));
      ALTER TABLE channels ADD CONSTRAINT channels_aggregation_check CHECK (aggregation IN ('sum', 'mean', 'max', 'last'));
      ALTER TABLE channels ADD CONSTRAINT channels_user_code_check CHECK (builtin OR code >= ${USER_CHANNEL_CODE_MIN});
      CREATE UNIQUE INDEX IF NOT EXISTS channels_obis_key ON channels (obis) WHERE obis IS NOT NULL;

      CREATE SEQUENCE IF NOT EXISTS channel_code_seq AS smallint MINVALUE ${USER_CHANNEL_CODE_MIN} MAXVALUE 32767 START ${USER_CHANNEL_CODE_MIN} OWNED BY channels.code;
      ALTER TABLE channels ALTER COLUMN code SET DEFAULT nextval('channel_code_seq');
    `);
  },
};
