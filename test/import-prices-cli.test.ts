import { sql } from 'kysely';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importPricesCommand } from '../cli/import-prices.js';
import { UsageError, type Io } from '../cli/io.js';
import { parseCommandLine } from '../cli/main.js';
import type { Database } from '../sql/database.js';
import { freshDatabase } from './helpers.js';

/**
 * `mdm import prices`: the EPİAŞ SMF file as published (an excerpt: 27–28 March 2016, test/fixtures/data/README.md)
 * through the CLI's import path (the same as PUT /v1/market/prices text/csv).
 */
const SMF = fileURLToPath(new URL('./fixtures/data/epias-2016-2017/SMF-2016-2017.csv', import.meta.url));

describe('mdm import prices', () => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase('embedded');
  });
  afterAll(() => database?.close());

  const capture = () => {
    let out = '';
    const io: Io = { out: (t) => void (out += t), err: () => {}, errIsTTY: false, now: () => Date.now() };
    return { io, out: () => out };
  };

  it('parses its options', () => {
    expect(parseCommandLine(['import', 'prices', 'SMF.csv', '--area', 'TR', '--kind', 'smf'])).toEqual({ command: 'import prices', values: { area: 'TR', kind: 'smf' }, args: ['SMF.csv'] });
    expect(parseCommandLine(['import', 'prices', 'SMF.csv', '--confirm-zeros'])).toEqual({ command: 'import prices', values: { 'confirm-zeros': true }, args: ['SMF.csv'] });
    expect(() => parseCommandLine(['import', 'prices'])).toThrow(/missing FILE.csv/);
  });

  it('imports the file: 48 rows, 47 hours, the 2016-03-27 repeat reported by line', async () => {
    const c = capture();
    expect(await importPricesCommand(database, c.io, SMF, { kind: 'smf' })).toBe(0);
    const lines = c.out().trim().split('\n');
    // 8 hours of SMF 0 (27 March 04:00 and 06:00–09:00, 28 March 02:00–04:00; no PTF stored here: every price of the hour 0)
    // are held as not yet published (issue 12, defect 4).
    expect(lines[0]).toBe(`${SMF}: SMF (TL/MWh) → smf of area TR in TRY: 48 rows, 47 hours stored, 1 issue(s), 8 hour(s) held as not yet published`);
    expect(lines[1]).toMatch(/^ {2}duplicate_hour: line 6: 2016-03-27 04:00 repeats line 5/);
    expect(lines.filter((l) => l.startsWith('  unpublished: '))).toHaveLength(8);
    expect(lines).toContain('  unpublished: line 5: 2016-03-27T04:00:00+03:00 every price of the hour is 0 (smf)');
    expect(lines.at(-1)).toBe('  (8 hour(s) read as unpriced until published; if these zeros are real prices, import again with --confirm-zeros)');
    const [held] = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM market_prices WHERE area = 'TR' AND unpublished = '{smf}'`.execute(database.db)).rows;
    expect(held.n).toBe(8);
    const confirmed = capture();
    expect(await importPricesCommand(database, confirmed.io, SMF, { kind: 'smf', confirmZeros: true })).toBe(0);
    expect(confirmed.out().split('\n')[0]).toMatch(/1 issue\(s\), 8 suspicious zero hour\(s\) confirmed as real prices$/);
    expect(confirmed.out()).toContain('  zero_confirmed: line 5: 2016-03-27T04:00:00+03:00 every price of the hour is 0 (smf)');
    const [none] = (await sql<{ n: number }>`SELECT count(*)::int AS n FROM market_prices WHERE area = 'TR' AND unpublished IS NOT NULL`.execute(database.db)).rows;
    expect(none.n).toBe(0);
    // The last line, "28/03/2016","23:00","205,00" (UTC+3).
    const [row] = (
      await sql<{ n: number; smf: number }>`SELECT count(*)::int AS n, min(smf) FILTER (WHERE start = '2016-03-28T20:00:00Z') AS smf FROM market_prices WHERE area = 'TR'`.execute(database.db)
    ).rows;
    expect(row).toEqual({ n: 47, smf: 205 });
    await expect(importPricesCommand(database, c.io, SMF, { kind: 'xyz' })).rejects.toBeInstanceOf(UsageError);
    await expect(importPricesCommand(database, c.io, SMF, { kind: 'ptf' })).rejects.toThrow(/header says SMF: import it as kind=smf/);
  });
});
