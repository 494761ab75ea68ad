import { csvField } from '../models/csv-format.js';
import type { BillingFigures } from './figures.js';

/**
 * Billing figures as CSV (RFC 4180): one row per meter, TOU buckets as
 * columns (the union over the meters, empty for single-rate meters), reasons
 * as their codes joined by ";"; with a gas, water or heat meter in the set also
 * commodity, volume (m³), volumeBase (gas Vb, m³) and energy (gas, heat: kWh). Pure.
 */
const field = (v: unknown): string => (v === null || v === undefined ? '' : csvField(String(v)));

/** Billing figures as a table: the header and one row per meter (numbers as numbers; null where a figure has no value). Pure. */
export function billingTable(figures: readonly BillingFigures[]): { header: string[]; rows: (string | number | boolean | null)[][] } {
  const buckets: string[] = [];
  for (const f of figures) for (const b of Object.keys(f.tou ?? {})) if (!buckets.includes(b)) buckets.push(b);
  const others = figures.some((f) => f.commodity !== undefined);
  const header = [
    'meter',
    'activeImport',
    'activeExport',
    'reactiveInductive',
    'reactiveCapacitive',
    'inductiveRatio',
    'capacitiveRatio',
    ...buckets,
    'maxDemandKw',
    'maxDemandAt',
    'estimatedShare',
    'completeness',
    'billable',
    'reasons',
    'dataVersion',
    // Columns of other commodities, only when the selection holds such a meter (electricity files keep their columns).
    ...(others ? ['commodity', 'volume', 'volumeBase', 'energy'] : []),
  ];
  const rows = figures.map((f) =>
    [
      f.meter,
      f.activeImport,
      f.activeExport,
      f.reactiveInductive,
      f.reactiveCapacitive,
      f.inductiveRatio,
      f.capacitiveRatio,
      ...buckets.map((b) => f.tou?.[b]),
      f.maxDemand?.kw,
      f.maxDemand?.at,
      f.estimatedShare,
      f.completeness,
      f.billable,
      f.reasons.map((r) => r.code).join(';'),
      f.dataVersion,
      ...(others ? [f.commodity ?? 'electricity', f.volume, f.gas?.volumeBase, f.gas?.energy ?? f.heat?.energy] : []),
    ].map((v) => (v === undefined ? null : v)),
  );
  return { header, rows };
}

export function billingCsv(figures: readonly BillingFigures[]): string {
  const { header, rows } = billingTable(figures);
  const lines = [header.join(',')];
  for (const row of rows) lines.push(row.map(field).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
