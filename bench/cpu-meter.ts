import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import type { Database } from '../sql/database.js';

/**
 * CPU seconds spent by this process and by the PostgreSQL backends serving the
 * bench database during a phase. On a shared machine wall time stretches with
 * other people's load; CPU per row barely does, so it says which side limits
 * the rate. Backends are read from /proc: Linux, server on this machine only;
 * elsewhere `backend` is null. WAL writer, checkpointer and autovacuum are not counted.
 */
export interface CpuUse {
  readonly self: number;
  readonly backend: number | null;
  /** The other processes asked for (a service started as its own process), summed; null when none was readable. */
  readonly processes: number | null;
}

const TICKS_PER_S = 100; // USER_HZ on Linux

/** CPU seconds (user + system) of a process and its threads so far, from /proc; undefined once it is gone. */
export function procCpu(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S; // utime + stime
  } catch {
    return undefined;
  }
}

async function backendPids(database: Database): Promise<number[]> {
  if (database.engine !== 'pg') return [];
  // Client backends only: autovacuum after a load is billed to whichever phase it overlaps.
  const { rows } = await sql<{ pid: number }>`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'`.execute(database.db);
  return rows.map((r) => r.pid);
}

const sumCpu = (pids: readonly number[], before?: ReadonlyMap<number, number>): Map<number, number> => {
  const out = new Map<number, number>();
  for (const pid of pids) {
    const t = procCpu(pid);
    if (t !== undefined) out.set(pid, t - (before?.get(pid) ?? 0));
  }
  return out;
};

/** Starts measuring; the returned function ends the phase and gives its CPU use (also of `pids`, e.g. a served process). */
export async function startCpuMeter(database: Database, pids: readonly number[] = []): Promise<() => Promise<CpuUse>> {
  const self0 = process.cpuUsage();
  const processes0 = sumCpu(pids);
  const before = new Map<number, number>();
  for (const pid of await backendPids(database)) {
    const t = procCpu(pid);
    if (t !== undefined) before.set(pid, t);
  }
  return async () => {
    const self = process.cpuUsage(self0);
    let backend: number | null = null;
    if (database.engine === 'pg') {
      for (const pid of await backendPids(database)) {
        const t = procCpu(pid);
        if (t !== undefined) backend = (backend ?? 0) + t - (before.get(pid) ?? 0);
      }
    }
    const used = [...sumCpu(pids, processes0).values()];
    return { self: (self.user + self.system) / 1e6, backend, processes: used.length ? used.reduce((a, b) => a + b, 0) : null };
  };
}
