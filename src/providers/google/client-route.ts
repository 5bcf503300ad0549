import { parseJsonObject, rawBodyText, readRawBody } from '../../core/body.js';
import type { CoreContext, HandlerRequest, HandlerResult, RouteModule } from '../../core/types.js';
import { SubscriptionWebhooksError } from '../../core/errors.js';
import { z } from 'zod';
import type { GooglePlayApi } from './api.js';
import type { GoogleInput } from './apply.js';
import { commitGoogleNotification, contractOfToken, googleErrorResponse } from './route.js';

const bodySchema = z.strictObject({
  purchaseToken: z.string().min(1).max(4096),
  /** The product id: required for a one-time product (`type: "inapp"`). */
  productId: z.string().min(1).max(512).optional(),
  /** Play Billing's product type. @default "subs" */
  type: z.enum(['subs', 'inapp']).optional(),
});

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' } as const;

/**
 * `POST /api/google/purchases`: the app's client posts a purchase token (`Purchase.getPurchaseToken()`)
 * for its signed-in user, `{ purchaseToken, productId?, type?: "subs" | "inapp" }`. The purchase is read
 * from the Play Developer API (the token itself proves nothing) and processed like its notification:
 * deduplicated per Google order, an ownerless purchase bound to the poster, someone else's refused
 * (`SUBSCRIPTION_OWNED_BY_OTHER_USER`, no details).
 */
export function googlePurchaseRoute(ctx: CoreContext, deps: () => { api: GooglePlayApi | null }): RouteModule {
  return {
    errorResponse: googleErrorResponse,
    async handle(request: HandlerRequest): Promise<HandlerResult> {
      const { api } = deps();
      if (!api)
        throw new SubscriptionWebhooksError(
          'CONFIG_INVALID',
          'The Google Play purchase route needs google.api (the Play Developer API) to read what a purchase token is worth',
        );
      const text = readRawBody(request.rawBody, ctx.config.maxBodyBytes);
      const parsed = bodySchema.safeParse(parseJsonObject(text));
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new SubscriptionWebhooksError('BODY_INVALID', `\`${issue.path.join('.') || 'body'}\` ${issue.message}`);
      }
      const { purchaseToken, productId, type = 'subs' } = parsed.data;
      if (type === 'inapp' && !productId) throw new SubscriptionWebhooksError('BODY_INVALID', '`productId` is required for a one-time product (type "inapp")');
      const caller = request.userId ?? undefined;
      const fetchedAt = Date.now();
      const input: GoogleInput = {
        notificationId: '',
        notificationType: 'CLIENT_PURCHASE',
        eventTime: fetchedAt,
        fetchedAt,
        decoded: {},
        purchaseToken,
        userId: caller,
        transfer: ctx.config.transfer,
      };
      let orderId: string | undefined;
      let contractId: string | null = null;
      if (type === 'subs') {
        const s = await api.getSubscription(purchaseToken);
        input.subscription = s;
        contractId = await contractOfToken(ctx, purchaseToken, s.linkedPurchaseToken);
        input.contractId = contractId;
        orderId = s.lineItems[0]!.latestSuccessfulOrderId ?? s.latestOrderId;
        input.decoded = JSON.parse(JSON.stringify({ source: 'client', purchaseToken, subscriptionNotification: { purchaseToken }, purchase: s })) as Record<
          string,
          unknown
        >;
      } else {
        const p = await api.getProduct(productId!, purchaseToken);
        input.product = { productId: productId!, purchase: p };
        orderId = p.orderId;
        input.decoded = JSON.parse(
          JSON.stringify({ source: 'client', purchaseToken, oneTimeProductNotification: { purchaseToken, sku: productId }, purchase: p }),
        ) as Record<string, unknown>;
      }
      // One commit per Google order: posting the same purchase again (or from two devices) is a duplicate.
      input.notificationId = `client:${purchaseToken}:${orderId ?? 'none'}`;
      const outcome = await commitGoogleNotification(ctx, input, {
        rawBody: rawBodyText(request.rawBody),
        reads: contractId ? { subscriptions: [{ provider: 'google', contractId }] } : {},
        hasPurchase: true,
      });
      const sub = contractId ? await ctx.store.getSubscription('google', contractId) : null;
      const order = orderId ? await ctx.store.transaction((tx) => tx.getOrderByTradeNo('google', orderId)) : null;
      const owner = sub?.user_id ?? order?.user_id ?? null;
      if (caller !== undefined && owner !== null && owner !== caller)
        throw new SubscriptionWebhooksError('SUBSCRIPTION_OWNED_BY_OTHER_USER', 'This purchase belongs to another user');
      const body = {
        processed: true,
        purchaseToken,
        orderId: orderId ?? null,
        productId: sub?.product_id ?? order?.product_id ?? productId ?? null,
        // The owner is named only to that owner.
        userId: owner !== null && owner === caller ? owner : null,
        status: sub?.status ?? order?.status ?? null,
        expiresDate: sub?.current_period_end ?? null,
        ...(outcome.duplicate ? { duplicate: true } : {}),
      };
      return { response: { status: 200, headers: { ...JSON_HEADERS }, body: JSON.stringify(body) }, events: outcome.duplicate ? [] : outcome.events };
    },
  };
}
