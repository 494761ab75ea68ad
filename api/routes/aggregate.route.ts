import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { RouteContext } from '../app.js';

// Placeholder so the app loads while this resource is being written.
export const aggregateRoutes: FastifyPluginAsyncZod<RouteContext> = async () => {};
