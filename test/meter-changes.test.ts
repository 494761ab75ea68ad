import ExcelJS from 'exceljs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importMeterChanges } from '../cli/import-meter-changes.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

describe.each(FLAVOURS)('metering points over time: attributes, devices, bulk changes (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
    const res = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [
        { id: 'PT-1', portfolio: 'OLD', timezone: 'Europe/Istanbul', registerDigits: 6 },
        { id: 'PT-2', timezone: 'Europe/Warsaw' },
        { id: 'PT-3', portfolio: 'P', group: 'G' },
      ],
    });
    expect(res.json()).toMatchObject({ created: 3, rejected: [] });
  });
  afterAll(() => t?.close());

  const get = (url: string) => t.app.inject({ method: 'GET', url, headers: t.auth('admin') });
  const post = (url: string, payload: unknown, headers: Record<string, string> = {}) => t.app.inject({ method: 'POST', url, headers: { ...t.auth('admin'), ...headers }, payload: payload as string });

  it('a registered meter is a point with one open device and one version of each attribute since always', async () => {
    const d = await get('/v1/meters/PT-1/devices');
    expect(d.statusCode).toBe(200);
    expect(d.json().devices).toEqual([{ serial: 'PT-1', make: null, model: null, registerDigits: 6, multiplier: null, installedFrom: null, installedTo: null, initialRead: null, finalRead: null }]);
    const a = await get('/v1/meters/PT-1/attributes');
    const byName = Object.fromEntries(a.json().versions.map((v: { attribute: string; value: unknown; validFrom: unknown }) => [v.attribute, [v.validFrom, v.value]]));
    expect(byName).toEqual({
      portfolio: [null, 'OLD'],
      tariff: [null, 'single'],
      multiplier: [null, 1],
      profileClass: [null, null],
      supplyStart: [null, null],
      supplyEnd: [null, null],
    });
  });

  it('applies the switching list row by row: joins, leaves, dated sets, exchanges; bad rows rejected with their reason', async () => {
    const res = await post('/v1/meters/changes', {
      changes: [
        { action: 'leave', meter: 'PT-1', portfolio: 'OLD', date: '2027-03-01' },
        { action: 'join', meter: 'PT-2', portfolio: 'P', date: '2027-03-01' },
        { action: 'leave', meter: 'PT-3', portfolio: 'NOT-THIS', date: '2027-03-01' },
        { action: 'join', meter: 'NOPE', portfolio: 'P', date: '2027-03-01' },
        { action: 'set', meter: 'PT-1', attribute: 'multiplier', value: 40, date: '2027-03-16' },
        { action: 'set', meter: 'PT-1', attribute: 'tariff', value: 'nine-time', date: '2027-03-16' },
        { action: 'exchange', meter: 'PT-1', at: '2027-03-10T09:00:00Z', finalRead: 5123.5, initialRead: 0, device: { serial: 'NEW-1', make: 'Makel', registerDigits: 8 } },
        { action: 'join', meter: 'PT-2', date: '2027-03-01' },
      ],
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.applied).toBe(4);
    expect(body.rejected.map((r: { index: number }) => r.index)).toEqual([2, 3, 5, 7]);
    expect(body.rejected[0].reason).toContain('not in portfolio "NOT-THIS"');
    expect(body.rejected[1].reason).toContain('not registered');
    expect(body.rejected[2].reason).toContain('tariff');
    expect(body.rejected[3].reason).toContain('portfolio');
    // The columns hold the newest version; the refused leave changed nothing.
    expect((await get('/v1/meters/PT-1')).json()).toMatchObject({ portfolio: null, multiplier: 40, registerDigits: 8 });
    expect((await get('/v1/meters/PT-2')).json()).toMatchObject({ portfolio: 'P' });
    expect((await get('/v1/meters/PT-3')).json()).toMatchObject({ portfolio: 'P' });
    const devices = (await get('/v1/meters/PT-1/devices')).json().devices;
    expect(devices.map((d: { serial: string; installedTo: string | null; finalRead: number | null; installedFrom: string | null }) => [d.serial, d.installedFrom, d.installedTo, d.finalRead])).toEqual(
      [
        ['PT-1', null, '2027-03-10T09:00:00.000Z', 5123.5],
        ['NEW-1', '2027-03-10T09:00:00.000Z', null, null],
      ],
    );
    const versions = (await get('/v1/meters/PT-1/attributes')).json().versions.filter((v: { attribute: string }) => v.attribute === 'multiplier');
    expect(versions.map((v: { validFrom: string | null; validTo: string | null; value: number }) => [v.validFrom, v.validTo, v.value])).toEqual([
      [null, '2027-03-16', 1],
      ['2027-03-16', null, 40],
    ]);
  });

  it('an exchange not after the installed device is refused (409) and changes nothing', async () => {
    const res = await post('/v1/meters/PT-1/exchanges', { at: '2027-03-05T00:00:00Z', finalRead: 1, device: { serial: 'X' } });
    expect(res.statusCode).toBe(409);
    expect(res.json().message).toContain('not after the installation of device "NEW-1"');
    expect((await get('/v1/meters/PT-1/devices')).json().devices).toHaveLength(2);
  });

  it('takes the list as CSV, reporting rows by line', async () => {
    const csv = ['action;meter;date;portfolio;attribute;value', 'join;PT-3;2027-04-01;Q;;', 'set;PT-3;2027-04-01;;profileClass;residential', 'set;PT-3;x;;tariff;single', 'hop;PT-3;;;;'].join('\n');
    const res = await post('/v1/meters/changes', csv, { 'content-type': 'text/csv' });
    expect(res.statusCode).toBe(200);
    expect(res.json().applied).toBe(2);
    expect(res.json().rejected.map((r: { index: number }) => r.index)).toEqual([4, 5]);
    expect((await get('/v1/meters/PT-3')).json()).toMatchObject({ portfolio: 'Q', profileClass: 'residential' });
  });

  it('a PUT of the meter changes the newest version; asOf shows the registry as it was', async () => {
    const before = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 5));
    const res = await t.app.inject({ method: 'PUT', url: '/v1/meters', headers: t.auth('admin'), payload: [{ id: 'PT-2', timezone: 'Europe/Warsaw', portfolio: 'P2' }] });
    expect(res.json()).toMatchObject({ updated: 1 });
    const now = (await get('/v1/meters/PT-2/attributes')).json().versions.filter((v: { attribute: string }) => v.attribute === 'portfolio');
    expect(now.map((v: { validFrom: string | null; value: unknown }) => [v.validFrom, v.value])).toEqual([
      [null, null],
      ['2027-03-01', 'P2'],
    ]);
    const then = (await get(`/v1/meters/PT-2/attributes?asOf=${encodeURIComponent(before)}`)).json().versions.filter((v: { attribute: string }) => v.attribute === 'portfolio');
    expect(then.map((v: { validFrom: string | null; value: unknown }) => [v.validFrom, v.value])).toEqual([
      [null, null],
      ['2027-03-01', 'P'],
    ]);
  });

  it('mdm import meter-changes applies a file line by line and writes the refused lines with their reason', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mdm-changes-'));
    try {
      const file = join(dir, 'switching.csv');
      await writeFile(
        file,
        'action,meter,date,portfolio,at,finalRead,serial,registerDigits\nleave,PT-3,2027-05-01,,,,,\njoin,PT-1,2027-05-01,R,,,,\nexchange,PT-3,,,2027-05-02T00:00:00Z,"12,5",S-9,7\njoin,GHOST,2027-05-01,R,,,,\n',
      );
      const io = { out: () => {}, err: () => {}, errIsTTY: false, now: () => 0 };
      const r = await importMeterChanges(t.database, file, { io, rejectsPath: join(dir, 'rejects.csv') });
      expect(r).toMatchObject({ rows: 4, applied: 3, rejected: 1 });
      expect(await readFile(join(dir, 'rejects.csv'), 'utf8')).toContain('GHOST');
      expect((await get('/v1/meters/PT-1')).json()).toMatchObject({ portfolio: 'R' });
      expect((await get('/v1/meters/PT-3')).json()).toMatchObject({ portfolio: null, registerDigits: 7 });
      const devices = (await get('/v1/meters/PT-3/devices')).json().devices;
      expect(devices.map((d: { serial: string; finalRead: number | null }) => [d.serial, d.finalRead])).toEqual([
        ['PT-3', 12.5],
        ['S-9', null],
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('mdm import meter-changes takes the switching list as an Excel workbook (date cells as dates), rejects naming the Excel row', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mdm-changes-'));
    try {
      const wb = new ExcelJS.Workbook();
      const ws = wb.addWorksheet('Switching');
      ws.addRow(['action', 'meter', 'date', 'portfolio']);
      ws.addRow(['join', 'PT-2', new Date(Date.UTC(2027, 6, 1)), 'X']);
      ws.addRow(['join', 'GHOST', new Date(Date.UTC(2027, 6, 1)), 'X']);
      const file = join(dir, 'switching.xlsx');
      await wb.xlsx.writeFile(file);
      const io = { out: () => {}, err: () => {}, errIsTTY: false, now: () => 0 };
      const r = await importMeterChanges(t.database, file, { io, rejectsPath: join(dir, 'rejects.csv') });
      expect(r).toMatchObject({ rows: 2, applied: 1, rejected: 1 });
      expect((await readFile(join(dir, 'rejects.csv'), 'utf8')).split('\n')[1]).toMatch(/^3,.*GHOST/);
      const versions = (await get('/v1/meters/PT-2/attributes')).json().versions.filter((v: { attribute: string }) => v.attribute === 'portfolio');
      expect(versions.at(-1)).toMatchObject({ validFrom: '2027-07-01', value: 'X' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a body that is not a change list, and an unknown meter', async () => {
    expect((await post('/v1/meters/changes', { rows: [] })).statusCode).toBe(400);
    expect((await get('/v1/meters/NOPE/devices')).statusCode).toBe(404);
    expect((await post('/v1/meters/PT-1/attributes', { attribute: 'multiplier', value: -1, date: '2027-05-01' })).statusCode).toBe(400);
  });
});
