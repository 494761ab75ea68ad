import { parseInstant } from '../../models/time.js';

/**
 * Client of the EPİAŞ transparency platform v2 ("Şeffaflık Platformu",
 * https://seffaflik.epias.com.tr/electricity-service/technical/tr/index.html).
 *
 * Authentication: POST {authUrl} (https://giris.epias.com.tr/cas/v1/tickets)
 * with form fields username, password → 201 and a ticket-granting ticket
 * (TGT) in the body (and the last segment of the Location header). Every data
 * request sends it in a `TGT` header; it is valid for about two hours, so the
 * client keeps it for `ticketTtlMs` and logs in again when it has expired or a
 * data request answers 401/403 (once; a second refusal is an error).
 *
 * Data: POST {baseUrl}/v1/… with JSON {startDate, endDate, page: {number,
 * size, sort}} (dates ISO-8601 with +03:00); the answer is {items: […],
 * page: {number, size, total}}; the client pages until it holds `total` items.
 * Services and item fields used:
 *   PTF  v1/markets/dam/data/mcp                       {date, hour, price, priceUsd, priceEur}
 *   SMF  v1/markets/bpm/data/system-marginal-price     {date, hour, systemMarginalPrice}
 *   real-time consumption v1/consumption/data/realtime-consumption {date, time, consumption} (MWh)
 * Source of the shape: the platform's technical documentation as used by the
 * open-source clients (e.g. Tideseed/eptr2's service path map). It could not
 * be tried against the real service from here (no internet): the tests run it
 * against a loopback server that serves this shape.
 */

export interface HourValue {
  /** Start of the hour, epoch ms. */
  readonly startMs: number;
  readonly value: number;
}

/** What the client needs from `fetch` (Node's global fetch fits). */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body: string; signal?: AbortSignal },
) => Promise<{
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}>;

export interface EpiasClientOptions {
  /** e.g. https://seffaflik.epias.com.tr/electricity-service (no trailing slash needed). */
  readonly baseUrl: string;
  /** e.g. https://giris.epias.com.tr/cas/v1/tickets */
  readonly authUrl: string;
  readonly username: string;
  readonly password: string;
  /** Items per page request (default 500). */
  readonly pageSize?: number;
  /** Per request (default 30 s). */
  readonly timeoutMs?: number;
  /** How long a ticket is reused (default 100 minutes; EPİAŞ keeps it ~2 h). */
  readonly ticketTtlMs?: number;
  readonly fetch?: FetchLike;
  readonly now?: () => number;
}

/** A refused login, a refused ticket, an HTTP error or an answer of the wrong shape. `status` is the HTTP status when there was one. */
export class EpiasError extends Error {
  constructor(
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'EpiasError';
  }
}

const SERVICES = {
  ptf: { path: 'v1/markets/dam/data/mcp', field: 'price' },
  smf: { path: 'v1/markets/bpm/data/system-marginal-price', field: 'systemMarginalPrice' },
  consumption: { path: 'v1/consumption/data/realtime-consumption', field: 'consumption' },
} as const;
export type EpiasSeriesName = keyof typeof SERVICES;

/** Local date `YYYY-MM-DD` → the ISO start of that day in Turkey (UTC+3 all year since 2016-09). */
const dayStart = (date: string) => `${date}T00:00:00+03:00`;

export class EpiasTransparencyClient {
  private ticket: { value: string; until: number } | undefined;
  private readonly fetch: FetchLike;
  private readonly now: () => number;

  constructor(private readonly o: EpiasClientOptions) {
    this.fetch = o.fetch ?? (globalThis.fetch as unknown as FetchLike);
    this.now = o.now ?? Date.now;
  }

