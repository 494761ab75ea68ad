import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request as the receiver saw it. */
export interface Received {
  readonly delivery: string;
  readonly attempt: number;
  readonly timestamp: string;
  readonly signatureOk: boolean;
  readonly body: { event: string; transition: { id: number; type: string }; alarm: { id: number; code: string; state: string }; meter: { id: string; group: string | null } } & Record<string, unknown>;
  /** Date.now() on arrival. */
  readonly at: number;
  /** Requests for this delivery id so far, this one included (1 = first). */
  readonly nth: number;
}

/** What to answer: a status (with headers and body), or hang (never answer: the sender's timeout). */
export type Answer = { status: number; headers?: Record<string, string>; body?: string } | 'hang';

export interface TestReceiver {
  readonly url: string;
  readonly received: Received[];
  /** Distinct delivery ids answered 2xx. */
  readonly acked: Set<string>;
  close(): Promise<void>;
}

/**
 * A work-order system on 127.0.0.1 for tests: checks the signature the way
 * docs/alarms.md tells receivers to (HMAC-SHA256 of the raw body, constant-time
 * compare) and answers what `answer` says.
 */
export async function startReceiver(secret: string, answer: (r: Received) => Answer): Promise<TestReceiver> {
  const received: Received[] = [];
  const acked = new Set<string>();
  const seen = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
      const given = Buffer.from(String(req.headers['x-mdm-signature'] ?? ''));
      const delivery = String(req.headers['x-mdm-delivery']);
      const nth = (seen.get(delivery) ?? 0) + 1;
      seen.set(delivery, nth);
      const r: Received = {
        delivery,
        attempt: Number(req.headers['x-mdm-attempt']),
        timestamp: String(req.headers['x-mdm-timestamp']),
        signatureOk: given.length === expected.length && timingSafeEqual(given, expected),
        body: JSON.parse(raw.toString('utf8')),
        at: Date.now(),
        nth,
      };
      received.push(r);
      const a = r.signatureOk ? answer(r) : { status: 401, body: 'bad signature' };
      if (a === 'hang') return;
      if (a.status >= 200 && a.status < 300) acked.add(delivery);
      res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers }).end(a.body ?? '');
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/work-orders`,
    received,
    acked,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** Resolves once `fn` returns true (checked every 25 ms); rejects with `what` after `ms`. */
export async function until(what: string, fn: () => boolean | Promise<boolean>, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
