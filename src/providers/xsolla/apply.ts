import type { DomainEvent, EventType, Order, Subscription, SubscriptionStatus } from '../../events/types.js';
import { ENDED_STATUSES, previousAttributes } from '../../core/previous-attributes.js';
import { stableId } from '../../core/ids.js';
import type { Logger } from '../../core/logger.js';
import type { StoreTransaction } from '../../store/types.js';
import { paidOrder } from '../paid-order.js';
import { notificationEmitter } from '../notification-events.js';
import type { XsollaSubscriptionNotification, XsollaTransactionNotification } from './schemas.js';

/** What the route hands to {@link applyXsollaNotification}. */
export interface XsollaInput {
  /** The inbox id (see `xsollaNotificationId`). */
  notificationId: string;
  notificationType: string;
  /** The validated body, for mapped types. */
  subscription?: XsollaSubscriptionNotification;
  transaction?: XsollaTransactionNotification;
  /** The body as received (JSON), emitted in `provider.notification.received`. */
  decoded: Record<string, unknown>;
  /** `transaction.dry_run = 1`. */
  dryRun: boolean;
  /** ISO 8601: when we received it (Xsolla's subscription webhooks carry no date of their own). */
  receivedAt: string;
  /** ms since epoch, to tell a past `date_end` from a future one. */
  now: number;
}

/** Result of applying one notification inside a transaction. */
export interface XsollaApplyResult {
  events: DomainEvent[];
  subscription: Subscription | null;
  order: Order | null;
  /** True when the notification was older than the state already recorded and changed nothing. */
  stale: boolean;
}

const ENDED = ENDED_STATUSES;
const TRACKED: readonly (keyof Subscription)[] = ['status', 'product_id', 'auto_renew', 'current_period_start', 'current_period_end', 'user_id'];

const iso = (date: string | null | undefined): string | null => (date ? new Date(date).toISOString() : null);
const ms = (date: string | null | undefined): number | null => (date ? Date.parse(date) : null);

const diff = (before: Subscription, after: Subscription) => previousAttributes(before, after, TRACKED);

/**
 * An Xsolla amount (major units, float or decimal string) in milliunits of its currency, the unit
 * Apple reports: one vocabulary for `Order.amount` across providers, exact for up to three decimals
 * (a fourth rounds half up), and an integer, which the store's Float column holds exactly.
 */
export function toMilliunits(amount: number | string | null | undefined): number | null {
  if (amount === null || amount === undefined) return null;
  // String(number) is the shortest round-trip form, i.e. the decimal Xsolla wrote (9.99 → "9.99").
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(typeof amount === 'number' ? String(amount) : amount.trim());
  if (!m) return null;
  const frac = (m[3] ?? '').padEnd(4, '0');
  let milli = Number(m[2]) * 1000 + Number(frac.slice(0, 3));
  if (Number(frac[3]) >= 5) milli += 1;
  return m[1] && milli !== 0 ? -milli : milli;
}

/** Xsolla's documented refund codes (`refund_details.code`) as `Order.refund_reason`. */
const REFUND_REASONS: Readonly<Record<string, string>> = {
  1: 'canceled_by_request',
  2: 'chargeback',
  3: 'integration_error',
  4: 'potential_fraud',
  5: 'test_payment',
  6: 'invoice_expired',
  7: 'payment_system_fraud',
  8: 'canceled_by_payment_system',
  9: 'requested_by_customer',
  10: 'requested_by_merchant',
  11: 'fraud_reported_by_account_holder',
  12: 'friendly_fraud',
  13: 'duplicate',
};

/** `refund_details.code` → `Order.refund_reason` (an undocumented code: `xsolla_<code>`). */
export function xsollaRefundReason(code: number | string | null | undefined): string | null {
  if (code === null || code === undefined || String(code).trim() === '') return null;
  const c = String(code).trim();
  return REFUND_REASONS[c] ?? `xsolla_${c}`;
}

