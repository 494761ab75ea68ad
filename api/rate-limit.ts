import rateLimit, { normalizeIP } from '@fastify/rate-limit';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { MdmError } from '../models/errors.js';

/** Both limits count per fixed window of one minute from the first request in it. */
const WINDOW_MS = 60_000;

export interface RateLimits {
  /** Requests per minute per API key; routes without a key count per client address. 0 = off. */
  readonly perMinute: number;
  /** Failed authentications per minute per client address before 429. 0 = off. */
  readonly authFailuresPerMinute: number;
}

/** Failed-authentication accounting per client address, used by the auth hook. */
export interface AuthFailureLimit {
  /** Answers 429 (with Retry-After) when `request`'s address has used up its failures this minute. Counts nothing. */
  refuseIfBlocked(request: FastifyRequest, reply: FastifyReply): Promise<void>;
  /** Counts one failed authentication of `request`'s address. */
  record(request: FastifyRequest): Promise<void>;
}

const address = (request: FastifyRequest) => normalizeIP(request.ip);

/**
 * Rate limiting with @fastify/rate-limit (issue 11, defect 6). Register before
 * the routes: every route added afterwards gets the per-key limit (the key of
 * the request once the auth hook has run, else the client address), except
 * those with `config: { rateLimit: false }` (/health). Over the limit: 429
 * MDM_ERR_RATE_LIMITED with Retry-After. The failed-authentication limit is
 * returned for the auth hook, which consults it before any key look-up.
 */
export async function registerRateLimit(app: FastifyInstance, limits: RateLimits): Promise<AuthFailureLimit | undefined> {
  await app.register(rateLimit, {
    global: limits.perMinute > 0,
    max: limits.perMinute,
    timeWindow: WINDOW_MS,
    // Route hooks run after the app's onRequest hooks, so the principal is known here.
    keyGenerator: (request) => (request.principal ? `key:${request.principal.keyId}` : `address:${address(request)}`),
    errorResponseBuilder: (request, ctx) =>
      new MdmError('MDM_ERR_RATE_LIMITED', [
        `more than ${ctx.max} requests per minute ${request.principal ? `with key "${request.principal.name}"` : 'from this address'}; retry in ${ctx.after} (Retry-After), or send larger batches`,
      ]),
  });
  if (limits.authFailuresPerMinute <= 0) return undefined;

  const max = limits.authFailuresPerMinute;
  const failures = app.createRateLimit({ max, timeWindow: WINDOW_MS, keyGenerator: address });
  return {
    async refuseIfBlocked(request, reply) {
      const state = await failures(request, { increment: false });
      if (state.isAllowed || state.remaining > 0) return;
      const seconds = Math.max(1, state.ttlInSeconds);
      reply.header('retry-after', seconds);
      throw new MdmError('MDM_ERR_RATE_LIMITED', [
        `${max} failed authentications from this address within a minute; retry in ${seconds} s (Retry-After) with a valid key: "Authorization: Bearer <key>"`,
      ]);
    },
    async record(request) {
      await failures(request);
    },
  };
}
