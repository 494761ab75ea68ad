import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { cpus } from 'node:os';
import { sql } from 'kysely';
import { createHookDispatcher } from '../alarms/hook-dispatcher.js';
import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { recordEvents } from '../ingest/events.js';
import { invalidateAlarmRules } from '../alarms/rules.js';
import { MeterSchema } from '../models/meter.js';
import { createEmbeddedDatabase, type Database } from '../sql/database.js';
import type { MeterEventRow } from '../sql/event.repository.js';
import { createHook } from '../sql/hook.repository.js';
import { findMeterRefs } from '../sql/meter-lookup.repository.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { migrate } from '../sql/migrator.js';
import { loadNow, median, type Bench, type BenchOptions, type Figure, type Goal } from './bench.js';
import { openBenchDatabase } from './bench-database.js';
import { BENCH_TZ } from './load-profile.js';
import { seededRandom } from '../models/random.js';

const TIMEOUT_MS = 15 * 60_000;
/** Offered load: events per second, for this long, in batches every TICK_MS (a gateway's or the MQTT batcher's shape). */
const RATE = 10_000;
const SECONDS = 10;
const TICK_MS = 100;
/** Share of events that open an alarm; the rest half repeats of open alarms, half events that raise none. */
const OPEN_SHARE = 0.1;
const METERS = 2_000;
const ALARM_CODES = ['power_failure', 'tamper', 'cover_open', 'low_battery', 'reverse_flow'];
const SECRET = 'bench-secret-0123456789';
/** The pipeline's writers at once: MQTT_BATCH_WRITERS' default on a server; PGlite is one connection. */
const WRITERS: Record<Database['engine'], number> = { pg: 3, pglite: 1 };

/**
 * The event stream: RATE × SECONDS events of METERS meters; OPEN_SHARE of them
 * the first of their meter and code (opens an alarm), the others repeats of
 * an alarm opened earlier in the stream or codes that raise none. Every
 * event has its own instant (meter_events is unique on meter, code, time).
 */
function eventStream(meterIds: readonly number[], t0: number): MeterEventRow[][] {
  const rand = seededRandom(6);
  const n = RATE * SECONDS;
  const pairs: [number, string][] = [];
  for (const code of ALARM_CODES) for (const m of meterIds) pairs.push([m, code]);
  for (let i = pairs.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [pairs[i], pairs[j]] = [pairs[j], pairs[i]];
  }
  const opens = Math.round(n * OPEN_SHARE);
  if (opens > pairs.length) throw new Error(`${opens} opens need more than ${METERS} meters × ${ALARM_CODES.length} codes`);
  const opened: [number, string][] = [];
  const batches: MeterEventRow[][] = [];
  const perTick = (RATE * TICK_MS) / 1000;
  for (let i = 0; i < n; i++) {
    if (i % perTick === 0) batches.push([]);
    const at = new Date(t0 + i);
    // Spread the opens evenly: event i opens when the running share falls behind.
    let meterId: number;
    let code: string;
    if (opened.length < ((i + 1) * opens) / n) {
      [meterId, code] = pairs[opened.length];
      opened.push([meterId, code]);
    } else if (rand() < 0.5 && opened.length) {
      [meterId, code] = opened[Math.floor(rand() * opened.length)];
    } else {
      meterId = meterIds[Math.floor(rand() * meterIds.length)];
      code = 'status_report';
    }
    batches.at(-1)!.push({ meterId, code, at, transport: 'bench', data: { seq: i } });
  }
  return batches;
}

interface Receiver {
  readonly url: string;
  /** Receipt minus transition time, ms, per request; and requests per delivery id. */
  report(): Promise<{ latencies: number[]; ids: number; duplicates: number }>;
  close(): Promise<void>;
}

/**
 * The work-order system, in a process of its own (as it would be; it does not
 * take the service's CPU): answers 204 at once, notes the latency from the
 * transition's time and the delivery ids. "report" on stdin → one JSON line.
 */
const RECEIVER_JS = `
const http = require('node:http');
const latencies = []; const ids = new Map();
const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const now = Date.now();
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    latencies.push(now - Date.parse(body.transition.at));
    const id = String(req.headers['x-mdm-delivery']);
    ids.set(id, (ids.get(id) || 0) + 1);
    res.writeHead(204).end();
  });
});
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => process.stdout.write('port ' + server.address().port + '\\n'));
process.stdin.on('end', () => process.exit(0)); // the bench process is gone
process.stdin.on('data', () => {
  let dup = 0; for (const n of ids.values()) dup += n - 1;
  process.stdout.write(JSON.stringify({ latencies, ids: ids.size, duplicates: dup }) + '\\n');
});
`;

