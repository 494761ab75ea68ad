import type { FastifySchemaCompiler } from 'fastify';
import { validatorCompiler, type FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { CsvError, CsvParser } from '../../adapters/file/csv.js';
import { parsePeriod } from '../../billing/period.js';
import { scopeAllows } from '../../models/api-key.js';
import { channelDef } from '../../models/channel.js';
import { MdmError } from '../../models/errors.js';
import { idText, plausibleDate } from '../../models/input-schemas.js';
import { attributeValueText, DATED_ATTRIBUTES } from '../../models/meter-attribute.js';
import { changeCsvHeader, changeRowFromCsv, MAX_CHANGE_ROWS, parseChangeRows } from '../../models/meter-change.js';
import { DeviceOutSchema, ExchangeSchema, registerConsumption } from '../../models/meter-device.js';
import { deviceSpans, listDevices, registerReads } from '../../sql/device.repository.js';
import { listAttributeVersions } from '../../sql/meter-attribute.repository.js';
import { applyMeterChanges } from '../../sql/meter-change.repository.js';
import { findMeterRefs } from '../../sql/meter-lookup.repository.js';
import { getMeter } from '../../sql/meter.repository.js';
import type { RouteContext } from '../app.js';
import { decodeCsvBody } from '../csv-body.js';
import { asOfParam } from '../query-params.js';
import { authErrors, ErrorSchema } from '../schemas.js';

/**
 * Metering points over time (issue 16, docs/meters.md): the devices of a
 * point and their exchanges, the dated attribute versions, bulk changes
 * (the monthly switching list) and consumption from the register reads
 * across exchanges.
 */

const CSV = 'text/csv';
const Params = z.object({ id: idText().min(1).describe('External meter id (the metering point)') });
const Rejected = z.array(z.object({ index: z.number().int().describe('Row index (JSON) or CSV line'), reason: z.string() }));
const AttributeVersionSchema = z.object({
  attribute: z.enum(DATED_ATTRIBUTES),
  validFrom: z.string().nullable().describe('First local date it holds; null: since always'),
  validTo: z.string().nullable().describe('Local date the next version starts (exclusive); null: holds on'),
  value: z.union([z.string(), z.number(), z.null()]),
  recordedAt: z.string().nullable().describe('When it was recorded; null: known since before versions were kept (migration 028)'),
  recordedBy: z.string().nullable(),
});
const AttributeBody = z
  .object({
    attribute: z.enum(DATED_ATTRIBUTES),
    value: z.union([z.string(), z.number(), z.null()]).describe('New value; null clears it (portfolio null: leaves its portfolio)'),
    date: plausibleDate().describe("First local date (the meter's zone) the value holds"),
  })
  .strict();

/** JSON: {changes: [...]} checked for its envelope only (rows one by one); CSV bytes pass through. */
const envelopeValidator: FastifySchemaCompiler<unknown> = (route) => {
  if (route.httpPart !== 'body') return validatorCompiler(route as Parameters<FastifySchemaCompiler<z.ZodType>>[0]);
  const envelope = z.object({ changes: z.array(z.unknown()) }).strict();
  return (data: unknown) => {
    if (Buffer.isBuffer(data)) return { value: data };
    if (envelope.safeParse(data).success) return { value: data };
    return { error: new MdmError('MDM_ERR_VALIDATION', [`body must be {"changes": [ … ]} and nothing else; or send ${CSV} with a header line (docs/meters.md)`]) };
  };
};

/** CSV text → raw rows with their line numbers, and the lines refused while reading. */
function changesFromCsv(text: string): { rows: unknown[]; lines: number[]; rejected: { index: number; reason: string }[] } {
  const parser = new CsvParser();
  let records;
  try {
    records = [...parser.push(text), ...parser.end()];
  } catch (err) {
    if (err instanceof CsvError) throw new MdmError('MDM_ERR_CSV_FORMAT', [err.message]);
    throw err;
  }
  if (records.length === 0) throw new MdmError('MDM_ERR_CSV_FORMAT', ['the file is empty: send a header line (action,meter,date,…) and one change per line']);
  const header = changeCsvHeader(records[0].fields);
  if ('reason' in header) throw new MdmError('MDM_ERR_CSV_FORMAT', [`line ${records[0].line}: ${header.reason}`]);
  const rows: unknown[] = [];
  const lines: number[] = [];
  const rejected: { index: number; reason: string }[] = [];
  for (const rec of records.slice(1)) {
    if (rec.error) {
      rejected.push({ index: rec.line, reason: `malformed CSV: ${rec.error}` });
      continue;
    }
    const r = changeRowFromCsv(header.columns, rec.fields);
    if ('reason' in r) rejected.push({ index: rec.line, reason: r.reason });
    else {
      rows.push(r.row);
      lines.push(rec.line);
    }
  }
  return { rows, lines, rejected };
}

export const meterChangeRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  app.addContentTypeParser(CSV, { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  /** The meter, or 404; for a scoped key also 403 outside its scope. */
  async function pointOf(id: string, scope: Parameters<typeof scopeAllows>[0]) {
    const meter = await getMeter(database, id);
    if (!meter) throw new MdmError('MDM_ERR_UNKNOWN_METER', [id]);
    const ref = (await findMeterRefs(database, [id])).get(id)!;
    if (scope && !scopeAllows(scope, { id, group: meter.group })) throw new MdmError('MDM_ERR_VALIDATION', [`meter "${id}" is outside this key's scope`]);
    return { meter, ref };
  }

  app.post(
    '/meters/changes',
    {
      config: { permission: 'meters:write' },
      validatorCompiler: envelopeValidator,
      schema: {
        tags: ['meters'],
        summary: 'Apply registry changes in bulk: portfolio joins and leaves (the monthly switching list), device exchanges, dated attribute changes',
        description:
          `JSON {"changes": [ … ]} or ${CSV} (header ${'action,meter,date,portfolio,attribute,value,at,finalRead,initialRead,serial,make,model,registerDigits,deviceMultiplier'}; ` +
          'a line uses the columns its action needs). Rows: {action: "join", meter, portfolio, date}, {action: "leave", meter, date, portfolio?}, ' +
          '{action: "set", meter, attribute, value, date}, {action: "exchange", meter, at, finalRead, initialRead, device: {serial, make?, model?, registerDigits?, multiplier?}}. ' +
          'Each row is applied on its own, whole or not at all, in the order given; a refused row is reported with its index (JSON) or line (CSV) and reason, ' +
          `the others are applied. At most ${MAX_CHANGE_ROWS} rows. docs/meters.md.`,
        consumes: ['application/json', CSV],
        body: z.object({ changes: z.array(z.unknown()).describe('Change rows (see the description)') }),
        response: {
          200: z.object({ applied: z.number().int().describe('Rows applied'), rejected: Rejected.describe('Rows not applied, with the reason') }),
          400: ErrorSchema,
          413: ErrorSchema,
          415: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      let raw: unknown[];
      let at: (i: number) => number = (i) => i;
      const early: { index: number; reason: string }[] = [];
      if (Buffer.isBuffer(req.body)) {
        const csv = changesFromCsv(decodeCsvBody(req.body, req.headers['content-type']));
        raw = csv.rows;
        const lines = csv.lines;
        at = (i) => lines[i];
        early.push(...csv.rejected);
      } else raw = (req.body as { changes: unknown[] }).changes;
      if (raw.length + early.length > MAX_CHANGE_ROWS) {
        throw new MdmError('MDM_ERR_BATCH_TOO_LARGE', [`at most ${MAX_CHANGE_ROWS} changes per request, got ${raw.length + early.length}: split the list`]);
      }
      const { valid, rejected } = parseChangeRows(raw);
      let allowed = valid;
      const scope = req.principal.scope;
      if (scope && valid.length) {
        const stored = await findMeterRefs(database, [...new Set(valid.map((v) => v.change.meter))]);
        allowed = [];
        for (const v of valid) {
          const ref = stored.get(v.change.meter);
          if (ref && !scopeAllows(scope, { id: v.change.meter, group: ref.group })) rejected.push({ index: v.index, reason: `meter "${v.change.meter}" is outside this key's scope` });
          else allowed.push(v);
        }
      }
      const result = await applyMeterChanges(database, allowed, req.principal.name);
      const all = [...rejected, ...result.rejected].map((r) => ({ index: at(r.index), reason: r.reason }));
      all.push(...early);
      all.sort((a, b) => a.index - b.index);
      return { applied: result.applied, rejected: all };
    },
  );

  app.get(
    '/meters/:id/devices',
    {
      config: { permission: 'meters:read' },
      schema: {
        tags: ['meters'],
        summary: 'The devices installed on a metering point, oldest first',
        params: Params,
        response: { 200: z.object({ meter: z.string(), devices: z.array(DeviceOutSchema) }), 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const { ref } = await pointOf(req.params.id, null);
      return { meter: req.params.id, devices: await listDevices(database, ref.id) };
    },
  );

  app.post(
    '/meters/:id/exchanges',
    {
      config: { permission: 'meters:write' },
      schema: {
        tags: ['meters'],
        summary: 'Exchange the device of a metering point: close the installed one with its final read, install the new one with its initial read',
        description: 'Readings stay the point’s: consumption is continuous across the exchange (docs/meters.md). 409 when the point has no installed device or `at` is not after its installation.',
        params: Params,
        body: ExchangeSchema,
        response: { 201: z.object({ meter: z.string(), devices: z.array(DeviceOutSchema) }), 400: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema, ...authErrors },
      },
    },
    async (req, reply) => {
      await pointOf(req.params.id, req.principal.scope);
      const r = await applyMeterChanges(database, [{ index: 0, change: { kind: 'exchange', meter: req.params.id, exchange: req.body } }], req.principal.name);
      if (r.rejected.length) throw new MdmError('MDM_ERR_CONFLICT', [r.rejected[0].reason]);
      const { ref } = await pointOf(req.params.id, null);
      return reply.code(201).send({ meter: req.params.id, devices: await listDevices(database, ref.id) });
    },
  );

  app.get(
    '/meters/:id/attributes',
    {
      config: { permission: 'meters:read' },
      schema: {
        tags: ['meters'],
        summary: 'The dated versions of a metering point’s attributes (portfolio, tariff, multiplier, profileClass, supplyStart, supplyEnd)',
        params: Params,
        querystring: z.object({ asOf: z.string().max(64).optional().describe('The versions as recorded at this instant') }).strict(),
        response: { 200: z.object({ meter: z.string(), asOf: z.string().nullable(), versions: z.array(AttributeVersionSchema) }), 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const { ref } = await pointOf(req.params.id, null);
      const asOf = asOfParam(req.query.asOf);
      return { meter: req.params.id, asOf: asOf?.toISOString() ?? null, versions: await listAttributeVersions(database, ref.id, asOf) };
    },
  );

  app.post(
    '/meters/:id/attributes',
    {
      config: { permission: 'meters:write' },
      schema: {
        tags: ['meters'],
        summary: 'Set a dated attribute value of a metering point (from a local date on)',
        description: 'A version of the same date is replaced (kept as superseded for asOf). The meter’s field shows the newest version’s value.',
        params: Params,
        body: AttributeBody,
        response: { 200: z.object({ meter: z.string(), asOf: z.string().nullable(), versions: z.array(AttributeVersionSchema) }), 400: ErrorSchema, 404: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const { ref } = await pointOf(req.params.id, req.principal.scope);
      const v = attributeValueText(req.body.attribute, req.body.value);
      if (!v.ok) throw new MdmError('MDM_ERR_VALIDATION', [v.reason]);
      await applyMeterChanges(database, [{ index: 0, change: { kind: 'attribute', meter: req.params.id, attribute: req.body.attribute, value: v.text, date: req.body.date } }], req.principal.name);
      return { meter: req.params.id, asOf: null, versions: await listAttributeVersions(database, ref.id) };
    },
  );

  app.get(
    '/meters/:id/register-consumption',
    {
      config: { permission: 'billing:read' },
      schema: {
        tags: ['billing'],
        summary: 'Consumption of a metering point over a local month from its register reads, device by device across exchanges',
        description:
          'Each device counts from its initial read (installed in the month) or the last read at or before the month start, to its final read (removed in the month) ' +
          'or the read at the month end; a drop is a rollover at 10^registerDigits. × the device multiplier (else the meter’s). docs/meters.md.',
        params: Params,
        querystring: z
          .object({
            period: z
              .string()
              .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be a month YYYY-MM')
              .describe('Local month YYYY-MM'),
            channel: z.enum(['active_import_register', 'active_export_register', 'volume_register', 'heat_energy_register']).default('active_import_register'),
          })
          .strict(),
        response: {
          200: z.object({
            meter: z.string(),
            period: z.string(),
            channel: z.string(),
            from: z.string(),
            to: z.string(),
            energy: z.number().describe('Σ of the devices, multiplier applied (kWh, m³)'),
            devices: z.array(
              z.object({
                serial: z.string(),
                from: z.string(),
                to: z.string(),
                startRead: z.number().nullable(),
                endRead: z.number().nullable(),
                rollovers: z.number().int(),
                decreases: z.number().int().describe('Drops not explained by a rollover (counted as 0): register digits unknown or a bad read'),
                delta: z.number().describe('Δ register as recorded'),
                multiplier: z.number(),
                energy: z.number(),
              }),
            ),
          }),
          400: ErrorSchema,
          404: ErrorSchema,
          ...authErrors,
        },
      },
    },
    async (req) => {
      const { meter, ref } = await pointOf(req.params.id, null);
      const p = parsePeriod(req.query.period)!;
      const channel = channelDef(req.query.channel).code;
      const { from, to, reads } = await registerReads(database.db, { meterId: ref.id, timezone: meter.timezone, channel, fromDate: p.fromDate, toDate: p.toDate });
      const spans = await deviceSpans(database.db, ref.id, from, to, meter.multiplier);
      const r = registerConsumption(reads, spans, from.getTime(), to.getTime());
      const iso = (ms: number) => new Date(ms).toISOString();
      return {
        meter: meter.id,
        period: p.period,
        channel: req.query.channel,
        from: from.toISOString(),
        to: to.toISOString(),
        energy: r.energy,
        devices: r.devices.map(({ fromMs, toMs, ...d }) => ({ ...d, from: iso(fromMs), to: iso(toMs) })),
      };
    },
  );
};
