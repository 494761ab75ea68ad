import { createHmac, timingSafeEqual } from 'node:crypto';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** One request as the receiver saw it. */
export interface Received {
  readonly delivery: string;
  readonly attempt: number;
  readonly timestamp: string;
  /** The Standard Webhooks check of docs/alarms.md passed (webhook-signature, timestamp within 5 minutes). */
  readonly signatureOk: boolean;
  /** Why that check refused the request (null: it passed). */
  readonly refused: string | null;
  /** The deprecated body-only X-MDM-Signature matches. */
  readonly legacySignatureOk: boolean;
  readonly body: {
    event: string;
    transition: { id: number; type: string; requestId?: string };
    alarm: { id: number; code: string; state: string };
    meter: { id: string; group: string | null };
  } & Record<string, unknown>;
  /** The request as received, for replaying it (TestReceiver.replay). */
  readonly raw: Buffer;
  readonly headers: IncomingHttpHeaders;
  /** The receiver's clock on arrival. */
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
  /** POSTs a captured request again (an attacker's replay), with some headers changed. */
  replay(r: Received, headers?: Record<string, string>): Promise<{ status: number; text: string }>;
  close(): Promise<void>;
}

type Verify = (raw: Buffer, headers: IncomingHttpHeaders, secret: string, nowMs?: number) => string | null;
let docsVerifier: Promise<Verify> | undefined;

/**
 * `verifyMdmHook` exactly as docs/alarms.md prints it (the first js block
 * under "Checking the signature (Node)"), loaded as a module: the receivers'
 * instructions are what these tests run.
 */
export function verifierFromDocs(): Promise<Verify> {
  docsVerifier ??= (async () => {
    const md = await readFile(new URL('../docs/alarms.md', import.meta.url), 'utf8');
    const section = md.slice(md.indexOf('### Checking the signature (Node)'));
    const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
    if (!code?.includes('function verifyMdmHook')) throw new Error('docs/alarms.md: no js block with verifyMdmHook under "Checking the signature (Node)"');
    const file = join(await mkdtemp(join(tmpdir(), 'mdm-docs-')), 'verify-mdm-hook.mjs');
    await writeFile(file, `${code}\nexport { verifyMdmHook };\n`);
    return ((await import(pathToFileURL(file).href)) as { verifyMdmHook: Verify }).verifyMdmHook;
  })();
  return docsVerifier;
}

/**
 * A work-order system on 127.0.0.1 for tests: checks each request with the
 * docs' verifyMdmHook (Standard Webhooks signature over id, timestamp and
 * body, 5-minute window; `now` is its clock, default Date.now) and answers
 * what `answer` says, 401 with the reason when the check fails. Also notes
 * whether the deprecated X-MDM-Signature matched.
 */
export async function startReceiver(secret: string, answer: (r: Received) => Answer, now: () => number = Date.now): Promise<TestReceiver> {
  const verify = await verifierFromDocs();
  const received: Received[] = [];
  const acked = new Set<string>();
  const seen = new Map<string, number>();
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const legacyExpected = Buffer.from(`sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`);
      const legacyGiven = Buffer.from(String(req.headers['x-mdm-signature'] ?? ''));
      const delivery = String(req.headers['webhook-id'] ?? req.headers['x-mdm-delivery']);
      const nth = (seen.get(delivery) ?? 0) + 1;
      seen.set(delivery, nth);
      const at = now();
      const refused = verify(raw, req.headers, secret, at);
      const r: Received = {
        delivery,
        attempt: Number(req.headers['x-mdm-attempt']),
        timestamp: String(req.headers['webhook-timestamp']),
        signatureOk: refused === null,
        refused,
        legacySignatureOk: legacyGiven.length === legacyExpected.length && timingSafeEqual(legacyGiven, legacyExpected),
        body: JSON.parse(raw.toString('utf8')),
        raw,
        headers: req.headers,
        at,
        nth,
      };
      received.push(r);
      const a = refused === null ? answer(r) : { status: 401, body: refused };
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
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/work-orders`;
  return {
    url,
    received,
    acked,
    async replay(r, headers = {}) {
      const sent: Record<string, string> = {};
      for (const [k, v] of Object.entries(r.headers)) if (typeof v === 'string' && !['host', 'connection', 'content-length'].includes(k)) sent[k] = v;
      const res = await fetch(url, { method: 'POST', headers: { ...sent, ...headers }, body: new Uint8Array(r.raw) });
      return { status: res.status, text: await res.text() };
    },
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
