import { readFileSync } from 'node:fs';
import { importEpiasPrices, type EpiasPriceKind } from '../adapters/market/epias-import.js';
import { EPIAS_TZ } from '../adapters/market/epias-csv.js';
import { AreaSchema, areaTimezone, CurrencySchema } from '../models/market.js';
import { formatInstant } from '../models/time.js';
import type { Database } from '../sql/database.js';
import { UsageError, type Io } from './io.js';

/**
 * `mdm import prices FILE.csv [--area TR] [--kind ptf|smf] [--currency TRY] [--confirm-zeros]`:
 * one EPİAŞ hourly price file into market_prices, the path of
 * `PUT /v1/market/prices` with text/csv (adapters/market/epias-import.ts).
 * Prints the counts on stdout, every issue (clock-change repeats, bad rows) by
 * line, and every hour whose zeros look unpublished (held as not yet published
 * unless --confirm-zeros).
 */
export async function importPricesCommand(database: Database, io: Io, file: string, v: { area?: string; kind?: string; currency?: string; confirmZeros?: boolean }): Promise<number> {
  const usage = 'mdm import prices FILE.csv [--area TR] [--kind ptf|smf] [--currency TRY] [--confirm-zeros]';
  if (v.kind !== undefined && v.kind !== 'ptf' && v.kind !== 'smf') throw new UsageError(`--kind must be ptf or smf, not "${v.kind}" (usage: ${usage})`, 'import prices');
  const area = AreaSchema.safeParse(v.area ?? 'TR');
  if (!area.success) throw new UsageError(`--area ${v.area}: ${area.error.issues[0].message} (usage: ${usage})`, 'import prices');
  if (v.currency !== undefined && !CurrencySchema.safeParse(v.currency).success) throw new UsageError(`--currency must be an ISO 4217 code such as TRY (usage: ${usage})`, 'import prices');
  const r = await importEpiasPrices(database, readFileSync(file), { area: area.data, kind: v.kind as EpiasPriceKind | undefined, currency: v.currency, confirmZeros: v.confirmZeros });
  const zeros = v.confirmZeros ? `${r.suspicious.length} suspicious zero hour(s) confirmed as real prices` : `${r.held} hour(s) held as not yet published`;
  io.out(
    `${file}: ${r.series} (${r.unit}) → ${r.kind} of area ${r.area} in ${r.currency}: ${r.lines.toLocaleString('en-US')} rows, ${r.stored.toLocaleString('en-US')} hours stored, ${r.issues.length} issue(s), ${zeros}\n`,
  );
  for (const i of r.issues) io.out(`  ${i.kind}: ${i.message}\n`);
  // The file's hours are Turkish local time (EPİAŞ); other areas print in their own zone.
  const tz = r.area === 'TR' ? EPIAS_TZ : areaTimezone(r.area);
  for (const h of r.suspicious) {
    const why = h.reason === 'smf_zero' ? `SMF is 0 while PTF is ${h.ptf}` : `every price of the hour is 0 (${h.columns.join(', ')})`;
    io.out(`  ${v.confirmZeros ? 'zero_confirmed' : 'unpublished'}: line ${h.line}: ${formatInstant(h.startMs, tz)} ${why}\n`);
  }
  if (r.held > 0) io.out(`  (${r.held} hour(s) read as unpriced until published; if these zeros are real prices, import again with --confirm-zeros)\n`);
  return 0;
}
