import { ModbusDeviceSchema, type ModbusDevice } from '../../models/modbus.js';
import type { IngestListeners } from '../../ingest/ingest-listeners.js';
import type { Database } from '../../sql/database.js';
import { listDevices, loadRegisterStates, recordPoll } from '../../sql/modbus-device.repository.js';
import { readDeviceFile, storeDevices } from './device-config.js';
import { DevicePoller } from './device-poller.js';
import { fromDeviceStatus, INITIAL_STATUS, toDeviceStatus } from './device-status.js';
import { createModbusReader, type ReaderFactory } from './modbus-client.js';
import { createPollSink } from './poll-sink.js';
import { realTimers, type Timers } from './timers.js';

type LogFn = (objOrMsg: object | string, msg?: string) => void;
/** Structurally the logger `mdm serve` hands its components (a pino child). */
export interface ComponentLog {
  readonly debug: LogFn;
  readonly info: LogFn;
  readonly warn: LogFn;
  readonly error: LogFn;
}

export interface ModbusPollerOptions {
  readonly database: Database;
  /** What runs when polled readings and events are stored (alarms; cli/ wires it). */
  readonly listeners?: IngestListeners;
  /** MODBUS_DEVICES_FILE: stored into the device table at start (same validation as PUT). */
  readonly devicesFile?: string;
  /** How often the device table is re-read, picking up PUT /v1/modbus/devices (default 5 s). */
  readonly reloadMs?: number;
  readonly timers?: Timers;
  readonly now?: () => number;
  /** Default: modbus-serial (TCP, RTU loaded lazily). */
  readonly readerFactory?: ReaderFactory;
}

export interface ModbusPoller {
  readonly name: 'modbus';
  readonly probe: { readonly name: string; check(): { ok: boolean; [k: string]: unknown } };
  start(log?: ComponentLog): Promise<void>;
  stop(): Promise<void>;
  /** Re-reads the device table now (also runs every reloadMs). */
  reload(): Promise<void>;
}

const silent: ComponentLog = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/**
 * The Modbus poller as a `mdm serve` component: one DevicePoller per enabled
 * device in the modbus_devices table, restarted when its configuration
 * changes. Every instance running it polls every device: run it on one
 * instance (docs/modbus.md).
 */
