import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { convertSeries, type SeriesPoint } from '../models/gas/convert-series.js';
import { gasEnergy } from '../models/gas/energy.js';
import { gasDayStart, gasDayTotals } from '../models/gas/gas-day.js';
import { sgerg88, sgergComposition } from '../models/gas/sgerg88.js';
import type { BaseConditions } from '../models/gas/volume-conversion.js';

/**
 * The gas maths on a real shape (issue 15 "Proof"): the hourly gas heating
 * load of Cambridge building b0 over the 2018 spring clock change
 * (test/fixtures/data/cambridge-estates/b0/gas/2018.csv, MIT, University of
 * Cambridge Estates; `datetime` = UTC hour start, kWh). It becomes what a
 * volume corrector at 4 bar gauge would have recorded — Vm with a synthetic
 * but physical gas temperature and pressure — and goes back through the
 * pipeline: Vm, T, p → Vb (SGERG-88 Z) → kWh with the area's calorific values
 * → gas days. The SGERG-88 and conversion maths themselves are checked against
 * published values in test/gas-maths.test.ts.
 */

const H = 3_600_000;
const FIXTURE = new URL('./fixtures/data/cambridge-estates/b0/gas/2018.csv', import.meta.url);
/** ISO 12213-3 Annex C gas 2 (Hs 40.62 MJ/m³ at 25 °C / 0 °C, d 0.609, CO₂ 0.5 %): a North Sea H-gas. */
const GAS = { hsMjPerM3: 40.62, relativeDensity: 0.609, xCO2: 0.005 };
/** EU base conditions (EASEE-gas CBP 2003-001/01), gas day 05:00 UK time (= 06:00 CET). */
const BASE: BaseConditions = { temperatureC: 0, pressureBar: 1.01325, combustionTemperatureC: 25 };
const TZ = 'Europe/London';
const START_HOUR = 5;
/** kWh per m³ at base conditions: Hs / 3.6. */
const CV = GAS.hsMjPerM3 / 3.6;

function heatingLoad(): SeriesPoint[] {
  const lines = readFileSync(FIXTURE, 'utf8').trim().split('\n').slice(1);
  return lines.map((l) => {
    const [t, v] = l.split(',');
    return { startMs: Date.parse(`${t.replace(' ', 'T')}Z`), value: Number(v) };
  });
}

/** Gas temperature: ground-coupled, 8 °C ± 1.5 °C over the day, lowest at 06:00 UTC. Pressure: 4 bar gauge, 30 mbar lower per 20 kWh/h of load. */
const gasTemperature = (ms: number) => 8 - 1.5 * Math.cos((2 * Math.PI * ((ms / H - 6) % 24)) / 24);
const gasPressure = (loadKwh: number) => 4 - 0.03 * (loadKwh / 20);

/** What the corrector recorded: Vm = Vb · (pb/p) · (T/Tb) · (Z/Zb), Vb = E / CV. */
function recorded(load: readonly SeriesPoint[]) {
  const zb = sgerg88(GAS, BASE.pressureBar, BASE.temperatureC);
  if (!zb.ok) throw new Error(zb.reason);
  return load.map(({ startMs, value }) => {
    const t = gasTemperature(startMs);
    const p = gasPressure(value);
    const z = sgerg88(GAS, p + 1.01325, t);
    if (!z.ok) throw new Error(z.reason);
    const vb = value / CV;
    return { startMs, vm: vb * (BASE.pressureBar / (p + 1.01325)) * ((t + 273.15) / 273.15) * (z.z / zb.z), t, p };
  });
}

