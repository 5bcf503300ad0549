import type { DomainEvent, Order, Provider, Subscription } from '../events/types.js';

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
  /** The exact request body as received. */
  raw_body: string;
  /** The verified, decoded payload. */
  payload: unknown;
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
  getOrderByNo(no: string): Promise<Order | null>;
  getOrderByTradeNo(provider: Provider, tradeNo: string): Promise<Order | null>;
  /** Insert or replace by `id` (`no` and `(provider, trade_no)` are unique too). */
  saveOrder(order: Order): Promise<void>;
  /** Read a subscription; where the database supports it, the row stays locked until the transaction ends. */
  getSubscription(provider: Provider, contractId: string): Promise<Subscription | null>;
  /** Insert or replace by `(provider, contract_id)`. */
  saveSubscription(subscription: Subscription): Promise<void>;
  /** Append to the event outbox. Event ids are unique. */
  insertEvents(events: DomainEvent[]): Promise<void>;
}

/** Filters for {@link Store.listSubscriptions}. */
export interface SubscriptionFilter {
  userId?: string;
  provider?: Provider;
  status?: Subscription['status'];
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
  getNotification(provider: Provider, notificationId: string): Promise<InboxRecord | null>;
  /** Number of inbox rows (for operations dashboards and tests). */
  countNotifications(provider?: Provider): Promise<number>;
  /** Events in commit order (oldest first). */
  listEvents(options?: { limit?: number; type?: DomainEvent['type'] }): Promise<DomainEvent[]>;
  /** Release connections held by the store, if any. */
  close?(): Promise<void>;
}
