import { createPeriodic, silentLog, type ComponentLog, type Timers } from '../models/periodic.js';
import type { Database } from '../sql/database.js';
import { latestShapeRun, listShapeMeters } from '../sql/load-shape.repository.js';
import { computeLoadShapes, type LoadShapeRunSummary } from './load-shape-job.js';

export interface LoadShapesComponent {
  readonly name: 'load-shapes';
  readonly probe: { readonly name: string; check(): { ok: boolean; [k: string]: unknown } };
  start(log?: ComponentLog): Promise<void>;
  stop(): Promise<void>;
  /** One look now (what the timer does): recomputes when the newest run is older than the interval. */
  tick(): Promise<void>;
}

/** Pause between looks at the newest run: a run due is computed within this of its time. */
const LOOK_MS = 600_000;

/**
 * The load-shape profiles as a component of `mdm serve` (cli/components.ts):
 * recomputes them (forecast/load-shape-job.ts, the defaults: 5 profiles,
 * seed 1, the last 365 days) when the newest run — whoever made it, this
 * instance, another one or POST /v1/load-shapes/runs — is older than
 * `intervalMs`. Looking at the stored run rather than at its own clock keeps
 * several worker instances from recomputing each round and a restart from
 * recomputing at once. Without an electricity meter it computes nothing.
 */
export function createLoadShapesComponent(o: { database: Database; intervalMs: number; now?: () => number; timers?: Timers }): LoadShapesComponent {
  const now = o.now ?? Date.now;
  let log = silentLog;
  let last: (LoadShapeRunSummary & { at: string }) | undefined;

  async function tick(): Promise<void> {
    const t = now();
    const newest = await latestShapeRun(o.database);
    // A run of no meter (a service started before its meters were registered) is not a reason to wait a whole interval.
    const counted = Number((newest?.summary as { meters?: number } | undefined)?.meters ?? 0) > 0;
    if (newest && counted && t - newest.computedAt.getTime() < o.intervalMs) return;
    if ((await listShapeMeters(o.database)).length === 0) return;
    const r = await computeLoadShapes(o.database, { requestedBy: null, now: t });
    last = { ...r, at: new Date(t).toISOString() };
    log.info({ run: r.runId, meters: r.meters, profiles: r.profiles, ms: r.ms }, 'load-shapes: profiles recomputed');
  }

  const loop = createPeriodic({
    tick,
    everyMs: Math.min(LOOK_MS, o.intervalMs),
    timers: o.timers,
    onError: (err) => log.error({ err: err.message }, 'load-shapes: recompute failed'),
  });

  return {
    name: 'load-shapes',
    probe: { name: 'load-shapes', check: () => ({ ok: loop.lastError === undefined, lastRun: last ?? null, ...(loop.lastError ? { error: loop.lastError } : {}) }) },
    async start(l) {
      log = l ?? silentLog;
      loop.start();
    },
    stop: () => loop.stop(),
    tick,
  };
}

/** `mdm serve` factory: off when LOAD_SHAPES_INTERVAL_H is 0. */
export function loadShapesComponent(ctx: { readonly config: { readonly LOAD_SHAPES_INTERVAL_H?: number }; readonly database: Database }): LoadShapesComponent | undefined {
  const hours = ctx.config.LOAD_SHAPES_INTERVAL_H ?? 24;
  if (hours === 0) return undefined;
  return createLoadShapesComponent({ database: ctx.database, intervalMs: hours * 3_600_000 });
}
