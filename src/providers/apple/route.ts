import { parseJsonObject, rawBodyText, rawSha256, readRawBody, stringField } from '../../core/body.js';
import { commitNotification } from '../../core/commit.js';
import type { CoreContext, HandlerRequest, HandlerResponse, HandlerResult, RouteModule } from '../../core/types.js';
import type { Subscription } from '../../events/types.js';
import { SubscriptionWebhooksError } from '../../core/errors.js';
import type { InboxRecord, NotificationReads, StoreTransaction } from '../../store/types.js';
import { appleActionRows } from './actions.js';
import { applyAppleNotification, type AppleTransactionFields } from './apply.js';
import { applyRescindConsent } from './consent.js';
import type { AppleVerifier } from './verifier.js';

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' } as const;

/** Seed 002's answer shape: `{ code, message, data }`, `code` mirroring the HTTP status. */
export function appleAnswer(status: number, message: string, data: Record<string, unknown>): HandlerResponse {
  return { status, headers: { ...JSON_HEADERS }, body: JSON.stringify({ code: status, message, data }) };
}

/** The Apple wire format for an error: only the stable code and a safe message leave the server. */
export function appleErrorResponse(e: SubscriptionWebhooksError): HandlerResponse {
  const message = e.code === 'INTERNAL' ? 'Internal error' : e.code === 'STORE_UNAVAILABLE' ? 'Storage unavailable, retry later' : e.message;
  return appleAnswer(e.status, message, { processed: false, error: e.code });
}

/** What applying a notification about transaction `t` reads (see applyAppleNotification): its subscription and the orders it may pay. */
export const appleReads = (t: { originalTransactionId: string; transactionId: string; appAccountToken?: string }): NotificationReads => ({
  subscriptions: [{ provider: 'apple', contractId: t.originalTransactionId }],
  orderTradeNos: [{ provider: 'apple', tradeNo: t.transactionId }],
  orderNos: t.appAccountToken ? [t.appAccountToken] : [],
});

/**
 * Who owns transaction `t` before this unit of work changes anything (its subscription's user, else its
 * order's): the rows the unit of work reads and locks anyway. Only for a transaction without an
 * appAccountToken (the one that could name an owner through the app's order).
 */
async function ownerBefore(tx: StoreTransaction, t: AppleTransactionFields): Promise<string | null> {
  const sub = await tx.getSubscription('apple', t.originalTransactionId);
  if (sub) return sub.user_id;
  return (await tx.getOrderByTradeNo('apple', t.transactionId))?.user_id ?? null;
}

/**
 * The answer to a stale notification or transaction (its provider date is past `retention.notificationDays`):
 * 200 so the provider stops, `data.stale: true` (stable), nothing applied.
 */
function staleAnswer(data: Record<string, unknown>): HandlerResult {
  return { response: appleAnswer(200, 'Older than the retention window: acknowledged, not applied', { processed: false, stale: true, ...data }), events: [] };
}

const nowIso = (ctx: CoreContext) => new Date(ctx.config.delivery.now()).toISOString();

/** JSON round trip: the decoded payload as it will be stored and emitted (no undefined, no class instances). */
const plain = (value: unknown) => JSON.parse(JSON.stringify(value)) as Record<string, unknown>;

