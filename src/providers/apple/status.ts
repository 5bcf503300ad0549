import { commitNotification } from '../../core/commit.js';
import type { CoreContext } from '../../core/types.js';
import type { Subscription } from '../../events/types.js';
import type { AppStoreServerApi, LastTransaction } from './api.js';
import { applyAppleNotification } from './apply.js';
import { appleReads } from './route.js';

/**
 * The notification Apple's status for a subscription amounts to, for one we believe `active` past its
 * period: 1 active with a newer transaction (a renewal we never got: DID_RENEW) or a later expiry of the
 * same one (RENEWAL_EXTENDED), 2 expired (EXPIRED), 3 billing retry (DID_FAIL_TO_RENEW), 4 grace period
 * (DID_FAIL_TO_RENEW / GRACE_PERIOD), 5 revoked (REVOKE). Null: Apple has nothing newer to say.
 */
export function statusAsNotification(last: LastTransaction, sub: Subscription): { type: string; subtype: string | null } | null {
  const t = last.transaction;
  switch (last.status) {
    case 1: {
      const end = sub.current_period_end ? Date.parse(sub.current_period_end) : 0;
      if (t.transactionId !== sub.latest_transaction_id) return { type: 'DID_RENEW', subtype: null };
      return (t.expiresDate ?? 0) > end ? { type: 'RENEWAL_EXTENDED', subtype: null } : null;
    }
    case 2:
      return { type: 'EXPIRED', subtype: null };
    case 3:
      return { type: 'DID_FAIL_TO_RENEW', subtype: null };
    case 4:
      return { type: 'DID_FAIL_TO_RENEW', subtype: 'GRACE_PERIOD' };
    case 5:
      return { type: 'REVOKE', subtype: null };
    default:
      return null;
  }
}

/**
 * Asks Apple (Get All Subscription Statuses) about an Apple subscription still `active` past its period
 * and applies the answer through the notification path (inbox, state, events, entitlements; the inbox id
 * `status:<originalTransactionId>:<transactionId>:<status>` makes it idempotent across sweeps and
 * instances). Resolves `not_found` when Apple does not know the subscription (the sweep then marks it
 * `past_due` itself), `applied` otherwise (also when Apple had nothing newer).
 * @throws the API's `APPLE_API_*` errors other than not found (the sweep looks again later)
 */
export async function checkAppleStatus(ctx: CoreContext, api: AppStoreServerApi, sub: Subscription): Promise<'applied' | 'not_found'> {
  let statuses;
  try {
    statuses = await api.getAllSubscriptionStatuses(sub.contract_id);
  } catch (err) {
    if ((err as { code?: string }).code === 'APPLE_API_NOT_FOUND') return 'not_found';
    throw err;
  }
  const last = statuses.data.flatMap((g) => g.lastTransactions).find((l) => l.originalTransactionId === sub.contract_id);
  if (!last) return 'not_found';
  const mapped = statusAsNotification(last, sub);
  if (!mapped) return 'applied';
  const t = last.transaction;
  const notificationId = `status:${sub.contract_id}:${t.transactionId}:${last.status}`;
  // Apple signs the answer when it gives it; that is when the state it describes held.
  const effectiveDate = Math.max(t.signedDate ?? 0, last.renewalInfo.signedDate ?? 0) || ctx.config.delivery.now();
  const decoded = JSON.parse(
    JSON.stringify({
      source: 'getAllSubscriptionStatuses',
      status: last.status,
      notificationType: mapped.type,
      subtype: mapped.subtype,
      data: { transactionInfo: t, renewalInfo: last.renewalInfo },
    }),
  ) as Record<string, unknown>;
  const environment = statuses.environment ?? t.environment ?? null;
  await commitNotification(
    ctx,
    {
      provider: 'apple',
      notification_id: notificationId,
      notification_type: mapped.type,
      subtype: mapped.subtype,
      environment,
      signed_at: new Date(effectiveDate).toISOString(),
      received_at: new Date(ctx.config.delivery.now()).toISOString(),
      raw_body: JSON.stringify({ signedTransactionInfo: last.signedTransactionInfo, signedRenewalInfo: last.signedRenewalInfo, status: last.status }),
      payload: decoded,
    },
    (tx) =>
      applyAppleNotification(
        tx,
        {
          notificationId,
          notificationType: mapped.type,
          subtype: mapped.subtype,
          effectiveDate,
          environment,
          transaction: t,
          renewalInfo: last.renewalInfo,
          decoded,
          transfer: ctx.config.transfer,
        },
        ctx.logger,
      ),
    appleReads(t),
  );
  return 'applied';
}