  /** Logs in and returns a fresh TGT. */
  async login(): Promise<string> {
    const body = new URLSearchParams({ username: this.o.username, password: this.o.password }).toString();
    const res = await this.request(this.o.authUrl, { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/plain' }, body);
    const text = (await res.text()).trim();
    if (res.status !== 201 && res.status !== 200) {
      throw new EpiasError(`EPİAŞ login at ${this.o.authUrl} failed with HTTP ${res.status}: check EPIAS_USERNAME/EPIAS_PASSWORD (${snippet(text)})`, res.status);
    }
    const fromLocation = res.headers.get('location')?.split('/').pop();
    const tgt = /^TGT-/.test(text) ? text : fromLocation && /^TGT-/.test(fromLocation) ? fromLocation : text;
    if (!tgt || /[\s<]/.test(tgt)) throw new EpiasError(`EPİAŞ login answered HTTP ${res.status} without a ticket (${snippet(text)})`, res.status);
    this.ticket = { value: tgt, until: this.now() + (this.o.ticketTtlMs ?? 100 * 60_000) };
    return tgt;
  }

  /**
   * Hourly values of one series for the local dates `fromDate`..`toDate` (inclusive, Turkish time).
   * @example await client.series('ptf', '2026-03-01', '2026-03-02') // [{ startMs: …, value: 2450.5 }, …]
   */
  async series(name: EpiasSeriesName, fromDate: string, toDate: string): Promise<HourValue[]> {
    const s = SERVICES[name];
    const items = await this.paged(s.path, { startDate: dayStart(fromDate), endDate: dayStart(toDate) });
    return items.map((item, i) => {
      const when = parseInstant(item.date);
      const value = item[s.field];
      if (!when.ok || typeof value !== 'number' || !Number.isFinite(value)) {
        throw new EpiasError(`EPİAŞ ${s.path}: item ${i} has no usable date/${s.field} (${snippet(JSON.stringify(item))})`);
      }
      return { startMs: when.ms, value };
    });
  }

  /** Every item of a paged data service. */
  private async paged(path: string, query: { startDate: string; endDate: string }): Promise<Record<string, unknown>[]> {
    const size = this.o.pageSize ?? 500;
    const url = `${this.o.baseUrl.replace(/\/+$/, '')}/${path}`;
    const all: Record<string, unknown>[] = [];
    for (let number = 1; ; number++) {
      const body = JSON.stringify({ ...query, page: { number, size, sort: { field: 'date', direction: 'ASC' } } });
      const json = await this.post(url, body);
      const items = (json as { items?: unknown }).items;
      if (!Array.isArray(items)) throw new EpiasError(`EPİAŞ ${path}: answer has no items array (${snippet(JSON.stringify(json))})`);
      all.push(...(items as Record<string, unknown>[]));
      const total = Number((json as { page?: { total?: unknown } }).page?.total);
      // No total: one page is all there is. A short or empty page also ends it (never loop forever).
      if (!Number.isFinite(total) || all.length >= total || items.length < size || items.length === 0) break;
    }
    return all;
  }

  private async post(url: string, body: string): Promise<unknown> {
    for (let attempt = 0; ; attempt++) {
      const tgt = this.ticket && this.ticket.until > this.now() ? this.ticket.value : await this.login();
      const res = await this.request(url, { 'content-type': 'application/json', accept: 'application/json', TGT: tgt }, body);
      const text = await res.text();
      if (res.status === 401 || res.status === 403) {
        this.ticket = undefined;
        if (attempt === 0) continue; // the ticket expired early: log in once more
        throw new EpiasError(`EPİAŞ refused a fresh ticket for ${url} (HTTP ${res.status}): the account may lack access to this service (${snippet(text)})`, res.status);
      }
      if (res.status < 200 || res.status >= 300) throw new EpiasError(`EPİAŞ ${url} answered HTTP ${res.status} (${snippet(text)})`, res.status);
      try {
        return JSON.parse(text);
      } catch (err) {
        throw new EpiasError(`EPİAŞ ${url} answered HTTP ${res.status} with something that is not JSON (${snippet(text)})`, res.status, { cause: err });
      }
    }
  }

  /** One POST; a connection reset (a kept-alive socket the server had closed) is retried once on a new connection. */
  private async request(url: string, headers: Record<string, string>, body: string) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000) });
      } catch (err) {
        const code = (err as { cause?: { code?: string } }).cause?.code;
        if (attempt === 0 && (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET')) continue;
        throw new EpiasError(`EPİAŞ ${url} could not be reached: ${(err as Error).message}${code ? ` (${code})` : ''}`, undefined, { cause: err });
      }
    }
  }
}

const snippet = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}…` : s) || 'empty body';
