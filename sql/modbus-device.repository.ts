import { sql } from 'kysely';
import type { DeviceState, DeviceStatus } from '../models/modbus.js';
import type { RegisterState } from '../models/modbus.js';
import type { Database } from './database.js';

/** A device row as stored: `config` is the validated ModbusDevice JSON (parse it again on load). */
export interface StoredDevice {
  readonly id: string;
  readonly config: unknown;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** updated_at in epoch microseconds: the configuration version a poller's writes must match. */
  readonly version: number;
  /** undefined until the poller has written one. */
  readonly status: DeviceStatus | undefined;
}

export interface DeviceUpsertCounts {
  created: number;
  updated: number;
  unchanged: number;
}

// A device whose configuration changed restarts its register → interval
// conversion (its register state is dropped): a new scale or address would
// otherwise be read as a jump or reset against the old value.
const upsert = (doc: string) => sql<{ created: number; updated: number }>`
WITH input AS (
  SELECT t.id, t.config FROM jsonb_to_recordset(${doc}::jsonb) AS t(id text, config jsonb)
), up AS (
  INSERT INTO modbus_devices AS d (id, config) SELECT id, config FROM input
  ON CONFLICT (id) DO UPDATE SET config = excluded.config, updated_at = now()
  WHERE d.config IS DISTINCT FROM excluded.config
  RETURNING d.id, (xmax = 0) AS created
), dropped AS (
  DELETE FROM modbus_register_state s USING up WHERE s.device_id = up.id AND NOT up.created
)
SELECT count(*) FILTER (WHERE created)::int AS created, count(*) FILTER (WHERE NOT created)::int AS updated FROM up`;

/**
 * Creates or replaces device configurations by id in one statement; one sent
 * exactly as stored is left alone (updated_at kept). Ids must be unique.
 * @example await upsertDevices(database, [{ id: 'D1', config: parsedDevice }]) // { created: 1, updated: 0, unchanged: 0 }
 */
export async function upsertDevices(database: Database, devices: readonly { id: string; config: unknown }[]): Promise<DeviceUpsertCounts> {
  if (devices.length === 0) return { created: 0, updated: 0, unchanged: 0 };
  const sorted = [...devices].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)); // one lock order for concurrent upserts
  return database.session(async ({ db }) => {
    const {
      rows: [r],
    } = await upsert(JSON.stringify(sorted)).execute(db);
    return { created: r.created, updated: r.updated, unchanged: devices.length - r.created - r.updated };
  });
}

/** Every device with its status, ordered by id. */
export async function listDevices(database: Database): Promise<StoredDevice[]> {
  const rows = await database.db
    .selectFrom('modbus_devices as d')
    .leftJoin('modbus_device_status as s', 's.device_id', 'd.id')
    .select([
      'd.id',
      'd.config',
      'd.created_at',
      'd.updated_at',
      sql<number>`(extract(epoch from d.updated_at) * 1000000)::bigint`.as('version'),
      's.state',
      's.last_poll_at',
      's.last_success_at',
      's.consecutive_failures',
      's.last_error',
      's.last_error_code',
    ])
    .orderBy('d.id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    config: r.config,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    version: Number(r.version),
    status:
      r.state === null
        ? undefined
        : {
            state: r.state as DeviceState,
            lastPollAt: r.last_poll_at?.toISOString() ?? null,
            lastSuccessAt: r.last_success_at?.toISOString() ?? null,
            consecutiveFailures: r.consecutive_failures ?? 0,
            lastError: r.last_error,
            lastErrorCode: r.last_error_code,
          },
  }));
}

/** Register states of one device, keyed `${meterId}|${channel}`. */
export async function loadRegisterStates(database: Database, deviceId: string): Promise<Map<string, RegisterState>> {
  const rows = await database.db.selectFrom('modbus_register_state').selectAll().where('device_id', '=', deviceId).execute();
  const out = new Map<string, RegisterState>();
  for (const r of rows) {
    out.set(`${r.meter_id}|${r.channel}`, {
      lastAtMs: r.last_at.getTime(),
      lastValue: r.last_value,
      pendingStartMs: r.pending_start.getTime(),
      pendingValue: r.pending_value,
      pendingStart: r.pending_kind,
    });
  }
  return out;
}

export interface RegisterStateRow {
  readonly meterId: number;
  readonly channel: number;
  readonly state: RegisterState;
}

