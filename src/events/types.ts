/** Payment providers the library understands. */
export type Provider = 'apple' | 'xsolla' | 'google';

/** Lifecycle status of a subscription (a "member contract"). */
export type SubscriptionStatus = 'trialing' | 'active' | 'past_due' | 'in_grace_period' | 'canceled' | 'expired' | 'revoked' | 'refunded';

/**
 * Status of an order. `partially_refunded`: part of the amount was refunded (`amount_refunded` says
 * how much) and the purchase keeps its access; `refunded` / `revoked`: all of it.
 */
export type OrderStatus = 'pending' | 'paid' | 'partially_refunded' | 'refunded' | 'revoked';

/** Per-subscription notification settings (seed: `subscription_data.notification_settings`). */
export interface NotificationSettings {
  self_handle: boolean;
  include_events?: string[];
  exclude_events?: string[];
}

/**
 * A subscription as seen by your app: one row per provider contract
 * (Apple `originalTransactionId`, Xsolla `subscription_id`).
 */
export interface Subscription {
  id: string;
  provider: Provider;
  contract_id: string;
  user_id: string | null;
  product_id: string;
  status: SubscriptionStatus;
  auto_renew: boolean;
  /** ISO 8601 */
  current_period_start: string | null;
  /** ISO 8601; access continues until then for `canceled`. */
  current_period_end: string | null;
  pending_product_id: string | null;
  environment: string;
  latest_transaction_id: string | null;
  notification_settings: NotificationSettings | null;
  setting_id: string | null;
  metadata: Record<string, unknown>;
  /** ISO 8601; the provider's date of the last notification applied (state only moves forward). */
  last_event_at: string | null;
  created: string;
  updated: string;
}

/** An order (seed 003): created by your app before purchase, or from a provider transaction. */
export interface Order {
  id: string;
  /** Our order number. For Apple, pass it to StoreKit as `appAccountToken`. */
  no: string;
  /** Provider transaction id (Apple `transactionId`). */
  trade_no: string | null;
  /** Apple `originalTransactionId` / Xsolla subscription id. */
  origin_no: string | null;
  status: OrderStatus;
  user_id: string | null;
  product_id: string | null;
  provider: Provider;
  /** Minor units as the provider reports them (Apple: milliunits of `currency`). */
  amount: number | null;
  currency: string | null;
  /**
   * How much of `amount` was refunded, in the same unit (null: nothing). A full refund sets it to
   * `amount`; Apple's prorated refund to `amount × revocationPercentage / 100000` (rounded half up to
   * the unit); Xsolla's `partial_refund`s add up.
   */
  amount_refunded: number | null;
  /**
   * Why the provider refunded, when it says: Apple `revocationReason` (`app_issue`, `other`); Xsolla
   * `refund_details.code` (`chargeback`, `potential_fraud`, `friendly_fraud`, ..., else `xsolla_<code>`).
   */
  refund_reason: string | null;
  /** ISO 8601 */
  paid_at: string | null;
  metadata: Record<string, unknown>;
  /** Notification settings requested at order creation; copied to the subscription. */
  subscription_data: { notification_settings?: NotificationSettings } | null;
  created: string;
  updated: string;
}

/**
 * Why an entitlement is (or is not) active, from the status of the subscription that grants it:
 * `trial`, `active`, `canceled` (auto-renew off: active until the period ends), `grace_period` (active
 * until the grace period ends), `billing_retry` (past_due: inactive unless `entitlements.pastDueActive`),
 * `expired`, `refunded`, `revoked`; in `entitlement.revoked` only, `transferred` (the subscription now
 * belongs to another user).
 */
export type EntitlementReason = 'trial' | 'active' | 'canceled' | 'grace_period' | 'billing_retry' | 'expired' | 'refunded' | 'revoked' | 'transferred';

/** One entitlement of a user, as `hooks.entitlements.list(userId)` answers it. */
export interface Entitlement {
  /** The name from the `products` config, e.g. `pro`. */
  entitlement: string;
  active: boolean;
  /** ISO 8601: when access ends as things stand (period end; grace period end); null when unknown. */
  expires_at: string | null;
  /** The granting subscription's `id` (`sub_…`). */
  subscription_id: string;
  provider: Provider;
  product_id: string;
  reason: EntitlementReason;
}

/** Payload of `entitlement.granted` / `entitlement.revoked`: the entitlement after the change, and whose it is. */
export interface EntitlementChange extends Entitlement {
  user_id: string;
}

/**
 * Payload of `webhook_endpoint.disabled`: an outbound endpoint was disabled because every attempt to
 * it failed for longer than `delivery.disableAfterMs`. Never carries its secrets.
 */
