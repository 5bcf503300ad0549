import type { DomainEvent, NotificationSettings, Order, Provider, Subscription, SubscriptionStatus } from '../events/types.js';

/**
 * One entitlement one subscription grants its user (from the `products` config), kept beside the
 * subscription so that a user's entitlements are one indexed read (`user_id`). Unique by
 * `(subscription_id, entitlement)`. Whether it is active is decided when read (it depends on the clock).
 */
export interface EntitlementGrantRecord {
  /** The subscription's `id` (`sub_…`). */
  subscription_id: string;
  entitlement: string;
  user_id: string;
  provider: Provider;
  product_id: string;
  /** The subscription's status when last written. */
  status: SubscriptionStatus;
  /** ISO 8601: when access ends in that status (period end; grace period end); null when unknown. */
  expires_at: string | null;
  /** ISO 8601 */
  updated: string;
}

/** One row of the provider-notification inbox. Unique by `(provider, notification_id)`. */
export interface InboxRecord {
  provider: Provider;
  /** Apple `notificationUUID`; `tx:<transactionId>` for client-sent transactions; Xsolla: a hash of the body. */
  notification_id: string;
  notification_type: string;
  subtype: string | null;
  environment: string | null;
  /** ISO 8601: the provider's signing date, when it gives one. */
  signed_at: string | null;
  /** ISO 8601 */
  received_at: string;
  /** The exact request body as received; `null` once retention has dropped it (see {@link Store.prune}). */
  raw_body: string | null;
  /** Hex SHA-256 of the raw body's bytes, kept when the body is dropped; null when not recorded. */
  raw_sha256?: string | null;
  /** The verified, decoded payload. */
  payload: unknown;
}

/**
 * One batch of retention pruning ({@link Store.prune}): the cutoffs (ISO 8601; rows strictly older go)
 * and the most rows each step touches.
 */
export interface PruneOptions {
  /** Inbox rows received before this lose their raw body (the row, its decoded payload and `raw_sha256` stay). */
  rawBodiesBefore: string;
  /** Inbox rows (dedup keys) whose provider date (`signed_at`) is before this are deleted; rows without one are kept. */
  notificationsBefore: string;
  /** Events created before this are deleted once none of their delivery rows remain. */
  eventsBefore: string;
  /** `delivered` and `disabled` delivery rows last updated before this are deleted. */
  deliveredBefore: string;
  /** `failed` delivery rows last updated before this are deleted (a replay makes a row pending again). */
  failedBefore: string;
  /** Callback receipts (`sw_webhook_receipts`) older than this are deleted. */
  receiptsBefore: string;
  /** Most rows per step in this batch. */
  limit: number;
}

/** Rows one pruning batch (or a whole `hooks.maintenance.prune` run) removed or compacted, per kind. */
export interface PruneCounts {
  /** Raw bodies dropped (inbox rows compacted). */
  rawBodies: number;
  /** Inbox rows (dedup keys) deleted. */
  notifications: number;
  events: number;
  deliveries: number;
  receipts: number;
  /** Duplicate, stale and rejected request records (`sw_notification_outcomes`, kept as long as raw bodies); optional for a custom store. */
  outcomes?: number;
  /** Delivery attempt records (`sw_delivery_attempts`, kept as long as the longer of the two delivery windows). */
  attempts?: number;
}

/**
 * What a notification's unit of work is about to read, known before it starts (from the verified
 * payload): a store may load it together with the inbox insert (see {@link StoreTransaction.insertNotificationAndLoad}).
 */
export interface NotificationReads {
  /** Subscriptions by `(provider, contract_id)`; read and locked as {@link StoreTransaction.getSubscription} does. */
  subscriptions?: ReadonlyArray<{ provider: Provider; contractId: string }>;
  orderNos?: readonly string[];
  orderTradeNos?: ReadonlyArray<{ provider: Provider; tradeNo: string }>;
  /** Notification settings by id or mountLocation. */
  settings?: readonly string[];
  /** The webhook endpoint list. */
  webhookEndpoints?: boolean;
}

/**
 * The writes and reads one notification needs, inside one atomic unit of work.
 * Implementations must make every method part of the same database transaction.
 */
