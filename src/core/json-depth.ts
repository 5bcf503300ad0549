/**
 * Deepest nesting of arrays and objects accepted in a JSON body or a JWS part. Real payloads nest
 * fewer than 10 levels; input nested thousands deep parses (JSON.parse is iterative) but overflows
 * the stack of recursive code after it (JSON.stringify, structuredClone), a 500 the provider would
 * retry forever.
 */
export const MAX_JSON_DEPTH = 128;

/** True when the JSON `text` nests arrays/objects deeper than `max` (string contents are skipped). Iterative, O(n). */
export function jsonTooDeep(text: string, max: number = MAX_JSON_DEPTH): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
