import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { storeDevices } from '../../adapters/modbus/device-config.js';
import { MdmError } from '../../models/errors.js';
import { DeviceStatusSchema, ModbusDeviceSchema } from '../../models/modbus.js';
import { listDevices } from '../../sql/modbus-device.repository.js';
import type { RouteContext } from '../app.js';
import { authErrors, ErrorSchema } from '../schemas.js';

/** Most devices one PUT takes. */
export const MAX_DEVICES_PER_REQUEST = 1_000;

// Rows are validated one by one (storeDevices) so one bad device rejects only
// itself; the items are documented with the device schema all the same.
const { $schema: _drop, ...deviceJsonSchema } = z.toJSONSchema(ModbusDeviceSchema, { io: 'input', unrepresentable: 'any' });
const DevicesBody = z
  .array(z.unknown().meta(deviceJsonSchema))
  .describe(`Devices to create or replace, keyed by id (at most ${MAX_DEVICES_PER_REQUEST}). A PUT replaces the whole device configuration.`);

const RejectSchema = z.object({
  index: z.number().int().describe('Position in the request array'),
  id: z.string().nullable(),
  reason: z.string().describe('Field path and what is wrong'),
});

const UpsertResultSchema = z.object({
  created: z.number().int(),
  updated: z.number().int().describe('Stored devices whose configuration changed (their pollers restart)'),
  unchanged: z.number().int(),
  rejected: z.array(RejectSchema).describe('Devices not stored; the others are stored regardless'),
});

const DeviceOutSchema = z.object({
  id: z.string(),
  config: z.looseObject({}).describe('The configuration as stored, defaults filled in'),
  status: DeviceStatusSchema,
  createdAt: z.string(),
  updatedAt: z.string(),
});

const PENDING = { state: 'pending', lastPollAt: null, lastSuccessAt: null, consecutiveFailures: 0, lastError: null, lastErrorCode: null } as const;

/** Modbus device configuration and status (admin). */
export const modbusRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database }) => {
  const config = { permission: 'devices:admin' } as const;

  app.put(
    '/modbus/devices',
    {
      config,
      schema: {
        tags: ['modbus'],
        summary: 'Create or replace Modbus devices in bulk',
        description:
          'Validates each device on its own (schema, registered target meters, no meter channel read by two devices) and stores the valid ones; ' +
          'the poller picks changes up within seconds. 200 with `rejected` listing the bad rows when at least one device was valid; ' +
          '400 when none was (details: the rejects). See docs/modbus.md for the register map.',
        body: DevicesBody,
        response: { 200: UpsertResultSchema, 400: ErrorSchema, 413: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const raw = req.body;
      if (raw.length > MAX_DEVICES_PER_REQUEST) {
        throw new MdmError('MDM_ERR_BATCH_TOO_LARGE', [`PUT /v1/modbus/devices takes at most ${MAX_DEVICES_PER_REQUEST} devices per request, got ${raw.length}`]);
      }
      if (raw.length === 0) throw new MdmError('MDM_ERR_VALIDATION', ['send a JSON array with at least one device']);
      const res = await storeDevices(database, raw);
      const rejected = res.rejected.map(({ index, id, reason }) => ({ index, id, reason }));
      if (rejected.length === raw.length) {
        const first = rejected[0];
        throw new MdmError('MDM_ERR_INVALID_ROWS', [`no device stored: ${rejected.length} rejected; row ${first.index}${first.id ? ` ("${first.id}")` : ''}: ${first.reason}`], { details: rejected });
      }
      return { created: res.created, updated: res.updated, unchanged: res.unchanged, rejected };
    },
  );

  app.get(
    '/modbus/devices',
    {
      config,
      schema: {
        tags: ['modbus'],
        summary: 'List Modbus devices with their poll status',
        response: { 200: z.object({ devices: z.array(DeviceOutSchema) }), ...authErrors },
      },
    },
    async () => {
      const rows = await listDevices(database);
      return {
        devices: rows.map((d) => ({
          id: d.id,
          config: d.config as Record<string, unknown>,
          status: d.status ?? { ...PENDING, state: (d.config as { enabled?: boolean }).enabled === false ? ('disabled' as const) : ('pending' as const) },
          createdAt: d.createdAt.toISOString(),
          updatedAt: d.updatedAt.toISOString(),
        })),
      };
    },
  );
};
