/**
 * The catalogue of coded errors: one place for codes, HTTP statuses and message
 * templates (after fastify lib/errors.js). Messages say how to fix the problem.
 */
export const ERRORS = {
  MDM_ERR_UNAUTHORIZED: { status: 401, message: 'missing or invalid API key: send "Authorization: Bearer <key>"' },
  MDM_ERR_FORBIDDEN: { status: 403, message: 'role %s may not %s; ask an admin for a key with one of: %s' },
  MDM_ERR_NOT_FOUND: { status: 404, message: '%s' },
  MDM_ERR_UNKNOWN_METER: { status: 404, message: 'meter "%s" is not registered: register it with PUT /v1/meters first' },
  MDM_ERR_VALIDATION: { status: 400, message: '%s' },
  /** A malformed request fastify itself refused (a body that is not valid JSON, …): its own 4xx status is kept. */
  MDM_ERR_BAD_REQUEST: { status: 400, message: '%s' },
  MDM_ERR_BATCH_TOO_LARGE: { status: 413, message: '%s' },
  MDM_ERR_CONFLICT: { status: 409, message: '%s' },
  MDM_ERR_UNPROCESSABLE: { status: 422, message: '%s' },
  MDM_ERR_UNSUPPORTED_MEDIA: { status: 415, message: '%s' },
  MDM_ERR_RATE_LIMITED: { status: 429, message: '%s' },
  MDM_ERR_CONFIG: { status: 500, message: 'invalid configuration:\n%s' },
  MDM_ERR_DATA_DIR_LOCKED: { status: 500, message: '%s' },
  /** A server fault, never bad input. */
  MDM_ERR_INTERNAL: { status: 500, message: 'internal error; the server log has details (request id %s)' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

export class MdmError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly details?: unknown;

  constructor(code: ErrorCode, args: readonly (string | number)[] = [], opts: { details?: unknown; cause?: unknown } = {}) {
    let i = 0;
    super(
      ERRORS[code].message.replace(/%s/g, () => String(args[i++] ?? '')),
      { cause: opts.cause },
    );
    this.name = 'MdmError';
    this.code = code;
    this.statusCode = ERRORS[code].status;
    this.details = opts.details;
  }
}

export const mdmError = (code: ErrorCode, ...args: (string | number)[]) => new MdmError(code, args);
