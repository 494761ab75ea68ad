import { bisect } from '../../models/failing-items.js';
import { classifyDbError, type DbFailure } from '../../sql/db-errors.js';

/** Immediate re-runs of a part that lost a race with a concurrent writer, before it is split like bad data. */
const RACE_ATTEMPTS = 3;

export interface IsolateOptions<T extends object, R> {
  /** Writes some messages in one transaction; returns one result per message, in order. */
  write(items: readonly T[]): Promise<readonly R[]>;
  /** The write of this one message failed because of its data: dead-letter it whole and return its result. */
  refuse(item: T, err: unknown): Promise<R>;
  /**
   * Results of messages already committed, kept across calls: when a later
   * part finds the database unreachable and the caller retries the batch,
   * the parts already committed are not written (nor dead-lettered) again.
   */
  readonly done: WeakMap<T, R>;
  /** Told each time a failing part is split in two. */
  onSplit?(size: number, err: unknown): void;
  readonly classify?: (err: unknown) => DbFailure;
}

/**
 * Writes a batch so that one bad message cannot stop it (issue 11). When the
 * write fails because of what the batch holds (`classifyDbError` → 'data', or
 * a 'race' still lost after RACE_ATTEMPTS runs), the batch is split in halves,
 * written in order, and the failing half again, down to the one message that
 * fails alone: `refuse` dead-letters it and the rest commits. A batch with one
 * poison message of n costs about 2·log2(n) extra writes.
 *
 * Only a database that cannot be reached ('unavailable') is thrown to the
 * caller, who retries with backoff and holds acknowledgements back.
 * @example const outcomes = await writeIsolating(batch, { write, refuse, done: new WeakMap() });
 */
export async function writeIsolating<T extends object, R>(items: readonly T[], opts: IsolateOptions<T, R>): Promise<R[]> {
  const todo = items.filter((item) => !opts.done.has(item));
  if (todo.length) await writePart(todo, opts);
  return items.map((item) => opts.done.get(item) as R);
}

async function writePart<T extends object, R>(items: readonly T[], opts: IsolateOptions<T, R>): Promise<void> {
  const classify = opts.classify ?? classifyDbError;
  const write = async (part: readonly T[]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        const results = await opts.write(part);
        part.forEach((item, k) => opts.done.set(item, results[k]));
        return;
      } catch (err) {
        if (classify(err) === 'race' && attempt < RACE_ATTEMPTS) continue;
        if (classify(err) !== 'unavailable' && part.length > 1) opts.onSplit?.(part.length, err);
        throw err;
      }
    }
  };
  try {
    await write(items);
  } catch (err) {
    if (classify(err) === 'unavailable') throw err;
    await bisect(items, err, write, {
      isolable: (e) => classify(e) !== 'unavailable',
      onFail: async (item, e) => void opts.done.set(item, await opts.refuse(item, e)),
    });
  }
}
