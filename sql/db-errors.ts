import type { Database, Session } from './database.js';

/**
 * What a failed database call means for the item that caused it
 * (issue 11: one bad item must never stop a queue):
 * - `unavailable`: the database cannot be reached or is shutting down
 *   (SQLSTATE class 08, 57P01–57P03, 53xxx, socket errors, a closed PGlite).
 *   Nothing is wrong with the data: hold acknowledgements back and retry.
 * - `race`: lost a race with a concurrent writer (23505 unique_violation,
 *   40001 serialization_failure, 40P01 deadlock_detected): run the same
 *   transaction again.
 * - `data`: anything else. Caused by what was written (22xxx data
 *   exceptions such as `value out of range` or a timestamp out of range,
 *   23xxx other than 23505, a JavaScript error while encoding an item…):
 *   isolate the item, dead-letter it with this error's message, carry on.
 */
export type DbFailure = 'unavailable' | 'race' | 'data';

const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[1-3])/;
const UNAVAILABLE_ERRNO = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH']);
const UNAVAILABLE_MESSAGE =
  /Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|PGlite is closed|database is closed|Cannot use a pool after calling end/i;
const RACE_SQLSTATE = new Set(['23505', '40001', '40P01']);

/** Classifies an error thrown by a database call (see DbFailure). */
export function classifyDbError(err: unknown): DbFailure {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (RACE_SQLSTATE.has(code)) return 'race';
  if (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_ERRNO.has(code)) return 'unavailable';
  if (typeof e?.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message)) return 'unavailable';
  return 'data';
}

/** True when the database could not be reached: the caller must hold back and retry, never blame the data. */
export const isUnavailable = (err: unknown): boolean => classifyDbError(err) === 'unavailable';

/** A short, single-line reason for a dead letter: SQLSTATE and message, bounded. */
export function dbErrorReason(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const code = typeof e?.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) ? ` (SQLSTATE ${e.code})` : '';
  return `database refused the item: ${message.replace(/\s+/g, ' ').slice(0, 300)}${code}`;
}

/** Runs `fn` in a transaction, again (up to `attempts` times in all) when it lost a race with a concurrent writer. */
export async function withRetry<T>(database: Database, fn: (s: Session) => Promise<T>, attempts = 3): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await database.session(fn);
    } catch (err) {
      if (attempt >= attempts || classifyDbError(err) !== 'race') throw err;
    }
  }
}
