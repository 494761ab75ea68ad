import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

describe.each(FLAVOURS)('keys API, health and docs (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
  });
  afterAll(() => t?.close());

  const createKey = (payload: object, role: 'admin' | 'viewer' | 'gateway' = 'admin') => t.app.inject({ method: 'POST', url: '/v1/keys', headers: t.auth(role), payload });
  const withKey = (key: string) => ({ authorization: `Bearer ${key}` });

  it('creates a key whose secret authenticates at once with its role', async () => {
    const res = await createKey({ name: 'dashboard', role: 'viewer' });
    expect(res.statusCode).toBe(201);
    const created = res.json();
    expect(created).toMatchObject({ name: 'dashboard', role: 'viewer', scope: null, lastUsedAt: null });
    expect(created.key).toMatch(/^mdm_[A-Za-z0-9_-]{32}$/);
    expect((await t.app.inject({ method: 'GET', url: '/v1/meters', headers: withKey(created.key) })).statusCode).toBe(200);
    const put = await t.app.inject({ method: 'PUT', url: '/v1/meters', headers: withKey(created.key), payload: [] });
    expect(put.statusCode).toBe(403);
  });

  it('creates a scoped gateway key and refuses a scope on any other role', async () => {
    const gw = await createKey({ name: 'gw-7', role: 'gateway', scope: { groups: ['north'], meterPrefixes: ['NX-'] } });
    expect(gw.statusCode).toBe(201);
    expect(gw.json().scope).toEqual({ groups: ['north'], meterPrefixes: ['NX-'] });

    const bad = await createKey({ name: 'v', role: 'viewer', scope: { groups: ['north'] } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toEqual({ error: 'MDM_ERR_VALIDATION', message: 'scope applies to gateway keys only, not viewer' });
  });

  it('answers 400 for a bad key body', async () => {
    for (const payload of [{ name: 'x' }, { name: 'x', role: 'root' }, { name: '', role: 'viewer' }, { name: 'x', role: 'viewer', colour: 'blue' }]) {
      const res = await createKey(payload);
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().error).toBe('MDM_ERR_VALIDATION');
    }
  });

  it('lists keys without ever showing a secret', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/v1/keys', headers: t.auth('admin') });
    expect(res.statusCode).toBe(200);
    const { keys } = res.json();
    expect(keys.map((k: { name: string }) => k.name)).toEqual(expect.arrayContaining(['test-admin', 'test-viewer', 'dashboard', 'gw-7']));
    for (const k of keys) expect(Object.keys(k).sort()).toEqual(['createdAt', 'id', 'lastUsedAt', 'name', 'role', 'scope']);
    for (const secret of Object.values(t.keys)) expect(res.body).not.toContain(secret);
    // The admin key was used for this very request.
    expect(keys.find((k: { name: string }) => k.name === 'test-admin').lastUsedAt).not.toBeNull();
  });

  it('revokes a key: it stops working at once, even though it was just used', async () => {
    const { id, key } = (await createKey({ name: 'short-lived', role: 'billing' })).json();
    expect((await t.app.inject({ method: 'GET', url: '/v1/meters', headers: withKey(key) })).statusCode).toBe(200); // now cached
    const del = await t.app.inject({ method: 'DELETE', url: `/v1/keys/${id}`, headers: t.auth('admin') });
    expect(del.statusCode).toBe(204);
    const after = await t.app.inject({ method: 'GET', url: '/v1/meters', headers: withKey(key) });
    expect(after.statusCode).toBe(401);
    expect(after.json().error).toBe('MDM_ERR_UNAUTHORIZED');
    const list = (await t.app.inject({ method: 'GET', url: '/v1/keys', headers: t.auth('admin') })).json();
    expect(list.keys.map((k: { id: string }) => k.id)).not.toContain(id);
    const again = await t.app.inject({ method: 'DELETE', url: `/v1/keys/${id}`, headers: t.auth('admin') });
    expect(again.statusCode).toBe(404);
    expect(again.json().error).toBe('MDM_ERR_NOT_FOUND');
  });

  it('answers 403 to every other role and 401 without a key', async () => {
    for (const role of ['gateway', 'billing', 'trader', 'viewer'] as const) {
      const h = t.auth(role);
      expect((await t.app.inject({ method: 'GET', url: '/v1/keys', headers: h })).statusCode, role).toBe(403);
      expect((await t.app.inject({ method: 'POST', url: '/v1/keys', headers: h, payload: { name: 'x', role: 'admin' } })).statusCode, role).toBe(403);
      expect((await t.app.inject({ method: 'DELETE', url: '/v1/keys/anything', headers: h })).statusCode, role).toBe(403);
    }
    expect((await t.app.inject({ method: 'GET', url: '/v1/keys' })).statusCode).toBe(401);
    expect((await t.app.inject({ method: 'GET', url: '/v1/keys', headers: { authorization: 'Basic YWRtaW46YWRtaW4=' } })).statusCode).toBe(401);
  });

  it('serves /health without a key', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ status: 'ok', database: { ok: true, engine: flavour === 'server' ? 'pg' : 'pglite' } });
  });

  it('serves the OpenAPI document at /docs/json without a key, listing the /v1 routes', async () => {
    const res = await t.app.inject({ method: 'GET', url: '/docs/json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json();
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/meters', '/v1/meters/{id}', '/v1/rejects', '/v1/keys', '/v1/keys/{id}']));
    expect(Object.keys(doc.paths['/v1/meters']).sort()).toEqual(['get', 'put']);
    const put = doc.paths['/v1/meters'].put;
    const item = put.requestBody.content['application/json'].schema.items;
    expect(item.properties.timezone.default).toBe('Europe/Istanbul');
    expect(Object.keys(put.responses)).toEqual(expect.arrayContaining(['200', '400', '401', '403', '413']));
    expect(doc.paths['/v1/rejects'].get.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['before', 'format', 'limit', 'locale', 'meter', 'since', 'transport']);
    expect((await t.app.inject({ method: 'GET', url: '/docs' })).statusCode).toBeLessThan(400);
  });
});
