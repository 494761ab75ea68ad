import { loadavg } from 'node:os';

/** Options every bench receives, validated once in bench/run.ts. */
export interface BenchOptions {
  /** PostgreSQL server the bench creates its own database on. */
  readonly databaseUrl: string;
  /** ../shared/data (see its README.md). */
  readonly dataDir: string;
  readonly meters: number;
  readonly days: number;
  /** Rows per POST /v1/readings. */
  readonly batchRows: number;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Times the measured load is repeated (fresh tables each time): best and median are reported. */
  readonly rounds: number;
  /** Meters of the embedded (PGlite) load. */
  readonly embeddedMeters: number;
  /** `--name value` / `--name=value` arguments after the bench names (`npm run bench -- chaos --soak-s 30`); each bench checks its own. */
  readonly flags: Readonly<Record<string, string>>;
}

/** One measured figure; `baseline` makes it print as a ratio against that figure. */
export interface Figure {
  readonly label: string;
  /** Per round, in `unit`. */
  readonly values: readonly number[];
  readonly unit: string;
  /** Larger is better (rows/s) or smaller is better (ms). */
  readonly better: 'higher' | 'lower';
  /** Labels of the figures this one is printed against, as ratios. */
  readonly baselines?: readonly string[];
  readonly note?: string;
}

export interface Goal {
  readonly label: string;
  readonly pass: boolean;
  readonly detail: string;
}

export interface BenchReport {
  readonly context: readonly string[];
  readonly figures: readonly Figure[];
  readonly goals: readonly Goal[];
  /** Printed under the goals: readings of the figures that are not goals. */
  readonly notes?: readonly string[];
}

export interface Bench {
  readonly name: string;
  readonly summary: string;
  /** The bench is stopped (and its cleanup run) when it takes longer. */
  readonly timeoutMs: number;
  /** A bound that depends on the flags (e.g. a soak duration); overrides timeoutMs. */
  timeoutFor?(opts: BenchOptions): number;
  /** `onCleanup` registers work the guard runs if the bench has to be stopped. */
  run(opts: BenchOptions, log: (line: string) => void, onCleanup: (fn: () => Promise<void>) => void): Promise<BenchReport>;
}

export const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
export const best = (f: Pick<Figure, 'values' | 'better'>): number => (f.better === 'higher' ? Math.max(...f.values) : Math.min(...f.values));

/** Load average over the last minute, as text: figures taken under load are noisy. */
/** The p-th percentile (0–100, nearest rank) of xs; NaN when empty. */
export const percentile = (xs: readonly number[], p: number): number => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

export const loadNow = (): string => loadavg()[0].toFixed(2);

const fmt = (v: number): string => (Math.abs(v) >= 1000 ? Math.round(v).toLocaleString('en-US') : v >= 100 ? v.toFixed(0) : v.toFixed(1));

/**
 * Aligned table: label, best, median, unit; a figure with baselines gets one
 * ratio line per baseline (ratio of the medians, and of the bests).
 */
export function formatReport(name: string, r: BenchReport): string {
  const byLabel = new Map(r.figures.map((f) => [f.label, f]));
  const head = ['figure', 'best', 'median', 'unit', 'runs'];
  const lines: string[][] = [];
  for (const f of r.figures) {
    lines.push([f.label + (f.note ? ` (${f.note})` : ''), fmt(best(f)), fmt(median(f.values)), f.unit, String(f.values.length)]);
    for (const b of f.baselines ?? []) {
      const base = byLabel.get(b);
      if (!base) throw new Error(`figure "${f.label}": no baseline figure "${b}"`);
      lines.push([`  ratio to ${b}`, `${(best(f) / best(base)).toFixed(2)}×`, `${(median(f.values) / median(base.values)).toFixed(2)}×`, '', '']);
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const row = (cells: string[]) =>
    cells
      .map((c, i) => (i === 1 || i === 2 ? c.padStart(widths[i]) : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [
    `== bench ${name}`,
    ...r.context.map((c) => `   ${c}`),
    '',
    row(head),
    row(widths.map((w) => '-'.repeat(w))),
    ...lines.map(row),
    '',
    ...r.goals.map((g) => `${g.pass ? 'PASS' : 'MISS'}  ${g.label}: ${g.detail}`),
    ...(r.notes ?? []).map((n) => `note  ${n}`),
  ].join('\n');
}
