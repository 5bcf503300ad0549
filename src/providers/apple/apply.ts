import type { DomainEvent, EventType, Order, Subscription, SubscriptionStatus } from '../../events/types.js';
import { ENDED_STATUSES, previousAttributes } from '../../core/previous-attributes.js';
import { stableId } from '../../core/ids.js';
import { SubscriptionWebhooksError } from '../../core/errors.js';
import type { Logger } from '../../core/logger.js';
import type { StoreTransaction } from '../../store/types.js';
import { paidOrder } from '../paid-order.js';
import { notificationEmitter } from '../notification-events.js';

/** The fields of a decoded Apple transaction that drive state (a structural subset of the full schema). */
export interface AppleTransactionFields {
  transactionId: string;
  originalTransactionId: string;
  productId: string;
  type?: string;
  purchaseDate?: number;
  expiresDate?: number;
  appAccountToken?: string;
  offerType?: number;
  offerDiscountType?: string;
  /** PURCHASE or RENEWAL */
  transactionReason?: string;
  price?: number;
  currency?: string;
  environment?: string;
  signedDate?: number;
  /** Set when Apple refunded or revoked the transaction. */
  revocationDate?: number;
  /** 0 other, 1 an issue with the app. */
  revocationReason?: number;
  /** REFUND_FULL, REFUND_PRORATED or FAMILY_REVOKE. */
  revocationType?: string;
  /** For REFUND_PRORATED: the refunded share of the price, in thousandths of a percent (50000 = 50 %). */
  revocationPercentage?: number;
  /** PURCHASED or FAMILY_SHARED */
  inAppOwnershipType?: string;
  /** The app download transaction (the Apple account's copy of the app): what RESCIND_CONSENT names. */
  appTransactionId?: string;
  /** BILLED_UPFRONT or MONTHLY (a monthly plan with a 12-month commitment). */
  billingPlanType?: string;
  /** The commitment of a monthly plan: billingPeriodNumber, totalBillingPeriods, commitmentPrice, commitmentExpiresDate. */
  commitmentInfo?: Record<string, unknown>;
  /** Advanced Commerce API apps: descriptors (displayName, description), items, ... */
  advancedCommerceInfo?: Record<string, unknown>;
  /** MIGRATION: the subscription's original transaction id before it was migrated. */
  previousOriginalTransactionId?: string;
}

/** The fields of decoded renewal info that drive state. */
export interface AppleRenewalFields {
  autoRenewStatus?: number;
  autoRenewProductId?: string;
  productId?: string;
  gracePeriodExpiresDate?: number;
  renewalDate?: number;
  /** The price of the next renewal, in milliunits of `currency` (a pending price change shows here first). */
  renewalPrice?: number;
  currency?: string;
  renewalBillingPlanType?: string;
  /** The commitment at renewal: commitmentRenewalPrice, commitmentRenewalDate, commitmentAutoRenewStatus, ... */
  commitmentInfo?: Record<string, unknown>;
  advancedCommerceInfo?: Record<string, unknown>;
}

/** What the handler hands to {@link applyAppleNotification}. */
export interface AppleInput {
  /** Inbox id: the notificationUUID, or `tx:<transactionId>` for the client transaction route. */
  notificationId: string;
  notificationType: string;
  subtype: string | null;
  /** ms since epoch: Apple's signedDate (or purchaseDate for a client transaction). */
  effectiveDate: number;
  environment: string | null;
  transaction?: AppleTransactionFields;
  renewalInfo?: AppleRenewalFields;
  /** The decoded payload, as emitted in provider.notification.received. */
  decoded: Record<string, unknown>;
  /** The authenticated user, when the app told us (client transaction route). */
  userId?: string;
  /** ms since epoch: when the request arrived (a client transaction that expired before it grants nothing). */
  receivedAt?: number;
  /** Config `transfer`: what a new purchase through another user's order does to the subscription. @default "to_new_user" */
  transfer?: 'to_new_user' | 'keep';
}

