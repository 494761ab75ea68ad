import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PERMISSIONS, roleMay, type Permission, type Principal } from '../models/api-key.js';
import { MdmError } from '../models/errors.js';
import type { Database } from '../sql/database.js';
import { findPrincipalByKey, touchApiKey } from '../sql/api-key.repository.js';
import type { AuthFailureLimit } from './rate-limit.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal;
  }
  interface FastifyInstance {
    /** Forget cached key lookups (call after revoking a key). */
    invalidateKeys(): void;
  }
  interface FastifyContextConfig {
    /** What the route needs; routes without it are public (/health, /docs). */
    permission?: Permission;
  }
}

const CACHE_MS = 30_000;

/**
 * Bearer-key authentication and role check, as one onRequest hook. Lookups are
 * cached for 30 s (a revoked key stops working within that time) and
 * last_used_at is written at most once per cache period. With `failures`, a
 * client address that failed authentication too often this minute is answered
 * 429 before any look-up, unless its key was seen valid (a head-end keeps
 * working next to a misconfigured neighbour behind the same NAT).
 */
export function registerAuth(app: FastifyInstance, database: Database, failures?: AuthFailureLimit, now: () => number = Date.now): void {
  const cache = new Map<string, { principal: Principal | undefined; until: number }>();
  app.decorateRequest('principal', null as unknown as Principal);
  app.decorate('invalidateKeys', () => cache.clear());
  const unauthorized = async (request: FastifyRequest): Promise<never> => {
    await failures?.record(request);
    throw new MdmError('MDM_ERR_UNAUTHORIZED');
  };
  app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
    const permission = request.routeOptions.config?.permission;
    if (!permission) return;
    const header = request.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    const key = m?.[1];
    let hit = key === undefined ? undefined : cache.get(key);
    if (!hit?.principal) await failures?.refuseIfBlocked(request, reply);
    if (key === undefined) return unauthorized(request);
    if (!hit || hit.until < now()) {
      const principal = await findPrincipalByKey(database, key);
      hit = { principal, until: now() + CACHE_MS };
      if (cache.size > 10_000) cache.clear();
      cache.set(key, hit);
      if (principal) await touchApiKey(database, principal.keyId, new Date(now()));
    }
    if (!hit.principal) return unauthorized(request);
    if (!roleMay(hit.principal.role, permission)) {
      throw new MdmError('MDM_ERR_FORBIDDEN', [hit.principal.role, permission, PERMISSIONS[permission].join(', ')]);
    }
    request.principal = hit.principal;
  });
  app.addHook('onClose', async () => cache.clear());
}