/** The notification settings an order asks for, for a subscription that has none of its own yet. */
function settingsFrom(order: Order, sub: Subscription): Pick<Subscription, 'notification_settings' | 'setting_id'> {
  const setting = order.metadata?.setting_id;
  return {
    notification_settings: sub.notification_settings ?? order.subscription_data?.notification_settings ?? null,
    setting_id: sub.setting_id ?? (typeof setting === 'string' ? setting : null),
  };
}

/**
 * Applies one verified Xsolla notification to subscriptions and orders per EVENTS.md § Xsolla and
 * returns the domain events to append to the outbox. Pure apart from `tx`: safe to run again when
 * the store retries a transaction.
 */
export async function applyXsollaNotification(tx: StoreTransaction, input: XsollaInput, logger: Logger): Promise<XsollaApplyResult> {
  const events: DomainEvent[] = [];
  const result: XsollaApplyResult = { events, subscription: null, order: null, stale: false };
  const source = { notification_id: input.notificationId, notification_type: input.notificationType };
  let livemode = !input.dryRun;
  let created = input.receivedAt;
  // created and livemode are settled as the notification is read: each event takes them as they are then.
  const emit = notificationEmitter(events, {
    provider: 'xsolla',
    notificationId: input.notificationId,
    source,
    get created() {
      return created;
    },
    get livemode() {
      return livemode;
    },
  });

  if (input.subscription) {
    const n = input.subscription;
    const s = n.subscription;
    const contractId = String(s.subscription_id);
    const before = await tx.getSubscription('xsolla', contractId);
    // A subscription first seen through a dry-run payment stays a test subscription.
    if (before?.environment === 'Sandbox') livemode = false;
    if (n.notification_type === 'create_subscription' && s.date_create) created = iso(s.date_create)!;
    emit('provider.notification.received', input.decoded);

    const planId = String(s.plan_id);
    const extra = {
      ...(s.product_id !== undefined && s.product_id !== null ? { xsolla_product_id: String(s.product_id) } : {}),
      ...(s.tags ? { xsolla_tags: s.tags } : {}),
    };
    const isTrial = (s.trial?.value ?? 0) > 0;
    const next: Subscription = before
      ? { ...before, metadata: { ...before.metadata, ...extra } }
      : {
          id: stableId('sub', 'xsolla', contractId),
          provider: 'xsolla',
          contract_id: contractId,
          user_id: String(n.user.id),
          product_id: planId,
          status: isTrial && n.notification_type === 'create_subscription' ? 'trialing' : 'active',
          auto_renew: true,
          current_period_start: iso(s.date_create),
          current_period_end: iso(s.date_next_charge),
          pending_product_id: null,
          environment: input.dryRun ? 'Sandbox' : 'Production',
          latest_transaction_id: null,
          notification_settings: null,
          setting_id: null,
          metadata: extra,
          last_event_at: null,
          created,
          updated: created,
        };
    if (next.user_id === null) next.user_id = String(n.user.id);
    // Per-subscription notification settings come with the app's order (its `no` was the payment's
    // external_id); a subscription first seen after that payment finds it by the subscription id.
    if (!before && tx.getLatestOrderByOriginNo) {
      const order = await tx.getLatestOrderByOriginNo('xsolla', contractId);
      if (order) Object.assign(next, settingsFrom(order, next));
    }

    const out: EventType[] = [];
    const prevEnd = ms(before?.current_period_end);
    const nextCharge = ms(s.date_next_charge);
    let stale = before !== null && ENDED.includes(before.status);
    switch (n.notification_type) {
      case 'create_subscription':
        if (!before) out.push('customer.subscription.started');
        else if (ENDED.includes(before.status)) {
          // A create for a subscription that had ended: it runs again.
          stale = false;
          next.status = isTrial ? 'trialing' : 'active';
          next.auto_renew = true;
          next.product_id = planId;
          next.current_period_start = iso(s.date_create) ?? next.current_period_start;
          next.current_period_end = iso(s.date_next_charge) ?? next.current_period_end;
          out.push('customer.subscription.started');
        } else stale = true;
        break;
      case 'update_subscription': {
        if (stale) break;
        if (before && nextCharge !== null && prevEnd !== null && nextCharge < prevEnd) {
          stale = true;
          break;
        }
        const moved = nextCharge !== null && (prevEnd === null || nextCharge > prevEnd || !before);
        const planChanged = before !== null && planId !== before.product_id;
        if (planChanged) {
          next.product_id = planId;
          // Xsolla does not say which plan ranks higher: a change it charged for at once (a new period
          // started with it) is the immediate upgrade; one without a new period is any other change.
          out.push(moved ? 'customer.subscription.upgraded' : 'customer.subscription.updated');
        }
        if (moved) {
          next.current_period_start = before?.current_period_end ?? next.current_period_start;
          next.current_period_end = iso(s.date_next_charge);
          next.status = 'active';
          next.auto_renew = true;
          out.push('customer.subscription.renewed');
        }
        break;
      }
      case 'cancel_subscription': {
        if (stale) break;
        const end = ms(s.date_end);
        next.auto_renew = false;
        if (end !== null && end > input.now) {
          next.status = 'canceled';
          next.current_period_end = iso(s.date_end);
          out.push('customer.subscription.canceled');
        } else {
          next.status = 'expired';
          next.current_period_end = iso(s.date_end) ?? next.current_period_end;
          out.push('customer.subscription.deleted');
        }
        break;
      }
      case 'non_renewal_subscription':
        if (stale) break;
        next.auto_renew = false;
        next.status = 'canceled';
        next.current_period_end = iso(s.date_next_charge) ?? next.current_period_end;
        out.push('customer.subscription.canceled');
        break;
    }
    if (stale) {
      result.stale = true;
      result.subscription = before;
      return result;
    }
    next.last_event_at = created;
    next.updated = created;
    await tx.saveSubscription(next);
    result.subscription = next;
    if (!before) emit('customer.subscription.created', next);
    const previous = before ? diff(before, next) : undefined;
    for (const e of out) {
      const prev =
        e === 'customer.subscription.upgraded' ? { product_id: before!.product_id } : e === 'customer.subscription.started' && !before ? undefined : previous;
      emit(e, next, prev);
    }
    return result;
  }

  if (input.transaction) {
    const n = input.transaction;
    const t = n.transaction;
    const tradeNo = String(t.id);
    created = iso(t.payment_date ?? t.date) ?? input.receivedAt;
    emit('provider.notification.received', input.decoded);
    const sub = n.purchase?.subscription ?? null;
    const planPrice = sub?.amount != null && sub.currency ? { amount: sub.amount, currency: sub.currency } : null;
    // A partial refund's totals are the refunded part, not the price: an order it creates (the payment
    // not seen yet) takes the plan's price, when Xsolla includes it.
    const money = n.notification_type === 'partial_refund' ? planPrice : (n.purchase?.total ?? n.payment_details?.payment ?? planPrice);
    const orderByTrade = await tx.getOrderByTradeNo('xsolla', tradeNo);
    const externalId = t.external_id !== undefined && t.external_id !== null ? String(t.external_id) : null;

    /** The stored order {@link buildOrder} started from (read, so locked), if any. */
    const read: { current: Order | null } = { current: orderByTrade };
    /** The order this transaction is about: recorded, claimed from the app's pending order, or new. */
    const buildOrder = async (status: Order['status']): Promise<Order> => {
      const byNo = !orderByTrade && externalId ? await tx.getOrderByNo(externalId) : null;
      const claimable = byNo && byNo.status === 'pending' ? byNo : null;
      if (externalId && !orderByTrade && !claimable) {
        logger.debug({ externalId, transactionId: tradeNo }, 'Xsolla external_id matches no pending order: recording the transaction as a new order');
      }
      const base = orderByTrade ?? claimable;
      read.current = base;
      return paidOrder(
        {
          provider: 'xsolla',
          tradeNo,
          at: created,
          status,
          originNo: sub ? String(sub.subscription_id) : base?.origin_no,
          userId: base?.user_id ?? (n.user ? String(n.user.id) : null),
          productId: sub ? String(sub.plan_id) : base?.product_id,
          amount: base?.trade_no ? base.amount : (toMilliunits(money?.amount) ?? base?.amount),
          currency: base?.trade_no ? base.currency : (money?.currency ?? base?.currency),
          paidAt: base?.paid_at ?? iso(t.payment_date) ?? created,
          metadata: externalId ? { xsolla_external_id: externalId } : {},
        },
        base,
      );
    };

    /**
     * An order this unit of work read (and locked) is replaced; a new one is a plain insert, so when a
     * concurrent payment or refund of the same transaction recorded it first, the unit of work runs again and sees it.
     */
    const saveOrInsert = async (order: Order): Promise<void> => {
      if (read.current && read.current.id === order.id) await tx.saveOrder(order);
      else await tx.insertOrder(order);
    };

    if (n.notification_type === 'payment') {
      if (orderByTrade && orderByTrade.status !== 'pending') {
        // Already recorded (or refunded first, out of order): the payment adds no event. A refund that
        // came first could not know the amount paid: the payment fills it in.
        result.stale = true;
        result.order = orderByTrade;
        const paid = toMilliunits(money?.amount);
        if (orderByTrade.amount === null && paid !== null) {
          const full = orderByTrade.amount_refunded !== null && orderByTrade.amount_refunded >= paid;
          const status = orderByTrade.status === 'partially_refunded' && full ? 'refunded' : orderByTrade.status;
          const order: Order = { ...orderByTrade, amount: paid, currency: money?.currency ?? orderByTrade.currency, status, updated: created };
          if (order.status === 'refunded' && orderByTrade.status === 'refunded' && orderByTrade.amount_refunded === null) order.amount_refunded = paid;
          await tx.saveOrder(order);
          result.order = order;
        }
        return result;
      }
      const order = await buildOrder('paid');
      await saveOrInsert(order);
      result.order = order;
      if (sub) {
        const linked = await tx.getSubscription('xsolla', String(sub.subscription_id));
        if (linked) {
          const env = input.dryRun ? 'Sandbox' : linked.environment;
          await tx.saveSubscription({ ...linked, ...settingsFrom(order, linked), latest_transaction_id: tradeNo, environment: env, updated: created });
        }
      }
      emit('order.paid', order);
      return result;
    }

    // refund / partial_refund. A full refund refunds the whole amount. A partial refund's amount is
    // the one it reports (payment_details.payment, else purchase.total); one transaction may be partially
    // refunded more than once (each is its own inbox row), so the amounts add up; once they reach the
    // order's amount it is refunded.
    const current = orderByTrade ?? (await buildOrder('paid'));
    const reason = xsollaRefundReason(n.refund_details?.code) ?? current.refund_reason;
    let order: Order;
    if (n.notification_type === 'refund') {
      order = { ...current, status: 'refunded', amount_refunded: current.amount, refund_reason: reason, updated: created };
    } else if (current.status === 'refunded' || current.status === 'revoked') {
      order = { ...current, refund_reason: reason, updated: created }; // a full refund already covers it
    } else {
      const part = toMilliunits(n.payment_details?.payment?.amount ?? n.purchase?.total?.amount);
      const total = part === null ? current.amount_refunded : (current.amount_refunded ?? 0) + Math.abs(part);
      const full = total !== null && current.amount !== null && total >= current.amount;
      order = { ...current, status: full ? 'refunded' : 'partially_refunded', amount_refunded: total, refund_reason: reason, updated: created };
    }
    await saveOrInsert(order);
    result.order = order;
    emit('order.refunded', order);
    return result;
  }

  emit('provider.notification.received', input.decoded);
  return result;
}
