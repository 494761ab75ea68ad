import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Io } from '../cli/io.js';
import { parseCommandLine } from '../cli/main.js';
import { offerCostCommand } from '../cli/offer-cost.js';
import type { Role } from '../models/api-key.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * POST /v1/offers/cost and `mdm offer-cost` on every flavour, on the EPİAŞ PTF and SMF files as published
 * (27–28 March 2016, Europe/Istanbul: test/fixtures/data/README.md). The 27th is the clock change (23 local
 * hours); its 04:00 hour has PTF = SMF = 0, held as not yet published: an hour without a price, which every
 * offer over it must report and leave out, never price at 0.
 */
const HOUR = 3_600_000;
const FROM = '2016-03-27T00:00:00+02:00'; // local midnight before the change to +03:00
const TO = '2016-03-29T00:00:00+03:00';
const FROM_MS = Date.parse(FROM);
const TO_MS = Date.parse(TO);
const HOURS = (TO_MS - FROM_MS) / HOUR; // 47
const HELD = '2016-03-27T01:00:00.000Z'; // 04:00 local (+03:00): PTF 0,00 held as unpublished

const epias = (name: string) => readFileSync(new URL(`./fixtures/data/epias-2016-2017/${name}`, import.meta.url));
/** M2's hourly kWh: a daytime shape (300 from 08:00 to 18:00 local, else 100). */
const m2 = (ms: number) => {
  const h = (new Date(ms).getUTCHours() + 3) % 24;
  return h >= 8 && h < 18 ? 300 : 100;
};