export interface StoreTransaction {
  /**
   * Insert the inbox row. Resolves `false` when `(provider, notification_id)` already exists
   * (a redelivery); the caller then writes nothing else in this transaction.
   */
  insertNotification(row: InboxRecord): Promise<boolean>;
  /**
   * Optional: {@link insertNotification} plus, when the row was inserted, reading `reads` in the same
   * round trip; the matching getters then answer from what was read (and the subscriptions stay locked,
   * taken only after the insert, as with getSubscription). The core calls it instead of
   * insertNotification when present. Getters for anything not in `reads` still query as usual.
   */
  insertNotificationAndLoad?(row: InboxRecord, reads: NotificationReads): Promise<boolean>;
  /**
   * An order by its unique `no`. Where the database supports it, the row read stays locked until the
   * transaction ends (PostgreSQL: `FOR UPDATE`), so the state a unit of work decides on is the state it
   * writes over: read the order, then decide.
   */
  getOrderByNo(no: string): Promise<Order | null>;
  /** An order by its unique `(provider, trade_no)`; locked like {@link getOrderByNo}. */
  getOrderByTradeNo(provider: Provider, tradeNo: string): Promise<Order | null>;
  /**
   * Optional: the most recently created order with this `(provider, origin_no)` (the provider's subscription
   * id; indexed), not locked. Lets a subscription first seen after its payment find the app's order, and
   * with it the per-subscription notification settings (Xsolla). Without it those settings apply only
   * when the subscription exists before its payment.
   */
  getLatestOrderByOriginNo?(provider: Provider, originNo: string): Promise<Order | null>;
  /**
   * Insert a new order: a plain INSERT, never an upsert. When an order with the same `id`, `no` or
   * `(provider, trade_no)` exists, or a concurrent transaction has just inserted one, the store throws a
   * unique violation, which {@link Store.transaction} treats as a lost race: the unit of work runs again
   * and this time reads the order the other one recorded. This is what makes one transaction id one
   * order and one `order.paid`, whichever entry point (notification, client post, reconcile) gets there first.
   */
  insertOrder(order: Order): Promise<void>;
  /** Insert or replace by `id` (`no` and `(provider, trade_no)` are unique too): for an order this transaction read (and so locked). */
  saveOrder(order: Order): Promise<void>;
  /** Read a subscription; where the database supports it, the row stays locked until the transaction ends. */
  getSubscription(provider: Provider, contractId: string): Promise<Subscription | null>;
  /** Insert or replace by `(provider, contract_id)`. */
  saveSubscription(subscription: Subscription): Promise<void>;
  /**
   * Entitlements (optional, see {@link Store.listEntitlementGrants}): every grant of `userId`, one indexed query (on `user_id`). Inside a transaction the
   * user's grant set stays locked until it ends, so two units of work changing one user's entitlements
   * (two subscriptions of one user, or a transfer) run one after the other (PostgreSQL: a transaction-level
   * advisory lock on the user id; SQLite and memory serialize writers anyway). Sorted by entitlement, then
   * subscription_id. Buffered grants of this transaction are included.
   */
  listEntitlementGrants?(userId: string): Promise<EntitlementGrantRecord[]>;
  /**
   * Entitlements: make `grants` the complete set for subscription `subscriptionId` (rows of that
   * subscription not in `grants` are deleted; the others inserted or replaced by `(subscription_id, entitlement)`).
   * `grants` may be empty (the subscription grants nothing, e.g. it moved to no user).
   */
  replaceEntitlementGrants?(subscriptionId: string, grants: EntitlementGrantRecord[]): Promise<void>;
  /** Append to the event outbox. Event ids are unique. */
  insertEvents(events: DomainEvent[]): Promise<void>;
  /** A notification setting by id, else by `mountLocation` (seed 000: `metadata.setting_id` may be either). */
  getNotificationSetting(idOrMountLocation: string): Promise<NotificationSettingRecord | null>;
  /** Insert or replace by `id`. `mountLocation` is unique: a clash throws. */
  saveNotificationSetting(setting: NotificationSettingRecord): Promise<void>;
  /** Resolves `false` when no such id. */
  deleteNotificationSetting(id: string): Promise<boolean>;
  getWebhookEndpoint(id: string): Promise<WebhookEndpointRecord | null>;
  /** Every endpoint, oldest first. */
  listWebhookEndpoints(): Promise<WebhookEndpointRecord[]>;
  /** Insert or replace by `id`. */
  saveWebhookEndpoint(endpoint: WebhookEndpointRecord): Promise<void>;
  /** Deletes the endpoint and its delivery rows. Resolves `false` when no such id. */
  deleteWebhookEndpoint(id: string): Promise<boolean>;
  /** Append delivery rows (the outbox's fan-out). `id` and `(endpoint_id, event_id)` are unique. */
  insertDeliveries(rows: DeliveryRecord[]): Promise<void>;
}

