/**
 * POST /v1/readings/import as a browser form or `curl -F` sends it (issue 17:
 * "API upload with multipart"): the file in a multipart/form-data part, its
 * options as form fields or query parameters, the same import path as a
 * raw body. Real HTTP (fetch and FormData against the listening app).
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import ExcelJS from 'exceljs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MeterSchema } from '../models/meter.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

const WIDE_HOUR = readFileSync('test/fixtures/files/wide-hour-warsaw-dst.cp1250.csv');

describe.each(FLAVOURS)('POST /v1/readings/import with multipart/form-data (%s)', (flavour) => {
  let t: TestApp;
  let base: string;
  beforeAll(async () => {
    t = await testApp(flavour);
    await upsertMeters(t.database, [
      MeterSchema.parse({ id: 'Łódź-Bałuty-01', timezone: 'Europe/Warsaw', intervalMinutes: 60 }),
      MeterSchema.parse({ id: 'Kraków-Śródmieście-7', timezone: 'Europe/Warsaw', intervalMinutes: 60 }),
      MeterSchema.parse({ id: 'MP-1', timezone: 'Europe/Istanbul', intervalMinutes: 60 }),
    ]);
    await t.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(t.app.server.address() as AddressInfo).port}`;
  });
  afterAll(() => t?.close());

  const send = (form: FormData, query = '', role: 'gateway' | 'viewer' = 'gateway') =>
    fetch(`${base}/v1/readings/import${query}`, { method: 'POST', headers: { authorization: `Bearer ${t.keys[role]}` }, body: form });

  it('a wide-by-hour file with its options as form fields: dry run, then the import, as with a raw body', async () => {
    const form = () => {
      const f = new FormData();
      f.set('layout', 'wide-hour');
      f.set('timezone', 'Europe/Warsaw');
      f.set('encoding', 'windows-1250');
      f.set('file', new Blob([WIDE_HOUR], { type: 'text/csv' }), 'profile-2026-03.csv');
      return f;
    };
    const dry = await send(form(), '?dryRun=true');
    expect(dry.status, await dry.clone().text()).toBe(200);
    expect(await dry.json()).toMatchObject({ dryRun: true, records: 7, readings: 120, accepted: 120, rejected: 3 });
    const real = await send(form());
    expect(await real.json()).toMatchObject({ dryRun: false, accepted: 120, rejected: 3 });
    // the part's file name is kept with the rejects (their topic)
    const rejects = await t.app.inject({ method: 'GET', url: '/v1/rejects?limit=5', headers: t.auth('admin') });
    expect(rejects.json().rejects[0].topic).toBe('profile-2026-03.csv');
  });

  it('an xlsx part (by its .xlsx name), options in the query; a form without a file, bad options and a reader are refused', async () => {
    const wb = new ExcelJS.Workbook();
    const ws = wb.addWorksheet('data');
    ws.addRow(['datetime', 'kWh']);
    for (let h = 0; h < 24; h++) ws.addRow([`2026-01-05 ${String(h).padStart(2, '0')}:00`, 1.25]);
    const f = new FormData();
    f.set('file', new Blob([Buffer.from(await wb.xlsx.writeBuffer())], { type: 'application/octet-stream' }), 'MP-1 january.xlsx');
    const r = await send(f, '?layout=single&meter=MP-1&timezone=Europe/Istanbul');
    expect(r.status, await r.clone().text()).toBe(200);
    expect(await r.json()).toMatchObject({ readings: 24, accepted: 24, rejected: 0 });

    const noFile = new FormData();
    noFile.set('layout', 'single');
    const none = await send(noFile);
    expect(none.status).toBe(400);
    expect((await none.json()).message).toMatch(/without a file/);

    const bad = new FormData();
    bad.set('layout', 'sideways');
    bad.set('file', new Blob(['a,b\n'], { type: 'text/csv' }), 'x.csv');
    const badRes = await send(bad);
    expect(badRes.status).toBe(400);
    expect((await badRes.json()).message).toMatch(/layout/);

    const viewer = new FormData();
    viewer.set('file', new Blob(['a,b\n'], { type: 'text/csv' }), 'x.csv');
    expect((await send(viewer, '', 'viewer')).status).toBe(403);
  });
});
