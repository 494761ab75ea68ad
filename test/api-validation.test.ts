import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVeeWorker } from '../ingest/vee/vee-worker.js';
import { startOfLocalDate } from '../models/calendar.js';
import { formatInstant } from '../models/time.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

const H = 3_600_000;
const IST = 'Europe/Istanbul';
const day = startOfLocalDate('2026-01-15', IST); // a Thursday
const at = (ms: number) => formatInstant(ms, IST);
const usual = (hour: number) => 1 + (hour % 3);
const NOW = day + 3 * 24 * H;

describe.each(FLAVOURS)('validation and edits API (%s)', (flavour) => {
  let t: TestApp;
  let meterId: number;
  beforeAll(async () => {
    t = await testApp(flavour);
    const put = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [
        { id: 'A1', timezone: IST, profileClass: 'commercial' },
        { id: 'B1', timezone: IST },
      ],
    });
    expect(put.statusCode).toBe(200);
    meterId = (await t.database.db.selectFrom('meters').select('id').where('external_id', '=', 'A1').executeTakeFirstOrThrow()).id;
  });
  afterAll(() => t?.close());

  const post = (url: string, payload: object, role: 'admin' | 'gateway' | 'viewer' | 'billing' = 'admin') => t.app.inject({ method: 'POST', url, headers: t.auth(role), payload });
  const get = (url: string, role: 'admin' | 'viewer' | 'billing' | 'trader' = 'viewer') => t.app.inject({ method: 'GET', url, headers: t.auth(role) });
  const value = (channel: number, ms: number) =>
    t.database.db
      .selectFrom('readings')
      .select(['value', 'quality', 'source', 'version'])
      .where('meter_id', '=', meterId)
      .where('channel', '=', channel)
      .where('start', '=', new Date(ms))
      .executeTakeFirstOrThrow();
  const issueOf = async (rule: string) => {
    const res = await get(`/v1/validation/issues?meter=A1&rule=${rule}`);
    expect(res.statusCode).toBe(200);
    return res.json().issues[0];
  };

  it('validates arriving data: POST /v1/readings queues the days, the worker drains them, issues are listed', async () => {
    // Spikes fail for commercial meters (the default severity is warn).
    const setting = await t.app.inject({
      method: 'PUT',
      url: '/v1/validation/settings',
      headers: t.auth('admin'),
      payload: { profileClass: 'commercial', effectiveFrom: '2026-01-01', params: { spike: { severity: 'fail' } } },
    });
    expect(setting.statusCode).toBe(200);
    expect(setting.json()).toMatchObject({ profileClass: 'commercial', commodity: null, createdBy: 'test-admin' });

    const readings: object[] = [];
    for (let h = -28 * 24; h < 24; h++) {
      if (h === 10) continue; // a one-hour gap
      const hour = (h + 28 * 24) % 24;
      readings.push({ meter: 'A1', channel: 'active_import', start: at(day + h * H), value: h === 3 ? 50 : h === 7 ? -1 : usual(hour) });
    }
    readings.push({ meter: 'A1', channel: '1.8.0', start: at(day), value: 1000 }, { meter: 'A1', channel: '1.8.0', start: at(day + 12 * H), value: 990 });
    const ingest = await post('/v1/readings', { readings }, 'gateway');
    expect(ingest.statusCode).toBe(200);
    expect(ingest.json()).toMatchObject({ accepted: readings.length, rejected: [] });
    expect(
      Number(
        (
          await t.database.db
            .selectFrom('vee_queue')
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      ),
    ).toBe(30);

    const worker = createVeeWorker({ database: t.database, now: () => NOW, batchSize: 500 });
    expect(await worker.drainOnce()).toBe(30);
    expect(await worker.drainOnce()).toBe(0);
    expect(await t.database.db.selectFrom('vee_queue').selectAll().execute()).toEqual([]);

    const list = await get('/v1/validation/issues?meter=A1');
    expect(list.statusCode).toBe(200);
    const issues = list.json().issues as { rule: string; severity: string; status: string; from: string; to: string; channel: string }[];
    expect(issues.map((i) => [i.rule, i.channel, i.severity, i.status, i.from, i.to]).sort()).toEqual([
      ['gap', 'active_import', 'fail', 'replaced', '2026-01-15T10:00:00+03:00', '2026-01-15T11:00:00+03:00'],
      ['negative', 'active_import', 'fail', 'open', '2026-01-15T07:00:00+03:00', '2026-01-15T08:00:00+03:00'],
      ['register', 'active_import_register', 'fail', 'open', '2026-01-15T00:00:00+03:00', '2026-01-15T12:00:00+03:00'],
      ['spike', 'active_import', 'fail', 'open', '2026-01-15T03:00:00+03:00', '2026-01-15T04:00:00+03:00'],
    ]);
    // Hour 10: linear between hour 9 (1) and hour 11 (3); the spike, the negative value and the lower read are suspect.
    expect(await value(1, day + 10 * H)).toMatchObject({ value: 2, quality: 2, source: 6 });
    expect(await value(1, day + 3 * H)).toMatchObject({ value: 50, quality: 4 });
    expect(await value(1, day + 7 * H)).toMatchObject({ value: -1, quality: 4 });
    expect(await value(5, day + 12 * H)).toMatchObject({ value: 990, quality: 4 });
  });

  it('filters and pages issues; billing and viewer may read, trader may not', async () => {
    const open = await get('/v1/validation/issues?meter=A1&status=open&severity=fail', 'billing');
    expect(
      open
        .json()
        .issues.map((i: { rule: string }) => i.rule)
        .sort(),
    ).toEqual(['negative', 'register', 'spike']);
    const overlapping = await get(`/v1/validation/issues?meter=A1&from=${encodeURIComponent(at(day + 3 * H))}&to=${encodeURIComponent(at(day + 4 * H))}`);
    expect(
      overlapping
        .json()
        .issues.map((i: { rule: string }) => i.rule)
        .sort(),
    ).toEqual(['register', 'spike']);
    const byChannel = await get('/v1/validation/issues?meter=A1&channel=1.8.0');
    expect(byChannel.json().issues.map((i: { rule: string }) => i.rule)).toEqual(['register']);
    const p1 = (await get('/v1/validation/issues?meter=A1&limit=3')).json();
    expect(p1.issues).toHaveLength(3);
    const p2 = (await get(`/v1/validation/issues?meter=A1&limit=3&before=${p1.nextCursor}`)).json();
    expect(p2.issues).toHaveLength(1);
    expect(p2.nextCursor).toBeNull();
    expect(new Set([...p1.issues, ...p2.issues].map((i: { id: number }) => i.id)).size).toBe(4);
    expect((await get('/v1/validation/issues', 'trader')).statusCode).toBe(403);
    expect((await get('/v1/validation/issues?rule=bogus')).statusCode).toBe(400);
  });

  it('accept: the issue is accepted, the value validated, and a re-run does not report it again', async () => {
    const spike = await issueOf('spike');
    expect((await post(`/v1/validation/issues/${spike.id}/resolve`, { action: 'accept', comment: 'ok' }, 'viewer')).statusCode).toBe(403);
    expect((await post(`/v1/validation/issues/${spike.id}/resolve`, { action: 'accept' })).statusCode).toBe(400); // comment is mandatory
    const res = await post(`/v1/validation/issues/${spike.id}/resolve`, { action: 'accept', comment: 'customer test run, confirmed on site' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ validated: 1, issue: { status: 'accepted', resolvedBy: 'test-admin', comment: 'customer test run, confirmed on site' } });
    expect(await value(1, day + 3 * H)).toMatchObject({ value: 50, quality: 1, source: 0, version: 3 });
    const again = await post(`/v1/validation/issues/${spike.id}/resolve`, { action: 'accept', comment: 'twice' });
    expect(again.statusCode).toBe(409);
    expect((await post('/v1/validation/issues/999999/resolve', { action: 'accept', comment: 'x' })).statusCode).toBe(404);

    const run = await post('/v1/validation/run', { meters: ['A1'], from: '2026-01-15', to: '2026-01-16' });
    expect(run.statusCode).toBe(200);
    expect(run.json()).toMatchObject({ meters: 1, issuesCreated: 0, issuesObsoleted: 0, markedSuspect: 0, estimated: 0 });
    expect(run.json().findings).toMatchObject({ spike: 0, negative: 1, register: 1 });
  });

  it('estimate: the range is estimated (linear for an hour), noted with the reason and the user, and the issue replaced', async () => {
    const negative = await issueOf('negative');
    const res = await post(`/v1/validation/issues/${negative.id}/resolve`, { action: 'estimate', comment: 'sign error in the head-end' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ written: 1, issue: { status: 'replaced', resolvedBy: 'test-admin' } });
    // Linear between hour 6 (1) and hour 8 (3).
    expect(await value(1, day + 7 * H)).toMatchObject({ value: 2, quality: 2, source: 5 });
    const notes = await get(`/v1/meters/A1/edits?channel=active_import&from=${encodeURIComponent(at(day + 7 * H))}&to=${encodeURIComponent(at(day + 8 * H))}`);
    expect(notes.json().notes).toEqual([
      expect.objectContaining({
        start: '2026-01-15T07:00:00+03:00',
        method: 'linear',
        params: { before: 1, after: 3 },
        reasonCode: 'issue-negative',
        comment: 'sign error in the head-end',
        recordedBy: 'test-admin',
        issueId: negative.id,
        current: true,
      }),
    ]);
  });

  it('replace: given values become edited and the issue replaced; the days are validated again', async () => {
    const register = await issueOf('register');
    const outside = await post(`/v1/validation/issues/${register.id}/resolve`, { action: 'replace', values: [{ start: at(day + 13 * H), value: 1 }], comment: 'x' });
    expect(outside.statusCode).toBe(400);
    expect(outside.json().message).toMatch(/outside from\.\.to/);
    // Hours 0–11 now add up to 73 (with hour 3 accepted at 50 and the estimates 2 and 2): the right read is 1073.
    const res = await post(`/v1/validation/issues/${register.id}/resolve`, { action: 'replace', values: [{ start: at(day + 12 * H), value: 1073 }], comment: 'read off the display' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ written: 1, issue: { status: 'replaced' } });
    expect(await value(5, day + 12 * H)).toMatchObject({ value: 1073, quality: 3, source: 5 });
    const open = (await get('/v1/validation/issues?meter=A1&status=open')).json().issues;
    expect(open).toEqual([]); // the sum check of hours 0–11 against 1000 → 1073 passes
  });

  it('edits: values or a method with a mandatory reason code and comment; the user is recorded', async () => {
    const url = '/v1/meters/A1/edits';
    const body = {
      channel: 'active_import',
      from: at(day + 20 * H),
      to: at(day + 22 * H),
      values: [
        { start: at(day + 20 * H), value: 5 },
        { start: at(day + 21 * H), value: 6 },
      ],
      reasonCode: 'CT_FAULT',
      comment: 'clamp replaced',
    };
    const { reasonCode: _, ...noReason } = body;
    const noReasonRes = await post(url, noReason);
    expect(noReasonRes.statusCode).toBe(400);
    expect(noReasonRes.json().message).toMatch(/reasonCode/);
    expect((await post(url, { ...body, comment: '  ' })).statusCode).toBe(400);
    expect((await post(url, { ...body, method: 'zero' })).statusCode).toBe(400);
    expect((await post(url, body, 'viewer')).statusCode).toBe(403);
    expect((await post(url, body, 'billing')).statusCode).toBe(403);
    expect((await post('/v1/meters/NOPE/edits', body)).statusCode).toBe(404);

    const res = await post(url, body);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ meter: 'A1', channel: 'active_import', written: 2, unchanged: 0 });
    expect(await value(1, day + 20 * H)).toMatchObject({ value: 5, quality: 3, source: 5, version: 2 });
    expect(await value(1, day + 21 * H)).toMatchObject({ value: 6, quality: 3, source: 5 });
    const batch = await t.database.db
      .selectFrom('readings as r')
      .innerJoin('ingest_batches as b', 'b.id', 'r.batch_id')
      .select(['b.transport', 'b.principal'])
      .where('r.meter_id', '=', meterId)
      .where('r.start', '=', new Date(day + 20 * H))
      .where('r.channel', '=', 1)
      .executeTakeFirstOrThrow();
    expect(batch).toEqual({ transport: 'edit', principal: 'test-admin' });

    const zero = await post(url, { channel: 'active_import', from: at(day + 22 * H), to: at(day + 23 * H), method: 'zero', reasonCode: 'DISCONNECTED', comment: 'supply cut' });
    expect(zero.json()).toMatchObject({ written: 1, values: [{ start: '2026-01-15T22:00:00+03:00', value: 0, quality: 'estimated', source: 'manual', method: 'zero' }] });

    const notes = (await get(`${url}?channel=active_import&from=${encodeURIComponent(at(day + 20 * H))}&to=${encodeURIComponent(at(day + 23 * H))}`)).json().notes;
    expect(
      notes.map((n: { start: string; reasonCode: string; comment: string; recordedBy: string; method: string | null; quality: string }) => [
        n.start,
        n.reasonCode,
        n.comment,
        n.recordedBy,
        n.method,
        n.quality,
      ]),
    ).toEqual([
      ['2026-01-15T20:00:00+03:00', 'CT_FAULT', 'clamp replaced', 'test-admin', null, 'edited'],
      ['2026-01-15T21:00:00+03:00', 'CT_FAULT', 'clamp replaced', 'test-admin', null, 'edited'],
      ['2026-01-15T22:00:00+03:00', 'DISCONNECTED', 'supply cut', 'test-admin', 'zero', 'estimated'],
    ]);

    // B1 has no data at all: like-day has nothing to work from.
    const none = await post('/v1/meters/B1/edits', { channel: 'active_import', from: at(day), to: at(day + H), method: 'like-day', reasonCode: 'X', comment: 'y' });
    expect(none.statusCode).toBe(422);
    expect(none.json().message).toMatch(/no like-day history/);
    expect(none.json().error).toBe('MDM_ERR_CANNOT_ESTIMATE');
  });

  it('on-demand runs and settings: bad requests are 400, non-admins 403', async () => {
    expect((await post('/v1/validation/run', { from: '2026-01-15', to: '2026-01-16' })).statusCode).toBe(400);
    const nope = await post('/v1/validation/run', { meters: ['NOPE'], from: '2026-01-15', to: '2026-01-16' });
    expect(nope.json().message).toMatch(/unknown meter: NOPE/);
    expect([nope.statusCode, nope.json().error]).toEqual([400, 'MDM_ERR_BAD_METER_REFERENCE']);
    const inverted = await post('/v1/validation/run', { group: 'g', from: '2026-01-16', to: '2026-01-15' });
    expect(inverted.statusCode).toBe(400);
    expect(inverted.json().error).toBe('MDM_ERR_RANGE_INVERTED');
    expect((await post('/v1/validation/run', { meters: ['A1'], from: '2026-01-15', to: '2026-01-16' }, 'billing')).statusCode).toBe(403);
    const bad = await t.app.inject({ method: 'PUT', url: '/v1/validation/settings', headers: t.auth('admin'), payload: { effectiveFrom: '2026-01-01', params: { spike: { k: -1, bogus: 1 } } } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().details.join('\n')).toMatch(/spike\.k|spike/);
    const settings = (await get('/v1/validation/settings')).json();
    expect(settings.defaults.gap).toMatchObject({ enabled: true, severity: 'fail', autoEstimate: true });
    expect(settings.overrides).toHaveLength(1);
  });

  it('the worker loop: scheduled on the timers passed in, drains new arrivals, stops cleanly', async () => {
    const pending = new Map<number, () => void>();
    let seq = 0;
    const timers = { setTimeout: (fn: () => void) => (pending.set(++seq, fn), seq), clearTimeout: (h: unknown) => void pending.delete(h as number) };
    const worker = createVeeWorker({ database: t.database, timers, now: () => NOW, idleMs: 1000 });
    await worker.start();
    expect(pending.size).toBe(1);
    const ingest = await post('/v1/readings', { readings: [{ meter: 'A1', channel: 'active_import', start: at(day + 24 * H), value: 1 }] }, 'gateway');
    expect(ingest.json()).toMatchObject({ accepted: 1 });
    expect(await worker.probe.check()).toMatchObject({ ok: true, pending: 1 });
    const [[id, fn]] = pending;
    pending.delete(id);
    fn();
    await worker.stop(); // waits for the round in flight
    expect(pending.size).toBe(0);
    expect(await worker.probe.check()).toMatchObject({ ok: false, pending: 0, processed: 1 });
    // 16 January holds one hour: the 23 missing ones ended more than 24 h (the grace) before now, so they are a gap, filled like-day.
    const gaps = (await get('/v1/validation/issues?meter=A1&rule=gap')).json().issues;
    expect(gaps.map((i: { from: string; to: string; status: string }) => [i.from, i.to, i.status])).toEqual([
      ['2026-01-16T01:00:00+03:00', '2026-01-17T00:00:00+03:00', 'replaced'],
      ['2026-01-15T10:00:00+03:00', '2026-01-15T11:00:00+03:00', 'replaced'],
    ]);
  });
});
