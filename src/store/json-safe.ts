/**
 * JSON for PostgreSQL `jsonb` columns. jsonb refuses two things JSON allows: the NUL character
 * (`\u0000`) and lone UTF-16 surrogates (`\ud800`), so a validly signed body carrying one in a
 * user-controlled string (a name, a custom parameter) would fail its insert on every retry and never be
 * recorded. The raw body keeps the exact bytes (a text column, where the escape is six ASCII characters);
 * the JSON copies replace those characters with U+FFFD.
 */

// JSON.stringify writes NUL as `\u0000` and a lone surrogate as a `\udXXX` escape (paired ones stay
// literal). A match may be a false alarm (an escaped backslash before "u0000"): the slow path is exact.
const SUSPECT = /\\u0000|\\ud[89a-f]/i;

const UNSAFE_CHARS = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const clean = (s: string): string => s.replace(UNSAFE_CHARS, '\uFFFD');

function deepClean(v: unknown): unknown {
  if (typeof v === 'string') return clean(v);
  if (Array.isArray(v)) return v.map(deepClean);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[clean(k)] = deepClean(x);
    return out;
  }
  return v;
}

/** `JSON.stringify(value ?? null)`, safe for a jsonb column (identical text whenever the value is already safe). */
export function jsonbText(value: unknown): string {
  const text = JSON.stringify(value ?? null);
  return SUSPECT.test(text) ? JSON.stringify(deepClean(JSON.parse(text))) : text;
}

/** `value` itself when safe for jsonb, else a cleaned plain copy (for clients that serialise objects themselves). */
export function jsonbSafe<T>(value: T): T {
  if (value === null || value === undefined || typeof value !== 'object') return value;
  const text = JSON.stringify(value);
  return SUSPECT.test(text) ? (deepClean(JSON.parse(text)) as T) : value;
}
