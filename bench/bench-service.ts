import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { buildApp } from '../api/app.js';
import type { Role } from '../models/api-key.js';
import { createApiKey } from '../sql/api-key.repository.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbeddedDatabase, type Database } from '../sql/database.js';
import { migrate } from '../sql/migrator.js';

export interface BenchService {
  /** http://127.0.0.1:<port> */
  readonly url: string;
  readonly keys: Record<'admin' | 'gateway' | 'trader', string>;
  close(): Promise<void>;
}

/** The real API (api/app.ts) on a free loopback port, with a key per role the benches use. */
export async function startBenchService(database: Database): Promise<BenchService> {
  const app = await buildApp({ database, config: { MDM_MAX_BATCH_ROWS: 100_000, LOG_LEVEL: 'silent' }, listeners: ALARM_LISTENERS });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const keys = {} as Record<'admin' | 'gateway' | 'trader', string>;
  for (const role of ['admin', 'gateway', 'trader'] as const satisfies readonly Role[]) {
    keys[role] = (await createApiKey(database, { name: `bench-${role}`, role })).key;
  }
  let closed = false;
  return {
    url,
    keys,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
    },
  };
}

/** Registers the bench meters (hourly, Europe/Istanbul, one group) through PUT /v1/meters. */
export async function registerMeters(service: BenchService, ids: readonly string[], group: string, timezone: string): Promise<void> {
  for (let i = 0; i < ids.length; i += 10_000) {
    const body = ids.slice(i, i + 10_000).map((id) => ({ id, group, timezone, intervalMinutes: 60, commodity: 'electricity' }));
    const res = await fetch(`${service.url}/v1/meters`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${service.keys.admin}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    const out = res.status === 200 ? (JSON.parse(text) as { rejected?: unknown[] }) : undefined;
    if (!out || out.rejected?.length) throw new Error(`PUT /v1/meters answered ${res.status}: ${text.slice(0, 500)}`);
  }
}

/**
 * The embedded flavour for a bench: a migrated PGlite in a temporary directory
 * (`mdm-bench-<name>-…`, removed by the bench guard too if the bench is
 * stopped) and the real API on it; `fn` runs with both, which are closed and
 * removed afterwards.
 */
export async function withEmbeddedService<T>(name: string, onCleanup: (fn: () => Promise<void>) => void, fn: (database: Database, service: BenchService) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), `mdm-bench-${name}-`));
  onCleanup(() => rm(dir, { recursive: true, force: true }));
  let database: Database | undefined;
  let service: BenchService | undefined;
  try {
    database = await createEmbeddedDatabase(dir);
    await migrate(database);
    service = await startBenchService(database);
    return await fn(database, service);
  } finally {
    await service?.close();
    await database?.close();
    await rm(dir, { recursive: true, force: true });
  }
}
