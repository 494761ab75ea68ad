import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../cli/io.js';
import { loadShapesCommand } from '../cli/load-shapes.js';
import { parseCommandLine } from '../cli/main.js';
import { createLoadShapesComponent } from '../forecast/load-shape.component.js';
import type { Role } from '../models/api-key.js';
import { testApp, type TestApp } from './api-helpers.js';
import { building, HOUR, rowsOf, type Row } from './forecast-fixture.js';
import { FLAVOURS } from './helpers.js';

// 12 August – 13 October 2019 of four fixture buildings (b36 from September: autumn only), London.
const FROM = Date.UTC(2019, 7, 12);
const TO = Date.UTC(2019, 9, 14);
const TO_ISO = new Date(TO).toISOString();

describe.each(FLAVOURS)('load-shape profiles: job, component and API (%s)', (flavour) => {
  let t: TestApp;
  const inject = (method: 'GET' | 'POST' | 'PUT', url: string, role: Role = 'trader', payload?: unknown) =>
    t.app.inject({ method, url, headers: t.auth(role), ...(payload === undefined ? {} : { payload: payload as object }) });
  const post = async (rows: Row[]) => {
    for (let i = 0; i < rows.length; i += 5000) {
      const res = await inject('POST', '/v1/readings', 'admin', { readings: rows.slice(i, i + 5000) });
      expect(res.statusCode, res.body).toBe(200);
    }
  };

  beforeAll(async () => {
    t = await testApp(flavour);
    const meters = [
      { id: 'B0', profileClass: 'office', timezone: 'Europe/London' },
      { id: 'B4', profileClass: 'lab', timezone: 'Europe/London' },
      { id: 'B8', timezone: 'Europe/London' },
      { id: 'B13', timezone: 'Europe/London' },
      { id: 'B36', timezone: 'Europe/London' },
      { id: 'NEW', profileClass: 'office', timezone: 'Europe/London' }, // two days of data: too little history
      { id: 'WX', commodity: 'weather', timezone: 'Europe/London' },
    ];
    const res = await inject('PUT', '/v1/meters', 'admin', meters);
    expect(res.statusCode, res.body).toBe(200);
    const rows: Row[] = [];
    for (const b of ['b0', 'b4', 'b8', 'b13', 'b36']) rows.push(...rowsOf(b.toUpperCase(), 'active_import', building(b), FROM, TO));
    rows.push(...rowsOf('NEW', 'active_import', building('b0'), TO - 2 * 24 * HOUR, TO));
    await post(rows);
  }, 120_000);
  afterAll(async () => t?.close());

  it('before the first run the reads answer 404 saying how to compute', async () => {
    const res = await inject('GET', '/v1/load-shapes');
    expect(res.statusCode).toBe(404);
    expect(res.json().message).toMatch(/POST \/v1\/load-shapes\/runs/);
  });

  it('POST /v1/load-shapes/runs computes, GET lists the profiles with shapes, each meter its profile and distance; the same seed gives the same profiles', async () => {
    const run = await inject('POST', '/v1/load-shapes/runs', 'admin', { k: 3, seed: 7, days: 63, to: TO_ISO });
    expect(run.statusCode, run.body).toBe(200);
    expect(run.json()).toMatchObject({ meters: 6, withShape: 5, withoutShape: 1, profiles: 3, to: TO_ISO });

    const list = await inject('GET', '/v1/load-shapes');
    expect(list.statusCode, list.body).toBe(200);
    const body = list.json();
    expect(body).toMatchObject({ run: run.json().run, requestedBy: 'test-admin', params: { k: 3, seed: 7, days: 63 }, meters: 6 });
    expect(body.profiles).toHaveLength(3);
    expect(body.profiles.reduce((a: number, p: { members: number }) => a + p.members, 0)).toBe(5);
    for (const p of body.profiles) {
      expect(p.shape.winter).toBeNull(); // August–November: no member has winter
      expect(p.shape.autumn.workday).toHaveLength(24);
      expect(typeof p.name).toBe('string');
    }

    const b0 = (await inject('GET', '/v1/load-shapes/meters/B0')).json();
    expect(b0).toMatchObject({ meter: 'B0', assignedBy: 'shape', seasons: ['summer', 'autumn'] });
    expect(b0.distance).toBeGreaterThanOrEqual(0);
    expect(b0.profileShape.id).toBe(b0.profile);
    const b36 = (await inject('GET', '/v1/load-shapes/meters/B36')).json();
    expect(b36.seasons).toEqual(['autumn']);
    // NEW has two days: no shape of its own, the profile of its profile class (B0's).
    const fresh = (await inject('GET', '/v1/load-shapes/meters/NEW')).json();
    expect(fresh).toMatchObject({ meter: 'NEW', profile: b0.profile, assignedBy: 'profileClass', distance: null, seasons: [] });

    const all = (await inject('GET', '/v1/load-shapes/meters')).json().meters;
    expect(all.map((m: { meter: string }) => m.meter)).toEqual(['B0', 'B13', 'B36', 'B4', 'B8', 'NEW']);
    expect(all.some((m: { distance: number | null }) => m.distance !== null && m.distance > 0)).toBe(true);
    const members = (await inject('GET', `/v1/load-shapes/meters?profile=${b0.profile}`)).json();
    expect(members.meters.map((m: { meter: string }) => m.meter)).toContain('NEW');
    expect(members.meters.every((m: { profile: string }) => m.profile === b0.profile)).toBe(true);

    const again = await inject('POST', '/v1/load-shapes/runs', 'trader', { k: 3, seed: 7, days: 63, to: TO_ISO });
    expect(again.statusCode).toBe(200);
    const second = (await inject('GET', '/v1/load-shapes')).json();
    expect(second.run).toBe(again.json().run);
    expect(second.profiles).toEqual(body.profiles);
    expect((await inject('GET', '/v1/load-shapes/meters/B0')).json().distance).toBe(b0.distance);
  });

  it('bad input and roles: 400 with a reason, 404 for an unknown meter or profile, 403 for roles that may not', async () => {
    const bad = await inject('POST', '/v1/load-shapes/runs', 'admin', { k: 0 });
    expect(bad.statusCode).toBe(400);
    expect((await inject('POST', '/v1/load-shapes/runs', 'admin', { to: 'yesterday' })).statusCode).toBe(400);
    expect((await inject('POST', '/v1/load-shapes/runs', 'admin', { colour: 'red' })).statusCode).toBe(400);
    expect((await inject('GET', '/v1/load-shapes/meters/NOPE')).statusCode).toBe(404);
    expect((await inject('GET', '/v1/load-shapes/meters/WX')).statusCode).toBe(404); // weather stations are not profiled
    expect((await inject('GET', '/v1/load-shapes/meters?profile=P99')).statusCode).toBe(404);
    expect((await inject('GET', '/v1/load-shapes', 'viewer')).statusCode).toBe(403);
    expect((await inject('POST', '/v1/load-shapes/runs', 'viewer', {})).statusCode).toBe(403);
  });

  it('mdm load-shapes recomputes and prints one line per profile, the same as the route lists', async () => {
    expect(parseCommandLine(['load-shapes', '--k', '3', '--seed', '7'])).toEqual({ command: 'load-shapes', values: { k: '3', seed: '7' }, args: [] });
    let out = '';
    let err = '';
    const io: Io = { out: (s) => void (out += s), err: (s) => void (err += s), errIsTTY: false, now: () => Date.now() };
    expect(await loadShapesCommand(t.database, io, { k: '3', seed: '7', days: '63', to: TO_ISO })).toBe(0);
    expect(err).toMatch(/6 meter\(s\), 5 with a shape, 1 with too little history/);
    const listed = (await inject('GET', '/v1/load-shapes')).json();
    expect(listed.requestedBy).toBe('cli');
    const lines = out.trim().split('\n').slice(1);
    expect(lines.map((l) => l.split(/\s+/)[0])).toEqual(listed.profiles.map((p: { id: string }) => p.id));
    for (const [i, p] of listed.profiles.entries()) expect(lines[i].endsWith(p.name)).toBe(true);
    await expect(loadShapesCommand(t.database, io, { k: '0' })).rejects.toThrow(/--k/);
    await expect(loadShapesCommand(t.database, io, { to: 'soon' })).rejects.toThrow(/--to/);
  });

  it('the component recomputes when the newest run is older than its interval, not before', async () => {
    const before = (await inject('GET', '/v1/load-shapes')).json().run;
    const fresh = createLoadShapesComponent({ database: t.database, intervalMs: 24 * 3_600_000 });
    await fresh.tick();
    expect((await inject('GET', '/v1/load-shapes')).json().run).toBe(before);
    // A day later by its clock: due (it uses its own now as the end of the history).
    const later = createLoadShapesComponent({ database: t.database, intervalMs: 24 * 3_600_000, now: () => Date.now() + 25 * 3_600_000 });
    await later.tick();
    const after = (await inject('GET', '/v1/load-shapes')).json();
    expect(after.run).toBeGreaterThan(before);
    expect(after.requestedBy).toBeNull();
    expect(later.probe.check()).toMatchObject({ ok: true });
  });
});
