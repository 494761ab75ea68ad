import type { VeeFinding, VeeParams } from '../../models/vee.js';

/** A stored value that a later delivery from the meter side replaced with a different figure. */
export interface ValueChange {
  readonly startMs: number;
  /** The figure it had before (the newest earlier version from a meter transport). */
  readonly oldValue: number;
  readonly newValue: number;
}

/**
 * Conflict: a value re-sent with a different figure. Storage keeps both
 * versions (reading_history); this rule reports them, one finding per run of
 * consecutive intervals (`stepMs`; 0 for register and instantaneous channels,
 * one finding per read). Suspects nothing: the newer figure is presumed the
 * correction. Pure.
 * @example conflictRule([{ startMs: 0, oldValue: 1, newValue: 2 }], 3_600_000, p) // one finding [0, 1 h)
 */
export function conflictRule(changes: readonly ValueChange[], stepMs: number, p: VeeParams['conflict']): VeeFinding[] {
  const sorted = [...changes].sort((a, b) => a.startMs - b.startMs);
  const out: VeeFinding[] = [];
  let i = 0;
  while (i < sorted.length) {
    let j = i + 1;
    while (stepMs > 0 && j < sorted.length && sorted[j].startMs === sorted[j - 1].startMs + stepMs) j++;
    const run = sorted.slice(i, j);
    const first = run[0];
    const detail =
      run.length === 1
        ? `value re-sent with a different figure: ${first.oldValue} → ${first.newValue}`
        : `${run.length} values re-sent with different figures, first ${first.oldValue} → ${first.newValue}`;
    out.push({ rule: 'conflict', severity: p.severity, fromMs: first.startMs, toMs: run[run.length - 1].startMs + stepMs, detail, suspectStarts: [] });
    i = j;
  }
  return out;
}
