import { dayTypeOf, localDate, localDayCounter, localMinuteOfDay } from '../models/calendar.js';
import { seededRandom } from '../models/random.js';
import { DAY_MS } from '../models/time.js';

/**
 * Load-shape profiling (issue 20, item 5): each meter's normalised daily
 * shapes per day type and season, clustered by a seeded, deterministic
 * k-means (k-means++ initialisation) into a handful of named profiles; the
 * distance of each meter to its profile; and the profile as an hourly shape
 * for a meter with too little history of its own. Pure: plain data in, plain
 * data out (docs/forecasting.md "Load-shape profiles").
 *
 * A meter's shape, per season (winter = Dec–Feb, spring, summer, autumn):
 * 3 day types (workday; saturday; sunday, public holidays with it) × 24 local
 * hours = 72 values, each the mean load of that day type and hour over the
 * usable days of the season, divided by the season's weekly mean
 * ((5·workday + saturday + sunday) / 7 of the day types' daily means). So a
 * shape is free of the meter's level (1 = an average hour of an average week)
 * but keeps the weekday/weekend contrast and the intraday profile.
 * A usable day has every one of its 24 local hours (the 23-hour spring-forward
 * day never; the 25-hour day averages its repeated hour), no run of
 * `flatHours` equal values (the Cambridge data hides gaps as runs of zeros),
 * a positive total. A season counts when it has `minDays` usable days of each
 * day type.
 *
 * Distance: root mean square difference over the seasons both shapes have
 * (a meter with only one season compares on it); without a common season,
 * over the seasons' averages.
 */

export const SEASONS = ['winter', 'spring', 'summer', 'autumn'] as const;
export type Season = (typeof SEASONS)[number];
/** Day types of a shape: sunday includes public holidays (models/calendar.ts dayTypeOf). */
export const SHAPE_DAY_TYPES = ['workday', 'saturday', 'sunday'] as const;
export type ShapeDayType = (typeof SHAPE_DAY_TYPES)[number];
/** Values per season: day types × local hours. */
export const SEASON_VALUES = SHAPE_DAY_TYPES.length * 24;

const H = 3_600_000;
const SEASON_OF_MONTH: readonly number[] = [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 0]; // Jan … Dec

/** Season index (0 = winter … 3 = autumn) of a local date `YYYY-MM-DD`. */
export const seasonIndex = (date: string): number => SEASON_OF_MONTH[Number(date.slice(5, 7)) - 1];

/** Day-type index of a shape (0 workday, 1 saturday, 2 sunday or holiday). */
export function shapeDayIndex(date: string, holidays: ReadonlySet<string>): number {
  const t = dayTypeOf(date, holidays);
  return t === 'workday' ? 0 : t === 'saturday' ? 1 : 2;
}

/** A meter's normalised shapes: one 72-value array per season, null where the season is not usable. */
export interface MeterShape {
  readonly meter: string;
  readonly seasons: readonly (Float64Array | null)[];
  /** Usable days behind the shapes. */
  readonly days: number;
}

export interface ShapeOptions {
  /** Usable days each day type needs in a season (default 3 workdays, 1 saturday, 1 sunday). */
  readonly minDays?: readonly [number, number, number];
  /** Equal values in a row that make a day unusable (default 6). */
  readonly flatHours?: number;
}

/**
 * The normalised shapes of one meter's hourly series (kWh per hour, NaN = no value) starting at `startMs`.
 * @example meterShape({ meter: 'b0', startMs, values, timezone: 'Europe/London', holidays: new Set(['2019-12-25']) }).seasons[3] // autumn, 72 values or null
 */
