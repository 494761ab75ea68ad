import type { Io } from './io.js';

export interface ProgressState {
  readonly bytes: number;
  readonly totalBytes: number;
  readonly rows: number;
  readonly elapsedMs: number;
  /** What `rows` counts (default rows); empty: no count and rate, elapsed seconds instead (jobs whose size is only a fraction). */
  readonly unit?: string;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * One progress line: `[#####.....]  52%  1,040,000 rows  98,000 rows/s`.
 * Percent is by bytes read (rows are not known until the end). Pure.
 */
export function formatProgress(s: ProgressState, barWidth = 24): string {
  const frac = s.totalBytes > 0 ? Math.min(1, s.bytes / s.totalBytes) : 1;
  const filled = Math.round(frac * barWidth);
  const rate = s.elapsedMs > 0 ? (s.rows * 1000) / s.elapsedMs : 0;
  const pct = `${Math.floor(frac * 100)}%`.padStart(4);
  const unit = s.unit ?? 'rows';
  const tail = unit === '' ? `${(s.elapsedMs / 1000).toFixed(1)} s` : `${fmt(s.rows)} ${unit}  ${fmt(rate)} ${unit}/s`;
  return `[${'#'.repeat(filled)}${'.'.repeat(barWidth - filled)}] ${pct}  ${tail}`;
}

/**
 * Progress on stderr: a bar redrawn in place (at most 10 times a second) on a
 * terminal, a plain line every `intervalMs` otherwise (logs, CI).
 */
export class Progress {
  private readonly t0: number;
  private last = -Infinity;
  private drawn = false;

  constructor(
    private readonly io: Io,
    private readonly label: string,
    private readonly totalBytes: number,
    private readonly intervalMs = 5_000,
    private readonly unit?: string,
  ) {
    this.t0 = io.now();
    if (!io.errIsTTY) this.last = this.t0; // first plain line after intervalMs, not at 0 rows
  }

  update(bytes: number, rows: number): void {
    const now = this.io.now();
    const every = this.io.errIsTTY ? 100 : this.intervalMs;
    if (now - this.last < every) return;
    this.last = now;
    const line = formatProgress({ bytes, totalBytes: this.totalBytes, rows, elapsedMs: now - this.t0, unit: this.unit });
    if (this.io.errIsTTY) {
      this.io.err(`\r${this.label} ${line}\x1b[K`);
      this.drawn = true;
    } else {
      this.io.err(`${this.label} ${line}\n`);
    }
  }

  /** Ends the bar's line so the summary starts on a fresh one. */
  done(): void {
    if (this.drawn) this.io.err('\n');
    this.drawn = false;
  }

  elapsedMs(): number {
    return this.io.now() - this.t0;
  }
}