describe.each(FLAVOURS)('offer cost: route and CLI (%s)', (flavour) => {
  let t: TestApp;
  let dir: string;
  const offer = (payload: unknown, role: Role = 'trader') => t.app.inject({ method: 'POST', url: '/v1/offers/cost', headers: t.auth(role), payload: payload as object });
  const ptf = new Map<number, number>();
  let bothPrices = 0; // hours with PTF and SMF published: the imbalance report prices only those

  beforeAll(async () => {
    t = await testApp(flavour);
    dir = mkdtempSync(join(tmpdir(), 'offer-'));
    for (const f of ['PTF-2016-2017.csv', 'SMF-2016-2017.csv']) {
      const res = await t.app.inject({ method: 'PUT', url: '/v1/market/prices?area=TR', headers: { ...t.auth('admin'), 'content-type': 'text/csv' }, payload: epias(f) });
      expect(res.statusCode, res.body).toBe(200);
    }
    const prices = await t.app.inject({ method: 'GET', url: `/v1/market/prices?area=TR&from=${encodeURIComponent(FROM)}&to=${encodeURIComponent(TO)}`, headers: t.auth('trader') });
    for (const p of prices.json().prices) {
      if (p.ptf !== null) ptf.set(Date.parse(p.start), p.ptf);
      if (p.ptf !== null && p.smf !== null) bothPrices++;
    }
    const meters = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [
        { id: 'M1', portfolio: 'P1', group: 'G1', timezone: 'Europe/Istanbul', intervalMinutes: 60 },
        { id: 'M2', portfolio: 'P1', group: 'G1', timezone: 'Europe/Istanbul', intervalMinutes: 60 },
        { id: 'LONE', timezone: 'Europe/Istanbul', intervalMinutes: 60 },
      ],
    });
    expect(meters.json()).toMatchObject({ rejected: [] });
    const readings = [];
    for (let ms = FROM_MS; ms < TO_MS; ms += HOUR) {
      const start = new Date(ms).toISOString();
      readings.push({ meter: 'M1', channel: 'active_import', start, value: 100 }, { meter: 'M2', channel: 'active_import', start, value: m2(ms) });
    }
    expect((await t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('admin'), payload: { readings } })).json()).toMatchObject({ rejected: [] });
    // Positions: a flat 0.3 MWh a hour against 0.2–0.4 consumed: surplus at night, deficit by day.
    const positions = [];
    for (let ms = FROM_MS; ms < TO_MS; ms += HOUR) positions.push({ start: new Date(ms).toISOString(), dayAhead: 0.3 });
    expect((await t.app.inject({ method: 'PUT', url: '/v1/market/positions', headers: t.auth('admin'), payload: { portfolio: 'P1', positions } })).statusCode).toBe(200);
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('a flat meter priced on the stored PTF costs the baseload price; the held 04:00 hour is reported as missing, not priced at 0', async () => {
    const res = await offer({ target: 'meter:M1', from: FROM, to: TO, prices: { source: 'ptf', area: 'TR' }, imbalance: { costPerMWh: 0 } });
    expect(res.statusCode, res.body).toBe(200);
    const b = res.json();
    expect(ptf.has(Date.parse(HELD))).toBe(false);
    expect(ptf.size).toBe(HOURS - 1);
    const mean = [...ptf.values()].reduce((a, p) => a + p, 0) / ptf.size;
    expect(b.energyWeightedPrice).toBeCloseTo(mean, 5);
    expect(b.baseloadPrice).toBe(b.energyWeightedPrice);
    expect(b.profileFactor).toBe(1);
    expect(b).toMatchObject({
      currency: 'TRY',
      profile: { source: 'meter:M1', basis: 'actual', hours: HOURS, hoursWithValue: HOURS, missingHours: 0, energyMWh: 4.7 },
      prices: { source: 'ptf', area: 'TR', pricedHours: HOURS - 1, missingHours: 1, missing: [{ from: HELD, to: '2016-03-27T02:00:00.000Z', hours: 1 }] },
      pricedEnergyMWh: 4.6,
      imbalance: { basis: 'given', costPerMWh: 0 },
      breakEvenPrice: b.energyWeightedPrice,
      complete: false,
    });
    expect(b.prices.coverage).toBeCloseTo(46 / 47, 6);
  });

  it("a group's daytime profile: EWP = Σ e·p / Σ e by hand, factor = EWP / baseload, imbalance per MWh from the portfolio's history as GET /v1/imbalance has it", async () => {
    const res = await offer({ target: 'group:G1', from: FROM, to: TO, prices: { source: 'ptf' }, otherCostsPerMWh: 5 });
    expect(res.statusCode, res.body).toBe(200);
    const b = res.json();
    let cost = 0;
    let energy = 0;
    let sum = 0;
    for (const [ms, p] of ptf) {
      const e = (100 + m2(ms)) / 1000;
      cost += e * p;
      energy += e;
      sum += p;
    }
    expect(b.energyWeightedPrice).toBeCloseTo(cost / energy, 5);
    expect(b.baseloadPrice).toBeCloseTo(sum / ptf.size, 5);
    expect(b.profileFactor).toBeCloseTo(cost / energy / (sum / ptf.size), 5);
    // The imbalance history: P1's own (the group's portfolio), the 90 days before the end of the offer period.
    const imb = await t.app.inject({
      method: 'GET',
      url: `/v1/imbalance?portfolio=P1&from=${encodeURIComponent(b.imbalance.from)}&to=${encodeURIComponent(b.imbalance.to)}&interval=hour`,
      headers: t.auth('trader'),
    });
    const rows = imb.json().rows.filter((r: { imbalanceCost: number | null; consumptionMWh: number | null }) => r.imbalanceCost !== null && r.consumptionMWh !== null);
    const iCost = rows.reduce((a: number, r: { imbalanceCost: number }) => a + r.imbalanceCost, 0);
    const iEnergy = rows.reduce((a: number, r: { consumptionMWh: number }) => a + r.consumptionMWh, 0);
    expect(b.imbalance).toMatchObject({ basis: 'history', portfolio: 'P1', to: new Date(TO_MS).toISOString(), hours: rows.length });
    // The held hours (04:00 of the 27th; SMF 0 while PTF is not at 06:00–09:00 on the 27th, 02:00–04:00 on the 28th) have no imbalance price: left out.
    expect(rows.length).toBe(bothPrices);
    expect(bothPrices).toBe(HOURS - 8);
    expect(b.imbalance.costPerMWh).toBeCloseTo(iCost / iEnergy, 5);
    expect(b.imbalance.costPerMWh).toBeGreaterThan(0);
    expect(b.breakEvenPrice).toBeCloseTo(b.energyWeightedPrice + b.imbalance.costPerMWh + 5, 5);
  });

  it('an uploaded profile with a forward curve: null hours of the curve reported; a typical profile of a meter for future hours', async () => {
    const start = '2026-06-01T00:00:00+03:00';
    const values = [1, 2, 3, 4];
    const curve = { source: 'curve', currency: 'TRY', start, values: [2000, null, 2500, 3000] };
    const res = await offer({ profile: { start, unit: 'MWh', values }, prices: curve, imbalance: { costPerMWh: 50 } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({
      currency: 'TRY',
      profile: { source: 'uploaded', basis: 'uploaded', hours: 4 },
      prices: { source: 'curve', area: null, pricedHours: 3, missingHours: 1, missing: [{ from: '2026-05-31T22:00:00.000Z', hours: 1 }] },
      energyWeightedPrice: (2000 + 7500 + 12000) / 8,
      baseloadPrice: 2500,
      breakEvenPrice: (2000 + 7500 + 12000) / 8 + 50,
      complete: false,
    });
    // An uploaded profile has no portfolio: the imbalance cost is unknown, said so, and no break-even price.
    const noImb = (await offer({ profile: { start, values: [1000, 1000] }, prices: curve })).json();
    expect(noImb.imbalance).toMatchObject({ basis: 'none', costPerMWh: null });
    expect(noImb.imbalance.reason).toMatch(/imbalance.portfolio/);
    expect(noImb.breakEvenPrice).toBeNull();
    // M1 is flat: its typical profile (history up to asOf) prices at the curve's baseload.
    const typical = await offer({ target: 'meter:M1', from: '2026-06-01T00:00:00+03:00', to: '2026-06-01T04:00:00+03:00', asOf: TO, prices: curve, imbalance: { costPerMWh: 0 } });
    expect(typical.statusCode, typical.body).toBe(200);
    expect(typical.json()).toMatchObject({ profile: { basis: 'typical', energyMWh: 0.4, missingHours: 0 }, energyWeightedPrice: 2500, baseloadPrice: 2500, profileFactor: 1 });
  });

  it('bad requests: 400 with the reason, 404 unknown target, 409 currencies apart, 403 for roles without market:read', async () => {
    const prices = { source: 'ptf', area: 'TR' };
    const cases: [unknown, number, RegExp][] = [
      [{ prices }, 400, /either target/],
      [{ target: 'meter:M1', profile: { start: FROM, values: [1] }, prices }, 400, /either target/],
      [{ target: 'meter:M1', prices }, 400, /from and to are required/],
      [{ target: 'meter:M1', from: TO, to: FROM, prices }, 400, /before/],
      [{ target: 'meter:M1', from: '2016-03-27T00:30:00+02:00', to: TO, prices }, 400, /whole hour/],
      [{ target: 'meter:NOPE', from: FROM, to: TO, prices }, 404, /not registered/],
      [{ target: 'cow:1', from: FROM, to: TO, prices }, 400, /meter:M/],
      [{ profile: { start: FROM, values: [-1] }, prices }, 400, /./],
      [{ profile: { start: FROM, values: [1] }, prices: { source: 'curve', currency: 'EUR', start: FROM, values: [1] }, imbalance: { portfolio: 'P1' } }, 409, /TRY/],
      [{ target: 'meter:LONE', from: FROM, to: TO, prices, imbalance: { portfolio: 'NOPE' } }, 404, /NOPE/],
    ];
    for (const [body, status, reason] of cases) {
      const res = await offer(body, 'admin');
      expect(res.statusCode, JSON.stringify(body)).toBe(status);
      expect(res.json().message, JSON.stringify(body)).toMatch(reason);
    }
    expect((await offer({ target: 'meter:M1', from: FROM, to: TO, prices }, 'viewer')).statusCode).toBe(403);
    expect((await offer({ target: 'meter:M1', from: FROM, to: TO, prices }, 'billing')).statusCode).toBe(403);
    // A meter outside any portfolio: the imbalance cost is unknown and said so.
    const lone = (await offer({ target: 'meter:LONE', from: FROM, to: TO, prices })).json();
    expect(lone.imbalance).toMatchObject({ basis: 'none', costPerMWh: null });
    expect(lone.profile.missingHours).toBe(HOURS); // no readings: every hour without a value, none read as 0
    expect(lone.energyWeightedPrice).toBeNull();
  });

  it('the OpenAPI document has the offer and load-shape routes with their schemas', async () => {
    const doc = (await t.app.inject({ method: 'GET', url: '/docs/json' })).json();
    const post = doc.paths['/v1/offers/cost'].post;
    expect(Object.keys(post.requestBody.content['application/json'].schema.properties)).toEqual(expect.arrayContaining(['target', 'profile', 'prices', 'imbalance']));
    expect(Object.keys(post.responses)).toEqual(expect.arrayContaining(['200', '400', '404', '409']));
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/load-shapes', '/v1/load-shapes/meters', '/v1/load-shapes/meters/{meter}', '/v1/load-shapes/runs']));
  });

  it('mdm offer-cost: the same figures as the route, as a report or --json', async () => {
    const curveFile = join(dir, 'curve.json');
    const profileFile = join(dir, 'profile.json');
    writeFileSync(curveFile, JSON.stringify({ currency: 'TRY', start: '2026-06-01T00:00:00+03:00', values: [2000, null, 2500, 3000] }));
    writeFileSync(profileFile, JSON.stringify({ start: '2026-06-01T00:00:00+03:00', unit: 'MWh', values: [1, 2, 3, 4] }));
    let out = '';
    const io: Io = { out: (s) => void (out += s), err: () => {}, errIsTTY: false, now: () => Date.now() };
    const argv = ['offer-cost', '--profile', profileFile, '--curve', curveFile, '--imbalance-cost', '50', '--json'];
    const cmd = parseCommandLine(argv);
    expect(cmd.command).toBe('offer-cost');
    expect(await offerCostCommand(t.database, io, { profile: profileFile, curve: curveFile, imbalanceCost: '50', json: true })).toBe(0);
    const route = (
      await offer({ profile: JSON.parse(readFileSync(profileFile, 'utf8')), prices: { source: 'curve', ...JSON.parse(readFileSync(curveFile, 'utf8')) }, imbalance: { costPerMWh: 50 } })
    ).json();
    expect(JSON.parse(out)).toEqual(route);
    out = '';
    expect(await offerCostCommand(t.database, io, { target: 'meter:M1', from: FROM, to: TO, area: 'TR', imbalanceCost: '0' })).toBe(0);
    expect(out).toMatch(/profile factor {4}1\.0000/);
    expect(out).toMatch(/1 hour\(s\) without a price/);
    expect(out).toContain(`${HELD} .. 2016-03-27T02:00:00.000Z (1 h)`);
    expect(out).toMatch(/INCOMPLETE/);
    await expect(offerCostCommand(t.database, io, { target: 'meter:M1', from: FROM, to: TO, area: 'TR', curve: curveFile })).rejects.toThrow(/exclude each other/);
  });
});
