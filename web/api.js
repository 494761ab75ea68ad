/**
 * The console's client of the /v1 API. The key lives in sessionStorage only
 * (gone when the tab closes; never in a URL, a cookie or localStorage) and is
 * sent as `Authorization: Bearer`.
 */

const KEY = 'mdm.console.key';

export function currentKey() {
  return sessionStorage.getItem(KEY);
}

/** @param {string} key */
export function keepKey(key) {
  sessionStorage.setItem(KEY, key);
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
}

/** An error answer of the API: `{error, message}` with its status. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} code
   * @param {string} message
   */
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Called on a 401 (the key was revoked or is wrong): the app signs out. */
let onUnauthorized = () => {};
/** @param {() => void} fn */
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

/**
 * A JSON request to the API. Query values that are empty strings or undefined are left out.
 * @param {string} path e.g. `/v1/meters`
 * @param {{ method?: string, query?: Record<string, string | number | undefined | null>, body?: unknown, file?: File, key?: string }} [opts]
 * @returns {Promise<any>}
 */
export async function api(path, opts = {}) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined && v !== null && v !== '') params.set(k, String(v));
  const url = params.size ? `${path}?${params}` : path;
  /** @type {Record<string, string>} */
  const headers = { accept: 'application/json' };
  const key = opts.key ?? currentKey();
  if (key) headers.authorization = `Bearer ${key}`;
  /** @type {BodyInit | undefined} */
  let body;
  if (opts.file) {
    // A file as it is (an import): streamed by the browser, typed by its name when the browser does not know it.
    headers['content-type'] = opts.file.type || (/\.xlsx$/i.test(opts.file.name) ? 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' : 'text/csv');
    body = opts.file;
  } else if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(url, { method: opts.method ?? 'GET', headers, body });
  if (res.status === 204) return null;
  const answer = await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 401 && !opts.key) onUnauthorized();
    throw new ApiError(res.status, answer?.error ?? `HTTP ${res.status}`, answer?.message ?? res.statusText);
  }
  return answer;
}
