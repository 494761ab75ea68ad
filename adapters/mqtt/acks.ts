import type { RowReject } from '../../models/reading.js';
import type { AckRequest } from './payload.js';

/** What became of one message once its batch committed. */
export interface MessageOutcome {
  /** ok: everything stored; partial: some rows rejected; rejected: nothing stored. */
  readonly status: 'ok' | 'partial' | 'rejected';
  /** Rows or events stored (new, superseding, or identical to what was stored). */
  readonly stored: number;
  /** Rows or events refused, with their index in the message and the reason (all dead-lettered). */
  readonly rejected: readonly RowReject[];
  /** Why the whole message was refused (not JSON, wrong shape…). */
  readonly reason?: string;
}

export function outcomeOf(stored: number, rejected: readonly RowReject[], reason?: string): MessageOutcome {
  const status = reason !== undefined || (stored === 0 && rejected.length > 0) ? 'rejected' : rejected.length ? 'partial' : 'ok';
  return reason === undefined ? { status, stored, rejected } : { status, stored, rejected, reason };
}

/**
 * Body published on mdm/v1/gateways/{gateway}/acks after commit.
 * @example ackBody('mdm/v1/gateways/gw-1/readings', { id: 'b-42', gateway: 'gw-1' }, { status: 'ok', stored: 48, rejected: [] })
 * // '{"id":"b-42","topic":"mdm/v1/gateways/gw-1/readings","status":"ok","stored":48,"rejected":[]}'
 */
export function ackBody(topic: string, ack: AckRequest, outcome: MessageOutcome): string {
  return JSON.stringify({ id: ack.id, topic, ...outcome });
}
