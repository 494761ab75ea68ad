import { channelDef } from '../../models/channel.js';
import { INTERVAL_CHANNEL_OF_REGISTER, type ModbusDevice } from '../../models/modbus.js';
import { recordEvents } from '../../ingest/events.js';
import type { IngestListeners } from '../../ingest/ingest-listeners.js';
import { ingestReadings } from '../../ingest/pipeline.js';
import { applyRegisterRead, type RegisterState } from '../../ingest/register-delta.js';
import type { Database } from '../../sql/database.js';
import { recordDeadLetters, type DeadLetter } from '../../sql/dead-letter.repository.js';
import type { MeterEventRow } from '../../sql/event.repository.js';
import { findMeterRefs } from '../../sql/meter-lookup.repository.js';
import { recordPoll, type RegisterStateRow } from '../../sql/modbus-device.repository.js';
import type { PollerLog, PollSink } from './device-poller.js';
import { toDeviceStatus } from './device-status.js';

/** Where a device is, as kept with its dead letters and events (`topic`). */
export function deviceTarget(d: ModbusDevice): string {
  return d.transport === 'tcp' ? `modbus-tcp://${d.host}:${d.port}/${d.unitId}` : `modbus-rtu://${d.path}/${d.unitId}`;
}

const hex = (words: readonly number[]) => words.map((w) => w.toString(16).padStart(4, '0')).join(' ');

/**
 * Stores what a poll read, through the one ingest path (transport 'modbus'):
 * every value as a reading at its read time, and for register channels the
 * interval consumption derived from consecutive reads (ingest/register-delta)
 * on the matching interval channel. Resets and implausible jumps store the
 * read as 'suspect' plus a register_reset / register_jump event; status
 * changes store communication_failure / communication_restored for every
 * meter of the device. `states` is the device's register state (loaded at
 * start); it moves only after the poll is stored, so a failed write is
 * recomputed from the same state on the next poll. `version` is the
 * configuration the poller runs (StoredDevice.version); `listeners`: what
 * runs when readings and events are stored (alarms; cli/ wires it).
 */
export function createPollSink(database: Database, version: number, states: Map<string, RegisterState>, log: PollerLog, listeners?: IngestListeners): PollSink {
  return async (device, result, status, event) => {
    const topic = deviceTarget(device);
    const refs = await findMeterRefs(database, [...new Set(device.registers.map((r) => r.meter))]);
    const rows: Record<string, unknown>[] = [];
    const dead: DeadLetter[] = [];
    const events: MeterEventRow[] = [];
    const moved = new Map<string, RegisterStateRow>();

    for (const v of result.values) {
      const e = device.registers[v.index];
      if (!Number.isFinite(v.value)) {
        dead.push({
          rowIndex: null,
          meter: e.meter,
          payload: JSON.stringify({ device: device.id, address: e.address, function: e.function, type: e.type, wordOrder: e.wordOrder, byteSwap: e.byteSwap, registers: hex(v.words) }),
          reason: `register ${e.address} (${e.type}) decoded to ${v.value}, not a number: check type, wordOrder and byteSwap against the device manual`,
        });
        continue;
      }
      let quality: 'measured' | 'suspect' = 'measured';
      const ref = refs.get(e.meter);
      const intervalChannel = INTERVAL_CHANNEL_OF_REGISTER[e.channel];
      if (ref && intervalChannel) {
        const code = channelDef(e.channel).code;
        const key = `${ref.id}|${code}`;
        const r = applyRegisterRead(
          moved.get(key)?.state ?? states.get(key),
          { atMs: v.atMs, value: v.value },
          {
            intervalMinutes: ref.intervalMinutes,
            timezone: ref.timezone,
            rolloverAt: e.rolloverAt,
            maxDeltaPerHour: e.maxDeltaPerHour,
            maxGapMs: device.maxGapMinutes * 60_000,
          },
        );
        if (r.state) moved.set(key, { meterId: ref.id, channel: code, state: r.state });
        for (const i of r.intervals) rows.push({ meter: e.meter, channel: intervalChannel, start: new Date(i.startMs).toISOString(), value: i.value, quality: i.quality });
        const flag = r.flag;
        if (flag?.kind === 'reset' || flag?.kind === 'jump') {
          quality = 'suspect';
          const data = {
            device: device.id,
            channel: e.channel,
            previous: flag.previous,
            previousAt: new Date(flag.previousAtMs).toISOString(),
            current: flag.current,
            ...(flag.kind === 'jump' ? { limit: flag.limit } : {}),
            note: 'no consumption derived between the two reads; interval conversion restarts at this read',
          };
          events.push({ meterId: ref.id, code: flag.kind === 'reset' ? 'register_reset' : 'register_jump', at: new Date(v.atMs), severity: 'warning', data, transport: 'modbus', topic });
          log.warn(data, `modbus: register ${flag.kind} on meter ${e.meter}`);
        } else if (flag?.kind === 'rollover') {
          log.info({ device: device.id, meter: e.meter, channel: e.channel, previous: flag.previous, current: flag.current, delta: flag.delta }, 'modbus: register rolled over');
        }
      }
      rows.push({ meter: e.meter, channel: e.channel, start: new Date(v.atMs).toISOString(), value: v.value, quality });
    }

    if (event) {
      for (const ref of refs.values()) {
        events.push({
          meterId: ref.id,
          code: event,
          at: new Date(status.lastPollAtMs ?? result.atMs),
          severity: event === 'communication_failure' ? 'warning' : 'info',
          data: { device: device.id, consecutiveFailures: status.consecutiveFailures, error: status.lastError, errorCode: status.lastErrorCode },
          transport: 'modbus',
          topic,
        });
      }
    }

    if (dead.length) await recordDeadLetters(database, { transport: 'modbus', principal: `modbus:${device.id}`, topic }, dead);
    if (rows.length) {
      const res = await ingestReadings(database, rows, { transport: 'modbus', principal: `modbus:${device.id}`, topic, detail: `device ${device.id}`, listeners });
      if (res.rejected.length) log.warn({ device: device.id, rejected: res.rejected.slice(0, 5) }, `modbus: ${res.rejected.length} reading(s) dead-lettered`);
    }
    if (events.length) await recordEvents(database, events, listeners);
    if (!(await recordPoll(database, device.id, version, toDeviceStatus(status), [...moved.values()]))) return; // configuration replaced: this poller is being stopped
    for (const [key, row] of moved) states.set(key, row.state);
  };
}
