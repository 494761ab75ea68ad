import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { KeyCreateSchema, KeyOutSchema } from '../../models/api-key.js';
import { MdmError } from '../../models/errors.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../../sql/api-key.repository.js';
import type { RouteContext } from '../app.js';
import { authErrors, ErrorSchema } from '../schemas.js';

/** API key management (admin). */
export const keyRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  const config = { permission: 'keys:admin' } as const;

  app.post(
    '/keys',
    {
      config,
      schema: {
        tags: ['keys'],
        summary: 'Create an API key; the secret is returned once',
        body: KeyCreateSchema,
        response: { 201: KeyOutSchema.extend({ key: z.string().describe('The secret: store it now, it is not shown again') }), 400: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      if (req.body.scope && req.body.role !== 'gateway') {
        throw new MdmError('MDM_ERR_VALIDATION', [`scope applies to gateway keys only, not ${req.body.role}`]);
      }
      return reply.status(201).send(await createApiKey(database, req.body));
    },
  );

  app.get(
    '/keys',
    { config, schema: { tags: ['keys'], summary: 'List active keys (secrets are never shown)', response: { 200: z.object({ keys: z.array(KeyOutSchema) }), ...authErrors } } },
    async () => ({ keys: await listApiKeys(database) }),
  );

  app.delete(
    '/keys/:id',
    {
      config,
      schema: { tags: ['keys'], summary: 'Revoke a key', params: z.object({ id: z.string() }), response: { 204: z.null(), 404: ErrorSchema, ...authErrors } },
    },
    async (req, reply) => {
      if (!(await revokeApiKey(database, req.params.id))) throw new MdmError('MDM_ERR_NOT_FOUND', [`no active key with id ${req.params.id}`]);
      app.invalidateKeys();
      return reply.status(204).send(null);
    },
  );
};
