import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  clusterLoadShapes,
  loadShapeForecast,
  meterShape,
  profileName,
  profilesForShortHistory,
  profileValueAt,
  SEASON_VALUES,
  shapeDistance,
  shapeFeatures,
  type MeterShape,
} from '../forecast/load-shape.js';
import { holidayCalendar } from '../models/holidays.js';
import { seededRandom } from '../models/random.js';
import { building, DAY, HOUR } from './forecast-fixture.js';

const LONDON = 'Europe/London';
const HOLIDAYS = holidayCalendar('GB-ENG').holidaySet(2018, 2020);

/** A building's fixture hours [fromMs, toMs) as a series (NaN where the excerpt has none). */
function series(b: string, fromMs: number, toMs: number): Float64Array {
  const m = building(b);
  const out = new Float64Array((toMs - fromMs) / HOUR);
  for (let i = 0; i < out.length; i++) out[i] = m.get(fromMs + i * HOUR) ?? Number.NaN;
  return out;
}

/** A synthetic meter: `kind` office (weekday daytime) or flat (24/7), level and noise from a seeded PRNG. */
function synthetic(name: string, kind: 'office' | 'flat', seed: number, fromMs: number, days: number): MeterShape {
  const rand = seededRandom(seed);
  const level = 10 + 90 * rand();
  const values = new Float64Array(days * 24);
  for (let i = 0; i < values.length; i++) {
    const t = fromMs + i * HOUR;
    const d = new Date(t);
    const weekday = d.getUTCDay() >= 1 && d.getUTCDay() <= 5;
    const h = d.getUTCHours();
    const base = kind === 'flat' ? 1 : weekday && h >= 8 && h < 18 ? 2.2 : 0.5;
    values[i] = level * base * (0.9 + 0.2 * rand());
  }
  return meterShape({ meter: name, startMs: fromMs, values, timezone: 'UTC', holidays: new Set() });
}