export function meterShape(
  p: { readonly meter: string; readonly startMs: number; readonly values: ArrayLike<number>; readonly timezone: string; readonly holidays: ReadonlySet<string> },
  o: ShapeOptions = {},
): MeterShape {
  const minDays = o.minDays ?? [3, 1, 1];
  const flatHours = o.flatHours ?? 6;
  const sums = SEASONS.map(() => new Float64Array(SEASON_VALUES));
  const counts = SEASONS.map(() => [0, 0, 0]);
  const dayOf = localDayCounter(p.timezone);
  const daySum = new Float64Array(24);
  const dayN = new Uint8Array(24);
  let current = Number.NaN;
  let ok = true;
  let days = 0;
  const flush = () => {
    if (current !== current || !ok) return;
    for (let h = 0; h < 24; h++) if (dayN[h] === 0) return;
    let run = 1;
    let total = 0;
    let prev = Number.NaN;
    for (let h = 0; h < 24; h++) {
      const v = daySum[h] / dayN[h];
      run = v === prev ? run + 1 : 1;
      if (run >= flatHours) return;
      prev = v;
      total += v;
    }
    if (!(total > 0)) return;
    const date = new Date(current * DAY_MS).toISOString().slice(0, 10);
    const s = seasonIndex(date);
    const d = shapeDayIndex(date, p.holidays);
    for (let h = 0; h < 24; h++) sums[s][d * 24 + h] += daySum[h] / dayN[h];
    counts[s][d]++;
    days++;
  };
  for (let i = 0; i < p.values.length; i++) {
    const ms = p.startMs + i * H;
    const day = dayOf(ms);
    if (day !== current) {
      flush();
      current = day;
      ok = true;
      daySum.fill(0);
      dayN.fill(0);
    }
    const v = p.values[i];
    if (v !== v) {
      ok = false;
      continue;
    }
    const h = Math.floor(localMinuteOfDay(ms, p.timezone) / 60);
    daySum[h] += v;
    dayN[h]++;
  }
  flush();
  const seasons = sums.map((sum, s) => {
    const n = counts[s];
    if (n.some((c, d) => c < Math.max(1, minDays[d]))) return null;
    const out = new Float64Array(SEASON_VALUES);
    const dailyMean = [0, 0, 0];
    for (let d = 0; d < 3; d++) {
      for (let h = 0; h < 24; h++) {
        out[d * 24 + h] = sum[d * 24 + h] / n[d];
        dailyMean[d] += out[d * 24 + h] / 24;
      }
    }
    const weekly = (5 * dailyMean[0] + dailyMean[1] + dailyMean[2]) / 7;
    if (!(weekly > 0)) return null;
    for (let j = 0; j < SEASON_VALUES; j++) out[j] /= weekly;
    return out;
  });
  return { meter: p.meter, seasons, days };
}

/** True when the meter has at least one usable season (else it needs a profile from elsewhere). */
export const hasShape = (s: MeterShape): boolean => s.seasons.some((x) => x !== null);

/** The mean of the seasons present (null when none). */
function seasonMean(seasons: readonly (Float64Array | null)[]): Float64Array | null {
  const out = new Float64Array(SEASON_VALUES);
  let n = 0;
  for (const s of seasons) {
    if (!s) continue;
    n++;
    for (let j = 0; j < SEASON_VALUES; j++) out[j] += s[j];
  }
  if (n === 0) return null;
  for (let j = 0; j < SEASON_VALUES; j++) out[j] /= n;
  return out;
}

/**
 * Root mean square difference of two shapes over the seasons both have; without a common season, of their season means.
 * @example shapeDistance(a.seasons, a.seasons) // 0
 */
export function shapeDistance(a: readonly (Float64Array | null)[], b: readonly (Float64Array | null)[]): number {
  let sq = 0;
  let n = 0;
  for (let s = 0; s < SEASONS.length; s++) {
    const x = a[s];
    const y = b[s];
    if (!x || !y) continue;
    for (let j = 0; j < SEASON_VALUES; j++) sq += (x[j] - y[j]) ** 2;
    n += SEASON_VALUES;
  }
  if (n === 0) {
    const x = seasonMean(a);
    const y = seasonMean(b);
    if (!x || !y) return Number.POSITIVE_INFINITY;
    for (let j = 0; j < SEASON_VALUES; j++) sq += (x[j] - y[j]) ** 2;
    n = SEASON_VALUES;
  }
  return Math.sqrt(sq / n);
}

/** What the names of the profiles are made from (over the seasons the profile has). */
export interface ShapeFeatures {
  /** Sunday/holiday daily mean ÷ workday daily mean. */
  readonly weekendRatio: number;
  /** Saturday daily mean ÷ workday daily mean. */
  readonly saturdayRatio: number;
  /** Workday mean of 09:00–17:00 ÷ workday mean of 00:00–05:00. */
  readonly dayNightRatio: number;
  /** Workday local hour of the highest value. */
  readonly peakHour: number;
  /** Workday mean ÷ workday maximum (1 = flat). */
  readonly loadFactor: number;
}