/** A stored notification setting (seed 000's `payment.settings.create`). */
export interface NotificationSettingRecord {
  /** `set_…` */
  id: string;
  type: 'notification';
  /** Unique. The global setting is the one whose mountLocation equals the configured `appId`. */
  mountLocation: string;
  description: string | null;
  componentDid: string | null;
  settings: NotificationSettings;
  /** ISO 8601 */
  created: string;
  updated: string;
}

/** A registered outbound webhook endpoint. */
export interface WebhookEndpointRecord {
  /** `we_…` */
  id: string;
  url: string;
  /** Event types, or `['*']` for every event. */
  enabled_events: string[];
  status: 'enabled' | 'disabled';
  /** `whsec_<base64>`: the Standard Webhooks signing secret; in a store, encrypted when a `secretsKey` is configured (see `secret_key_id`). */
  secret: string;
  /** After `rotateSecret`, the old secret also signs until `previous_secret_expires_at`. */
  previous_secret: string | null;
  previous_secret_expires_at: string | null;
  description: string | null;
  metadata: Record<string, unknown>;
  created: string;
  updated: string;
  /**
   * The id of the `secretsKey` that encrypted `secret` and `previous_secret` (stored then as
   * `enc:v1:<key id>:…`); null or absent: stored in plaintext. Stores persist it as given.
   */
  secret_key_id?: string | null;
  /** ISO 8601: since when every attempt to it has failed; null or absent after a success. Stores persist it as given. */
  failing_since?: string | null;
}

/** Where a delivery row is in its life. `disabled`: the receiver answered 410 (its endpoint was disabled). */
export type DeliveryStatus = 'pending' | 'delivered' | 'failed' | 'disabled';

/** One (target, event) pair of the outbox: a webhook endpoint, or the app's `notifier` (`endpoint_id` `"notifier"`). */
export interface DeliveryRecord {
  /** `dlv_…` */
  id: string;
  endpoint_id: string;
  event_id: string;
  status: DeliveryStatus;
  /** Attempts made so far. */
  attempts: number;
  /** ISO 8601: when the row is next due (null once it is final). */
  next_attempt_at: string | null;
  /** HTTP status of the last attempt (null: no response, or the notifier). */
  last_status: number | null;
  last_error: string | null;
  last_attempt_at: string | null;
  delivered_at: string | null;
  created: string;
  updated: string;
}

/** A provider request that added no inbox row: a duplicate, a stale notification, or a rejection. */
export interface NotificationOutcomeRecord {
  id: string;
  provider: Provider;
  outcome: 'duplicate' | 'stale' | 'rejected';
  /** The error code of a rejection; `DUPLICATE` or `STALE` otherwise. */
  code: string;
  /** The HTTP status answered. */
  status: number;
  notification_id: string | null;
  notification_type: string | null;
  /** At most 200 characters. */
  reason: string | null;
  /** ISO 8601 */
  received_at: string;
}

/** One attempt of a delivery row (the row itself keeps only the last). */
export interface DeliveryAttemptRecord {
  id: string;
  delivery_id: string;
  endpoint_id: string;
  /** 1 for the first (from 1 again after a replay). */
  attempt: number;
  /** HTTP status answered; null: no response, or the notifier. */
  status_code: number | null;
  /** At most 200 characters; null on success. */
  error: string | null;
  duration_ms: number | null;
  /** ISO 8601 */
  at: string;
}

/** A delivery row claimed by one worker, with what it needs to make the attempt. */
export interface ClaimedDelivery {
  delivery: DeliveryRecord;
  /** The claim token: only its holder can record the outcome. */
  claim: string;
  /** The event JSON exactly as stored (the webhook body). */
  body: string;
  /** The endpoint, or null for the notifier (and for an endpoint deleted meanwhile). */
  endpoint: WebhookEndpointRecord | null;
}

/**
 * What an attempt changed on its row (`last_attempt_at` null: no attempt was made, the claim is only
 * released), and whether to also set the row's endpoint to `disabled` (the receiver answered 410).
 */
export type DeliveryOutcome = Pick<
  DeliveryRecord,
  'status' | 'attempts' | 'next_attempt_at' | 'last_status' | 'last_error' | 'last_attempt_at' | 'delivered_at'