describe('load-shape profiles: the pure clustering', () => {
  const jan = Date.UTC(2019, 0, 7); // a Monday

  it('is deterministic for a seed: the same shapes, k and seed give the same profiles, names, assignments and distances', () => {
    const shapes = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => synthetic(`M${i}`, i % 3 === 0 ? 'flat' : 'office', 100 + i, jan, 28));
    const a = clusterLoadShapes(shapes, { k: 3, seed: 42 });
    const b = clusterLoadShapes(shapes, { k: 3, seed: 42 });
    expect(b.assignments).toEqual(a.assignments);
    expect(b.profiles.map((p) => [p.id, p.name, p.members, p.seasons.map((s) => (s ? Array.from(s) : null))])).toEqual(
      a.profiles.map((p) => [p.id, p.name, p.members, p.seasons.map((s) => (s ? Array.from(s) : null))]),
    );
    expect(b.inertia).toBe(a.inertia);
  });

  it('separates office meters from flat ones whatever their level, and names them by their features', () => {
    const shapes = [0, 1, 2, 3, 4, 5].map((i) => synthetic(`M${i}`, i < 3 ? 'office' : 'flat', 7 + i, jan, 28));
    const r = clusterLoadShapes(shapes, { k: 2, seed: 1 });
    const of = (m: string) => r.assignments.find((a) => a.meter === m)!.profile;
    expect(new Set(['M0', 'M1', 'M2'].map(of)).size).toBe(1);
    expect(new Set(['M3', 'M4', 'M5'].map(of)).size).toBe(1);
    expect(of('M0')).not.toBe(of('M3'));
    const office = r.profiles.find((p) => p.id === of('M0'))!;
    const flat = r.profiles.find((p) => p.id === of('M3'))!;
    expect(office.name).toBe('office, weekdays');
    expect(flat.name).toBe('flat round-the-clock');
    expect(office.features.weekendRatio).toBeLessThan(flat.features.weekendRatio);
    // Every meter is near its own profile (noise only) and far from the other.
    for (const a of r.assignments) {
      const other = r.profiles.find((p) => p.id !== a.profile)!;
      expect(a.distance).toBeLessThan(shapeDistance(shapes.find((s) => s.meter === a.meter)!.seasons, other.seasons) / 3);
    }
  });

  it('normalises a shape to its weekly mean hour: 5 workdays + saturday + sunday average 1', () => {
    const s = synthetic('M', 'office', 3, jan, 28).seasons[0]!;
    let week = 0;
    for (let h = 0; h < 24; h++) week += (5 * s[h] + s[24 + h] + s[48 + h]) / (7 * 24);
    expect(week).toBeCloseTo(1, 12);
    expect(s.length).toBe(SEASON_VALUES);
  });

  it('a meter with too little history has no shape and gets the profile of its profile class, else its group, else the largest', () => {
    const shapes = [synthetic('A', 'office', 1, jan, 28), synthetic('B', 'flat', 2, jan, 28), synthetic('SHORT', 'office', 3, jan, 3)];
    const r = clusterLoadShapes(shapes, { k: 2, seed: 1 });
    expect(r.withoutShape).toEqual(['SHORT']);
    const assigned = r.assignments.map((a) => ({ ...a, profileClass: a.meter === 'B' ? 'shop' : 'office', group: a.meter === 'B' ? 'G1' : null }));
    const out = profilesForShortHistory(
      [
        { meter: 'SHORT', profileClass: 'shop', group: null },
        { meter: 'X', profileClass: null, group: 'G1' },
        { meter: 'Y', profileClass: 'unknown', group: null },
      ],
      assigned,
      r.profiles[0].id,
    );
    const bProfile = r.assignments.find((a) => a.meter === 'B')!.profile;
    expect(out).toEqual([
      { meter: 'SHORT', profile: bProfile, assignedBy: 'profileClass' },
      { meter: 'X', profile: bProfile, assignedBy: 'group' },
      { meter: 'Y', profile: r.profiles[0].id, assignedBy: 'largest' },
    ]);
  });

  it('the cluster profile forecasts a short-history meter: its shape scaled to the level of its few known hours', () => {
    const shapes = [1, 2, 3].map((i) => synthetic(`O${i}`, 'office', i, jan, 28));
    const p = clusterLoadShapes(shapes, { k: 1, seed: 1 }).profiles[0];
    // Two known days (Mon, Tue) of a meter at twice the level of the profile's weekly mean hour.
    const hist = new Float64Array(48);
    const start = Date.UTC(2019, 1, 4);
    for (let i = 0; i < 48; i++) hist[i] = 2 * profileValueAt(p.seasons, '2019-02-04', i % 24, new Set());
    const f = loadShapeForecast(p.seasons, { startMs: start + 2 * DAY, hours: 24 * 5, timezone: 'UTC', holidays: new Set(), history: { startMs: start, values: hist } });
    expect(f.level).toBeCloseTo(2, 12);
    // Wednesday 10:00 = 2 × the profile's workday 10:00; Saturday 03:00 = 2 × its saturday 03:00.
    expect(f.values[10]).toBeCloseTo(2 * p.seasons[0]![10], 12);
    expect(f.values[3 * 24 + 3]).toBeCloseTo(2 * p.seasons[0]![24 + 3], 12);
    expect(loadShapeForecast(p.seasons, { startMs: start, hours: 2, timezone: 'UTC', holidays: new Set() }).values.every((v) => Number.isNaN(v))).toBe(true);
  });

  it('names follow the documented rules', () => {
    const f = { weekendRatio: 1, saturdayRatio: 1, dayNightRatio: 1, peakHour: 12, loadFactor: 0.9 };
    expect(profileName(f)).toBe('flat round-the-clock');
    expect(profileName({ ...f, loadFactor: 0.6, weekendRatio: 1.2 })).toBe('weekend-heavy');
    expect(profileName({ ...f, loadFactor: 0.6, peakHour: 19 })).toBe('evening peak');
    expect(profileName({ ...f, loadFactor: 0.6, weekendRatio: 0.5, saturdayRatio: 0.5, dayNightRatio: 3 })).toBe('office, weekdays');
    expect(profileName({ ...f, loadFactor: 0.6, weekendRatio: 0.5, saturdayRatio: 0.9, dayNightRatio: 3 })).toBe('business, six days');
    expect(profileName({ ...f, loadFactor: 0.6, weekendRatio: 0.8, dayNightRatio: 3 })).toBe('daytime, weekday-led');
    expect(profileName({ ...f, loadFactor: 0.6, dayNightRatio: 2 })).toBe('daytime, seven days');
    expect(profileName({ ...f, loadFactor: 0.6 })).toBe('mixed');
  });
});

