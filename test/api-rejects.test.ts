import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestReadings } from '../ingest/pipeline.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

interface RejectOut {
  id: number;
  receivedAt: string;
  transport: string;
  principal: string | null;
  topic: string | null;
  rowIndex: number | null;
  meter: string | null;
  payload: string;
  reason: string;
  batchId: number | null;
}

describe.each(FLAVOURS)('rejects API (%s)', (flavour) => {
  let t: TestApp;
  let httpBatch: number;
  let mqttBatch: number;
  beforeAll(async () => {
    t = await testApp(flavour);
    const reg = await t.app.inject({ method: 'PUT', url: '/v1/meters', headers: t.auth('admin'), payload: [{ id: 'M1' }, { id: 'M2', intervalMinutes: 15 }] });
    expect(reg.json()).toMatchObject({ created: 2 });

    const http = await ingestReadings(
      t.database,
      [
        { meter: 'M1', channel: 'active_import', start: '2026-01-02T00:00:00', value: 1 }, // no offset
        { meter: 'M1', channel: 'active_import', start: '2026-01-02T00:00:00Z', value: 1 }, // good
        { meter: 'NOPE', channel: 'active_import', start: '2026-01-02T00:00:00Z', value: 1 },
        { meter: 'M2', channel: 'bogus', start: '2026-01-02T00:00:00Z', value: 1 },
        { meter: 'M2', channel: 'active_import', start: '2026-01-02T00:10:00Z', value: 1 }, // not on a 15-minute boundary
      ],
      { transport: 'http', principal: 'test-gateway' },
    );
    expect(http.accepted).toBe(1);
    httpBatch = http.batchId;
    // A later batch, far enough apart that `since` can fall between them.
    await new Promise((r) => setTimeout(r, 30));
    const mqtt = await ingestReadings(
      t.database,
      [
        { channel: 'active_import', start: '2026-01-02T01:00:00Z', value: 'NaN' },
        { channel: 'active_import', start: '2026-01-02T02:00:00Z', value: 2 },
      ],
      { transport: 'mqtt', principal: 'gw-3', meter: 'M1', topic: 'mdm/gw-3/M1/readings' },
    );
    expect(mqtt.accepted).toBe(1);
    mqttBatch = mqtt.batchId;
  });
  afterAll(() => t?.close());

  const list = async (query = '', role: 'viewer' | 'admin' = 'viewer'): Promise<{ rejects: RejectOut[]; nextCursor: string | null }> => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/rejects${query}`, headers: t.auth(role) });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };

  it('lists every dead letter, newest first, with its origin, raw row and reason', async () => {
    const { rejects, nextCursor } = await list();
    expect(nextCursor).toBeNull();
    expect(rejects.map((r) => [r.batchId, r.rowIndex, r.meter])).toEqual([
      [mqttBatch, 0, 'M1'],
      [httpBatch, 4, 'M2'],
      [httpBatch, 3, 'M2'],
      [httpBatch, 2, 'NOPE'],
      [httpBatch, 0, 'M1'],
    ]);
    const ids = rejects.map((r) => r.id);
    expect(ids).toEqual([...ids].sort((a, b) => b - a));

    const mqtt = rejects[0];
    expect(mqtt).toMatchObject({ transport: 'mqtt', principal: 'gw-3', topic: 'mdm/gw-3/M1/readings', reason: expect.stringMatching(/finite number/) });
    expect(JSON.parse(mqtt.payload)).toEqual({ channel: 'active_import', start: '2026-01-02T01:00:00Z', value: 'NaN' });
    expect(Date.parse(mqtt.receivedAt)).not.toBeNaN();

    const byIndex = new Map(rejects.filter((r) => r.batchId === httpBatch).map((r) => [r.rowIndex, r]));
    expect(byIndex.get(0)).toMatchObject({ transport: 'http', principal: 'test-gateway', topic: null, reason: expect.stringMatching(/no UTC offset/) });
    expect(byIndex.get(2)!.reason).toMatch(/unknown meter "NOPE"/);
    expect(byIndex.get(3)!.reason).toMatch(/unknown channel "bogus"/);
    expect(byIndex.get(4)!.reason).toMatch(/not aligned to a 15-minute interval/);
    expect(JSON.parse(byIndex.get(2)!.payload)).toEqual({ meter: 'NOPE', channel: 'active_import', start: '2026-01-02T00:00:00Z', value: 1 });
  });

  it('filters by meter, transport and since', async () => {
    const rows = (await list()).rejects;
    expect((await list('?meter=M2')).rejects.map((r) => r.rowIndex)).toEqual([4, 3]);
    expect((await list('?meter=NOPE')).rejects.map((r) => r.reason)).toEqual([expect.stringMatching(/unknown meter/)]);
    expect((await list('?transport=mqtt')).rejects.map((r) => r.batchId)).toEqual([mqttBatch]);
    expect((await list('?transport=http&meter=M1')).rejects.map((r) => [r.batchId, r.rowIndex])).toEqual([[httpBatch, 0]]);
    expect((await list('?meter=M1')).rejects.map((r) => r.batchId)).toEqual([mqttBatch, httpBatch]);
    expect((await list('?transport=modbus')).rejects).toEqual([]);

    // One millisecond after the http batch arrived (stored with microseconds, shown with milliseconds).
    const httpAt = Date.parse(rows.find((r) => r.batchId === httpBatch)!.receivedAt);
    const since = new Date(httpAt + 1).toISOString();
    expect((await list(`?since=${since}`)).rejects.map((r) => r.batchId)).toEqual([mqttBatch]);
    const sinceLocal = encodeURIComponent(new Date(httpAt - 60_000).toISOString().replace('Z', '+00:00'));
    expect((await list(`?since=${sinceLocal}`)).rejects).toHaveLength(5);
    expect((await list('?since=2999-01-01T00:00:00Z')).rejects).toEqual([]);
  });

  it('pages backwards with the before cursor', async () => {
    const all = (await list()).rejects.map((r) => r.id);
    const seen: number[] = [];
    const sizes: number[] = [];
    let query = '?limit=2';
    for (;;) {
      const page = await list(query);
      seen.push(...page.rejects.map((r) => r.id));
      sizes.push(page.rejects.length);
      if (!page.nextCursor) break;
      expect(page.nextCursor).toBe(String(page.rejects[page.rejects.length - 1].id));
      query = `?limit=2&before=${page.nextCursor}`;
    }
    expect(sizes).toEqual([2, 2, 1]);
    expect(seen).toEqual(all);
    const m2 = await list('?meter=M2&limit=1');
    expect(m2.rejects.map((r) => r.rowIndex)).toEqual([4]);
    expect(await list(`?meter=M2&limit=1&before=${m2.nextCursor}`)).toMatchObject({ rejects: [{ rowIndex: 3 }], nextCursor: null });
  });

  it('answers 400 for bad parameters', async () => {
    for (const q of ['since=2026-01-01T00:00:00', 'since=yesterday', 'before=abc', 'before=0', 'limit=0', 'limit=1001', 'colour=blue']) {
      const res = await t.app.inject({ method: 'GET', url: `/v1/rejects?${q}`, headers: t.auth('admin') });
      expect(res.statusCode, q).toBe(400);
      expect(res.json().error).toBe('MDM_ERR_VALIDATION');
    }
    const noOffset = await t.app.inject({ method: 'GET', url: '/v1/rejects?since=2026-01-01T00:00:00', headers: t.auth('admin') });
    expect(noOffset.json().message).toMatch(/^since: .*no UTC offset/);
  });

  it('is for admin and viewer keys only', async () => {
    expect((await list('', 'admin')).rejects).toHaveLength(5);
    for (const role of ['gateway', 'billing', 'trader'] as const) {
      const res = await t.app.inject({ method: 'GET', url: '/v1/rejects', headers: t.auth(role) });
      expect(res.statusCode, role).toBe(403);
    }
    expect((await t.app.inject({ method: 'GET', url: '/v1/rejects' })).statusCode).toBe(401);
  });
});
