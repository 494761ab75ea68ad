import type { MeterChange } from '../models/meter-change.js';
import type { Database } from './database.js';
import { exchangeDevice } from './device.repository.js';
import { setDatedAttribute } from './meter-attribute.repository.js';

/** A row's own refusal: rolls its transaction back and becomes its reason. */
class RowRefused extends Error {}

export interface AppliedChanges {
  readonly applied: number;
  readonly rejected: { index: number; reason: string }[];
}

/**
 * Applies registry changes row by row, each in a transaction of its own (a
 * row is applied whole or not at all; a refused row does not stop the
 * others), in the order given: an exchange and a join of the same meter in
 * one list apply one after the other. `by`: who, kept with each version.
 */
export async function applyMeterChanges(database: Database, rows: readonly { index: number; change: MeterChange }[], by: string | null): Promise<AppliedChanges> {
  const rejected: { index: number; reason: string }[] = [];
  let applied = 0;
  const ids = new Map<string, number>();
  const names = [...new Set(rows.map((r) => r.change.meter))];
  for (let i = 0; i < names.length; i += 5_000) {
    const found = await database.db
      .selectFrom('meters')
      .select(['id', 'external_id'])
      .where('external_id', 'in', names.slice(i, i + 5_000))
      .execute();
    for (const f of found) ids.set(f.external_id, f.id);
  }
  for (const { index, change } of rows) {
    const meterId = ids.get(change.meter);
    if (meterId === undefined) {
      rejected.push({ index, reason: `meter "${change.meter}" is not registered: register it with PUT /v1/meters first` });
      continue;
    }
    try {
      await database.db.transaction().execute(async (trx) => {
        if (change.kind === 'exchange') {
          const refused = await exchangeDevice(trx, meterId, change.exchange);
          if (refused) throw new RowRefused(refused);
          return;
        }
        const { before } = await setDatedAttribute(trx, { meterId, attribute: change.attribute, date: change.date, value: change.value, by });
        if (change.expect && before !== change.expect.portfolio) {
          throw new RowRefused(`meter "${change.meter}" is not in portfolio "${change.expect.portfolio}" before ${change.date} (it is in ${before === null ? 'none' : `"${before}"`})`);
        }
      });
      applied++;
    } catch (err) {
      if (!(err instanceof RowRefused)) throw err;
      rejected.push({ index, reason: err.message });
    }
  }
  return { applied, rejected };
}
