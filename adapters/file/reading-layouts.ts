/**
 * The layouts readings files come in → raw reading rows for the ingest
 * pipeline (ingest/pipeline.ts, which still checks meters, channels, bounds):
 *
 * - long: one row per meter × interval (`meter,channel,start,value[,quality]`);
 * - wide-meter: a time column and one column per meter (the header names the
 *   meter, or `meters` maps it);
 * - wide-hour: one row per meter × local day, 24 value columns (23 / 25 on DST
 *   days) or 96 (92 / 100) quarter-hours, or 48 half-hours: the Turkish OSOS
 *   export and the Polish daily profile shape. Column k is the k-th interval
 *   counted from local midnight, so the repeated and the missing hour need no
 *   labels;
 * - single: `datetime,value` of one meter named by the caller (the shape the
 *   Cambridge and EPİAŞ files are published in).
 *
 * Pure and stateful per file only in what it must remember: the header's
 * column map, and the repeated wall times already met (DST by order).
 * A record that cannot be read gives rejects with reasons, never a throw;
 * only a header that cannot be used throws (LayoutError).
 */
import { resolveChannel } from '../../models/channel.js';
import { HOUR_MS, MINUTE_MS } from '../../models/time.js';
import type { ImportOptions } from './import-options.js';
import { dstFlag, localDay, mapQuality, parseDate, parseNumber, resolveTimestamp, type DecimalMark } from './import-values.js';

/** One record of a CSV or xlsx file: cells as text (xlsx numbers stay numbers), its line (row) number, the text to show in a reject. */
export interface ImportRecord {
  readonly cells: readonly (string | number)[];
  readonly line: number;
  readonly raw: string;
  readonly error?: string;
  /** xlsx: trailing empty cells are left out, so fewer cells than the header is not an error. */
  readonly sparse?: boolean;
}

/** A raw reading row, as the ingest pipeline takes it. */
export type RawRow = { meter: string; channel: string; start: string; value: number; quality?: string; source?: string; intervalMinutes?: number };

export type RecordItem = { row: RawRow } | { reason: string };

/** A header that cannot be imported with the options given. */
export class LayoutError extends Error {
  constructor(message: string, line = 1) {
    super(`header (line ${line}): ${message}`);
    this.name = 'LayoutError';
  }
}

export interface RecordMapper {
  /** One record → its rows and rejects, in column order. */
  map(rec: ImportRecord): RecordItem[];
  /** For a reject's dead-letter row: the meter of a record, when known. */
  meterOf(rec: ImportRecord): string | null;
}

const SYNONYMS: Record<string, readonly string[]> = {
  meter: ['meter', 'meter_id', 'meterid', 'meter id', 'ppe', 'kod ppe', 'punkt poboru', 'licznik', 'sayaç', 'sayac', 'sayaç no', 'tesisat', 'tesisat no'],
  channel: ['channel', 'kanal', 'kanał', 'obis'],
  time: ['start', 'datetime', 'date_time', 'timestamp', 'time', 'zaman', 'czas', 'data i czas', 'saat', 'godzina', 'hour'],
  date: ['date', 'day', 'data', 'dzień', 'dzien', 'tarih', 'gün', 'gun'],
  value: ['value', 'kwh', 'wartość', 'wartosc', 'değer', 'deger', 'tüketim', 'tuketim', 'consumption', 'energy'],
  quality: ['quality', 'flag', 'status', 'jakość', 'jakosc', 'kalite'],
  dst: ['dst', 'dst flag', 'season', 'sezon'],
  source: ['source'],
  intervalMinutes: ['intervalminutes', 'interval_minutes', 'interval'],
};

type Role = keyof typeof SYNONYMS;
/** Header text for matching: lower case, dotted and dotless i alike (TARİH, Tarih, DATETIME all match), spaces collapsed. */
const norm = (s: string) =>
  s
    .trim()
    .toLowerCase()
    .replace(/\u0307/g, '')
    .replace(/ı/g, 'i')
    .replace(/\s+/g, ' ');

