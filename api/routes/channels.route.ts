import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AGGREGATIONS, allChannels, CHANNEL_KINDS, type ChannelDef, resolveChannel, setUserChannels } from '../../models/channel.js';
import { MdmError } from '../../models/errors.js';
import { COMMODITIES } from '../../models/meter.js';
import { isCurrentValue, obisKey, parseObis } from '../../models/obis.js';
import { createPeriodic } from '../../models/periodic.js';
import { loadChannelRegistry } from '../../ingest/channel-registry.js';
import { countUserChannels, findChannelByObis, upsertUserChannel } from '../../sql/channel.repository.js';
import { classifyDbError } from '../../sql/db-errors.js';
import type { RouteContext } from '../app.js';
import { authErrors, ErrorSchema } from '../schemas.js';

/** Most user-defined channels: the reject reasons list them, every ingest path resolves against them. */
export const MAX_USER_CHANNELS = 500;
/** How often an instance reads the table again, for channels another instance defined (ms). */
export const CHANNEL_REFRESH_MS = 60_000;

const NAME = /^[a-z][a-z0-9_]{0,47}$/;

const ChannelSchema = z
  .object({
    name: z.string(),
    code: z.number().int().describe('The smallint stored with each value: built-ins below 1000, user-defined from 1000'),
    unit: z.string(),
    kind: z.enum(CHANNEL_KINDS),
    aggregation: z.enum(AGGREGATIONS).describe('How the values of one bucket combine: sum, mean, max, or last (the newest)'),
    commodities: z.array(z.enum(COMMODITIES)),
    obis: z.string().nullable().describe('Normalised OBIS key (A-B:C.D.E); every written form of it resolves to this channel'),
    alsoObis: z.array(z.string()).describe('Further OBIS keys of the same quantity'),
    meaning: z.string(),
    builtin: z.boolean(),
  })
  .describe('A channel definition');

const PutBody = z
  .object({
    unit: z.string().min(1).max(16).describe('Unit of the stored values, e.g. kWh, V, m3'),
    kind: z.enum(CHANNEL_KINDS).describe('interval (adds up per interval), register (never-decreasing index), instantaneous (sampled), status (a state code)'),
    aggregation: z.enum(AGGREGATIONS).optional().describe('Default by kind: interval sum, register last, instantaneous mean, status last'),
    commodities: z.array(z.enum(COMMODITIES)).min(1).max(COMMODITIES.length).default(['electricity']),
    obis: z.string().min(1).max(32).optional().describe('OBIS code in any written form (1-0:1.8.4, 1.8.4, 1.0.1.8.4.255); stored normalised'),
    meaning: z.string().max(200).default(''),
  })
  .strict();

const DEFAULT_AGGREGATION = { interval: 'sum', register: 'last', instantaneous: 'mean', status: 'last' } as const;

const out = (c: ChannelDef) => ({
  name: c.name,
  code: c.code,
  unit: c.unit,
  kind: c.kind,
  aggregation: c.aggregation,
  commodities: [...c.commodities],
  obis: c.obis ?? null,
  alsoObis: [...(c.alsoObis ?? [])],
  meaning: c.meaning,
  builtin: c.builtin,
});

/**
 * The channel registry: GET lists built-in and user-defined channels, PUT
 * defines one. The registry is loaded when the API starts, again after each
 * PUT on this instance, and every CHANNEL_REFRESH_MS for channels that
 * another instance defined (docs/commodities.md, Channels and OBIS).
 */