> & {
  disable_endpoint?: boolean;
  /** How long the attempt took, for its row in the attempt history ({@link Store.listDeliveryAttempts}). */
  duration_ms?: number | null;
};

/** Filters for {@link Store.listDeliveries}. */
export interface DeliveryFilter {
  status?: DeliveryStatus;
  endpointId?: string;
  eventId?: string;
  /** @default 100 */
  limit?: number;
}

/** A subscription claimed by the lifecycle sweep ({@link Store.claimSweepDue}). */
export interface ClaimedSubscription {
  subscription: Subscription;
  /** The claim token: only its holder's {@link Store.releaseSweepClaim} takes effect. */
  claim: string;
}

/** What {@link Store.claimSweepDue} looks for; every time is ISO 8601. */
export interface SweepDueQuery {
  now: string;
  /** `trialing` subscriptions whose `current_period_end` is after `now` and at or before this (a trial about to end). */
  trialEndsBefore: string;
  /** `active` or `trialing` subscriptions whose `current_period_end` is at or before this (a renewal that never arrived). */
  periodEndedBefore: string;
  limit: number;
  /** How long the claim holds (the row is not claimed again before `now + lockMs` unless released). */
  lockMs: number;
}

/** Filters for {@link Store.listSubscriptions}. */
export interface SubscriptionFilter {
  userId?: string;
  provider?: Provider;
  status?: Subscription['status'];
  /** Apple: the subscriptions bought from one app account (`metadata.app_transaction_id`, what RESCIND_CONSENT names). */
  appTransactionId?: string;
}

/**
 * Where orders, subscriptions, the notification inbox and the event outbox live.
 * Uniqueness that makes retries safe lives here: inbox `(provider, notification_id)`,
 * orders `no` and `(provider, trade_no)`, subscriptions `(provider, contract_id)`, events `id`.
 *
 * Implementations: {@link memoryStore} (default, in process) and `prismaStore(prisma)` from
 * `subscription-webhooks/prisma`. Both pass the shared conformance suite in `subscription-webhooks/testing`.
 */
