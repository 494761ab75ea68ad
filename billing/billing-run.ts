import { MdmError } from '../models/errors.js';
import { bisect, failureMessage } from '../models/failing-items.js';
import { computeMeterFigures, selectedMeters, type FigureWindow, type MeterFigureRow, type MeterSelector } from '../sql/billing.repository.js';
import type { Database } from '../sql/database.js';
import { isUnavailable } from '../sql/db-errors.js';
import { billingFigures, type BillingFigures, type ReadinessParams } from './figures.js';
import { combineParts, type PartedRow } from './parts.js';

/**
 * One billing computation: the set-based figure query (TOU plan, rollup and
 * readings from one snapshot), then figures and readiness reasons per meter.
 * Used by the consumption, completeness and readiness routes, the period
 * close and the periodic readiness run.
 */
export interface BillingRun {
  /** ISO-8601 instant of the newest batch the figures include: `asOf=<dataVersion>` reproduces them. */
  readonly dataVersion: string;
  readonly rows: readonly MeterFigureRow[];
  /** Same order as rows (by external meter id). */
  readonly figures: readonly BillingFigures[];
}

export interface BillingRunQuery {
  readonly selector: MeterSelector;
  readonly window: FigureWindow;
  readonly asOf?: Date;
  /** Clip windows at this instant (readiness of a period in progress). */
  readonly until?: Date;
  readonly readiness: ReadinessParams;
  readonly now: number;
}

export async function runBilling(database: Database, q: BillingRunQuery): Promise<BillingRun> {
  const stored = await computeMeterFigures(database, { selector: q.selector, window: q.window, asOf: q.asOf, until: q.until });
  const { dataVersion, plan, commodity, parts } = stored;
  // Meters whose multiplier or tariff changes in the window (dated attributes): their parts added up (billing/parts.ts); the rest as stored.
  const rows: PartedRow[] = parts.size === 0 ? stored.rows : stored.rows.map((r) => (parts.has(r.meterId) ? combineParts(r, parts.get(r.meterId)!, plan) : r));
  const version = dataVersion.toISOString();
  const figures = rows.map((r) => {
    const f = billingFigures(r, { touBuckets: plan.bucketsByTariff.get(r.tariff), dataVersion: version, readiness: q.readiness, now: q.now, commodity });
    return r.parts === undefined ? f : { ...f, parts: r.parts };
  });
  return { dataVersion: version, rows, figures };
}

/**
 * runBilling for the API: when the stored data of some meters cannot be
 * turned into figures (e.g. a value stored before the ingest bounds that
 * overflows the energy sum), the selected meters are split in halves until
 * those meters are found, and the request is answered 422 naming them and
 * the reason, instead of a 500 without one (issue 11). A billing engine can
 * then leave them out (`meters=`) or have the data corrected.
 */
export async function runBillingForRequest(database: Database, q: BillingRunQuery): Promise<BillingRun> {
  try {
    return await runBilling(database, q);
  } catch (err) {
    if (isUnavailable(err)) throw err;
    const failed: { meter: string; error: string }[] = [];
    await bisect(await selectedMeters(database, q.selector, q.window, q.asOf), err, (part) => runBilling(database, { ...q, selector: { meters: part } }), {
      isolable: (e) => !isUnavailable(e),
      onFail: (meter, e) => void failed.push({ meter, error: failureMessage(e) }),
    });
    if (failed.length === 0) throw err; // not a meter's data after all
    const named = failed
      .slice(0, 5)
      .map((f) => `"${f.meter}" (${f.error})`)
      .join(', ');
    throw new MdmError('MDM_ERR_UNPROCESSABLE', [
      `billing figures cannot be computed from the stored data of ${failed.length} meter(s): ${named}${failed.length > 5 ? ', …' : ''}; correct their readings (POST /v1/meters/{id}/edits) or leave them out of the selection`,
    ]);
  }
}
