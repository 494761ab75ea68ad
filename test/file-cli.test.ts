/**
 * `mdm import readings` with the file layouts (issue 17): the in-process
 * command on real databases (rejects file with file lines, dry run, a stored
 * preset's options under the flags), and one real `mdm` process on an
 * embedded data dir for the command line itself.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import ExcelJS from 'exceljs';
import { importMeters } from '../cli/import-meters.js';
import { fileImportOptions, importReadingsFile } from '../cli/import-readings.js';
import { wantsFileImport } from '../cli/import-readings-flags.js';
import type { Io } from '../cli/io.js';
import { MeterSchema } from '../models/meter.js';
import type { Database } from '../sql/database.js';
import { saveImportPreset, findImportPreset } from '../sql/import-preset.repository.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { FLAVOURS, freshDatabase, seedDataDir } from './helpers.js';

const WIDE_HOUR = fileURLToPath(new URL('fixtures/files/wide-hour-warsaw-dst.cp1250.csv', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/mdm.js', import.meta.url));

function captureIo(): Io & { outText: string; errText: string } {
  const io = { outText: '', errText: '', errIsTTY: false, now: () => 0, out: (t: string) => void (io.outText += t), err: (t: string) => void (io.errText += t) };
  return io;
}

describe('import readings flags', () => {
  it('select the file import path and become import options; bad ones are listed', () => {
    expect(wantsFileImport('a.csv', {})).toBe(false);
    expect(wantsFileImport('a.xlsx', {})).toBe(true);
    expect(wantsFileImport('a.csv', { layout: 'single' })).toBe(true);
    const o = fileImportOptions({ map: ['time=Tarih', 'value=3'], 'quality-map': ['E=estimated'], decimal: ',' }, { layout: 'single', meter: 'M', columns: { date: 'Gün' } });
    expect(o).toMatchObject({ layout: 'single', meter: 'M', decimal: ',', columns: { date: 'Gün', time: 'Tarih', value: '3' }, qualityMap: { E: 'estimated' } });
    expect(() => fileImportOptions({ layout: 'diagonal', timezone: 'Mars/Base' })).toThrow(/layout.*timezone|timezone.*layout/s);
    expect(() => fileImportOptions({ map: ['time'] })).toThrow(/--map "time": write NAME=VALUE/);
  });
});

describe.each(FLAVOURS)('mdm import readings, file layouts (%s)', (flavour) => {
  let database: Database;
  let dir: string;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
    dir = mkdtempSync(join(tmpdir(), 'mdm-file-cli-'));
    await upsertMeters(database, [
      MeterSchema.parse({ id: 'Łódź-Bałuty-01', timezone: 'Europe/Warsaw', intervalMinutes: 60 }),
      MeterSchema.parse({ id: 'Kraków-Śródmieście-7', timezone: 'Europe/Warsaw', intervalMinutes: 60 }),
    ]);
  });
  afterAll(async () => {
    await database?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a preset plus flags, a dry run, then the import: rejects written with their file lines', async () => {
    await saveImportPreset(database, { name: 'pl', options: { layout: 'wide-hour', encoding: 'windows-1250' }, createdBy: 'test' });
    const preset = (await findImportPreset(database, 'pl'))!.options as object;
    const options = fileImportOptions({ timezone: 'Europe/Warsaw' }, preset);
    const file = join(dir, 'profiles.csv');
    copyFileSync(WIDE_HOUR, file);
    const io = captureIo();
    const dry = await importReadingsFile(database, file, { io, rejectsPath: join(dir, 'profiles.rejects.csv'), options, dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, records: 7, accepted: 120, rejected: 3 });
    const count = async () =>
      Number(
        (
          await database.db
            .selectFrom('readings')
            .select((eb) => eb.fn.countAll<number>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    expect(await count()).toBe(0);
    const r = await importReadingsFile(database, file, { io, rejectsPath: join(dir, 'profiles.rejects.csv'), options });
    expect(r).toMatchObject({ accepted: 120, rejected: 3, rejectsPath: join(dir, 'profiles.rejects.csv') });
    expect(await count()).toBe(120);
    const rejects = readFileSync(join(dir, 'profiles.rejects.csv'), 'utf8').split('\n');
    expect(rejects[0]).toBe('line,reason,raw');
    expect(rejects.slice(1, 4).map((l) => l.split(',')[0])).toEqual(['6', '7', '8']);
    expect(rejects[2]).toContain('Kraków-Śródmieście-7;2026-03-30'); // the raw line, decoded from Windows-1250
    expect(io.errText).toMatch(/^line 8: date "2026-02-30" is not a date/m);
  });

  it('mdm import meters takes an xlsx as it is: rows checked one by one, rejects name the Excel row', async () => {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('Liczniki');
    ws.addRow(['id', 'timezone', 'intervalMinutes', 'supplyStart']);
    ws.addRow(['PL-X1', 'Europe/Warsaw', 15, new Date(Date.UTC(2026, 0, 1))]);
    ws.addRow(['PL-X2', 'Europe/Warszawa', 60, null]);
    ws.addRow(['PL-X3', 'Europe/Warsaw', 60, null]);
    const file = join(dir, 'meters.xlsx');
    await wb.xlsx.writeFile(file);
    const r = await importMeters(database, file, { io: captureIo(), rejectsPath: join(dir, 'meters.rejects.csv') });
    expect(r).toMatchObject({ rows: 3, created: 2, rejected: 1 });
    const rejects = readFileSync(join(dir, 'meters.rejects.csv'), 'utf8').split('\n');
    expect(rejects[1]).toMatch(/^3,"timezone: unknown IANA time zone/);
    const m = await database.db.selectFrom('meters').select(['external_id', 'interval_minutes']).where('external_id', '=', 'PL-X1').executeTakeFirstOrThrow();
    expect(m.interval_minutes).toBe(15);
  });

  it('a file whose header does not fit stops before anything is stored, naming the file', async () => {
    const file = join(dir, 'no-time.csv');
    writeFileSync(file, 'foo,M1\n1,2\n');
    const options = fileImportOptions({ layout: 'wide-meter', timezone: 'UTC' });
    await expect(importReadingsFile(database, file, { io: captureIo(), rejectsPath: join(dir, 'x.csv'), options })).rejects.toThrow(/no-time\.csv: header \(line 1\): no timestamp column/);
  });
});

describe('mdm import readings as a process', () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mdm-file-proc-'));
    mkdirSync(join(dir, 'data', 'pgdata'), { recursive: true });
    await seedDataDir('embedded', join(dir, 'data', 'pgdata'));
    writeFileSync(join(dir, 'meters.csv'), 'id,timezone,intervalMinutes\nŁódź-Bałuty-01,Europe/Warsaw,60\nKraków-Śródmieście-7,Europe/Warsaw,60\n');
    copyFileSync(WIDE_HOUR, join(dir, 'profiles.csv'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const mdm = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), MQTT_PORT: '0', LOG_LEVEL: 'warn', MDM_DATA_DIR: join(dir, 'data') };
      const p = spawn(process.execPath, ['--liftoff-only', BIN, ...args], { env, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d) => (stdout += d));
      p.stderr.on('data', (d) => (stderr += d));
      p.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  it('--layout wide-hour --dry-run prints what the import would do and stores nothing', async () => {
    expect((await mdm(['import', 'meters', 'meters.csv'])).code).toBe(0);
    const r = await mdm(['import', 'readings', 'profiles.csv', '--layout', 'wide-hour', '--timezone', 'Europe/Warsaw', '--encoding', 'windows-1250', '--dry-run']);
    expect(r.stderr).toMatch(/line 6: 2026-03-29 has 23 hours/);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/profiles\.csv: 7 rows/);
    expect(r.stdout).toMatch(/readings\s+120\n/);
    expect(r.stdout).toMatch(/accepted\s+120\n/);
    expect(r.stdout).toMatch(/rejected\s+3 /);
    expect(r.stdout).toMatch(/dry run: nothing was stored/);
    const bad = await mdm(['import', 'readings', 'profiles.csv', '--layout', 'wide-hour', '--preset', 'nope']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no import preset "nope"/);
  }, 180_000);
});
