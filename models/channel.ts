import { z } from 'zod';
import type { COMMODITIES } from './meter.js';
import { isCurrentValue, obisKey, parseObis } from './obis.js';

/**
 * The channel registry: what a stored value measures. `code` is the stable
 * smallint stored in the database (never renumber; built-ins append, users get
 * codes ≥ 1000 from the database); `obis` is the normalised OBIS key
 * (models/obis.ts `A-B:C.D.E`) every written form of the code resolves to.
 *
 * - kind: `interval` (a quantity per interval, adds up), `register` (a cumulative
 *   index that never decreases: VEE checks it, billing takes deltas),
 *   `instantaneous` (a sampled value: voltage, temperature, maximum demand),
 *   `status` (a state code).
 * - aggregation: how values of one bucket combine (GET /v1/readings buckets,
 *   GET /v1/aggregate): `sum`, `mean`, `max`, or `last` (the newest value).
 *
 * User-defined channels (PUT /v1/channels/:name) live in the `channels` table
 * and reach this module through {@link setUserChannels}: resolveChannel stays
 * synchronous for the ingest paths.
 */
export const CHANNEL_KINDS = ['interval', 'register', 'instantaneous', 'status'] as const;
export type ChannelKind = (typeof CHANNEL_KINDS)[number];
export const AGGREGATIONS = ['sum', 'mean', 'max', 'last'] as const;
export type Aggregation = (typeof AGGREGATIONS)[number];
export type ChannelCommodity = (typeof COMMODITIES)[number];

export interface ChannelDef {
  readonly name: string;
  readonly code: number;
  readonly unit: string;
  readonly kind: ChannelKind;
  /** Normalised OBIS key (`1-0:1.8.1`); any written form of it resolves to this channel. */
  readonly obis?: string;
  /** Further OBIS keys that mean the same quantity (water volume 8-0:1.0.0 on the volume register). */
  readonly alsoObis?: readonly string[];
  readonly meaning: string;
  readonly commodities: readonly ChannelCommodity[];
  readonly aggregation: Aggregation;
  /** false for a channel defined through PUT /v1/channels. */
  readonly builtin: boolean;
}

export const CHANNEL_NAMES = [
  'active_import',
  'active_export',
  'reactive_inductive',
  'reactive_capacitive',
  'active_import_register',
  'active_export_register',
  'volume',
  'volume_register',
  'temperature',
  'pressure',
  'active_import_register_t1',
  'active_import_register_t2',
  'active_import_register_t3',
  'active_export_register_t1',
  'active_export_register_t2',
  'active_export_register_t3',
  'reactive_inductive_register',
  'reactive_capacitive_register',
  'active_import_max_demand',
  'voltage_l1',
  'voltage_l2',
  'voltage_l3',
  'current_l1',
  'current_l2',
  'current_l3',
  'volume_base_register',
  'heat_energy_register',
] as const;
export type ChannelName = (typeof CHANNEL_NAMES)[number];

/** First code the database hands to a user-defined channel (migration 021's sequence). */
export const USER_CHANNEL_CODE_MIN = 1000;

type BuiltinDef = Omit<ChannelDef, 'builtin' | 'name'> & { readonly name: ChannelName };
const E: readonly ChannelCommodity[] = ['electricity'];
const GAS_WATER: readonly ChannelCommodity[] = ['gas', 'water'];
const GAS_WATER_HEAT: readonly ChannelCommodity[] = ['gas', 'water', 'heat'];