const mean = (xs: ArrayLike<number>, from: number, to: number): number => {
  let s = 0;
  for (let i = from; i < to; i++) s += xs[i];
  return s / (to - from);
};

export function shapeFeatures(seasons: readonly (Float64Array | null)[]): ShapeFeatures {
  const m = seasonMean(seasons) ?? new Float64Array(SEASON_VALUES).fill(1);
  const work = mean(m, 0, 24);
  let peakHour = 0;
  for (let h = 1; h < 24; h++) if (m[h] > m[peakHour]) peakHour = h;
  return {
    weekendRatio: mean(m, 48, 72) / work,
    saturdayRatio: mean(m, 24, 48) / work,
    dayNightRatio: mean(m, 9, 17) / mean(m, 0, 5),
    peakHour,
    loadFactor: work / m[peakHour],
  };
}

/**
 * A readable name of a profile from its features (docs/forecasting.md "Load-shape profiles"), the first rule that holds:
 * flat round-the-clock (load factor ≥ 0.85, weekend ≥ 0.85 of a workday); weekend-heavy (weekend ≥ 1.1);
 * evening peak (workday peak 17:00–04:59); office, weekdays / business, six days (weekend < 0.65, saturday
 * below or above 0.8); daytime, weekday-led (weekend < 0.85); daytime, seven days (day/night ≥ 1.4); mixed.
 */
export function profileName(f: ShapeFeatures): string {
  if (f.loadFactor >= 0.85 && f.weekendRatio >= 0.85) return 'flat round-the-clock';
  if (f.weekendRatio >= 1.1) return 'weekend-heavy';
  if (f.peakHour >= 17 || f.peakHour < 5) return 'evening peak';
  if (f.weekendRatio < 0.65) return f.saturdayRatio < 0.8 ? 'office, weekdays' : 'business, six days';
  if (f.weekendRatio < 0.85) return 'daytime, weekday-led';
  if (f.dayNightRatio >= 1.4) return 'daytime, seven days';
  return 'mixed';
}

export interface ClusterOptions {
  /** Profiles wanted (at most the meters with a shape). */
  readonly k: number;
  /** PRNG seed of the k-means++ initialisation: the same seed and shapes give the same profiles. */
  readonly seed: number;
  /** k-means runs from different initialisations; the one with the lowest inertia is kept (default 4). */
  readonly restarts?: number;
  readonly maxIterations?: number;
}

export interface LoadShapeProfile {
  /** `P1` … in order of members (most first). */
  readonly id: string;
  readonly name: string;
  readonly members: number;
  /** Per season the centroid's 72 values (day type × hour), null where no member has the season. */
  readonly seasons: readonly (Float64Array | null)[];
  readonly features: ShapeFeatures;
}

export interface LoadShapeAssignment {
  readonly meter: string;
  readonly profile: string;
  /** shapeDistance to the profile (RMS, in units of the weekly mean hour). */
  readonly distance: number;
  /** Seasons the meter's own shape has. */
  readonly seasons: readonly Season[];
  readonly days: number;
}

export interface LoadShapeClustering {
  readonly profiles: LoadShapeProfile[];
  readonly assignments: LoadShapeAssignment[];
  /** Σ squared distances of the meters to their profiles. */
  readonly inertia: number;
  readonly iterations: number;
  /** Meters without a usable season: no profile from their own data. */
  readonly withoutShape: string[];
}

type Centroid = (Float64Array | null)[];

/** Centroid of members: per season the mean of the members that have it. */
function centroidOf(members: readonly MeterShape[]): Centroid {
  return SEASONS.map((_, s) => {
    const out = new Float64Array(SEASON_VALUES);
    let n = 0;
    for (const m of members) {
      const x = m.seasons[s];
      if (!x) continue;
      n++;
      for (let j = 0; j < SEASON_VALUES; j++) out[j] += x[j];
    }
    if (n === 0) return null;
    for (let j = 0; j < SEASON_VALUES; j++) out[j] /= n;
    return out;
  });
}

function nearest(x: MeterShape, centroids: readonly Centroid[]): { index: number; distance: number } {
  let index = 0;
  let distance = Number.POSITIVE_INFINITY;
  for (let c = 0; c < centroids.length; c++) {
    const d = shapeDistance(x.seasons, centroids[c]);
    if (d < distance) (distance = d), (index = c); // strict: ties go to the lower index
  }
  return { index, distance };
}

