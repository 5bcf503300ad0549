/**
 * How the SQL stores keep an Apple notification's raw body without its repeated certificate chains.
 *
 * An App Store Server Notification is `{"signedPayload":"<header>.<payload>.<signature>"}` whose payload
 * (base64url JSON) holds `signedTransactionInfo` and `signedRenewalInfo`, each a JWS with its own header.
 * All three headers carry the same x5c chain (about 4.4 KB each: 70% of a real body). The stored form
 * keeps the outer header once and the payload as its JSON text with every copy of that header replaced by
 * one marker character: about a third of the size. Expanding it gives back the exact bytes (the codec
 * checks the round trip before it stores the short form, and stores the body as received otherwise).
 */

const PREFIX = 'sw-jws1:';
/** U+0001 cannot stand unescaped in JSON text, so it never occurs in a payload. */
const MARK = '\u0001';
const JWS_IN_BODY = /^(\s*\{\s*"signedPayload"\s*:\s*")([A-Za-z0-9_-]{100,})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)("\s*\}\s*)$/;
const decoder = new TextDecoder('utf-8', { fatal: true });

interface Compact {
  /** text before the header, header, payload JSON with the header marked, signature, text after */
  b: string;
  h: string;
  p: string;
  s: string;
  a: string;
}

function expandCompact(c: Compact): string {
  const payload = Buffer.from(c.p.split(MARK).join(c.h), 'utf8').toString('base64url');
  return `${c.b}${c.h}.${payload}.${c.s}${c.a}`;
}

/** The form to store: shorter when the body is a notification whose nested JWS repeat its header, else `raw` itself. */
export function compactRawBody(raw: string | null): string | null {
  if (raw === null || raw.length < 2000) return raw;
  const m = JWS_IN_BODY.exec(raw);
  if (!m) return raw;
  const [, b, h, p64, s, a] = m as unknown as [string, string, string, string, string, string];
  let text: string;
  try {
    text = decoder.decode(Buffer.from(p64, 'base64url'));
  } catch {
    return raw;
  }
  if (!text.includes(h)) return raw;
  const c: Compact = { b, h, p: text.split(h).join(MARK), s, a };
  if (expandCompact(c) !== raw) return raw; // non-canonical base64url: keep the exact bytes
  const stored = PREFIX + JSON.stringify(c);
  return stored.length < raw.length ? stored : raw;
}

/** The exact body from its stored form (a body stored as received comes back unchanged). */
export function expandRawBody(stored: string | null): string | null {
  if (stored === null || !stored.startsWith(PREFIX)) return stored;
  try {
    return expandCompact(JSON.parse(stored.slice(PREFIX.length)) as Compact);
  } catch {
    return stored;
  }
}
