import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { importEpiasPrices } from '../../adapters/market/epias-import.js';
import { CsvParser } from '../../adapters/file/csv.js';
import { MdmError } from '../../models/errors.js';
import { AreaSchema, areaTimezone, CurrencySchema, ImbalanceRuleSchema, NominationsBodySchema, PositionsBodySchema, PricesBodySchema, type PositionRow, type RowProblem } from '../../models/market.js';
import { boundedString, idText, MAX_ABS_AMOUNT, plausibleDate, storedInstant } from '../../models/input-schemas.js';
import { checkPeriodStarts, PERIOD_MINUTES, SPREAD_RULES, type MarketPeriod } from '../../market/settlement-periods.js';
import { formatInstant } from '../../models/time.js';
import { findQueryMeters } from '../../sql/reading-query.repository.js';
import {
  areaCurrency,
  listImbalanceRules,
  listMarketPeriods,
  listPositions,
  listPrices,
  putImbalanceRule,
  putMarketPeriod,
  upsertNominations,
  upsertPositions,
  upsertPrices,
  PRICE_COLUMNS,
  type PositionInput,
  type SuspiciousHour,
} from '../../sql/market.repository.js';
import { requirePortfolio } from '../../sql/portfolio.repository.js';
import { CsvLocaleQuery } from '../csv-locale.js';
import { sendTable, XLSX_TYPE } from '../xlsx-reply.js';
import type { RouteContext } from '../app.js';
import { rangeParams } from '../query-params.js';
import { authErrors, ErrorSchema, InstantQuery } from '../schemas.js';

const CSV = 'text/csv';
const MAX_PROBLEMS = 100;

/** Body validator: a text/csv body (a Buffer) passes through to the handler; JSON goes through the zod schema. */
const jsonOrCsv: FastifySchemaCompiler<unknown> = (route) => {
  const zod = validatorCompiler(route as Parameters<FastifySchemaCompiler<z.ZodType>>[0]);
  if (route.httpPart !== 'body') return zod;
  return (data: unknown) => (Buffer.isBuffer(data) ? { value: data } : zod(data));
};

/** All-or-nothing: a batch with bad rows is refused (400) with every reason (first 100). */
function refuse(what: string, problems: readonly RowProblem[], unit = 'row'): never {
  const first = problems[0];
  throw new MdmError('MDM_ERR_INVALID_ROWS', [`${problems.length} bad ${what} ${unit}(s), nothing stored; first: ${unit} ${first.index}: ${first.reason}`], {
    details: { rejected: problems.slice(0, MAX_PROBLEMS), count: problems.length },
  });
}

/**
 * Period starts of a batch as epoch ms: each must carry an offset, start a settlement period of the area in force
 * at it (migration 031: `:15` where the area settles by 15 minutes, whole hours where by 60) and, with `unique`,
 * appear once. NaN for bad rows, one problem per bad row.
 */
export function periodStarts(starts: readonly string[], schedule: readonly MarketPeriod[], area: string, firstIndex = 0, unique = true): { ms: number[]; problems: RowProblem[] } {
  const problems: RowProblem[] = [];
  const ms = starts.map((s, i) => {
    const p = storedInstant(s);
    if (p.ok) return p.ms;
    problems.push({ index: i + firstIndex, reason: `start: ${p.reason}` });
    return Number.NaN;
  });
  const bad = checkPeriodStarts(ms, starts, schedule, area, areaTimezone(area), firstIndex, unique);
  for (const b of bad) ms[b.index - firstIndex] = Number.NaN;
  problems.push(...bad);
  problems.sort((a, b) => a.index - b.index);
  return { ms, problems };
}

