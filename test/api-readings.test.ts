import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NDJSON_CHUNK_ROWS } from '../api/routes/readings.route.js';
import type { Role } from '../models/api-key.js';
import { createApiKey } from '../sql/api-key.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

const HOUR = 3_600_000;
/** 2026-01-01T00:00:00+03:00 */
const T0 = Date.UTC(2025, 11, 31, 21);
const ist = (ms: number) => new Date(ms + 3 * HOUR).toISOString().slice(0, 19) + '+03:00';

describe.each(FLAVOURS)('readings API (%s)', (flavour) => {
  let t: TestApp;
  let scopedKey: string;
  beforeAll(async () => {
    t = await testApp(flavour);
    const res = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [
        { id: 'R1', group: 'north' },
        { id: 'R2', group: 'south' },
        { id: 'R3', group: 'north' },
      ],
    });
    expect(res.json()).toMatchObject({ created: 3, rejected: [] });
    scopedKey = (await createApiKey(t.database, { name: 'gw-north', role: 'gateway', scope: { groups: ['north'] } })).key;
  });
  afterAll(() => t?.close());

  const post = (body: unknown, role: Role = 'gateway') => t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth(role), payload: body as object });
  const postNdjson = (text: string, headers: Record<string, string> = t.auth('gateway')) =>
    t.app.inject({ method: 'POST', url: '/v1/readings', headers: { ...headers, 'content-type': 'application/x-ndjson' }, payload: text });
  const raw = async (meter: string, from: number, to: number, channel = 'active_import') => {
    const res = await t.app.inject({
      method: 'GET',
      url: `/v1/meters/${meter}/readings?channel=${channel}&from=${encodeURIComponent(ist(from))}&to=${encodeURIComponent(ist(to))}`,
      headers: t.auth('viewer'),
    });
    expect(res.statusCode).toBe(200);
    return res.json().rows as { start: string; value: number; quality: string; source: string }[];
  };
  const history = (meter: string, start: string, channel = 'active_import') =>
    t.app.inject({
      method: 'GET',
      url: `/v1/meters/${meter}/readings/history?channel=${channel}&start=${encodeURIComponent(start)}`,
      headers: t.auth('viewer'),
    });

  it('stores a JSON batch, is idempotent on re-send and versions a correction with who/when', async () => {
    const rows = [
      { meter: 'R1', channel: 'active_import', start: ist(T0), value: 1.5 },
      { meter: 'R1', channel: '1.29.0', start: ist(T0 + HOUR), value: 2 },
      { meter: 'R1', channel: 'active_import', start: new Date(T0 + 2 * HOUR).toISOString(), value: 3, quality: 'estimated', source: 'settlement' },
    ];
    const first = await post({ readings: rows });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ accepted: 3, unchanged: 0, superseded: 0, rejected: [] });
    expect(await raw('R1', T0, T0 + 3 * HOUR)).toEqual([
      { start: '2026-01-01T00:00:00+03:00', value: 1.5, quality: 'measured', source: 'http' },
      { start: '2026-01-01T01:00:00+03:00', value: 2, quality: 'measured', source: 'http' },
      { start: '2026-01-01T02:00:00+03:00', value: 3, quality: 'estimated', source: 'settlement' },
    ]);

    const again = await post({ readings: rows });
    expect(again.json()).toEqual({ accepted: 0, unchanged: 3, superseded: 0, rejected: [] });

    const fix = await post({ readings: [{ meter: 'R1', channel: 'active_import', start: ist(T0 + HOUR), value: 2.25, quality: 'edited' }] }, 'admin');
    expect(fix.json()).toEqual({ accepted: 0, unchanged: 0, superseded: 1, rejected: [] });
    expect((await raw('R1', T0 + HOUR, T0 + 2 * HOUR))[0]).toMatchObject({ value: 2.25, quality: 'edited' });

    const h = await history('R1', '2026-01-01T01:00:00+03:00');
    expect(h.statusCode).toBe(200);
    const body = h.json();
    expect(body).toMatchObject({ meter: 'R1', channel: 'active_import', start: '2026-01-01T01:00:00+03:00' });
    expect(body.versions).toHaveLength(2);
    const [v1, v2] = body.versions;
    expect(v1).toMatchObject({ version: 1, value: 2, quality: 'measured', source: 'http', recordedBy: 'test-gateway', transport: 'http', current: false });
    expect(v2).toMatchObject({ version: 2, value: 2.25, quality: 'edited', recordedBy: 'test-admin', transport: 'http', supersededAt: null, current: true });
    expect(Date.parse(v1.supersededAt)).toBeGreaterThanOrEqual(Date.parse(v2.receivedAt));
    expect(Date.parse(v1.receivedAt)).toBeLessThanOrEqual(Date.parse(v2.receivedAt));

    // The same instant written in UTC names the same value.
    expect((await history('R1', '2025-12-31T22:00:00Z')).json().versions).toHaveLength(2);
  });

  it('history: 404 when nothing was ever stored, 404 for an unknown meter, 400 without an offset', async () => {
    const none = await history('R1', '2030-01-01T00:00:00+03:00');
    expect(none.statusCode).toBe(404);
    expect(none.json()).toMatchObject({ error: 'MDM_ERR_NOT_FOUND', message: expect.stringMatching(/no value was ever stored/) });
    const unknown = await history('NOPE', '2026-01-01T00:00:00+03:00');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toBe('MDM_ERR_UNKNOWN_METER');
    const local = await history('R1', '2026-01-01T01:00:00');
    expect(local.statusCode).toBe(400);
    expect(local.json().message).toMatch(/start: .*no UTC offset/);
  });

  it('stores the good rows of a mixed batch and rejects each bad one with its reason, also in GET /v1/rejects', async () => {
    const d = T0 + 24 * HOUR; // 2026-01-02
    const res = await post({
      readings: [
        { meter: 'R2', channel: 'active_import', start: ist(d), value: 10 }, // 0 good
        { meter: 'R2', channel: 'active_import', start: '2026-01-02T01:00:00', value: 1 }, // 1 no offset
        { meter: 'GHOST', channel: 'active_import', start: ist(d), value: 1 }, // 2 unknown meter
        { meter: 'R2', channel: 'reactive_sideways', start: ist(d), value: 1 }, // 3 unknown channel
        { meter: 'R2', channel: 'active_import', start: ist(d + 2 * HOUR), value: 'NaN' }, // 4
        { meter: 'R2', channel: 'active_import', start: ist(d + 3 * HOUR), value: null }, // 5
        { meter: 'R2', channel: 'active_import', start: ist(d + 4 * HOUR), value: '12' }, // 6
        { meter: 'R2', channel: 'active_import', start: '2026-01-02T05:17:00+03:00', value: 1 }, // 7 misaligned
        { meter: 'R2', channel: 'active_import', start: ist(d), value: 11 }, // 8 conflicts with 0
        { meter: 'R2', channel: 'active_import', start: ist(d + 6 * HOUR), value: 7 }, // 9 good
      ],
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ accepted: 2, unchanged: 0, superseded: 0 });
    const reasons = Object.fromEntries(body.rejected.map((r: { index: number; reason: string }) => [r.index, r.reason]));
    expect(Object.keys(reasons).map(Number)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(reasons[1]).toMatch(/no UTC offset/);
    expect(reasons[2]).toMatch(/unknown meter "GHOST"/);
    expect(reasons[3]).toMatch(/unknown channel "reactive_sideways"/);
    expect(reasons[4]).toMatch(/finite number, got "NaN"/);
    expect(reasons[5]).toMatch(/finite number, got null/);
    expect(reasons[6]).toMatch(/finite number, got "12"/);
    expect(reasons[7]).toMatch(/not aligned to a 60-minute interval/);
    expect(reasons[8]).toMatch(/conflicts with row 0/);

    expect((await raw('R2', d, d + 24 * HOUR)).map((r) => [r.start, r.value])).toEqual([
      ['2026-01-02T00:00:00+03:00', 10],
      ['2026-01-02T06:00:00+03:00', 7],
    ]);

    const rj = await t.app.inject({ method: 'GET', url: '/v1/rejects?transport=http&limit=100', headers: t.auth('viewer') });
    expect(rj.statusCode).toBe(200);
    const mine = rj.json().rejects.filter((r: { reason: string }) => Object.values(reasons).includes(r.reason));
    expect(mine.map((r: { rowIndex: number }) => r.rowIndex).sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(mine.every((r: { principal: string }) => r.principal === 'test-gateway')).toBe(true);
    expect(JSON.parse(mine.find((r: { rowIndex: number }) => r.rowIndex === 2).payload)).toMatchObject({ meter: 'GHOST' });
  });

  it('refuses a body that is not {"readings": [...]} with 400 and other media types with 415', async () => {
    for (const body of [[{ meter: 'R1' }], { rows: [] }, { readings: 'x' }, { readings: [], extra: 1 }]) {
      const res = await post(body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json()).toMatchObject({ error: 'MDM_ERR_VALIDATION', message: expect.stringMatching(/\{"readings": \[ … \]\}/) });
    }
    const broken = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: { ...t.auth('gateway'), 'content-type': 'application/json' }, payload: '{"readings": [' });
    expect(broken.statusCode).toBe(400);
    const text = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: { ...t.auth('gateway'), 'content-type': 'text/plain' }, payload: 'R1,active_import' });
    expect(text.statusCode).toBe(415);
    expect(text.json().error).toBe('MDM_ERR_UNSUPPORTED_MEDIA');
    const empty = await post({ readings: [] });
    expect(empty.json()).toEqual({ accepted: 0, unchanged: 0, superseded: 0, rejected: [] });
  });

  it('documents the full row schema in OpenAPI although only the envelope is checked up front', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const body = doc.paths['/v1/readings'].post.requestBody.content;
    expect(Object.keys(body)).toEqual(['application/json', 'application/x-ndjson']);
    const items = body['application/json'].schema.properties.readings.items;
    expect(items.required).toEqual(['meter', 'channel', 'start', 'value']);
    expect(Object.keys(items.properties)).toEqual(['meter', 'channel', 'start', 'value', 'quality', 'source', 'intervalMinutes']);
  });

  it('streams NDJSON: line numbers as indexes, non-JSON lines rejected and dead-lettered, blank lines skipped', async () => {
    const d = T0 + 48 * HOUR; // 2026-01-03
    const line = (h: number, v: unknown, meter = 'R3') => JSON.stringify({ meter, channel: 'active_import', start: ist(d + h * HOUR), value: v });
    const text = [line(0, 1), '{"meter": "R3", oops', '', line(1, 2), line(2, 3, 'GHOST'), '   ', line(3, 4)].join('\r\n') + '\n';
    const res = await postNdjson(text);
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ accepted: 3, unchanged: 0, superseded: 0 });
    expect(body.rejected.map((r: { index: number }) => r.index)).toEqual([1, 4]);
    expect(body.rejected[0].reason).toMatch(/^line 1 is not valid JSON: /);
    expect(body.rejected[1].reason).toMatch(/unknown meter "GHOST"/);
    expect((await raw('R3', d, d + 24 * HOUR)).map((r) => r.value)).toEqual([1, 2, 4]);

    const dl = await t.database.db.selectFrom('rejects').selectAll().where('reason', 'like', 'line 1 is not valid JSON%').execute();
    expect(dl).toHaveLength(1);
    expect(dl[0]).toMatchObject({ row_index: 1, payload: '{"meter": "R3", oops', transport: 'http', principal: 'test-gateway' });
    const ghost = await t.database.db.selectFrom('rejects').selectAll().where('meter', '=', 'GHOST').where('row_index', '=', 4).execute();
    expect(ghost).toHaveLength(1);

    // Last line without a newline, re-sent: unchanged.
    const again = await postNdjson(line(3, 4));
    expect(again.json()).toEqual({ accepted: 0, unchanged: 1, superseded: 0, rejected: [] });
  });

  it('keeps NDJSON indexes as line numbers across ingest chunks', async () => {
    const n = NDJSON_CHUNK_ROWS + 2;
    const base = Date.UTC(2024, 0, 1) - 3 * HOUR; // 10 002 hours, all in the past (measured values may not lie ahead of now)
    const lines: string[] = [];
    for (let i = 0; i < n; i++) lines.push(JSON.stringify({ meter: 'R3', channel: 'active_export', start: ist(base + i * HOUR), value: i }));
    lines[NDJSON_CHUNK_ROWS - 1] = JSON.stringify({ meter: 'R3', channel: 'active_export', start: 'soon', value: 1 }); // last row of chunk 1
    lines[NDJSON_CHUNK_ROWS + 1] = JSON.stringify({ meter: 'R3', channel: 'active_export', start: ist(base), value: -1 }); // second row of chunk 2: supersedes line 0
    const res = await postNdjson(lines.join('\n'));
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body).toMatchObject({ accepted: n - 2, unchanged: 0, superseded: 1 });
    expect(body.rejected).toEqual([{ index: NDJSON_CHUNK_ROWS - 1, reason: expect.stringMatching(/"soon" is not ISO-8601/) }]);
    const dl = await t.database.db.selectFrom('rejects').select('row_index').where('payload', 'like', '%"soon"%').execute();
    expect(dl).toEqual([{ row_index: NDJSON_CHUNK_ROWS - 1 }]);
  });

  it('rejects a JSON batch above MDM_MAX_BATCH_ROWS with 413 and says what to do', async () => {
    const small = await testApp(flavour, { maxBatchRows: 10 });
    try {
      const rows = Array.from({ length: 11 }, (_, i) => ({ meter: 'X', channel: 'active_import', start: ist(T0 + i * HOUR), value: i }));
      const res = await small.app.inject({ method: 'POST', url: '/v1/readings', headers: small.auth('gateway'), payload: { readings: rows } });
      expect(res.statusCode).toBe(413);
      expect(res.json()).toMatchObject({ error: 'MDM_ERR_BATCH_TOO_LARGE', message: expect.stringMatching(/11 readings; the limit is 10 .*split.*application\/x-ndjson/) });
      const ok = await small.app.inject({ method: 'POST', url: '/v1/readings', headers: small.auth('gateway'), payload: { readings: rows.slice(0, 10) } });
      expect(ok.statusCode).toBe(200);
      expect(ok.json().rejected).toHaveLength(10); // meter X is not registered there: per-row reasons, not 413
    } finally {
      await small.close();
    }
  });

  it('checks keys and roles: 401 without a key, 403 for a viewer posting or a gateway reading', async () => {
    const noKey = await t.app.inject({ method: 'POST', url: '/v1/readings', payload: { readings: [] } });
    expect(noKey.statusCode).toBe(401);
    expect(noKey.json().error).toBe('MDM_ERR_UNAUTHORIZED');
    const viewer = await post({ readings: [] }, 'viewer');
    expect(viewer.statusCode).toBe(403);
    expect(viewer.json().error).toBe('MDM_ERR_FORBIDDEN');
    const ndjsonViewer = await postNdjson('', t.auth('viewer'));
    expect(ndjsonViewer.statusCode).toBe(403);
    for (const url of [
      '/v1/meters/R1/readings?channel=active_import&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z',
      '/v1/meters/R1/readings/history?channel=active_import&start=2026-01-01T00:00:00Z',
    ]) {
      const gw = await t.app.inject({ method: 'GET', url, headers: t.auth('gateway') });
      expect(gw.statusCode).toBe(403);
      expect((await t.app.inject({ method: 'GET', url })).statusCode).toBe(401);
    }
  });

  it('lets a scoped gateway key write only meters inside its scope', async () => {
    const d = T0 + 72 * HOUR;
    const payload = {
      readings: [
        { meter: 'R1', channel: 'active_import', start: ist(d), value: 1 }, // north: in scope
        { meter: 'R2', channel: 'active_import', start: ist(d), value: 1 }, // south: out of scope
      ],
    };
    const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: { authorization: `Bearer ${scopedKey}` }, payload });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 1, rejected: [{ index: 1, reason: expect.stringMatching(/"R2" is outside this key's scope/) }] });
    expect(await raw('R2', d, d + HOUR)).toEqual([]);
    const nd = await postNdjson(JSON.stringify(payload.readings[1]) + '\n', { authorization: `Bearer ${scopedKey}` });
    expect(nd.json()).toMatchObject({ accepted: 0, rejected: [{ index: 0, reason: expect.stringMatching(/outside this key's scope/) }] });
  });
});