export interface WebhookEndpointDisabled {
  /** `we_…` */
  id: string;
  url: string;
  enabled_events: string[];
  description: string | null;
  metadata: Record<string, unknown>;
  status: 'disabled';
  reason: 'failing';
  /** ISO 8601: the first failed attempt after its last success. */
  failing_since: string;
  disabled_at: string;
  /** The last attempt's `last_error`. */
  last_error: string | null;
}

/**
 * Payload of `customer.consent.rescinded` (Apple `RESCIND_CONSENT`): a parent or guardian withdrew
 * consent for the app account. The app should stop serving that account; its entitlements are revoked.
 */
export interface ConsentRescinded {
  /** The app user, from the app transaction's `appAccountToken` (an order's `no`) or the account's subscriptions; null when unknown. */
  user_id: string | null;
  /** The verified, decoded `appData.signedAppTransactionInfo` (Apple's AppTransaction), as Apple sent it. */
  app_transaction: Record<string, unknown>;
  /** `appData.appAppleId`, `bundleId` and `environment` of the notification. */
  app_apple_id: number | null;
  bundle_id: string | null;
  environment: string | null;
  /** The subscriptions of that user whose entitlements were revoked (their `id`s). */
  revoked_subscription_ids: string[];
}

/**
 * Payload of `manual.notification`. `entity`: the event's Subscription or Order (for `entitlement.granted` /
 * `entitlement.revoked`: the subscription that grants the entitlement, whose settings decided); `userDid`:
 * the user to tell (for an entitlement event, the user whose entitlements changed).
 */
export interface ManualNotification {
  type: EventType;
  data: { entity: Subscription | Order; userDid: string | null; context: Record<string, unknown> };
}

/** Maps each event type to the object it carries in `data.object`. */
export interface EventObjectMap {
  'customer.subscription.created': Subscription;
  'customer.subscription.started': Subscription;
  'customer.subscription.renewed': Subscription;
  'customer.subscription.upgraded': Subscription;
  'customer.subscription.updated': Subscription;
  'customer.subscription.transferred': Subscription;
  'customer.subscription.canceled': Subscription;
  'customer.subscription.reactivated': Subscription;
  'customer.subscription.past_due': Subscription;
  'customer.subscription.recovered': Subscription;
  'customer.subscription.deleted': Subscription;
  'customer.subscription.trial_will_end': Subscription;
  'customer.consent.rescinded': ConsentRescinded;
  'order.paid': Order;
  'order.refunded': Order;
  'refund.requested': Order;
  'refund.declined': Order;
  'refund.reversed': Order;
  'entitlement.granted': EntitlementChange;
  'entitlement.revoked': EntitlementChange;
  'test.notification': Record<string, unknown>;
  'provider.notification.received': Record<string, unknown>;
  'manual.notification': ManualNotification;
  'webhook_endpoint.disabled': WebhookEndpointDisabled;
}

/** Events the library emits about itself rather than about a provider's notification. */
export type LibraryEventType = 'webhook_endpoint.disabled';

/** Every domain event type. */
export type EventType = keyof EventObjectMap;

/** All event types, in documentation order. */
export const EVENT_TYPES = [
  'customer.subscription.created',
  'customer.subscription.started',
  'customer.subscription.renewed',
  'customer.subscription.upgraded',
  'customer.subscription.updated',
  'customer.subscription.transferred',
  'customer.subscription.canceled',
  'customer.subscription.reactivated',
  'customer.subscription.past_due',
  'customer.subscription.recovered',
  'customer.subscription.deleted',
  'customer.subscription.trial_will_end',
  'customer.consent.rescinded',
  'order.paid',
  'order.refunded',
  'refund.requested',
  'refund.declined',
  'refund.reversed',
  'entitlement.granted',
  'entitlement.revoked',
  'test.notification',
  'provider.notification.received',
  'manual.notification',
  'webhook_endpoint.disabled',
] as const satisfies readonly EventType[];

/**
 * One normalized event. JSON, snake_case: it is also the outbound webhook body.
 */
export type DomainEvent<T extends EventType = EventType> = {
  [K in T]: {
    /** `evt_…`, deterministic per (provider notification, position): a redelivery never mints a second event. */
    id: string;
    type: K;
    /** ISO 8601: when the provider says it happened (Apple `signedDate`). */
    created: string;
    /** The provider the event comes from; `subscription-webhooks` for the library's own (`webhook_endpoint.disabled`). */
    provider: K extends LibraryEventType ? 'subscription-webhooks' : Provider;
    /** false for Sandbox / Xcode / LocalTesting / Xsolla dry runs. */
    livemode: boolean;
    data: {
      object: EventObjectMap[K];
      previous_attributes?: Partial<EventObjectMap[K]>;
      /**
       * Why, when the event alone does not say: `no_renewal_received` on a `customer.subscription.past_due`
       * from the lifecycle sweep (the period ended and no renewal arrived within `lifecycle.renewalGraceMs`).
       */
      reason?: string;
    };
    source: { notification_id: string; notification_type: string; subtype?: string };
  };
}[T];
