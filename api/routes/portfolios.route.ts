import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MdmError } from '../../models/errors.js';
import { PortfolioOutSchema, PortfolioSettingsSchema } from '../../models/portfolio.js';
import { getMeter } from '../../sql/meter.repository.js';
import { getPortfolioSettings, listPortfolios, putPortfolio, requirePortfolio } from '../../sql/portfolio.repository.js';
import type { RouteContext } from '../app.js';
import { authErrors, ErrorSchema } from '../schemas.js';

const Params = z.object({ id: z.string().min(1).max(128).describe("Portfolio id, as in the meters' `portfolio` field") });

/** Portfolio settings: market area, currency, time zone, weather station, day-ahead cut-off. */
export const portfolioRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  app.put(
    '/portfolios/:id',
    {
      config: { permission: 'portfolios:write' },
      schema: {
        tags: ['portfolios'],
        summary: "Create or replace a portfolio's settings",
        description:
          'Replaces the settings: a field left out takes its default (area TR, currency TRY, cut-off 10:00); `timezone` and `weatherStation` left out ' +
          "are derived from the member meters whenever the portfolio is read. Membership is the meters' `portfolio` field (PUT /v1/meters). " +
          '`weatherStation` must be a registered meter with commodity `weather`.',
        params: Params,
        body: PortfolioSettingsSchema,
        response: { 200: PortfolioOutSchema, 201: PortfolioOutSchema, 400: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const body = req.body;
      if (body.weatherStation) {
        const station = await getMeter(database, body.weatherStation);
        if (!station)
          throw new MdmError('MDM_ERR_BAD_METER_REFERENCE', [`weatherStation: no meter "${body.weatherStation}" is registered; register the station with PUT /v1/meters (commodity "weather") first`]);
        if (station.commodity !== 'weather') throw new MdmError('MDM_ERR_BAD_METER_REFERENCE', [`weatherStation: meter "${body.weatherStation}" has commodity "${station.commodity}", not "weather"`]);
      }
      const created = await putPortfolio(database, req.params.id, body);
      const out = await getPortfolioSettings(database, req.params.id);
      return reply.code(created ? 201 : 200).send(out!);
    },
  );

  app.get(
    '/portfolios/:id',
    {
      config: { permission: 'portfolios:read' },
      schema: {
        tags: ['portfolios'],
        summary: "A portfolio's settings, resolved",
        description: 'Stored settings with defaults and member-derived values filled in (`derived` says which). 404 when the id has neither settings nor member meters.',
        params: Params,
        response: { 200: PortfolioOutSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      return requirePortfolio(database, req.params.id);
    },
  );

  app.get(
    '/portfolios',
    {
      config: { permission: 'portfolios:read' },
      schema: {
        tags: ['portfolios'],
        summary: 'Every portfolio',
        description: 'Portfolios with stored settings or member meters, by id, resolved as in GET /v1/portfolios/:id.',
        response: { 200: z.object({ portfolios: z.array(PortfolioOutSchema) }), ...authErrors },
      },
    },
    async () => ({ portfolios: await listPortfolios(database) }),
  );
};
