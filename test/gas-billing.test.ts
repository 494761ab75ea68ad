import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { convertSeries } from '../models/gas/convert-series.js';
import type { BaseConditions } from '../models/gas/volume-conversion.js';
import { maintainBillingRollup } from '../sql/billing-rollup.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * Gas, water and heat meters through VEE, completeness, readiness and billing
 * (issue 15). The gas load is the hourly heating load of Cambridge building b0
 * over the 2018 spring clock change (test/fixtures/data/cambridge-estates/b0/gas/2018.csv,
 * MIT, University of Cambridge Estates; `datetime` = UTC hour start, kWh),
 * turned into what a volume corrector records: Vm with a synthetic but
 * physical gas temperature and gauge pressure (ideal gas, as billing converts:
 * Vm = Vb · (pb/p) · (T/Tb), Vb = kWh / calorific value). Billing must give
 * the load back: Vb · CV = kWh, hour by hour, so the month's energy is the
 * fixture's sum over the meter's window.
 *
 * The meters live in Europe/London with supply 19–26 March 2018: the window
 * is 19 March 00:00 GMT to 27 March 00:00 BST = 191 hours (the clock goes
 * forward on the 25th); the fixture's last hour (26 March 23:00 UTC) lies
 * after it.
 */
const FIXTURE = new URL('./fixtures/data/cambridge-estates/b0/gas/2018.csv', import.meta.url);
const H = 3_600_000;
const TZ = 'Europe/London';
/** EU base conditions (EASEE-gas CBP 2003-001/01): 0 °C, 1.01325 bar. */
const BASE: BaseConditions = { temperatureC: 0, pressureBar: 1.01325, combustionTemperatureC: 25 };
/** kWh per m³ (base): ISO 12213-3 Annex C gas 2, Hs 40.62 MJ/m³ / 3.6. */
const CV = 40.62 / 3.6;
const ATM = 1.01325;

const load = readFileSync(FIXTURE, 'utf8')
  .trim()
  .split('\n')
  .slice(1)
  .map((l) => {
    const [t, v] = l.split(',');
    return { startMs: Date.parse(`${t.replace(' ', 'T')}Z`), kwh: Number(v) };
  });
const WINDOW_FROM = Date.parse('2018-03-19T00:00:00Z');
const WINDOW_TO = Date.parse('2018-03-26T23:00:00Z'); // 27 March 00:00 BST
const inWindow = load.filter((p) => p.startMs >= WINDOW_FROM && p.startMs < WINDOW_TO);
const windowKwh = inWindow.reduce((s, p) => s + p.kwh, 0);

/** Gas temperature 8 °C ± 1.5 over the day; gauge pressure 21 mbar (a domestic regulator), 2 mbar lower at high load. */
const temperature = (ms: number) => 8 - 1.5 * Math.cos((2 * Math.PI * ((ms / H - 6) % 24)) / 24);
const pressure = (kwh: number) => 0.021 - 0.002 * (kwh / 20);
/** What the corrector recorded (ideal gas). */
const vmOf = (p: { startMs: number; kwh: number }) => (p.kwh / CV) * (BASE.pressureBar / (pressure(p.kwh) + ATM)) * ((temperature(p.startMs) + 273.15) / 273.15);
const iso = (ms: number) => new Date(ms).toISOString();

type Figures = Record<string, unknown> & { meter: string; billable: boolean; reasons: { code: string; message: string }[] };

