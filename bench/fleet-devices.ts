import net, { type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { encode, startMeterSim, type MeterSim } from '../test/modbus-sim.js';

/**
 * Modbus meters for `npm run bench -- fleet`: a simulator (test/modbus-sim.ts)
 * behind a TCP proxy of its own that notes, per client connection, when its
 * requests came. An instance polls a device over one connection; two
 * instances polling one device at once show as two connections whose
 * request spans overlap.
 */
export interface FleetDevice {
  readonly id: string;
  readonly meter: string;
  /** The proxy's port: what the device configuration points at. */
  readonly port: number;
  /** Request times (performance.now()) per client connection, in connection order. */
  readonly connections: number[][];
  close(): Promise<void>;
}

export async function startFleetDevice(id: string, meter: string): Promise<FleetDevice> {
  let kwh = 1000;
  const sim: MeterSim = await startMeterSim({ holding: (a) => encode('float32', (kwh += 0.25))[a] });
  const connections: number[][] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const seen: number[] = [];
    connections.push(seen);
    const upstream = net.connect(sim.port, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        client.destroy();
        upstream.destroy();
      });
    }
    client.on('data', (d) => {
      seen.push(performance.now());
      upstream.write(d);
    });
    upstream.on('data', (d) => client.write(d));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    id,
    meter,
    port,
    connections,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
      await sim.close();
    },
  };
}

export interface DeviceVerdict {
  readonly id: string;
  /** Pairs of connections whose request spans overlap: two pollers at once. */
  readonly overlaps: number;
  /** Longest pause between two requests after `killAt` (the takeover), ms; undefined when no request came after it. */
  readonly takeoverMs: number | undefined;
  readonly requests: number;
  readonly connections: number;
}

/** Spans of the connections that made requests, compared in order; the pause around `killAt`. */
export function judgeDevice(d: FleetDevice, killAt: number): DeviceVerdict {
  const spans = d.connections.filter((c) => c.length > 0).map((c) => ({ first: c[0], last: c.at(-1)! }));
  spans.sort((a, b) => a.first - b.first);
  let overlaps = 0;
  for (let i = 1; i < spans.length; i++) for (let j = 0; j < i; j++) if (spans[j].last > spans[i].first) overlaps++;
  const times = d.connections.flat().sort((a, b) => a - b);
  const before = times.filter((t) => t <= killAt).at(-1);
  const after = times.find((t) => t > killAt);
  return {
    id: d.id,
    overlaps,
    takeoverMs: after === undefined ? undefined : after - (before ?? killAt),
    requests: times.length,
    connections: spans.length,
  };
}