/** Result of applying one notification inside a transaction. */
export interface AppleApplyResult {
  events: DomainEvent[];
  userId: string | null;
  transactionId: string | null;
  /** The subscription after the change, when one was touched. */
  subscription: Subscription | null;
  /** True when the notification was older than state already applied, or its transaction was already recorded. */
  stale: boolean;
}

const ENDED = ENDED_STATUSES;
/**
 * The types whose meaning we map (EVENTS.md § Apple) plus our own CLIENT_TRANSACTION. Any other type,
 * a documented one we do not map (EXTERNAL_PURCHASE_TOKEN) or one Apple adds later, is recorded
 * and emits `provider.notification.received` only: it changes no order and no subscription, even when
 * it carries a transaction, because we cannot know what it means. RESCIND_CONSENT carries no transaction
 * and is applied by {@link applyRescindConsent}.
 */
const STATEFUL_TYPES: ReadonlySet<string> = new Set([
  'SUBSCRIBED',
  'DID_RENEW',
  'DID_CHANGE_RENEWAL_PREF',
  'DID_CHANGE_RENEWAL_STATUS',
  'DID_FAIL_TO_RENEW',
  'GRACE_PERIOD_EXPIRED',
  'EXPIRED',
  'REFUND',
  'REVOKE',
  'REFUND_DECLINED',
  'REFUND_REVERSED',
  'CONSUMPTION_REQUEST',
  'PRICE_INCREASE',
  'RENEWAL_EXTENDED',
  'RENEWAL_EXTENSION',
  'OFFER_REDEEMED',
  'ONE_TIME_CHARGE',
  'CLIENT_TRANSACTION',
  'METADATA_UPDATE',
  'MIGRATION',
  'PRICE_CHANGE',
]);

/** Advanced Commerce notifications: they change what the plan looks like (name, price, commitment), never its status. */
const PLAN_UPDATE_TYPES: ReadonlySet<string> = new Set(['METADATA_UPDATE', 'MIGRATION', 'PRICE_CHANGE']);

/**
 * What Apple's transaction and renewal info say about the plan, kept on `Subscription.metadata` under
 * these keys (absent when Apple does not say): `billing_plan_type` and `commitment` (the current
 * transaction's `billingPlanType` / `commitmentInfo`), `renewal_billing_plan_type` and
 * `renewal_commitment` (the renewal info's), `pending_price` (`{ amount, currency }`: the price of the
 * next renewal, `renewalPrice`), `descriptors` (Advanced Commerce `displayName` / `description`),
 * `app_transaction_id`, `previous_contract_id` (MIGRATION's `previousOriginalTransactionId`).
 */
export const PLAN_FIELDS = [
  'billing_plan_type',
  'commitment',
  'renewal_billing_plan_type',
  'renewal_commitment',
  'pending_price',
  'descriptors',
  'previous_contract_id',
] as const;