describe.each(FLAVOURS)('gas, water and heat billing (%s)', (flavour) => {
  let t: TestApp;
  const inject = (method: 'GET' | 'POST' | 'PUT', url: string, payload?: unknown, role: 'admin' | 'billing' = 'admin') =>
    t.app.inject({ method, url, headers: t.auth(role), ...(payload === undefined ? {} : { payload: payload as object }) });
  const post = async (readings: object[]) => {
    for (let i = 0; i < readings.length; i += 5000) {
      const res = await inject('POST', '/v1/readings', { readings: readings.slice(i, i + 5000) });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().rejected).toEqual([]);
    }
  };
  const consumption = async (query = 'period=2018-03') => {
    const res = await inject('GET', `/v1/billing/consumption?${query}`, undefined, 'billing');
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { dataVersion: string; meters: Figures[] };
  };
  const figuresOf = async (id: string) => (await consumption(`period=2018-03&meters=${id}`)).meters[0];

  beforeAll(async () => {
    t = await testApp(flavour);
    const supply = { timezone: TZ, supplyStart: '2018-03-19', supplyEnd: '2018-03-26' };
    const res = await inject('PUT', '/v1/meters', [
      { id: 'G-CORR', commodity: 'gas', gasArea: 'GB-LDZ', ...supply },
      { id: 'G-NOTP', commodity: 'gas', gasArea: 'GB-LDZ', ...supply },
      { id: 'G-VOL', commodity: 'gas', ...supply },
      { id: 'G-KWH', commodity: 'gas', ...supply },
      { id: 'G-REG', commodity: 'gas', gasArea: 'GB-LDZ', ...supply },
      { id: 'G-NOAREA', commodity: 'gas', gasArea: 'NOWHERE', ...supply },
      { id: 'W-1', commodity: 'water', multiplier: 0.01, ...supply },
      { id: 'H-1', commodity: 'heat', ...supply },
      { id: 'E-1', ...supply },
    ]);
    expect(res.json()).toMatchObject({ created: 9, rejected: [] });
    expect((await inject('PUT', '/v1/gas-areas/GB-LDZ', { preset: 'EU', timezone: TZ })).statusCode).toBeLessThan(300);
    const vm = load.map((p) => ({ start: iso(p.startMs), value: vmOf(p) }));
    await post([
      ...vm.map((v) => ({ meter: 'G-CORR', channel: 'volume', ...v })),
      ...load.map((p) => ({ meter: 'G-CORR', channel: 'temperature', start: iso(p.startMs), value: temperature(p.startMs) })),
      ...load.map((p) => ({ meter: 'G-CORR', channel: 'pressure', start: iso(p.startMs), value: pressure(p.kwh) })),
      ...vm.map((v) => ({ meter: 'G-NOTP', channel: 'volume', ...v })),
      ...vm.map((v) => ({ meter: 'G-VOL', channel: 'volume', ...v })),
      // The issue's first reproduction: the gas load sent as kWh on an electricity channel.
      ...load.map((p) => ({ meter: 'G-KWH', channel: 'active_import', start: iso(p.startMs), value: p.kwh })),
      ...vm.map((v) => ({ meter: 'G-REG', channel: 'volume', ...v })),
      { meter: 'G-REG', channel: '7-0:13.2.0', start: iso(WINDOW_FROM), value: 1000 },
      { meter: 'G-REG', channel: '7-0:13.2.0', start: iso(WINDOW_TO), value: 1116.5 },
      ...vm.map((v) => ({ meter: 'G-NOAREA', channel: 'volume', ...v })),
      ...load.map((p) => ({ meter: 'W-1', channel: 'volume', start: iso(p.startMs), value: 12 })),
      { meter: 'H-1', channel: '6-0:1.0.0', start: iso(WINDOW_FROM), value: 5000 },
      { meter: 'H-1', channel: '6-0:1.0.0', start: iso(WINDOW_FROM + 72 * H), value: 5600 },
      { meter: 'H-1', channel: '6-0:1.0.0', start: iso(WINDOW_TO), value: 6250.5 },
      ...load.map((p) => ({ meter: 'E-1', channel: 'active_import', start: iso(p.startMs), value: 1 })),
    ]);
    const vee = await inject('POST', '/v1/validation/run', { meters: ['G-CORR', 'G-VOL', 'G-KWH', 'W-1', 'H-1', 'E-1'], from: '2018-03-19', to: '2018-03-27' });
    expect(vee.statusCode, vee.body).toBe(200);
  });
  afterAll(() => t?.close());

  it('VEE expects volume of a gas meter: none is missing when it sends volume, every day is a gap when it sends kWh on active_import', async () => {
    const issues = async (meter: string) => {
      const res = await inject('GET', `/v1/validation/issues?meter=${meter}&status=open&limit=500`);
      expect(res.statusCode, res.body).toBe(200);
      return res.json().issues as { channel: string; rule: string; severity: string }[];
    };
    expect((await issues('G-CORR')).filter((i) => i.rule === 'gap')).toEqual([]);
    expect((await issues('W-1')).filter((i) => i.rule === 'gap')).toEqual([]);
    const kwh = (await issues('G-KWH')).filter((i) => i.rule === 'gap');
    expect(kwh).toHaveLength(8); // one per local day, 19–26 March
    expect(new Set(kwh.map((i) => i.channel))).toEqual(new Set(['volume']));
  });

  it('bills a gas meter on volume: counted against volume intervals, billable, Vm in m³', async () => {
    const f = await figuresOf('G-VOL');
    expect(f).toMatchObject({ commodity: 'gas', completeness: 1, billable: true, reasons: [], activeImport: 0, maxDemand: null, estimatedShare: 0 });
    expect(f.volume).toBeCloseTo(
      inWindow.reduce((s, p) => s + vmOf(p), 0),
      5,
    );
    expect(f.gas).toEqual({ area: null, volumeBase: null, volumeBaseMethod: null, volumeBaseCoverage: null, energy: null, energyCoverage: null, calorificValues: [] });
    const c = await inject('GET', '/v1/completeness?period=2018-03&meters=G-VOL', undefined, 'billing');
    expect(c.json().meters[0]).toMatchObject({ expected: 191, measured: 191, missing: 0, completeness: 1 });
    // The kWh meter: its volume is missing, and the day gaps VEE opened fail it.
    const k = await figuresOf('G-KWH');
    expect(k.reasons.map((r) => r.code)).toEqual(['missing_data', 'no_recent_data', 'open_fail_issues']);
    expect(k.reasons[0].message).toMatch(/^191 of 191 volume intervals missing/);
  });

  it('converts Vm to Vb per interval with the area base conditions, as models/gas/convert-series does, and says energy is missing without calorific values', async () => {
    const f = await figuresOf('G-CORR');
    const gas = f.gas as Record<string, unknown>;
    const conv = convertSeries({
      volumes: inWindow.map((p) => ({ startMs: p.startMs, value: vmOf(p) })),
      temperatures: inWindow.map((p) => ({ startMs: p.startMs, value: temperature(p.startMs) })),
      pressures: inWindow.map((p) => ({ startMs: p.startMs, value: pressure(p.kwh) })),
      pressureKind: 'gauge',
      base: BASE,
    });
    if (!conv.ok) throw new Error(conv.reason);
    expect(gas.volumeBase).toBeCloseTo(conv.vb, 5);
    expect(gas.volumeBase).toBeCloseTo(windowKwh / CV, 5); // the recorded Vm goes back to the load's Vb
    expect(gas).toMatchObject({ area: 'GB-LDZ', volumeBaseMethod: 'converted', volumeBaseCoverage: 1, energy: null, energyCoverage: 0, calorificValues: [] });
    expect(f.billable).toBe(false);
    expect(f.reasons.map((r) => r.code)).toEqual(['missing_calorific_value']);
    expect(f.reasons[0].message).toMatch(/have no superior calorific value of area "GB-LDZ"/);
  });

  it('prices Vb with the calorific values of the area: part of the window says what is missing, all of it gives the load back in kWh', async () => {
    const upload = async (values: object[]) => {
      const res = await inject('POST', '/v1/calorific-values', { values });
      expect(res.statusCode, res.body).toBe(200);
    };
    const beforeUpload = new Date().toISOString();
    // 1–22 March in MJ/m³, as published.
    await upload([{ area: 'GB-LDZ', validFrom: '2018-03-01T00:00:00Z', validTo: '2018-03-23T00:00:00Z', value: 40.62, unit: 'MJ/m3' }]);
    const part = await figuresOf('G-CORR');
    const g1 = part.gas as { energy: number; energyCoverage: number; calorificValues: { volumeBase: number; energy: number; kwhPerM3: number }[] };
    const before23 = inWindow.filter((p) => p.startMs < Date.parse('2018-03-23T00:00:00Z')).reduce((s, p) => s + p.kwh, 0);
    expect(g1.energy).toBeCloseTo(before23, 4);
    expect(g1.energyCoverage).toBeCloseTo(before23 / windowKwh, 5);
    expect(g1.calorificValues).toHaveLength(1);
    expect(g1.calorificValues[0].kwhPerM3).toBe(11.283333); // 40.62 MJ/m³ ÷ 3.6, to 6 decimals
    expect(part.reasons.map((r) => r.code)).toEqual(['missing_calorific_value']);

    await upload([{ area: 'GB-LDZ', validFrom: '2018-03-23T00:00:00Z', validTo: '2018-04-01T00:00:00Z', value: CV, unit: 'kWh/m3' }]);
    const full = await figuresOf('G-CORR');
    const g2 = full.gas as { energy: number; energyCoverage: number; calorificValues: { energy: number }[] };
    expect(g2.energy).toBeCloseTo(windowKwh, 4); // Vb · CV = the heating load, 191 hours
    expect(g2.energyCoverage).toBe(1);
    expect(g2.calorificValues).toHaveLength(2);
    expect(full).toMatchObject({ billable: true, reasons: [], completeness: 1 });
    // As of before the uploads: the same readings (through their history), no calorific value yet.
    const asOf = (await consumption(`period=2018-03&meters=G-CORR&asOf=${encodeURIComponent(beforeUpload)}`)).meters[0];
    expect(asOf.gas).toMatchObject({ volumeBase: (full.gas as { volumeBase: number }).volumeBase, energy: null, calorificValues: [] });
    expect(asOf.reasons.map((r) => r.code)).toEqual(['missing_calorific_value']);

    // Without temperature and pressure nothing is converted, and that is a reason, not a 0.
    const notp = await figuresOf('G-NOTP');
    expect(notp.gas).toMatchObject({ volumeBase: null, volumeBaseCoverage: 0, energy: null });
    expect(notp.reasons.map((r) => r.code)).toEqual(['not_converted']);
    expect(notp.reasons[0].message).toMatch(/^191 of 191 volume intervals have no temperature and pressure/);

    // The converter's Vb register over the whole window wins over an incomplete conversion; one calorific value cannot price it (two periods).
    const reg = await figuresOf('G-REG');
    expect(reg.gas).toMatchObject({ volumeBase: 116.5, volumeBaseMethod: 'register', volumeBaseCoverage: 1, energy: null });
    expect(reg.reasons.map((r) => r.code)).toEqual(['missing_calorific_value']);

    const nowhere = await figuresOf('G-NOAREA');
    expect(nowhere.reasons).toEqual([{ code: 'not_converted', message: expect.stringMatching(/gas area "NOWHERE" is not defined/) }]);
  });

  it('bills water on volume and heat on its register; electricity keeps its figures and keys', async () => {
    const body = await consumption('period=2018-03&meters=W-1,H-1,E-1');
    const [e, h, w] = body.meters;
    expect(w).toMatchObject({ meter: 'W-1', commodity: 'water', volume: 22.92, completeness: 1, billable: true }); // 191 × 12 × 0.01
    expect(w).not.toHaveProperty('gas');
    expect(h).toMatchObject({
      meter: 'H-1',
      commodity: 'heat',
      completeness: null,
      billable: true,
      heat: { energy: 1250.5, from: '2018-03-19T00:00:00Z', to: '2018-03-27T00:00:00+01:00' },
    });
    expect(e.meter).toBe('E-1');
    expect(Object.keys(e)).toEqual([
      'meter',
      'activeImport',
      'activeExport',
      'reactiveInductive',
      'reactiveCapacitive',
      'inductiveRatio',
      'capacitiveRatio',
      'maxDemand',
      'estimatedShare',
      'completeness',
      'billable',
      'reasons',
      'dataVersion',
    ]);
    expect(e).toMatchObject({ activeImport: 191, completeness: 1, billable: true });
    const csv = await inject('GET', '/v1/billing/consumption?period=2018-03&meters=W-1,E-1&format=csv', undefined, 'billing');
    expect(csv.body.split('\r\n')[0]).toMatch(/,dataVersion,commodity,volume,volumeBase,energy$/);
  });

  it('lists readiness per commodity and gives the same figures from the daily rollup', async () => {
    const raw = await consumption();
    await maintainBillingRollup(t.database);
    const rolled = await consumption();
    expect(rolled.meters).toEqual(raw.meters);
    const res = await inject('GET', '/v1/billing/readiness?period=2018-03', undefined, 'billing');
    expect(res.statusCode).toBe(200);
    const r = res.json();
    const reasons = Object.fromEntries((r.notBillable as { meter: string; reasons: { code: string }[] }[]).map((m) => [m.meter, m.reasons.map((x) => x.code)]));
    expect(reasons).toEqual({
      'G-KWH': ['missing_data', 'no_recent_data', 'open_fail_issues'],
      'G-NOAREA': ['not_converted'],
      'G-NOTP': ['not_converted'],
      'G-REG': ['missing_calorific_value'],
    });
    expect(r).toMatchObject({ meters: 9, billable: 5, source: 'computed' });
    // A calorific value uploaded later is a change the stored result did not see.
    expect((await inject('GET', '/v1/billing/readiness?period=2018-03', undefined, 'billing')).json().source).toBe('stored');
    const cv = await inject('POST', '/v1/calorific-values', { values: [{ area: 'GB-LDZ', validFrom: '2018-04-01T00:00:00Z', validTo: '2018-05-01T00:00:00Z', value: CV }] });
    expect(cv.statusCode, cv.body).toBe(200);
    expect((await inject('GET', '/v1/billing/readiness?period=2018-03', undefined, 'billing')).json().source).toBe('computed');
  });

  it('closes the period with the commodity figures and lists a later volume correction', async () => {
    const close = await inject('POST', '/v1/billing/periods/2018-03/close');
    expect(close.statusCode, close.body).toBe(201);
    const before = (await figuresOf('G-VOL')).volume as number;
    await post([{ meter: 'G-VOL', channel: 'volume', start: '2018-03-20T12:00:00Z', value: 5, quality: 'edited' }]);
    const res = await inject('GET', '/v1/billing/periods/2018-03/corrections', undefined, 'billing');
    expect(res.statusCode, res.body).toBe(200);
    const g = (res.json().meters as { meter: string; changes: Record<string, { closed: number; current: number; delta: number }> }[]).find((m) => m.meter === 'G-VOL')!;
    expect(g.changes.volume.closed).toBe(before);
    expect(g.changes.volume.delta).toBeCloseTo(5 - vmOf(load.find((p) => p.startMs === Date.parse('2018-03-20T12:00:00Z'))!), 6);
  });
});