export interface Store {
  /** Short name for logs: `memory`, `prisma:sqlite`, `prisma:postgresql`. */
  readonly name: string;
  /**
   * Run `fn` atomically: everything it writes commits together or not at all.
   * May run `fn` again when the database reports a retryable conflict (serialization failure,
   * deadlock, or a concurrent insert of the same order or subscription), so `fn` must have
   * no side effects outside `tx`.
   * @throws SubscriptionWebhooksError `STORE_UNAVAILABLE` when the database cannot be reached.
   */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T>;
  getOrderByNo(no: string): Promise<Order | null>;
  getSubscription(provider: Provider, contractId: string): Promise<Subscription | null>;
  listSubscriptions(filter?: SubscriptionFilter): Promise<Subscription[]>;
  /**
   * Entitlements: every grant of `userId`, one indexed query (see {@link StoreTransaction.listEntitlementGrants}), no lock.
   * The three entitlement methods (this one and the transaction's `listEntitlementGrants` and
   * `replaceEntitlementGrants`) are optional for a custom store, and required as a set when the
   * `products` config is given (else `CONFIG_INVALID`); memoryStore, prismaStore and pgStore have them.
   */
  listEntitlementGrants?(userId: string): Promise<EntitlementGrantRecord[]>;
  getNotification(provider: Provider, notificationId: string): Promise<InboxRecord | null>;
  /** Number of inbox rows (for operations dashboards and tests). */
  countNotifications(provider?: Provider): Promise<number>;
  /**
   * Optional, for the replay protection of `createCallbackRoute({ store })` (the receiving side):
   * whether webhook id `webhookId` was recorded as accepted at or after `since` (ISO 8601). Receipt table: `sw_webhook_receipts`.
   */
  hasWebhookReceipt?(webhookId: string, since: string): Promise<boolean>;
  /** Optional, with {@link Store.hasWebhookReceipt}: records `webhookId` as accepted at `at` and deletes receipts older than `forgetBefore`. */
  recordWebhookReceipt?(webhookId: string, at: string, forgetBefore: string): Promise<void>;
  /** Events in commit order (oldest first). */
  listEvents(options?: { limit?: number; type?: DomainEvent['type'] }): Promise<DomainEvent[]>;
  getNotificationSetting(idOrMountLocation: string): Promise<NotificationSettingRecord | null>;
  /** Oldest first. */
  listNotificationSettings(): Promise<NotificationSettingRecord[]>;
  getWebhookEndpoint(id: string): Promise<WebhookEndpointRecord | null>;
  listWebhookEndpoints(): Promise<WebhookEndpointRecord[]>;
  getDelivery(id: string): Promise<DeliveryRecord | null>;
  /** Oldest first. */
  listDeliveries(filter?: DeliveryFilter): Promise<DeliveryRecord[]>;
  /**
   * Atomically claims up to `limit` due rows (`pending`, `next_attempt_at <= now`, not claimed or the
   * claim expired, endpoint not disabled) for `lockMs`. Two concurrent callers never get the same row
   * (PostgreSQL: `FOR UPDATE SKIP LOCKED`). `now` is ISO 8601. Rows of `excludeEndpointIds` are left
   * alone (endpoints that already have as many rows in this worker as it attempts at once).
   */
  claimDeliveries(options: { now: string; limit: number; lockMs: number; excludeEndpointIds?: readonly string[] }): Promise<ClaimedDelivery[]>;
  /**
   * Records an attempt and releases the claim. Resolves `false` (writing nothing) when `claim` no longer holds the row.
   * When an attempt was made (`last_attempt_at` set), the shipped stores also append it to the attempt history
   * ({@link Store.listDeliveryAttempts}); so does {@link Store.finishDelivered}.
   */
  finishDelivery(id: string, claim: string, outcome: DeliveryOutcome): Promise<boolean>;
  /**
   * Optional: records many successful first-or-later attempts of one claim at once (status `delivered`,
   * `attempts + 1`, released). Resolves how many rows `claim` still held. Without it the worker calls
   * {@link Store.finishDelivery} per row.
   */
  finishDelivered?(items: ReadonlyArray<{ id: string; last_status: number; duration_ms?: number | null }>, claim: string, at: string): Promise<number>;
  /**
   * Makes a row due again at `now` with its attempt count reset (replay). Resolves `null` when there is
   * no such row, `'claimed'` when a worker holds it right now.
   */
  resetDelivery(id: string, now: string): Promise<DeliveryRecord | null | 'claimed'>;
  /**
   * Optional: one batch of retention pruning; at most `options.limit` rows per kind, each kind in its own
   * short statement. Safe to run from several instances at once (PostgreSQL: `FOR UPDATE SKIP LOCKED`).
   * Orders, subscriptions, entitlements, settings and endpoints are never pruned. Resolves what it removed;
   * the caller repeats while any count reached the limit. Without it, `hooks.maintenance.prune` prunes nothing.
   */
  prune?(options: PruneOptions): Promise<PruneCounts>;
  /**
   * Optional, for the lifecycle sweep (`hooks.lifecycle.sweep`, run by the delivery worker): atomically
   * claims up to `limit` subscriptions that may be due for a time-driven event (see {@link SweepDueQuery})
   * and are not claimed (`sweep_after` null or at or before `now`), setting their claim token and
   * `sweep_after = now + lockMs`. Two concurrent callers never get the same row (PostgreSQL:
   * `FOR UPDATE SKIP LOCKED`). Oldest `current_period_end` first. Indexed on `(status, current_period_end)`.
   * memoryStore, sqliteStore, prismaStore and pgStore have it (columns `sweep_claim`, `sweep_after`,
   * migration `0004_lifecycle_sweep`).
   */
  claimSweepDue?(query: SweepDueQuery): Promise<ClaimedSubscription[]>;
  /**
   * Optional, with {@link Store.claimSweepDue}: ends a claim: the row is not looked at again before
   * `after` (null: as soon as it is due). Resolves `false` (writing nothing) when `claim` no longer holds it.
   */
  releaseSweepClaim?(subscriptionId: string, claim: string, after: string | null): Promise<boolean>;
  /**
   * Optional: the attempt history of a delivery row, oldest first (at most 100): one entry per attempt recorded by
   * {@link Store.finishDelivery} or {@link Store.finishDelivered}. Table `sw_delivery_attempts` (migration `0007_admin_history`).
   */
  listDeliveryAttempts?(deliveryId: string): Promise<DeliveryAttemptRecord[]>;
  /**
   * Optional: records a provider request that added no inbox row (a duplicate, a stale notification, a rejection),
   * for the admin dashboard. Table `sw_notification_outcomes` (migration `0007_admin_history`), pruned with raw bodies.
   */
  recordNotificationOutcome?(row: NotificationOutcomeRecord): Promise<void>;
  /** Release connections held by the store, if any. */
  close?(): Promise<void>;
}
