/**
 * Profile coefficient CSV (docs/settlement.md "Profile coefficients"): one
 * hourly multiplier per line, long format, in the EPİAŞ vocabulary or ours.
 * Header names match case-insensitively (Turkish dotted/dotless i folded):
 *
 * | column | aliases | values |
 * |---|---|---|
 * | region | dagitim sirketi, edas, distribution company | company as in meters.region, `*` = any |
 * | readingType | okuma tipi, reading type | single / tek zamanli; three-time / uc zamanli / cok zamanli |
 * | profileGroup | abone grubu, profil abone grubu, profile group | as in meters.profileClass (mesken, ticarethane… or residential…) |
 * | date | tarih | `YYYY-MM-DD`, `dd.mm.yyyy`, `dd/mm/yyyy` (per-day layout) |
 * | dayType | gun tipi, day type | workday / hafta ici, saturday / cumartesi, sunday / pazar, holiday / tatil (per-day-type layout) |
 * | period | donem | `YYYY-MM` (required with dayType) |
 * | hour | saat | `0`–`23` or `HH:00` |
 * | coefficient | katsayi, profil katsayisi | `0.0412` or, `;`-delimited, `0,0412` |
 *
 * Pure: text in, raw rows (checked by models/profile-coefficient.ts
 * checkCoefficientRows) and line rejects out.
 */
import { parseTurkishNumber } from '../market/epias-csv.js';
import { CsvHeaderError, CsvParser, csvNumber } from './csv.js';

type Column = 'region' | 'readingType' | 'profileGroup' | 'date' | 'dayType' | 'period' | 'hour' | 'coefficient';

/** Lower case, Turkish letters folded to ASCII, spaces/underscores/dashes squeezed to one space. */
const fold = (s: string) =>
  s
    .trim()
    .replace(/İ/g, 'i')
    .toLowerCase()
    .replace(/ı/g, 'i')
    .replace(/ş/g, 's')
    .replace(/ğ/g, 'g')
    .replace(/ü/g, 'u')
    .replace(/ö/g, 'o')
    .replace(/ç/g, 'c')
    .replace(/[\s_-]+/g, ' ');

const ALIASES: Record<string, Column> = {
  region: 'region',
  'dagitim sirketi': 'region',
  edas: 'region',
  'distribution company': 'region',
  readingtype: 'readingType',
  'reading type': 'readingType',
  'okuma tipi': 'readingType',
  profilegroup: 'profileGroup',
  'profile group': 'profileGroup',
  'abone grubu': 'profileGroup',
  'profil abone grubu': 'profileGroup',
  date: 'date',
  tarih: 'date',
  daytype: 'dayType',
  'day type': 'dayType',
  'gun tipi': 'dayType',
  period: 'period',
  donem: 'period',
  hour: 'hour',
  saat: 'hour',
  coefficient: 'coefficient',
  katsayi: 'coefficient',
  'profil katsayisi': 'coefficient',
};

const READING_TYPE: Record<string, string> = {
  single: 'single',
  'tek zamanli': 'single',
  tek: 'single',
  'three time': 'three-time',
  'uc zamanli': 'three-time',
  'cok zamanli': 'three-time',
};
const DAY_TYPE: Record<string, string> = {
  workday: 'workday',
  'hafta ici': 'workday',
  saturday: 'saturday',
  cumartesi: 'saturday',
  sunday: 'sunday',
  pazar: 'sunday',
  holiday: 'holiday',
  tatil: 'holiday',
  bayram: 'holiday',
};

export interface ProfileCoefficientCsv {
  readonly rows: Record<string, unknown>[];
  readonly lines: number[];
  readonly rejected: { line: number; reason: string; raw: string }[];
}

/** Parses a coefficient CSV; throws CsvHeaderError for a header it cannot read. */
export function parseProfileCoefficientCsv(text: string): ProfileCoefficientCsv {
  const parser = new CsvParser();
  const records = [...parser.push(text), ...parser.end()];
  const delimiter = parser.delimiter ?? ',';
  if (records.length === 0) throw new CsvHeaderError('the CSV is empty; expected a header region,readingType,profileGroup,date|period+dayType,hour,coefficient');
  const header = records[0];
  const columns = header.fields.map((f) => {
    const c = ALIASES[fold(f)];
    if (!c) throw new CsvHeaderError(`unknown column "${f}"; columns are region, readingType, profileGroup, date or period+dayType, hour, coefficient (docs/settlement.md)`, header.line);
    return c;
  });
  for (const c of columns) if (columns.indexOf(c) !== columns.lastIndexOf(c)) throw new CsvHeaderError(`column "${c}" appears twice (or under two of its names)`, header.line);
  const missing = (['region', 'readingType', 'profileGroup', 'hour', 'coefficient'] as const).filter((c) => !columns.includes(c));
  if (missing.length) throw new CsvHeaderError(`missing column${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`, header.line);
  if (!columns.includes('date') && !columns.includes('dayType')) throw new CsvHeaderError('needs a date column (per-day layout) or period and dayType columns (per-day-type layout)', header.line);

  const out: ProfileCoefficientCsv = { rows: [], lines: [], rejected: [] };
  for (const rec of records.slice(1)) {
    const reject = (reason: string) => out.rejected.push({ line: rec.line, reason, raw: rec.raw });
    if (rec.error) {
      reject(`malformed CSV: ${rec.error}`);
      continue;
    }
    if (rec.fields.length !== columns.length) {
      reject(`expected ${columns.length} fields (${columns.join(delimiter)}), got ${rec.fields.length}`);
      continue;
    }
    const row: Record<string, unknown> = {};
    let bad: string | undefined;
    columns.forEach((c, i) => {
      const v = rec.fields[i].trim();
      if (v === '' || bad) return;
      if (c === 'readingType') row[c] = READING_TYPE[fold(v)] ?? v;
      else if (c === 'dayType') row[c] = DAY_TYPE[fold(v)] ?? v;
      else if (c === 'date') {
        const m = /^(\d{2})[./](\d{2})[./](\d{4})$/.exec(v);
        row[c] = m ? `${m[3]}-${m[2]}-${m[1]}` : v;
      } else if (c === 'hour') {
        const m = /^(\d{1,2})(?::00)?$/.exec(v);
        if (!m) bad = `hour must be 0–23 or HH:00, got "${v}"`;
        else row[c] = Number(m[1]);
      } else if (c === 'coefficient') {
        const n = csvNumber(v, delimiter);
        row[c] = typeof n === 'number' ? n : (parseTurkishNumber(v) ?? v);
      } else row[c] = v;
    });
    if (bad) {
      reject(bad);
      continue;
    }
    out.rows.push(row);
    out.lines.push(rec.line);
  }
  return out;
}
