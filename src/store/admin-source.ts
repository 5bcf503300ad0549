import type { DomainEvent, Order, Subscription } from '../events/types.js';
import type { Codec, SqlDialect } from './sql-tables.js';
import type { DeliveryAttemptRecord, DeliveryRecord, EntitlementGrantRecord, InboxRecord, NotificationOutcomeRecord, WebhookEndpointRecord } from './types.js';

/**
 * How the admin read model reaches a store's data without growing the {@link Store} interface: each
 * store the package ships carries one of these under a symbol key (a spread of {@link sqlAdminSource}
 * or {@link memoryAdminSource} in its object). A custom store has none, and the dashboard says so.
 */
export const ADMIN_SOURCE: unique symbol = Symbol.for('subscription-webhooks.adminSource');

/** The parts of the memory store's state the read model looks at (read only). */
export interface MemoryAdminState {
  inbox: ReadonlyMap<string, InboxRecord>;
  orders: ReadonlyMap<string, Order>;
  subscriptions: ReadonlyMap<string, Subscription>;
  events: readonly DomainEvent[];
  endpoints: ReadonlyMap<string, WebhookEndpointRecord>;
  deliveries: ReadonlyMap<string, DeliveryRecord>;
  grants: ReadonlyMap<string, ReadonlyMap<string, EntitlementGrantRecord>>;
  attempts: ReadonlyMap<string, DeliveryAttemptRecord>;
  outcomes: ReadonlyMap<string, NotificationOutcomeRecord>;
}

/** Runs one read-only statement; PostgreSQL placeholders are `$1…`, SQLite's `?`. */
export type SqlQuery = (sql: string, params: readonly unknown[]) => Promise<Record<string, unknown>[]>;

export type AdminSource =
  | { kind: 'memory'; state(): MemoryAdminState }
  | { kind: 'sql'; dialect: SqlDialect; codec: Codec; query: SqlQuery }
  /** A store that learns its dialect on first use (prismaStore without `provider`): the source of the store it becomes. */
  | { kind: 'deferred'; load(): Promise<AdminSource | null> };

/** Spread into a SQL store's object: `{ name, ...sqlAdminSource('postgresql', pgCodec, query), ... }` (the codec the store reads rows with). */
export function sqlAdminSource(dialect: SqlDialect, codec: Codec, query: SqlQuery): { [ADMIN_SOURCE]: AdminSource } {
  return { [ADMIN_SOURCE]: { kind: 'sql', dialect, codec, query } };
}

/** Spread into the memory store's object; `state` returns the committed state (it is replaced on every commit). */
export function memoryAdminSource(state: () => MemoryAdminState): { [ADMIN_SOURCE]: AdminSource } {
  return { [ADMIN_SOURCE]: { kind: 'memory', state } };
}

/** The store's admin source, or null for a store that has none (a custom store). */
export function adminSourceOf(store: object): AdminSource | null {
  return (store as { [ADMIN_SOURCE]?: AdminSource })[ADMIN_SOURCE] ?? null;
}

/** Spread into a store that becomes another on first use: `load` resolves that store. */
export function deferredAdminSource(load: () => Promise<object>): { [ADMIN_SOURCE]: AdminSource } {
  return { [ADMIN_SOURCE]: { kind: 'deferred', load: async () => adminSourceOf(await load()) } };
}
