import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { KeyOut, KeyScope, Principal, Role } from '../models/api-key.js';
import type { Database } from './database.js';

/** Keys are stored as SHA-256 of the secret: they are 192-bit random, so a slow hash adds nothing. */
export const hashKey = (key: string): string => createHash('sha256').update(key).digest('hex');

/** A new random key: `mdm_` + 32 base64url characters. */
export const generateKey = (): string => `mdm_${randomBytes(24).toString('base64url')}`;

export interface CreatedKey extends KeyOut {
  key: string;
}

/** Registers a key (generated unless `key` is given, e.g. MDM_BOOTSTRAP_ADMIN_KEY). Re-registering the same secret is a no-op. */
export async function createApiKey(database: Database, input: { name: string; role: Role; scope?: KeyScope | null; key?: string }): Promise<CreatedKey> {
  const key = input.key ?? generateKey();
  const row = await database.db
    .insertInto('api_keys')
    .values({ id: randomUUID(), name: input.name, role: input.role, scope: input.scope ? JSON.stringify(input.scope) : null, key_hash: hashKey(key) })
    .onConflict((oc) => oc.column('key_hash').doUpdateSet({ revoked_at: null }))
    .returningAll()
    .executeTakeFirstOrThrow();
  return { ...toKeyOut(row), key };
}

export async function findPrincipalByKey(database: Database, key: string): Promise<Principal | undefined> {
  const row = await database.db.selectFrom('api_keys').select(['id', 'name', 'role', 'scope']).where('key_hash', '=', hashKey(key)).where('revoked_at', 'is', null).executeTakeFirst();
  return row ? { keyId: row.id, name: row.name, role: row.role as Role, scope: row.scope ?? null } : undefined;
}

/** Which of `ids` are keys still active (not revoked): one query for all of them (the MQTT broker's re-check of its connections). */
export async function findActiveKeyIds(database: Database, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await database.db.selectFrom('api_keys').select('id').where('id', 'in', ids).where('revoked_at', 'is', null).execute();
  return new Set(rows.map((r) => r.id));
}

export async function touchApiKey(database: Database, id: string, at: Date): Promise<void> {
  await database.db.updateTable('api_keys').set({ last_used_at: at }).where('id', '=', id).execute();
}

export async function listApiKeys(database: Database): Promise<KeyOut[]> {
  const rows = await database.db.selectFrom('api_keys').selectAll().where('revoked_at', 'is', null).orderBy('created_at').execute();
  return rows.map(toKeyOut);
}

/** Revokes a key; returns false when no active key has that id. */
export async function revokeApiKey(database: Database, id: string): Promise<boolean> {
  const r = await database.db.updateTable('api_keys').set({ revoked_at: new Date() }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function countActiveKeys(database: Database, role?: Role): Promise<number> {
  let q = database.db
    .selectFrom('api_keys')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('revoked_at', 'is', null);
  if (role) q = q.where('role', '=', role);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

function toKeyOut(r: { id: string; name: string; role: string; scope: KeyScope | null; created_at: Date; last_used_at: Date | null }): KeyOut {
  return {
    id: r.id,
    name: r.name,
    role: r.role as Role,
    scope: r.scope ?? null,
    createdAt: r.created_at.toISOString(),
    lastUsedAt: r.last_used_at ? r.last_used_at.toISOString() : null,
  };
}