/** Resolves the roles the layout uses to 0-based column positions. */
function resolveColumns(headers: readonly string[], opts: ImportOptions, roles: readonly Role[], line: number): Map<Role, number> {
  const byName = new Map<string, number>();
  headers.forEach((h, i) => {
    const k = norm(h);
    if (k && !byName.has(k)) byName.set(k, i);
  });
  const out = new Map<Role, number>();
  const mapping = opts.columns as Partial<Record<Role, string | number>>;
  for (const role of roles) {
    const ref = mapping[role];
    if (ref !== undefined) {
      const pos = columnPosition(ref, headers, byName);
      if (pos === undefined) throw new LayoutError(`column ${JSON.stringify(ref)} mapped to ${role} is not in the header (${headers.map((h) => JSON.stringify(h)).join(', ')})`, line);
      out.set(role, pos);
      continue;
    }
    for (const name of SYNONYMS[role].map(norm)) {
      const pos = byName.get(name) ?? [...byName].find(([k]) => k.startsWith(`${name} [`) || k.startsWith(`${name} (`))?.[1];
      if (pos !== undefined && ![...out.values()].includes(pos)) {
        out.set(role, pos);
        break;
      }
    }
  }
  return out;
}

function columnPosition(ref: string | number, headers: readonly string[], byName: Map<string, number>): number | undefined {
  if (typeof ref === 'number' || /^\d+$/.test(ref)) {
    const p = Number(ref) - 1;
    return p >= 0 && p < headers.length ? p : undefined;
  }
  return byName.get(norm(ref));
}

const text = (c: string | number | undefined): string => (c === undefined ? '' : typeof c === 'number' ? String(c) : c);

/**
 * The mapper for a header record. Throws LayoutError when the header does
 * not fit the layout (a missing column, no meter for a single-meter file).
 * @example layoutMapper({cells: ['datetime','value'], line: 1, raw: ''}, {...opts, layout: 'single', meter: 'b0', timezone: 'UTC'})
 */
