/**
 * PGlite is one process: two processes opening the same data dir corrupt it.
 * Whoever opens the embedded database holds `$MDM_DATA_DIR/mdm.lock`
 * (pid + command); others refuse with a clear message. A lock left by a dead
 * process is taken over.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MdmError } from '../models/errors.js';

export const LOCK_FILE = 'mdm.lock';

/** What a command the lock refuses can do through a running server's API instead (docs/api.md). */
const API_INSTEAD: Readonly<Record<string, string>> = {
  'mdm keys create': 'POST /v1/keys {"role": …, "name": …} (README.md "Keys on a running server")',
  'mdm keys list': 'GET /v1/keys',
  'mdm keys revoke': 'DELETE /v1/keys/ID',
  'mdm import meters': 'PUT /v1/meters',
  'mdm import readings': 'POST /v1/readings',
};

export interface LockOwner {
  readonly pid: number;
  readonly command: string;
  readonly startedAt?: string;
}

export interface DataDirLock {
  readonly path: string;
  /** Removes the lock if it is still ours. Safe to call twice. */
  release(): void;
}

/** True when a process with this pid exists (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | undefined {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return typeof o?.pid === 'number' ? o : undefined;
  } catch {
    return undefined; // unreadable or half-written: treated as stale
  }
}

/**
 * Takes the lock of `dataDir` (which must exist) for `command`, or throws
 * MDM_ERR_DATA_DIR_LOCKED naming the process that holds it. `dirLabel` is the
 * data dir as the user configured it (for messages).
 */
export function acquireDataDirLock(dataDir: string, command: string, opts: { dirLabel?: string; notice?: (msg: string) => void } = {}): DataDirLock {
  const path = join(dataDir, LOCK_FILE);
  const label = opts.dirLabel ?? dataDir;
  const me: LockOwner = { pid: process.pid, command, startedAt: new Date().toISOString() };
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o644); // O_EXCL: exactly one process creates it
      writeSync(fd, JSON.stringify(me) + '\n');
      closeSync(fd);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        process.off('exit', release);
        if (readOwner(path)?.pid === process.pid) {
          try {
            unlinkSync(path);
          } catch {
            /* already gone */
          }
        }
      };
      process.on('exit', release); // also on an unexpected exit
      return { path, release };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = readOwner(path);
    if (owner && pidAlive(owner.pid)) {
      const instead = owner.command === 'mdm serve' && API_INSTEAD[command];
      throw new MdmError('MDM_ERR_DATA_DIR_LOCKED', [
        `the embedded database in ${label} is in use by pid ${owner.pid} (${owner.command}); stop it first, or run against the API / a PostgreSQL server (DATABASE_URL). ` +
          (instead ? `While it runs, use its API: ${instead}, with the admin key in ${join(label, 'admin-key')}. ` : '') +
          `If no such mdm process is running, delete ${path}.`,
      ]);
    }
    opts.notice?.(owner ? `taking over a stale lock on ${label}: pid ${owner.pid} (${owner.command}) is no longer running` : `taking over an unreadable lock file ${path}`);
    try {
      unlinkSync(path);
    } catch {
      /* another process took it over first: the next attempt sees its lock */
    }
  }
  const owner = readOwner(path);
  throw new MdmError('MDM_ERR_DATA_DIR_LOCKED', [`the embedded database in ${label} was just locked by ${owner ? `pid ${owner.pid} (${owner.command})` : 'another process'}; stop it first`]);
}
