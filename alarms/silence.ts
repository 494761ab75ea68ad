import { silenceHoursFor } from '../models/alarm.js';
import { CHANNELS } from '../models/channel.js';
import { bisect, type MeterFailure } from '../models/failing-items.js';
import { closeAlarms, raiseAlarms, type CloseInput, type LifecycleCounts, type RaiseInput } from '../sql/alarm.repository.js';
import { silenceCandidates } from '../sql/alarm-silence.repository.js';
import type { Database } from '../sql/database.js';
import { isUnavailable, withRetry } from '../sql/db-errors.js';
import { alarmRules } from './rules.js';

/**
 * The periodic silence check (alarms component): every meter a silence rule
 * covers whose newest reading (or, without any, its registration) is older
 * than the rule's hours gets a no_data alarm (one, not one per check); a
 * meter with an active no_data alarm and a reading within its hours gets it
 * closed (by "data"). No silence rule: nothing to do.
 *
 * The alarm changes are written in one transaction; when that fails (not
 * for an unreachable database), again on halves of the meters until the
 * meters it fails for are found: they come back in `failed`, every other
 * meter's alarm is opened or closed (issue 11). `skip`: meters left out
 * this time (failing, waiting for their retry).
 */
export async function checkSilence(database: Database, nowMs: number = Date.now(), o: { readonly skip?: (meterId: number) => boolean } = {}): Promise<LifecycleCounts & { failed?: MeterFailure[] }> {
  const { silences } = await alarmRules(database, nowMs);
  if (silences.length === 0) return { opened: 0, repeated: 0, closed: 0 };
  const groups = silences.some((r) => !r.groups) ? null : [...new Set(silences.flatMap((r) => r.groups ?? []))];
  const channels = CHANNELS.map((c) => c.code);
  const rows = await silenceCandidates(database, { channels, groups, day: new Date(nowMs).toISOString().slice(0, 10) });
  const raises: RaiseInput[] = [];
  const closes: CloseInput[] = [];
  const names = new Map<number, string>();
  for (const m of rows) {
    if (o.skip?.(m.id)) continue;
    names.set(m.id, m.externalId);
    const s = silenceHoursFor(silences, m.group);
    if (!s) continue;
    const newestMs = new Date(m.newest ?? m.createdAt).getTime();
    const silent = newestMs < nowMs - s.hours * 3_600_000;
    if (silent && !m.alarmed) {
      raises.push({
        meterId: m.id,
        code: 'no_data',
        severity: s.rule.severity,
        firstMs: nowMs,
        lastMs: nowMs,
        count: 1,
        source: 'silence',
        ruleId: s.rule.id,
        data: { newestReading: m.newest ? new Date(m.newest).toISOString() : null, hours: s.hours },
      });
    } else if (!silent && m.alarmed) {
      closes.push({ meterId: m.id, code: 'no_data', atMs: nowMs, actor: 'data' });
    }
  }
  const counts = { opened: 0, repeated: 0, closed: 0 };
  if (raises.length === 0 && closes.length === 0) return counts;
  const run = async (ids: ReadonlySet<number> | undefined) => {
    const r = await withRetry(database, async (s) => {
      const raised = await raiseAlarms(s, ids ? raises.filter((x) => ids.has(x.meterId)) : raises);
      return { ...raised, closed: await closeAlarms(s, ids ? closes.filter((x) => ids.has(x.meterId)) : closes) };
    });
    counts.opened += r.opened;
    counts.repeated += r.repeated;
    counts.closed += r.closed;
  };
  try {
    await run(undefined);
    return counts;
  } catch (err) {
    if (isUnavailable(err)) throw err;
    const failed: MeterFailure[] = [];
    const ids = [...new Set([...raises.map((r) => r.meterId), ...closes.map((c) => c.meterId)])];
    await bisect(ids, err, (part) => run(new Set(part)), {
      isolable: (e) => !isUnavailable(e),
      onFail: (meterId, error) => void failed.push({ meterId, meter: names.get(meterId), error }),
    });
    return { ...counts, failed };
  }
}
