import { createHash, timingSafeEqual } from 'node:crypto';
import { SubscriptionWebhooksError } from '../../core/errors.js';

/**
 * Accepted `Authorization` header: the scheme `Signature` (any letter case, as HTTP auth schemes are
 * case-insensitive), whitespace, exactly 40 hex digits (any letter case: the same digest), optional
 * surrounding whitespace. Anything else is garbled.
 */
const HEADER = /^\s*signature\s+([0-9a-f]{40})\s*$/i;

const bytes = (value: string | Uint8Array): Uint8Array => (typeof value === 'string' ? Buffer.from(value, 'utf8') : value);

/**
 * Xsolla's webhook signature: lowercase hex `sha1(rawBody + secretKey)` over the exact raw bytes.
 *
 * @example
 * xsollaSignature('{"notification_type":"user_validation"}', 'secret'); // → 40 lowercase hex digits
 */
export function xsollaSignature(rawBody: string | Uint8Array, secretKey: string): string {
  return createHash('sha1').update(bytes(rawBody)).update(bytes(secretKey)).digest('hex');
}

/**
 * Checks `Authorization: Signature <hex>` against the raw body, in constant time. The route does this
 * for you; use it when you receive Xsolla webhooks outside the library's routes.
 *
 * @example
 * verifyXsollaSignature(req.headers.authorization, rawBody, process.env.XSOLLA_WEBHOOK_SECRET!);
 * @throws SubscriptionWebhooksError `XSOLLA_SIGNATURE_INVALID` when the header is missing, garbled or does not match.
 */
export function verifyXsollaSignature(header: string | undefined, rawBody: string | Uint8Array, secretKey: string): void {
  if (header === undefined || header === '')
    throw new SubscriptionWebhooksError('XSOLLA_SIGNATURE_INVALID', 'Missing Authorization header (expected "Signature <sha1 hex>")');
  const match = HEADER.exec(header);
  if (!match) throw new SubscriptionWebhooksError('XSOLLA_SIGNATURE_INVALID', 'Malformed Authorization header (expected "Signature <40 hex digits>")');
  const given = Buffer.from(match[1]!, 'hex');
  const expected = createHash('sha1').update(bytes(rawBody)).update(bytes(secretKey)).digest();
  if (!timingSafeEqual(given, expected)) throw new SubscriptionWebhooksError('XSOLLA_SIGNATURE_INVALID', 'Signature does not match the body');
}
