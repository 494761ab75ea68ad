import { ModbusDeviceSchema, type ModbusDevice } from '../../models/modbus.js';
import type { IngestListeners } from '../../ingest/ingest-listeners.js';
import type { Database } from '../../sql/database.js';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { holdLeases, listDevices, loadRegisterStates, recordPoll, releaseLeases } from '../../sql/modbus-device.repository.js';
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
  /** This instance's name in the device leases (default host:pid:random). */
  readonly instance?: string;
  /** How long a device's lease lasts without renewal: another instance takes the device over after that (default 3 × reloadMs, at least 15 s). */
  readonly leaseMs?: number;
  /** No other instance can share the database (the embedded one: its data dir is locked): every lease is dropped at start. */
  readonly onlyInstance?: boolean;
}

export interface ModbusPoller {
  readonly name: 'modbus';
  readonly probe: { readonly name: string; check(): { ok: boolean; [k: string]: unknown } };
  start(log?: ComponentLog): Promise<void>;
  /** Stops polling and releases this instance's leases (`release: false`: leaves them to expire, as a killed process does; for tests). */
  stop(o?: { release?: boolean }): Promise<void>;
  /** Re-reads the device table now (also runs every reloadMs). */
  reload(): Promise<void>;
}

const silent: ComponentLog = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

/**
 * The Modbus poller as a `mdm serve` component: one DevicePoller per enabled
 * device in the modbus_devices table that this instance holds the lease of,
 * restarted when its configuration changes. Instances sharing a database
 * split the devices: each reload (every reloadMs) renews this instance's
 * leases and takes free or expired ones (sql/modbus-device.repository.ts
 * holdLeases), so a device is polled by one instance and, when that
 * instance dies, by another within leaseMs + reloadMs (docs/modbus.md). A
 * stopping instance releases its leases.
 */
export function createModbusPoller(opts: ModbusPollerOptions): ModbusPoller {
  const { database } = opts;
  const timers = opts.timers ?? realTimers;
  const now = opts.now ?? Date.now;
  const reloadMs = opts.reloadMs ?? 5_000;
  const leaseMs = opts.leaseMs ?? Math.max(15_000, 3 * reloadMs);
  const instance = opts.instance ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  let held = 0;
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
    const stored = (await listDevices(database)).map((row) => ({ row, parsed: ModbusDeviceSchema.safeParse(row.config) }));
    // The devices to poll: renew this instance's leases, take free and expired ones.
    const mine = await holdLeases(
      database,
      instance,
      stored.filter((d) => d.parsed.success && d.parsed.data.enabled).map((d) => d.row.id),
      leaseMs,
    );
    held = mine.size;
    const seen = new Set<string>();
    for (const { row, parsed } of stored) {
      seen.add(row.id);
      const version = row.version;
      const current = pollers.get(row.id);
      if (parsed.success && parsed.data.enabled && !mine.has(row.id)) {
        // another instance holds it (its status rows are that instance's to write)
        if (current) {
          await stopDevice(row.id);
          log.info({ device: row.id }, 'modbus: device now polled by another instance (its lease)');
        }
        continue;
      }
      if (current?.version === version) continue;
      if (current) await stopDevice(row.id);
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
        // devices: the ones this instance holds the lease of (or knows disabled); leased: polled here
        return { ok: running, devices: pollers.size, leased: held, ...counts, ...(opts.devicesFile ? { fileInvalid, fileWaiting: fileWaiting.length } : {}) };
      },
    },
    async start(l) {
      log = l ?? silent;
      if (opts.onlyInstance) await releaseLeases(database, null); // leases a killed predecessor left need not run out
      if (opts.devicesFile) await loadFileRows(await readDeviceFile(opts.devicesFile), true);
      running = true;
      await reload();
      scheduleReload();
    },
    async stop(o = {}) {
      running = false;
      if (reloadTimer !== undefined) timers.clearTimeout(reloadTimer);
      reloadTimer = undefined;
      await reloading;
      await Promise.all([...pollers.keys()].map(stopDevice));
      if (o.release === false) return;
      // The next instance to reload takes the devices now instead of after the lease runs out.
      await releaseLeases(database, instance).catch((err: Error) => log.warn({ err: err.message }, 'modbus: could not release the device leases; they expire on their own'));
    },
    reload,
  };
}

/** `mdm serve` component factory (cli/components.ts). */
export function modbusComponent(ctx: { config: { MODBUS_DEVICES_FILE?: string }; database: Database; listeners?: IngestListeners; instance?: string }): ModbusPoller {
  return createModbusPoller({
    database: ctx.database,
    listeners: ctx.listeners,
    devicesFile: ctx.config.MODBUS_DEVICES_FILE,
    onlyInstance: ctx.database.engine === 'pglite',
    instance: ctx.instance,
  });
}
