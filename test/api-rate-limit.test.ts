import type { FastifyInstance } from 'fastify';
import type { KyselyPlugin, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { buildApp, type AppConfig } from '../api/app.js';
import { loadConfig } from '../models/config.js';
import { createApiKey } from '../sql/api-key.repository.js';
import type { Database } from '../sql/database.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

/**
 * Issue 11, defect 6: rate limiting per key and per client address, stricter
 * for failed authentication (429 with Retry-After, no key look-up), /health
 * exempt. Time moves with fake Date only (the windows are one minute).
 */

/** Counts the queries that read api_keys (the key look-up), on the real database. */
class KeyLookups implements KyselyPlugin {
  count = 0;
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    const node = args.node;
    if (node.kind === 'SelectQueryNode' && JSON.stringify(node.from).includes('"api_keys"')) this.count++;
    return node;
  }
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result;
  }
}

describe.each(FLAVOURS.filter((f) => f !== 'timescaledb'))('rate limits (%s)', (flavour) => {
  let database: Database;
  let app: FastifyInstance | undefined;
  let lookups: KeyLookups;
  let admin: string;
  let viewer: string;

  // One database; each test builds its own app, so the counters start at zero.
  beforeAll(async () => {
    database = await freshDatabase(flavour);
    admin = (await createApiKey(database, { name: 'admin', role: 'admin' })).key;
    viewer = (await createApiKey(database, { name: 'viewer', role: 'viewer' })).key;
  });
  afterAll(() => database?.close());
  afterEach(async () => {
    vi.useRealTimers();
    await app?.close();
    app = undefined;
  });

  /** The API on the database, its key look-ups counted. */
  async function start(config: Partial<AppConfig> = {}): Promise<FastifyInstance> {
    lookups = new KeyLookups();
    const observed: Database = Object.create(database, { db: { value: database.db.withPlugin(lookups) } });
    app = await buildApp({ database: observed, config: { MDM_MAX_BATCH_ROWS: 1000, LOG_LEVEL: 'silent', ...config }, listeners: ALARM_LISTENERS });
    return app;
  }
  const get = (url: string, key: string | undefined, remoteAddress: string) => app!.inject({ method: 'GET', url, remoteAddress, headers: key === undefined ? {} : { authorization: `Bearer ${key}` } });

  it('the 21st wrong key from one address gets 429 with Retry-After and no key look-up; other addresses and valid keys carry on', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    await start();
    expect((await get('/v1/meters', admin, '10.0.0.1')).statusCode).toBe(200); // seen valid once

    for (let i = 0; i < 20; i++) expect((await get('/v1/meters', `wrong-${i}`, '10.0.0.1')).statusCode).toBe(401);
    const before = lookups.count;
    const refused = await get('/v1/meters', 'wrong-20', '10.0.0.1');
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ error: 'MDM_ERR_RATE_LIMITED', message: expect.stringContaining('20 failed authentications') });
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect((await get('/v1/meters', undefined, '10.0.0.1')).statusCode).toBe(429); // no key at all
    expect(lookups.count, 'no key look-up for a blocked address').toBe(before);

    expect((await get('/v1/meters', 'wrong-21', '10.0.0.2')).statusCode).toBe(401); // another address
    expect((await get('/v1/meters', viewer, '10.0.0.2')).statusCode).toBe(200);
    expect((await get('/v1/meters', admin, '10.0.0.1')).statusCode, 'a key seen valid keeps working from the blocked address').toBe(200);
    expect((await get('/health', undefined, '10.0.0.1')).statusCode).toBe(200);

    vi.setSystemTime(Date.now() + 61_000); // the minute is over
    expect((await get('/v1/meters', 'wrong-22', '10.0.0.1')).statusCode).toBe(401);
    expect((await get('/v1/meters', viewer, '10.0.0.1')).statusCode).toBe(200);
  });

  it('a cached wrong key counts as a failure too (no look-up, still limited)', async () => {
    await start({ API_AUTH_FAILURES_PER_MIN: 3 });
    for (let i = 0; i < 3; i++) expect((await get('/v1/meters', 'same-wrong', '10.0.0.3')).statusCode).toBe(401);
    expect(lookups.count).toBe(1); // the 30 s key cache answered the repeats
    expect((await get('/v1/meters', 'same-wrong', '10.0.0.3')).statusCode).toBe(429);
  });

  it('per key: over API_RATE_LIMIT_PER_MIN a key gets 429 with Retry-After; another key from the same address does not', async () => {
    await start({ API_RATE_LIMIT_PER_MIN: 5 });
    for (let i = 0; i < 5; i++) {
      const res = await get('/v1/meters', admin, '10.0.1.1');
      expect(res.statusCode).toBe(200);
      expect(res.headers['x-ratelimit-remaining']).toBe(String(4 - i));
    }
    const over = await get('/v1/meters', admin, '10.0.1.2'); // the key counts, not the address
    expect(over.statusCode).toBe(429);
    expect(over.json()).toMatchObject({ error: 'MDM_ERR_RATE_LIMITED', message: expect.stringContaining('key "admin"') });
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await get('/v1/meters', viewer, '10.0.1.1')).statusCode).toBe(200);
    for (let i = 0; i < 10; i++) expect((await get('/health', undefined, '10.0.1.1')).statusCode).toBe(200);
  });

  it('per address on routes without a key (the OpenAPI document)', async () => {
    await start({ API_RATE_LIMIT_PER_MIN: 2 });
    expect((await get('/docs/json', undefined, '10.0.2.1')).statusCode).toBe(200);
    expect((await get('/docs/json', undefined, '10.0.2.1')).statusCode).toBe(200);
    expect((await get('/docs/json', undefined, '10.0.2.1')).statusCode).toBe(429);
    expect((await get('/docs/json', undefined, '10.0.2.2')).statusCode).toBe(200);
  });

  it('0 turns both limits off', async () => {
    await start({ API_RATE_LIMIT_PER_MIN: 0, API_AUTH_FAILURES_PER_MIN: 0 });
    for (let i = 0; i < 30; i++) expect((await get('/v1/meters', `wrong-${i}`, '10.0.3.1')).statusCode).toBe(401);
    expect(lookups.count).toBe(30);
    expect((await get('/v1/meters', admin, '10.0.3.1')).headers['x-ratelimit-limit']).toBeUndefined();
  });

  it('API_TRUST_PROXY: behind a proxy the limit counts the forwarded client address', async () => {
    await start({ API_AUTH_FAILURES_PER_MIN: 2, API_TRUST_PROXY: '127.0.0.1' });
    const viaProxy = (client: string) => app!.inject({ method: 'GET', url: '/v1/meters', remoteAddress: '127.0.0.1', headers: { authorization: 'Bearer wrong', 'x-forwarded-for': client } });
    expect((await viaProxy('203.0.113.1')).statusCode).toBe(401);
    expect((await viaProxy('203.0.113.1')).statusCode).toBe(401);
    expect((await viaProxy('203.0.113.1')).statusCode).toBe(429);
    expect((await viaProxy('203.0.113.2')).statusCode).toBe(401);
  });
});

describe('rate-limit configuration', () => {
  it('defaults generous for head-ends, strict for failed keys; bad values are refused', () => {
    const c = loadConfig({});
    expect(c.API_RATE_LIMIT_PER_MIN).toBe(60_000);
    expect(c.API_AUTH_FAILURES_PER_MIN).toBe(20);
    expect(c.API_TRUST_PROXY).toBeUndefined();
    expect(loadConfig({ API_RATE_LIMIT_PER_MIN: '0', API_TRUST_PROXY: '10.0.0.0/8,127.0.0.1' })).toMatchObject({ API_RATE_LIMIT_PER_MIN: 0, API_TRUST_PROXY: '10.0.0.0/8,127.0.0.1' });
    expect(() => loadConfig({ API_AUTH_FAILURES_PER_MIN: '-1' })).toThrow(/API_AUTH_FAILURES_PER_MIN/);
    expect(() => loadConfig({ API_TRUST_PROXY: 'yes please' })).toThrow(/API_TRUST_PROXY/);
  });
});
