import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { KeyCreateSchema, KeyOutSchema, PERMISSIONS, roleMay, ROLES, type Permission } from '../../models/api-key.js';
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

  app.get(
    '/keys/me',
    {
      config: { permission: 'keys:self' },
      schema: {
        tags: ['keys'],
        summary: 'The calling key: its name, role, scope and the permissions of its role (any role)',
        response: {
          200: z.object({
            id: z.string(),
            name: z.string(),
            role: z.enum(ROLES),
            scope: KeyOutSchema.shape.scope,
            permissions: z.array(z.string()).describe('What the role may do (docs/api.md role table)'),
          }),
          ...authErrors,
        },
      },
    },
    async (req) => {
      const { keyId, name, role, scope } = req.principal;
      const permissions = (Object.keys(PERMISSIONS) as Permission[]).filter((p) => roleMay(role, p));
      return { id: keyId, name, role, scope, permissions };
    },
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
