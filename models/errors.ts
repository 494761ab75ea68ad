/**
 * The catalogue of coded errors: one place for codes, HTTP statuses and message
 * templates (after fastify lib/errors.js). Messages say how to fix the problem.
 */
export const ERRORS = {
  MDM_ERR_UNAUTHORIZED: { status: 401, message: 'missing or invalid API key: send "Authorization: Bearer <key>"' },
  MDM_ERR_FORBIDDEN: { status: 403, message: 'role %s may not %s; ask an admin for a key with one of: %s' },
  /** The resource the path names does not exist (a key, alarm, alarm rule, hook, delivery, run, issue, stored value), or no such route. */
  MDM_ERR_NOT_FOUND: { status: 404, message: '%s' },
  MDM_ERR_UNKNOWN_METER: { status: 404, message: 'meter "%s" is not registered: register it with PUT /v1/meters first' },
  /** A portfolio named in the path, a query or a forecast target that does not exist. */
  MDM_ERR_UNKNOWN_PORTFOLIO: { status: 404, message: '%s' },
  /** A group (a meter label) no registered meter carries. */
  MDM_ERR_UNKNOWN_GROUP: { status: 404, message: '%s' },
  /** Billing corrections of a period that has not been closed. */
  MDM_ERR_PERIOD_NOT_CLOSED: { status: 404, message: '%s' },
  /** No finished forecast covers the asked day: queue a run. */
  MDM_ERR_NO_FORECAST: { status: 404, message: '%s' },
  /** A request that fails its schema, or a generic field rule (a timestamp, a date, one of several parameters). */
  MDM_ERR_VALIDATION: { status: 400, message: '%s' },
  /** A request that cannot be read as a whole: a body fastify refused (not valid JSON, …; its own 4xx status is kept), JSON nested too deep, %00 in the URL. */
  MDM_ERR_BAD_REQUEST: { status: 400, message: '%s' },
  /** from is not before to. */
  MDM_ERR_RANGE_INVERTED: { status: 400, message: '%s' },
  /** from..to is longer than the route allows: split it. */
  MDM_ERR_RANGE_TOO_LONG: { status: 400, message: '%s' },
  /** An instant that is not on the meter's interval (or the hour) boundaries. */
  MDM_ERR_MISALIGNED_TIME: { status: 400, message: '%s' },
  /** A channel name or OBIS code the service does not know. */
  MDM_ERR_UNKNOWN_CHANNEL: { status: 400, message: '%s' },
  /** The selected meters are in several time zones and no tz= says which one to bucket in. */
  MDM_ERR_AMBIGUOUS_TIME_ZONE: { status: 400, message: '%s' },
  /** meters= lists more ids than a query takes: use a group or portfolio. */
  MDM_ERR_TOO_MANY_METERS: { status: 400, message: '%s' },
  /** A body or query field names meters that are not registered, or not of the kind it needs (the addressed resource itself exists). */
  MDM_ERR_BAD_METER_REFERENCE: { status: 400, message: '%s' },
  /** An NDJSON upload broke off: the lines before the one named are processed; re-send from it. */
  MDM_ERR_STREAM_BROKEN: { status: 400, message: '%s' },
  /** An uploaded CSV file cannot be read as the route expects: header, columns, or a header that disagrees with the parameters. */
  MDM_ERR_CSV_FORMAT: { status: 400, message: '%s' },
  /** An all-or-nothing upload with bad rows: nothing stored, `details` lists them. */
  MDM_ERR_INVALID_ROWS: { status: 400, message: '%s' },
  /** A TOU schedule whose buckets do not cover every minute of the day exactly once. */
  MDM_ERR_INVALID_TOU_SCHEDULE: { status: 400, message: '%s' },
  MDM_ERR_BATCH_TOO_LARGE: { status: 413, message: '%s' },
  /** The resource's state does not allow the action (an issue no longer open, a closed alarm, a deactivated hook, a delivery already going out). */
  MDM_ERR_CONFLICT: { status: 409, message: '%s' },
  /** Prices in a currency other than the one the area already has. */
  MDM_ERR_CURRENCY_MISMATCH: { status: 409, message: '%s' },
  /** The billing period is closed: its figures are frozen. */
  MDM_ERR_PERIOD_CLOSED: { status: 409, message: '%s' },
  /** Well-formed, but the stored data cannot be processed as asked (billing figures out of range). */
  MDM_ERR_UNPROCESSABLE: { status: 422, message: '%s' },
  /** The billing period has not ended yet for some meter. */
  MDM_ERR_PERIOD_NOT_ENDED: { status: 422, message: '%s' },
  /** The asked estimation cannot be made (not an interval channel, no neighbouring value, no like-day history). */
  MDM_ERR_CANNOT_ESTIMATE: { status: 422, message: '%s' },
  MDM_ERR_UNSUPPORTED_MEDIA: { status: 415, message: '%s' },
  MDM_ERR_RATE_LIMITED: { status: 429, message: '%s' },
  MDM_ERR_CONFIG: { status: 500, message: 'invalid configuration:\n%s' },
  MDM_ERR_DATA_DIR_LOCKED: { status: 500, message: '%s' },
  /** A service the request needed answered badly or not at all (the weather forecast provider). */
  MDM_ERR_UPSTREAM: { status: 502, message: '%s' },
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
