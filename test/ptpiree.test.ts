/**
 * PTPiREE daily metering files (docs/import.md, "PTPiREE"): CRC-16/XMODEM
 * (check value of the CRC catalogue: "123456789" → 0x31C3), a written file
 * read back, the 23- and 25-hour days of Europe/Warsaw, a damaged file refused.
 */
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc16Xmodem, formatPtpiree, parsePtpiree, ptpireeRecords, PtpireeError } from '../adapters/file/ptpiree.js';
import { MeterSchema } from '../models/meter.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

const day = (date: string, n: number) =>
  formatPtpiree({
    ppe: '590310600000000001',
    date,
    channel: 'active_import',
    unit: 'kWh',
    intervalMinutes: 60,
    values: Array.from({ length: n }, (_, i) => ({ value: i === 2 ? null : 1 + i / 1000, quality: i === 5 ? ('estimated' as const) : ('measured' as const) })),
  });

async function records(bytes: Uint8Array, opts = {}) {
  const out = [];
  for await (const b of ptpireeRecords(Readable.from([Buffer.from(bytes)]), opts)) out.push(...b);
  return out;
}

describe('PTPiREE', () => {
  it('CRC-16/XMODEM has the catalogue check value', () => {
    expect(crc16Xmodem(new TextEncoder().encode('123456789'))).toBe(0x31c3);
    expect(crc16Xmodem(new Uint8Array())).toBe(0);
  });

  it('a written day reads back: six header lines, value,quality lines, CRLF, the checksum verified', () => {
    const bytes = day('2026-01-15', 24);
    const text = new TextDecoder('windows-1250').decode(bytes);
    expect(text.split('\r\n').slice(0, 8)).toEqual(['590310600000000001', '2026-01-15', 'active_import', 'kWh', '60', '24', '1.000,0', '1.001,0']);
    expect(text.split('\r\n')[8]).toBe('0.000,2'); // no value: 0.000 flagged missing
    const p = parsePtpiree(bytes);
    expect(p.values).toHaveLength(24);
    expect(p.checksum.stated).toBe(p.checksum.computed);
  });

  it('23 lines on the spring day and 25 on the autumn day of Europe/Warsaw; a 24-line spring day is refused', async () => {
    const spring = await records(day('2026-03-29', 23));
    expect(spring).toHaveLength(24); // header record + 23
    expect(spring[1].cells.slice(0, 2)).toEqual(['590310600000000001', '2026-03-28T23:00:00.000Z']);
    expect(spring[3].cells[1]).toBe('2026-03-29T01:00:00.000Z'); // 03:00 CEST: 02:00 does not exist
    expect(spring[3].line).toBe(9);
    const autumn = await records(day('2026-10-25', 25));
    expect(autumn.slice(3, 5).map((r) => r.cells[1])).toEqual(['2026-10-25T00:00:00.000Z', '2026-10-25T01:00:00.000Z']); // 02:00 CEST, 02:00 CET
    await expect(records(day('2026-03-29', 24))).rejects.toThrow(/2026-03-29 has 23 hours in Europe\/Warsaw: 23 hourly or 92 quarter-hour lines, but the file has 24/);
  });

  it('a changed value breaks the checksum: refused, unless verifyChecksum is false', async () => {
    const bytes = day('2026-01-15', 24);
    const i = new TextDecoder().decode(bytes).indexOf('1.001');
    const damaged = bytes.slice();
    damaged[i + 4] = '9'.charCodeAt(0);
    await expect(records(damaged)).rejects.toThrow(PtpireeError);
    await expect(records(damaged)).rejects.toThrow(/checksum [0-9A-F]{4} does not match the file's CRC-16\/XMODEM/);
    expect(await records(damaged, { verifyChecksum: false })).toHaveLength(25);
  });
});

describe.each(FLAVOURS)('PTPiREE export and import back (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
    await upsertMeters(t.database, [MeterSchema.parse({ id: '590310600000000042', timezone: 'Europe/Warsaw', intervalMinutes: 60 })]);
    // the spring DST day (23 hours) with one hour missing and one estimated
    const readings = Array.from({ length: 23 }, (_, i) => ({
      meter: '590310600000000042',
      channel: 'active_import',
      start: new Date(Date.UTC(2026, 2, 28, 23) + i * 3_600_000).toISOString(),
      value: 0.125 * (i + 1),
      ...(i === 7 ? { quality: 'estimated' } : {}),
    })).filter((_, i) => i !== 10);
    expect((await t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('gateway'), payload: { readings } })).json().accepted).toBe(22);
  });
  afterAll(() => t?.close());

  it('GET …/readings/ptpiree writes the 23-hour day with its checksum; imported back every stored value is unchanged', async () => {
    const r = await t.app.inject({ method: 'GET', url: '/v1/meters/590310600000000042/readings/ptpiree?date=2026-03-29', headers: t.auth('viewer') });
    expect(r.statusCode, r.body).toBe(200);
    const day = parsePtpiree(r.rawPayload);
    expect(day.values).toHaveLength(23);
    expect(day.checksum.stated).toBe(day.checksum.computed);
    expect(day.values[7]).toMatchObject({ value: '1.000', quality: '1' });
    expect(day.values[10]).toMatchObject({ value: '0.000', quality: '2' });
    const back = await t.app.inject({
      method: 'POST',
      url: '/v1/readings/import?layout=ptpiree&dryRun=true',
      headers: { ...t.auth('gateway'), 'content-type': 'application/octet-stream' },
      payload: r.rawPayload,
    });
    // 22 stored values unchanged; the missing hour would be added as a "missing" placeholder
    expect(back.json()).toMatchObject({ records: 23, unchanged: 22, accepted: 1, superseded: 0, rejected: 0 });
    const noMeter = await t.app.inject({ method: 'GET', url: '/v1/meters/nope/readings/ptpiree?date=2026-03-29', headers: t.auth('viewer') });
    expect(noMeter.statusCode).toBe(404);
  });
});
