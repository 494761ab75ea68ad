/**
 * `mdm` command line: parses arguments, loads the configuration once, runs one
 * command and returns the exit code (0 ok, 1 failure, 2 bad command line).
 * This folder is the only code that reads process.env.
 */
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { KeyCreateSchema, ROLES } from '../models/api-key.js';
import { readingLimitsOf, type Config } from '../models/config.js';
import { MdmError } from '../models/errors.js';
import { FILE_IMPORT_FLAGS, wantsFileImport } from './import-readings-flags.js';
import { CliError, processIo, UsageError, type Io } from './io.js';
import { readConfigWithSources } from './load-config.js';
import type { OpenedDatabase } from './open-database.js';

// Command modules are imported when their command runs: `mdm keys list` need
// not load fastify, aedes and the Modbus stack (about a second on our machines).

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

interface CommandSpec {
  readonly usage: string;
  readonly summary: string;
  readonly options?: Options;
  /** Names of required positional arguments. */
  readonly args?: readonly string[];
}

const REJECTS = { rejects: { type: 'string' } } as const;

const COMMANDS: Record<string, CommandSpec> = {
  serve: { usage: 'serve', summary: 'Start the service: HTTP API on HOST:PORT plus the MQTT/Modbus components' },
  migrate: { usage: 'migrate', summary: 'Apply pending database migrations and exit (serve also does it)' },
  'keys create': {
    usage: 'keys create --role ROLE --name NAME [--scope-group G]… [--scope-prefix P]…',
    summary: `Create an API key and print it alone on stdout. ROLE: ${ROLES.join(' | ')}. --scope-* limit a gateway key to meter groups / meter-id prefixes`,
    options: {
      role: { type: 'string' },
      name: { type: 'string' },
      'scope-group': { type: 'string', multiple: true },
      'scope-prefix': { type: 'string', multiple: true },
    },
  },
  'keys list': { usage: 'keys list [--json]', summary: 'List active keys (ids, roles, names; never the secrets)', options: { json: { type: 'boolean' } } },
  'keys revoke': { usage: 'keys revoke ID', summary: 'Revoke a key by id', args: ['ID'] },
  'import readings': {
    usage:
      'import readings FILE.csv|FILE.xlsx [--rejects OUT.csv] [--layout long|wide-meter|wide-hour|single|ptpiree] [--meter ID] [--timezone TZ] [--decimal ,] [--thousands .] [--encoding windows-1250] [--map ROLE=COLUMN]… [--preset NAME] [--dry-run]',
    summary:
      'Import readings from a long-format CSV: meter,channel,start,value[,quality,source,intervalMinutes]; or any layout of docs/import.md (xlsx, wide by meter or by hour, single meter, PTPiREE) with the layout flags. Rejected lines go to OUT.csv (default FILE.rejects.csv); --dry-run stores nothing and reports what the import would do',
    options: { ...REJECTS, ...FILE_IMPORT_FLAGS },
    args: ['FILE.csv'],
  },
  'import meters': {
    usage: 'import meters FILE.csv [--rejects OUT.csv]',
    summary:
      'Create or update meters from a CSV: id,commodity,timezone,intervalMinutes,multiplier,group,portfolio,profileClass,tariff,region,supplyStart,supplyEnd,weatherStation,registerDigits,gasArea,label.<key>',
    options: REJECTS,
    args: ['FILE.csv'],
  },
  'import meter-changes': {
    usage: 'import meter-changes FILE.csv|FILE.xlsx [--rejects OUT.csv]',
    summary:
      'Apply the switching list and other registry changes from a CSV (docs/meters.md): action,meter,date,portfolio,attribute,value,at,finalRead,initialRead,serial,make,model,registerDigits,deviceMultiplier; ' +
      'rows join, leave, set, exchange, each applied on its own in file order; refused lines go to OUT.csv with the reason',
    options: REJECTS,
    args: ['FILE.csv'],
  },
  'import settlement': {
    usage: 'import settlement FILE.csv --period YYYY-MM [--version N] [--rejects OUT.csv]',
    summary: 'Import settlement data (docs/settlement.md): meter,start,withdrawal[,supply][,version]; every version kept, the newest written into readings. Rejected lines go to OUT.csv',
    options: { ...REJECTS, period: { type: 'string' }, version: { type: 'string' } },
    args: ['FILE.csv'],
  },
  'import prices': {
    usage: 'import prices FILE.csv [--area TR] [--kind ptf|smf] [--currency TRY] [--confirm-zeros]',
    summary:
      'Import an EPİAŞ hourly PTF or SMF file (docs/imbalance.md) into the market prices; clock-change repeats are reported by line, stored once; zeros that look unpublished are listed and held as not yet published unless --confirm-zeros',
    options: { area: { type: 'string' }, kind: { type: 'string' }, currency: { type: 'string' }, 'confirm-zeros': { type: 'boolean' } },
    args: ['FILE.csv'],
  },
  forecast: {
    usage: 'forecast --target portfolio:P|group:G|meter:M [--horizon day-ahead] [--issue-time ISO] [--model auto|naive|profile|ml|ensemble]',
    summary: 'Run a forecast here (progress bar), store it like POST /v1/forecasts/runs and print its hourly P10/P50/P90 (week+ horizons: per day/month)',
    options: { target: { type: 'string' }, horizon: { type: 'string' }, 'issue-time': { type: 'string' }, model: { type: 'string' } },
  },
  backtest: {
    usage: 'backtest --target portfolio:P|group:G|meter:M --from YYYY-MM-DD --to YYYY-MM-DD [--models naive,profile,ml,ensemble] [--horizon day-ahead]',
    summary: 'Rolling-origin backtest on stored data, one issue per day from --from to --to; prints MAE, RMSE, MAPE, WAPE, pinball, coverage and skill vs naive per model',
    options: { target: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, models: { type: 'string' }, horizon: { type: 'string' } },
  },
  'weather import': {
    usage: 'weather import FILE.csv [--location WX] [--issued-at ISO]',
    summary:
      'Import weather forecast vintages (docs/forecasting.md): time,issued_at,temperature[,location]; --location/--issued-at for a file without those columns. A run reads the newest vintage issued by its cut-off',
    options: { location: { type: 'string' }, 'issued-at': { type: 'string' } },
    args: ['FILE.csv'],
  },
  'weather fetch': {
    usage: 'weather fetch --location WX --latitude LAT --longitude LON [--days 7] [--model M] [--run ISO] [--delay-hours 6]',
    summary:
      "Fetch a location's hourly temperature forecast from the provider (WEATHER_FORECAST_URL, Open-Meteo) and store it as a vintage issued now, or, with --run, the model run issued at run + --delay-hours",
    options: {
      location: { type: 'string' },
      latitude: { type: 'string' },
      longitude: { type: 'string' },
      days: { type: 'string' },
      model: { type: 'string' },
      run: { type: 'string' },
      'delay-hours': { type: 'string' },
    },
  },
  'weather list': {
    usage: 'weather list [--location WX] [--limit 50]',
    summary: 'List stored weather forecast vintages, newest issue first (CSV)',
    options: { location: { type: 'string' }, limit: { type: 'string' } },
  },
  'load-shapes': {
    usage: 'load-shapes [--k 5] [--seed 1] [--days 365] [--to ISO]',
    summary: 'Recompute the load-shape profiles of the electricity meters (seeded k-means over their day-type × season shapes, as POST /v1/load-shapes/runs) and print them',
    options: { k: { type: 'string' }, seed: { type: 'string' }, days: { type: 'string' }, to: { type: 'string' } },
  },
  'offer-cost': {
    usage:
      'offer-cost (--target meter:M|group:G|portfolio:P --from ISO --to ISO [--basis actual|typical] [--as-of ISO] | --profile FILE.json) [--area TR | --curve FILE.json] [--imbalance-portfolio P] [--imbalance-from ISO] [--imbalance-to ISO] [--imbalance-cost X] [--other-costs X] [--json]',
    summary:
      'Offer cost of a load profile (as POST /v1/offers/cost): energy-weighted price, baseload price, profile factor, expected imbalance cost per MWh, break-even price; hours without a price listed, never read as 0',
    options: {
      target: { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      basis: { type: 'string' },
      'as-of': { type: 'string' },
      profile: { type: 'string' },
      area: { type: 'string' },
      curve: { type: 'string' },
      'imbalance-portfolio': { type: 'string' },
      'imbalance-from': { type: 'string' },
      'imbalance-to': { type: 'string' },
      'imbalance-cost': { type: 'string' },
      'other-costs': { type: 'string' },
      json: { type: 'boolean' },
    },
  },
  help: { usage: 'help', summary: 'Show this help' },
  version: { usage: 'version', summary: 'Print the version' },
};

const GROUPS = new Set(['keys', 'import', 'weather']);

export function usage(): string {
  const lines = ['Usage: mdm <command> [options]', '', 'Commands:'];
  for (const spec of Object.values(COMMANDS)) lines.push(`  mdm ${spec.usage}`, `      ${spec.summary}`);
  lines.push(
    '',
    'Configuration: environment variables (PORT, HOST, DATABASE_URL, MDM_DATA_DIR, MQTT_URL, MQTT_PORT, LOG_LEVEL,',
    'MDM_BOOTSTRAP_ADMIN_KEY, …: all of them in docs/configuration.md) over the optional JSON file named by MDM_CONFIG.',
    'Exit codes: 0 ok, 1 failure, 2 bad command line.',
    '',
  );
  return lines.join('\n');
}

export interface ParsedCommand {
  readonly command: string;
  readonly values: Record<string, string | boolean | string[] | undefined>;
  readonly args: string[];
}

/** Resolves the command and its options; throws UsageError for anything unknown or missing. */
export function parseCommandLine(argv: readonly string[]): ParsedCommand {
  if (argv.length === 0) throw new UsageError('no command given');
  if (argv.includes('--help') || argv.includes('-h')) return { command: 'help', values: {}, args: [] };
  if (argv[0] === '--version') return { command: 'version', values: {}, args: [] };
  let command = argv[0];
  let rest = argv.slice(1);
  if (GROUPS.has(command)) {
    const subs = Object.keys(COMMANDS)
      .filter((c) => c.startsWith(`${command} `))
      .map((c) => c.split(' ')[1]);
    if (!rest[0] || rest[0].startsWith('-')) throw new UsageError(`mdm ${command} needs a subcommand: ${subs.join(', ')}`);
    command = `${command} ${rest[0]}`;
    rest = rest.slice(1);
  }
  const spec = COMMANDS[command];
  if (!spec) throw new UsageError(`unknown command "${command}"`);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: spec.options ?? {}, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message.split('\n')[0]} (usage: mdm ${spec.usage})`, command);
  }
  const want = spec.args ?? [];
  if (parsed.positionals.length !== want.length) {
    const what = parsed.positionals.length < want.length ? `missing ${want.slice(parsed.positionals.length).join(' ')}` : `unexpected argument "${parsed.positionals[want.length]}"`;
    throw new UsageError(`${what} (usage: mdm ${spec.usage})`, command);
  }
  return { command, values: parsed.values as ParsedCommand['values'], args: parsed.positionals };
}

/** Runs `mdm` with these arguments and environment; returns the exit code. */
export async function main(argv: readonly string[], env: Readonly<Record<string, string | undefined>>, io: Io = processIo): Promise<number> {
  try {
    const cmd = parseCommandLine(argv);
    if (cmd.command === 'help') {
      io.out(usage());
      return 0;
    }
    if (cmd.command === 'version') {
      const { API_VERSION } = await import('../api/app.js');
      io.out(`mdm ${API_VERSION}\n`);
      return 0;
    }
    const keyInput = cmd.command === 'keys create' ? keyCreateInput(cmd.values) : undefined;
    const { config, given } = readConfigWithSources(env);
    return await run(cmd, config, io, keyInput, given);
  } catch (err) {
    return report(err, io);
  }
}

function report(err: unknown, io: Io): number {
  if (err instanceof UsageError) {
    io.err(`mdm: ${err.message}\n\n${usage()}`);
    return 2;
  }
  if (err instanceof MdmError || err instanceof CliError) {
    io.err(`mdm: ${err.message}\n`);
    return 1;
  }
  // Unexpected: the message and its causes, still no stack for the user to wade through.
  let msg = `mdm: ${(err as Error)?.message ?? String(err)}`;
  for (let c = (err as Error)?.cause; c instanceof Error; c = c.cause) msg += `\n  caused by: ${c.message}`;
  io.err(msg + '\n');
  return 1;
}

function keyCreateInput(v: ParsedCommand['values']) {
  const groups = v['scope-group'] as string[] | undefined;
  const prefixes = v['scope-prefix'] as string[] | undefined;
  const scope = groups || prefixes ? { ...(groups ? { groups } : {}), ...(prefixes ? { meterPrefixes: prefixes } : {}) } : undefined;
  const parsed = KeyCreateSchema.safeParse({ role: v.role, name: v.name, ...(scope ? { scope } : {}) });
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => {
      const field = String(i.path[0]);
      if (field === 'scope') return `--scope-*: ${i.message}`;
      if (v[field] === undefined) return `--${field} is required`;
      return `--${field}: ${field === 'role' ? `one of ${ROLES.join(', ')}` : i.message}`;
    });
    throw new UsageError(`${problems.join('; ')} (usage: mdm ${COMMANDS['keys create'].usage})`, 'keys create');
  }
  if (parsed.data.scope && parsed.data.role !== 'gateway') {
    throw new UsageError(`--scope-group/--scope-prefix apply to gateway keys only, not ${parsed.data.role}`, 'keys create');
  }
  return parsed.data;
}

async function run(cmd: ParsedCommand, config: Config, io: Io, keyInput: ReturnType<typeof keyCreateInput> | undefined, given: ReadonlySet<string>): Promise<number> {
  const note = (msg: string) => io.err(`mdm: ${msg}\n`);
  // SIGINT/SIGTERM are handled from the start, also while the database opens:
  // the command winds down and closes the database cleanly (PGlite files must
  // not be cut mid-write) and releases the data-dir lock. A second signal quits
  // at once (the lock is still released, on exit).
  const stop = new AbortController();
  const unsubscribe = onSignals(['SIGINT', 'SIGTERM'], (sig) => {
    const what = cmd.command === 'serve' ? 'shutting down' : cmd.command.startsWith('import ') ? 'stopping after the current chunk' : 'stopping';
    io.err(`\nmdm: ${sig} received, ${what} (again to quit now)\n`);
    stop.abort();
    return () => process.exit(130);
  });
  try {
    if (cmd.command === 'serve') {
      const { serve } = await import('./serve.js');
      const server = await serve(config, io, undefined, { given });
      if (!stop.signal.aborted) await new Promise((resolve) => stop.signal.addEventListener('abort', resolve, { once: true }));
      await server.stop();
      note('stopped');
      return 0;
    }
    if (cmd.command.startsWith('import ')) assertReadable(cmd.args[0]); // before the (slow) database open

    const { openDatabase } = await import('./open-database.js');
    const opened: OpenedDatabase = await openDatabase(config, `mdm ${cmd.command}`, note);
    try {
      if (stop.signal.aborted) return 130;
      const { database } = opened;
      switch (cmd.command) {
        case 'migrate':
          note(`${opened.description}: ${opened.applied.length ? `applied ${opened.applied.join(', ')}` : 'schema up to date'}`);
          return 0;
        case 'keys create':
          await (await import('./keys.js')).createKeyCommand(database, io, keyInput!);
          return 0;
        case 'keys list':
          await (await import('./keys.js')).listKeysCommand(database, io, cmd.values.json === true);
          return 0;
        case 'keys revoke':
          await (await import('./keys.js')).revokeKeyCommand(database, io, cmd.args[0]);
          return 0;
        case 'import readings':
        case 'import meters':
        case 'import meter-changes':
        case 'import settlement':
          return await runImport(cmd, config, opened, io, stop.signal);
        case 'import prices': {
          const v = cmd.values as Record<string, string | undefined>;
          return await (await import('./import-prices.js')).importPricesCommand(database, io, cmd.args[0], {
            area: v.area,
            kind: v.kind,
            currency: v.currency,
            confirmZeros: cmd.values['confirm-zeros'] === true,
          });
        }
        case 'forecast': {
          const v = cmd.values as Record<string, string | undefined>;
          return await (await import('./forecast.js')).forecastCommand(database, io, { target: v.target, horizon: v.horizon, issueTime: v['issue-time'], model: v.model });
        }
        case 'backtest': {
          const v = cmd.values as Record<string, string | undefined>;
          return await (await import('./forecast.js')).backtestCommand(database, io, { target: v.target, from: v.from, to: v.to, models: v.models, horizon: v.horizon });
        }
        case 'weather import': {
          const v = cmd.values as Record<string, string | undefined>;
          return await (await import('./weather.js')).weatherImportCommand(database, io, cmd.args[0], { location: v.location, issuedAt: v['issued-at'] });
        }
        case 'weather fetch': {
          const v = cmd.values as Record<string, string | undefined>;
          return await (await import('./weather.js')).weatherFetchCommand(database, io, config, {
            location: v.location,
            latitude: v.latitude,
            longitude: v.longitude,
            days: v.days,
            model: v.model,
            run: v.run,
            delayHours: v['delay-hours'],
          });
        }
        case 'weather list': {
          const v = cmd.values as Record<string, string | undefined>;
          return await (await import('./weather.js')).weatherListCommand(database, io, { location: v.location, limit: v.limit });
        }
        case 'load-shapes': {
          const v = cmd.values as Record<string, string | undefined>;
          return await (await import('./load-shapes.js')).loadShapesCommand(database, io, { k: v.k, seed: v.seed, days: v.days, to: v.to });
        }
        case 'offer-cost': {
          const v = cmd.values as Record<string, string | undefined>;
          return await (await import('./offer-cost.js')).offerCostCommand(database, io, {
            target: v.target,
            from: v.from,
            to: v.to,
            basis: v.basis,
            asOf: v['as-of'],
            profile: v.profile,
            area: v.area,
            curve: v.curve,
            imbalancePortfolio: v['imbalance-portfolio'],
            imbalanceFrom: v['imbalance-from'],
            imbalanceTo: v['imbalance-to'],
            imbalanceCost: v['imbalance-cost'],
            otherCosts: v['other-costs'],
            json: cmd.values.json === true,
          });
        }
        default:
          throw new Error(`command ${cmd.command} has no handler`);
      }
    } finally {
      await opened.close();
    }
  } finally {
    unsubscribe();
  }
}

async function runImport(cmd: ParsedCommand, config: Config, opened: OpenedDatabase, io: Io, signal: AbortSignal): Promise<number> {
  const { defaultRejectsPath } = await import('./csv-import.js');
  const file = cmd.args[0];
  const rejectsPath = (cmd.values.rejects as string | undefined) ?? defaultRejectsPath(file);
  const fmt = (n: number) => n.toLocaleString('en-US');
  if (cmd.command === 'import settlement') {
    const { importSettlementFile } = await import('./import-settlement.js');
    const r = await importSettlementFile(opened.database, file, { io, period: cmd.values.period as string | undefined, version: cmd.values.version as string | undefined, rejectsPath, signal });
    for (const v of r.versions) {
      io.out(
        `${file}: period ${v.period} version ${v.version}: stored ${fmt(v.stored)}, unchanged ${fmt(v.unchanged)}, applied ${fmt(v.applied)}, held by a higher version ${fmt(v.heldByHigherVersion)}, rejected ${fmt(v.rejected.length)}\n`,
      );
    }
    if (r.rejectsPath) io.out(`${fmt(r.rejected)} rejected line(s) written to ${r.rejectsPath}\n`);
    return signal.aborted ? 130 : 0;
  }
  if (cmd.command === 'import readings' && wantsFileImport(file, cmd.values)) {
    const { importReadingsFile, fileImportOptions } = await import('./import-readings.js');
    const presetName = cmd.values.preset as string | undefined;
    let preset: object | undefined;
    if (presetName) {
      const { findImportPreset } = await import('../sql/import-preset.repository.js');
      const p = await findImportPreset(opened.database, presetName);
      if (!p) throw new CliError(`no import preset ${JSON.stringify(presetName)} (create one with PUT /v1/import-presets/${presetName})`);
      preset = p.options as object;
    }
    const dryRun = cmd.values['dry-run'] === true;
    const r = await importReadingsFile(opened.database, file, { io, rejectsPath, options: fileImportOptions(cmd.values, preset), dryRun, signal, limits: readingLimitsOf(config) });
    io.out(
      importSummary(file, { rows: r.records, rejected: r.rejected, rejectsPath: r.rejectsPath, elapsedMs: r.elapsedMs, interrupted: r.interrupted, lastLine: r.lastLine }, [
        ['readings', fmt(r.readings)],
        ['accepted', fmt(r.accepted)],
        ['unchanged', fmt(r.unchanged)],
        ['superseded', fmt(r.superseded)],
      ]) + (dryRun ? 'dry run: nothing was stored (the counts are what the import would do)\n' : ''),
    );
    return r.interrupted ? 130 : 0;
  }
  if (cmd.command === 'import meter-changes') {
    const { importMeterChanges } = await import('./import-meter-changes.js');
    const r = await importMeterChanges(opened.database, file, { io, rejectsPath, signal });
    io.out(importSummary(file, r, [['applied', fmt(r.applied)]]));
    return r.interrupted ? 130 : 0;
  }
  if (cmd.command === 'import readings') {
    const { importReadings } = await import('./import-readings.js');
    const r = await importReadings(opened.database, file, { io, rejectsPath, signal, limits: readingLimitsOf(config) });
    io.out(
      importSummary(file, r, [
        ['accepted', fmt(r.accepted)],
        ['unchanged', fmt(r.unchanged)],
        ['superseded', fmt(r.superseded)],
      ]),
    );
    return r.interrupted ? 130 : 0;
  }
  const { importMeters } = await import('./import-meters.js');
  const r = await importMeters(opened.database, file, { io, rejectsPath, signal });
  io.out(
    importSummary(file, r, [
      ['created', fmt(r.created)],
      ['updated', fmt(r.updated)],
      ['unchanged', fmt(r.unchanged)],
    ]),
  );
  return r.interrupted ? 130 : 0;
}

function assertReadable(file: string): void {
  try {
    if (!statSync(file).isFile()) throw new Error('not a regular file');
  } catch (err) {
    throw new CliError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

function importSummary(file: string, r: { rows: number; rejected: number; rejectsPath?: string; elapsedMs: number; interrupted: boolean; lastLine: number }, counts: [string, string][]): string {
  const secs = r.elapsedMs / 1000;
  const rate = secs > 0 ? Math.round(r.rows / secs).toLocaleString('en-US') : '-';
  const lines = [`${file}: ${r.rows.toLocaleString('en-US')} rows in ${secs.toFixed(1)} s (${rate} rows/s)${r.interrupted ? `, INTERRUPTED after line ${r.lastLine}` : ''}`];
  for (const [k, v] of [...counts, ['rejected', r.rejected.toLocaleString('en-US')] as [string, string]]) lines.push(`  ${k.padEnd(11)} ${v}`);
  if (r.rejectsPath) lines[lines.length - 1] += `  (lines, reasons and raw rows in ${r.rejectsPath})`;
  return lines.join('\n') + '\n';
}

/** Calls `handler` on the first of `signals`; the function it returns handles the next one. Returns an unsubscribe. */
function onSignals(signals: NodeJS.Signals[], handler: (sig: NodeJS.Signals) => () => void): () => void {
  let next: (() => void) | undefined;
  const listener = (sig: NodeJS.Signals) => {
    if (next) next();
    else next = handler(sig);
  };
  for (const s of signals) process.on(s, listener);
  return () => {
    for (const s of signals) process.off(s, listener);
  };
}
