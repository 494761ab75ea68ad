import type { FastifyInstance } from 'fastify';
import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { buildApp } from '../api/app.js';
import { ROLES, type Role } from '../models/api-key.js';
import { createApiKey } from '../sql/api-key.repository.js';
import type { Database } from '../sql/database.js';
import { freshDatabase, type FlavourName } from './helpers.js';

export interface TestApp {
  app: FastifyInstance;
  database: Database;
  /** A key per role (the gateway key has no scope). */
  keys: Record<Role, string>;
  /** `{ authorization: 'Bearer …' }` for a role. */
  auth(role: Role): { authorization: string };
  close(): Promise<void>;
}

/** An app on a fresh migrated database of `flavour`, with one key per role. Use app.inject(). */
export async function testApp(flavour: FlavourName, opts: { maxBatchRows?: number } = {}): Promise<TestApp> {
  const database = await freshDatabase(flavour);
  const app = await buildApp({ database, config: { MDM_MAX_BATCH_ROWS: opts.maxBatchRows ?? 100_000, LOG_LEVEL: 'silent' }, listeners: ALARM_LISTENERS });
  const keys = {} as Record<Role, string>;
  for (const role of ROLES) {
    keys[role] = (await createApiKey(database, { name: `test-${role}`, role })).key;
  }
  return {
    app,
    database,
    keys,
    auth: (role) => ({ authorization: `Bearer ${keys[role]}` }),
    async close() {
      await app.close();
      await database.close();
    },
  };
}
