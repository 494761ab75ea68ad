/**
 * The `mdm` command as a user runs it: real processes (`node bin/mdm.js …`)
 * on a temporary data dir, checked through their output, exit codes, files
 * and the database they leave behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsvParser } from '../adapters/file/csv.js';
import { createEmbeddedDatabase, createPgDatabase, type Database } from '../sql/database.js';
import { seedDataDir } from './helpers.js';

const BIN = fileURLToPath(new URL('../bin/mdm.js', import.meta.url));
const SLOW = 180_000; // each process starts tsx and PGlite (WASM) on a shared 2-core machine

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Only what the CLI needs: no DATABASE_URL or MQTT settings leak in from the caller's environment. */
function cliEnv(extra: Record<string, string>): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmpdir(), MQTT_PORT: '0', LOG_LEVEL: 'warn', ...extra };
}

/**
 * `--liftoff-only`: V8 compiles WebAssembly with its baseline compiler only. Each of this file's
 * thirty-odd short-lived processes otherwise also optimises PGlite's 9 MB module on background
 * threads (about 18 s of the file's 97 s of CPU on 2 cores); what the processes do and print is
 * the same.
 */
const NODE_ARGS = ['--liftoff-only'];

function start(args: string[], env: Record<string, string>, cwd = tmpdir()): { proc: ChildProcess; done: Promise<Run>; out: () => string; err: () => string } {
  const proc = spawn(process.execPath, [...NODE_ARGS, BIN, ...args], { env: cliEnv(env), cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (d) => (stdout += d));
  proc.stderr!.on('data', (d) => (stderr += d));
  const done = new Promise<Run>((resolve) => proc.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { proc, done, out: () => stdout, err: () => stderr };
}

const mdm = (args: string[], env: Record<string, string>, cwd?: string) => start(args, env, cwd).done;

/** Starts `mdm serve` on a free port; resolves once it prints its summary. */
async function serve(env: Record<string, string>) {
  const p = start(['serve'], { HOST: '127.0.0.1', PORT: '0', ...env });
  const ready = await Promise.race([
    (async () => {
      while (!p.out().includes('Stop with Ctrl+C')) await new Promise((r) => setTimeout(r, 100));
      return true;
    })(),
    p.done.then(() => false),
  ]);
  if (!ready) throw new Error(`mdm serve exited early:\n${p.out()}\n${p.err()}`);
  const url = /API:\s+(http:\/\/\S+)\/v1/.exec(p.out())![1];
  return {
    ...p,
    url,
    get: (path: string, key?: string) => fetch(url + path, { headers: key ? { authorization: `Bearer ${key}` } : {} }),
    stop: (signal: NodeJS.Signals = 'SIGTERM') => {
      p.proc.kill(signal);
      return p.done;
    },
  };
}

const KEY = /^mdm_[A-Za-z0-9_-]{32}$/;

describe('mdm command line', () => {
  it(
    'rejects an unknown command or flag with the usage and exit code 2',
    async () => {
      const [cmd, flag] = await Promise.all([mdm(['frobnicate'], {}), mdm(['keys', 'create', '--role', 'admin', '--name', 'x', '--colour', 'red'], {})]);
      expect(cmd.code).toBe(2);
      expect(cmd.stderr).toMatch(/unknown command "frobnicate"/);
      expect(cmd.stderr).toMatch(/Usage: mdm <command>/);
      expect(cmd.stdout).toBe('');
      expect(flag.code).toBe(2);
      expect(flag.stderr).toMatch(/--colour/);
    },
    SLOW,
  );

  it(
    'lists every bad configuration variable and exits 1 without a stack trace',
    async () => {
      const r = await mdm(['migrate'], { PORT: 'abc', LOG_LEVEL: 'loud', MDM_DATA_DIR: join(tmpdir(), 'never-created') });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/invalid configuration/);
      expect(r.stderr).toMatch(/^\s+PORT: /m);
      expect(r.stderr).toMatch(/^\s+LOG_LEVEL: /m);
      expect(r.stderr).not.toMatch(/\n\s+at /);
      expect(existsSync(join(tmpdir(), 'never-created'))).toBe(false);
    },
    SLOW,
  );
});

describe('mdm serve and keys on the embedded database', () => {
  let dir: string;
  let env: Record<string, string>;
  let adminKey: string;
  let gatewayKey: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mdm-cli-'));
    env = { MDM_DATA_DIR: join(dir, 'data') };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(
    'first start: generates an admin key, prints it once, writes data/admin-key (0600); holds the lock; stops on SIGTERM',
    async () => {
      const s = await serve(env);
      const shown = /A new admin API key was generated[\s\S]*?\n\s+(mdm_\S+)\n/.exec(s.out());
      expect(shown).not.toBeNull();
      adminKey = shown![1];
      expect(adminKey).toMatch(KEY);
      const file = join(env.MDM_DATA_DIR, 'admin-key');
      expect(readFileSync(file, 'utf8').trim()).toBe(adminKey);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(s.out()).toMatch(/Database:\s+embedded PGlite in .*pgdata, postgres flavour/);

      const keys = await s.get('/v1/keys', adminKey);
      expect(keys.status).toBe(200);
      expect((await keys.json()).keys).toHaveLength(1);
      expect((await s.get('/v1/keys')).status).toBe(401);
      expect((await s.get('/health')).status).toBe(200);

      // A second process must not open the data dir the server holds.
      const refused = await mdm(['keys', 'create', '--role', 'viewer', '--name', 'v'], env);
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toContain(`is in use by pid ${s.proc.pid} (mdm serve); stop it first`);

      const end = await s.stop('SIGTERM');
      expect(end.code).toBe(0);
      expect(end.stderr).toMatch(/SIGTERM received, shutting down[\s\S]*stopped/);
      expect(existsSync(join(env.MDM_DATA_DIR, 'mdm.lock'))).toBe(false);
    },
    SLOW,
  );

  it(
    'keys create prints the key alone on stdout',
    async () => {
      const r = await mdm(['keys', 'create', '--role', 'gateway', '--name', 'gw-1', '--scope-group', 'g1', '--scope-prefix', 'TR-'], env);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^mdm_[A-Za-z0-9_-]{32}\n$/);
      expect(r.stderr).toMatch(/created gateway key "gw-1"/);
      gatewayKey = r.stdout.trim();
      const bad = await mdm(['keys', 'create', '--role', 'viewer', '--name', 'v', '--scope-group', 'g1'], env);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/gateway keys only/);
    },
    SLOW,
  );

  it(
    'refuses a port in use with a clear message and leaves the data dir unlocked',
    async () => {
      const blocker = createServer();
      await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
      const port = (blocker.address() as AddressInfo).port;
      try {
        const r = await mdm(['serve'], { ...env, HOST: '127.0.0.1', PORT: String(port) });
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(`port ${port} on 127.0.0.1 (PORT, the HTTP API) is already in use (another mdm serve?): stop the other process or set PORT to a free port`);
        expect(existsSync(join(env.MDM_DATA_DIR, 'mdm.lock'))).toBe(false);
      } finally {
        blocker.close();
      }
    },
    SLOW,
  );

  it(
    'second start: no new admin key; the CLI-made keys authenticate; stops on SIGINT',
    async () => {
      const before = readFileSync(join(env.MDM_DATA_DIR, 'admin-key'), 'utf8');
      const s = await serve(env);
      expect(s.out()).not.toMatch(/A new admin API key/);
      expect(s.out()).not.toMatch(/mdm_[A-Za-z0-9_-]{32}/);
      expect(s.out()).toMatch(/Admin key:\s+.*admin-key/);
      expect(readFileSync(join(env.MDM_DATA_DIR, 'admin-key'), 'utf8')).toBe(before);

      const list = await s.get('/v1/keys', adminKey);
      expect(list.status).toBe(200);
      const keys = (await list.json()).keys as { name: string; role: string; scope: unknown }[];
      expect(keys.map((k) => k.role).sort()).toEqual(['admin', 'gateway']);
      expect(keys.find((k) => k.name === 'gw-1')!.scope).toEqual({ groups: ['g1'], meterPrefixes: ['TR-'] });
      // the gateway key is known (403 wrong role, not 401 unknown key)
      expect((await s.get('/v1/keys', gatewayKey)).status).toBe(403);
      expect((await s.get('/v1/keys', 'mdm_' + 'x'.repeat(32))).status).toBe(401);

      // GET /metrics of the real service (issue 19): the components' probes and the shared backlog, Prometheus text format
      const metrics = await s.get('/metrics', adminKey);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
      const text = await metrics.text();
      for (const c of ['vee', 'billing', 'alarms', 'hooks', 'forecast']) expect(text).toMatch(new RegExp(`^mdm_component_up\\{component="${c}"\\} 1$`, 'm'));
      expect(text).toMatch(/^mdm_backlog\{queue="vee_queue"\} 0$/m);
      expect(text).toMatch(/^mdm_http_request_duration_seconds_count\{route="\/v1\/keys",method="GET",status="2xx"\} 1$/m);

      const end = await s.stop('SIGINT');
      expect(end.code).toBe(0);
      expect(existsSync(join(env.MDM_DATA_DIR, 'mdm.lock'))).toBe(false);
    },
    SLOW,
  );

  it(
    'takes over a lock left by a dead process, with a notice',
    async () => {
      const dead = await new Promise<number>((resolve) => {
        const p = spawn(process.execPath, ['-e', '0']);
        p.on('close', () => resolve(p.pid!));
      });
      writeFileSync(join(env.MDM_DATA_DIR, 'mdm.lock'), JSON.stringify({ pid: dead, command: 'mdm serve' }));
      const r = await mdm(['keys', 'list'], env);
      expect(r.code).toBe(0);
      expect(r.stderr).toContain(`taking over a stale lock on ${env.MDM_DATA_DIR}: pid ${dead} (mdm serve) is no longer running`);
      expect(r.stdout).toMatch(/gateway\s+gw-1\s+group g1, meters TR-\*/);
      expect(existsSync(join(env.MDM_DATA_DIR, 'mdm.lock'))).toBe(false);
    },
    SLOW,
  );

  it(
    'MDM_COMPONENTS chooses what an instance runs besides the API (issue 19: instance roles); a wrong one is named',
    async () => {
      const bad = await mdm(['serve'], { ...env, MDM_COMPONENTS: 'api,vee,reports' });
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/MDM_COMPONENTS: unknown component or shape "reports": shapes all, api, ingest, workers; components mqtt, modbus/);
      const metricsPort = await freeTcpPort();
      const s = await serve({ ...env, MDM_COMPONENTS: 'vee, hooks', METRICS_PORT: String(metricsPort) });
      expect(s.out()).toMatch(/Components: vee, hooks\n/);
      const health = await (await s.get('/health')).json();
      expect(Object.keys(health.components).sort()).toEqual(['hooks', 'vee']);
      // METRICS_PORT: /metrics without a key on 127.0.0.1, nothing else there
      const scrape = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
      expect(scrape.status).toBe(200);
      expect(await scrape.text()).toMatch(/^mdm_component_up\{component="vee"\} 1$/m);
      expect((await fetch(`http://127.0.0.1:${metricsPort}/v1/keys`)).status).toBe(404);
      expect((await s.stop()).code).toBe(0);
    },
    SLOW,
  );
});

