import type { ConsentRescinded, DomainEvent, Subscription } from '../../events/types.js';
import { notificationEmitter } from '../notification-events.js';
import type { StoreTransaction } from '../../store/types.js';
import type { AppleApplyResult } from './apply.js';

/** What the route hands to {@link applyRescindConsent}. */
export interface RescindConsentInput {
  notificationId: string;
  /** ms since epoch: the notification's signedDate. */
  effectiveDate: number;
  environment: string | null;
  decoded: Record<string, unknown>;
  /** The verified, decoded `appData.signedAppTransactionInfo`. */
  appTransaction: Record<string, unknown>;
  appData: { appAppleId?: number; bundleId?: string };
  /** Contract ids of the Apple subscriptions bought from that app account (`metadata.app_transaction_id`), read before the unit of work. */
  contractIds: readonly string[];
}

/**
 * Apple `RESCIND_CONSENT`: a parent or guardian withdrew consent for the app account the app transaction
 * names. Every subscription bought from that account (`metadata.app_transaction_id`) is marked
 * `metadata.consent_rescinded_at` (its entitlements are revoked: they grant nothing while it is set; a
 * purchase or renewal signed later clears it), and `customer.consent.rescinded` carries the app
 * transaction and the user. Subscriptions are re-read under their row locks; one already marked by a
 * newer notification is left alone.
 */
export async function applyRescindConsent(tx: StoreTransaction, input: RescindConsentInput): Promise<AppleApplyResult & { touched: Subscription[] }> {
  const created = new Date(input.effectiveDate).toISOString();
  const livemode = input.environment === 'Production';
  const source = { notification_id: input.notificationId, notification_type: 'RESCIND_CONSENT' };
  const events: DomainEvent[] = [];
  const push = notificationEmitter(events, { provider: 'apple', notificationId: input.notificationId, created, livemode, source });
  push('provider.notification.received', input.decoded);
  const touched: Subscription[] = [];
  let userId: string | null = null;
  for (const contractId of [...input.contractIds].sort()) {
    const sub = await tx.getSubscription('apple', contractId);
    if (!sub || sub.metadata?.app_transaction_id !== input.appTransaction.appTransactionId) continue;
    userId ??= sub.user_id;
    const at = sub.metadata.consent_rescinded_at;
    if (typeof at === 'string' && Date.parse(at) >= input.effectiveDate) continue;
    const next: Subscription = { ...sub, metadata: { ...sub.metadata, consent_rescinded_at: created }, updated: created };
    await tx.saveSubscription(next);
    touched.push(next);
  }
  const object: ConsentRescinded = {
    user_id: userId,
    app_transaction: input.appTransaction,
    app_apple_id: input.appData.appAppleId ?? null,
    bundle_id: input.appData.bundleId ?? null,
    environment: input.environment,
    revoked_subscription_ids: touched.map((s) => s.id),
  };
  push('customer.consent.rescinded', object);
  return { events, userId, transactionId: null, subscription: touched[0] ?? null, stale: false, touched };
}
