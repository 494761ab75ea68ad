import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

// Issue 11: a value stored before the ingest bounds (1.8e308) made
// GET /v1/billing/consumption answer 500 for every selection holding its
// meter. Now: 422 naming the meter and the reason; the other meters bill.

describe.each(FLAVOURS)('billing over stored data it cannot sum (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
    const put = await t.app.inject({ method: 'PUT', url: '/v1/meters', headers: t.auth('admin'), payload: [{ id: 'OK1' }, { id: 'BAD1' }] });
    expect(put.statusCode).toBe(200);
    const readings = ['OK1', 'BAD1'].flatMap((meter) =>
      Array.from({ length: 24 }, (_, h) => ({ meter, channel: 'active_import', start: new Date(Date.parse('2026-01-09T21:00:00Z') + h * 3_600_000).toISOString(), value: 1 })),
    );
    const post = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('gateway'), payload: { readings } });
    expect(post.json()).toMatchObject({ accepted: 48, rejected: [] });
    // Planted as data from before the bounds would be: straight into the table.
    await sql`UPDATE readings SET value = 1.7976931348623157e308 WHERE meter_id = (SELECT id FROM meters WHERE external_id = 'BAD1') AND start = '2026-01-10T05:00:00Z'`.execute(t.database.db);
    await sql`UPDATE readings SET value = 1.7976931348623157e308 WHERE meter_id = (SELECT id FROM meters WHERE external_id = 'BAD1') AND start = '2026-01-10T06:00:00Z'`.execute(t.database.db);
  }, 120_000);
  afterAll(() => t?.close());

  it('answers 422 naming the meter whose figures overflow, and bills the others', async () => {
    const all = await t.app.inject({ method: 'GET', url: '/v1/billing/consumption?period=2026-01', headers: t.auth('billing') });
    expect(all.statusCode, all.body).toBe(422);
    expect(all.json()).toMatchObject({ error: 'MDM_ERR_UNPROCESSABLE', message: expect.stringMatching(/1 meter\(s\): "BAD1" \(.*out of range.*\).*leave them out/) });
    const ok = await t.app.inject({ method: 'GET', url: '/v1/billing/consumption?period=2026-01&meters=OK1', headers: t.auth('billing') });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().meters).toMatchObject([{ meter: 'OK1', activeImport: 24 }]);
    const completeness = await t.app.inject({ method: 'GET', url: '/v1/completeness?period=2026-01', headers: t.auth('billing') });
    expect(completeness.statusCode).toBe(422);
  });
});
