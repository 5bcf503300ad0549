import { getHeader, parseJsonObject, rawBodyText, readRawBody } from '../../core/body.js';
import { commitNotification } from '../../core/commit.js';
import type { CoreContext, HandlerRequest, HandlerResponse, HandlerResult, RouteModule } from '../../core/types.js';
import type { ResolvedConfig } from '../../core/config.js';
import { SubscriptionWebhooksError, isSubscriptionWebhooksError } from '../../core/errors.js';
import type { InboxRecord, NotificationReads } from '../../store/types.js';
import { googleActionRows } from './actions.js';
import type { GooglePlayApi } from './api.js';
import { applyGoogleNotification, type GoogleInput } from './apply.js';
import type { createPushTokenVerifier } from './oidc.js';
import {
  developerNotificationSchema,
  ONE_TIME_NOTIFICATION_TYPES,
  pushBodySchema,
  SUBSCRIPTION_NOTIFICATION_TYPES,
  type DeveloperNotification,
  type VoidedPurchase,
} from './schemas.js';

/** The Google settings the route needs (the resolved `google` config). */
export type GoogleRouteConfig = NonNullable<ResolvedConfig['google']>;

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' } as const;

/** The answer to a push: `{ processed, messageId, notificationType, duplicate? }` (Pub/Sub reads only the status). */
const answer = (status: number, body: Record<string, unknown>): HandlerResponse => ({ status, headers: { ...JSON_HEADERS }, body: JSON.stringify(body) });

/** The wire format of an error: `{ "error": { "code", "message" } }`; only the stable code and a safe message leave the server. */
export function googleErrorResponse(e: SubscriptionWebhooksError): HandlerResponse {
  const message = e.code === 'INTERNAL' ? 'Internal error' : e.code === 'STORE_UNAVAILABLE' ? 'Storage unavailable, retry later' : e.message;
  return answer(e.status, { error: { code: e.code, message } });
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** `message.data`: standard base64 of a JSON DeveloperNotification. @throws BODY_INVALID */
export function decodeDeveloperNotification(data: string): DeveloperNotification {
  if (!BASE64.test(data)) throw new SubscriptionWebhooksError('BODY_INVALID', '`message.data` is not base64');
  const json = parseJsonObject(readRawBody(new Uint8Array(Buffer.from(data, 'base64')), Number.MAX_SAFE_INTEGER));
  const parsed = developerNotificationSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new SubscriptionWebhooksError('BODY_INVALID', `\`message.data.${issue.path.join('.')}\` ${issue.message}`);
  }
  const n = parsed.data;
  const kinds = [n.subscriptionNotification, n.oneTimeProductNotification, n.voidedPurchaseNotification, n.testNotification].filter((k) => k !== undefined);
  if (kinds.length > 1) throw new SubscriptionWebhooksError('BODY_INVALID', '`message.data` holds more than one notification');
  return n;
}

/** The notification's type name: `SUBSCRIPTION_*`, `ONE_TIME_PRODUCT_*`, `VOIDED_PURCHASE`, `TEST_NOTIFICATION`, else `UNKNOWN`. */
export function googleNotificationType(n: DeveloperNotification): string {
  if (n.subscriptionNotification)
    return (
      SUBSCRIPTION_NOTIFICATION_TYPES[n.subscriptionNotification.notificationType] ?? `SUBSCRIPTION_NOTIFICATION_${n.subscriptionNotification.notificationType}`
    );
  if (n.oneTimeProductNotification)
    return (
      ONE_TIME_NOTIFICATION_TYPES[n.oneTimeProductNotification.notificationType] ??
      `ONE_TIME_PRODUCT_NOTIFICATION_${n.oneTimeProductNotification.notificationType}`
    );
  if (n.voidedPurchaseNotification) return 'VOIDED_PURCHASE';
  if (n.testNotification) return 'TEST_NOTIFICATION';
  return 'UNKNOWN';
}

/** The inbox id under which a purchase token linked into a chain records its contract (`linkedPurchaseToken`). */
export const tokenAliasId = (purchaseToken: string) => `token:${purchaseToken}`;

/** The contract of a purchase token: its own subscription, else the one it was linked into, else its `linkedPurchaseToken`'s. */
export async function contractOfToken(ctx: CoreContext, token: string, linked: string | undefined): Promise<string> {
  if (await ctx.store.getSubscription('google', token)) return token;
  const alias = await ctx.store.getNotification('google', tokenAliasId(token));
  const named = (alias?.payload as { contract_id?: unknown } | null)?.contract_id;
  if (typeof named === 'string') return named;
  if (linked) return contractOfToken(ctx, linked, undefined);
  return token;
}

/** Pages of the Voided Purchases API read for one notification: 3,000 voided purchases around its time. */
const VOIDED_PAGES = 3;
/** How far before the notification's time the voided purchase is looked for. */
const VOIDED_WINDOW_MS = 86_400_000;
/** Longest wait, in ms, for the Voided Purchases API before the refund is applied without its reason. */
const VOIDED_BUDGET_MS = 3_000;

