import type { ActionAttempt, ActionTargets } from '../../delivery/action-targets.js';
import { newDelivery } from '../../delivery/outbox.js';
import { isSubscriptionWebhooksError } from '../../core/errors.js';
import type { DomainEvent } from '../../events/types.js';
import type { Logger } from '../../core/logger.js';
import type { DeliveryRecord } from '../../store/types.js';
import { GooglePlayApiError, type GooglePlayApi } from './api.js';

/**
 * The acknowledgement of a Google Play purchase (Google refunds a purchase left unacknowledged for three
 * days): a delivery row written in the commit's transaction, attempted by `hooks.delivery` after it,
 * retried on the delivery schedule. Its `event_id` is the commit's `provider.notification.received`,
 * whose object names the purchase.
 */
export const GOOGLE_ACKNOWLEDGE_TARGET = 'google.acknowledge';

/** The action row of one Google commit that needs an acknowledgement. `events[0]` is its `provider.notification.received`. */
export function googleActionRows(events: readonly DomainEvent[], now: string): DeliveryRecord[] {
  const received = events[0];
  return received?.type === 'provider.notification.received' ? [newDelivery(GOOGLE_ACKNOWLEDGE_TARGET, received.id, now)] : [];
}

interface Decoded {
  subscriptionNotification?: { purchaseToken?: unknown };
  oneTimeProductNotification?: { purchaseToken?: unknown; sku?: unknown };
  purchase?: { lineItems?: Array<{ productId?: unknown }> };
}

/** What to acknowledge, from the received event's object. */
function purchaseOf(object: Decoded): { kind: 'subscription' | 'product'; productId: string; token: string } | null {
  const s = object.subscriptionNotification;
  const productId = object.purchase?.lineItems?.[0]?.productId;
  if (s && typeof s.purchaseToken === 'string' && typeof productId === 'string') return { kind: 'subscription', productId, token: s.purchaseToken };
  const o = object.oneTimeProductNotification;
  if (o && typeof o.purchaseToken === 'string' && typeof o.sku === 'string') return { kind: 'product', productId: o.sku, token: o.purchaseToken };
  return null;
}

/**
 * The acknowledgement target. Idempotent: the purchase is read first and left alone when Google already
 * has it acknowledged (by an earlier attempt whose answer was lost, or by the app's client).
 * `api` makes one HTTP attempt per delivery attempt (the worker retries).
 */
export function createGoogleActions(deps: { api: () => GooglePlayApi | null; logger: Logger }): ActionTargets {
  return {
    handles: (id) => id === GOOGLE_ACKNOWLEDGE_TARGET,
    async attempt(c, signal): Promise<ActionAttempt> {
      try {
        const event = JSON.parse(c.body) as DomainEvent | null;
        if (!event?.data) return { ok: false, error: `event ${c.delivery.event_id} not found`, retryAfterMs: null, permanent: true };
        const p = purchaseOf(event.data.object as Decoded);
        if (!p) return { ok: false, error: 'the event names no purchase to acknowledge', retryAfterMs: null, permanent: true };
        const api = deps.api();
        if (!api) return { ok: false, error: 'google.api is not configured in this process', retryAfterMs: null, permanent: false };
        const acknowledged =
          p.kind === 'subscription'
            ? (await api.getSubscription(p.token)).acknowledgementState === 'ACKNOWLEDGEMENT_STATE_ACKNOWLEDGED'
            : (await api.getProduct(p.productId, p.token)).acknowledgementState === 1;
        if (acknowledged) return { ok: true };
        if (signal.aborted) return { ok: false, error: 'the attempt timed out before the call to Google: not sent', retryAfterMs: null, permanent: false };
        if (p.kind === 'subscription') await api.acknowledgeSubscription(p.productId, p.token);
        else await api.acknowledgeProduct(p.productId, p.token);
        deps.logger.info({ productId: p.productId, kind: p.kind }, 'Google Play purchase acknowledged');
        return { ok: true };
      } catch (err) {
        const message = String((err as Error)?.message ?? err).slice(0, 500);
        if (err instanceof GooglePlayApiError) {
          const s = err.httpStatus;
          const permanent = s !== null && s >= 400 && s < 500 && s !== 401 && s !== 403 && s !== 429;
          return { ok: false, error: `${err.code}: ${message}`, retryAfterMs: err.retryAfterMs, permanent };
        }
        return { ok: false, error: isSubscriptionWebhooksError(err) ? `${err.code}: ${message}` : message, retryAfterMs: null, permanent: false };
      }
    },
  };
}