/** k-means++ seeding: the first centre uniformly, each next one with probability ∝ squared distance to the nearest centre. */
function seedCentroids(xs: readonly MeterShape[], k: number, rand: () => number): Centroid[] {
  const centroids: Centroid[] = [[...xs[Math.floor(rand() * xs.length)].seasons]];
  const d2 = xs.map((x) => shapeDistance(x.seasons, centroids[0]) ** 2);
  while (centroids.length < k) {
    const total = d2.reduce((a, b) => a + b, 0);
    let pick = 0;
    if (total > 0) {
      let r = rand() * total;
      for (pick = 0; pick < xs.length - 1; pick++) if ((r -= d2[pick]) < 0) break;
    } else pick = Math.floor(rand() * xs.length);
    const c = [...xs[pick].seasons];
    centroids.push(c);
    xs.forEach((x, i) => (d2[i] = Math.min(d2[i], shapeDistance(x.seasons, c) ** 2)));
  }
  return centroids;
}

function lloyd(xs: readonly MeterShape[], start: Centroid[], maxIterations: number): { labels: number[]; centroids: Centroid[]; inertia: number; iterations: number } {
  let centroids = start;
  let labels: number[] = [];
  let iterations = 0;
  for (; iterations < maxIterations; iterations++) {
    const next = xs.map((x) => nearest(x, centroids).index);
    const changed = next.some((l, i) => l !== labels[i]);
    labels = next;
    if (!changed) break;
    centroids = centroids.map((_, c) => centroidOf(xs.filter((_, i) => labels[i] === c)));
    // An empty cluster takes the meter farthest from its centre (the lowest index among equals).
    for (let c = 0; c < centroids.length; c++) {
      if (labels.some((l) => l === c)) continue;
      let far = 0;
      let farD = -1;
      xs.forEach((x, i) => {
        const d = shapeDistance(x.seasons, centroids[labels[i]]);
        if (d > farD) (farD = d), (far = i);
      });
      labels[far] = c;
      centroids[c] = [...xs[far].seasons];
    }
  }
  let inertia = 0;
  xs.forEach((x, i) => (inertia += shapeDistance(x.seasons, centroids[labels[i]]) ** 2));
  return { labels, centroids, inertia, iterations };
}

/**
 * Clusters the meters with a shape into at most `k` named profiles; deterministic for a seed (the meters are taken in the order given).
 * @example clusterLoadShapes(shapes, { k: 4, seed: 1 }).profiles.map((p) => p.name)
 */
export function clusterLoadShapes(shapes: readonly MeterShape[], o: ClusterOptions): LoadShapeClustering {
  const xs = shapes.filter(hasShape);
  const withoutShape = shapes.filter((s) => !hasShape(s)).map((s) => s.meter);
  if (xs.length === 0) return { profiles: [], assignments: [], inertia: 0, iterations: 0, withoutShape };
  const k = Math.max(1, Math.min(Math.floor(o.k), xs.length));
  const rand = seededRandom(o.seed);
  let best: ReturnType<typeof lloyd> | undefined;
  for (let r = 0; r < Math.max(1, o.restarts ?? 4); r++) {
    const run = lloyd(xs, seedCentroids(xs, k, rand), o.maxIterations ?? 100);
    if (!best || run.inertia < best.inertia - 1e-12) best = run;
  }
  const { labels, centroids } = best!;
  // Profiles by members (most first), then by their first meter: ids that do not depend on the initialisation's order.
  const firstMember = centroids.map((_, c) => labels.indexOf(c));
  const size = centroids.map((_, c) => labels.filter((l) => l === c).length);
  const order = centroids.map((_, c) => c).sort((a, b) => size[b] - size[a] || firstMember[a] - firstMember[b]);
  const idOf = new Map(order.map((c, i) => [c, `P${i + 1}`]));
  const used = new Map<string, number>();
  const profiles = order.map((c) => {
    const features = shapeFeatures(centroids[c]);
    let name = profileName(features);
    const n = (used.get(name) ?? 0) + 1;
    used.set(name, n);
    if (n > 1) name = `${name} ${n}`;
    return { id: idOf.get(c)!, name, members: size[c], seasons: centroids[c], features };
  });
  const assignments = xs.map((x, i) => ({
    meter: x.meter,
    profile: idOf.get(labels[i])!,
    distance: shapeDistance(x.seasons, centroids[labels[i]]),
    seasons: SEASONS.filter((_, s) => x.seasons[s] !== null),
    days: x.days,
  }));
  return { profiles, assignments, inertia: best!.inertia, iterations: best!.iterations, withoutShape };
}