/**
 * The Voided Purchases API's record of `orderId` (its `voidedReason`, `voidedSource`, `voidedQuantity`),
 * which the notification does not carry. The refund is a fact without it: when Google cannot say (not
 * listed yet, the API's low quota, an outage), the notification is applied with its `refundType` alone.
 */
async function findVoidedPurchase(ctx: CoreContext, api: GooglePlayApi, orderId: string, eventTime: number): Promise<VoidedPurchase | null> {
  // The lookup sits between the push and its answer: bounded, so a rate-limited or slow API never holds the
  // answer past Pub/Sub's ack deadline (a late answer is a redelivery, and another lookup). Past the budget
  // the refund is applied with its refundType; the lookup left running ends on its own, its answer unused.
  let timer: ReturnType<typeof setTimeout> | undefined;
  const budget = new Promise<null>((resolve) => {
    timer = setTimeout(() => {
      ctx.logger.warn({ orderId, budgetMs: VOIDED_BUDGET_MS }, 'Google Play Voided Purchases API too slow: refund_reason from refundType');
      resolve(null);
    }, VOIDED_BUDGET_MS);
    timer.unref?.();
  });
  return Promise.race([lookVoidedPurchase(ctx, api, orderId, eventTime), budget]).finally(() => clearTimeout(timer));
}

async function lookVoidedPurchase(ctx: CoreContext, api: GooglePlayApi, orderId: string, eventTime: number): Promise<VoidedPurchase | null> {
  const now = Date.now();
  // Google lists at most 30 days back.
  const startTime = Math.max(Math.min(eventTime, now) - VOIDED_WINDOW_MS, now - 30 * 86_400_000 + 60_000);
  let pageToken: string | undefined;
  try {
    for (let page = 0; page < VOIDED_PAGES; page++) {
      const answer = await api.listVoidedPurchases({ startTime, endTime: now, ...(pageToken ? { pageToken } : {}) });
      const found = answer.voidedPurchases.find((p) => p.orderId === orderId);
      if (found) return found;
      pageToken = answer.nextPageToken;
      if (!pageToken) break;
    }
    ctx.logger.warn({ orderId }, 'Google Play voided purchase not listed by the Voided Purchases API: refund_reason from refundType');
  } catch (err) {
    ctx.logger.warn({ orderId, err }, 'Google Play Voided Purchases API failed: refund_reason from refundType');
  }
  return null;
}

/** JSON round trip: as stored and emitted (no undefined). */
const plain = (value: unknown) => JSON.parse(JSON.stringify(value)) as Record<string, unknown>;

/**
 * `POST /api/google/rtdn`: Google Play Real-time developer notifications, pushed by Cloud Pub/Sub.
 * Authenticates the push's OIDC token, decodes `message.data`, checks `packageName`, reads the purchase
 * from the Play Developer API, and commits (inbox by `messageId` + state + events) before answering 200.
 */
