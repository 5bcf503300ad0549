import { createHash } from 'node:crypto';
import { SubscriptionWebhooksError } from './errors.js';
import { jsonTooDeep, MAX_JSON_DEPTH } from './json-depth.js';
import type { HeadersLike } from './types.js';

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes and size-checks the raw body; rejects parsed objects with a message naming the fix.
 * @throws SubscriptionWebhooksError `BODY_NOT_RAW`, `BODY_TOO_LARGE`, `BODY_INVALID` (not UTF-8)
 */
export function readRawBody(
  rawBody: unknown,
  maxBytes: number,
  notRawMessage = 'The request body was already parsed; signatures are over the exact raw bytes. Mount the subscription-webhooks routes before any body parser (express.json(), koa-bodyparser), or pass the raw body as a string or Uint8Array.',
): string {
  if (typeof rawBody === 'string') {
    if (Buffer.byteLength(rawBody, 'utf8') > maxBytes) throw new SubscriptionWebhooksError('BODY_TOO_LARGE', `Body exceeds ${maxBytes} bytes`);
    return rawBody;
  }
  if (rawBody instanceof Uint8Array) {
    if (rawBody.byteLength > maxBytes) throw new SubscriptionWebhooksError('BODY_TOO_LARGE', `Body exceeds ${maxBytes} bytes`);
    try {
      return decoder.decode(rawBody);
    } catch (cause) {
      throw new SubscriptionWebhooksError('BODY_INVALID', 'Body is not valid UTF-8', { cause });
    }
  }
  throw new SubscriptionWebhooksError('BODY_NOT_RAW', notRawMessage);
}

/** Parses a JSON object body. @throws SubscriptionWebhooksError `BODY_INVALID` */
export function parseJsonObject(text: string): Record<string, unknown> {
  if (jsonTooDeep(text)) throw new SubscriptionWebhooksError('BODY_INVALID', `Body nests deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new SubscriptionWebhooksError('BODY_INVALID', 'Body is not valid JSON', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new SubscriptionWebhooksError('BODY_INVALID', 'Body must be a JSON object');
  }
  return value as Record<string, unknown>;
}

/** A required non-empty string field of a JSON body. @throws SubscriptionWebhooksError `BODY_INVALID` */
export function stringField(body: Record<string, unknown>, name: string): string {
  const v = body[name];
  if (typeof v !== 'string' || v.length === 0) throw new SubscriptionWebhooksError('BODY_INVALID', `Body must have a non-empty string "${name}"`);
  return v;
}

/** Reads one header from a Fetch `Headers` or a Node-style record, case-insensitively. */
export function getHeader(headers: HeadersLike, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined;
  const record = headers as Record<string, string | string[] | undefined>;
  const lower = name.toLowerCase();
  for (const key of Object.keys(record)) {
    if (key.toLowerCase() === lower) {
      const v = record[key];
      return Array.isArray(v) ? v.join(', ') : v;
    }
  }
  return undefined;
}

/** The raw body as a string, for the inbox. */
export function rawBodyText(rawBody: string | Uint8Array): string {
  return typeof rawBody === 'string' ? rawBody : Buffer.from(rawBody).toString('utf8');
}

/** Hex SHA-256 of the body's exact bytes (kept in the inbox after the raw body itself is pruned). */
export function rawSha256(rawBody: string | Uint8Array): string {
  return createHash('sha256').update(rawBody).digest('hex');
}