export function layoutMapper(header: ImportRecord, opts: ImportOptions, delimiter: ',' | ';' = ','): RecordMapper {
  const headers = header.cells.map(text);
  const line = header.line;
  const channelName = opts.channel ?? 'active_import';
  if (!resolveChannel(channelName)) throw new LayoutError(`channel ${JSON.stringify(channelName)} is not known`, line);
  const decimals: DecimalMark[] = opts.decimal === 'auto' ? (delimiter === ';' ? ['.', ','] : ['.']) : [opts.decimal];
  const number = (cell: string | number) => {
    let r = parseNumber(cell, decimals[0], opts.thousands);
    if (typeof r !== 'number' && decimals[1]) {
      const second = parseNumber(cell, decimals[1], opts.thousands);
      if (typeof second === 'number') r = second;
    }
    return r;
  };
  const seen = new Set<string>();
  // only the roles a layout has: in a wide file a meter headed "kWh" is a meter, not the value column
  const roles: readonly Role[] =
    opts.layout === 'wide-meter'
      ? ['time', 'date', 'quality', 'dst']
      : opts.layout === 'wide-hour'
        ? ['meter', 'date', 'time', 'quality', 'channel']
        : ['meter', 'channel', 'time', 'date', 'value', 'quality', 'dst', 'source', 'intervalMinutes'];
  const cols = resolveColumns(headers, opts, roles, line);
  const stray = Object.keys(opts.columns).filter((k) => (opts.columns as Record<string, unknown>)[k] !== undefined && !roles.includes(k as Role));
  if (stray.length) throw new LayoutError(`columns.${stray.join(', columns.')} ${stray.length > 1 ? 'do' : 'does'} not apply to layout ${opts.layout} (its columns: ${roles.join(', ')})`, line);
  const ignored = new Set((opts.ignore ?? []).map((r) => columnPosition(r, headers, new Map(headers.map((h, i) => [norm(h), i])))).filter((p): p is number => p !== undefined));
  const cell = (rec: ImportRecord, role: Role) => {
    const p = cols.get(role);
    return p === undefined ? undefined : text(rec.cells[p]);
  };
  const quality = (rec: ImportRecord): { q?: string } | { reason: string } => {
    const c = cell(rec, 'quality');
    if (c === undefined) return {};
    const q = mapQuality(c, opts.qualityMap);
    return q === undefined ? {} : typeof q === 'string' ? { q } : q;
  };
  const flagOf = (rec: ImportRecord): 0 | 1 | undefined | { reason: string } => {
    const c = cell(rec, 'dst');
    return c === undefined ? undefined : dstFlag(c);
  };
  /** The instant of a record with a time (and maybe a date) column. */
  const instant = (rec: ImportRecord, key: string): number | { reason: string } => {
    const flag = flagOf(rec);
    if (typeof flag === 'object') return flag;
    const t = cell(rec, 'time');
    const d = cell(rec, 'date');
    if (t === undefined && d === undefined) return { reason: 'no timestamp column' };
    if (t !== undefined && d !== undefined) return resolveTimestamp(d, t, { tz: opts.timezone, dateOrder: opts.dateOrder, flag, seen, key });
    return resolveTimestamp((t ?? d)!, undefined, { tz: opts.timezone, dateOrder: opts.dateOrder, flag, seen, key });
  };
  const used = (role: Role) => cols.get(role);
  const needTime = () => {
    if (!cols.has('time') && !cols.has('date'))
      throw new LayoutError(`no timestamp column: name it (columns.time = header or position); the header is ${headers.map((h) => JSON.stringify(h)).join(', ')}`, line);
  };
  const badRecord = (rec: ImportRecord): RecordItem[] | undefined => {
    if (rec.error) return [{ reason: `malformed CSV: ${rec.error}` }];
    if (rec.cells.length > headers.length && rec.cells.slice(headers.length).some((c) => text(c).trim() !== '')) {
      return [{ reason: `expected ${headers.length} fields as in the header, got ${rec.cells.length}` }];
    }
    return undefined;
  };

  switch (opts.layout) {
    case 'long':
    case 'single': {
      needTime();
      const single = opts.layout === 'single';
      if (single && !opts.meter) throw new LayoutError('a single-meter file needs the meter: meter=<id> (--meter)', line);
      if (!single && !cols.has('meter')) throw new LayoutError(`no meter column: name it (columns.meter), or import it as layout=single with meter=<id>`, line);
      let valuePos = used('value');
      if (valuePos === undefined) {
        const taken = new Set([...cols.values(), ...ignored]);
        const rest = headers.map((_, i) => i).filter((i) => !taken.has(i));
        if (rest.length !== 1)
          throw new LayoutError(`no value column: name it (columns.value = header or position); candidates: ${rest.map((i) => JSON.stringify(headers[i])).join(', ') || 'none'}`, line);
        valuePos = rest[0];
      }
      const vp = valuePos;
      return {
        meterOf: (rec) => (single ? opts.meter! : cell(rec, 'meter')?.trim() || null),
        map(rec) {
          const bad = badRecord(rec);
          if (bad) return bad;
          if (rec.cells.length < headers.length && !rec.sparse) return [{ reason: `expected ${headers.length} fields as in the header, got ${rec.cells.length}` }];
          const meter = single ? opts.meter! : cell(rec, 'meter')!.trim();
          const channel = cell(rec, 'channel')?.trim() || channelName;
          const start = instant(rec, `${meter}|${channel}`);
          if (typeof start !== 'number') return [start];
          const raw = rec.cells[vp];
          if (text(raw).trim() === '') return [{ reason: 'value is empty' }];
          const value = number(raw);
          if (typeof value !== 'number') return [value];
          const q = quality(rec);
          if ('reason' in q) return [q];
          const row: RawRow = { meter, channel, start: new Date(start).toISOString(), value };
          if (q.q) row.quality = q.q;
          const src = cell(rec, 'source')?.trim();
          if (src) row.source = src;
          const iv = cell(rec, 'intervalMinutes')?.trim();
          if (iv) row.intervalMinutes = Number(iv);
          return [{ row }];
        },
      };
    }
    case 'wide-meter': {
      needTime();
      const taken = new Set([...cols.values(), ...ignored]);
      const meterCols = headers.map((h, i) => ({ i, meter: opts.meters?.[h] ?? opts.meters?.[h.trim()] ?? h.trim() })).filter((c) => !taken.has(c.i));
      if (meterCols.length === 0) throw new LayoutError('no meter columns: every column after the time column is one meter', line);
      const empty = meterCols.find((c) => c.meter === '');
      if (empty) throw new LayoutError(`column ${empty.i + 1} has no header: name the meter in the header, or leave the column out (ignore)`, line);
      return {
        meterOf: () => null,
        map(rec) {
          const bad = badRecord(rec);
          if (bad) return bad;
          const start = instant(rec, '');
          if (typeof start !== 'number') return [start];
          const q = quality(rec);
          if ('reason' in q) return [q];
          const iso = new Date(start).toISOString();
          const out: RecordItem[] = [];
          for (const c of meterCols) {
            const raw = rec.cells[c.i];
            if (raw === undefined || text(raw).trim() === '') continue; // no value for this meter at this time
            const value = number(raw);
            if (typeof value !== 'number') {
              out.push({ reason: `meter ${JSON.stringify(c.meter)} (column ${c.i + 1}): ${value.reason}` });
              continue;
            }
            const row: RawRow = { meter: c.meter, channel: channelName, start: iso, value };
            if (q.q) row.quality = q.q;
            out.push({ row });
          }
          return out;
        },
      };
    }
    case 'wide-hour': {
      if (!cols.has('date') && !cols.has('time')) throw new LayoutError('no date column: name it (columns.date = header or position)', line);
      const datePos = cols.get('date') ?? cols.get('time')!;
      if (!cols.has('meter') && !opts.meter) throw new LayoutError('no meter column: name it (columns.meter), or give meter=<id> when the file is one meter', line);
      const taken = new Set([...ignored, datePos]);
      for (const r of ['meter', 'quality', 'channel'] as const) if (cols.has(r)) taken.add(cols.get(r)!);
      const valueCols = headers.map((_, i) => i).filter((i) => !taken.has(i));
      const n = valueCols.length;
      const minutes = opts.intervalMinutes ?? (n <= 25 ? 60 : n <= 50 ? 30 : 15);
      const perHour = 60 / minutes;
      if (n < 24 * perHour - perHour) {
        throw new LayoutError(`${n} value columns: a day of ${minutes}-minute values needs ${24 * perHour} (${23 * perHour} / ${25 * perHour} on DST days)`, line);
      }
      return {
        meterOf: (rec) => (cols.has('meter') ? cell(rec, 'meter')!.trim() || null : opts.meter!),
        map(rec) {
          const bad = badRecord(rec);
          if (bad) return bad;
          const meter = cols.has('meter') ? cell(rec, 'meter')!.trim() : opts.meter!;
          if (!meter) return [{ reason: 'meter is empty' }];
          const dText = text(rec.cells[datePos]).trim();
          const date = parseDate(dText.split(/[T ]/)[0], opts.dateOrder);
          if (!date) return [{ reason: `date ${JSON.stringify(dText)} is not a date (YYYY-MM-DD or DD.MM.YYYY)` }];
          if (!opts.timezone) return [{ reason: 'a wide-hour file holds local days: name their time zone (timezone=Europe/Warsaw)' }];
          const day = localDay(date.y, date.mo, date.d, opts.timezone);
          if (!day) return [{ reason: `${dText} has no local midnight in ${opts.timezone}` }];
          const intervals = Math.round(day.lengthMs / (minutes * MINUTE_MS));
          const hours = day.lengthMs / HOUR_MS;
          const present = valueCols.map((i) => rec.cells[i]);
          const beyond = present.slice(intervals).findIndex((c) => c !== undefined && text(c).trim() !== '');
          if (beyond >= 0) {
            return [
              {
                reason: `${dText} has ${hours} hours in ${opts.timezone} (${intervals} values of ${minutes} minutes), but column ${valueCols[intervals + beyond] + 1} holds a value${hours < 24 ? ': the spring DST day has no 02:00 hour' : ''}`,
              },
            ];
          }
          if (n < intervals) return [{ reason: `${dText} has ${hours} hours in ${opts.timezone}: ${intervals} values of ${minutes} minutes, but the file has ${n} value columns` }];
          const q = quality(rec);
          if ('reason' in q) return [q];
          const channel = cell(rec, 'channel')?.trim() || channelName;
          const interval = resolveChannel(channel)?.kind === 'interval'; // a wide-hour value covers its column's interval
          const out: RecordItem[] = [];
          for (let k = 0; k < intervals; k++) {
            const raw = present[k];
            if (raw === undefined || text(raw).trim() === '') continue; // a gap: no value for that interval
            const value = number(raw);
            if (typeof value !== 'number') {
              out.push({ reason: `interval ${k + 1} (column ${valueCols[k] + 1}, "${headers[valueCols[k]]}"): ${value.reason}` });
              continue;
            }
            const row: RawRow = { meter, channel, start: new Date(day.startMs + k * minutes * MINUTE_MS).toISOString(), value };
            if (q.q) row.quality = q.q;
            if (interval) row.intervalMinutes = minutes;
            out.push({ row });
          }
          return out;
        },
      };
    }
    case 'ptpiree':
      throw new LayoutError('PTPiREE files are read by adapters/file/ptpiree.ts, not as a table', line);
  }
}