/** `POST /api/users/app-store-notifications`: App Store Server Notifications V2. */
export function appleNotificationRoute(ctx: CoreContext, verifier: () => AppleVerifier): RouteModule {
  return {
    errorResponse: appleErrorResponse,
    async handle(request: HandlerRequest): Promise<HandlerResult> {
      const body = parseJsonObject(readRawBody(request.rawBody, ctx.config.maxBodyBytes));
      const verified = await verifier().verifyNotification(stringField(body, 'signedPayload'));
      const p = verified.payload;
      // The decoded payload, with the nested JWS replaced by what they decode to (the exact signed bytes
      // stay in the inbox's raw body): a third of the size in every event row and webhook body.
      const { signedTransactionInfo: _t, signedRenewalInfo: _r, ...unsigned } = p.data ?? {};
      const { signedAppTransactionInfo: _a, ...appUnsigned } = p.appData ?? {};
      const decoded = plain({
        ...p,
        data: p.data ? { ...unsigned, transactionInfo: verified.transaction, renewalInfo: verified.renewalInfo } : undefined,
        appData: p.appData ? { ...appUnsigned, appTransactionInfo: verified.appTransaction } : undefined,
      });
      const inbox: InboxRecord = {
        provider: 'apple',
        notification_id: p.notificationUUID,
        notification_type: p.notificationType,
        subtype: p.subtype ?? null,
        environment: verified.environment,
        signed_at: new Date(p.signedDate).toISOString(),
        received_at: nowIso(ctx),
        raw_body: rawBodyText(request.rawBody),
        raw_sha256: rawSha256(request.rawBody),
        payload: decoded,
      };
      // A CONSUMPTION_REQUEST is answered after the commit, by the delivery worker (apple.consumption).
      const answers = p.notificationType === 'CONSUMPTION_REQUEST' && verified.transaction !== undefined && ctx.config.apple?.consumption !== undefined;
      let actionRows = 0;
      // RESCIND_CONSENT names an app account (appTransactionId), not a transaction: the subscriptions bought
      // from it are found first (the store filters; a store of its own that ignores the filter is filtered here), then locked.
      const consent = p.notificationType === 'RESCIND_CONSENT' && verified.appTransaction ? verified.appTransaction : null;
      const contractIds = consent?.appTransactionId
        ? (await ctx.store.listSubscriptions({ provider: 'apple', appTransactionId: consent.appTransactionId }))
            .filter((s) => s.metadata?.app_transaction_id === consent.appTransactionId)
            .map((s) => s.contract_id)
        : [];
      const outcome = await commitNotification(
        ctx,
        inbox,
        async (tx) => {
          if (consent) {
            return applyRescindConsent(tx, {
              notificationId: p.notificationUUID,
              effectiveDate: p.signedDate,
              environment: verified.environment,
              decoded,
              appTransaction: plain(consent),
              appData: { appAppleId: p.appData?.appAppleId, bundleId: p.appData?.bundleId },
              contractIds,
            });
          }
          const applied = await applyAppleNotification(
            tx,
            {
              notificationId: p.notificationUUID,
              notificationType: p.notificationType,
              subtype: p.subtype ?? null,
              effectiveDate: p.signedDate,
              environment: verified.environment,
              transaction: verified.transaction,
              renewalInfo: verified.renewalInfo,
              decoded,
              transfer: ctx.config.transfer,
            },
            ctx.logger,
          );
          const rows = answers ? appleActionRows(applied.events, { consumption: true }, nowIso(ctx)) : [];
          if (rows.length > 0) await tx.insertDeliveries(rows);
          actionRows = rows.length;
          return applied;
        },
        verified.transaction ? appleReads(verified.transaction) : {},
      );
      if (!outcome.duplicate && actionRows > 0) ctx.onDeliveriesEnqueued?.();
      if (outcome.duplicate && outcome.stale) return staleAnswer({ notificationType: p.notificationType, notificationUUID: p.notificationUUID });
      let userId = outcome.duplicate ? null : outcome.userId;
      if (outcome.duplicate && verified.transaction) {
        userId = (await ctx.store.getSubscription('apple', verified.transaction.originalTransactionId))?.user_id ?? null;
      }
      const data = {
        processed: true,
        notificationType: p.notificationType,
        notificationUUID: p.notificationUUID,
        userId,
        transactionId: verified.transaction?.transactionId ?? null,
        ...(outcome.duplicate ? { duplicate: true } : {}),
      };
      return {
        response: appleAnswer(200, outcome.duplicate ? 'Notification already processed' : 'Notification processed', data),
        events: outcome.duplicate ? [] : outcome.events,
      };
    },
  };
}

/**
 * `POST /api/users/app-store-transactions`: the app's client posts StoreKit 2's `jwsRepresentation`
 * as `{ signedTransaction }`, processed like the transaction inside SUBSCRIBED / DID_RENEW and
 * deduplicated by transaction id.
 */