function planFacts(t: AppleTransactionFields | undefined, r: AppleRenewalFields | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const set = (k: string, v: unknown): void => {
    if (v !== undefined && v !== null) out[k] = v;
  };
  set('app_transaction_id', t?.appTransactionId);
  set('billing_plan_type', t?.billingPlanType);
  set('commitment', t?.commitmentInfo);
  set('previous_contract_id', t?.previousOriginalTransactionId);
  set('renewal_billing_plan_type', r?.renewalBillingPlanType);
  set('renewal_commitment', r?.commitmentInfo);
  if (r?.renewalPrice !== undefined) out.pending_price = { amount: r.renewalPrice, currency: r.currency ?? t?.currency ?? null };
  const d = ((r?.advancedCommerceInfo ?? t?.advancedCommerceInfo) as { descriptors?: { displayName?: unknown; description?: unknown } } | undefined)
    ?.descriptors;
  if (d && (d.displayName !== undefined || d.description !== undefined))
    out.descriptors = { display_name: d.displayName ?? null, description: d.description ?? null };
  return out;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const AUTO_RENEWABLE = 'Auto-Renewable Subscription';

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/** Fields compared for `previous_attributes`. */
const TRACKED: readonly (keyof Subscription)[] = [
  'status',
  'product_id',
  'auto_renew',
  'current_period_start',
  'current_period_end',
  'pending_product_id',
  'latest_transaction_id',
  'user_id',
];

const diff = (before: Subscription, after: Subscription) => previousAttributes(before, after, TRACKED);

/** Apple `revocationReason` as `Order.refund_reason`. */
const appleRefundReason = (reason: number | undefined): string | null => (reason === 1 ? 'app_issue' : reason === 0 ? 'other' : null);

/**
 * The refunded part of `price` for a prorated refund: `price × percentage / 100000`, computed on
 * integers (BigInt) and rounded half up to the unit, so it is exact for any price Apple reports.
 * Null when either is unknown.
 */
export function proratedRefund(price: number | null, percentage: number | undefined): number | null {
  if (price === null || percentage === undefined || !Number.isSafeInteger(price) || !Number.isSafeInteger(percentage)) return null;
  const p = BigInt(Math.min(Math.max(percentage, 0), 100000));
  return Number((BigInt(price) * p * 2n + 100000n) / 200000n);
}

/** A charged plan change: Apple's immediate upgrade, which bills a new transaction at once. */
const isChargedUpgrade = (type: string, subtype: string | null): boolean =>
  subtype === 'UPGRADE' && (type === 'DID_CHANGE_RENEWAL_PREF' || type === 'OFFER_REDEEMED');

/**
 * Applies one verified Apple notification (or client transaction) to orders and subscriptions,
 * per EVENTS.md § Apple, and returns the domain events to append to the outbox.
 * Pure apart from `tx`: safe to run again when the store retries a transaction.
 */
export async function applyAppleNotification(tx: StoreTransaction, input: AppleInput, logger: Logger): Promise<AppleApplyResult> {
  const livemode = input.environment === 'Production';
  const created = new Date(input.effectiveDate).toISOString();
  const events: DomainEvent[] = [];
  const source = {
    notification_id: input.notificationId,
    notification_type: input.notificationType,
    ...(input.subtype ? { subtype: input.subtype } : {}),
  };
  const emit = notificationEmitter(events, { provider: 'apple', notificationId: input.notificationId, created, livemode, source });

  emit('provider.notification.received', input.decoded);
  const result: AppleApplyResult = { events, userId: input.userId ?? null, transactionId: null, subscription: null, stale: false };

  if (input.notificationType === 'TEST') {
    emit('test.notification', input.decoded);
    return result;
  }
  const t = input.transaction;
  if (!t) return result;
  result.transactionId = t.transactionId;
  if (!STATEFUL_TYPES.has(input.notificationType)) return result;
  const client = input.notificationType === 'CLIENT_TRANSACTION';
  // What the app's client posts is taken for what it is: a refunded or revoked transaction, or one whose
  // period ended before it arrived, is recorded with that state and grants nothing.
  const revokedAs: Order['status'] | null =
    client && t.revocationDate !== undefined ? (t.inAppOwnershipType === 'FAMILY_SHARED' ? 'revoked' : 'refunded') : null;
  const expiredOnArrival = client && !revokedAs && t.expiresDate !== undefined && t.expiresDate <= (input.receivedAt ?? input.effectiveDate);

  const isSubscription = t.type === AUTO_RENEWABLE || (t.type === undefined && t.expiresDate !== undefined);
  const before = isSubscription ? await tx.getSubscription('apple', t.originalTransactionId) : null;
  // Apple delivers out of order. An older notification than the state already applied changes no
  // subscription state; the payment or refund it reports is still a fact, so its order is recorded.
  const stale = before?.last_event_at ? input.effectiveDate < Date.parse(before.last_event_at) : false;

  // Orders are locked as they are read: by `no` first, then by transaction id, the order every store
  // uses (pgStore's combined load too), so two units of work never wait for each other in a cycle.
  const orderByToken = t.appAccountToken ? await tx.getOrderByNo(t.appAccountToken) : null;
  let orderByTrade = await tx.getOrderByTradeNo('apple', t.transactionId);
  // Who owns the purchase (seed 003's order-based flow: the app's order for the appAccountToken says).
  const owner = before?.user_id ?? orderByToken?.user_id ?? orderByTrade?.user_id ?? null;
  if (client && input.userId && owner !== null && owner !== input.userId) {
    // A signed-in user posting someone else's transaction learns nothing about it and changes nothing.
    throw new SubscriptionWebhooksError('SUBSCRIPTION_OWNED_BY_OTHER_USER', 'This purchase belongs to another user');
  }
  // An ownerless purchase (an offer code, or bought before sign-in: no appAccountToken) is bound to the
  // first signed-in user who posts it; the subscription row is locked, so two posters cannot both win.
  const userId = owner ?? input.userId ?? null;
  result.userId = userId;
  const binds = client && owner === null && userId !== null;
  if (binds && orderByTrade) {
    orderByTrade = { ...orderByTrade, user_id: userId, updated: created };
    await tx.saveOrder(orderByTrade);
  }
  if (stale) {
    result.stale = true;
    result.subscription = before;
  }

  // Transfer (config `transfer`): a new purchase (never a renewal) made through an order of another user
  // of the app moves the subscription to that user. `metadata.owner_since` (the purchase date that set the
  // owner) keeps it right whatever the order of delivery: an older purchase never takes it back.
  // A purchase: SUBSCRIBED or a charged upgrade whose transaction is not a renewal (status changes, expiries
  // and refunds carry the latest transaction too, and say nothing about who bought it).
  const purchase = (input.notificationType === 'SUBSCRIBED' || isChargedUpgrade(input.notificationType, input.subtype)) && t.transactionReason !== 'RENEWAL';
  const ownerSince = typeof before?.metadata?.owner_since === 'string' ? Date.parse(before.metadata.owner_since) : null;
  const buyer = orderByToken?.user_id ?? null;
  const newerPurchase = !client && purchase && !revokedAs && t.purchaseDate !== undefined && (ownerSince === null || t.purchaseDate > ownerSince);
  const transferTo =
    newerPurchase && before && before.user_id !== null && buyer !== null && buyer !== before.user_id && (input.transfer ?? 'to_new_user') === 'to_new_user'
      ? buyer
      : null;
  // The latest purchase by the owner (or with no order to say otherwise) moves owner_since forward, so an
  // older purchase by someone else, delivered later, cannot move the subscription.
  const confirmsOwner = newerPurchase && !transferTo && (buyer === null || buyer === (before?.user_id ?? userId));

  /** Finds or creates the paid order for this transaction. `fresh` is false when it had already been recorded. */
  const payOrder = async (): Promise<{ order: Order; fresh: boolean }> => {
    if (orderByTrade && orderByTrade.status !== 'pending') return { order: orderByTrade, fresh: false };
    // The app's pending order (its no = appAccountToken) pays for a purchase, never for a renewal: renewals
    // carry the same appAccountToken, and may arrive before the purchase they follow.
    const isRenewal = t.transactionReason ? t.transactionReason === 'RENEWAL' : input.notificationType === 'DID_RENEW';
    const claimable = orderByToken && orderByToken.status === 'pending' && !isRenewal ? orderByToken : null;
    const base = orderByTrade ?? claimable;
    if (t.appAccountToken && !orderByToken && !orderByTrade && !isRenewal) {
      logger.warn(
        { appAccountToken: t.appAccountToken, transactionId: t.transactionId },
        'appAccountToken matches no order: recording the purchase without a user (create orders with hooks.orders.create)',
      );
    }
    const order = paidOrder(
      {
        provider: 'apple',
        tradeNo: t.transactionId,
        at: created,
        no: t.appAccountToken && !orderByToken && !isRenewal ? t.appAccountToken : undefined,
        originNo: t.originalTransactionId,
        userId: base?.user_id ?? userId,
        productId: t.productId,
        amount: t.price ?? base?.amount,
        currency: t.currency ?? base?.currency,
        paidAt: iso(t.purchaseDate) ?? created,
      },
      base,
    );
    // A new order is a plain insert: if another entry point recorded this transaction meanwhile, the
    // insert fails and the whole unit of work runs again, then finding the order (not fresh: no order.paid).
    if (base) await tx.saveOrder(order);
    else await tx.insertOrder(order);
    return { order, fresh: true };
  };

  /**
   * A refund-family status change this notification would make, when the order was already written by
   * something newer (Apple redelivers a failed REFUND hours after the REFUND_REVERSED that undid it; an
   * app posts a JWS it fetched while the transaction was refunded). Such a change is not made, and its
   * event is not emitted: the order keeps what the newer notification decided.
   */
  const refundChange = { superseded: false };
  // When this notification speaks for the order: the revocation itself for a client-posted transaction.
  const speaksAt = client && t.revocationDate !== undefined ? t.revocationDate : input.effectiveDate;
  /** The order for a refund-family notification, created from the transaction if we never saw it. `touch`: record this notification's date even when nothing else changes. */
  const existingOrder = async (status?: Order['status'], changes: Partial<Order> = {}, touch = false): Promise<Order> => {
    const current = orderByTrade ?? (await payOrder()).order;
    if (status && status !== current.status && Date.parse(current.updated) > speaksAt) {
      refundChange.superseded = true;
      return current;
    }
    const order: Order = { ...current, ...(status ? { status } : {}), ...changes };
    if (!touch && (Object.keys(order) as (keyof Order)[]).every((k) => order[k] === current[k])) return current;
    order.updated = created;
    await tx.saveOrder(order);
    return order;
  };

  /** REFUND: prorated (a part, access kept) or full (all of it). */
  const prorated = t.revocationType === 'REFUND_PRORATED';
  const refundOrder = async (): Promise<Order> => {
    const reason = appleRefundReason(t.revocationReason);
    const current = orderByTrade ?? (await payOrder()).order;
    if (prorated) {
      // A prorated refund never undoes a full one that arrived first.
      if (current.status === 'refunded' || current.status === 'revoked') return current;
      const refunded = proratedRefund(current.amount ?? t.price ?? null, t.revocationPercentage);
      return existingOrder('partially_refunded', { amount_refunded: refunded, refund_reason: reason ?? current.refund_reason });
    }
    return existingOrder('refunded', { amount_refunded: current.amount, refund_reason: reason ?? current.refund_reason });
  };
  const revokeOrder = (): Promise<Order> =>
    existingOrder('revoked', { refund_reason: appleRefundReason(t.revocationReason) ?? orderByTrade?.refund_reason ?? null });

  if (!isSubscription || stale) {
    switch (input.notificationType) {
      case 'ONE_TIME_CHARGE':
      case 'CLIENT_TRANSACTION':
      case 'SUBSCRIBED':
      case 'DID_RENEW':
      case 'DID_CHANGE_RENEWAL_PREF':
      case 'OFFER_REDEEMED': {
        // An upgrade's transaction is a charge even when it arrives after newer state: its order is recorded.
        if (
          (input.notificationType === 'DID_CHANGE_RENEWAL_PREF' || input.notificationType === 'OFFER_REDEEMED') &&
          !isChargedUpgrade(input.notificationType, input.subtype)
        )
          break;
        if (revokedAs) {
          // Recorded as refunded; Apple's REFUND / REVOKE notification is the one that emits order.refunded.
          await existingOrder(revokedAs);
          break;
        }
        const { order, fresh } = await payOrder();
        if (fresh) emit('order.paid', order);
        else result.stale = true;
        break;
      }
      case 'REFUND':
      case 'REVOKE': {
        const refunded = input.notificationType === 'REFUND' ? await refundOrder() : await revokeOrder();
        if (!refundChange.superseded) emit('order.refunded', refunded);
        break;
      }
      case 'REFUND_DECLINED':
        emit('refund.declined', await existingOrder());
        break;
      case 'REFUND_REVERSED':
        // Touched even when already paid: a REFUND older than this reversal, delivered later, is then superseded.
        emit('refund.reversed', await existingOrder('paid', { amount_refunded: null }, true));
        break;
      case 'CONSUMPTION_REQUEST':
        emit('refund.requested', await existingOrder());
        break;
    }
    if (transferTo && before) {
      // Ownership is not lifecycle state: a purchase older than the state applied still moves the subscription.
      const moved: Subscription = { ...before, user_id: transferTo, metadata: { ...before.metadata, owner_since: iso(t.purchaseDate) }, updated: created };
      await tx.saveSubscription(moved);
      result.subscription = moved;
      result.userId = transferTo;
      emit('customer.subscription.transferred', moved, { user_id: before.user_id });
    } else if (confirmsOwner && before && !binds) {
      // Bookkeeping only (no event, `updated` unchanged): the state itself is not older than it was.
      const kept: Subscription = { ...before, metadata: { ...before.metadata, owner_since: iso(t.purchaseDate) } };
      await tx.saveSubscription(kept);
      result.subscription = kept;
    }
    if (binds && before) {
      // Ownership is not lifecycle state: an older transaction still binds an ownerless subscription.
      const bound: Subscription = { ...before, user_id: userId, updated: created };
      await tx.saveSubscription(bound);
      result.subscription = bound;
      emit('customer.subscription.updated', bound, { user_id: null });
    }
    return result;
  }

  // From here on: an auto-renewable subscription, keyed by originalTransactionId.
  const r = input.renewalInfo;
  const sourceOrder = orderByToken ?? orderByTrade;
  const next: Subscription = before
    ? { ...before }
    : {
        id: stableId('sub', 'apple', t.originalTransactionId),
        provider: 'apple',
        contract_id: t.originalTransactionId,
        user_id: userId,
        product_id: t.productId,
        status: 'active',
        auto_renew: true,
        current_period_start: null,
        current_period_end: null,
        pending_product_id: null,
        environment: t.environment ?? input.environment ?? 'Production',
        latest_transaction_id: null,
        notification_settings: sourceOrder?.subscription_data?.notification_settings ?? null,
        setting_id: typeof sourceOrder?.metadata?.setting_id === 'string' ? sourceOrder.metadata.setting_id : null,
        metadata: {},
        last_event_at: null,
        created,
        updated: created,
      };
  if (next.user_id === null && userId !== null) next.user_id = userId;
  if (next.notification_settings === null && sourceOrder?.subscription_data?.notification_settings) {
    next.notification_settings = sourceOrder.subscription_data.notification_settings;
  }
  if (next.setting_id === null && typeof sourceOrder?.metadata?.setting_id === 'string') next.setting_id = sourceOrder.metadata.setting_id;

  // Facts carried by every notification: the latest transaction and renewal preferences.
  const isNewer = !next.current_period_end || (t.expiresDate ?? 0) >= Date.parse(next.current_period_end);
  if (isNewer) {
    next.product_id = t.productId;
    next.current_period_start = iso(t.purchaseDate) ?? next.current_period_start;
    next.current_period_end = iso(t.expiresDate) ?? next.current_period_end;
    next.latest_transaction_id = t.transactionId;
  }
  if (r) {
    if (r.autoRenewStatus !== undefined) next.auto_renew = r.autoRenewStatus === 1;
    if (r.autoRenewProductId !== undefined) next.pending_product_id = r.autoRenewProductId !== next.product_id ? r.autoRenewProductId : null;
  }
  // What the plan looks like (price at renewal, commitment, names): the transaction's part only from the latest transaction.
  const facts = planFacts(isNewer ? t : undefined, r);
  if (Object.keys(facts).length > 0) next.metadata = { ...next.metadata, ...facts };
  const isTrial = t.offerDiscountType === 'FREE_TRIAL' || (t.offerType === 1 && t.price === 0);
  const activeStatus: SubscriptionStatus = isTrial ? 'trialing' : 'active';

  const out: EventType[] = [];
  // A holder object, not two `let`s: TypeScript does not see assignments made inside the closures below.
  const pay: { order: Order | null; event: 'order.paid' | 'order.refunded' | 'refund.declined' | 'refund.reversed' | 'refund.requested' | null } = {
    order: null,
    event: null,
  };

  /** An immediate upgrade: a new, charged transaction for the higher product, in effect now. */
  const upgrade = async (): Promise<void> => {
    const paid = await payOrder();
    if (paid.fresh) {
      pay.order = paid.order;
      pay.event = 'order.paid';
    }
    next.status = activeStatus;
    next.product_id = t.productId;
    next.pending_product_id = null;
    // Already recorded (the app's client posted the upgrade's transaction first) and already on this
    // product: nothing new to say.
    if (!paid.fresh && before?.product_id === t.productId && before.status === activeStatus) {
      result.stale = true;
      return;
    }
    out.push('customer.subscription.upgraded');
  };

  const startOrRenew = async (kind: 'start' | 'renew' | 'recover'): Promise<void> => {
    const paid = await payOrder();
    if (!paid.fresh) {
      // Seed 003: a transaction we already recorded (e.g. the app's client sent it first) means nothing new.
      result.stale = true;
      return;
    }
    pay.order = paid.order;
    pay.event = 'order.paid';
    next.status = activeStatus;
    // A purchase or renewal signed after consent was rescinded (a new consent) grants again.
    const rescinded = next.metadata.consent_rescinded_at;
    if (typeof rescinded === 'string' && input.effectiveDate > Date.parse(rescinded)) {
      const { consent_rescinded_at: _gone, ...rest } = next.metadata;
      next.metadata = rest;
    }
    if (kind === 'start') out.push('customer.subscription.started');
    if (kind === 'recover') out.push('customer.subscription.recovered');
    if (kind !== 'start') out.push('customer.subscription.renewed');
  };

  if (transferTo && before) {
    next.user_id = transferTo;
    next.metadata = { ...next.metadata, owner_since: iso(t.purchaseDate) };
  } else if (confirmsOwner) {
    next.metadata = { ...next.metadata, owner_since: iso(t.purchaseDate) };
  }

  const type = input.notificationType;
  const sub = input.subtype;
  switch (type) {
    case 'SUBSCRIBED':
      await startOrRenew('start');
      if (sub === 'RESUBSCRIBE' || before) next.auto_renew = r?.autoRenewStatus !== undefined ? r.autoRenewStatus === 1 : true;
      break;
    case 'CLIENT_TRANSACTION':
      if (revokedAs) {
        pay.order = await existingOrder(revokedAs); // no order event: Apple's REFUND / REVOKE emits it
        if (!before) {
          next.status = revokedAs;
          next.auto_renew = false;
        }
      } else if (expiredOnArrival) {
        // A period that ended before the post: the payment is a fact, the access is over.
        const paid = await payOrder();
        if (paid.fresh) {
          pay.order = paid.order;
          pay.event = 'order.paid';
        } else result.stale = true;
        if (!before) {
          next.status = 'expired';
          next.auto_renew = false;
        }
      } else await startOrRenew(!before || ENDED.includes(before.status) ? 'start' : 'renew');
      if (binds && before && out.length === 0) out.push('customer.subscription.updated');
      break;
    case 'DID_RENEW':
      await startOrRenew(sub === 'BILLING_RECOVERY' ? 'recover' : 'renew');
      break;
    case 'DID_CHANGE_RENEWAL_PREF':
      if (sub === 'UPGRADE') {
        await upgrade();
      } else if (sub === 'DOWNGRADE') {
        next.pending_product_id = r?.autoRenewProductId ?? next.pending_product_id;
        out.push('customer.subscription.updated');
      } else {
        next.pending_product_id = null;
        out.push('customer.subscription.updated');
      }
      break;
    case 'DID_CHANGE_RENEWAL_STATUS':
      if (sub === 'AUTO_RENEW_DISABLED') {
        next.auto_renew = false;
        if (next.status === 'active' || next.status === 'trialing') next.status = 'canceled';
        out.push('customer.subscription.canceled');
      } else if (sub === 'AUTO_RENEW_ENABLED') {
        next.auto_renew = true;
        if (next.status === 'canceled') next.status = activeStatus;
        out.push('customer.subscription.reactivated');
      }
      break;
    case 'DID_FAIL_TO_RENEW':
      next.status = sub === 'GRACE_PERIOD' ? 'in_grace_period' : 'past_due';
      // Access lasts until the grace period ends (entitlements read it from here).
      if (sub === 'GRACE_PERIOD' && r?.gracePeriodExpiresDate !== undefined)
        next.metadata = { ...next.metadata, grace_period_expires_at: iso(r.gracePeriodExpiresDate) };
      out.push('customer.subscription.past_due');
      break;
    case 'GRACE_PERIOD_EXPIRED':
    case 'EXPIRED':
      next.status = 'expired';
      next.auto_renew = false;
      out.push('customer.subscription.deleted');
      break;
    case 'REFUND':
    case 'REVOKE':
      pay.order = type === 'REFUND' ? await refundOrder() : await revokeOrder();
      pay.event = 'order.refunded';
      if (refundChange.superseded) {
        pay.event = null; // a newer notification already decided this order (and this subscription)
        break;
      }
      // A prorated refund returns part of the money; the subscription goes on.
      if (type === 'REFUND' && pay.order.status === 'partially_refunded') break;
      next.status = type === 'REFUND' ? 'refunded' : 'revoked';
      next.auto_renew = false;
      out.push('customer.subscription.deleted');
      break;
    case 'REFUND_DECLINED':
      pay.order = await existingOrder();
      pay.event = 'refund.declined';
      break;
    case 'REFUND_REVERSED':
      pay.order = await existingOrder('paid', { amount_refunded: null }, true);
      pay.event = 'refund.reversed';
      if (ENDED.includes(next.status)) {
        next.status = activeStatus;
        out.push('customer.subscription.started');
      }
      break;
    case 'CONSUMPTION_REQUEST':
      pay.order = await existingOrder();
      pay.event = 'refund.requested';
      break;
    case 'OFFER_REDEEMED':
      if (sub === 'UPGRADE') await upgrade();
      else out.push('customer.subscription.updated');
      break;
    case 'PRICE_INCREASE':
    case 'RENEWAL_EXTENDED':
    case 'RENEWAL_EXTENSION':
      out.push('customer.subscription.updated');
      break;
    case 'METADATA_UPDATE':
    case 'MIGRATION':
    case 'PRICE_CHANGE': {
      // `updated` only when something a user would see changed: the plan's name, price, commitment or product.
      const seen = (x: Subscription | null) => [x?.product_id, x?.pending_product_id, x?.current_period_end, ...PLAN_FIELDS.map((k) => x?.metadata?.[k])];
      if (before && !same(seen(before), seen(next))) out.push('customer.subscription.updated');
      break;
    }
    default:
      // Unmapped or future types: facts from the transaction are kept, no lifecycle event.
      break;
  }

  // The move comes first: the lifecycle events that follow are the new owner's.
  if (transferTo && before) out.unshift('customer.subscription.transferred');
  next.last_event_at = before?.last_event_at && Date.parse(before.last_event_at) > input.effectiveDate ? before.last_event_at : created;
  next.updated = created;
  await tx.saveSubscription(next);
  result.subscription = next;
  result.userId = next.user_id;

  let previous = before ? diff(before, next) : undefined;
  // Event order as EVENTS.md lists it: created first; refund-family order events before the lifecycle
  // event they cause; order.paid after the lifecycle event it pays for.
  if (!before) emit('customer.subscription.created', next);
  const orderFirst = pay.event !== null && pay.event !== 'order.paid';
  if (orderFirst && pay.order && pay.event) emit(pay.event, pay.order);
  if (PLAN_UPDATE_TYPES.has(type) && before) {
    // The plan fields that changed, with their values before (in `metadata`, where they live).
    const changed = PLAN_FIELDS.filter((k) => !same(before.metadata?.[k], next.metadata?.[k]));
    if (changed.length > 0) previous = { ...previous, metadata: Object.fromEntries(changed.map((k) => [k, before.metadata?.[k] ?? null])) };
  }
  for (const e of out) {
    const prev =
      e === 'customer.subscription.upgraded'
        ? { product_id: before?.product_id ?? t.productId }
        : e === 'customer.subscription.transferred'
          ? { user_id: before?.user_id ?? null }
          : previous;
    emit(e, next, e === 'customer.subscription.created' ? undefined : prev);
  }
  if (!orderFirst && pay.order && pay.event) emit(pay.event, pay.order);
  return result;
}
