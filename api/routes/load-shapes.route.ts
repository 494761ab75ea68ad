import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { LOAD_SHAPE_DEFAULTS, computeLoadShapes } from '../../forecast/load-shape-job.js';
import { SEASONS, SHAPE_DAY_TYPES } from '../../forecast/load-shape.js';
import { MdmError } from '../../models/errors.js';
import { idText, storedInstant } from '../../models/input-schemas.js';
import { latestShapeRun, listShapeAssignments, listShapeProfiles, type StoredShapeProfile, type StoredShapeRun } from '../../sql/load-shape.repository.js';
import type { RouteContext } from '../app.js';
import { authErrors, ErrorSchema } from '../schemas.js';

/** A profile's centroid values: relative to its weekly mean hour, to 10⁻⁴. */
const r4 = (x: number) => Math.round(x * 1e4) / 1e4;

const DayShapes = z.object({ workday: z.array(z.number()), saturday: z.array(z.number()), sunday: z.array(z.number()) }).describe('24 local hours each, 1 = an average hour of the week');
const ShapeSchema = z.object({ winter: DayShapes.nullable(), spring: DayShapes.nullable(), summer: DayShapes.nullable(), autumn: DayShapes.nullable() });

const ProfileSchema = z.object({
  id: z.string().describe('P1 … by members, most first (ids of one run; a recompute may number them differently)'),
  name: z.string().describe('From the features (docs/forecasting.md "Load-shape profiles")'),
  members: z.number().int().describe('Meters whose own shape is nearest this profile'),
  features: z.object({ weekendRatio: z.number(), saturdayRatio: z.number(), dayNightRatio: z.number(), peakHour: z.number().int(), loadFactor: z.number() }),
  shape: ShapeSchema.describe('Per season (winter Dec–Feb, spring, summer, autumn) and day type (sunday includes public holidays); null where no member has the season'),
});

const RunSchema = z.object({
  run: z.number().int(),
  computedAt: z.string(),
  requestedBy: z.string().nullable().describe('Key name, or null for the schedule (LOAD_SHAPES_INTERVAL_H)'),
  params: z.object({ k: z.number().int(), seed: z.number().int(), days: z.number().int(), from: z.string(), to: z.string() }),
  meters: z.number().int(),
  withShape: z.number().int().describe('Meters with a usable season of their own: assigned by distance'),
  withoutShape: z.number().int().describe('Meters with too little history: assigned by profile class, group or the largest profile'),
});

const AssignmentSchema = z.object({
  meter: z.string(),
  profile: z.string(),
  name: z.string(),
  assignedBy: z.enum(['shape', 'profileClass', 'group', 'largest']).describe('shape: the nearest profile to its own shape; else how a meter with too little history got one'),
  distance: z.number().nullable().describe('RMS difference of its normalised shape from the profile (weekly mean hour = 1) over the seasons it has; null without a shape'),
  seasons: z.array(z.enum(SEASONS)).describe('Seasons of its own shape'),
  days: z.number().int().describe('Usable days behind its shape'),
});

function shapeOut(shape: StoredShapeProfile['shape']): z.infer<typeof ShapeSchema> {
  const out = {} as Record<(typeof SEASONS)[number], z.infer<typeof DayShapes> | null>;
  SEASONS.forEach((s, i) => {
    const v = shape[i];
    out[s] = v ? (Object.fromEntries(SHAPE_DAY_TYPES.map((d, j) => [d, v.slice(j * 24, j * 24 + 24).map(r4)])) as z.infer<typeof DayShapes>) : null;
  });
  return out;
}

function runOut(r: StoredShapeRun): z.infer<typeof RunSchema> {
  const s = r.summary as { meters: number; withShape: number; withoutShape: number };
  return {
    run: r.id,
    computedAt: r.computedAt.toISOString(),
    requestedBy: r.requestedBy,
    params: r.params as z.infer<typeof RunSchema>['params'],
    meters: s.meters,
    withShape: s.withShape,
    withoutShape: s.withoutShape,
  };
}

const profileOut = (p: StoredShapeProfile) => ({
  id: p.profile,
  name: p.name,
  members: p.members,
  features: { ...(p.features as z.infer<typeof ProfileSchema>['features']) },
  shape: shapeOut(p.shape),
});

const NO_RUN = 'no load-shape profiles yet: POST /v1/load-shapes/runs computes them (the load-shapes component of mdm serve does it every LOAD_SHAPES_INTERVAL_H)';