async function startReceiver(): Promise<Receiver> {
  const child = spawn(process.execPath, ['-e', RECEIVER_JS], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      lines.once('line', resolve);
      child.once('exit', (code) => reject(new Error(`the receiver process exited (${code})`)));
    });
  const port = Number((await next()).split(' ')[1]);
  return {
    url: `http://127.0.0.1:${port}/wo`,
    async report() {
      const line = next();
      child.stdin!.write('report\n');
      return JSON.parse(await line) as { latencies: number[]; ids: number; duplicates: number };
    },
    async close() {
      if (child.exitCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill();
      await gone;
    },
  };
}

const quantile = (xs: readonly number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN;
};

async function emptyAlarms(database: Database): Promise<void> {
  await database.session(async ({ db }) => {
    await sql`TRUNCATE meter_events, alarms, alarm_transitions, hook_deliveries`.execute(db);
    await db.deleteFrom('hooks').execute();
  });
  invalidateAlarmRules(database);
}

/** Runs the batches through recordEvents with `writers` at once; `paced`: one batch per TICK_MS from the start. Resolves to the ms from start to the last batch written. */
async function feed(database: Database, batches: readonly MeterEventRow[][], writers: number, paced: boolean): Promise<number> {
  const t0 = performance.now();
  const queue: MeterEventRow[][] = [];
  let released = 0;
  const waiting: (() => void)[] = [];
  const release = () => {
    const due = paced ? Math.min(batches.length, Math.floor((performance.now() - t0) / TICK_MS) + 1) : batches.length;
    while (released < due) queue.push(batches[released++]);
    for (const w of waiting.splice(0)) w();
  };
  const pacer = paced ? setInterval(release, TICK_MS / 4) : undefined;
  release();
  const writer = async () => {
    for (;;) {
      const b = queue.shift();
      if (b) {
        await recordEvents(database, b, ALARM_LISTENERS);
        continue;
      }
      if (released === batches.length) return;
      await new Promise<void>((r) => waiting.push(r));
    }
  };
  try {
    await Promise.all(Array.from({ length: writers }, writer));
  } finally {
    clearInterval(pacer);
  }
  return performance.now() - t0;
}

interface Round {
  readonly capacity: number;
  readonly processed: number;
  readonly p50: number;
  readonly p99: number;
  readonly deliveriesPerS: number;
  readonly delivered: number;
  readonly duplicates: number;
  readonly opened: number;
}

