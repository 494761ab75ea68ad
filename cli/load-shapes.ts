import { computeLoadShapes } from '../forecast/load-shape-job.js';
import { parseInstant } from '../models/time.js';
import type { Database } from '../sql/database.js';
import { listShapeProfiles } from '../sql/load-shape.repository.js';
import { CliError, type Io } from './io.js';

/**
 * `mdm load-shapes`: recomputes the load-shape profiles (as POST
 * /v1/load-shapes/runs) and prints them, one line per profile.
 */
export async function loadShapesCommand(database: Database, io: Io, o: { k?: string; seed?: string; days?: string; to?: string }): Promise<number> {
  const int = (text: string | undefined, flag: string, min: number, max: number) => {
    if (text === undefined) return undefined;
    const n = Number(text);
    if (!Number.isInteger(n) || n < min || n > max) throw new CliError(`${flag}: "${text}" must be a whole number from ${min} to ${max}`);
    return n;
  };
  let toMs: number | undefined;
  if (o.to !== undefined) {
    const t = parseInstant(o.to);
    if (!t.ok) throw new CliError(`--to: ${t.reason}`);
    toMs = t.ms;
  }
  const r = await computeLoadShapes(database, {
    k: int(o.k, '--k', 1, 20),
    seed: int(o.seed, '--seed', 0, 2 ** 31 - 1),
    days: int(o.days, '--days', 28, 731),
    toMs,
    requestedBy: 'cli',
    now: io.now(),
  });
  io.err(`mdm: run ${r.runId}: ${r.meters} meter(s), ${r.withShape} with a shape, ${r.withoutShape} with too little history, ${r.from} .. ${r.to}, ${r.ms} ms\n`);
  io.out('profile  members  weekend  day/night  peak  load-factor  name\n');
  for (const p of await listShapeProfiles(database, r.runId)) {
    const f = p.features as { weekendRatio: number; dayNightRatio: number; peakHour: number; loadFactor: number };
    io.out(
      `${p.profile.padEnd(8)} ${String(p.members).padStart(7)}  ${f.weekendRatio.toFixed(2).padStart(7)}  ${f.dayNightRatio.toFixed(2).padStart(9)}  ${String(f.peakHour).padStart(2, '0')}:00  ${f.loadFactor.toFixed(2).padStart(11)}  ${p.name}\n`,
    );
  }
  return 0;
}