/** A TCP port free on 127.0.0.1 right now. */
async function freeTcpPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A port something else listens on (as Mosquitto holds 1883): call close() when done. */
async function takenPort(): Promise<{ port: number; close(): Promise<void> }> {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  return { port: (blocker.address() as AddressInfo).port, close: () => new Promise((r) => blocker.close(() => r())) };
}

describe('first run (issue 12, defect 10b)', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mdm-first-'));
    env = { MDM_DATA_DIR: join(dir, 'data') };
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it(
    'a taken MQTT port stops the first start before the database and the admin key exist, saying what to set; the next start shows the key',
    async () => {
      const mqtt = await takenPort();
      try {
        const r = await mdm(['serve'], { ...env, HOST: '127.0.0.1', PORT: '0', MQTT_PORT: String(mqtt.port) });
        expect(r.code).toBe(1);
        expect(r.stderr).toContain(
          `port ${mqtt.port} on 127.0.0.1 (MQTT_PORT, the embedded MQTT broker) is already in use (another MQTT broker?): ` +
            `set MQTT_PORT=0 to turn the embedded broker off, MQTT_PORT=${mqtt.port + 1} (or another free port) to run it there, or MQTT_URL=mqtt://localhost:${mqtt.port}`,
        );
        expect(r.stderr).not.toMatch(/applied migration/); // it stopped before opening the database
        expect(existsSync(join(env.MDM_DATA_DIR, 'admin-key'))).toBe(false);
        expect(existsSync(join(env.MDM_DATA_DIR, 'pgdata'))).toBe(false);

        const same = await mdm(['serve'], { ...env, HOST: '127.0.0.1', PORT: String(mqtt.port), MQTT_PORT: String(mqtt.port) });
        expect(same.code).toBe(1);
        expect(same.stderr).toContain(`PORT and MQTT_PORT are both ${mqtt.port}`);
      } finally {
        await mqtt.close();
      }

      const s = await serve(env); // MQTT_PORT=0
      const shown = /A new admin API key was generated[\s\S]*?\n\s+(mdm_\S+)\n/.exec(s.out());
      expect(shown?.[1]).toMatch(KEY);
      expect(readFileSync(join(env.MDM_DATA_DIR, 'admin-key'), 'utf8').trim()).toBe(shown![1]);
      expect((await s.stop()).code).toBe(0);
    },
    SLOW,
  );

  it(
    'MQTT_PORT not given and 1883 taken (a Mosquitto, as on this machine): the embedded broker moves to the next free port and the start says so; a given MQTT_PORT stays a refusal (above)',
    async () => {
      // 1883 held by whoever has it (Mosquitto on CI and here), else by this test.
      const holder = createServer();
      const held = await new Promise<boolean>((resolve) => {
        holder.once('error', () => resolve(false));
        holder.listen({ port: 1883, host: '127.0.0.1', exclusive: true }, () => resolve(true));
      });
      const moveDir = mkdtempSync(join(tmpdir(), 'mdm-move-'));
      // Not a first start (that is the test above): a data dir already migrated, as a copy of the run's template.
      mkdirSync(join(moveDir, 'data', 'pgdata'), { recursive: true });
      await seedDataDir('embedded', join(moveDir, 'data', 'pgdata'));
      try {
        const s = await serve({ MDM_DATA_DIR: join(moveDir, 'data'), MQTT_PORT: '' });
        try {
          const to = Number(/the embedded MQTT broker listens on (\d+) instead/.exec(s.err())?.[1]);
          expect(to, s.err()).toBeGreaterThan(1883);
          expect(to).toBeLessThanOrEqual(1903);
          expect(s.err()).toContain(
            `port 1883 is taken (another MQTT broker?): the embedded MQTT broker listens on ${to} instead. Set MQTT_URL=mqtt://localhost:1883 to ingest from the broker on 1883`,
          );
          expect(s.out()).toContain(`MQTT:       embedded broker on mqtt://127.0.0.1:${to} (1883 is taken: MQTT_URL=mqtt://localhost:1883 ingests from the broker there)`);
          // A broker answers there: an MQTT CONNECT without a gateway key is refused by it (CONNACK), not by the network.
          const { connectAsync } = await import('mqtt');
          await expect(connectAsync(`mqtt://127.0.0.1:${to}`, { username: 'nobody', password: 'wrong', reconnectPeriod: 0, connectTimeout: 10_000 })).rejects.toThrow(
            /Not authorized|Bad username or password/i,
          );
        } finally {
          expect((await s.stop()).code).toBe(0);
        }
      } finally {
        if (held) await new Promise((r) => holder.close(r));
        rmSync(moveDir, { recursive: true, force: true });
      }
    },
    SLOW,
  );

  it(
    'while the server runs: keys come from POST /v1/keys (the CLI refuses and names it); stopped: `npm run --silent mdm -- keys create` prints the key alone',
    async () => {
      const admin = readFileSync(join(env.MDM_DATA_DIR, 'admin-key'), 'utf8').trim();
      const s = await serve(env);
      try {
        const refused = await mdm(['keys', 'create', '--role', 'viewer', '--name', 'v'], env);
        expect(refused.code).toBe(1);
        expect(refused.stdout).toBe('');
        expect(refused.stderr).toContain(
          `While it runs, use its API: POST /v1/keys {"role": …, "name": …} (README.md "Keys on a running server"), with the admin key in ${join(env.MDM_DATA_DIR, 'admin-key')}.`,
        );

        // The README's curl, as fetch.
        const res = await fetch(`${s.url}/v1/keys`, {
          method: 'POST',
          headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
          body: JSON.stringify({ role: 'gateway', name: 'gw-north', scope: { groups: ['north'] } }),
        });
        expect(res.status).toBe(201);
        const created = await res.json();
        expect(created).toMatchObject({ name: 'gw-north', role: 'gateway', scope: { groups: ['north'] }, lastUsedAt: null });
        expect(created.key).toMatch(KEY);
        expect((await s.get('/v1/keys', created.key)).status).toBe(403); // known key, not an admin's
      } finally {
        expect((await s.stop()).code).toBe(0);
      }

      // npm's own "> mdm@0.1.0 mdm" banner lines would land on stdout without --silent.
      const root = fileURLToPath(new URL('..', import.meta.url));
      const npm = await new Promise<Run>((resolve) => {
        const p = spawn('npm', ['run', '--silent', 'mdm', '--', 'keys', 'create', '--role', 'viewer', '--name', 'dashboard'], { env: cliEnv(env), cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        p.stdout.on('data', (d) => (stdout += d));
        p.stderr.on('data', (d) => (stderr += d));
        p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
      });
      expect(npm.code).toBe(0);
      expect(npm.stdout).toMatch(/^mdm_[A-Za-z0-9_-]{32}\n$/);
      expect(npm.stderr).toMatch(/created viewer key "dashboard"/);
    },
    SLOW,
  );
});

// Lines are numbered as in the file: 1 is the header.
const METERS_CSV = [
  'id;timezone;intervalMinutes;multiplier;group;label.feeder',
  'M1;Europe/Istanbul;60;1;g1;F-1',
  'M2;Europe/Warsaw;15;2,5;g2;',
  'M3;Mars/Base;60;1;;', // 4: bad time zone
  'M1;Europe/Istanbul;60;1;g1;F-1', // 5: duplicate id
].join('\r\n');

const READINGS_CSV = [
  'meter,channel,start,value,quality',
  'M1,active_import,2026-01-01T00:00:00+03:00,1.5,',
  'M1,active_import,2026-01-01T01:00:00+03:00,abc,', // 3: not a number
  'M1,active_import,2026-01-01T02:00:00,2,', // 4: no offset
  'NOPE,active_import,2026-01-01T00:00:00Z,1,', // 5: unknown meter
  '"M2",1.29.0,2026-01-01T00:15:00+01:00,"0.25",estimated',
  'M2,active_import,2026-01-01T00:30:00+01:00,1', // 7: missing field
  '"M1","active_import","2026-01-01T03:00:00+03:00","4",""',
  'M1,active_import,2026-01-01T04:00:00+03:00,-0.5,',
].join('\n');

const SERVER = process.env.TEST_DATABASE_URL;

/** A new empty database on the TEST_DATABASE_URL server, for processes that take a URL. */
async function serverDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `cli_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 6)}`;
  const admin = await createPgDatabase(SERVER!, { max: 1 });
  await sql`CREATE DATABASE ${sql.id(name)}`.execute(admin.db);
  await admin.close();
  const url = new URL(SERVER!);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const a = await createPgDatabase(SERVER!, { max: 1 });
      await sql`DROP DATABASE IF EXISTS ${sql.id(name)} WITH (FORCE)`.execute(a.db);
      await a.close();
    },
  };
}