/** start,bilateral,dayAhead,intraday (header required, any order, empty cells = 0) → rows or problems by line. */
export function parsePositionsCsv(text: string): { rows: PositionRow[]; lines: number[]; problems: RowProblem[] } {
  const parser = new CsvParser({ delimiter: ',' });
  const records = [...parser.push(text.replace(/^\uFEFF/, '')), ...parser.end()];
  const header = records.shift();
  const cols = (header?.fields ?? []).map((f) => f.trim());
  const known = ['start', 'bilateral', 'dayAhead', 'intraday'];
  const unknown = cols.filter((c) => !known.includes(c));
  if (!cols.includes('start') || unknown.length) {
    throw new MdmError('MDM_ERR_CSV_FORMAT', [`positions CSV header must be start,bilateral,dayAhead,intraday (any order; got "${cols.join(',')}")`]);
  }
  const rows: PositionRow[] = [];
  const lines: number[] = [];
  const problems: RowProblem[] = [];
  for (const r of records) {
    if (r.fields.length === 1 && r.fields[0].trim() === '') continue;
    if (r.error || r.fields.length !== cols.length) {
      problems.push({ index: r.line, reason: r.error ?? `expected ${cols.length} fields, got ${r.fields.length}` });
      continue;
    }
    const row: Record<string, string | number> = {};
    let bad: string | undefined;
    cols.forEach((c, i) => {
      const v = r.fields[i].trim();
      if (c === 'start') row.start = v;
      else if (v !== '') {
        const n = Number(v);
        if (!Number.isFinite(n)) bad ??= `${c} "${v.slice(0, 40)}" is not a number (MWh, decimal point)`;
        else if (Math.abs(n) > MAX_ABS_AMOUNT) bad ??= `${c} ${v.slice(0, 40)} is beyond ±${MAX_ABS_AMOUNT.toExponential()} MWh`;
        else row[c] = n;
      }
    });
    if (bad) problems.push({ index: r.line, reason: bad });
    else {
      rows.push(row as unknown as PositionRow);
      lines.push(r.line);
    }
  }
  return { rows, lines, problems };
}

