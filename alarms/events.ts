import { eventAction, type AlarmSeverity } from '../models/alarm.js';
import type { Database, Session } from '../sql/database.js';
import { closeAlarms, raiseAlarms, type CloseInput, type LifecycleCounts, type RaiseInput } from '../sql/alarm.repository.js';
import type { MeterEventRow } from '../sql/event.repository.js';
import { alarmRules } from './rules.js';

type Op = { kind: 'raise'; input: { -readonly [K in keyof RaiseInput]: RaiseInput[K] } } | { kind: 'close'; input: { -readonly [K in keyof CloseInput]: CloseInput[K] } };

/**
 * What a batch of new events does to alarms, as rounds of (meter, code)
 * operations: each round holds at most one operation per meter and code, so
 * it runs as one raise statement and one close statement. Events go in time
 * order; consecutive raises of the same meter and code merge into one
 * (count = how many), consecutive restores into one. A batch without a
 * restore between two raises of the same alarm is one round. Pure.
 */
export function planEvents(
  events: readonly { meterId: number; code: string; atMs: number; severity: string | null; data: unknown; transport: string }[],
  mappings: ReadonlyMap<string, { code: string; severity?: AlarmSeverity }>,
): { raises: RaiseInput[]; closes: CloseInput[] }[] {
  const sorted = [...events].sort((a, b) => a.atMs - b.atMs);
  const ops = new Map<string, Op[]>();
  const push = (key: string, op: Op) => (ops.get(key) ?? ops.set(key, []).get(key)!).push(op);
  for (const e of sorted) {
    const action = eventAction(e.code, e.severity, mappings);
    if (action.kind === 'raise') {
      const key = `${e.meterId}|${action.code}`;
      const last = ops.get(key)?.at(-1);
      if (last?.kind === 'raise') {
        last.input.count++;
        last.input.lastMs = e.atMs;
        last.input.severity = action.severity;
        last.input.data = e.data;
      } else {
        push(key, {
          kind: 'raise',
          input: { meterId: e.meterId, code: action.code, severity: action.severity, firstMs: e.atMs, lastMs: e.atMs, count: 1, source: 'event', data: e.data, actor: `event:${e.transport}` },
        });
      }
    } else if (action.kind === 'restore') {
      for (const code of action.closes) {
        const key = `${e.meterId}|${code}`;
        const last = ops.get(key)?.at(-1);
        if (last?.kind === 'close') last.input.atMs = e.atMs;
        else push(key, { kind: 'close', input: { meterId: e.meterId, code, atMs: e.atMs, actor: `event:${e.code}` } });
      }
    }
  }
  const rounds: { raises: RaiseInput[]; closes: CloseInput[] }[] = [];
  for (const list of ops.values()) {
    list.forEach((op, i) => {
      const r = (rounds[i] ??= { raises: [], closes: [] });
      if (op.kind === 'raise') r.raises.push(op.input);
      else r.closes.push(op.input);
    });
  }
  return rounds;
}

/**
 * The alarm lifecycle of meter events (IngestListeners.eventsStored, run by
 * ingest/events.ts recordEvents): loads the rules, then, inside the events'
 * transaction, applies them to the events stored now — known and mapped
 * codes open or repeat their alarm, restore codes close their counterpart —
 * with the outbox rows. A handful of statements whatever the batch size.
 * Concurrent calls never open two alarms for one meter and code.
 */
export async function eventAlarms(database: Database): Promise<(s: Session, stored: readonly MeterEventRow[]) => Promise<LifecycleCounts>> {
  const { mappings } = await alarmRules(database);
  return async (s, stored) => {
    const rounds = planEvents(
      stored.map((e) => ({ meterId: e.meterId, code: e.code, atMs: e.at.getTime(), severity: e.severity ?? null, data: e.data ?? null, transport: e.transport })),
      mappings,
    );
    const alarms = { opened: 0, repeated: 0, closed: 0 };
    for (const r of rounds) {
      const raised = await raiseAlarms(s, r.raises);
      alarms.opened += raised.opened;
      alarms.repeated += raised.repeated;
      alarms.closed += await closeAlarms(s, r.closes);
    }
    return alarms;
  };
}