describe.runIf(SERVER)('mdm serve on a PostgreSQL server', () => {
  let db: Awaited<ReturnType<typeof serverDatabase>>;
  let dir: string;
  beforeAll(async () => {
    db = await serverDatabase();
    dir = mkdtempSync(join(tmpdir(), 'mdm-srv-'));
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'generates no key on a server database but says how to create one; registers MDM_BOOTSTRAP_ADMIN_KEY once',
    async () => {
      const env = { DATABASE_URL: db.url, MDM_DATA_DIR: join(dir, 'data') };
      const first = await serve(env);
      expect(first.out()).toMatch(/Database:\s+PostgreSQL server postgres:\/\/.*, (postgres|timescaledb) flavour/);
      expect(first.out()).toMatch(/Admin key:\s+none yet: create one with `mdm keys create --role admin --name ops`/);
      expect(first.out()).not.toMatch(/mdm_[A-Za-z0-9_-]{32}/);
      expect(existsSync(join(dir, 'data', 'admin-key'))).toBe(false);
      expect((await first.stop()).code).toBe(0);

      const bootstrap = 'container-admin-key-0123456789';
      for (let i = 0; i < 2; i++) {
        const s = await serve({ ...env, MDM_BOOTSTRAP_ADMIN_KEY: bootstrap });
        expect(s.out()).toMatch(/Admin key:\s+MDM_BOOTSTRAP_ADMIN_KEY/);
        expect((await s.get('/v1/keys', bootstrap)).status).toBe(200);
        expect((await s.stop()).code).toBe(0);
      }
      const list = await mdm(['keys', 'list', '--json'], env);
      expect(JSON.parse(list.stdout).keys.map((k: { name: string; role: string }) => [k.name, k.role])).toEqual([['bootstrap', 'admin']]);
    },
    SLOW,
  );
});

describe.each(['embedded', ...(SERVER ? ['server'] : [])])('mdm import (%s)', (flavour) => {
  let dir: string;
  let env: Record<string, string>;
  let open: () => Promise<Database>;
  let dropServerDb = async () => {};
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mdm-import-'));
    env = { MDM_DATA_DIR: join(dir, 'data') };
    writeFileSync(join(dir, 'meters.csv'), '\uFEFF' + METERS_CSV + '\r\n');
    writeFileSync(join(dir, 'readings.csv'), READINGS_CSV + '\n');
    if (flavour === 'server') {
      const db = await serverDatabase();
      env.DATABASE_URL = db.url;
      open = () => createPgDatabase(db.url, { max: 1 });
      dropServerDb = db.drop;
    } else {
      open = () => createEmbeddedDatabase(join(env.MDM_DATA_DIR, 'pgdata'));
      // The imports run on a data dir a first start left (a copy of the run's migrated template); first starts are tested above.
      mkdirSync(join(env.MDM_DATA_DIR, 'pgdata'), { recursive: true });
      await seedDataDir('embedded', join(env.MDM_DATA_DIR, 'pgdata'));
    }
  });
  afterAll(async () => {
    await dropServerDb();
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    'import meters: creates valid meters, rejects bad and duplicate lines to the rejects file',
    async () => {
      const r = await mdm(['import', 'meters', 'meters.csv'], env, dir);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/meters\.csv: 4 rows/);
      expect(r.stdout).toMatch(/created\s+2\n/);
      expect(r.stdout).toMatch(/updated\s+0\n/);
      expect(r.stdout).toMatch(/rejected\s+2 /);
      const rejects = parseCsv(readFileSync(join(dir, 'meters.rejects.csv'), 'utf8'));
      expect(rejects[0]).toEqual(['line', 'reason', 'raw']);
      expect(rejects.slice(1).map((x) => x[0])).toEqual(['4', '5']);
      expect(rejects[1][1]).toMatch(/^timezone: unknown IANA time zone/);
      expect(rejects[2][1]).toMatch(/already on line 2/);
      expect(rejects[2][2]).toBe('M1;Europe/Istanbul;60;1;g1;F-1');

      const again = await mdm(['import', 'meters', 'meters.csv', '--rejects', 'm-rej.csv'], env, dir);
      expect(again.stdout).toMatch(/created\s+0\n/);
      expect(again.stdout).toMatch(/unchanged\s+2\n/);
      expect(existsSync(join(dir, 'm-rej.csv'))).toBe(true);
    },
    SLOW,
  );

  it(
    'import readings: stores good lines, reports bad ones by line number, writes the rejects file and dead letters',
    async () => {
      const r = await mdm(['import', 'readings', 'readings.csv'], env, dir);
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/readings\.csv: 8 rows/);
      expect(r.stdout).toMatch(/accepted\s+4\n/);
      expect(r.stdout).toMatch(/unchanged\s+0\n/);
      expect(r.stdout).toMatch(/rejected\s+4 /);
      expect(r.stderr).toMatch(/^line 3: value must be a finite number, got "abc"$/m);

      const rejects = parseCsv(readFileSync(join(dir, 'readings.rejects.csv'), 'utf8')).slice(1);
      expect(rejects.map((x) => x[0])).toEqual(['3', '4', '5', '7']);
      expect(rejects[1][1]).toMatch(/has no UTC offset/);
      expect(rejects[2][1]).toMatch(/unknown meter "NOPE"/);
      expect(rejects[3][1]).toBe('expected 5 fields (meter,channel,start,value,quality), got 4');
      expect(rejects[3][2]).toBe('M2,active_import,2026-01-01T00:30:00+01:00,1');

      const database = await open();
      try {
        const rows = await database.db
          .selectFrom('readings')
          .innerJoin('meters', 'meters.id', 'readings.meter_id')
          .select(['meters.external_id as meter', 'readings.start', 'readings.value', 'readings.quality', 'readings.source'])
          .orderBy('meters.external_id')
          .orderBy('readings.start')
          .execute();
        expect(rows.map((x) => [x.meter, x.start.toISOString(), x.value])).toEqual([
          ['M1', '2025-12-31T21:00:00.000Z', 1.5],
          ['M1', '2026-01-01T00:00:00.000Z', 4],
          ['M1', '2026-01-01T01:00:00.000Z', -0.5],
          ['M2', '2025-12-31T23:15:00.000Z', 0.25],
        ]);
        expect(rows.every((x) => x.source === 3)).toBe(true); // 'file' (models/reading.ts SOURCES)
        expect(rows[3].quality).toBe(2); // estimated
        const dead = await database.db.selectFrom('rejects').select(['row_index', 'transport', 'principal', 'topic']).orderBy('row_index').execute();
        expect(dead).toEqual([3, 4, 5, 7].map((line) => ({ row_index: line, transport: 'file', principal: 'cli', topic: 'readings.csv' })));
      } finally {
        await database.close();
      }

      // Re-importing the same file changes nothing and keeps the rejects.
      const again = await mdm(['import', 'readings', 'readings.csv'], env, dir);
      expect(again.stdout).toMatch(/accepted\s+0\n/);
      expect(again.stdout).toMatch(/unchanged\s+4\n/);
      expect(again.stdout).toMatch(/rejected\s+4 /);
    },
    SLOW,
  );

  it(
    'stops with exit 1 at a quote that is never closed, keeping the lines before it',
    async () => {
      const good = 'M1,active_import,2026-02-01T00:00:00Z,7\n'; // line 2
      writeFileSync(join(dir, 'open-quote.csv'), 'meter,channel,start,value\n' + good + 'M1,active_import,"2026-02-01T01:00:00Z,' + 'x'.repeat(1_100_000) + '\n');
      const r = await mdm(['import', 'readings', 'open-quote.csv'], env, dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/open-quote\.csv: line 3: record longer than \d+ characters: is a quoted field missing its closing quote\?\. Lines up to 2 are stored/);
      const database = await open();
      try {
        const stored = await database.db.selectFrom('readings').select('value').where('start', '=', new Date('2026-02-01T00:00:00Z')).execute();
        expect(stored).toEqual([{ value: 7 }]);
      } finally {
        await database.close();
      }
    },
    SLOW,
  );

  it(
    'stops with exit 1 on a header it cannot import, naming the column',
    async () => {
      writeFileSync(join(dir, 'bad-header.csv'), 'meter,channel,start,kwh\nM1,active_import,2026-01-01T00:00:00Z,1\n');
      const r = await mdm(['import', 'readings', 'bad-header.csv'], env, dir);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/header \(line 1\): unknown column "kwh"/);
      const missing = await mdm(['import', 'readings', 'nope.csv'], env, dir);
      expect(missing.code).toBe(1);
      expect(missing.stderr).toMatch(/cannot read nope\.csv/);
    },
    SLOW,
  );
});

function parseCsv(text: string): string[][] {
  const p = new CsvParser({ delimiter: ',' });
  return [...p.push(text), ...p.end()].map((r) => r.fields);
}
