import type { FastifyInstance, FastifyRequest } from 'fastify';
import { PERMISSIONS, roleMay, type Permission, type Principal } from '../models/api-key.js';
import { MdmError } from '../models/errors.js';
import type { Database } from '../sql/database.js';
import { findPrincipalByKey, touchApiKey } from '../sql/api-key.repository.js';

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
 * last_used_at is written at most once per cache period.
 */
export function registerAuth(app: FastifyInstance, database: Database, now: () => number = Date.now): void {
  const cache = new Map<string, { principal: Principal | undefined; until: number }>();
  app.decorateRequest('principal', null as unknown as Principal);
  app.decorate('invalidateKeys', () => cache.clear());
  app.addHook('onRequest', async (request: FastifyRequest) => {
    const permission = request.routeOptions.config?.permission;
    if (!permission) return;
    const header = request.headers.authorization;
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw new MdmError('MDM_ERR_UNAUTHORIZED');
    const key = m[1];
    let hit = cache.get(key);
    if (!hit || hit.until < now()) {
      const principal = await findPrincipalByKey(database, key);
      hit = { principal, until: now() + CACHE_MS };
      if (cache.size > 10_000) cache.clear();
      cache.set(key, hit);
      if (principal) await touchApiKey(database, principal.keyId, new Date(now()));
    }
    if (!hit.principal) throw new MdmError('MDM_ERR_UNAUTHORIZED');
    if (!roleMay(hit.principal.role, permission)) {
      throw new MdmError('MDM_ERR_FORBIDDEN', [hit.principal.role, permission, PERMISSIONS[permission].join(', ')]);
    }
    request.principal = hit.principal;
  });
  app.addHook('onClose', async () => cache.clear());
}
