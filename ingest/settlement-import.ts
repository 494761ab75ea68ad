import { channelDef } from '../models/channel.js';
import { checkSettlementRows, type CheckedSettlementRow, type SettlementImportResult } from '../models/settlement.js';
import type { Database } from '../sql/database.js';
import { recordDeadLetters, type DeadLetter } from '../sql/dead-letter.repository.js';
import { findSettlementMeters, loadCurrentValues, markSettlementApplied, storeSettlementRows } from '../sql/settlement.repository.js';
import { meterIdsOf } from './normalize.js';
import type { IngestListeners } from './ingest-listeners.js';
import { ingestReadings } from './pipeline.js';
import { HOUR_MS } from '../models/time.js';
import { safeJson } from '../models/input-bounds.js';

export interface SettlementImport {
  readonly period: string;
  readonly version: number;
  readonly rows: readonly unknown[];
  /** Key name (API) or `cli`. */
  readonly principal: string | null;
  /** Where the rows came from: `api`, `api:csv`, `file:NAME.csv`. Stored with every row and as the dead-letter topic. */
  readonly origin: string;
  /** Added to reported row indexes (CSV line numbers). */
  readonly indexOffset?: number;
  /** Per row: its index as reported, when rows are not consecutive (CSV lines grouped by version). */
  readonly indexOf?: readonly number[];
  /** What runs after the readings are written (alarm rules; ingestReadings). */
  readonly listeners?: IngestListeners;
}

const IMPORT = channelDef('active_import');
const EXPORT = channelDef('active_export');

/**
 * Imports one settlement version of a period (docs/settlement.md):
 * 1. checks each row (models/settlement.ts checkSettlementRows);
 * 2. stores every row in settlement_rows, never overwriting (same version,
 *    other figures → reject: corrections come as a higher version);
 * 3. writes the hours no higher version holds into readings through the one
 *    ingest path (ingestReadings, transport and source `settlement`, quality
 *    `validated`), so the measured value moves to reading_history and billing
 *    (rollup marked dirty by the write) reports the settled figure. Values
 *    are divided by the meter multiplier (readings are stored before it);
 *    on 15/30-minute meters the hour is split over its intervals in
 *    proportion to their current values (equally when they sum to 0 or are
 *    absent). A lower version arriving after a higher one is stored only.
 * Rejected rows are dead-lettered (transport `settlement`).
 */
export async function importSettlement(database: Database, p: SettlementImport): Promise<SettlementImportResult> {
  const at = (i: number) => p.indexOf?.[i] ?? i + (p.indexOffset ?? 0);
  const meters = await findSettlementMeters(database, meterIdsOf(p.rows));
  const checked = checkSettlementRows(p.period, p.rows, meters);
  const rejected: { index: number; reason: string; meter: string | null }[] = [...checked.rejected];

  const outcome = await storeSettlementRows(database, { period: p.period, version: p.version, rows: checked.rows, importedBy: p.principal, origin: p.origin });
  for (const c of outcome.conflicts) {
    rejected.push({
      index: c.row.index,
      meter: c.row.meter.externalId,
      reason: `version ${p.version} already holds this hour with withdrawal ${c.stored.withdrawal}${c.stored.supply !== null ? `, supply ${c.stored.supply}` : ''}: a stored version never changes; send the correction as version ${p.version + 1} or higher`,
    });
  }
  const own = [...rejected];
  const apply: CheckedSettlementRow[] = [];
  let held = 0;
  for (const r of [...outcome.stored, ...outcome.unchanged]) {
    if ((outcome.newest.get(`${r.meter.id}|${r.startMs}`) ?? p.version) > p.version) held++;
    else apply.push(r);
  }

  const readings = { accepted: 0, unchanged: 0, superseded: 0 };
  if (apply.length) {
    const raw = await readingRows(database, apply);
    const res = await ingestReadings(database, raw.rows, { transport: 'settlement', principal: p.principal, topic: p.origin, detail: `settlement ${p.period} v${p.version}`, listeners: p.listeners });
    readings.accepted = res.accepted;
    readings.unchanged = res.unchanged;
    readings.superseded = res.superseded;
    // Rows the pipeline refuses (none expected: the rows were checked) are reported against their settlement row.
    const failed = new Set<number>();
    for (const r of res.rejected) {
      const row = apply[raw.origin[r.index]];
      failed.add(row.index);
      rejected.push({ index: row.index, meter: row.meter.externalId, reason: `not written into readings: ${r.reason}` });
    }
    await markSettlementApplied(database, {
      period: p.period,
      version: p.version,
      batchId: res.batchId,
      keys: apply.filter((r) => !failed.has(r.index)).map((r) => ({ meterId: r.meter.id, startMs: r.startMs })),
    });
  }

  // The pipeline dead-letters its own rejects; these are the ones it never saw.
  const letters: DeadLetter[] = own.map((r) => ({
    rowIndex: at(r.index),
    meter: r.meter,
    payload: safeJson(p.rows[r.index]),
    reason: r.reason,
  }));
  await recordDeadLetters(database, { transport: 'settlement', principal: p.principal, topic: p.origin }, letters);
  return {
    period: p.period,
    version: p.version,
    stored: outcome.stored.length,
    unchanged: outcome.unchanged.length,
    applied: apply.length,
    heldByHigherVersion: held,
    readings,
    rejected: rejected.map((r) => ({ index: at(r.index), reason: r.reason })).sort((a, b) => a.index - b.index),
  };
}