const PriceOut = z.object({
  start: z.string().describe("Hour start in the area's zone, with offset"),
  ptf: z.number().nullable().describe('Null when absent or held as not yet published (see unpublished)'),
  smf: z.number().nullable(),
  positiveImbalance: z.number().nullable(),
  negativeImbalance: z.number().nullable(),
  systemDirection: z.string().nullable(),
  source: z.string(),
  unpublished: z.array(z.enum(PRICE_COLUMNS)).describe('Columns received as 0 and held as not yet published (read as null); [] when none'),
});
/** At most this many suspicious hours are listed in an answer (suspiciousCount has them all). */
const MAX_SUSPICIOUS = 1000;
const SuspiciousOut = z.object({
  start: z.string().describe("Hour start in the area's zone"),
  index: z.number().int().optional().describe('JSON: 0-based row in prices'),
  line: z.number().int().optional().describe('CSV: 1-based line in the file'),
  columns: z.array(z.enum(PRICE_COLUMNS)),
  reason: z.string(),
  storedAs: z.enum(['unpublished', 'confirmed']).describe('unpublished: held as not yet published (read as null, the hour unpriced); confirmed: stored as real zeros (confirmZeros=true)'),
});
const PositionOut = z.object({ start: z.string(), bilateral: z.number(), dayAhead: z.number(), intraday: z.number(), total: z.number() });
const RuleOut = z.object({
  area: z.string(),
  effectiveFrom: z.string(),
  rule: z.string(),
  kPositive: z.number(),
  kNegative: z.number(),
  note: z.string().nullable(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
});
const MarketPeriodSchema = z
  .object({
    area: AreaSchema,
    effectiveFrom: plausibleDate().describe("First local date (the area's zone) the period applies to; it takes effect at local midnight"),
    minutes: z.union(PERIOD_MINUTES.map((m) => z.literal(m)) as [z.ZodLiteral<15>, z.ZodLiteral<30>, z.ZodLiteral<60>]).describe('Settlement period (market time unit) in minutes: 15, 30 or 60'),
    spread: z
      .enum(SPREAD_RULES)
      .default('flat')
      .describe("How an hourly meter value is split into shorter periods: flat (equal parts) or profile (the shape of the portfolio's meters that measure at the period)"),
    note: boundedString(500).optional(),
  })
  .strict();
const PeriodOut = z.object({
  area: z.string(),
  effectiveFrom: z.string(),
  minutes: z.number().int(),
  spread: z.enum(SPREAD_RULES),
  note: z.string().nullable(),
  createdAt: z.string(),
  createdBy: z.string().nullable(),
});
const IssueOut = z.object({ line: z.number(), kind: z.string(), message: z.string() });

/** A suspicious hour as the answer lists it. */
function suspiciousOut(h: SuspiciousHour, tz: string, confirmed: boolean, at: { index?: number; line?: number }): z.infer<typeof SuspiciousOut> {
  const reason = h.reason === 'smf_zero' ? `SMF is 0 while PTF is ${h.ptf}` : `every price of the hour is 0 (${h.columns.join(', ')})`;
  const storedAs = confirmed ? 'confirmed' : 'unpublished';
  return {
    start: formatInstant(h.startMs, tz),
    ...at,
    columns: h.columns,
    reason: `${reason}: ${confirmed ? 'stored as real zeros (confirmZeros)' : 'held as not yet published; confirmZeros=true stores them as real prices'}`,
    storedAs,
  };
}

/** Market data: hourly prices per area, positions and nominations per portfolio, imbalance price rules. See docs/imbalance.md. */
export const marketRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  app.addContentTypeParser(CSV, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.put(
    '/market/prices',
    {
      config: { permission: 'market:write' },
      validatorCompiler: jsonOrCsv,
      schema: {
        tags: ['market'],
        summary: 'Store hourly prices of a market area (JSON), or import an EPİAŞ PTF/SMF CSV file (text/csv)',
        description:
          'application/json: {area, currency, prices: [{start, ptf, smf, positiveImbalance?, negativeImbalance?, systemDirection?}]}, per MWh, start ISO-8601 with offset on a settlement period of the area (a whole hour unless it settles by 15 minutes: GET /v1/market/periods; else 400). ' +
          'Upsert per (area, start): given fields overwrite, absent ones keep the stored value. A batch with a bad row stores nothing (400, every reason in details.rejected). ' +
          'text/csv: one EPİAŞ hourly price file as published (Windows-1254, "Tarih","Saat","PTF (TL/MWh)", Turkish numbers, local hours); ' +
          'query area (default TR), kind=ptf|smf (default: from the header), currency (default: from the unit). Clock-change repeats are reported in issues and stored once. ' +
          'Either way, each hour written is judged as it stands after the write: when every price of the hour is 0, or SMF is 0 while PTF is not, its zeros are listed in suspicious and held ' +
          'as not yet published (read as null; imbalance counts the hour unpriced) unless confirmZeros=true says they are real prices. See docs/imbalance.md.',
        consumes: ['application/json', CSV],
        querystring: z.object({
          area: AreaSchema.optional().describe('text/csv only; default TR'),
          kind: z.enum(['ptf', 'smf']).optional().describe('text/csv only'),
          currency: CurrencySchema.optional().describe('text/csv only'),
          confirmZeros: z.enum(['true', 'false']).default('false').describe('true: the zeros of this write are real prices, not "not yet published"'),
        }),
        body: PricesBodySchema,
        response: {
          200: z.object({
            area: z.string(),
            currency: z.string(),
            stored: z.number().int().describe('Hours inserted or updated'),
            kind: z.enum(['ptf', 'smf']).optional(),
            lines: z.number().int().optional().describe('CSV: data rows in the file'),
            issues: z.array(IssueOut).optional().describe('CSV: rows not taken as they are (clock-change repeats, bad rows)'),
            unpublished: z.number().int().describe('Hours written that are held as not yet published'),
            suspiciousCount: z.number().int().describe('Hours written whose zeros look unpublished (held, or confirmed with confirmZeros=true)'),
            suspicious: z.array(SuspiciousOut).describe(`The first ${MAX_SUSPICIOUS} of them, oldest first`),
          }),
          400: ErrorSchema,
          409: ErrorSchema,
          415: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const body: unknown = req.body;
      const confirmZeros = req.query.confirmZeros === 'true';
      if (Buffer.isBuffer(body)) {
        const r = await importEpiasPrices(database, body, { area: req.query.area ?? 'TR', kind: req.query.kind, currency: req.query.currency, confirmZeros });
        const tz = areaTimezone(r.area);
        return {
          area: r.area,
          currency: r.currency,
          stored: r.stored,
          kind: r.kind,
          lines: r.lines,
          issues: r.issues,
          unpublished: r.held,
          suspiciousCount: r.suspicious.length,
          suspicious: r.suspicious.slice(0, MAX_SUSPICIOUS).map((h) => suspiciousOut(h, tz, confirmZeros, { line: h.line })),
        };
      }
      const { area, currency, prices } = req.body;
      const { ms, problems } = periodStarts(
        prices.map((p) => p.start),
        await listMarketPeriods(database, area),
        area,
      );
      if (problems.length) refuse('price', problems);
      const stored = await areaCurrency(database, area);
      if (stored && stored !== currency) throw new MdmError('MDM_ERR_CURRENCY_MISMATCH', [`area ${area} has prices in ${stored}, not ${currency}: one currency per area`]);
      const w = await upsertPrices(database, { area, currency, source: 'api', rows: prices.map((p, i) => ({ ...p, startMs: ms[i] })), confirmZeros });
      const indexOf = new Map(ms.map((m, i) => [m, i]));
      const tz = areaTimezone(area);
      return {
        area,
        currency,
        stored: w.stored,
        unpublished: w.held,
        suspiciousCount: w.suspicious.length,
        suspicious: w.suspicious.slice(0, MAX_SUSPICIOUS).map((h) => suspiciousOut(h, tz, confirmZeros, { index: indexOf.get(h.startMs) })),
      };
    },
  );

  app.get(
    '/market/prices',
    {
      config: { permission: 'market:read' },
      schema: {
        tags: ['market'],
        summary: 'Hourly prices of a market area (JSON or CSV)',
        description:
          "Per MWh in the area's currency; start in the area's zone (TR: Europe/Istanbul). A price held as not yet published reads as null and is named in unpublished. " +
          'format=csv: start,ptf,smf,positiveImbalance,negativeImbalance,systemDirection,source,unpublished (the held columns separated by |; locale=tr|pl: ";", decimal comma, UTF-8 BOM); ' +
          'format=xlsx: the same columns as a workbook.',
        produces: ['application/json', CSV, XLSX_TYPE],
        querystring: z.object({
          area: AreaSchema.default('TR'),
          from: InstantQuery,
          to: InstantQuery,
          format: z.enum(['json', 'csv', 'xlsx']).default('json'),
          locale: CsvLocaleQuery,
        }),
        response: {
          200: z.object({ area: z.string(), currency: z.string().nullable(), unit: z.string().nullable().describe('e.g. TRY/MWh'), timezone: z.string(), prices: z.array(PriceOut) }),
          400: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req, reply) => {
      const { area, format } = req.query;
      const { from, to } = rangeParams(req.query.from, req.query.to, 'hour');
      const tz = areaTimezone(area);
      const rows = await listPrices(database, { area, from, to });
      const prices = rows.map((r) => ({
        start: formatInstant(r.start.getTime(), tz),
        ptf: r.ptf,
        smf: r.smf,
        positiveImbalance: r.positiveImbalance,
        negativeImbalance: r.negativeImbalance,
        systemDirection: r.systemDirection,
        source: r.source,
        unpublished: r.unpublished,
      }));
      if (format !== 'json') {
        const cols = ['start', 'ptf', 'smf', 'positiveImbalance', 'negativeImbalance', 'systemDirection', 'source', 'unpublished'] as const;
        return sendTable(
          reply,
          format,
          req.query.locale,
          `prices-${area}`,
          cols,
          prices.map((p) => cols.map((c) => (c === 'unpublished' ? p.unpublished.join('|') : (p[c] ?? null)))),
        );
      }
      const currency = rows[0]?.currency ?? (await areaCurrency(database, area)) ?? null;
      return { area, currency, unit: currency ? `${currency}/MWh` : null, timezone: tz, prices };
    },
  );

  app.put(
    '/market/positions',
    {
      config: { permission: 'positions:write' },
      validatorCompiler: jsonOrCsv,
      schema: {
        tags: ['market'],
        summary: "Store a portfolio's purchased energy per hour by channel (JSON, or CSV start,bilateral,dayAhead,intraday)",
        description:
          'application/json: {portfolio, positions: [{start, bilateral?, dayAhead?, intraday?}]} in MWh; a missing part is 0. text/csv: header start,bilateral,dayAhead,intraday ' +
          '(any order, empty cell = 0, decimal point) and ?portfolio=. Upsert per (portfolio, start): a row replaces the hour. A batch with a bad row stores nothing (400).',
        consumes: ['application/json', CSV],
        querystring: z.object({ portfolio: idText().min(1).optional().describe('text/csv only') }),
        body: PositionsBodySchema,
        response: { 200: z.object({ portfolio: z.string(), stored: z.number().int(), unit: z.literal('MWh') }), 400: ErrorSchema, 404: ErrorSchema, 415: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const body: unknown = req.body;
      let portfolio: string;
      let rows: PositionRow[];
      let labels: number[] | undefined; // CSV: line numbers for the reasons
      if (Buffer.isBuffer(body)) {
        if (!req.query.portfolio) throw new MdmError('MDM_ERR_VALIDATION', ['a text/csv positions upload needs ?portfolio=<id>']);
        portfolio = req.query.portfolio;
        const parsed = parsePositionsCsv(body.toString('utf8'));
        if (parsed.problems.length) refuse('position', parsed.problems, 'line');
        if (parsed.rows.length === 0) throw new MdmError('MDM_ERR_CSV_FORMAT', ['the CSV has a header but no position rows']);
        rows = parsed.rows;
        labels = parsed.lines;
      } else {
        portfolio = req.body.portfolio;
        rows = req.body.positions;
      }
      const pf = await requirePortfolio(database, portfolio);
      const { ms, problems } = periodStarts(
        rows.map((r) => r.start),
        await listMarketPeriods(database, pf.area),
        pf.area,
      );
      if (problems.length) refuse('position', labels ? problems.map((p) => ({ ...p, index: labels![p.index] })) : problems, labels ? 'line' : 'row');
      const input: PositionInput[] = rows.map((r, i) => ({ startMs: ms[i], bilateral: r.bilateral ?? 0, dayAhead: r.dayAhead ?? 0, intraday: r.intraday ?? 0 }));
      return { portfolio, stored: await upsertPositions(database, portfolio, input), unit: 'MWh' as const };
    },
  );

  app.get(
    '/market/positions',
    {
      config: { permission: 'market:read' },
      schema: {
        tags: ['market'],
        summary: "A portfolio's positions per hour (MWh; JSON or CSV)",
        description:
          'start in the portfolio\'s zone. format=csv: start,bilateral,dayAhead,intraday (the upload format; locale=tr|pl: ";", decimal comma, UTF-8 BOM); format=xlsx: the same columns as a workbook.',
        produces: ['application/json', CSV, XLSX_TYPE],
        querystring: z.object({
          portfolio: z.string().min(1),
          from: InstantQuery,
          to: InstantQuery,
          format: z.enum(['json', 'csv', 'xlsx']).default('json'),
          locale: CsvLocaleQuery,
        }),
        response: { 200: z.object({ portfolio: z.string(), timezone: z.string(), unit: z.literal('MWh'), positions: z.array(PositionOut) }), 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const p = await requirePortfolio(database, req.query.portfolio);
      const { from, to } = rangeParams(req.query.from, req.query.to, 'hour');
      const rows = await listPositions(database, { portfolio: p.id, from, to });
      const positions = rows.map((r) => ({
        start: formatInstant(r.start.getTime(), p.timezone),
        bilateral: r.bilateral,
        dayAhead: r.dayAhead,
        intraday: r.intraday,
        total: r.bilateral + r.dayAhead + r.intraday,
      }));
      if (req.query.format !== 'json') {
        return sendTable(
          reply,
          req.query.format,
          req.query.locale,
          `positions-${p.id}`,
          ['start', 'bilateral', 'dayAhead', 'intraday'],
          positions.map((r) => [r.start, r.bilateral, r.dayAhead, r.intraday]),
        );
      }
      return { portfolio: p.id, timezone: p.timezone, unit: 'MWh' as const, positions };
    },
  );

  app.put(
    '/market/nominations',
    {
      config: { permission: 'positions:write' },
      schema: {
        tags: ['market'],
        summary: 'Store meter-level nominations (MWh per meter and hour); in an hour that has them, imbalance allocates the position by them instead of the forecasts',
        body: NominationsBodySchema,
        response: { 200: z.object({ portfolio: z.string(), stored: z.number().int(), unit: z.literal('MWh') }), 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const { portfolio, nominations } = req.body;
      const pf = await requirePortfolio(database, portfolio);
      const schedule = await listMarketPeriods(database, pf.area);
      const members = new Map((await findQueryMeters(database, { portfolio })).map((m) => [m.externalId, m.id]));
      const problems: RowProblem[] = [];
      const seen = new Set<string>();
      const startsMs = nominations.map((n, i) => {
        const { ms, problems: bad } = periodStarts([n.start], schedule, pf.area, i, false);
        problems.push(...bad);
        if (!members.has(n.meter)) problems.push({ index: i, reason: `meter "${n.meter}" is not in portfolio ${portfolio}` });
        const key = `${n.meter}@${ms[0]}`;
        if (!Number.isNaN(ms[0]) && seen.has(key)) problems.push({ index: i, reason: `meter ${n.meter} is nominated twice for ${n.start}` });
        seen.add(key);
        return ms[0];
      });
      if (problems.length) refuse('nomination', problems);
      const stored = await upsertNominations(
        database,
        portfolio,
        nominations.map((n, i) => ({ meterId: members.get(n.meter)!, startMs: startsMs[i], mwh: n.mwh })),
      );
      return { portfolio, stored, unit: 'MWh' as const };
    },
  );

  app.get(
    '/market/periods',
    {
      config: { permission: 'market:read' },
      schema: {
        tags: ['market'],
        summary: 'Settlement periods (market time unit) of the market areas with their effective dates; an area without one settles by 60 minutes',
        querystring: z.object({ area: AreaSchema.optional() }),
        response: { 200: z.object({ periods: z.array(PeriodOut) }), ...authErrors },
      },
    },
    async (req) => ({
      periods: (await listMarketPeriods(database, req.query.area)).map((r) => ({ ...r, createdAt: r.createdAt.toISOString() })),
    }),
  );

  app.put(
    '/market/periods',
    {
      config: { permission: 'market:write' },
      schema: {
        tags: ['market'],
        summary: 'Add or replace the settlement period of an area from a local date on (e.g. PL: 15 minutes from 2025-10-01)',
        description:
          "The period in force at an instant is the one with the latest effectiveFrom on or before its local date in the area's zone (PL: Europe/Warsaw), from local midnight. " +
          'Prices, positions and nominations must start on a period in force (a :15 start where the area settles by 15 minutes; else 400); imbalance is computed per period. See docs/imbalance.md "Settlement periods".',
        body: MarketPeriodSchema,
        response: { 200: PeriodOut, 201: PeriodOut, 400: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const b = req.body;
      if (Number.isNaN(Date.parse(`${b.effectiveFrom}T00:00:00Z`))) throw new MdmError('MDM_ERR_VALIDATION', [`effectiveFrom "${b.effectiveFrom}" is not a date`]);
      const created = await putMarketPeriod(database, { ...b, createdBy: req.principal?.name ?? null });
      const row = (await listMarketPeriods(database, b.area)).find((r) => r.effectiveFrom === b.effectiveFrom)!;
      return reply.status(created ? 201 : 200).send({ ...row, createdAt: row.createdAt.toISOString() });
    },
  );

  app.get(
    '/market/imbalance-rules',
    {
      config: { permission: 'market:read' },
      schema: {
        tags: ['market'],
        summary: 'Imbalance price rules with their effective dates (used for hours without published imbalance prices)',
        querystring: z.object({ area: AreaSchema.optional() }),
        response: { 200: z.object({ rules: z.array(RuleOut) }), ...authErrors },
      },
    },
    async (req) => ({
      rules: (await listImbalanceRules(database, req.query.area)).map((r) => ({ ...r, createdAt: r.createdAt.toISOString() })),
    }),
  );

  app.put(
    '/market/imbalance-rules',
    {
      config: { permission: 'market:write' },
      schema: {
        tags: ['market'],
        summary: 'Add or replace the imbalance price rule of an area from a local date on',
        description:
          'rule min-max-k: positive = min(PTF, SMF) × (1 − kPositive), negative = max(PTF, SMF) × (1 + kNegative). The rule in force on an hour is the one with ' +
          "the latest effectiveFrom on or before the hour's local date (portfolio zone). Seeded: TR from 2000-01-01, k = 0.03.",
        body: ImbalanceRuleSchema,
        response: { 200: RuleOut, 201: RuleOut, 400: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      const b = req.body;
      if (Number.isNaN(Date.parse(`${b.effectiveFrom}T00:00:00Z`))) throw new MdmError('MDM_ERR_VALIDATION', [`effectiveFrom "${b.effectiveFrom}" is not a date`]);
      const created = await putImbalanceRule(database, { ...b, kNegative: b.kNegative ?? b.kPositive, createdBy: req.principal?.name ?? null });
      const rule = (await listImbalanceRules(database, b.area)).find((r) => r.effectiveFrom === b.effectiveFrom)!;
      return reply.status(created ? 201 : 200).send({ ...rule, createdAt: rule.createdAt.toISOString() });
    },
  );
};