export const channelRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  await loadChannelRegistry(database);
  const refresh = createPeriodic({
    tick: async () => void (await loadChannelRegistry(database)),
    everyMs: CHANNEL_REFRESH_MS,
    firstDelayMs: CHANNEL_REFRESH_MS,
    onError: (err) => app.log.warn({ err: err.message }, 'channel registry refresh failed'),
  });
  app.addHook('onReady', async () => refresh.start());
  app.addHook('onClose', async () => {
    await refresh.stop();
    setUserChannels([]); // a closed app leaves no user channels behind in the process
  });

  app.get(
    '/channels',
    {
      config: { permission: 'channels:read' },
      schema: {
        tags: ['channels'],
        summary: 'Every channel: the built-in ones, then the user-defined ones',
        description:
          'Each with its code, unit, kind, aggregation rule, commodities and OBIS key, read from the table (this instance then also knows channels another instance defined). Ingest accepts a channel by name or by any written form of its OBIS code.',
        response: { 200: z.object({ channels: z.array(ChannelSchema) }), ...authErrors },
      },
    },
    async () => {
      await loadChannelRegistry(database); // the table is the truth: also picks up what another instance defined
      return { channels: allChannels().map(out) };
    },
  );

  app.put(
    '/channels/:name',
    {
      config: { permission: 'channels:admin' },
      schema: {
        tags: ['channels'],
        summary: 'Define or redefine a user channel',
        description:
          `Name: lower-case letters, digits and _, starting with a letter, at most 48 characters; not a built-in name. The code (≥ 1000) is assigned on creation and kept. ` +
          `An OBIS code must not belong to another channel. At most ${MAX_USER_CHANNELS} user channels. Other instances pick the definition up within ${CHANNEL_REFRESH_MS / 1000} s or at restart.`,
        params: z.object({ name: z.string().min(1).max(64) }),
        body: PutBody,
        response: { 200: ChannelSchema, 201: ChannelSchema, 400: ErrorSchema, 409: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const name = req.params.name;
      if (!NAME.test(name)) {
        throw new MdmError('MDM_ERR_VALIDATION', [`channel name "${name.slice(0, 64)}": use lower-case letters, digits and _, starting with a letter, at most 48 characters`]);
      }
      const existing = resolveChannel(name);
      if (existing?.builtin) throw new MdmError('MDM_ERR_CONFLICT', [`"${name}" is a built-in channel (code ${existing.code}); built-in definitions cannot be changed`]);
      const body = req.body;
      let obis: string | null = null;
      if (body.obis !== undefined) {
        const p = parseObis(body.obis);
        if (!p.ok) throw new MdmError('MDM_ERR_VALIDATION', [`obis "${body.obis}": ${p.reason}`]);
        if (!isCurrentValue(p.code)) throw new MdmError('MDM_ERR_VALIDATION', [`obis "${body.obis}": F=${p.code.f} is a billing-period value; give the current value (no F, or *255)`]);
        obis = obisKey(p.code);
        const holder = allChannels().find((c) => c.name !== name && (c.obis === obis || c.alsoObis?.includes(obis!))) ?? (await findChannelByObis(database, obis, name));
        if (holder) throw new MdmError('MDM_ERR_CONFLICT', [`obis ${obis} already belongs to channel ${holder.name}`]);
      }
      if (!existing && (await countUserChannels(database)) >= MAX_USER_CHANNELS) {
        throw new MdmError('MDM_ERR_CONFLICT', [`${MAX_USER_CHANNELS} user channels are defined, the most allowed; redefine an existing one instead`]);
      }
      const def = {
        name,
        unit: body.unit,
        kind: body.kind,
        aggregation: body.aggregation ?? DEFAULT_AGGREGATION[body.kind],
        commodities: [...new Set(body.commodities)],
        obis,
        meaning: body.meaning,
      };
      const stored = await upsertUserChannel(database, def, req.principal.name).catch((err: unknown) => {
        // Two PUTs of one new name, or one OBIS code, at once: the loser sees the unique index.
        if (classifyDbError(err) === 'race') throw new MdmError('MDM_ERR_CONFLICT', [`channel "${name}" or obis ${obis} was defined at the same time by another request; try again`]);
        throw err;
      });
      if (!stored) throw new MdmError('MDM_ERR_CONFLICT', [`"${name}" is a built-in channel; built-in definitions cannot be changed`]);
      await loadChannelRegistry(database);
      return reply.code(stored.created ? 201 : 200).send(out(stored.channel));
    },
  );
};
