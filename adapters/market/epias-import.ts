import { MdmError } from '../../models/errors.js';
import { areaCurrency, upsertPrices, type SuspiciousHour } from '../../sql/market.repository.js';
import type { Database } from '../../sql/database.js';
import { parseEpiasCsv, type EpiasIssue } from './epias-csv.js';

/** Which price column an EPİAŞ file fills. */
export type EpiasPriceKind = 'ptf' | 'smf';

/** Units the EPİAŞ price files name in their header → ISO currency. */
const UNIT_CURRENCY: Record<string, string> = { 'TL/MWh': 'TRY', 'TRY/MWh': 'TRY', 'EUR/MWh': 'EUR', 'USD/MWh': 'USD' };

export interface EpiasImportResult {
  readonly area: string;
  readonly currency: string;
  readonly kind: EpiasPriceKind;
  /** Series name and unit from the header, e.g. PTF, TL/MWh. */
  readonly series: string;
  readonly unit: string;
  /** Data rows in the file (header excluded). */
  readonly lines: number;
  /** Hours stored (inserted or updated). */
  readonly stored: number;
  /** Rows not taken as they are (clock-change repeats, bad rows), by line. */
  readonly issues: EpiasIssue[];
  /** Hours whose zeros look unpublished (every price of the hour 0, or SMF 0 while PTF is not), with the file line. */
  readonly suspicious: (SuspiciousHour & { readonly line: number })[];
  /** How many of them are held as not yet published (0 with confirmZeros). */
  readonly held: number;
}

/**
 * Imports one EPİAŞ hourly price file (PTF or SMF, the format of the
 * transparency platform's CSV export; see adapters/market/epias-csv.ts) into
 * market_prices: the other columns of the hours stay as stored. The kind comes
 * from the header unless given; the currency from the header's unit.
 * The 2016-03-27 repeated 04:00 row is reported in `issues` and stored once.
 * Zeros that look unpublished (judged on each hour as it stands after the
 * write, with the other series already stored: sql/market.repository.ts
 * upsertPrices) are listed in `suspicious` and held as not yet published,
 * unless `confirmZeros` says they are real prices.
 * @example await importEpiasPrices(database, readFileSync('PTF-2016-2017.csv'), { area: 'TR' }) // { kind: 'ptf', stored: 17543, issues: [duplicate_hour …], suspicious: [{ line: 2069, columns: ['ptf'] …}, …] }
 */
export async function importEpiasPrices(database: Database, bytes: Uint8Array, o: { area: string; kind?: EpiasPriceKind; currency?: string; confirmZeros?: boolean }): Promise<EpiasImportResult> {
  const s = parseEpiasCsv(bytes);
  const named = s.name.trim().toLowerCase();
  const kind = o.kind ?? (named === 'ptf' || named === 'smf' ? named : undefined);
  if (!kind) {
    throw new MdmError('MDM_ERR_CSV_FORMAT', [`cannot tell whether the file holds PTF or SMF from its header "${s.name} (${s.unit})": give kind=ptf or kind=smf`]);
  }
  if ((named === 'ptf' || named === 'smf') && named !== kind) {
    throw new MdmError('MDM_ERR_CSV_FORMAT', [`kind=${kind} but the file's header says ${s.name}: import it as kind=${named}`]);
  }
  const fromUnit = UNIT_CURRENCY[s.unit];
  const currency = o.currency ?? fromUnit;
  if (!currency) throw new MdmError('MDM_ERR_CSV_FORMAT', [`unknown price unit "${s.unit}" in the header: give currency= (e.g. TRY)`]);
  if (fromUnit && fromUnit !== currency) throw new MdmError('MDM_ERR_CSV_FORMAT', [`currency=${currency} but the file's prices are in ${s.unit}`]);
  if (s.rows.length === 0) {
    throw new MdmError('MDM_ERR_INVALID_ROWS', [`no price row could be read (${s.issues.length} bad rows; first: ${s.issues[0]?.message ?? 'the file is empty'})`], {
      details: { issues: s.issues.slice(0, 100) },
    });
  }
  const stored = await areaCurrency(database, o.area);
  if (stored && stored !== currency) {
    throw new MdmError('MDM_ERR_CURRENCY_MISMATCH', [`area ${o.area} has prices in ${stored}; these are in ${currency}: one currency per area`]);
  }
  const w = await upsertPrices(database, {
    area: o.area,
    currency,
    source: `epias-csv:${kind}`,
    rows: s.rows.map((r) => (kind === 'ptf' ? { startMs: r.startMs, ptf: r.value } : { startMs: r.startMs, smf: r.value })),
    confirmZeros: o.confirmZeros,
  });
  const lineOf = new Map(s.rows.map((r) => [r.startMs, r.line]));
  const suspicious = w.suspicious.map((h) => ({ ...h, line: lineOf.get(h.startMs)! }));
  return { area: o.area, currency, kind, series: s.name, unit: s.unit, lines: s.rows.length + s.issues.length, stored: w.stored, issues: s.issues, suspicious, held: w.held };
}