// Codes 1–10 as shipped; 11+ appended (issue 15). OBIS: DLMS UA 1000-1 (Blue Book) §7.5.
const BUILTIN: readonly BuiltinDef[] = [
  { name: 'active_import', code: 1, unit: 'kWh', kind: 'interval', obis: '1-0:1.29.0', commodities: E, aggregation: 'sum', meaning: 'active energy imported in the interval' },
  { name: 'active_export', code: 2, unit: 'kWh', kind: 'interval', obis: '1-0:2.29.0', commodities: E, aggregation: 'sum', meaning: 'active energy exported in the interval' },
  { name: 'reactive_inductive', code: 3, unit: 'kvarh', kind: 'interval', obis: '1-0:3.29.0', commodities: E, aggregation: 'sum', meaning: 'reactive energy Q+ in the interval' },
  { name: 'reactive_capacitive', code: 4, unit: 'kvarh', kind: 'interval', obis: '1-0:4.29.0', commodities: E, aggregation: 'sum', meaning: 'reactive energy Q- in the interval' },
  { name: 'active_import_register', code: 5, unit: 'kWh', kind: 'register', obis: '1-0:1.8.0', commodities: E, aggregation: 'last', meaning: 'cumulative import register (index), all tariffs' },
  { name: 'active_export_register', code: 6, unit: 'kWh', kind: 'register', obis: '1-0:2.8.0', commodities: E, aggregation: 'last', meaning: 'cumulative export register, all tariffs' },
  { name: 'volume', code: 7, unit: 'm3', kind: 'interval', commodities: GAS_WATER, aggregation: 'sum', meaning: 'gas/water volume in the interval (gas: at metering conditions, Vm)' },
  {
    name: 'volume_register',
    code: 8,
    unit: 'm3',
    kind: 'register',
    obis: '7-0:3.0.0',
    alsoObis: ['8-0:1.0.0', '9-0:1.0.0'],
    commodities: GAS_WATER,
    aggregation: 'last',
    meaning: 'cumulative volume index (gas: forward absolute meter volume at metering conditions, Vm; water: accumulated volume)',
  },
  { name: 'temperature', code: 9, unit: '°C', kind: 'instantaneous', commodities: GAS_WATER_HEAT, aggregation: 'mean', meaning: 'temperature' },
  { name: 'pressure', code: 10, unit: 'bar', kind: 'instantaneous', commodities: ['gas'], aggregation: 'mean', meaning: 'pressure' },
  { name: 'active_import_register_t1', code: 11, unit: 'kWh', kind: 'register', obis: '1-0:1.8.1', commodities: E, aggregation: 'last', meaning: 'import register, tariff 1 (T1)' },
  { name: 'active_import_register_t2', code: 12, unit: 'kWh', kind: 'register', obis: '1-0:1.8.2', commodities: E, aggregation: 'last', meaning: 'import register, tariff 2 (T2)' },
  { name: 'active_import_register_t3', code: 13, unit: 'kWh', kind: 'register', obis: '1-0:1.8.3', commodities: E, aggregation: 'last', meaning: 'import register, tariff 3 (T3)' },
  { name: 'active_export_register_t1', code: 14, unit: 'kWh', kind: 'register', obis: '1-0:2.8.1', commodities: E, aggregation: 'last', meaning: 'export register, tariff 1' },
  { name: 'active_export_register_t2', code: 15, unit: 'kWh', kind: 'register', obis: '1-0:2.8.2', commodities: E, aggregation: 'last', meaning: 'export register, tariff 2' },
  { name: 'active_export_register_t3', code: 16, unit: 'kWh', kind: 'register', obis: '1-0:2.8.3', commodities: E, aggregation: 'last', meaning: 'export register, tariff 3' },
  { name: 'reactive_inductive_register', code: 17, unit: 'kvarh', kind: 'register', obis: '1-0:3.8.0', commodities: E, aggregation: 'last', meaning: 'reactive energy register Q+ (+R)' },
  { name: 'reactive_capacitive_register', code: 18, unit: 'kvarh', kind: 'register', obis: '1-0:4.8.0', commodities: E, aggregation: 'last', meaning: 'reactive energy register Q- (-R)' },
  // Maximum demand resets at each billing period end: not a never-decreasing index, so `instantaneous` (VEE range checks, not register checks).
  { name: 'active_import_max_demand', code: 19, unit: 'kW', kind: 'instantaneous', obis: '1-0:1.6.0', commodities: E, aggregation: 'max', meaning: 'maximum demand, active import, total' },
  { name: 'voltage_l1', code: 20, unit: 'V', kind: 'instantaneous', obis: '1-0:32.7.0', commodities: E, aggregation: 'mean', meaning: 'voltage L1' },
  { name: 'voltage_l2', code: 21, unit: 'V', kind: 'instantaneous', obis: '1-0:52.7.0', commodities: E, aggregation: 'mean', meaning: 'voltage L2' },
  { name: 'voltage_l3', code: 22, unit: 'V', kind: 'instantaneous', obis: '1-0:72.7.0', commodities: E, aggregation: 'mean', meaning: 'voltage L3' },
  { name: 'current_l1', code: 23, unit: 'A', kind: 'instantaneous', obis: '1-0:31.7.0', commodities: E, aggregation: 'mean', meaning: 'current L1' },
  { name: 'current_l2', code: 24, unit: 'A', kind: 'instantaneous', obis: '1-0:51.7.0', commodities: E, aggregation: 'mean', meaning: 'current L2' },
  { name: 'current_l3', code: 25, unit: 'A', kind: 'instantaneous', obis: '1-0:71.7.0', commodities: E, aggregation: 'mean', meaning: 'current L3' },
  // 7-0:13.2.0: C 13 = forward absolute converter volume, D 2 = index at base conditions ("converted value"):
  // the Vb register of a volume converter (EN 12405-1), e.g. the Elster EK280's "Vb total". Blue Book gas tables.
  {
    name: 'volume_base_register',
    code: 26,
    unit: 'm3',
    kind: 'register',
    obis: '7-0:13.2.0',
    commodities: ['gas'],
    aggregation: 'last',
    meaning: 'gas volume converter index at base conditions (Vb)',
  },
  { name: 'heat_energy_register', code: 27, unit: 'kWh', kind: 'register', obis: '6-0:1.0.0', commodities: ['heat'], aggregation: 'last', meaning: 'heat energy register (index)' },
];