/** Load-shape profiles (issue 20): the profiles with their shapes, each meter's profile and distance, recompute on demand. docs/forecasting.md. */
export const loadShapeRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  const latest = async () => {
    const run = await latestShapeRun(database);
    if (!run) throw new MdmError('MDM_ERR_NOT_FOUND', [NO_RUN]);
    return run;
  };

  app.get(
    '/load-shapes',
    {
      config: { permission: 'forecasts:read' },
      schema: {
        tags: ['forecasts'],
        summary: 'The load-shape profiles of the newest run, with their shapes per season and day type',
        response: { 200: RunSchema.extend({ profiles: z.array(ProfileSchema) }), 404: ErrorSchema, ...authErrors },
      },
    },
    async () => {
      const run = await latest();
      return { ...runOut(run), profiles: (await listShapeProfiles(database, run.id)).map(profileOut) };
    },
  );

  app.get(
    '/load-shapes/meters',
    {
      config: { permission: 'forecasts:read' },
      schema: {
        tags: ['forecasts'],
        summary: 'Meters with their load-shape profile and distance (newest run), by meter id; page with after=',
        querystring: z.object({
          profile: idText().optional().describe('Only the meters of this profile'),
          after: idText().optional().describe('The last meter of the previous page'),
          limit: z.coerce.number().int().min(1).max(10_000).default(1000),
        }),
        response: { 200: z.object({ run: z.number().int(), meters: z.array(AssignmentSchema) }), 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const run = await latest();
      const names = new Map((await listShapeProfiles(database, run.id)).map((p) => [p.profile, p.name]));
      if (req.query.profile !== undefined && !names.has(req.query.profile)) {
        throw new MdmError('MDM_ERR_NOT_FOUND', [`profile "${req.query.profile}" is not in run ${run.id}: its profiles are ${[...names.keys()].join(', ') || 'none'}`]);
      }
      const rows = await listShapeAssignments(database, { runId: run.id, profile: req.query.profile, after: req.query.after, limit: req.query.limit });
      return { run: run.id, meters: rows.map((a) => ({ ...a, name: names.get(a.profile) ?? a.profile, seasons: a.seasons as (typeof SEASONS)[number][] })) };
    },
  );

  app.get(
    '/load-shapes/meters/:meter',
    {
      config: { permission: 'forecasts:read' },
      schema: {
        tags: ['forecasts'],
        summary: "A meter's load-shape profile (newest run): the profile, its shape, the meter's distance to it",
        params: z.object({ meter: idText() }),
        response: { 200: AssignmentSchema.extend({ run: z.number().int(), computedAt: z.string(), profileShape: ProfileSchema }), 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const run = await latest();
      const [a] = await listShapeAssignments(database, { runId: run.id, meter: req.params.meter, limit: 1 });
      if (!a) {
        throw new MdmError('MDM_ERR_NOT_FOUND', [
          `meter "${req.params.meter}" has no load-shape profile in run ${run.id} (${run.computedAt.toISOString()}): only electricity meters registered then are profiled; POST /v1/load-shapes/runs recomputes`,
        ]);
      }
      const p = (await listShapeProfiles(database, run.id)).find((x) => x.profile === a.profile)!;
      return { ...a, seasons: a.seasons as (typeof SEASONS)[number][], name: p.name, run: run.id, computedAt: run.computedAt.toISOString(), profileShape: profileOut(p) };
    },
  );

  app.post(
    '/load-shapes/runs',
    {
      config: { permission: 'forecasts:run' },
      schema: {
        tags: ['forecasts'],
        summary: 'Recompute the load-shape profiles now (seeded k-means over every electricity meter); answers when stored',
        description:
          `Defaults: k=${LOAD_SHAPE_DEFAULTS.k} profiles, seed=${LOAD_SHAPE_DEFAULTS.seed}, days=${LOAD_SHAPE_DEFAULTS.days} of history before \`to\` (default now). ` +
          'The same data, k and seed give the same profiles. Readers see the new run at once; the last 5 runs are kept.',
        body: z
          .object({
            k: z.number().int().min(1).max(20).optional(),
            seed: z
              .number()
              .int()
              .min(0)
              .max(2 ** 31 - 1)
              .optional(),
            days: z.number().int().min(28).max(731).optional(),
            to: z.string().max(40).optional().describe('End of the history (exclusive), ISO-8601 with offset'),
          })
          .strict()
          .default({}),
        response: {
          200: z.object({
            run: z.number().int(),
            meters: z.number().int(),
            withShape: z.number().int(),
            withoutShape: z.number().int(),
            profiles: z.number().int(),
            inertia: z.number(),
            iterations: z.number().int(),
            from: z.string(),
            to: z.string(),
            ms: z.number(),
          }),
          400: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const b = req.body ?? {};
      let toMs: number | undefined;
      if (b.to !== undefined) {
        const t = storedInstant(b.to);
        if (!t.ok) throw new MdmError('MDM_ERR_VALIDATION', [`to: ${t.reason}`]);
        toMs = t.ms;
      }
      const { runId, ...r } = await computeLoadShapes(database, { k: b.k, seed: b.seed, days: b.days, toMs, requestedBy: req.principal.name });
      return { run: runId, ...r, inertia: Math.round(r.inertia * 1e6) / 1e6 };
    },
  );
};
