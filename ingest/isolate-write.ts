import { bisect } from '../models/failing-items.js';
import type { NormalizedReading } from '../models/reading.js';
import type { Database } from '../sql/database.js';
import { classifyDbError, dbErrorReason } from '../sql/db-errors.js';
import type { DeadLetter } from '../sql/dead-letter.repository.js';
import { writeReadings, type BatchInfo, type WriteReject } from '../sql/reading-write.repository.js';

type WriteResult = Awaited<ReturnType<typeof writeReadings>>;

/**
 * writeReadings, but one row the database refuses never fails the others
 * (issue 11: isolate, dead-letter, acknowledge, carry on). Rows are validated
 * before SQL (ingest/normalize.ts), so this is the second line: when the
 * batch's transaction fails for a reason that is not the database being
 * unreachable (sql/db-errors.ts), the dead letters are written on their own
 * and the rows are split in halves, each half its own transaction, until the
 * offending rows are alone; each of those is dead-lettered with the
 * database's reason and returned in `rejected` (as writeReadings returns the
 * rows it dead-letters itself). An unreachable database is thrown to the
 * caller, which holds acknowledgements back and retries.
 *
 * The normal path costs one try/catch; a batch with one bad row out of n is
 * written in about 2·log2(n) transactions.
 */
export async function writeIsolating(database: Database, rows: readonly NormalizedReading[], batch: BatchInfo, deadLetters: readonly DeadLetter[] = []): Promise<WriteResult> {
  try {
    return await writeReadings(database, rows, batch, deadLetters);
  } catch (first) {
    if (!isolable(first)) throw first;
    const out: WriteResult = { batchId: 0, accepted: 0, unchanged: 0, superseded: 0, rejected: [] };
    if (deadLetters.length > 0) add(out, await writeReadings(database, [], batch, deadLetters));
    // Positions, not rows: a slice's rowOrigin is asked with positions in the whole batch.
    const positions = rows.map((_, p) => p);
    const write = async (part: readonly number[]) =>
      add(
        out,
        await writeReadings(
          database,
          part.map((p) => rows[p]),
          shifted(batch, part[0]),
          [],
        ),
      );
    let err = first;
    if (deadLetters.length > 0 && rows.length > 0) {
      // The dead letters may have been what failed: try the rows whole once more.
      try {
        await write(positions);
        return out;
      } catch (e) {
        if (!isolable(e)) throw e;
        err = e;
      }
    }
    await bisect(positions, err, write, { isolable, onFail: async (p, e) => add(out, await deadLetterRow(database, rows[p], p, batch, e)) });
    return out;
  }
}

/** A failure that belongs to the data written (not an unreachable database, not a race the write already retried). */
const isolable = (err: unknown): boolean => classifyDbError(err) === 'data';

/** Dead-letters one row the database refused, with its reason, in a batch of its own. */
async function deadLetterRow(database: Database, row: NormalizedReading, position: number, batch: BatchInfo, err: unknown): Promise<WriteResult> {
  const reason = dbErrorReason(err);
  const origin = batch.rowOrigin?.(row, position);
  const letter: DeadLetter = {
    rowIndex: origin?.rowIndex ?? null,
    meter: origin?.meter ?? null,
    payload: origin?.payload ?? JSON.stringify({ meterId: row.meterId, channel: row.channel, start: row.startMs, value: row.value }),
    reason,
    topic: origin?.topic,
    principal: origin?.principal,
  };
  const written = await writeReadings(database, [], batch, [letter]);
  const reject: WriteReject = { row, rowIndex: letter.rowIndex, reason };
  return { ...written, rejected: [reject] };
}

/** The batch for a slice starting at `from`: rowOrigin is asked with positions in the whole batch. */
function shifted(batch: BatchInfo, from: number): BatchInfo {
  if (from === 0 || batch.rowOrigin === undefined) return batch;
  const origin = batch.rowOrigin;
  return { ...batch, rowOrigin: (row, position) => origin(row, position + from) };
}

function add(out: WriteResult, r: WriteResult): void {
  if (out.batchId === 0) out.batchId = r.batchId;
  out.accepted += r.accepted;
  out.unchanged += r.unchanged;
  out.superseded += r.superseded;
  out.rejected.push(...r.rejected);
}
