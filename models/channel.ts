import { z } from 'zod';

/**
 * Canonical measurement channels. `code` is the stable smallint stored in the
 * database (never renumber); `obis` is the IEC 62056-61 short code accepted as
 * an alias on input (e.g. `1.29.0` = active energy import, interval value).
 */
export type ChannelKind = 'interval' | 'register' | 'instantaneous';

export interface ChannelDef {
  readonly name: ChannelName;
  readonly code: number;
  readonly unit: string;
  readonly kind: ChannelKind;
  readonly obis?: string;
  readonly meaning: string;
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
] as const;
export type ChannelName = (typeof CHANNEL_NAMES)[number];

export const CHANNELS: readonly ChannelDef[] = [
  { name: 'active_import', code: 1, unit: 'kWh', kind: 'interval', obis: '1.29.0', meaning: 'active energy imported in the interval' },
  { name: 'active_export', code: 2, unit: 'kWh', kind: 'interval', obis: '2.29.0', meaning: 'active energy exported in the interval' },
  { name: 'reactive_inductive', code: 3, unit: 'kvarh', kind: 'interval', obis: '3.29.0', meaning: 'reactive energy Q+ in the interval' },
  { name: 'reactive_capacitive', code: 4, unit: 'kvarh', kind: 'interval', obis: '4.29.0', meaning: 'reactive energy Q- in the interval' },
  { name: 'active_import_register', code: 5, unit: 'kWh', kind: 'register', obis: '1.8.0', meaning: 'cumulative import register (index)' },
  { name: 'active_export_register', code: 6, unit: 'kWh', kind: 'register', obis: '2.8.0', meaning: 'cumulative export register' },
  { name: 'volume', code: 7, unit: 'm3', kind: 'interval', meaning: 'gas/water volume in the interval' },
  { name: 'volume_register', code: 8, unit: 'm3', kind: 'register', meaning: 'cumulative volume index' },
  { name: 'temperature', code: 9, unit: '°C', kind: 'instantaneous', meaning: 'temperature' },
  { name: 'pressure', code: 10, unit: 'bar', kind: 'instantaneous', meaning: 'pressure' },
];

const byName = new Map<string, ChannelDef>();
const byCode = new Map<number, ChannelDef>();
for (const c of CHANNELS) {
  byName.set(c.name, c);
  byCode.set(c.code, c);
  if (c.obis) {
    byName.set(c.obis, c);
    // Full OBIS forms seen from head-ends: "1-0:1.29.0", "1-0:1.29.0*255", "1.0.1.29.0.255".
    byName.set(`1-0:${c.obis}`, c);
    byName.set(`1-0:${c.obis}*255`, c);
    byName.set(`1.0.${c.obis}.255`, c);
  }
}

/** Resolves a canonical name or OBIS alias (`1.8.0`, `1-0:1.8.0*255`) to its channel, or `undefined`. */
export function resolveChannel(nameOrObis: string): ChannelDef | undefined {
  return byName.get(nameOrObis);
}

export function channelByCode(code: number): ChannelDef {
  const c = byCode.get(code);
  if (!c) throw new Error(`unknown channel code ${code}`);
  return c;
}

export function channelDef(name: ChannelName): ChannelDef {
  return byName.get(name)!;
}

export const ChannelNameSchema = z.enum(CHANNEL_NAMES).describe('Canonical channel name');

/** Accepts a canonical name or an OBIS alias, returns the canonical name. */
export const ChannelInputSchema = z.string().describe(
  `Channel: one of ${CHANNEL_NAMES.join(', ')}, or an OBIS alias (${CHANNELS.filter((c) => c.obis)
    .map((c) => c.obis)
    .join(', ')})`,
);

export const KNOWN_CHANNELS_HINT = `known channels: ${CHANNEL_NAMES.join(', ')} (OBIS aliases ${CHANNELS.filter((c) => c.obis)
  .map((c) => `${c.obis}=${c.name}`)
  .join(', ')})`;
