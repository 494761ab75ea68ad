import { computeMeterFigures, type FigureWindow, type MeterFigureRow, type MeterSelector } from '../sql/billing.repository.js';
import type { Database } from '../sql/database.js';
import { billingFigures, type BillingFigures, type ReadinessParams } from './figures.js';

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
  const { rows, dataVersion, plan } = await computeMeterFigures(database, { selector: q.selector, window: q.window, asOf: q.asOf, until: q.until });
  const version = dataVersion.toISOString();
  const figures = rows.map((r) => billingFigures(r, { touBuckets: plan.bucketsByTariff.get(r.tariff), dataVersion: version, readiness: q.readiness, now: q.now }));
  return { dataVersion: version, rows, figures };
}
