import { readFileSync } from 'node:fs';

/**
 * Real data for the forecast API tests: Cambridge Estates buildings and Bedford weather, excerpts of
 * ../shared/data as published (test/fixtures/data/README.md lists the buildings and windows kept).
 */
export const HOUR = 3_600_000;
export const DAY = 86_400_000;
const DATA = new URL('./fixtures/data/cambridge-estates/', import.meta.url);

/** Hourly kWh of a Cambridge building (timestamps are UTC hour starts), by epoch ms. */
export function building(b: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of readFileSync(new URL(`${b}/electricity/2019.csv`, DATA), 'utf8')
    .split('\n')
    .slice(1)) {
    if (!line) continue;
    const [t, v] = line.split(',');
    out.set(Date.parse(`${t.replace(' ', 'T')}Z`), Number(v));
  }
  return out;
}

export function bedfordTemperature(): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of readFileSync(new URL('weather-bedford/2019.csv', DATA), 'utf8').split('\n').slice(1)) {
    if (!line) continue;
    const [t, v] = line.split(',');
    out.set(Date.parse(`${t.replace(' ', 'T')}Z`), Number(v));
  }
  return out;
}

export interface Row {
  meter: string;
  channel: string;
  start: string;
  value: number;
  quality?: string;
}

export const rowsOf = (meter: string, channel: string, series: Map<number, number>, fromMs: number, toMs: number): Row[] => {
  const out: Row[] = [];
  for (let t = fromMs; t < toMs; t += HOUR) {
    const v = series.get(t);
    if (v !== undefined && Number.isFinite(v)) out.push({ meter, channel, start: new Date(t).toISOString(), value: v });
  }
  return out;
};
