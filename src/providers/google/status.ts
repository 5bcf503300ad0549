import type { CoreContext } from '../../core/types.js';
import { isSubscriptionWebhooksError } from '../../core/errors.js';
import type { Subscription } from '../../events/types.js';
import type { GooglePlayApi } from './api.js';
import { commitGoogleNotification } from './route.js';
import type { SubscriptionPurchaseV2 } from './schemas.js';

/**
 * The notification Google's state for a subscription amounts to, for one we believe `active` past its
 * period: active with a newer order (a renewal we never heard of: RENEWED) or a later expiry of the same
 * one (DEFERRED), canceled, in grace period, on hold, paused, expired. Null: Google has nothing newer.
 */
export function googleStateAsNotification(s: SubscriptionPurchaseV2, sub: Subscription): string | null {
  const item = s.lineItems[0]!;
  switch (s.subscriptionState) {
    case 'SUBSCRIPTION_STATE_ACTIVE': {
      const orderId = item.latestSuccessfulOrderId ?? s.latestOrderId;
      if (orderId !== undefined && orderId !== sub.latest_transaction_id) return 'SUBSCRIPTION_RENEWED';
      const end = sub.current_period_end ? Date.parse(sub.current_period_end) : 0;
      return item.expiryTime && Date.parse(item.expiryTime) > end ? 'SUBSCRIPTION_DEFERRED' : null;
    }
    case 'SUBSCRIPTION_STATE_CANCELED':
      return 'SUBSCRIPTION_CANCELED';
    case 'SUBSCRIPTION_STATE_IN_GRACE_PERIOD':
      return 'SUBSCRIPTION_IN_GRACE_PERIOD';
    case 'SUBSCRIPTION_STATE_ON_HOLD':
      return 'SUBSCRIPTION_ON_HOLD';
    case 'SUBSCRIPTION_STATE_PAUSED':
      return 'SUBSCRIPTION_PAUSED';
    case 'SUBSCRIPTION_STATE_EXPIRED':
      return 'SUBSCRIPTION_EXPIRED';
    default:
      return null;
  }
}

/**
 * The lifecycle sweep's question to Google about a Google subscription still `active` past its period:
 * reads its current purchase token (`purchases.subscriptionsv2.get`) and applies the answer through the
 * notification path (inbox id `status:<token>:<order>:<state>`: idempotent across sweeps and instances).
 * Resolves `not_found` when Google does not know the purchase, `applied` otherwise.
 * @throws the API's `GOOGLE_API_*` errors other than not found (the sweep looks again later)
 */
export async function checkGoogleStatus(ctx: CoreContext, api: GooglePlayApi, sub: Subscription): Promise<'applied' | 'not_found'> {
  const token = typeof sub.metadata.google_purchase_token === 'string' ? sub.metadata.google_purchase_token : sub.contract_id;
  let s: SubscriptionPurchaseV2;
  try {
    s = await api.getSubscription(token);
  } catch (err) {
    if (isSubscriptionWebhooksError(err, 'GOOGLE_API_NOT_FOUND')) return 'not_found';
    throw err;
  }
  const type = googleStateAsNotification(s, sub);
  if (!type) return 'applied';
  const at = ctx.config.delivery.now();
  const orderId = s.lineItems[0]!.latestSuccessfulOrderId ?? s.latestOrderId ?? '';
  const decoded = JSON.parse(
    JSON.stringify({ source: 'purchases.subscriptionsv2.get', notificationType: type, purchase: s, subscriptionNotification: { purchaseToken: token } }),
  ) as Record<string, unknown>;
  await commitGoogleNotification(
    ctx,
    {
      notificationId: `status:${token}:${orderId}:${s.subscriptionState}`,
      notificationType: type,
      eventTime: at,
      fetchedAt: Date.now(),
      decoded,
      purchaseToken: token,
      contractId: sub.contract_id,
      subscription: s,
      transfer: ctx.config.transfer,
    },
    { rawBody: JSON.stringify(s), reads: { subscriptions: [{ provider: 'google', contractId: sub.contract_id }] }, hasPurchase: true },
  );
  return 'applied';
}
