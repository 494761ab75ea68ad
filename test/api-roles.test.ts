import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS, ROLES, roleMay, type Role } from '../models/api-key.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * The role table does each user's work (issue 12, defect 7): a trader loads
 * positions and nominations and queues forecast runs; a data steward edits
 * readings, accepts VEE issues and closes billing periods without being
 * admin; an operator sees the meters and data behind its alarms. What stays
 * with admin stays with admin.
 */
const H = 3_600_000;
const DAY_MS = Date.parse('2026-01-15T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();

describe('the role table', () => {
  it('every role works for someone: each has a permission; steward, trader, operator have what their work needs', () => {
    for (const role of ROLES)
      expect(
        Object.keys(PERMISSIONS).some((p) => roleMay(role, p as keyof typeof PERMISSIONS)),
        role,
      ).toBe(true);
    expect(['edits:write', 'validation:admin', 'billing:admin', 'readings:read', 'validation:read'].every((p) => roleMay('steward', p as keyof typeof PERMISSIONS))).toBe(true);
    expect(['positions:write', 'forecasts:run', 'forecasts:read', 'market:read', 'imbalance:read'].every((p) => roleMay('trader', p as keyof typeof PERMISSIONS))).toBe(true);
    expect(['alarms:write', 'meters:read', 'readings:read'].every((p) => roleMay('operator', p as keyof typeof PERMISSIONS))).toBe(true);
    // Admin-only stays admin-only.
    for (const p of ['keys:admin', 'devices:admin', 'market:write', 'alarms:admin', 'portfolios:write'] as const) expect(PERMISSIONS[p]).toEqual(['admin']);
  });
});

describe.each(FLAVOURS)('roles at work (%s)', (flavour) => {
  let t: TestApp;
  const call = (method: 'GET' | 'POST' | 'PUT', url: string, role: Role, payload?: object) => t.app.inject({ method, url, headers: t.auth(role), ...(payload ? { payload } : {}) });

  beforeAll(async () => {
    t = await testApp(flavour);
    expect((await call('PUT', '/v1/meters', 'admin', [{ id: 'M1', portfolio: 'P', timezone: 'UTC' }] as never)).statusCode).toBe(200);
    const readings = Array.from({ length: 24 }, (_, h) => ({ meter: 'M1', channel: 'active_import', start: iso(DAY_MS + h * H), value: 1 + h }));
    expect((await call('POST', '/v1/readings', 'gateway', { readings })).json()).toMatchObject({ rejected: [] });
  });
  afterAll(() => t?.close());

  it('trader: PUT /v1/market/positions and nominations, POST /v1/forecasts/runs (all 403 before); not prices or imbalance rules', async () => {
    const pos = await call('PUT', '/v1/market/positions', 'trader', { portfolio: 'P', positions: [{ start: iso(DAY_MS), dayAhead: 1 }] });
    expect(pos.statusCode, pos.body).toBe(200);
    expect(pos.json()).toMatchObject({ portfolio: 'P', stored: 1 });
    const nom = await call('PUT', '/v1/market/nominations', 'trader', { portfolio: 'P', nominations: [{ meter: 'M1', start: iso(DAY_MS), mwh: 0.001 }] });
    expect(nom.statusCode, nom.body).toBeLessThan(300);
    const run = await call('POST', '/v1/forecasts/runs', 'trader', { target: 'portfolio:P', horizon: 'day-ahead', issueTime: '2026-01-15T09:30:00Z' });
    expect(run.statusCode, run.body).toBe(202);
    expect((await call('GET', `/v1/forecasts/runs/${run.json().id}`, 'trader')).json()).toMatchObject({ requestedBy: 'test-trader', status: 'queued' });
    expect((await call('PUT', '/v1/market/prices', 'trader', { area: 'TR', currency: 'TRY', prices: [{ start: iso(DAY_MS), ptf: 1, smf: 1 }] })).statusCode).toBe(403);
    expect((await call('PUT', '/v1/market/imbalance-rules', 'trader', { area: 'TR', effectiveFrom: '2026-03-02', kPositive: 0.05 })).statusCode).toBe(403);
    expect((await call('PUT', '/v1/market/positions', 'billing', { portfolio: 'P', positions: [] })).statusCode).toBe(403);
  });

  it('steward: edits a reading, resolves VEE issues, closes a billing period; cannot manage keys or write raw readings', async () => {
    const edit = await call('POST', '/v1/meters/M1/edits', 'steward', {
      channel: 'active_import',
      from: iso(DAY_MS + 5 * H),
      to: iso(DAY_MS + 6 * H),
      values: [{ start: iso(DAY_MS + 5 * H), value: 9 }],
      reasonCode: 'CT_FAULT',
      comment: 'checked on site',
    });
    expect(edit.statusCode, edit.body).toBe(200);
    expect(edit.json()).toMatchObject({ meter: 'M1', written: 1 });
    // An unknown issue is a 404: the steward passed the permission check.
    const resolve = await call('POST', '/v1/validation/issues/999999/resolve', 'steward', { action: 'accept', comment: 'confirmed' });
    expect(resolve.statusCode, resolve.body).toBe(404);
    const close = await call('POST', '/v1/billing/periods/2026-01/close', 'steward');
    expect(close.statusCode, close.body).not.toBe(403);
    expect(close.statusCode).toBeLessThan(500);
    expect((await call('GET', '/v1/billing/consumption?period=2026-01', 'steward')).statusCode).toBe(200);
    expect((await call('GET', '/v1/keys', 'steward')).statusCode).toBe(403);
    expect((await call('POST', '/v1/readings', 'steward', { readings: [] })).statusCode).toBe(403);
    // Billing still does not close periods; the viewer still does not edit.
    expect((await call('POST', '/v1/billing/periods/2026-01/close', 'billing')).statusCode).toBe(403);
    expect((await call('POST', '/v1/meters/M1/edits', 'viewer', { channel: 'active_import', from: iso(DAY_MS), to: iso(DAY_MS + H), values: [], reasonCode: 'X', comment: 'y' })).statusCode).toBe(403);
  });

  it('operator: reads the meters, readings and issues behind its alarms; writes nothing else', async () => {
    expect((await call('GET', '/v1/meters/M1', 'operator')).statusCode).toBe(200);
    expect((await call('GET', `/v1/meters/M1/readings?channel=active_import&from=${iso(DAY_MS)}&to=${iso(DAY_MS + 24 * H)}`, 'operator')).statusCode).toBe(200);
    expect((await call('GET', '/v1/validation/issues?meter=M1', 'operator')).statusCode).toBe(200);
    expect((await call('GET', '/v1/alarms', 'operator')).statusCode).toBe(200);
    expect((await call('PUT', '/v1/meters', 'operator', [] as never)).statusCode).toBe(403);
    expect((await call('POST', '/v1/meters/M1/edits', 'operator', { channel: 'active_import', from: iso(DAY_MS), to: iso(DAY_MS + H), values: [], reasonCode: 'X', comment: 'y' })).statusCode).toBe(
      403,
    );
  });
});