describe('load-shape profiles of real buildings (Cambridge Estates)', () => {
  it('the fixture buildings (Aug–Nov 2019): each meter nearest its own profile, k profiles explain more than one', () => {
    const from = Date.UTC(2019, 7, 1);
    const to = Date.UTC(2019, 10, 20);
    const shapes = ['b0', 'b4', 'b8', 'b13', 'b36'].map((b) => meterShape({ meter: b, startMs: from, values: series(b, from, to), timezone: LONDON, holidays: HOLIDAYS }));
    // b36's excerpt starts in September: autumn only; the others have summer (August) and autumn.
    expect(shapes.map((s) => s.seasons.map((x) => x !== null))).toEqual([
      [false, false, true, true],
      [false, false, true, true],
      [false, false, true, true],
      [false, false, true, true],
      [false, false, false, true],
    ]);
    const one = clusterLoadShapes(shapes, { k: 1, seed: 1 });
    const r = clusterLoadShapes(shapes, { k: 3, seed: 1 });
    expect(r.profiles).toHaveLength(3);
    expect(r.inertia).toBeLessThan(one.inertia * 0.6);
    for (const a of r.assignments) {
      const own = shapes.find((s) => s.meter === a.meter)!;
      for (const p of r.profiles) expect(a.distance).toBeLessThanOrEqual(shapeDistance(own.seasons, p.seasons) + 1e-12);
    }
  });

  const shared = new URL('../../shared/data/cambridge-estates/', import.meta.url);
  it.skipIf(!existsSync(shared))('all 33 buildings of 2019 (../shared/data): a handful of distinct profiles, offices apart from round-the-clock buildings', () => {
    const shapes: MeterShape[] = [];
    for (const b of readdirSync(shared)
      .filter((d) => /^b\d+$/.test(d))
      .sort()) {
      const file = new URL(`${b}/electricity/2019.csv`, shared);
      if (!existsSync(file)) continue;
      const lines = readFileSync(file, 'utf8').split('\n').slice(1).filter(Boolean);
      const start = Date.parse(`${lines[0].slice(0, 19).replace(' ', 'T')}Z`);
      const values = Float64Array.from(lines, (l) => Number(l.split(',')[1]));
      shapes.push(meterShape({ meter: b, startMs: start, values, timezone: LONDON, holidays: HOLIDAYS }));
    }
    expect(shapes.length).toBeGreaterThanOrEqual(30);
    const r = clusterLoadShapes(shapes, { k: 5, seed: 1 });
    expect(r.withoutShape).toEqual([]);
    expect(r.profiles).toHaveLength(5);
    // Sensible: within-profile spread far below the spread around one profile, no profile of one meter only among the three largest.
    expect(r.inertia).toBeLessThan(clusterLoadShapes(shapes, { k: 1, seed: 1 }).inertia * 0.5);
    expect(r.profiles.slice(0, 3).every((p) => p.members >= 3)).toBe(true);
    const names = r.profiles.map((p) => p.name);
    const office = r.profiles.find((p) => p.name.startsWith('office'));
    const flat = r.profiles.find((p) => p.name.startsWith('flat'));
    expect(names.join(' | ')).toMatch(/office/);
    expect(office && flat).toBeTruthy();
    expect(office!.features.weekendRatio).toBeLessThan(0.65);
    expect(flat!.features.weekendRatio).toBeGreaterThan(0.85);
    expect(flat!.features.loadFactor).toBeGreaterThan(office!.features.loadFactor);
    // The features of each centroid give its name (the names are not arbitrary labels).
    for (const p of r.profiles) expect(p.name.replace(/ \d+$/, '')).toBe(profileName(shapeFeatures(p.seasons)));
    for (const a of r.assignments) {
      const own = shapes.find((s) => s.meter === a.meter)!;
      for (const p of r.profiles) expect(a.distance).toBeLessThanOrEqual(shapeDistance(own.seasons, p.seasons) + 1e-12);
    }
  });
});