export function googleRoute(
  ctx: CoreContext,
  deps: () => { config: GoogleRouteConfig; verifier: ReturnType<typeof createPushTokenVerifier>; api: GooglePlayApi | null },
): RouteModule {
  return {
    errorResponse: googleErrorResponse,
    async handle(request: HandlerRequest): Promise<HandlerResult> {
      const { config, verifier, api } = deps();
      const text = readRawBody(request.rawBody, ctx.config.maxBodyBytes);
      await verifier.verify(getHeader(request.headers, 'authorization'));
      const parsedBody = pushBodySchema.safeParse(parseJsonObject(text));
      if (!parsedBody.success) {
        const issue = parsedBody.error.issues[0]!;
        throw new SubscriptionWebhooksError('BODY_INVALID', `\`${issue.path.join('.') || 'body'}\` ${issue.message}`);
      }
      const message = parsedBody.data.message;
      const messageId = message.messageId ?? message.message_id;
      if (!messageId) throw new SubscriptionWebhooksError('BODY_INVALID', '`message.messageId` is required');
      const n = decodeDeveloperNotification(message.data);
      if (n.packageName !== config.packageName)
        throw new SubscriptionWebhooksError('GOOGLE_PACKAGE_MISMATCH', `packageName ${n.packageName} is not this app (${config.packageName})`);
      const type = googleNotificationType(n);
      const duplicate = (): HandlerResult => ({ response: answer(200, { processed: true, messageId, notificationType: type, duplicate: true }), events: [] });
      // Redelivered: answered without asking Google again (the inbox insert below still decides a race).
      if (await ctx.store.getNotification('google', messageId)) return duplicate();

      const fetchedAt = Date.now();
      const input: GoogleInput = {
        notificationId: messageId,
        notificationType: type,
        eventTime: n.eventTimeMillis,
        fetchedAt,
        decoded: {},
        purchaseToken: null,
        transfer: ctx.config.transfer,
      };
      const missing = async <T>(read: () => Promise<T>): Promise<T | null> => {
        try {
          return await read();
        } catch (err) {
          // A purchase Google no longer knows (or never did): recorded, no state to apply. Anything else is retried.
          if (isSubscriptionWebhooksError(err, 'GOOGLE_API_NOT_FOUND')) {
            ctx.logger.warn({ messageId, type, err }, 'Google Play does not know this purchase: the notification is recorded without state');
            return null;
          }
          throw err;
        }
      };
      let purchase: unknown;
      let voidedPurchase: VoidedPurchase | null = null;
      let reads: NotificationReads = {};
      if (n.subscriptionNotification) {
        const token = n.subscriptionNotification.purchaseToken;
        input.purchaseToken = token;
        const s = api ? await missing(() => api.getSubscription(token)) : null;
        if (s) {
          input.subscription = s;
          input.contractId = await contractOfToken(ctx, token, s.linkedPurchaseToken);
          reads = { subscriptions: [{ provider: 'google', contractId: input.contractId }] };
        }
        purchase = s;
      } else if (n.oneTimeProductNotification) {
        const { purchaseToken, sku } = n.oneTimeProductNotification;
        input.purchaseToken = purchaseToken;
        const p = api ? await missing(() => api.getProduct(sku, purchaseToken)) : null;
        if (p) input.product = { productId: sku, purchase: p };
        purchase = p;
      } else if (n.voidedPurchaseNotification) {
        const v = n.voidedPurchaseNotification;
        input.purchaseToken = v.purchaseToken;
        const found = api ? await findVoidedPurchase(ctx, api, v.orderId, n.eventTimeMillis) : null;
        input.voided = {
          orderId: v.orderId,
          productType: v.productType,
          refundType: v.refundType,
          ...(found?.voidedReason !== undefined ? { voidedReason: found.voidedReason } : {}),
          ...(found?.voidedSource !== undefined ? { voidedSource: found.voidedSource } : {}),
          ...(found?.voidedQuantity !== undefined ? { voidedQuantity: found.voidedQuantity } : {}),
        };
        voidedPurchase = found;
        if (v.productType === 1) input.contractId = await contractOfToken(ctx, v.purchaseToken, undefined);
        reads = { orderTradeNos: [{ provider: 'google', tradeNo: v.orderId }] };
      }
      input.decoded = plain({
        ...n,
        ...(purchase ? { purchase } : {}),
        ...(voidedPurchase ? { voidedPurchase } : {}),
        messageId,
        publishTime: message.publishTime ?? message.publish_time,
      });

      const outcome = await commitGoogleNotification(ctx, input, { rawBody: rawBodyText(request.rawBody), reads, hasPurchase: Boolean(purchase) });
      if (outcome.duplicate) return duplicate();
      return { response: answer(200, { processed: true, messageId, notificationType: type }), events: outcome.events };
    },
  };
}

/**
 * Commits one Google notification (or a state read the lifecycle sweep made): the inbox row, the state
 * change and its events, the alias row of a purchase token linked into a chain, and the acknowledgement
 * row of a purchase that needs one, in one transaction.
 */
export async function commitGoogleNotification(
  ctx: CoreContext,
  input: GoogleInput,
  options: { rawBody: string; reads: NotificationReads; hasPurchase: boolean },
) {
  const receivedAt = new Date().toISOString();
  const inbox: InboxRecord = {
    provider: 'google',
    notification_id: input.notificationId,
    notification_type: input.notificationType,
    subtype: null,
    environment:
      input.subscription?.testPurchase !== undefined || input.product?.purchase.purchaseType === 0 ? 'Sandbox' : options.hasPurchase ? 'Production' : null,
    signed_at: new Date(input.eventTime).toISOString(),
    received_at: receivedAt,
    raw_body: options.rawBody,
    payload: input.decoded,
  };
  let actionRows = 0;
  const outcome = await commitNotification(
    ctx,
    inbox,
    async (tx) => {
      const applied = await applyGoogleNotification(tx, input, ctx.logger);
      // Later notifications for a token linked into a chain find its contract through this row. It has no
      // provider date (signed_at null), so pruning by date keeps it for as long as the contract lives.
      if (input.contractId && input.purchaseToken && input.contractId !== input.purchaseToken && input.subscription) {
        await tx.insertNotification({
          provider: 'google',
          notification_id: tokenAliasId(input.purchaseToken),
          notification_type: 'PURCHASE_TOKEN_LINK',
          subtype: null,
          environment: inbox.environment,
          signed_at: null,
          received_at: receivedAt,
          raw_body: '',
          payload: { contract_id: input.contractId, linked_purchase_token: input.subscription.linkedPurchaseToken ?? null },
        });
      }
      const rows = applied.acknowledge ? googleActionRows(applied.events, new Date(ctx.config.delivery.now()).toISOString()) : [];
      if (rows.length > 0) await tx.insertDeliveries(rows);
      actionRows = rows.length;
      return applied;
    },
    options.reads,
  );
  if (!outcome.duplicate && actionRows > 0) ctx.onDeliveriesEnqueued?.();
  return outcome;
}