/** How a meter came by its profile. */
export type AssignedBy = 'shape' | 'profileClass' | 'group' | 'largest';

/**
 * A profile for each meter without a shape of its own: the most common profile among the
 * meters with a shape of its profile class, else of its group, else the largest profile.
 * @example profilesForShortHistory([{ meter: 'new', profileClass: 'office', group: null }], assigned)
 */
export function profilesForShortHistory(
  meters: readonly { readonly meter: string; readonly profileClass: string | null; readonly group: string | null }[],
  assigned: readonly (LoadShapeAssignment & { readonly profileClass: string | null; readonly group: string | null })[],
  largest: string | undefined,
): { meter: string; profile: string; assignedBy: AssignedBy }[] {
  const vote = (key: 'profileClass' | 'group', value: string | null): string | undefined => {
    if (value === null) return undefined;
    const n = new Map<string, number>();
    for (const a of assigned) if (a[key] === value) n.set(a.profile, (n.get(a.profile) ?? 0) + 1);
    let best: string | undefined;
    for (const [p, c] of n) if (best === undefined || c > n.get(best)! || (c === n.get(best)! && p < best)) best = p;
    return best;
  };
  const out: { meter: string; profile: string; assignedBy: AssignedBy }[] = [];
  for (const m of meters) {
    const byClass = vote('profileClass', m.profileClass);
    const byGroup = byClass === undefined ? vote('group', m.group) : undefined;
    if (byClass !== undefined) out.push({ meter: m.meter, profile: byClass, assignedBy: 'profileClass' });
    else if (byGroup !== undefined) out.push({ meter: m.meter, profile: byGroup, assignedBy: 'group' });
    else if (largest !== undefined) out.push({ meter: m.meter, profile: largest, assignedBy: 'largest' });
  }
  return out;
}

/**
 * The profile's value (relative to its weekly mean hour) for a local date and hour; a season the profile
 * lacks takes the mean of the seasons it has (1 when it has none).
 */
export function profileValueAt(seasons: readonly (Float64Array | null)[] | readonly (readonly number[] | null)[], date: string, hour: number, holidays: ReadonlySet<string>): number {
  const d = shapeDayIndex(date, holidays);
  const own = seasons[seasonIndex(date)];
  if (own) return own[d * 24 + hour];
  let s = 0;
  let n = 0;
  for (const x of seasons) if (x) (s += x[d * 24 + hour]), n++;
  return n ? s / n : 1;
}

/**
 * An hourly forecast from a cluster profile, for a meter with too little history of its own (the forecast
 * engine's entry point): the profile's relative values × a level, the level being Σ history ÷ Σ profile over
 * the history's known hours (mean hourly load when given as `level`). NaN without a level.
 * @example loadShapeForecast(profile.seasons, { startMs, hours: 24, timezone: 'Europe/London', holidays, history: { startMs: h0, values } })
 */
export function loadShapeForecast(
  seasons: readonly (Float64Array | null)[] | readonly (readonly number[] | null)[],
  p: {
    readonly startMs: number;
    readonly hours: number;
    readonly timezone: string;
    readonly holidays: ReadonlySet<string>;
    readonly history?: { readonly startMs: number; readonly values: ArrayLike<number> };
    readonly level?: number;
  },
): { values: Float64Array; level: number | null } {
  const at = (ms: number) => profileValueAt(seasons, localDate(ms, p.timezone), Math.floor(localMinuteOfDay(ms, p.timezone) / 60), p.holidays);
  let level = p.level ?? null;
  if (level === null && p.history) {
    let sv = 0;
    let sp = 0;
    for (let i = 0; i < p.history.values.length; i++) {
      const v = p.history.values[i];
      if (v !== v) continue;
      sv += v;
      sp += at(p.history.startMs + i * H);
    }
    level = sp > 0 ? sv / sp : null;
  }
  const values = new Float64Array(p.hours);
  for (let i = 0; i < p.hours; i++) values[i] = level === null ? Number.NaN : level * at(p.startMs + i * H);
  return { values, level };
}
