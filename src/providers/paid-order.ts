import { nameUuid, stableId } from '../core/ids.js';
import type { Order, OrderStatus, Provider } from '../events/types.js';

/** What a provider says about a payment, as {@link paidOrder} records it. Absent fields are null. */
export interface Payment {
  provider: Provider;
  /** The provider's transaction id: the order's `trade_no`, and the seed of a new order's id and number. */
  tradeNo: string;
  /** When this is recorded (ISO 8601): the order's `updated`, and `created` for a new order. */
  at: string;
  /** A new order's number. @default a name-based UUID of provider and transaction id */
  no?: string;
  /** @default 'paid' */
  status?: OrderStatus;
  originNo?: string | null;
  userId?: string | null;
  productId?: string | null;
  amount?: number | null;
  currency?: string | null;
  paidAt?: string | null;
  /** A new order's metadata. @default {} */
  metadata?: Record<string, unknown>;
}

/** What an order recorded before (the one for this transaction, or the app's pending order it pays) keeps. */
export type RecordedOrder = Partial<Pick<Order, 'id' | 'no' | 'amount_refunded' | 'refund_reason' | 'metadata' | 'subscription_data' | 'created'>>;

/**
 * The order for a payment. `base`, the order recorded before, keeps its id, number, creation time,
 * refunds, metadata and subscription data; everything else is the payment's, as given (the caller
 * decides where the payment's facts win over the recorded ones). With no base, the id and number are
 * derived from provider and transaction id, so that every entry point names the same order.
 */
export function paidOrder(payment: Payment, base: RecordedOrder | null = null): Order {
  return {
    id: base?.id ?? stableId('ord', payment.provider, payment.tradeNo),
    no: base?.no ?? payment.no ?? nameUuid(`${payment.provider}:${payment.tradeNo}`),
    trade_no: payment.tradeNo,
    origin_no: payment.originNo ?? null,
    status: payment.status ?? 'paid',
    user_id: payment.userId ?? null,
    product_id: payment.productId ?? null,
    provider: payment.provider,
    amount: payment.amount ?? null,
    currency: payment.currency ?? null,
    amount_refunded: base?.amount_refunded ?? null,
    refund_reason: base?.refund_reason ?? null,
    paid_at: payment.paidAt ?? null,
    metadata: base?.metadata ?? payment.metadata ?? {},
    subscription_data: base?.subscription_data ?? null,
    created: base?.created ?? payment.at,
    updated: payment.at,
  };
}
