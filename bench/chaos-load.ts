/**
 * Good traffic of `npm run bench -- chaos`: hourly active_import of the bench
 * meters, values from the Cambridge Estates buildings (bench/load-profile.ts)
 * computed on demand from (meter, hour) so that any row can be checked later
 * without keeping it. Work is cut into slices (hours × meters), each sent as
 * one HTTP request or MQTT message with poison mixed in (bench/chaos-poison.ts).
 */
import { formatInstant } from '../models/time.js';
import { BENCH_FROM_MS, BENCH_TZ, loadBuildingSeries } from './load-profile.js';
import { kindsWhere, markerOf, POISON_KINDS, type PoisonContext, type PoisonKind, type PoisonWhere } from './chaos-poison.js';

export const HOUR_MS = 3_600_000;
const YEAR_HOURS = 8760;

export const chaosMeterId = (i: number): string => `CHAOS-${String(i + 1).padStart(4, '0')}`;

export type SliceShape = 'http' | 'mqtt-gateway' | 'mqtt-senml' | 'mqtt-meter';

/** `hours` × `meters` good rows starting at (hour0, meter0), sent as one request or message. */
export interface Slice {
  readonly shape: SliceShape;
  readonly hour0: number;
  readonly hours: number;
  readonly meter0: number;
  readonly meters: number;
}

export const sliceRows = (s: Slice): number => s.hours * s.meters;

/** One poison item as sent. */
export interface PoisonItem {
  readonly seq: number;
  readonly kind: PoisonKind;
  readonly phase: string;
}

/** A good row that travels as part of a poison item (the original of a conflict). */
export interface ExtraGood {
  readonly meter: string;
  readonly start: string;
  readonly value: number;
}

/** Deterministic values and start texts of the bench rows. */
export class ChaosData {
  private readonly series: number[][];
  private readonly starts: string[] = [];

  constructor(dataDir: string) {
    this.series = loadBuildingSeries(dataDir, YEAR_HOURS);
  }

  /** kWh of meter `m` in hour `h`, rounded to Wh; a year of data repeats after 8 760 hours. */
  value(m: number, h: number): number {
    const base = this.series[m % this.series.length][h % YEAR_HOURS];
    return Math.round(base * (0.9 + 0.2 * noise(m, h)) * 1000) / 1000;
  }

  /** Interval start of hour `h` in the meters' local time, with its offset. */
  start(h: number): string {
    return (this.starts[h] ??= formatInstant(BENCH_FROM_MS + h * HOUR_MS, BENCH_TZ));
  }

  startMs = (h: number): number => BENCH_FROM_MS + h * HOUR_MS;

  rowText(m: number, h: number, withMeter = true): string {
    return `{${withMeter ? `"meter":"${chaosMeterId(m)}",` : ''}"channel":"active_import","start":"${this.start(h)}","value":${this.value(m, h)}}`;
  }

  /** SenML record of one good row: Wh on a named meter, absolute time (RFC 8428 §4.5.3). */
  senmlText(m: number, h: number): string {
    return `{"bn":"${chaosMeterId(m)}/","bt":${this.startMs(h) / 1000},"n":"active_import","u":"Wh","v":${Math.round(this.value(m, h) * 1000)}}`;
  }
}

/** Hash noise in [0, 1) of (meter, hour): no random state to replay. */
function noise(m: number, h: number): number {
  let x = Math.imul(m + 1, 0x9e3779b1) ^ Math.imul(h + 1, 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return ((x ^ (x >>> 16)) >>> 0) / 2 ** 32;
}

/**
 * Deals out poison: one item per 100 good rows (1 %), kinds round-robin among
 * those that can travel with the slice; markers numbered from `firstSeq`.
 */
export class PoisonDealer {
  private owed = 0;
  private seq: number;
  private readonly turn = new Map<string, number>();
  readonly items: PoisonItem[] = [];

  constructor(
    private readonly data: ChaosData,
    private readonly rate: number,
    firstSeq: number,
    private readonly phase: string,
    private readonly pick: (where: PoisonWhere[]) => readonly PoisonKind[] = (w) => kindsWhere(...w),
  ) {
    this.seq = firstSeq;
  }

  /** Poison items owed after `rows` more good rows, taken from the kinds that travel `where`. */
  deal(rows: number, where: PoisonWhere[]): PoisonItem[] {
    this.owed += rows * this.rate;
    const out: PoisonItem[] = [];
    const kinds = this.pick(where);
    const key = where.join('+');
    while (this.owed >= 1 && kinds.length) {
      this.owed -= 1;
      const t = this.turn.get(key) ?? 0;
      this.turn.set(key, t + 1);
      const item = { seq: this.seq++, kind: kinds[t % kinds.length], phase: this.phase };
      out.push(item);
      this.items.push(item);
    }
    return out;
  }

  context(item: PoisonItem, hour: number): PoisonContext {
    return { marker: markerOf(item.seq), start: this.data.start(hour), startS: this.data.startMs(hour) / 1000, goodRow: this.data.rowText(0, hour) };
  }
}

/** The text of row-level poison for a batch, and the good rows it carries. */
export function poisonRows(dealer: PoisonDealer, items: readonly PoisonItem[], hour: number): { texts: string[]; extras: ExtraGood[] } {
  const texts: string[] = [];
  const extras: ExtraGood[] = [];
  for (const item of items) {
    const made = item.kind.make(dealer.context(item, hour));
    texts.push(typeof made.text === 'string' ? made.text : Buffer.from(made.text).toString());
    if (made.good) extras.push(made.good);
  }
  return { texts, extras };
}

/** Inserts poison texts among good row texts at spread positions (deterministic). */
export function mixIn(goods: string[], poison: readonly string[]): string[] {
  const out = [...goods];
  poison.forEach((p, k) => out.splice(Math.floor(((k + 1) * out.length) / (poison.length + 1)), 0, p));
  return out;
}

/** Meters whose ids are poison markers, to register before the run (kinds that must get past the meter check). */
export function markerMeters(items: readonly PoisonItem[]): string[] {
  return items.filter((i) => i.kind.needsMeter).map((i) => markerOf(i.seq));
}

/** Number of poison kinds by where they travel (for the report). */
export const kindCount = POISON_KINDS.length;
