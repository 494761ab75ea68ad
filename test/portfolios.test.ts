import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../models/api-key.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

describe.each(FLAVOURS)('portfolios API (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
    const res = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [
        { id: 'WS-IST', commodity: 'weather' },
        { id: 'WS-ANK', commodity: 'weather' },
        { id: 'M1', portfolio: 'P1', timezone: 'Europe/Istanbul', weatherStation: 'WS-ANK' },
        { id: 'M2', portfolio: 'P1', timezone: 'Europe/Warsaw', weatherStation: 'WS-IST' },
        { id: 'M3', portfolio: 'P1', timezone: 'Europe/Warsaw', weatherStation: 'WS-IST' },
        { id: 'M4', portfolio: 'P2' },
      ],
    });
    expect(res.json()).toMatchObject({ created: 6, rejected: [] });
  });
  afterAll(() => t?.close());

  const get = (url: string, role: Role = 'trader') => t.app.inject({ method: 'GET', url, headers: t.auth(role) });
  const put = (id: string, body: unknown, role: Role = 'admin') => t.app.inject({ method: 'PUT', url: `/v1/portfolios/${id}`, headers: t.auth(role), payload: body as object });

  it('derives zone and weather station from the member meters until settings are stored', async () => {
    const res = await get('/v1/portfolios/P1');
    expect(res.statusCode).toBe(200);
    // Two of three members are in Warsaw and use WS-IST.
    expect(res.json()).toEqual({
      id: 'P1',
      area: 'TR',
      currency: 'TRY',
      timezone: 'Europe/Warsaw',
      weatherStation: 'WS-IST',
      dayAheadCutoff: '10:00',
      derived: { timezone: true, weatherStation: true },
      meters: 3,
      stored: false,
      updatedAt: null,
    });
  });

  it('stores settings (201, then 200) and they win over the derived values', async () => {
    const first = await put('P1', { area: 'PL', currency: 'PLN', timezone: 'Europe/Istanbul', weatherStation: 'WS-ANK', dayAheadCutoff: '09:30' });
    expect(first.statusCode).toBe(201);
    expect(first.json()).toMatchObject({
      area: 'PL',
      currency: 'PLN',
      timezone: 'Europe/Istanbul',
      weatherStation: 'WS-ANK',
      dayAheadCutoff: '09:30',
      derived: { timezone: false, weatherStation: false },
      stored: true,
      meters: 3,
    });
    // A PUT replaces: the fields left out fall back to their defaults / derived values.
    const second = await put('P1', { dayAheadCutoff: '11:00' });
    expect(second.statusCode).toBe(200);
    expect(second.json()).toMatchObject({
      area: 'TR',
      currency: 'TRY',
      timezone: 'Europe/Warsaw',
      weatherStation: 'WS-IST',
      dayAheadCutoff: '11:00',
      derived: { timezone: true, weatherStation: true },
    });
  });

  it('a portfolio may exist before it has meters; the list holds every portfolio', async () => {
    expect((await put('P-NEW', {})).statusCode).toBe(201);
    const list = await get('/v1/portfolios', 'viewer');
    expect(list.statusCode).toBe(200);
    expect(list.json().portfolios.map((p: { id: string; meters: number }) => [p.id, p.meters])).toEqual([
      ['P-NEW', 0],
      ['P1', 3],
      ['P2', 1],
    ]);
    expect(list.json().portfolios[0]).toMatchObject({ timezone: 'Europe/Istanbul', weatherStation: null, stored: true });
  });

  it('rejects bad settings with reasons, unknown portfolios with 404, and other roles with 403', async () => {
    const cases: [unknown, RegExp][] = [
      [{ timezone: 'Mars/Olympus' }, /timezone.*unknown IANA time zone/],
      [{ dayAheadCutoff: '25:00' }, /dayAheadCutoff.*must be a local time HH:MM/],
      [{ weatherStation: 'M1' }, /meter "M1" has commodity "electricity", not "weather"/],
      [{ weatherStation: 'NOPE' }, /no meter "NOPE" is registered/],
      [{ area: 'tr' }, /area.*must be an upper-case market area code/],
      [{ colour: 'red' }, /colour/],
    ];
    for (const [body, reason] of cases) {
      const res = await put('P2', body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().message).toMatch(reason);
    }
    expect((await get('/v1/portfolios/P-UNKNOWN')).statusCode).toBe(404);
    expect((await get('/v1/portfolios/P-UNKNOWN')).json().message).toMatch(/portfolio "P-UNKNOWN" is unknown: give its meters portfolio="P-UNKNOWN"/);
    expect((await put('P2', {}, 'trader')).statusCode).toBe(403);
    expect((await get('/v1/portfolios/P1', 'gateway')).statusCode).toBe(403);
  });
});