export function appleTransactionRoute(ctx: CoreContext, verifier: () => AppleVerifier): RouteModule {
  return {
    errorResponse: appleErrorResponse,
    async handle(request: HandlerRequest): Promise<HandlerResult> {
      const body = parseJsonObject(readRawBody(request.rawBody, ctx.config.maxBodyBytes));
      const t = await verifier().verifyTransaction(stringField(body, 'signedTransaction'));
      const receivedAt = Date.now();
      const caller = request.userId ?? undefined;
      // A client may fetch a transaction long after it happened: order it by purchase, not by signing date,
      // so it can never make a later server notification look stale.
      // Binding a purchase that carries no appAccountToken to the signed-in poster also sets the token at
      // Apple (after the commit, through the delivery worker), so that its later notifications carry it.
      const mayBind = caller !== undefined && !t.appAccountToken && t.inAppOwnershipType !== 'FAMILY_SHARED' && (ctx.config.apple?.api ?? null) !== null;
      let actionRows = 0;
      const commit = async (notificationId: string) => {
        actionRows = 0;
        const committed = await commitNotification(
          ctx,
          {
            provider: 'apple',
            notification_id: notificationId,
            notification_type: 'CLIENT_TRANSACTION',
            subtype: null,
            environment: t.environment ?? null,
            signed_at: t.signedDate !== undefined ? new Date(t.signedDate).toISOString() : null,
            received_at: nowIso(ctx),
            raw_body: rawBodyText(request.rawBody),
            raw_sha256: rawSha256(request.rawBody),
            payload: t,
          },
          async (tx) => {
            const owner = mayBind ? await ownerBefore(tx, t) : undefined;
            const applied = await applyAppleNotification(
              tx,
              {
                notificationId,
                notificationType: 'CLIENT_TRANSACTION',
                subtype: null,
                effectiveDate: t.purchaseDate ?? t.signedDate ?? receivedAt,
                environment: t.environment ?? null,
                transaction: t,
                decoded: plain({ transactionInfo: t }),
                userId: caller,
                receivedAt,
              },
              ctx.logger,
            );
            const binds = mayBind && owner === null && applied.userId === caller;
            const rows = binds ? appleActionRows(applied.events, { appAccountToken: true }, nowIso(ctx)) : [];
            if (rows.length > 0) await tx.insertDeliveries(rows);
            actionRows = rows.length;
            return applied;
          },
          appleReads(t),
        );
        if (!committed.duplicate && actionRows > 0) ctx.onDeliveriesEnqueued?.();
        return committed;
      };
      let outcome = await commit(`tx:${t.transactionId}`);
      if (outcome.duplicate && outcome.stale) return staleAnswer({ transactionId: t.transactionId, originalTransactionId: t.originalTransactionId });
      // Who owns it now (after the commit). A redelivered post (tx:<id> used up) is answered from the store.
      // Who owns it now, and its state: what the commit returned, or (a redelivered post: tx:<id> used up) the store, read once.
      const stored = async (o: typeof outcome): Promise<{ owner: string | null; sub: Subscription | null }> => {
        if (!o.duplicate) return { owner: o.userId, sub: o.subscription };
        const sub = await ctx.store.getSubscription('apple', t.originalTransactionId);
        if (sub) return { owner: sub.user_id, sub };
        return { owner: (await ctx.store.transaction((tx) => tx.getOrderByTradeNo('apple', t.transactionId)))?.user_id ?? null, sub: null };
      };
      let { owner, sub } = await stored(outcome);
      if (outcome.duplicate && caller && owner === null) {
        // Posted before anyone signed in: the first signed-in poster binds it, once per contract.
        outcome = await commit(`owner:${t.originalTransactionId}`);
        ({ owner, sub } = await stored(outcome));
      }
      if (caller && owner !== null && owner !== caller) {
        throw new SubscriptionWebhooksError('SUBSCRIPTION_OWNED_BY_OTHER_USER', 'This purchase belongs to another user');
      }
      // A signed-in caller gets here only for a purchase that is theirs or nobody's. The owner's id is named
      // only to that owner (an anonymous post, on a route without getUserId, learns the state, never who owns it).
      const data = {
        processed: true,
        transactionId: t.transactionId,
        originalTransactionId: t.originalTransactionId,
        productId: t.productId,
        userId: owner !== null && owner === caller ? owner : null,
        status: sub?.status ?? null,
        expiresDate: sub?.current_period_end ?? null,
        ...(outcome.duplicate ? { duplicate: true } : {}),
      };
      return {
        response: appleAnswer(200, outcome.duplicate ? 'Transaction already processed' : 'Transaction processed', data),
        events: outcome.duplicate ? [] : outcome.events,
      };
    },
  };
}
