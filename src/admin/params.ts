import { SubscriptionWebhooksError } from '../core/errors.js';
import type { Provider } from '../events/types.js';
import type { DeliveryStatus } from '../store/types.js';

/** Query-string parsing shared by the dashboard's pages and its JSON API: bad values are `INVALID_ARGUMENT` (400). */
export function fail(code: 'INVALID_ARGUMENT' | 'NOT_FOUND', message: string): SubscriptionWebhooksError {
  return new SubscriptionWebhooksError(code, message);
}

const PROVIDERS = new Set(['apple', 'xsolla', 'google']);
const DELIVERY_STATUSES = new Set(['pending', 'delivered', 'failed', 'disabled']);
export const opt = (q: URLSearchParams, k: string): string | undefined => q.get(k) || undefined;
export function providerParam(q: URLSearchParams): Provider | undefined {
  const p = opt(q, 'provider');
  if (p !== undefined && !PROVIDERS.has(p)) throw fail('INVALID_ARGUMENT', 'provider: apple, xsolla or google');
  return p as Provider | undefined;
}
export function deliveryStatusParam(q: URLSearchParams): DeliveryStatus | undefined {
  const s = opt(q, 'status');
  if (s !== undefined && !DELIVERY_STATUSES.has(s)) throw fail('INVALID_ARGUMENT', 'status: pending, delivered, failed or disabled');
  return s as DeliveryStatus | undefined;
}
const NOTIFICATION_STATUSES = new Set(['processed', 'duplicate', 'stale', 'rejected']);
/** The notification list's `status`: `processed` (the inbox), or an outcome that added no inbox row. */
export function notificationStatusParam(q: URLSearchParams): 'processed' | 'duplicate' | 'stale' | 'rejected' | undefined {
  const s = opt(q, 'status');
  if (s !== undefined && !NOTIFICATION_STATUSES.has(s)) throw fail('INVALID_ARGUMENT', 'status: processed, duplicate, stale or rejected');
  return s as 'processed' | 'duplicate' | 'stale' | 'rejected' | undefined;
}
export function pageParam(q: URLSearchParams): { after?: string; limit?: number } {
  const limit = opt(q, 'limit');
  return { after: opt(q, 'after'), ...(limit !== undefined ? { limit: /^\d+$/.test(limit) ? Number(limit) : NaN } : {}) };
}

/** The path's segments, percent-decoded; a malformed escape is `INVALID_ARGUMENT`. */
export function pathParts(path: string): string[] {
  let parts: string[];
  try {
    parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    throw fail('INVALID_ARGUMENT', 'Malformed percent-encoding in the path');
  }
  if (parts.some(hasNul)) throw fail('INVALID_ARGUMENT', 'A NUL character in the path');
  return parts;
}

/** A NUL character: no text column stores it (PostgreSQL refuses it outright), so no id, term or form value holds one. */
export const hasNul = (s: string): boolean => s.includes('\u0000');

/** `INVALID_ARGUMENT` when a name or value of `params` (a query string or a form) holds a NUL character. */
export function refuseNul(params: URLSearchParams, what: string): void {
  for (const [k, v] of params) if (hasNul(k) || hasNul(v)) throw fail('INVALID_ARGUMENT', `A NUL character in the ${what}`);
}
