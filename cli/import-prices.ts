import { readFileSync } from 'node:fs';
import { importEpiasPrices, type EpiasPriceKind } from '../adapters/market/epias-import.js';
import { AreaSchema, CurrencySchema } from '../models/market.js';
import type { Database } from '../sql/database.js';
import { UsageError, type Io } from './io.js';

/**
 * `mdm import prices FILE.csv [--area TR] [--kind ptf|smf] [--currency TRY]`:
 * one EPİAŞ hourly price file into market_prices, the path of
 * `PUT /v1/market/prices` with text/csv (adapters/market/epias-import.ts).
 * Prints the counts on stdout and every issue (clock-change repeats, bad rows) by line.
 */
export async function importPricesCommand(database: Database, io: Io, file: string, v: { area?: string; kind?: string; currency?: string }): Promise<number> {
  const usage = 'mdm import prices FILE.csv [--area TR] [--kind ptf|smf] [--currency TRY]';
  if (v.kind !== undefined && v.kind !== 'ptf' && v.kind !== 'smf') throw new UsageError(`--kind must be ptf or smf, not "${v.kind}" (usage: ${usage})`, 'import prices');
  const area = AreaSchema.safeParse(v.area ?? 'TR');
  if (!area.success) throw new UsageError(`--area ${v.area}: ${area.error.issues[0].message} (usage: ${usage})`, 'import prices');
  if (v.currency !== undefined && !CurrencySchema.safeParse(v.currency).success) throw new UsageError(`--currency must be an ISO 4217 code such as TRY (usage: ${usage})`, 'import prices');
  const r = await importEpiasPrices(database, readFileSync(file), { area: area.data, kind: v.kind as EpiasPriceKind | undefined, currency: v.currency });
  io.out(`${file}: ${r.series} (${r.unit}) → ${r.kind} of area ${r.area} in ${r.currency}: ${r.lines.toLocaleString('en-US')} rows, ${r.stored.toLocaleString('en-US')} hours stored, ${r.issues.length} issue(s)\n`);
  for (const i of r.issues) io.out(`  ${i.kind}: ${i.message}\n`);
  return 0;
}
