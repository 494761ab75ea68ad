import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { ERRORS, MdmError, type ErrorCode } from '../models/errors.js';

/**
 * Every error becomes JSON `{error, message, details?}` here and nowhere else
 * (after fastify's error-handler.js). 4xx are logged at info, 5xx at error.
 */
export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    let status = 500;
    let body: { error: string; message: string; details?: unknown };
    if (err instanceof MdmError) {
      status = err.statusCode;
      body = { error: err.code, message: err.message, details: err.details };
    } else if (hasZodFastifySchemaValidationErrors(err)) {
      status = 400;
      const details = err.validation.map((v) => ({ path: v.instancePath || '/', message: v.message }));
      body = {
        error: 'MDM_ERR_VALIDATION',
        message: `invalid ${err.validationContext ?? 'request'}: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`,
        details,
      };
    } else if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      status = 413;
      body = { error: 'MDM_ERR_BATCH_TOO_LARGE', message: `request body is larger than the limit (${err.message}); split it or use NDJSON streaming` };
    } else if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      status = 415;
      body = { error: 'MDM_ERR_UNSUPPORTED_MEDIA', message: `${err.message}; send application/json (or application/x-ndjson where documented)` };
    } else if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      status = err.statusCode;
      body = { error: 'MDM_ERR_BAD_REQUEST' satisfies ErrorCode, message: err.message };
    } else {
      const internal = new MdmError('MDM_ERR_INTERNAL', [request.id]);
      status = ERRORS.MDM_ERR_INTERNAL.status;
      body = { error: internal.code, message: internal.message };
    }
    if (status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ err: { code: body.error, message: body.message } }, 'request rejected');
    reply.status(status).type('application/json').send(JSON.stringify(body));
  });
  app.setNotFoundHandler((request, reply) => {
    reply.status(404).send({ error: 'MDM_ERR_NOT_FOUND', message: `no route ${request.method} ${request.url}; see /docs for the API` });
  });
}
