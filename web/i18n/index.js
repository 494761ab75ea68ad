/**
 * The console's languages: one file of strings per language (`en.js`,
 * `tr.js`); adding one is a file and a line here (docs/console.md). The
 * choice is kept in localStorage (a preference, not a secret).
 */
import en from './en.js';
import tr from './tr.js';

/** @typedef {keyof typeof en} StringKey */

/** @type {Record<string, { name: string, locale: string, strings: Record<string, string> }>} */
export const LANGUAGES = {
  en: { name: 'English', locale: 'en-GB', strings: en },
  tr: { name: 'Türkçe', locale: 'tr-TR', strings: tr },
};

const STORE = 'mdm.console.language';
let current = LANGUAGES[localStorage.getItem(STORE) ?? ''] ? /** @type {string} */ (localStorage.getItem(STORE)) : 'en';

export function language() {
  return current;
}

export function locale() {
  return LANGUAGES[current].locale;
}

/** @param {string} code */
export function setLanguage(code) {
  if (!LANGUAGES[code]) return;
  current = code;
  localStorage.setItem(STORE, code);
  document.documentElement.lang = code;
}

/**
 * The string `key` in the current language (English when the language lacks it), `{name}` replaced from `params`.
 * @example t('meters.count', { n: 3 })
 * @param {StringKey} key
 * @param {Record<string, string | number>} [params]
 */
export function t(key, params = {}) {
  const text = LANGUAGES[current].strings[key] ?? en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/**
 * The string `key`, or `fallback` when no language has it (a code the API added later, a label key).
 * @param {string} key
 * @param {string} fallback
 */
export function tOr(key, fallback) {
  return key in LANGUAGES[current].strings || key in en ? t(/** @type {StringKey} */ (key)) : fallback;
}
