import { Agent, request as httpRequest } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { IngestResult } from '../models/reading.js';

export interface PostTotals {
  readonly ms: number;
  readonly requests: number;
  readonly accepted: number;
  readonly unchanged: number;
  readonly superseded: number;
  readonly rejected: number;
  /** First reject reasons, to say what went wrong. */
  readonly reasons: readonly string[];
}

/** One request on a keep-alive agent; resolves to status and body text. */
function request(agent: Agent, url: URL, method: string, headers: Record<string, string>, body: Uint8Array | undefined, timeoutMs: number): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, agent, headers: body ? { ...headers, 'content-length': String(body.byteLength) } : headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname} took longer than ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * POSTs pre-serialised JSON bodies to `url` with `concurrency` requests in
 * flight, in order, and sums the ingest counts. Several URLs (instances of
 * the service): request n goes to url n mod their number. Any non-200 answer stops the
 * run with its body. Each request is bounded by `timeoutMs`. node:http with
 * the body handed over as is: the client shares the service's thread and must
 * cost it next to nothing.
 */
export async function postBatches(url: string | readonly string[], key: string, bodies: readonly Uint8Array[], concurrency: number, timeoutMs: number): Promise<PostTotals> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const targets = (typeof url === 'string' ? [url] : url).map((u) => new URL(u));
  const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
  let next = 0;
  const sum = { accepted: 0, unchanged: 0, superseded: 0, rejected: 0 };
  const reasons: string[] = [];
  const t0 = performance.now();
  const worker = async () => {
    while (next < bodies.length) {
      const n = next++;
      const target = targets[n % targets.length];
      const res = await request(agent, target, 'POST', headers, bodies[n], timeoutMs);
      if (res.status !== 200) throw new Error(`POST ${target.href} answered ${res.status}: ${res.text.slice(0, 500)}`);
      const r = JSON.parse(res.text) as IngestResult;
      sum.accepted += r.accepted;
      sum.unchanged += r.unchanged;
      sum.superseded += r.superseded;
      sum.rejected += r.rejected.length;
      for (const x of r.rejected.slice(0, 3 - reasons.length)) reasons.push(x.reason);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, worker));
  } finally {
    agent.destroy();
  }
  return { ms: performance.now() - t0, requests: bodies.length, ...sum, reasons };
}

/** GETs `url` `runs` times one after the other; returns each duration (ms) and the last body. */
export async function timeGets(url: string, key: string, runs: number, timeoutMs: number): Promise<{ ms: number[]; body: unknown }> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const ms: number[] = [];
  let body: unknown;
  try {
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const res = await request(agent, new URL(url), 'GET', { authorization: `Bearer ${key}` }, undefined, timeoutMs);
      ms.push(performance.now() - t0);
      if (res.status !== 200) throw new Error(`GET ${url.slice(0, 200)} answered ${res.status}: ${res.text.slice(0, 500)}`);
      body = JSON.parse(res.text);
    }
  } finally {
    agent.destroy();
  }
  return { ms, body };
}
