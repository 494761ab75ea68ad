import http from 'node:http';
import https from 'node:https';

/** How one POST ended with a response. */
export interface PostResponse {
  readonly status: number;
  readonly retryAfter: string | null;
  /** The start of the body of a non-2xx answer (for the delivery's last_error); '' for 2xx. */
  readonly text: string;
}

/** Sends one POST; rejects on network errors and when `signal` aborts (the timeout). */
export type HttpPost = (url: string, headers: Readonly<Record<string, string>>, body: string, signal: AbortSignal) => Promise<PostResponse>;

const MAX_TEXT = 500;

/**
 * POST over node:http / node:https with keep-alive agents (at most
 * `maxSockets` connections per receiver). Chosen over the global fetch for
 * its cost: about a quarter of fetch's CPU per request on loopback
 * (bench/alarms.bench.ts sends 1 000 deliveries/s). Redirects are not
 * followed. `close()` ends the idle connections.
 */
export function createHttpPost(opts: { maxSockets: number }): { post: HttpPost; close(): void } {
  const agents = {
    'http:': new http.Agent({ keepAlive: true, maxSockets: opts.maxSockets }),
    'https:': new https.Agent({ keepAlive: true, maxSockets: opts.maxSockets }),
  };
  const post: HttpPost = (url, headers, body, signal) =>
    new Promise<PostResponse>((resolve, reject) => {
      const u = new URL(url);
      const secure = u.protocol === 'https:';
      const request = secure ? https.request : http.request;
      const req = request(u, { method: 'POST', agent: secure ? agents['https:'] : agents['http:'], headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, signal }, (res) => {
        const status = res.statusCode ?? 0;
        const ok = status >= 200 && status < 300;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          if (!ok && text.length < MAX_TEXT) text += chunk;
        });
        res.on('end', () => {
          const ra = res.headers['retry-after'];
          resolve({ status, retryAfter: Array.isArray(ra) ? (ra[0] ?? null) : (ra ?? null), text: text.slice(0, MAX_TEXT) });
        });
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(body);
    });
  return {
    post,
    close() {
      agents['http:'].destroy();
      agents['https:'].destroy();
    },
  };
}
