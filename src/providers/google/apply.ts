import type { DomainEvent, EventObjectMap, EventType, Order, Subscription, SubscriptionStatus } from '../../events/types.js';
import { ENDED_STATUSES, previousAttributes } from '../../core/previous-attributes.js';
import { eventId, stableId } from '../../core/ids.js';
import { SubscriptionWebhooksError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { StoreTransaction } from '../../store/types.js';
import { paidOrder } from '../paid-order.js';
import { SUBSCRIPTION_NOTIFICATION_TYPES, type GoogleMoney, type ProductPurchase, type SubscriptionPurchaseV2 } from './schemas.js';

/** What the route hands to {@link applyGoogleNotification}. */
export interface GoogleInput {
  /** The Pub/Sub `messageId` (the inbox id). */
  notificationId: string;
  /** `SUBSCRIPTION_RENEWED`, `ONE_TIME_PRODUCT_PURCHASED`, `VOIDED_PURCHASE`, `TEST_NOTIFICATION`, or `UNKNOWN_<n>`. */
  notificationType: string;
  /** ms since epoch: the notification's `eventTimeMillis`. */
  eventTime: number;
  /** ms since epoch: when the purchase's state was read from the Play Developer API. */
  fetchedAt: number;
  /** What `provider.notification.received` carries: the DeveloperNotification, with the purchase read from the API. */
  decoded: Record<string, unknown>;
  purchaseToken: string | null;
  /** The contract (the first purchase token of its `linkedPurchaseToken` chain), for a subscription. */
  contractId?: string;
  subscription?: SubscriptionPurchaseV2;
  product?: { productId: string; purchase: ProductPurchase };
  /** The notification's `voidedPurchaseNotification`, with `voidedReason`, `voidedSource` and `voidedQuantity` from the Voided Purchases API when it listed the purchase. */
  voided?: { orderId: string; productType?: number; refundType?: number; voidedReason?: number; voidedSource?: number; voidedQuantity?: number };
  /** Config `transfer`. */
  transfer?: 'to_new_user' | 'keep';
  /** The app's signed-in user who posted the purchase token (the client route): an ownerless purchase is bound to them. */
  userId?: string;
}

/** Result of applying one notification inside a transaction. */
export interface GoogleApplyResult {
  events: DomainEvent[];
  subscription: Subscription | null;
  order: Order | null;
  /** The purchase needs acknowledging (after the commit). */
  acknowledge: { kind: 'subscription' | 'product'; productId: string; purchaseToken: string } | null;
  /** True when the notification changed no state (older than the state applied, or about a replaced purchase token). */
  stale: boolean;
}

const TRACKED: readonly (keyof Subscription)[] = [
  'status',
  'product_id',
  'auto_renew',
  'current_period_start',
  'current_period_end',
  'latest_transaction_id',
  'user_id',
];
const iso = (v: string | number | undefined | null): string | null =>
  v === undefined || v === null || v === '' ? null : new Date(typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v).toISOString();

/** Google `Money` in milliunits (the unit Apple reports): `units × 1000 + nanos / 10⁶`, rounded. */
export function googleMilliunits(m: GoogleMoney | undefined): number | null {
  if (!m || (m.units === undefined && m.nanos === undefined)) return null;
  const units = Number(m.units ?? 0);
  if (!Number.isSafeInteger(units)) return null;
  return units * 1000 + Math.round((m.nanos ?? 0) / 1e6);
}

/** `voidedReason` (Voided Purchases API) as `Order.refund_reason`. */
const VOIDED_REASONS: Readonly<Record<number, string>> = {
  0: 'other',
  1: 'remorse',
  2: 'not_received',
  3: 'defective',
  4: 'accidental_purchase',
  5: 'fraud',
  6: 'friendly_fraud',
  7: 'chargeback',
  8: 'unacknowledged_purchase',
};

/** `voidedSource` (Voided Purchases API): who voided the purchase. */
const VOIDED_SOURCES: Readonly<Record<number, string>> = { 0: 'user', 1: 'developer', 2: 'google' };

/** Why a voided purchase was voided: its `voidedReason` when given, else its `refundType`. */
export function googleRefundReason(v: { refundType?: number; voidedReason?: number }): string {
  if (v.voidedReason !== undefined) return VOIDED_REASONS[v.voidedReason] ?? `google_${v.voidedReason}`;
  return v.refundType === 2 ? 'partial_refund' : 'full_refund';
}

/** The subscription status a `subscriptionState` means (`null`: no subscription yet, e.g. a pending purchase). */
function statusOf(s: SubscriptionPurchaseV2, expiry: number | null, at: number): SubscriptionStatus | null {
  switch (s.subscriptionState) {
    case 'SUBSCRIPTION_STATE_ACTIVE':
      return 'active';
    case 'SUBSCRIPTION_STATE_CANCELED':
      return expiry !== null && expiry > at ? 'canceled' : 'expired';
    case 'SUBSCRIPTION_STATE_IN_GRACE_PERIOD':
      return 'in_grace_period';
    case 'SUBSCRIPTION_STATE_ON_HOLD':
      return 'past_due';
    case 'SUBSCRIPTION_STATE_PAUSED':
    case 'SUBSCRIPTION_STATE_EXPIRED':
      return 'expired';
    default:
      return null;
  }
}

/** The `subscriptionState`s in which a notification type means what it says; in any other, newer state has overtaken it. */
const EXPECTED: Readonly<Record<string, readonly string[]>> = {
  SUBSCRIPTION_CANCELED: ['SUBSCRIPTION_STATE_CANCELED', 'SUBSCRIPTION_STATE_EXPIRED'],
  SUBSCRIPTION_ON_HOLD: ['SUBSCRIPTION_STATE_ON_HOLD'],
  SUBSCRIPTION_IN_GRACE_PERIOD: ['SUBSCRIPTION_STATE_IN_GRACE_PERIOD'],
  SUBSCRIPTION_RESTARTED: ['SUBSCRIPTION_STATE_ACTIVE'],
  SUBSCRIPTION_PAUSED: ['SUBSCRIPTION_STATE_PAUSED'],
  SUBSCRIPTION_EXPIRED: ['SUBSCRIPTION_STATE_EXPIRED', 'SUBSCRIPTION_STATE_CANCELED'],
  SUBSCRIPTION_REVOKED: ['SUBSCRIPTION_STATE_EXPIRED', 'SUBSCRIPTION_STATE_CANCELED'],
};
/** `CLIENT_PURCHASE`: a purchase token the app's client posted (the client route). */
const PAYMENT_TYPES = new Set(['SUBSCRIPTION_PURCHASED', 'SUBSCRIPTION_RENEWED', 'SUBSCRIPTION_RECOVERED', 'CLIENT_PURCHASE']);
const PURCHASE_TYPES = new Set(['SUBSCRIPTION_PURCHASED', 'CLIENT_PURCHASE']);

/** A signed-in poster of someone else's purchase learns nothing about it and changes nothing. */
function checkOwner(owner: string | null, caller: string | undefined): void {
  if (caller !== undefined && owner !== null && owner !== caller)
    throw new SubscriptionWebhooksError('SUBSCRIPTION_OWNED_BY_OTHER_USER', 'This purchase belongs to another user');
}
const KNOWN_SUBSCRIPTION_TYPES: ReadonlySet<string> = new Set([...Object.values(SUBSCRIPTION_NOTIFICATION_TYPES), 'CLIENT_PURCHASE']);
const UPDATE_TYPES = new Set([
  'SUBSCRIPTION_PRICE_CHANGE_CONFIRMED',
  'SUBSCRIPTION_PRICE_CHANGE_UPDATED',
  'SUBSCRIPTION_DEFERRED',
  'SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED',
]);

/**
 * Applies one Google Play notification, with the purchase state read from the Play Developer API, to
 * subscriptions and orders, and returns the domain events. Pure apart from `tx`: safe to run again when
 * the store retries a transaction.
 */
export async function applyGoogleNotification(tx: StoreTransaction, input: GoogleInput, logger: Logger): Promise<GoogleApplyResult> {
  const events: DomainEvent[] = [];
  const result: GoogleApplyResult = { events, subscription: null, order: null, acknowledge: null, stale: false };
  const created = new Date(input.eventTime).toISOString();
  const livemode = !(input.subscription?.testPurchase !== undefined || input.product?.purchase.purchaseType === 0);
  const source = { notification_id: input.notificationId, notification_type: input.notificationType };
  const emit = <T extends EventType>(type: T, object: EventObjectMap[T], previous?: Partial<EventObjectMap[T]>): void => {
    events.push({
      id: eventId('google', input.notificationId, events.length),
      type,
      created,
      provider: 'google',
      livemode,
      data: previous ? { object, previous_attributes: previous } : { object },
      source,
    } as DomainEvent);
  };
  emit('provider.notification.received', input.decoded);

  if (input.notificationType === 'TEST_NOTIFICATION') {
    emit('test.notification', input.decoded);
    return result;
  }

  /**
   * The paid order for `orderId`: recorded already (`fresh` false), claimed from the app's pending order, or new.
   * `buyer`: the user of the app's order named by `obfuscatedExternalAccountId` (a purchase's, never a renewal's).
   */
  const payOrder = async (o: {
    orderId: string;
    productId: string;
    originNo: string | null;
    accountId: string | undefined;
    renewal: boolean;
    amount: number | null;
    currency: string | null;
    paidAt: string | null;
    userId: string | null;
    /** Facts of the purchase kept on the order (a plan change's). */
    metadata?: Record<string, unknown>;
  }): Promise<{ order: Order; fresh: boolean; buyer: string | null }> => {
    const byNo = o.accountId ? await tx.getOrderByNo(o.accountId) : null;
    const byTrade = await tx.getOrderByTradeNo('google', o.orderId);
    const buyer = byNo && !o.renewal ? byNo.user_id : null;
    checkOwner(byTrade?.user_id ?? buyer, input.userId);
    if (byTrade && byTrade.status !== 'pending') {
      // An ownerless order (bought before sign-in) is bound to the first signed-in poster.
      if (byTrade.user_id === null && input.userId !== undefined) {
        const bound = { ...byTrade, user_id: input.userId, updated: created };
        await tx.saveOrder(bound);
        return { order: bound, fresh: false, buyer };
      }
      return { order: byTrade, fresh: false, buyer };
    }
    // The app's pending order (its no = obfuscatedExternalAccountId) pays for a purchase, never for a renewal.
    const claimable = byNo && byNo.status === 'pending' && !o.renewal ? byNo : null;
    if (o.accountId && !byNo && !o.renewal)
      logger.warn(
        { obfuscatedExternalAccountId: o.accountId, orderId: o.orderId },
        'obfuscatedExternalAccountId matches no order: recording the purchase without a user (create orders with hooks.orders.create)',
      );
    const base = byTrade ?? claimable;
    // A plan change's facts join what the recorded order (or the app's pending one) already keeps.
    const recorded = base && o.metadata ? { ...base, metadata: { ...base.metadata, ...o.metadata } } : base;
    const order = paidOrder(
      {
        provider: 'google',
        tradeNo: o.orderId,
        at: created,
        originNo: o.originNo,
        userId: base?.user_id ?? o.userId ?? buyer ?? input.userId,
        productId: o.productId,
        amount: o.amount ?? base?.amount,
        currency: o.currency ?? base?.currency,
        paidAt: o.paidAt ?? created,
        metadata: o.metadata,
      },
      recorded,
    );
    if (base) await tx.saveOrder(order);
    else await tx.insertOrder(order);
    return { order, fresh: true, buyer };
  };

  if (input.voided) {
    const v = input.voided;
    const current = await tx.getOrderByTradeNo('google', v.orderId);
    const reason = googleRefundReason(v);
    // A voided purchase we never saw paid is still a fact: the order is recorded, refunded.
    const base: Order =
      current ??
      paidOrder({ provider: 'google', tradeNo: v.orderId, at: created, originNo: v.productType === 1 ? (input.contractId ?? input.purchaseToken) : null });
    if (base.status === 'refunded' && base.refund_reason === reason) {
      result.order = base;
      result.stale = true;
      return result;
    }
    const metadata = { ...base.metadata };
    if (v.voidedSource !== undefined) metadata.google_voided_source = VOIDED_SOURCES[v.voidedSource] ?? `google_${v.voidedSource}`;
    if (v.voidedQuantity !== undefined) metadata.google_voided_quantity = v.voidedQuantity;
    const order: Order = { ...base, status: 'refunded', amount_refunded: base.amount, refund_reason: reason, metadata, updated: created };
    if (current) await tx.saveOrder(order);
    else await tx.insertOrder(order);
    result.order = order;
    emit('order.refunded', order);
    return result;
  }

  if (input.product) {
    const { productId, purchase } = input.product;
    // Pending (2) is not paid yet; canceled (1) is a pending purchase that never completed.
    if (
      (input.notificationType !== 'ONE_TIME_PRODUCT_PURCHASED' && input.notificationType !== 'CLIENT_PURCHASE') ||
      purchase.purchaseState !== 0 ||
      !purchase.orderId
    )
      return result;
    const paid = await payOrder({
      orderId: purchase.orderId,
      productId,
      originNo: null,
      accountId: purchase.obfuscatedExternalAccountId,
      renewal: false,
      amount: null,
      currency: null,
      paidAt: iso(purchase.purchaseTimeMillis),
      userId: null,
    });
    result.order = paid.order;
    if (paid.fresh) emit('order.paid', paid.order);
    else result.stale = true;
    if (purchase.acknowledgementState === 0 && input.purchaseToken) result.acknowledge = { kind: 'product', productId, purchaseToken: input.purchaseToken };
    return result;
  }

  const s = input.subscription;
  // A type the library does not know (one Google adds later) changes no state: we cannot know what it means.
  if (!s || !input.contractId || !input.purchaseToken || !KNOWN_SUBSCRIPTION_TYPES.has(input.notificationType)) return result;
  const type = input.notificationType;
  const item = s.lineItems[0]!;
  const expiry = item.expiryTime ? Date.parse(item.expiryTime) : null;
  const status = statusOf(s, expiry, input.fetchedAt);
  const before = await tx.getSubscription('google', input.contractId);
  checkOwner(before?.user_id ?? null, input.userId);
  const replaced = s.canceledStateContext?.replacementCancellation !== undefined;
  const currentToken = typeof before?.metadata?.google_purchase_token === 'string' ? before.metadata.google_purchase_token : null;
  // About a purchase token the chain has moved past (an upgrade replaced it): its end is not the contract's end.
  const replacedTokens = Array.isArray(before?.metadata?.google_replaced_tokens) ? (before.metadata.google_replaced_tokens as unknown[]) : [];
  const superseded = replaced || replacedTokens.includes(input.purchaseToken);
  // Two reads of the API may commit in either order: the later read is the truth.
  const fetchedBefore = typeof before?.metadata?.google_fetched_at === 'string' ? Date.parse(before.metadata.google_fetched_at) : null;
  const older = fetchedBefore !== null && input.fetchedAt < fetchedBefore;

  const userHint = before?.user_id ?? null;
  const orderId = item.latestSuccessfulOrderId ?? s.latestOrderId;
  const renewal = orderId !== undefined && /\.\.\d+$/.test(orderId);
  let paid: { order: Order; fresh: boolean; buyer: string | null } | null = null;
  const paying = PAYMENT_TYPES.has(type) && orderId !== undefined && status !== null;
  const recurring = googleMilliunits(item.autoRenewingPlan?.recurringPrice);
  // An upgrade or downgrade: a new purchase token of a running contract with another product or base plan.
  // Google charges a prorated amount (or nothing) that subscriptionsv2 does not report: recurringPrice is
  // what the plan costs from its next renewal, so the order records no amount and keeps the plan's facts.
  const basePlan = item.offerDetails?.basePlanId ?? null;
  const previousPlan = typeof before?.metadata?.google_base_plan_id === 'string' ? before.metadata.google_base_plan_id : null;
  const planChange =
    before !== null &&
    !ENDED_STATUSES.includes(before.status) &&
    !renewal &&
    currentToken !== null &&
    input.purchaseToken !== currentToken &&
    // Only a token that replaces the current one: an original purchase read after its upgrade is not a plan change.
    s.linkedPurchaseToken === currentToken &&
    (before.product_id !== item.productId || (basePlan !== null && previousPlan !== null && basePlan !== previousPlan));
  if (paying) {
    const byNoOwner = s.externalAccountIdentifiers?.obfuscatedExternalAccountId;
    paid = await payOrder({
      orderId,
      productId: item.productId,
      originNo: input.contractId,
      accountId: byNoOwner,
      renewal: renewal || !PURCHASE_TYPES.has(type),
      amount: planChange ? null : recurring,
      currency: item.autoRenewingPlan?.recurringPrice?.currencyCode ?? null,
      paidAt: renewal ? null : iso(s.startTime),
      userId: userHint,
      ...(planChange
        ? {
            metadata: {
              google_plan_change: {
                from_product_id: before.product_id,
                from_base_plan_id: previousPlan,
                linked_purchase_token: s.linkedPurchaseToken ?? currentToken,
              },
              google_recurring_price: recurring,
              google_base_plan_id: basePlan,
              ...(item.offerDetails?.offerId ? { google_offer_id: item.offerDetails.offerId } : {}),
            },
          }
        : {}),
    });
    result.order = paid.order;
  }
  // Transfer (config `transfer`): a new purchase (never a renewal, never the app's client post) through an
  // order of another user of the app moves the contract to that user. `metadata.owner_since` (the startTime
  // of the purchase that set the owner) keeps it right whatever the order of delivery.
  const startedAt = s.startTime ? Date.parse(s.startTime) : null;
  const ownerSince = typeof before?.metadata?.owner_since === 'string' ? Date.parse(before.metadata.owner_since) : null;
  const buyer = paid?.buyer ?? null;
  const newerPurchase = type === 'SUBSCRIPTION_PURCHASED' && paid !== null && !renewal && startedAt !== null && (ownerSince === null || startedAt > ownerSince);
  const transferTo =
    newerPurchase && before && before.user_id !== null && buyer !== null && buyer !== before.user_id && (input.transfer ?? 'to_new_user') === 'to_new_user'
      ? buyer
      : null;
  // The latest purchase by the owner (or with no order to say otherwise) moves owner_since forward.
  const confirmsOwner = newerPurchase && !transferTo && (buyer === null || before === null || buyer === before.user_id);
  if (
    status !== null &&
    s.acknowledgementState === 'ACKNOWLEDGEMENT_STATE_PENDING' &&
    (status === 'active' || status === 'canceled' || status === 'in_grace_period')
  ) {
    result.acknowledge = { kind: 'subscription', productId: item.productId, purchaseToken: input.purchaseToken };
  }
  if (status === null || superseded || older) {
    result.stale = true;
    result.subscription = before;
    if (paid?.fresh) emit('order.paid', paid.order);
    if (transferTo && before) {
      // Ownership is not lifecycle state: a purchase read before the state applied still moves the contract.
      const moved: Subscription = {
        ...before,
        user_id: transferTo,
        metadata: { ...before.metadata, owner_since: new Date(startedAt!).toISOString() },
        updated: created,
      };
      await tx.saveSubscription(moved);
      result.subscription = moved;
      emit('customer.subscription.transferred', moved, { user_id: before.user_id });
      return result;
    }
    // Ownership is not lifecycle state: an ownerless subscription is bound to its poster even from an older read.
    if (before && before.user_id === null && input.userId !== undefined) {
      const bound: Subscription = { ...before, user_id: input.userId, updated: created };
      await tx.saveSubscription(bound);
      result.subscription = bound;
      emit('customer.subscription.updated', bound, { user_id: null });
    }
    return result;
  }

  const orderUser = paid && paid.fresh ? paid.order.user_id : null;
  const next: Subscription = before
    ? { ...before, metadata: { ...before.metadata } }
    : {
        id: stableId('sub', 'google', input.contractId),
        provider: 'google',
        contract_id: input.contractId,
        user_id: orderUser,
        product_id: item.productId,
        status,
        auto_renew: item.autoRenewingPlan?.autoRenewEnabled ?? false,
        current_period_start: null,
        current_period_end: null,
        pending_product_id: null,
        environment: livemode ? 'Production' : 'Sandbox',
        latest_transaction_id: null,
        notification_settings: null,
        setting_id: null,
        metadata: {},
        last_event_at: null,
        created,
        updated: created,
      };
  if (!before && paid?.fresh) {
    const o = paid.order;
    next.notification_settings = o.subscription_data?.notification_settings ?? null;
    next.setting_id = typeof o.metadata?.setting_id === 'string' ? o.metadata.setting_id : null;
  }
  if (next.user_id === null && orderUser !== null) next.user_id = orderUser;
  if (transferTo) next.user_id = transferTo;
  if (transferTo || confirmsOwner) next.metadata.owner_since = new Date(startedAt!).toISOString();
  if (next.user_id === null && input.userId !== undefined) next.user_id = input.userId;
  // Facts of the snapshot: the state Google holds now.
  const previousProduct = before?.product_id ?? item.productId;
  next.product_id = item.productId;
  next.status = status;
  next.auto_renew = item.autoRenewingPlan?.autoRenewEnabled ?? false;
  if (expiry !== null) next.current_period_end = new Date(expiry).toISOString();
  if (paid?.fresh) {
    next.current_period_start = paid.order.paid_at;
    next.latest_transaction_id = orderId ?? next.latest_transaction_id;
  } else if (!before) next.current_period_start = iso(s.startTime);
  if (orderId !== undefined && next.latest_transaction_id === null) next.latest_transaction_id = orderId;
  if (currentToken !== null && currentToken !== input.purchaseToken) next.metadata.google_replaced_tokens = [...replacedTokens, currentToken].slice(-20);
  next.metadata.google_purchase_token = input.purchaseToken;
  next.metadata.google_fetched_at = new Date(input.fetchedAt).toISOString();
  if (item.offerDetails?.basePlanId) next.metadata.google_base_plan_id = item.offerDetails.basePlanId;
  if (status === 'in_grace_period' && expiry !== null) next.metadata.grace_period_expires_at = new Date(expiry).toISOString();
  else delete next.metadata.grace_period_expires_at;
  if (s.subscriptionState === 'SUBSCRIPTION_STATE_PAUSED') next.metadata.google_paused = true;
  else delete next.metadata.google_paused;
  if (type === 'SUBSCRIPTION_REVOKED') {
    next.status = 'revoked';
    next.auto_renew = false;
  }
  const wasEnded = before !== null && ENDED_STATUSES.includes(before.status);
  // One end is enough: a revoked subscription that then expires stays revoked.
  if (wasEnded && ENDED_STATUSES.includes(next.status)) next.status = before.status;

  const out: EventType[] = [];
  const matches = !EXPECTED[type] || EXPECTED[type]!.includes(s.subscriptionState);
  const upgradedFrom = before && input.purchaseToken !== currentToken && previousProduct !== item.productId ? previousProduct : null;
  switch (type) {
    case 'SUBSCRIPTION_PURCHASED':
    case 'CLIENT_PURCHASE':
    case 'SUBSCRIPTION_RENEWED':
    case 'SUBSCRIPTION_RECOVERED':
      if (!paid?.fresh) break; // the order was recorded already: nothing new happened
      if (!before || wasEnded) out.push('customer.subscription.started');
      else if (upgradedFrom !== null) out.push('customer.subscription.upgraded');
      else if (type === 'SUBSCRIPTION_PURCHASED' || (type === 'CLIENT_PURCHASE' && !renewal)) out.push('customer.subscription.updated');
      else {
        if (type === 'SUBSCRIPTION_RECOVERED') out.push('customer.subscription.recovered');
        out.push('customer.subscription.renewed');
      }
      break;
    case 'SUBSCRIPTION_CANCELED':
      if (matches) out.push(next.status === 'expired' ? 'customer.subscription.deleted' : 'customer.subscription.canceled');
      break;
    case 'SUBSCRIPTION_ON_HOLD':
    case 'SUBSCRIPTION_IN_GRACE_PERIOD':
      if (matches) out.push('customer.subscription.past_due');
      break;
    case 'SUBSCRIPTION_RESTARTED':
      if (matches) out.push('customer.subscription.reactivated');
      break;
    case 'SUBSCRIPTION_PAUSED':
    case 'SUBSCRIPTION_EXPIRED':
    case 'SUBSCRIPTION_REVOKED':
      if (matches && !wasEnded) out.push('customer.subscription.deleted');
      break;
    default:
      if (UPDATE_TYPES.has(type)) out.push('customer.subscription.updated');
  }
  const previous = before ? previousAttributes(before, next, TRACKED) : undefined;
  // A notification newer state has overtaken still brings the subscription to that state: say what changed.
  if (out.length === 0 && before && previous && !paid?.fresh) out.push('customer.subscription.updated');
  // The move comes first: the lifecycle events that follow are the new owner's.
  if (transferTo) out.unshift('customer.subscription.transferred');
  if (!before) out.unshift('customer.subscription.created');

  next.last_event_at = before?.last_event_at && Date.parse(before.last_event_at) > input.eventTime ? before.last_event_at : created;
  next.updated = created;
  await tx.saveSubscription(next);
  result.subscription = next;
  for (const e of out) {
    const prev =
      e === 'customer.subscription.upgraded'
        ? { product_id: upgradedFrom! }
        : e === 'customer.subscription.transferred'
          ? { user_id: before!.user_id }
          : e === 'customer.subscription.created' || (e === 'customer.subscription.started' && !before)
            ? undefined
            : previous;
    emit(e, next, prev);
  }
  if (paid?.fresh) emit('order.paid', paid.order);
  return result;
}