/** One round: the stream as fast as possible without hooks (baseline), then paced at RATE with a hook and the dispatcher. */
async function round(database: Database, meterIds: readonly number[], log: (line: string) => void, tag: string): Promise<Round> {
  const writers = WRITERS[database.engine];
  await emptyAlarms(database);
  const base = await feed(database, eventStream(meterIds, Date.UTC(2026, 0, 1)), writers, false);
  const n = RATE * SECONDS;
  const opened = Math.round(n * OPEN_SHARE);

  await emptyAlarms(database);
  const rx = await startReceiver();
  try {
    await createHook(database, { url: rx.url, secret: SECRET, filter: {}, transitions: ['opened'], createdBy: 'bench' });
    const dispatcher = createHookDispatcher({ database, timeoutMs: 10_000, maxAttempts: 25, backoffBaseMs: 1000, backoffMaxMs: 600_000, pollMs: 200, concurrency: 16 });
    await dispatcher.start();
    const started = performance.now();
    const fedMs = await feed(database, eventStream(meterIds, Date.UTC(2026, 1, 1)), writers, true);
    const delivered = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM hook_deliveries WHERE status = 'delivered'`.execute(database.db)).rows[0].n;
    const end = Date.now() + 180_000;
    while ((await delivered()) < opened && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
    const allMs = performance.now() - started;
    await dispatcher.stop();
    const got = await rx.report();
    const r: Round = {
      capacity: (n / base) * 1000,
      processed: (n / fedMs) * 1000,
      p50: quantile(got.latencies, 0.5),
      p99: quantile(got.latencies, 0.99),
      deliveriesPerS: (got.ids / allMs) * 1000,
      delivered: got.ids,
      duplicates: got.duplicates,
      opened,
    };
    log(`${tag}: capacity ${Math.round(r.capacity)} events/s; paced ${Math.round(r.processed)} events/s; ${r.delivered}/${opened} delivered, p50 ${r.p50} ms, p99 ${r.p99} ms`);
    return r;
  } finally {
    await rx.close();
  }
}

async function setUpMeters(database: Database): Promise<number[]> {
  const ids = Array.from({ length: METERS }, (_, i) => `ALARM-${String(i + 1).padStart(5, '0')}`);
  await upsertMeters(
    database,
    ids.map((id, i) => MeterSchema.parse({ id, timezone: BENCH_TZ, group: `g${i % 10}` })),
  );
  const refs = await findMeterRefs(database, ids);
  return ids.map((id) => refs.get(id)!.id);
}

function figuresOf(tag: string, rs: readonly Round[]): Figure[] {
  return [
    { label: `${tag}: recordEvents, no hook, unpaced`, values: rs.map((r) => r.capacity), unit: 'events/s', better: 'higher', note: 'pipeline capacity' },
    {
      label: `${tag}: recordEvents at ${RATE.toLocaleString('en-US')}/s + hook`,
      values: rs.map((r) => r.processed),
      unit: 'events/s',
      better: 'higher',
      baselines: [`${tag}: recordEvents, no hook, unpaced`],
    },
    { label: `${tag}: deliveries`, values: rs.map((r) => r.deliveriesPerS), unit: '/s', better: 'higher', note: 'opened alarms' },
    { label: `${tag}: delivery latency p50`, values: rs.map((r) => r.p50), unit: 'ms', better: 'lower', note: 'transition → receipt' },
    { label: `${tag}: delivery latency p99`, values: rs.map((r) => r.p99), unit: 'ms', better: 'lower' },
  ];
}

function goalsOf(tag: string, rs: readonly Round[]): Goal[] {
  const processed = median(rs.map((r) => r.processed));
  return [
    {
      label: `${tag}: keeps up with ${RATE.toLocaleString('en-US')} events/s`,
      pass: processed >= 0.95 * RATE,
      detail: `median ${Math.round(processed).toLocaleString('en-US')} events/s processed (≥ 95 % of offered)`,
    },
    {
      label: `${tag}: every opened alarm delivered once`,
      pass: rs.every((r) => r.delivered === r.opened && r.duplicates === 0),
      detail: rs.map((r) => `${r.delivered}/${r.opened}${r.duplicates ? `, ${r.duplicates} repeated` : ''}`).join('; '),
    },
  ];
}

/**
 * `npm run bench -- alarms`: RATE events/s for SECONDS s into recordEvents
 * (the pipeline every transport uses), OPEN_SHARE of them opening an alarm,
 * with a hook on `opened` and the dispatcher sending to a receiver on
 * loopback; baseline: the same stream unpaced without hooks. Server flavour
 * (BENCH_ROUNDS rounds on a fresh database) and embedded (one round).
 */
export const alarmsBench: Bench = {
  name: 'alarms',
  summary: `${RATE.toLocaleString('en-US')} events/s × ${SECONDS} s into the alarm pipeline (${OPEN_SHARE * 100} % opening alarms), hook deliveries to a loopback receiver`,
  timeoutMs: TIMEOUT_MS,
  async run(opts: BenchOptions, log, onCleanup) {
    const bench = await openBenchDatabase(opts.databaseUrl, TIMEOUT_MS, log, onCleanup);
    const server: Round[] = [];
    try {
      const meterIds = await setUpMeters(bench.database);
      for (let i = 1; i <= opts.rounds; i++) server.push(await round(bench.database, meterIds, log, `server round ${i}`));
    } finally {
      await bench.drop();
    }
    const embeddedDb = await createEmbeddedDatabase(undefined);
    onCleanup(() => embeddedDb.close());
    const embedded: Round[] = [];
    try {
      await migrate(embeddedDb);
      embedded.push(await round(embeddedDb, await setUpMeters(embeddedDb), log, 'embedded'));
    } finally {
      await embeddedDb.close();
    }
    return {
      context: [
        `${(RATE * SECONDS).toLocaleString('en-US')} events (${METERS} meters, ${ALARM_CODES.length} alarm codes): ${OPEN_SHARE * 100} % open an alarm, ~45 % repeat an open one, ~45 % raise none; batches of ${(RATE * TICK_MS) / 1000} every ${TICK_MS} ms`,
        `writers at once: server ${WRITERS.pg}, embedded ${WRITERS.pglite}; one hook on "opened"; dispatcher defaults (16 in flight, 200 ms poll); receiver answers 204 on 127.0.0.1`,
        `database ${bench.name} on ${new URL(opts.databaseUrl).host}, ${opts.rounds} round(s); embedded: in-memory PGlite, 1 round; ${cpus().length} CPUs, load ${loadNow()}`,
      ],
      figures: [...figuresOf('server', server), ...figuresOf('embedded', embedded)],
      goals: [...goalsOf('server', server), ...goalsOf('embedded', embedded)],
    };
  },
};