const saveStates = (deviceId: string, doc: string) => sql`
INSERT INTO modbus_register_state AS r (meter_id, channel, device_id, last_at, last_value, pending_start, pending_value, pending_kind, updated_at)
SELECT meter_id, channel, ${deviceId}, last_at, last_value, pending_start, pending_value, pending_kind, now()
FROM jsonb_to_recordset(${doc}::jsonb) AS t(meter_id integer, channel smallint, last_at timestamptz, last_value double precision,
                                        pending_start timestamptz, pending_value double precision, pending_kind text)
ON CONFLICT (meter_id, channel) DO UPDATE SET
  device_id = excluded.device_id, last_at = excluded.last_at, last_value = excluded.last_value,
  pending_start = excluded.pending_start, pending_value = excluded.pending_value, pending_kind = excluded.pending_kind, updated_at = now()`;

/**
 * Records one poll: the device status and the register states it moved, in
 * one transaction, only while the device still has configuration `version`
 * (StoredDevice.version). A poll of a configuration replaced meanwhile is
 * not recorded: its register states belong to the old register map, which
 * the upsert already dropped. Returns false then.
 */
export async function recordPoll(database: Database, deviceId: string, version: number, status: DeviceStatus, states: readonly RegisterStateRow[]): Promise<boolean> {
  return database.session(async ({ db }) => {
    const row = await db.selectFrom('modbus_devices').select(sql<number>`(extract(epoch from updated_at) * 1000000)::bigint`.as('v')).where('id', '=', deviceId).forUpdate().executeTakeFirst();
    if (!row || Number(row.v) !== version) return false;
    await db
      .insertInto('modbus_device_status')
      .values({
        device_id: deviceId,
        state: status.state,
        last_poll_at: status.lastPollAt,
        last_success_at: status.lastSuccessAt,
        consecutive_failures: status.consecutiveFailures,
        last_error: status.lastError,
        last_error_code: status.lastErrorCode,
        updated_at: sql`now()`,
      })
      .onConflict((oc) =>
        oc.column('device_id').doUpdateSet((eb) => ({
          state: eb.ref('excluded.state'),
          last_poll_at: eb.ref('excluded.last_poll_at'),
          last_success_at: eb.ref('excluded.last_success_at'),
          consecutive_failures: eb.ref('excluded.consecutive_failures'),
          last_error: eb.ref('excluded.last_error'),
          last_error_code: eb.ref('excluded.last_error_code'),
          updated_at: sql`now()`,
        })),
      )
      .execute();
    if (states.length === 0) return true;
    const doc = states.map(({ meterId, channel, state }) => ({
      meter_id: meterId,
      channel,
      last_at: new Date(state.lastAtMs).toISOString(),
      last_value: state.lastValue,
      pending_start: new Date(state.pendingStartMs).toISOString(),
      pending_value: state.pendingValue,
      pending_kind: state.pendingStart,
    }));
    await saveStates(deviceId, JSON.stringify(doc)).execute(db);
    return true;
  });
}

/**
 * Takes or renews, for `holder`, the leases of the devices `ids` that are
 * free, expired or already its own, until now + `ttlMs`: the ids it holds
 * afterwards. Rows are written in id order (two instances renewing side by
 * side never deadlock); a device deleted meanwhile is left out.
 */
export async function holdLeases(database: Database, holder: string, ids: readonly string[], ttlMs: number): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const { rows } = await sql<{ device_id: string }>`
    INSERT INTO modbus_leases (device_id, holder, expires_at)
    SELECT d.id, ${holder}, now() + ${ttlMs} * interval '1 millisecond'
    FROM modbus_devices d WHERE d.id = ANY(${ids as string[]}::text[])
    ORDER BY d.id
    ON CONFLICT (device_id) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE modbus_leases.holder = excluded.holder OR modbus_leases.expires_at < now()
    RETURNING device_id`.execute(database.db);
  return new Set(rows.map((r) => r.device_id));
}

/** Gives up every lease of `holder` (a stopping instance; null: every lease): the devices go to the next instance that reloads. */
export async function releaseLeases(database: Database, holder: string | null): Promise<void> {
  let q = database.db.deleteFrom('modbus_leases');
  if (holder !== null) q = q.where('holder', '=', holder);
  await q.execute();
}

/** Who polls which device (lease holders whose lease has not expired). */
export async function leaseHolders(database: Database): Promise<Map<string, string>> {
  const rows = await database.db.selectFrom('modbus_leases').select(['device_id', 'holder']).where('expires_at', '>', sql<Date>`now()`).execute();
  return new Map(rows.map((r) => [r.device_id, r.holder]));
}
