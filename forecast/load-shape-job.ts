import { holidayCalendar } from '../models/holidays.js';
import { DAY_MS } from '../models/time.js';
import type { Database } from '../sql/database.js';
import { loadHourlyHistory } from '../sql/forecast.repository.js';
import { listShapeMeters, saveShapeRun } from '../sql/load-shape.repository.js';
import { clusterLoadShapes, meterShape, profilesForShortHistory, type MeterShape } from './load-shape.js';
import { holidayChoice } from './target.js';

/**
 * Computes the load-shape profiles of every electricity meter from its stored
 * hourly active import and stores them as a run (POST /v1/load-shapes/runs,
 * `mdm load-shapes`, and the load-shapes component of `mdm serve`). The
 * clustering itself is pure (forecast/load-shape.ts); here the history is
 * read a few meters at a time, each meter reduced to its shapes at once (a
 * year of 1 000 meters is never in memory as hours).
 */

export interface LoadShapeParams {
  /** Profiles wanted (default 5). */
  readonly k?: number;
  readonly seed?: number;
  /** Days of history before `toMs` (default 365). */
  readonly days?: number;
  /** End of the history (exclusive; default: the last whole hour before now). */
  readonly toMs?: number;
}

export const LOAD_SHAPE_DEFAULTS = { k: 5, seed: 1, days: 365 } as const;

/** Meters per history statement (bounded memory; on the embedded database a turn of the event loop between). */
const BATCH = 8;
const H = 3_600_000;

export interface LoadShapeRunSummary {
  readonly runId: number;
  readonly meters: number;
  readonly withShape: number;
  readonly withoutShape: number;
  readonly profiles: number;
  readonly inertia: number;
  readonly iterations: number;
  readonly from: string;
  readonly to: string;
  readonly ms: number;
}

export async function computeLoadShapes(database: Database, p: LoadShapeParams & { readonly requestedBy: string | null; readonly now?: number }): Promise<LoadShapeRunSummary> {
  const started = Date.now();
  const k = p.k ?? LOAD_SHAPE_DEFAULTS.k;
  const seed = p.seed ?? LOAD_SHAPE_DEFAULTS.seed;
  const days = p.days ?? LOAD_SHAPE_DEFAULTS.days;
  const toMs = Math.floor((p.toMs ?? p.now ?? Date.now()) / H) * H;
  const fromMs = toMs - days * DAY_MS;
  const meters = await listShapeMeters(database);
  const years: [number, number] = [new Date(fromMs).getUTCFullYear() - 1, new Date(toMs).getUTCFullYear() + 1];
  const holidaysOf = new Map<string, Set<string>>();
  const holidays = (tz: string) => {
    let set = holidaysOf.get(tz);
    if (!set) holidaysOf.set(tz, (set = holidayCalendar(holidayChoice(tz).country).holidaySet(...years)));
    return set;
  };
  const shapes: MeterShape[] = [];
  for (let i = 0; i < meters.length; i += BATCH) {
    if (i > 0 && database.engine === 'pglite') await new Promise((r) => setImmediate(r));
    const batch = meters.slice(i, i + BATCH);
    const history = await loadHourlyHistory(database, { meters: batch, fromMs, toMs });
    for (const m of batch) {
      shapes.push(meterShape({ meter: m.externalId, startMs: fromMs, values: history.get(m.id)!.values, timezone: m.timezone, holidays: holidays(m.timezone) }));
    }
  }
  const c = clusterLoadShapes(shapes, { k, seed });
  const byExternal = new Map(meters.map((m) => [m.externalId, m]));
  const short = profilesForShortHistory(
    c.withoutShape.map((id) => ({ meter: id, profileClass: byExternal.get(id)!.profileClass, group: byExternal.get(id)!.group })),
    c.assignments.map((a) => ({ ...a, profileClass: byExternal.get(a.meter)!.profileClass, group: byExternal.get(a.meter)!.group })),
    c.profiles[0]?.id,
  );
  const daysOf = new Map(shapes.map((s) => [s.meter, s.days]));
  const from = new Date(fromMs).toISOString();
  const to = new Date(toMs).toISOString();
  const runId = await saveShapeRun(database, {
    requestedBy: p.requestedBy,
    params: { k, seed, days, from, to },
    summary: { meters: meters.length, withShape: c.assignments.length, withoutShape: c.withoutShape.length, inertia: c.inertia, iterations: c.iterations },
    profiles: c.profiles.map((x) => ({ profile: x.id, name: x.name, members: x.members, shape: x.seasons.map((s) => (s ? Array.from(s) : null)), features: { ...x.features } })),
    assignments: [
      ...c.assignments.map((a) => ({ meterId: byExternal.get(a.meter)!.id, profile: a.profile, assignedBy: 'shape' as const, distance: a.distance, seasons: a.seasons, days: a.days })),
      ...short.map((a) => ({ meterId: byExternal.get(a.meter)!.id, profile: a.profile, assignedBy: a.assignedBy, distance: null, seasons: [], days: daysOf.get(a.meter) ?? 0 })),
    ],
  });
  return {
    runId,
    meters: meters.length,
    withShape: c.assignments.length,
    withoutShape: c.withoutShape.length,
    profiles: c.profiles.length,
    inertia: c.inertia,
    iterations: c.iterations,
    from,
    to,
    ms: Date.now() - started,
  };
}