export function createModbusPoller(opts: ModbusPollerOptions): ModbusPoller {
  const { database } = opts;
  const timers = opts.timers ?? realTimers;
  const now = opts.now ?? Date.now;
  const reloadMs = opts.reloadMs ?? 5_000;
  const readerFactory = opts.readerFactory ?? ((d: ModbusDevice) => createModbusReader(d, { timers }));
  // undefined poller: a disabled device, or one whose stored configuration no longer parses
  const pollers = new Map<string, { poller: DevicePoller | undefined; version: number }>();
  let log = silent;
  let running = false;
  let reloadTimer: unknown;
  let reloading: Promise<void> = Promise.resolve();
  let fileInvalid = 0; // devices of MODBUS_DEVICES_FILE that fail validation (logged at start)
  // File devices that were valid but waited on the database (meter not registered yet): retried at every reload.
  let fileWaiting: unknown[] = [];

  const pollerLog = {
    info: (o: object, m: string) => log.info(o, m),
    warn: (o: object, m: string) => log.warn(o, m),
    error: (o: object, m: string) => log.error(o, m),
  };

  async function startDevice(device: ModbusDevice, version: number, stored: ReturnType<typeof fromDeviceStatus> | undefined): Promise<void> {
    const states = await loadRegisterStates(database, device.id);
    const poller = new DevicePoller(device, {
      reader: readerFactory(device),
      sink: createPollSink(database, version, states, pollerLog, opts.listeners),
      timers,
      now,
      log: pollerLog,
      status: stored && stored.state !== 'disabled' ? stored : INITIAL_STATUS,
    });
    pollers.set(device.id, { poller, version });
    poller.start();
  }

  async function stopDevice(id: string): Promise<void> {
    const p = pollers.get(id);
    pollers.delete(id);
    await p?.poller?.stop();
  }

  async function syncOnce(): Promise<void> {
    const stored = await listDevices(database);
    const seen = new Set<string>();
    for (const row of stored) {
      seen.add(row.id);
      const version = row.version;
      const current = pollers.get(row.id);
      if (current?.version === version) continue;
      if (current) await stopDevice(row.id);
      const parsed = ModbusDeviceSchema.safeParse(row.config);
      const status = row.status ? fromDeviceStatus(row.status) : undefined;
      if (!parsed.success) {
        const message = `stored configuration is no longer valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}; send it again with PUT /v1/modbus/devices`;
        log.error({ device: row.id }, `modbus: ${message}`);
        await recordPoll(database, row.id, version, { ...toDeviceStatus(status ?? INITIAL_STATUS), state: 'disabled', lastError: message, lastErrorCode: 'BAD_CONFIG' }, []);
        pollers.set(row.id, { poller: undefined, version });
        continue;
      }
      if (!parsed.data.enabled) {
        await recordPoll(database, row.id, version, { ...toDeviceStatus(status ?? INITIAL_STATUS), state: 'disabled' }, []);
        pollers.set(row.id, { poller: undefined, version });
        continue;
      }
      await startDevice(parsed.data, version, status);
      log.info({ device: row.id, registers: parsed.data.registers.length, pollIntervalMs: parsed.data.pollIntervalMs }, 'modbus: polling device');
    }
    for (const id of [...pollers.keys()]) if (!seen.has(id)) await stopDevice(id);
  }

  function scheduleReload(): void {
    if (!running) return;
    reloadTimer = timers.setTimeout(() => {
      reloadTimer = undefined;
      void reload().finally(scheduleReload);
    }, reloadMs);
  }

  async function loadFileRows(raw: unknown[], first: boolean): Promise<void> {
    const res = await storeDevices(database, raw);
    fileWaiting = res.rejected.filter((r) => r.retryable).map((r) => raw[r.index]);
    if (first) fileInvalid = res.rejected.length - fileWaiting.length;
    const stored = res.created + res.updated + res.unchanged;
    if (first) {
      for (const r of res.rejected) {
        log.warn({ file: opts.devicesFile, index: r.index, device: r.id }, `modbus: device in MODBUS_DEVICES_FILE not loaded${r.retryable ? ' yet (retried every reload)' : ''}: ${r.reason}`);
      }
      log.info({ file: opts.devicesFile, created: res.created, updated: res.updated, unchanged: res.unchanged, rejected: res.rejected.length }, 'modbus: devices file loaded');
    } else if (stored) {
      log.info({ file: opts.devicesFile, devices: stored, stillWaiting: fileWaiting.length }, 'modbus: waiting devices from MODBUS_DEVICES_FILE loaded');
    }
  }

  function reload(): Promise<void> {
    // one sync at a time; a reload asked for during one runs after it
    reloading = reloading.then(async () => {
      if (!running) return;
      try {
        if (fileWaiting.length) await loadFileRows(fileWaiting, false);
        await syncOnce();
      } catch (err) {
        log.error({ err: (err as Error).message }, 'modbus: reading the device table failed; retrying later');
      }
    });
    return reloading;
  }

  return {
    name: 'modbus',
    probe: {
      name: 'modbus',
      check() {
        const counts: Record<string, number> = { pending: 0, online: 0, backoff: 0, offline: 0, disabled: 0 };
        for (const { poller } of pollers.values()) counts[poller?.currentStatus.state ?? 'disabled']++;
        // Field devices going offline is device status (GET /v1/modbus/devices), not ill health of this service.
        return { ok: running, devices: pollers.size, ...counts, ...(opts.devicesFile ? { fileInvalid, fileWaiting: fileWaiting.length } : {}) };
      },
    },
    async start(l) {
      log = l ?? silent;
      if (opts.devicesFile) await loadFileRows(await readDeviceFile(opts.devicesFile), true);
      running = true;
      await reload();
      scheduleReload();
    },
    async stop() {
      running = false;
      if (reloadTimer !== undefined) timers.clearTimeout(reloadTimer);
      reloadTimer = undefined;
      await reloading;
      await Promise.all([...pollers.keys()].map(stopDevice));
    },
    reload,
  };
}

/** `mdm serve` component factory (cli/components.ts). */
export function modbusComponent(ctx: { config: { MODBUS_DEVICES_FILE?: string }; database: Database; listeners?: IngestListeners }): ModbusPoller {
  return createModbusPoller({ database: ctx.database, listeners: ctx.listeners, devicesFile: ctx.config.MODBUS_DEVICES_FILE });
}
