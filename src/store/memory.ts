import type { DomainEvent, Order, Provider, Subscription } from '../events/types.js';
import type { InboxRecord, Store, StoreTransaction, SubscriptionFilter } from './types.js';

interface MemoryState {
  inbox: Map<string, InboxRecord>;
  /** by order id */
  orders: Map<string, Order>;
  /** by `provider\0contract_id` */
  subscriptions: Map<string, Subscription>;
  /** in insertion order */
  events: DomainEvent[];
  eventIds: Set<string>;
}

const key = (provider: Provider, id: string): string => `${provider}\u0000${id}`;
const clone = <T>(value: T): T => structuredClone(value);

function emptyState(): MemoryState {
  return { inbox: new Map(), orders: new Map(), subscriptions: new Map(), events: [], eventIds: new Set() };
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

  function stage(base: MemoryState): MemoryState {
    // Shallow map copies suffice: stored values are never mutated in place, only replaced.
    return {
      inbox: new Map(base.inbox),
      orders: new Map(base.orders),
      subscriptions: new Map(base.subscriptions),
      events: [...base.events],
      eventIds: new Set(base.eventIds),
    };
  }

  function makeTx(s: MemoryState): StoreTransaction {
    return {
      async insertNotification(row) {
        const k = key(row.provider, row.notification_id);
        if (s.inbox.has(k)) return false;
        s.inbox.set(k, clone(row));
        return true;
      },
      async getOrderByNo(no) {
        return findOrder(s, (o) => o.no === no);
      },
      async getOrderByTradeNo(provider, tradeNo) {
        return findOrder(s, (o) => o.provider === provider && o.trade_no === tradeNo);
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
      async insertEvents(events) {
        const seen = new Set<string>();
        for (const e of events) {
          if (s.eventIds.has(e.id) || seen.has(e.id)) throw new Error(`memoryStore: unique constraint failed on events.id (${e.id})`);
          seen.add(e.id);
        }
        for (const e of events) {
          s.events.push(clone(e));
          s.eventIds.add(e.id);
        }
      },
    };
  }

  return {
    name: 'memory',
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
    async listSubscriptions(filter: SubscriptionFilter = {}) {
      return [...state.subscriptions.values()]
        .filter(
          (s) =>
            (filter.userId === undefined || s.user_id === filter.userId) &&
            (filter.provider === undefined || s.provider === filter.provider) &&
            (filter.status === undefined || s.status === filter.status),
        )
        .map(clone);
    },
    async getNotification(provider, notificationId) {
      const row = state.inbox.get(key(provider, notificationId));
      return row ? clone(row) : null;
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
    async close() {},
  };
}