/**
 * Settlement hours → raw reading rows for ingestReadings (withdrawal on
 * active_import, supply on active_export), with `origin[i]` = position in
 * `apply` of the settlement row reading row i came from.
 */
async function readingRows(database: Database, apply: readonly CheckedSettlementRow[]): Promise<{ rows: Record<string, unknown>[]; origin: number[] }> {
  const sub = apply.filter((r) => r.meter.intervalMinutes < 60);
  const shape = new Map<string, number>(); // meterId|channel|startMs → current value
  if (sub.length) {
    const ids = [...new Set(sub.map((r) => r.meter.id))];
    const from = new Date(Math.min(...sub.map((r) => r.startMs)));
    const to = new Date(Math.max(...sub.map((r) => r.startMs)) + HOUR_MS);
    for (const ch of [IMPORT, EXPORT]) {
      for (const v of await loadCurrentValues(database, { meterIds: ids, channel: ch.code, from, to })) shape.set(`${v.meterId}|${ch.code}|${v.startMs}`, v.value);
    }
  }
  const rows: Record<string, unknown>[] = [];
  const origin: number[] = [];
  apply.forEach((r, i) => {
    const parts: [typeof IMPORT, number][] = [[IMPORT, r.withdrawal]];
    if (r.supply !== null) parts.push([EXPORT, r.supply]);
    for (const [ch, kWh] of parts) {
      const value = kWh / r.meter.multiplier;
      const n = 60 / r.meter.intervalMinutes;
      if (n === 1) {
        rows.push({ meter: r.meter.externalId, channel: ch.name, start: new Date(r.startMs).toISOString(), value, quality: 'validated', source: 'settlement', intervalMinutes: 60 });
        origin.push(i);
        continue;
      }
      const step = r.meter.intervalMinutes * 60_000;
      const cur = Array.from({ length: n }, (_, k) => shape.get(`${r.meter.id}|${ch.code}|${r.startMs + k * step}`) ?? 0);
      const sum = cur.reduce((a, b) => a + b, 0);
      for (let k = 0; k < n; k++) {
        const share = sum > 0 && cur.every((c) => c >= 0) ? cur[k] / sum : 1 / n;
        rows.push({ meter: r.meter.externalId, channel: ch.name, start: new Date(r.startMs + k * step).toISOString(), value: value * share, quality: 'validated', source: 'settlement' });
        origin.push(i);
      }
    }
  });
  return { rows, origin };
}
