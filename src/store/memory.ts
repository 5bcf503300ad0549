import type { DomainEvent, Order, Provider, Subscription } from '../events/types.js';
import { randomUUID } from 'node:crypto';
import type {
  ClaimedDelivery,
  ClaimedSubscription,
  DeliveryAttemptRecord,
  DeliveryRecord,
  EntitlementGrantRecord,
  InboxRecord,
  NotificationOutcomeRecord,
  NotificationSettingRecord,
  PruneCounts,
  Store,
  StoreTransaction,
  SubscriptionFilter,
  WebhookEndpointRecord,
} from './types.js';
import { memoryAdminSource } from './admin-source.js';
import { attemptRow, outcomeRow } from './history.js';
import { attemptsBefore } from './retention-sql.js';

interface MemoryState {
  inbox: Map<string, InboxRecord>;
  /** by order id */
  orders: Map<string, Order>;
  /** by `provider\0contract_id` */
  subscriptions: Map<string, Subscription>;
  /** in insertion order */
  events: DomainEvent[];
  eventIds: Set<string>;
  settings: Map<string, NotificationSettingRecord>;
  endpoints: Map<string, WebhookEndpointRecord>;
  /** by delivery id, in insertion order */
  deliveries: Map<string, DeliveryRecord & { locked_until: number | null; locked_by: string | null }>;
  /** event id → the event JSON as first serialized */
  bodies: Map<string, string>;
  /** Entitlement grants by user id (the index a user's read uses), each by `subscription_id\0entitlement`; inner maps are replaced, never mutated. */
  grants: Map<string, Map<string, EntitlementGrantRecord>>;
  /** subscription id → the user its grants belong to */
  grantOwner: Map<string, string>;
  /** subscription id → the lifecycle sweep's claim on it (the `sweep_claim` / `sweep_after` columns of the SQL stores) */
  sweep: Map<string, { claim: string | null; after: number | null }>;
  /** Delivery attempt records by id, in insertion order. */
  attempts: Map<string, DeliveryAttemptRecord>;
  /** Duplicate, stale and rejected request records by id, in insertion order. */
  outcomes: Map<string, NotificationOutcomeRecord>;
}

const key = (provider: Provider, id: string): string => `${provider}\u0000${id}`;
const clone = <T>(value: T): T => structuredClone(value);

function emptyState(): MemoryState {
  return {
    inbox: new Map(),
    orders: new Map(),
    subscriptions: new Map(),
    events: [],
    eventIds: new Set(),
    settings: new Map(),
    endpoints: new Map(),
    deliveries: new Map(),
    bodies: new Map(),
    grants: new Map(),
    grantOwner: new Map(),
    sweep: new Map(),
    attempts: new Map(),
    outcomes: new Map(),
  };
}

const byGrantKey = (a: EntitlementGrantRecord, b: EntitlementGrantRecord): number =>
  a.entitlement < b.entitlement
    ? -1
    : a.entitlement > b.entitlement
      ? 1
      : a.subscription_id < b.subscription_id
        ? -1
        : a.subscription_id > b.subscription_id
          ? 1
          : 0;

function userGrants(state: MemoryState, userId: string): EntitlementGrantRecord[] {
  return [...(state.grants.get(userId)?.values() ?? [])].map(clone).sort(byGrantKey);
}

function findOrder(state: MemoryState, pred: (o: Order) => boolean): Order | null {
  for (const o of state.orders.values()) if (pred(o)) return clone(o);
  return null;
}

/**
 * An in-process {@link Store} built on plain Maps. The default store: fine for tests, demos and
 * a single process; everything is lost on restart (use `prismaStore` in production).
 *
 * `transaction(fn)` runs units of work one at a time (a promise-chain mutex) and is atomic: `fn`
 * works on a staged copy of the state which replaces the committed state only when `fn` resolves,
 * so a throwing `fn` leaves nothing behind. Values are deep-copied in and out. Uniqueness matches
 * the database: a duplicate inbox row makes `insertNotification` resolve `false`; a duplicate order
 * `no`, order `(provider, trade_no)` or event `id` throws.
 *
 * @example
 * ```ts
 * import { createSubscriptionWebhooks, memoryStore } from 'subscription-webhooks';
 * const hooks = createSubscriptionWebhooks({ store: memoryStore() });
 * ```
 */