/** The built-in channels, codes ascending. */
export const CHANNELS: readonly ChannelDef[] = BUILTIN.map((c) => Object.freeze({ ...c, builtin: true }));

interface Index {
  readonly byName: Map<string, ChannelDef>;
  readonly byCode: Map<number, ChannelDef>;
  readonly byObis: Map<string, ChannelDef>;
}

function indexOf(defs: readonly ChannelDef[]): Index {
  const ix: Index = { byName: new Map(), byCode: new Map(), byObis: new Map() };
  for (const c of defs) {
    ix.byName.set(c.name, c);
    ix.byCode.set(c.code, c);
    for (const k of [c.obis, ...(c.alsoObis ?? [])]) if (k) ix.byObis.set(k, c);
  }
  return ix;
}

const builtin = indexOf(CHANNELS);
let user: Index = indexOf([]);
let userList: readonly ChannelDef[] = [];

/**
 * Resolves a channel name or any written form of an OBIS code to its channel,
 * or `undefined`. OBIS: the normalised key first (`1.8.1`, `1-0:1.8.1*255` and
 * `1.0.1.8.1.255` are all `1-0:1.8.1`), then, for a channel B of 1–64, the same
 * code without a channel (`1-1:1.29.0` = `1-0:1.29.0`) unless a channel was
 * defined for that exact key. Billing-period values (F other than 255) are not
 * current values and resolve to nothing.
 * @example resolveChannel('1-0:32.7.0')?.name // 'voltage_l1'
 */
export function resolveChannel(nameOrObis: string): ChannelDef | undefined {
  const named = builtin.byName.get(nameOrObis) ?? user.byName.get(nameOrObis);
  if (named) return named;
  const seen = obisSeen.get(nameOrObis);
  if (seen !== undefined) return seen ?? undefined;
  const found = resolveObis(nameOrObis);
  if (obisSeen.size >= OBIS_SEEN_MAX) obisSeen.clear();
  if (nameOrObis.length <= 32) obisSeen.set(nameOrObis, found ?? null);
  return found;
}

