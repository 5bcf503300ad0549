import { randomUUID } from 'node:crypto';
import { signatureHeader } from '../delivery/sign.js';

/** Input of {@link signOutboundWebhook}. */
export interface SignOutboundWebhookInput {
  /** The endpoint secret (`whsec_…`); several produce several `v1` signatures, as during a rotation. */
  secret: string | readonly string[];
  /** The body: a string is signed as is, anything else is JSON-serialized first. */
  body: unknown;
  /** `webhook-id`. @default the body's `id`, else a random `evt_test_…` */
  id?: string;
  /** `webhook-timestamp` in seconds. @default now */
  timestamp?: number;
}

/**
 * Signs a body the way our delivery worker does (Standard Webhooks), so you can test your callback
 * route without running the sender, like stripe-node's `generateTestHeaderString`.
 *
 * @example
 * ```ts
 * import { signOutboundWebhook } from 'subscription-webhooks/testing';
 * const { headers, body } = signOutboundWebhook({ secret: 'whsec_...', body: { id: 'evt_1', type: 'manual.notification', data: { object } } });
 * await request(app).post('/api/payment/callback').set(headers).send(body).expect(200);
 * ```
 * @throws SubscriptionWebhooksError `INVALID_ARGUMENT` when a secret is not `whsec_` + base64
 */
export function signOutboundWebhook(input: SignOutboundWebhookInput): {
  headers: { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string; 'content-type': 'application/json' };
  body: string;
} {
  const body = typeof input.body === 'string' ? input.body : JSON.stringify(input.body);
  const fromBody = typeof input.body === 'object' && input.body !== null ? (input.body as { id?: unknown }).id : undefined;
  const id = input.id ?? (typeof fromBody === 'string' ? fromBody : `evt_test_${randomUUID().replace(/-/g, '')}`);
  const timestamp = input.timestamp ?? Math.floor(Date.now() / 1000);
  const secrets = typeof input.secret === 'string' ? [input.secret] : [...input.secret];
  return {
    headers: {
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signatureHeader(secrets, id, timestamp, body),
      'content-type': 'application/json',
    },
    body,
  };
}