describe('gas pipeline on the Cambridge b0 heating load over the 2018 clock change', () => {
  const load = heatingLoad();
  const rec = recorded(load);
  const composition = sgergComposition(GAS);
  if (!composition.ok) throw new Error(composition.reason);

  it('reads the fixture: 192 hours, 1308.2 kWh', () => {
    expect(load).toHaveLength(192);
    expect(load.reduce((s, p) => s + p.value, 0)).toBeCloseTo(1308.2, 6);
  });

  it('Vm, T, p → Vb → kWh gives back the heating load, hour by hour', () => {
    const conv = convertSeries({
      volumes: rec.map((r) => ({ startMs: r.startMs, value: r.vm })),
      temperatures: rec.map((r) => ({ startMs: r.startMs, value: r.t })),
      pressures: rec.map((r) => ({ startMs: r.startMs, value: r.p })),
      pressureKind: 'gauge',
      base: BASE,
      compressibility: { sgerg: composition.composition },
    });
    if (!conv.ok) throw new Error(conv.reason);
    expect(conv.failedCount).toBe(0);
    expect(conv.substitutedCount).toBe(0);
    // At 5 bar absolute and ~8 °C, C = (p/pb)(Tb/T)(Zb/Z) is about 4.9.
    const factors = conv.intervals.map((i) => i.conversionFactor!);
    expect(Math.min(...factors)).toBeGreaterThan(4.8);
    expect(Math.max(...factors)).toBeLessThan(5.1);
    const energy = gasEnergy(
      conv.intervals.map((i) => ({ startMs: i.startMs, vb: i.vb! })),
      [{ validFromMs: gasDayStart('2018-03-01', START_HOUR, TZ), validToMs: gasDayStart('2018-04-01', START_HOUR, TZ), kwhPerM3: CV, version: 1 }],
    );
    if (!energy.ok) throw new Error(energy.reason);
    expect(energy.kwh).toBeCloseTo(1308.2, 6);
    energy.intervals.forEach((e, k) => expect(e.kwh).toBeCloseTo(load[k].value, 9));
  });

  it('gas days in Europe/London from 05:00: 23 h over the clock change, partial days at the edges with their missing hours', () => {
    const days = gasDayTotals(load, { timezone: TZ, startHour: START_HOUR });
    if (!days.ok) throw new Error(days.reason);
    expect(days.days.map((d) => [d.gasDay, d.hours, d.present, d.expected])).toEqual([
      ['2018-03-18', 24, 5, 24], // 00:00–04:00 GMT on the 19th belong to the gas day of the 18th
      ['2018-03-19', 24, 24, 24],
      ['2018-03-20', 24, 24, 24],
      ['2018-03-21', 24, 24, 24],
      ['2018-03-22', 24, 24, 24],
      ['2018-03-23', 24, 24, 24],
      ['2018-03-24', 23, 23, 23], // 05:00 GMT → 05:00 BST
      ['2018-03-25', 24, 24, 24],
      ['2018-03-26', 24, 20, 24], // the fixture ends at 00:00 BST on the 27th
    ]);
    expect(days.days.reduce((s, d) => s + d.sum, 0)).toBeCloseTo(1308.2, 6);
    expect(days.days[0].missingStarts).toHaveLength(19);
    expect(days.days.at(-1)!.missingStarts[0]).toBe(Date.UTC(2018, 2, 27, 0));
  });

  it('a corrector outage: hours without T and p use the conventional values and say so; without them they stay unconverted, never 0', () => {
    const gap = new Set([Date.UTC(2018, 2, 21, 10), Date.UTC(2018, 2, 21, 11), Date.UTC(2018, 2, 21, 12)]);
    const volumes = rec.map((r) => ({ startMs: r.startMs, value: r.vm }));
    const temperatures = rec.filter((r) => !gap.has(r.startMs)).map((r) => ({ startMs: r.startMs, value: r.t }));
    const pressures = rec.filter((r) => !gap.has(r.startMs)).map((r) => ({ startMs: r.startMs, value: r.p }));
    const base = { volumes, temperatures, pressures, pressureKind: 'gauge' as const, base: BASE, compressibility: { sgerg: composition.composition } };
    const strict = convertSeries(base);
    if (!strict.ok) throw new Error(strict.reason);
    expect(strict.failedCount).toBe(3);
    expect(strict.failed.map((f) => f.startMs)).toEqual([...gap]);
    expect(strict.failed[0].reason).toContain('no temperature');
    expect(strict.intervals.filter((i) => i.vb === null)).toHaveLength(3);
    expect(strict.vmNotConverted).toBeCloseTo(
      rec.filter((r) => gap.has(r.startMs)).reduce((s, r) => s + r.vm, 0),
      12,
    );
    const filled = convertSeries({ ...base, fallback: { temperatureC: 8, pressureBar: 4 } });
    if (!filled.ok) throw new Error(filled.reason);
    expect([filled.failedCount, filled.substitutedCount]).toEqual([0, 3]);
    expect(filled.intervals.find((i) => i.startMs === Date.UTC(2018, 2, 21, 10))!.substituted).toEqual(['temperature', 'pressure']);
  });

  it('calorific values that change mid-week are each used for their own gas days, and listed', () => {
    const vb = load.map((p) => ({ startMs: p.startMs, vb: p.value / CV }));
    const split = gasDayStart('2018-03-22', START_HOUR, TZ);
    const r = gasEnergy(vb, [
      { validFromMs: gasDayStart('2018-03-01', START_HOUR, TZ), validToMs: split, kwhPerM3: 11.2, version: 1 },
      { validFromMs: split, validToMs: gasDayStart('2018-04-01', START_HOUR, TZ), kwhPerM3: 11.4, version: 3 },
    ]);
    if (!r.ok) throw new Error(r.reason);
    const before = vb.filter((v) => v.startMs < split).reduce((s, v) => s + v.vb, 0);
    const after = vb.filter((v) => v.startMs >= split).reduce((s, v) => s + v.vb, 0);
    expect(r.used.map((u) => [u.kwhPerM3, u.version])).toEqual([
      [11.2, 1],
      [11.4, 3],
    ]);
    expect(r.used[0].vb).toBeCloseTo(before, 9);
    expect(r.kwh).toBeCloseTo(before * 11.2 + after * 11.4, 9);
  });
});