export function memoryStore(): Store {
  let state = emptyState();
  let chain: Promise<unknown> = Promise.resolve();
  /** Webhook receipts (callback replay protection): id → accepted at (ms). */
  const receipts = new Map<string, number>();

  function stage(base: MemoryState): MemoryState {
    // Shallow map copies suffice: stored values are never mutated in place, only replaced.
    return {
      inbox: new Map(base.inbox),
      orders: new Map(base.orders),
      subscriptions: new Map(base.subscriptions),
      events: [...base.events],
      eventIds: new Set(base.eventIds),
      settings: new Map(base.settings),
      endpoints: new Map(base.endpoints),
      deliveries: new Map(base.deliveries),
      bodies: new Map(base.bodies),
      grants: new Map(base.grants),
      grantOwner: new Map(base.grantOwner),
      sweep: new Map(base.sweep),
      attempts: new Map(base.attempts),
      outcomes: new Map(base.outcomes),
    };
  }

  function makeTx(s: MemoryState): StoreTransaction {
    return {
      async insertNotification(row) {
        const k = key(row.provider, row.notification_id);
        if (s.inbox.has(k)) return false;
        s.inbox.set(k, { ...clone(row), raw_sha256: row.raw_sha256 ?? null });
        return true;
      },
      async getOrderByNo(no) {
        return findOrder(s, (o) => o.no === no);
      },
      async getOrderByTradeNo(provider, tradeNo) {
        return findOrder(s, (o) => o.provider === provider && o.trade_no === tradeNo);
      },
      async getLatestOrderByOriginNo(provider, originNo) {
        let latest: Order | null = null;
        for (const o of s.orders.values()) {
          if (o.provider !== provider || o.origin_no !== originNo) continue;
          if (!latest || o.created > latest.created || (o.created === latest.created && o.id > latest.id)) latest = o;
        }
        return latest ? clone(latest) : null;
      },
      async insertOrder(order) {
        for (const o of s.orders.values()) {
          if (o.id === order.id || o.no === order.no || (order.trade_no !== null && o.provider === order.provider && o.trade_no === order.trade_no)) {
            throw new Error(`memoryStore: unique constraint failed on orders (order ${order.id} / ${order.no} / ${order.trade_no} exists)`);
          }
        }
        s.orders.set(order.id, clone(order));
      },
      async saveOrder(order) {
        for (const o of s.orders.values()) {
          if (o.id === order.id) continue;
          if (o.no === order.no) throw new Error(`memoryStore: unique constraint failed on orders.no (${order.no})`);
          if (order.trade_no !== null && o.provider === order.provider && o.trade_no === order.trade_no) {
            throw new Error(`memoryStore: unique constraint failed on orders (provider, trade_no) (${order.trade_no})`);
          }
        }
        s.orders.set(order.id, clone(order));
      },
      async getSubscription(provider, contractId) {
        const sub = s.subscriptions.get(key(provider, contractId));
        return sub ? clone(sub) : null;
      },
      async saveSubscription(subscription) {
        s.subscriptions.set(key(subscription.provider, subscription.contract_id), clone(subscription));
      },
      // Units of work run one at a time here: the user's grant set needs no lock of its own.
      listEntitlementGrants: async (userId) => userGrants(s, userId),
      async replaceEntitlementGrants(subscriptionId, grants) {
        const owner = s.grantOwner.get(subscriptionId);
        if (owner !== undefined) {
          const kept = new Map([...(s.grants.get(owner) ?? [])].filter(([, g]) => g.subscription_id !== subscriptionId));
          if (kept.size > 0) s.grants.set(owner, kept);
          else s.grants.delete(owner);
          s.grantOwner.delete(subscriptionId);
        }
        for (const g of grants) {
          if (g.subscription_id !== subscriptionId) throw new Error(`memoryStore: grant for ${g.subscription_id} passed for ${subscriptionId}`);
          const mine = new Map(s.grants.get(g.user_id) ?? []);
          mine.set(`${g.subscription_id}\u0000${g.entitlement}`, clone(g));
          s.grants.set(g.user_id, mine);
          s.grantOwner.set(subscriptionId, g.user_id);
        }
      },
      async insertEvents(events) {
        const seen = new Set<string>();
        for (const e of events) {
          if (s.eventIds.has(e.id) || seen.has(e.id)) throw new Error(`memoryStore: unique constraint failed on events.id (${e.id})`);
          seen.add(e.id);
        }
        for (const e of events) {
          s.events.push(clone(e));
          s.eventIds.add(e.id);
          s.bodies.set(e.id, JSON.stringify(e));
        }
      },
      getNotificationSetting: async (idOrMount) => findSetting(s, idOrMount),
      async saveNotificationSetting(setting) {
        for (const other of s.settings.values()) {
          if (other.id !== setting.id && other.mountLocation === setting.mountLocation) {
            throw new Error(`memoryStore: unique constraint failed on notification_settings.mount_location (${setting.mountLocation})`);
          }
        }
        s.settings.set(setting.id, clone(setting));
      },
      deleteNotificationSetting: async (id) => s.settings.delete(id),
      getWebhookEndpoint: async (id) => cloneOrNull(s.endpoints.get(id)),
      listWebhookEndpoints: async () => [...s.endpoints.values()].map(clone),
      async saveWebhookEndpoint(endpoint) {
        s.endpoints.set(endpoint.id, clone(endpoint));
      },
      async deleteWebhookEndpoint(id) {
        if (!s.endpoints.delete(id)) return false;
        for (const [k, d] of s.deliveries) if (d.endpoint_id === id) s.deliveries.delete(k);
        return true;
      },
      async insertDeliveries(rows) {
        const pairs = new Set([...s.deliveries.values()].map((d) => `${d.endpoint_id}\u0000${d.event_id}`));
        for (const r of rows) {
          const pair = `${r.endpoint_id}\u0000${r.event_id}`;
          if (s.deliveries.has(r.id) || pairs.has(pair)) throw new Error(`memoryStore: unique constraint failed on webhook_deliveries (${r.id})`);
          pairs.add(pair);
        }
        for (const r of rows) s.deliveries.set(r.id, { ...clone(r), locked_until: null, locked_by: null });
      },
    };
  }

  /** Runs `fn` on a staged copy under the same mutex as transactions, so claims never interleave with them. */
  function mutate<T>(fn: (s: MemoryState) => T): Promise<T> {
    const run = chain.then(() => {
      const staged = stage(state);
      const out = fn(staged);
      state = staged;
      return out;
    });
    chain = run.catch(() => undefined);
    return run;
  }

  return {
    name: 'memory',
    ...memoryAdminSource(() => state),
    transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
      const run = chain.then(async () => {
        const staged = stage(state);
        const result = await fn(makeTx(staged));
        state = staged;
        return result;
      });
      chain = run.catch(() => undefined);
      return run;
    },
    async getOrderByNo(no) {
      return findOrder(state, (o) => o.no === no);
    },
    async getSubscription(provider, contractId) {
      const sub = state.subscriptions.get(key(provider, contractId));
      return sub ? clone(sub) : null;
    },
    listEntitlementGrants: async (userId: string) => userGrants(state, userId),
    async listSubscriptions(filter: SubscriptionFilter = {}) {
      return [...state.subscriptions.values()]
        .filter(
          (s) =>
            (filter.userId === undefined || s.user_id === filter.userId) &&
            (filter.provider === undefined || s.provider === filter.provider) &&
            (filter.status === undefined || s.status === filter.status) &&
            (filter.appTransactionId === undefined || s.metadata?.app_transaction_id === filter.appTransactionId),
        )
        .map(clone);
    },
    async getNotification(provider, notificationId) {
      const row = state.inbox.get(key(provider, notificationId));
      return row ? clone(row) : null;
    },
    async hasWebhookReceipt(webhookId, since) {
      const at = receipts.get(webhookId);
      return at !== undefined && at >= Date.parse(since);
    },
    async recordWebhookReceipt(webhookId, at, forgetBefore) {
      const cutoff = Date.parse(forgetBefore);
      for (const [id, t] of receipts) if (t < cutoff) receipts.delete(id);
      receipts.set(webhookId, Date.parse(at));
    },
    prune(o) {
      return mutate((s): PruneCounts => {
        const before = (iso: string | null, cutoff: string) => iso !== null && Date.parse(iso) < Date.parse(cutoff);
        const take = <T>(items: Iterable<T>, when: (x: T) => boolean): T[] => {
          const out: T[] = [];
          for (const x of items) if (out.length < o.limit && when(x)) out.push(x);
          return out;
        };
        const deliveries = take(
          s.deliveries.values(),
          (d) =>
            ((d.status === 'delivered' || d.status === 'disabled') && before(d.updated, o.deliveredBefore)) ||
            (d.status === 'failed' && before(d.updated, o.failedBefore)),
        );
        for (const d of deliveries) s.deliveries.delete(d.id);
        const withDeliveries = new Set([...s.deliveries.values()].map((d) => d.event_id));
        const events = new Set(take(s.events, (e) => before(e.created, o.eventsBefore) && !withDeliveries.has(e.id)).map((e) => e.id));
        if (events.size > 0) s.events = s.events.filter((e) => !events.has(e.id));
        for (const id of events) {
          s.eventIds.delete(id);
          s.bodies.delete(id);
        }
        const raw = take(s.inbox.entries(), ([, r]) => r.raw_body !== null && before(r.received_at, o.rawBodiesBefore));
        for (const [k, r] of raw) s.inbox.set(k, { ...r, raw_body: null });
        const keys = take(s.inbox.entries(), ([, r]) => before(r.signed_at, o.notificationsBefore));
        for (const [k] of keys) s.inbox.delete(k);
        const cutoff = Date.parse(o.receiptsBefore);
        const old = take(receipts.entries(), ([, t]) => t < cutoff);
        for (const [id] of old) receipts.delete(id);
        const outcomes = take(s.outcomes.values(), (x) => before(x.received_at, o.rawBodiesBefore));
        for (const x of outcomes) s.outcomes.delete(x.id);
        const attempts = take(s.attempts.values(), (x) => before(x.at, attemptsBefore(o)));
        for (const x of attempts) s.attempts.delete(x.id);
        return {
          deliveries: deliveries.length,
          events: events.size,
          rawBodies: raw.length,
          notifications: keys.length,
          receipts: old.length,
          outcomes: outcomes.length,
          attempts: attempts.length,
        };
      });
    },
    async countNotifications(provider) {
      if (provider === undefined) return state.inbox.size;
      let n = 0;
      for (const r of state.inbox.values()) if (r.provider === provider) n++;
      return n;
    },
    async listEvents(options = {}) {
      let events = state.events;
      if (options.type !== undefined) events = events.filter((e) => e.type === options.type);
      if (options.limit !== undefined) events = events.slice(0, options.limit);
      return events.map(clone);
    },
    getNotificationSetting: async (idOrMount) => findSetting(state, idOrMount),
    listNotificationSettings: async () => [...state.settings.values()].map(clone),
    getWebhookEndpoint: async (id) => cloneOrNull(state.endpoints.get(id)),
    listWebhookEndpoints: async () => [...state.endpoints.values()].map(clone),
    getDelivery: async (id) => publicDelivery(state.deliveries.get(id)),
    async listDeliveries(filter = {}) {
      const out: DeliveryRecord[] = [];
      for (const d of state.deliveries.values()) {
        if (out.length >= (filter.limit ?? 100)) break;
        if (filter.status !== undefined && d.status !== filter.status) continue;
        if (filter.endpointId !== undefined && d.endpoint_id !== filter.endpointId) continue;
        if (filter.eventId !== undefined && d.event_id !== filter.eventId) continue;
        out.push(publicDelivery(d)!);
      }
      return out;
    },
    claimDeliveries({ now, limit, lockMs, excludeEndpointIds = [] }) {
      return mutate((s) => {
        const t = Date.parse(now);
        const claim = randomUUID();
        const due = [...s.deliveries.values()]
          .filter(
            (d) =>
              d.status === 'pending' && d.next_attempt_at !== null && Date.parse(d.next_attempt_at) <= t && (d.locked_until === null || d.locked_until < t),
          )
          .filter((d) => s.endpoints.get(d.endpoint_id)?.status !== 'disabled' && !excludeEndpointIds.includes(d.endpoint_id))
          .sort((a, b) => Date.parse(a.next_attempt_at!) - Date.parse(b.next_attempt_at!))
          .slice(0, limit);
        return due.map((d): ClaimedDelivery => {
          s.deliveries.set(d.id, { ...d, locked_until: t + lockMs, locked_by: claim });
          return { delivery: publicDelivery(d)!, claim, body: s.bodies.get(d.event_id) ?? 'null', endpoint: cloneOrNull(s.endpoints.get(d.endpoint_id)) };
        });
      });
    },
    claimSweepDue({ now, trialEndsBefore, periodEndedBefore, limit, lockMs }) {
      return mutate((s) => {
        const t = Date.parse(now);
        const trialBy = Date.parse(trialEndsBefore);
        const endedBy = Date.parse(periodEndedBefore);
        const claim = randomUUID();
        const due = [...s.subscriptions.values()]
          .filter((sub) => {
            if (sub.current_period_end === null) return false;
            const end = Date.parse(sub.current_period_end);
            const after = s.sweep.get(sub.id)?.after ?? null;
            if (after !== null && after > t) return false;
            return (sub.status === 'trialing' && end > t && end <= trialBy) || ((sub.status === 'active' || sub.status === 'trialing') && end <= endedBy);
          })
          .sort((a, b) => Date.parse(a.current_period_end!) - Date.parse(b.current_period_end!) || (a.id < b.id ? -1 : 1))
          .slice(0, limit);
        return due.map((sub): ClaimedSubscription => {
          s.sweep.set(sub.id, { claim, after: t + lockMs });
          return { subscription: clone(sub), claim };
        });
      });
    },
    releaseSweepClaim(subscriptionId, claim, after) {
      return mutate((s) => {
        if (s.sweep.get(subscriptionId)?.claim !== claim) return false;
        s.sweep.set(subscriptionId, { claim: null, after: after === null ? null : Date.parse(after) });
        return true;
      });
    },
    finishDelivery(id, claim, outcome) {
      return mutate((s) => {
        const d = s.deliveries.get(id);
        if (!d || d.locked_by !== claim) return false;
        const { disable_endpoint, duration_ms: _duration, ...fields } = outcome;
        s.deliveries.set(id, { ...d, ...fields, updated: outcome.last_attempt_at ?? d.updated, locked_until: null, locked_by: null });
        if (outcome.last_attempt_at !== null) {
          const attempt = { ...attemptRow(id, outcome), endpoint_id: d.endpoint_id };
          s.attempts.set(attempt.id, attempt);
        }
        const endpoint = s.endpoints.get(d.endpoint_id);
        if (disable_endpoint && endpoint)
          s.endpoints.set(endpoint.id, { ...endpoint, status: 'disabled', updated: outcome.last_attempt_at ?? endpoint.updated });
        return true;
      });
    },
    async listDeliveryAttempts(deliveryId) {
      return clone(
        [...state.attempts.values()]
          .filter((a) => a.delivery_id === deliveryId)
          .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.attempt - b.attempt))
          .slice(0, 100),
      );
    },
    recordNotificationOutcome(row) {
      return mutate((s) => void s.outcomes.set(row.id, outcomeRow(row)));
    },
    resetDelivery(id, now) {
      return mutate((s) => {
        const d = s.deliveries.get(id);
        if (!d) return null;
        if (d.locked_until !== null && d.locked_until >= Date.parse(now)) return 'claimed' as const;
        const next = {
          ...d,
          status: 'pending' as const,
          attempts: 0,
          next_attempt_at: now,
          delivered_at: null,
          updated: now,
          locked_until: null,
          locked_by: null,
        };
        s.deliveries.set(id, next);
        return publicDelivery(next);
      });
    },
    async close() {},
  };
}

function cloneOrNull<T>(value: T | undefined): T | null {
  return value === undefined ? null : clone(value);
}

function findSetting(s: MemoryState, idOrMount: string): NotificationSettingRecord | null {
  const byId = s.settings.get(idOrMount);
  if (byId) return clone(byId);
  for (const setting of s.settings.values()) if (setting.mountLocation === idOrMount) return clone(setting);
  return null;
}

function publicDelivery(d: (DeliveryRecord & { locked_until?: unknown; locked_by?: unknown }) | undefined): DeliveryRecord | null {
  if (!d) return null;
  const rest: Record<string, unknown> = { ...d };
  delete rest.locked_until;
  delete rest.locked_by;
  return clone(rest) as unknown as DeliveryRecord;
}
