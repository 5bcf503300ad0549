import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SubscriptionWebhooksError } from '../core/errors.js';

const PREFIX = 'whsec_';

/** A new Standard Webhooks secret: `whsec_` + base64 of 32 random bytes. */
export function generateWebhookSecret(): string {
  return PREFIX + randomBytes(32).toString('base64');
}

/**
 * The HMAC key of a `whsec_<base64>` secret (the prefix is optional, as in the `standardwebhooks` package).
 * @throws SubscriptionWebhooksError `INVALID_ARGUMENT` when the secret is not base64 or is empty
 */
export function secretKey(secret: string): Buffer {
  const b64 = secret.startsWith(PREFIX) ? secret.slice(PREFIX.length) : secret;
  const key = Buffer.from(b64, 'base64');
  if (key.length === 0 || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new SubscriptionWebhooksError('INVALID_ARGUMENT', 'A webhook secret must be "whsec_" followed by base64');
  }
  return key;
}

/** The base64 HMAC-SHA256 over `id.timestamp.body` (the Standard Webhooks signed content). */
export function webhookSignature(secret: string, id: string, timestamp: number, body: string): string {
  return createHmac('sha256', secretKey(secret)).update(`${id}.${timestamp}.${body}`).digest('base64');
}

/** `v1,<sig>` for each secret, space separated (several while a rotated secret is still valid). */
export function signatureHeader(secrets: readonly string[], id: string, timestamp: number, body: string): string {
  return secrets.map((s) => `v1,${webhookSignature(s, id, timestamp, body)}`).join(' ');
}

/** Constant-time check of one `v1,<sig>` header against the expected signatures. */
export function signatureMatches(header: string, expected: readonly string[]): boolean {
  const wanted = expected.map((e) => Buffer.from(e, 'base64'));
  let ok = false;
  for (const part of header.split(' ')) {
    const [version, sig] = part.split(',', 2);
    if (version !== 'v1' || !sig) continue;
    const given = Buffer.from(sig, 'base64');
    for (const w of wanted) if (given.length === w.length && timingSafeEqual(given, w)) ok = true;
  }
  return ok;
}
