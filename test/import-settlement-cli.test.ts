import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importSettlementFile } from '../cli/import-settlement.js';
import type { Io } from '../cli/io.js';
import { UsageError } from '../cli/io.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { parseMeterRows } from '../models/meter.js';
import type { Database } from '../sql/database.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

/** `mdm import settlement`: a Windows-1254 file on disk through the same import as PUT /v1/settlement. */
describe.each(FLAVOURS)('mdm import settlement (%s)', (flavour) => {
  let database: Database;
  const dir = mkdtempSync(join(tmpdir(), 'mdm-settlement-cli-'));
  const io: Io = { out: () => {}, err: () => {}, errIsTTY: false, now: () => Date.now() };
  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await upsertMeters(
      database,
      parseMeterRows([{ id: 'C1' }, { id: 'C2', multiplier: 2 }]).valid.map((v) => v.meter),
    );
  });
  afterAll(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads Turkish headers in Windows-1254, stores versions lowest first, and writes rejected lines with reasons', async () => {
    // "EIC;Tarih;Çekiş;Versiyon" with Ç = 0xC7 and ş = 0xFE; line 5 names an unknown meter, line 6 an hour outside the period.
    const body = [
      'EIC;Tarih;\u00c7eki\u015f;Versiyon',
      'C1;2026-01-01T00:00:00+03:00;1,5;2',
      'C1;2026-01-01T00:00:00+03:00;1,25;1',
      'C2;2026-01-01T01:00:00+03:00;4;1',
      'NOPE;2026-01-01T01:00:00+03:00;1;1',
      'C1;2026-02-01T00:00:00+03:00;1;1',
    ].join('\n');
    const bytes = Buffer.from([...body].map((ch) => (ch === '\u00c7' ? 0xc7 : ch === '\u015f' ? 0xfe : ch.charCodeAt(0))));
    expect(() => new TextDecoder('utf-8', { fatal: true }).decode(bytes)).toThrow(); // not UTF-8: the fallback is exercised
    const file = join(dir, 'uzlastirma.csv');
    writeFileSync(file, bytes);
    const rejectsPath = join(dir, 'uzlastirma.rejects.csv');

    const res = await importSettlementFile(database, file, { io, period: '2026-01', version: undefined, rejectsPath });
    expect(res.versions.map((v) => [v.version, v.stored, v.applied, v.heldByHigherVersion])).toEqual([
      [1, 2, 2, 0],
      [2, 1, 1, 0],
    ]);
    expect(res.rejected).toBe(2);
    const rejects = readFileSync(rejectsPath, 'utf8').trim().split('\n');
    expect(rejects[0]).toBe('line,reason,raw');
    expect(rejects.slice(1).map((l) => l.split(',')[0])).toEqual(['5', '6']);
    expect(rejects[1]).toMatch(/NOPE/);

    // Readings: version 2 wins at 00:00 for C1 (1.5); C2's 4 kWh is stored divided by its multiplier 2.
    const rows = await database.db.selectFrom('readings as r').innerJoin('meters as m', 'm.id', 'r.meter_id').select(['m.external_id as meter', 'r.value']).orderBy('meter').execute();
    expect(rows).toEqual([
      { meter: 'C1', value: 1.5 },
      { meter: 'C2', value: 2 },
    ]);
  });

  it('needs --period', async () => {
    await expect(importSettlementFile(database, join(dir, 'x.csv'), { io, period: undefined, version: undefined, rejectsPath: join(dir, 'r.csv') })).rejects.toBeInstanceOf(UsageError);
  });
});