/** Written OBIS forms already resolved (a feed repeats the same few per row): text → channel, null = none. Cleared when the user channels change. */
const obisSeen = new Map<string, ChannelDef | null>();
const OBIS_SEEN_MAX = 4_096;

function resolveObis(nameOrObis: string): ChannelDef | undefined {
  const p = parseObis(nameOrObis);
  if (!p.ok || !isCurrentValue(p.code)) return undefined;
  const key = obisKey(p.code);
  const exact = builtin.byObis.get(key) ?? user.byObis.get(key);
  if (exact || !p.code.b) return exact;
  const anyChannel = obisKey({ ...p.code, b: 0 });
  return builtin.byObis.get(anyChannel) ?? user.byObis.get(anyChannel);
}

export function channelByCode(code: number): ChannelDef {
  const c = builtin.byCode.get(code) ?? user.byCode.get(code);
  if (!c) throw new Error(`unknown channel code ${code}`);
  return c;
}

/** A channel by its canonical name: a built-in one, or a user-defined one already resolved (a Modbus map keeps the name it resolved). */
export function channelDef(name: ChannelName): ChannelDef {
  const c = builtin.byName.get(name) ?? user.byName.get(name);
  if (!c) throw new Error(`unknown channel ${name}`);
  return c;
}

/** Built-in channels, then the user-defined ones (codes ascending within each). */
export function allChannels(): readonly ChannelDef[] {
  return [...CHANNELS, ...userList];
}

/**
 * Replaces the user-defined channels this process knows (loaded from the
 * `channels` table at start, after each PUT /v1/channels, and periodically).
 * A definition whose name, code or OBIS key is built in is skipped (the
 * table's checks make that impossible; this keeps the built-ins authoritative).
 */
export function setUserChannels(defs: readonly ChannelDef[]): void {
  const ok = defs.filter((d) => !builtin.byName.has(d.name) && !builtin.byCode.has(d.code) && !(d.obis && builtin.byObis.has(d.obis)));
  userList = [...ok].sort((a, b) => a.code - b.code).map((d) => Object.freeze({ ...d, builtin: false }));
  user = indexOf(userList);
  obisSeen.clear();
  KNOWN_CHANNELS_HINT = hint();
}

/** Canonical channel name in responses: a built-in name or a user-defined one (GET /v1/channels lists both). */
export const ChannelNameSchema = z.string().describe(`Channel name: a built-in one (${CHANNEL_NAMES.join(', ')}) or a user-defined one (GET /v1/channels)`);

/** Accepts a channel name or an OBIS code in any written form; the receiver resolves it. */
export const ChannelInputSchema = z.string().describe(
  `Channel: a name (${CHANNEL_NAMES.join(', ')}, or a user-defined one from GET /v1/channels) or an OBIS code in any form (1.8.1, 1-0:1.8.1, 1-0:1.8.1*255, 1.0.1.8.1.255) of ${CHANNELS.filter(
    (c) => c.obis,
  )
    .map((c) => c.obis)
    .join(', ')}`,
);

/** Longest list of names a reject reason carries (reasons are stored cut at 2 000 characters). */
const HINT_CHARS = 1_500;

function hint(): string {
  const names = allChannels().map((c) => c.name);
  const obis = allChannels().flatMap((c) => [c.obis, ...(c.alsoObis ?? [])].filter((k): k is string => k !== undefined).map((k) => k.replace(/^1-0:/, '')));
  const full = `known channels: ${names.join(', ')} (OBIS codes, any written form such as 1.8.1, 1-0:1.8.1*255 or 1.0.1.8.1.255, current values only: ${obis.join(', ')})`;
  if (full.length <= HINT_CHARS) return full;
  return `${full.slice(0, HINT_CHARS)}… (GET /v1/channels lists them all)`;
}

/**
 * The list a reject reason appends after `unknown channel "x": ` (names, then
 * OBIS codes). A live binding: it follows {@link setUserChannels}.
 */
export let KNOWN_CHANNELS_HINT = hint();
