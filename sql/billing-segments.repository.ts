import type { Kysely } from 'kysely';
import { segmentsOf } from '../models/meter-attribute.js';
import type { FigureQuery, FigureWindow, MeterFigureRow, MeterSelector } from './billing.repository.js';
import { datedVersions, metersWithDatedChanges } from './meter-attribute.repository.js';
import type { DB } from './types.js';

/**
 * The parts of a meter's billing window with one multiplier and one tariff
 * (dated attributes, issue 16): a multiplier or tariff change inside the
 * window splits it at the local midnight of its date. Read inside the
 * figures' REPEATABLE READ transaction, with the versions known at `asOf`.
 */
export interface DatedPart {
  readonly fromMs: number;
  readonly toMs: number;
  readonly multiplier: number;
  readonly tariff: string;
  /** The part's raw figures (before the multiplier; TOU buckets of `tariff`). */
  readonly row: MeterFigureRow;
}

const COLUMNS = ['multiplier', 'tariff'] as const;
const DAY_MS = 86_400_000;

/** The earliest local date a window can begin on (a range's UTC start less a day covers every zone). */
function firstDate(w: FigureWindow): string {
  return w.kind === 'period' ? w.fromDate : new Date(w.from.getTime() - DAY_MS).toISOString().slice(0, 10);
}

/**
 * Parts of the meters of `rows` whose multiplier or tariff is not the
 * column's value over the whole window; other meters are absent (their
 * columns hold for the window: the fast path, one indexed probe of the dated
 * versions). A meter with one part whose tariff is the column's keeps its
 * row (only the multiplier differs); other parts are read again through
 * `figures` (raw, with the part's tariff) in groups of one window.
 */
export async function loadDatedParts(
  db: Kysely<DB>,
  q: FigureQuery,
  rows: readonly MeterFigureRow[],
  figures: (part: { selector: MeterSelector; window: FigureWindow; tariffs: ReadonlyMap<number, string> }) => Promise<MeterFigureRow[]>,
): Promise<Map<number, DatedPart[]>> {
  const out = new Map<number, DatedPart[]>();
  if (rows.length === 0 || q.raw) return out;
  const changed = await metersWithDatedChanges(db, { fromDate: firstDate(q.window), columns: COLUMNS, asOf: q.asOf });
  if (changed.size === 0) return out;
  const byId = new Map(rows.filter((r) => changed.has(r.meterId) && r.windowTo > r.windowFrom).map((r) => [r.meterId, r]));
  if (byId.size === 0) return out;
  const versions = await datedVersions(db, { ids: [...byId.keys()], columns: COLUMNS, asOf: q.asOf });
  const of = new Map<number, { multiplier: { sinceMs: number; value: string | null }[]; tariff: { sinceMs: number; value: string | null }[] }>();
  for (const v of versions) {
    let e = of.get(v.meterId);
    if (!e) of.set(v.meterId, (e = { multiplier: [], tariff: [] }));
    (v.attribute === 'multiplier' ? e.multiplier : e.tariff).push({ sinceMs: v.sinceMs, value: v.value });
  }
  // Windows to read again, each with its meters and their parts' tariffs.
  const reads = new Map<string, { from: number; to: number; meters: { id: number; externalId: string; tariff: string; k: number }[] }>();
  const pending: { id: number; fromMs: number; toMs: number; multiplier: number; tariff: string; key: string | null }[] = [];
  for (const [id, r] of byId) {
    const e = of.get(id);
    if (!e) continue; // no version known at asOf (registered later): its columns
    const changes = [...new Set([...e.multiplier, ...e.tariff].map((x) => x.sinceMs))].sort((a, b) => a - b);
    const at = (list: readonly { sinceMs: number; value: string | null }[], ms: number, fallback: string) => {
      let v: string | null = null;
      for (const x of list) if (x.sinceMs <= ms) v = x.value;
      return v ?? fallback;
    };
    const states = changes.map((ms) => ({ sinceMs: ms, value: `${at(e.multiplier, ms, String(r.multiplier))}|${at(e.tariff, ms, r.tariff)}` }));
    const parts = segmentsOf(states, r.windowFrom.getTime(), r.windowTo.getTime());
    // Only electricity is split into parts; another commodity takes the values in force at its window's end.
    const split = r.commodity === undefined || r.commodity === 'electricity' ? parts : parts.slice(-1).map((p) => ({ ...p, fromMs: r.windowFrom.getTime(), toMs: r.windowTo.getTime() }));
    for (const p of split) {
      const bar = p.value.lastIndexOf('|');
      const multiplier = Number(p.value.slice(0, bar));
      const tariff = p.value.slice(bar + 1);
      const whole = split.length === 1 && tariff === r.tariff;
      if (whole && multiplier === r.multiplier) break; // as the columns say
      const key = whole ? null : `${p.fromMs}/${p.toMs}`;
      pending.push({ id, fromMs: p.fromMs, toMs: p.toMs, multiplier, tariff, key });
      if (key === null) continue;
      let g = reads.get(key);
      if (!g) reads.set(key, (g = { from: p.fromMs, to: p.toMs, meters: [] }));
      g.meters.push({ id, externalId: r.externalId, tariff, k: multiplier });
    }
  }
  const partRows = new Map<string, MeterFigureRow>();
  for (const [key, g] of reads) {
    const got = await figures({
      selector: { meters: g.meters.map((m) => m.externalId) },
      window: { kind: 'range', from: new Date(g.from), to: new Date(g.to) },
      tariffs: new Map(g.meters.map((m) => [m.id, m.tariff])),
    });
    for (const row of got) partRows.set(`${row.meterId}@${key}`, row);
  }
  for (const p of pending) {
    const row = p.key === null ? byId.get(p.id)! : partRows.get(`${p.id}@${p.key}`);
    if (!row) continue;
    const list = out.get(p.id) ?? [];
    list.push({ fromMs: p.fromMs, toMs: p.toMs, multiplier: p.multiplier, tariff: p.tariff, row });
    out.set(p.id, list);
  }
  return out;
}
