/**
 * Shapes shared by the console's modules (JSDoc only; checked by `tsc -p web`).
 *
 * @typedef {{ id: string, name: string, role: string, scope: unknown, permissions: string[] }} Me
 *   GET /v1/keys/me
 * @typedef {object} PageContext
 * @property {HTMLElement} main the page's container
 * @property {URLSearchParams} params the query of the route (`#/meters?portfolio=P`)
 * @property {string} arg the path argument (`#/meter/<id>` → id)
 * @property {Me} me the signed-in key
 * @property {(permission: string) => boolean} may
 * @property {(path: string, params?: Record<string, string | undefined>) => void} go a new route (a new history entry)
 * @property {(text: string) => void} announce a polite message in the live region
 */
export {};
