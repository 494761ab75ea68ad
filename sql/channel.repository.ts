import { sql } from 'kysely';
import type { Aggregation, ChannelCommodity, ChannelDef, ChannelKind } from '../models/channel.js';
import type { Database } from './database.js';

/** The `channels` table (migration 021): user-defined rows; built-in rows mirror models/channel.ts. */

/** What PUT /v1/channels/:name stores; the code comes from the database. */
export interface ChannelDefinition {
  readonly name: string;
  readonly unit: string;
  readonly kind: ChannelKind;
  readonly aggregation: Aggregation;
  readonly commodities: readonly ChannelCommodity[];
  /** Normalised OBIS key, or null. */
  readonly obis: string | null;
  readonly meaning: string;
}

export interface StoredChannel extends ChannelDef {
  readonly updatedAt: Date;
  readonly updatedBy: string | null;
}

interface Row {
  code: number;
  name: string;
  unit: string;
  kind: string;
  obis: string | null;
  commodities: string[];
  aggregation: string;
  meaning: string;
  updated_at: Date;
  updated_by: string | null;
}

const toChannel = (r: Row): StoredChannel => ({
  code: r.code,
  name: r.name,
  unit: r.unit,
  kind: r.kind as ChannelKind, // the table's CHECK holds it to the list
  ...(r.obis ? { obis: r.obis } : {}),
  meaning: r.meaning,
  commodities: r.commodities as ChannelCommodity[],
  aggregation: r.aggregation as Aggregation,
  builtin: false,
  updatedAt: r.updated_at,
  updatedBy: r.updated_by,
});

const COLUMNS = ['code', 'name', 'unit', 'kind', 'obis', 'commodities', 'aggregation', 'meaning', 'updated_at', 'updated_by'] as const;

/** Every user-defined channel, codes ascending. */
export async function listUserChannels(database: Database): Promise<StoredChannel[]> {
  const rows = await database.db.selectFrom('channels').select(COLUMNS).where('builtin', '=', false).orderBy('code').execute();
  return rows.map(toChannel);
}

export async function countUserChannels(database: Database): Promise<number> {
  const row = await database.db.selectFrom('channels').select(sql<number>`count(*)::int`.as('n')).where('builtin', '=', false).executeTakeFirstOrThrow();
  return row.n;
}

/** The channel (built-in or not) that holds `obis`, other than `exceptName`; undefined when none. */
export async function findChannelByObis(database: Database, obis: string, exceptName: string): Promise<{ name: string } | undefined> {
  return database.db.selectFrom('channels').select('name').where('obis', '=', obis).where('name', '<>', exceptName).executeTakeFirst();
}

/**
 * Creates or replaces the user-defined channel `def.name`: an update keeps
 * its code, an insert takes the next one from channel_code_seq (≥ 1000).
 * Undefined when `def.name` is a built-in row (the caller refuses that first).
 */
export async function upsertUserChannel(database: Database, def: ChannelDefinition, by: string | null): Promise<{ channel: StoredChannel; created: boolean } | undefined> {
  return database.db.transaction().execute(async (trx) => {
    const values = {
      unit: def.unit,
      kind: def.kind,
      aggregation: def.aggregation,
      commodities: [...def.commodities],
      obis: def.obis,
      meaning: def.meaning,
      updated_by: by,
    };
    const updated = await trx
      .updateTable('channels')
      .set({ ...values, updated_at: sql`now()` })
      .where('name', '=', def.name)
      .where('builtin', '=', false)
      .returning(COLUMNS)
      .executeTakeFirst();
    if (updated) return { channel: toChannel(updated), created: false };
    const builtin = await trx.selectFrom('channels').select('code').where('name', '=', def.name).executeTakeFirst();
    if (builtin) return undefined;
    const inserted = await trx
      .insertInto('channels')
      .values({ name: def.name, builtin: false, ...values })
      .returning(COLUMNS)
      .executeTakeFirstOrThrow();
    return { channel: toChannel(inserted), created: true };
  });
}
