import { CsvHeaderError, CsvParser } from '../file/csv.js';
import { checkForecastRow, type ForecastReject, MAX_WEATHER_ROWS, type ParsedForecastRow, parseInstant } from '../../models/weather-forecast.js';

/** Weather forecast vintage files (issue 20, item 1; docs/forecasting.md "Weather forecasts and vintages"). Pure: text in, rows and line rejects out. */

const COLUMNS: Readonly<Record<string, 'time' | 'issuedAt' | 'temperature' | 'location'>> = {
  time: 'time',
  valid_time: 'time',
  validtime: 'time',
  hour: 'time',
  issued_at: 'issuedAt',
  issuedat: 'issuedAt',
  issue_time: 'issuedAt',
  issued: 'issuedAt',
  temperature: 'temperature',
  temperature_2m: 'temperature',
  temp: 'temperature',
  location: 'location',
  station: 'location',
  weatherstation: 'location',
  weather_station: 'location',
};

/**
 * A vintage file: header `time,issued_at,temperature[,location]` (any order;
 * aliases valid_time, issue_time, temperature_2m, station), one forecast hour
 * per line, instants in ISO-8601 with an offset, temperature in °C with a
 * decimal point. `location` (else `opts.location`) names the weather station
 * as meters name it in weatherStation. `opts.issuedAt` fills a missing
 * issued_at column (one vintage per file).
 * @example parseWeatherForecastCsv('time,issued_at,temperature\n2019-10-25T00:00Z,2019-10-24T06:00Z,8.5\n', { location: 'WX' })
 * // { rows: [{ location: 'WX', issuedAt: 2019-10-24T06:00Z, validTime: 2019-10-25T00:00Z, temperature: 8.5 }], rejected: [], lines: 1 }
 */
export function parseWeatherForecastCsv(text: string, opts: { location?: string; issuedAt?: number } = {}): { rows: ParsedForecastRow[]; rejected: ForecastReject[]; lines: number } {
  const parser = new CsvParser();
  const records = [...parser.push(text), ...parser.end()];
  if (records.length === 0) throw new CsvHeaderError('the file is empty: expected a header time,issued_at,temperature[,location]');
  const header = records[0].fields.map(
    (f) =>
      COLUMNS[
        f
          .trim()
          .toLowerCase()
          .replace(/[\s-]+/g, '_')
      ],
  );
  const col = (c: string) => header.indexOf(c as never);
  const [iTime, iIssued, iTemp, iLoc] = [col('time'), col('issuedAt'), col('temperature'), col('location')];
  const missing = [iTime < 0 ? 'time' : '', iIssued < 0 && opts.issuedAt === undefined ? 'issued_at' : '', iTemp < 0 ? 'temperature' : ''].filter(Boolean);
  if (missing.length)
    throw new CsvHeaderError(`missing column(s) ${missing.join(', ')}: the header must name time, issued_at, temperature and optionally location (got "${records[0].raw.slice(0, 200)}")`);
  const rows: ParsedForecastRow[] = [];
  const rejected: ForecastReject[] = [];
  const data = records.slice(1);
  if (data.length > MAX_WEATHER_ROWS) throw new CsvHeaderError(`${data.length} lines: at most ${MAX_WEATHER_ROWS} forecast hours per import; split the file`);
  for (const r of data) {
    if (r.error) {
      rejected.push({ line: r.line, reason: r.error });
      continue;
    }
    const f = (i: number) => (i >= 0 ? (r.fields[i] ?? '').trim() : '');
    const tempText = f(iTemp);
    const checked = checkForecastRow({
      location: f(iLoc) || opts.location,
      validTime: parseInstant(f(iTime), 'time'),
      issuedAt: iIssued >= 0 && f(iIssued) ? parseInstant(f(iIssued), 'issued_at') : (opts.issuedAt ?? 'issued_at is empty'),
      temperature: tempText === '' ? Number.NaN : Number(tempText),
    });
    if (typeof checked === 'string') rejected.push({ line: r.line, reason: checked });
    else rows.push(checked);
  }
  return { rows, rejected, lines: data.length };
}
