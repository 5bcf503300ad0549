import { createHash, randomUUID } from 'node:crypto';
import type { DomainEvent, Order, Provider, Subscription } from '../events/types.js';
import { jsonbText } from './json-safe.js';
import { compactRawBody, expandRawBody } from './raw-body-codec.js';
import { pruneBatch, pruneStatements } from './retention-sql.js';
import { guardUnavailable, retryConflicts } from './sql-common.js';
import type {
  EntitlementGrantRecord,
  ClaimedDelivery,
  DeliveryRecord,
  InboxRecord,
  NotificationReads,
  NotificationSettingRecord,
  Store,
  StoreTransaction,
  WebhookEndpointRecord,
} from './types.js';

/** What `pgStore` needs from a connection: node-postgres' `query(text, values)`. */
export interface PgQueryable {
  query(config: { text: string; values?: unknown[]; name?: string }): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
}
/** A pooled connection: {@link PgQueryable} plus `release` (node-postgres `PoolClient`). */
export interface PgPoolClient extends PgQueryable {
  /** Pass an error (or `true`) to discard a broken connection instead of returning it to the pool. */
  release(destroy?: Error | boolean): void;
  on?(event: 'error', listener: (error: Error) => void): unknown;
  removeListener?(event: 'error', listener: (error: Error) => void): unknown;
}
/** A node-postgres `Pool` (or anything shaped like one, e.g. `@neondatabase/serverless`'s `Pool`). */
export interface PgPool extends PgQueryable {
  connect(): Promise<PgPoolClient>;
  end?(): Promise<void>;
  on?(event: 'error', listener: (error: Error) => void): unknown;
  listenerCount?(event: 'error'): number;
}

/** Options for {@link pgStore}. */
export interface PgStoreOptions {
  /** Times a unit of work is run again after a serialization failure, deadlock or order/subscription insert race. Default 3. */
  maxRetries?: number;
  /** Call `pool.end()` in `store.close()`. Default false (the app owns its pool). */
  endPoolOnClose?: boolean;
  /**
   * Send the store's statements as named prepared statements, so PostgreSQL parses and plans each once
   * per connection (measured: a third less database CPU per statement). Default true. Set false behind
   * a transaction-mode pooler that does not support prepared statements (PgBouncer before 1.21).
   */
  preparedStatements?: boolean;
}

/** Runs one statement on a connection or the pool. */
type Run = (q: PgQueryable, text: string, values?: unknown[]) => ReturnType<PgQueryable['query']>;
const MAX_PREPARED = 256;
/**
 * A {@link Run} that names statements (`sw_` + a hash of the text) so node-postgres prepares each once
 * per connection. Texts are built from our column lists and row counts only, so there are few; past
 * {@link MAX_PREPARED} distinct texts the rest go unnamed, which bounds what every connection keeps.
 */
function preparedRunner(enabled: boolean): Run {
  const names = new Map<string, string>();
  return (q, text, values = []) => {
    let name = names.get(text);
    if (enabled && name === undefined && names.size < MAX_PREPARED) {
      name = `sw_${createHash('sha1').update(text).digest('hex').slice(0, 20)}`;
      names.set(text, name);
    }
    return q.query(enabled && name ? { name, text, values } : { text, values });
  };
}

type Row = Record<string, unknown>;

// Timestamps are `timestamp(3) without time zone` holding UTC (as Prisma writes them). We send ISO
// strings (PostgreSQL drops the trailing `Z` for this type, keeping the UTC wall time) and read them
// back through to_char, so neither the app's pg type parsers nor the process time zone can shift them.
const select = (columns: readonly string[], timestamps: readonly string[], alias = ''): string =>
  columns.map((c) => (timestamps.includes(c) ? `to_char(${alias}"${c}", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "${c}"` : `${alias}"${c}"`)).join(', ');
const iso = (v: string | null): string | null => (v === null ? null : new Date(v).toISOString());
const jsonParam = (v: unknown): string => jsonbText(v);
const jsonOrNullParam = (v: unknown): string | null => (v === null || v === undefined ? null : jsonbText(v));
const str = (v: unknown): string => v as string;
const strOrNull = (v: unknown): string | null => (v ?? null) as string | null;

/** One table's columns in order, which of them are timestamps, and how a domain object maps onto them. */
interface Table<T> {
  name: string;
  columns: readonly string[];
  timestamps: readonly string[];
  values(x: T): unknown[];
  read(r: Row): T;
}

const ORDERS: Table<Order> = {
  name: 'sw_orders',
  columns: ['id', 'no', 'provider', 'trade_no', 'origin_no', 'status', 'user_id', 'product_id', 'amount', 'currency', 'paid_at', 'metadata', 'subscription_data', 'created_at', 'updated_at', 'amount_refunded', 'refund_reason'],
  timestamps: ['paid_at', 'created_at', 'updated_at'],
  values: (o) => [o.id, o.no, o.provider, o.trade_no, o.origin_no, o.status, o.user_id, o.product_id, o.amount, o.currency, iso(o.paid_at), jsonParam(o.metadata), jsonOrNullParam(o.subscription_data), iso(o.created), iso(o.updated), o.amount_refunded ?? null, o.refund_reason ?? null],
  read: (r) => ({
    id: str(r.id), no: str(r.no), trade_no: strOrNull(r.trade_no), origin_no: strOrNull(r.origin_no), status: r.status as Order['status'], user_id: strOrNull(r.user_id),
    product_id: strOrNull(r.product_id), provider: r.provider as Provider, amount: r.amount === null ? null : Number(r.amount), currency: strOrNull(r.currency),
    amount_refunded: r.amount_refunded === null || r.amount_refunded === undefined ? null : Number(r.amount_refunded), refund_reason: strOrNull(r.refund_reason),
    paid_at: strOrNull(r.paid_at), metadata: r.metadata as Order['metadata'], subscription_data: (r.subscription_data ?? null) as Order['subscription_data'],
    created: str(r.created_at), updated: str(r.updated_at),
  }),
};
const SUBSCRIPTIONS: Table<Subscription> = {
  name: 'sw_subscriptions',
  columns: ['id', 'provider', 'contract_id', 'user_id', 'product_id', 'status', 'auto_renew', 'current_period_start', 'current_period_end', 'pending_product_id', 'environment', 'latest_transaction_id', 'notification_settings', 'setting_id', 'metadata', 'last_event_at', 'created_at', 'updated_at'],
  timestamps: ['current_period_start', 'current_period_end', 'last_event_at', 'created_at', 'updated_at'],
  values: (s) => [s.id, s.provider, s.contract_id, s.user_id, s.product_id, s.status, s.auto_renew, iso(s.current_period_start), iso(s.current_period_end), s.pending_product_id, s.environment,
    s.latest_transaction_id, jsonOrNullParam(s.notification_settings), s.setting_id, jsonParam(s.metadata), iso(s.last_event_at), iso(s.created), iso(s.updated)],
  read: (r) => ({
    id: str(r.id), provider: r.provider as Provider, contract_id: str(r.contract_id), user_id: strOrNull(r.user_id), product_id: str(r.product_id),
    status: r.status as Subscription['status'], auto_renew: r.auto_renew as boolean, current_period_start: strOrNull(r.current_period_start),
    current_period_end: strOrNull(r.current_period_end), pending_product_id: strOrNull(r.pending_product_id), environment: r.environment as Subscription['environment'],
    latest_transaction_id: strOrNull(r.latest_transaction_id), notification_settings: (r.notification_settings ?? null) as Subscription['notification_settings'],
    setting_id: strOrNull(r.setting_id), metadata: r.metadata as Subscription['metadata'], last_event_at: strOrNull(r.last_event_at),
    created: str(r.created_at), updated: str(r.updated_at),
  }),
};
const INBOX: Table<InboxRecord> = {
  name: 'sw_notifications',
  columns: ['provider', 'notification_id', 'notification_type', 'subtype', 'environment', 'signed_at', 'received_at', 'raw_body', 'payload', 'raw_sha256'],
  timestamps: ['signed_at', 'received_at'],
  values: (n) => [n.provider, n.notification_id, n.notification_type, n.subtype, n.environment, iso(n.signed_at), iso(n.received_at), compactRawBody(n.raw_body), jsonParam(n.payload), n.raw_sha256 ?? null],
  read: (r) => ({
    provider: r.provider as Provider, notification_id: str(r.notification_id), notification_type: str(r.notification_type), subtype: strOrNull(r.subtype),
    environment: strOrNull(r.environment), signed_at: strOrNull(r.signed_at), received_at: str(r.received_at), raw_body: expandRawBody(strOrNull(r.raw_body)), payload: r.payload,
    raw_sha256: strOrNull(r.raw_sha256),
  }),
};
const SETTINGS: Table<NotificationSettingRecord> = {
  name: 'sw_notification_settings',
  columns: ['id', 'type', 'mount_location', 'description', 'component_did', 'settings', 'created_at', 'updated_at'],
  timestamps: ['created_at', 'updated_at'],
  values: (s) => [s.id, s.type, s.mountLocation, s.description, s.componentDid, jsonParam(s.settings), iso(s.created), iso(s.updated)],
  read: (r) => ({
    id: str(r.id), type: 'notification', mountLocation: str(r.mount_location), description: strOrNull(r.description), componentDid: strOrNull(r.component_did),
    settings: r.settings as NotificationSettingRecord['settings'], created: str(r.created_at), updated: str(r.updated_at),
  }),
};
const ENDPOINTS: Table<WebhookEndpointRecord> = {
  name: 'sw_webhook_endpoints',
  columns: ['id', 'url', 'enabled_events', 'status', 'secret', 'previous_secret', 'previous_secret_expires_at', 'description', 'metadata', 'created_at', 'updated_at', 'secret_key_id', 'failing_since'],
  timestamps: ['previous_secret_expires_at', 'created_at', 'updated_at', 'failing_since'],
  values: (e) => [e.id, e.url, jsonParam(e.enabled_events), e.status, e.secret, e.previous_secret, iso(e.previous_secret_expires_at), e.description, jsonParam(e.metadata), iso(e.created), iso(e.updated), e.secret_key_id ?? null, iso(e.failing_since ?? null)],
  read: (r) => ({
    id: str(r.id), url: str(r.url), enabled_events: r.enabled_events as string[], status: r.status as WebhookEndpointRecord['status'], secret: str(r.secret),
    previous_secret: strOrNull(r.previous_secret), previous_secret_expires_at: strOrNull(r.previous_secret_expires_at), description: strOrNull(r.description),
    metadata: r.metadata as WebhookEndpointRecord['metadata'], created: str(r.created_at), updated: str(r.updated_at),
    secret_key_id: strOrNull(r.secret_key_id ?? null), failing_since: strOrNull(r.failing_since ?? null),
  }),
};
const DELIVERIES: Table<DeliveryRecord> = {
  name: 'sw_webhook_deliveries',
  columns: ['id', 'endpoint_id', 'event_id', 'status', 'attempts', 'next_attempt_at', 'last_status', 'last_error', 'last_attempt_at', 'delivered_at', 'created_at', 'updated_at'],
  timestamps: ['next_attempt_at', 'last_attempt_at', 'delivered_at', 'created_at', 'updated_at'],
  values: (d) => [d.id, d.endpoint_id, d.event_id, d.status, d.attempts, iso(d.next_attempt_at), d.last_status, d.last_error, iso(d.last_attempt_at), iso(d.delivered_at), iso(d.created), iso(d.updated)],
  read: (r) => ({
    id: str(r.id), endpoint_id: str(r.endpoint_id), event_id: str(r.event_id), status: r.status as DeliveryRecord['status'], attempts: Number(r.attempts),
    next_attempt_at: strOrNull(r.next_attempt_at), last_status: r.last_status === null ? null : Number(r.last_status), last_error: strOrNull(r.last_error),
    last_attempt_at: strOrNull(r.last_attempt_at), delivered_at: strOrNull(r.delivered_at), created: str(r.created_at), updated: str(r.updated_at),
  }),
};

const GRANTS: Table<EntitlementGrantRecord> = {
  name: 'sw_entitlement_grants',
  columns: ['subscription_id', 'entitlement', 'user_id', 'provider', 'product_id', 'status', 'expires_at', 'updated_at'],
  timestamps: ['expires_at', 'updated_at'],
  values: (g) => [g.subscription_id, g.entitlement, g.user_id, g.provider, g.product_id, g.status, iso(g.expires_at), iso(g.updated)],
  read: (r) => ({
    subscription_id: str(r.subscription_id), entitlement: str(r.entitlement), user_id: str(r.user_id), provider: r.provider as Provider, product_id: str(r.product_id),
    status: r.status as EntitlementGrantRecord['status'], expires_at: strOrNull(r.expires_at), updated: str(r.updated_at),
  }),
};
/** First key of the advisory lock taken on a user's entitlements ("SW"); the second is hashtext(user_id). Same as prismaStore's. */
const GRANT_LOCK_NAMESPACE = 0x5357;

const columnList = (columns: readonly string[]): string => columns.map((c) => `"${c}"`).join(', ');
const placeholders = (rows: number, width: number, offset = 0): string =>
  Array.from({ length: rows }, (_, r) => `(${Array.from({ length: width }, (_, c) => `$${offset + r * width + c + 1}`).join(', ')})`).join(', ');
const selectFrom = <T>(t: Table<T>, where: string): string => `SELECT ${select(t.columns, t.timestamps)} FROM "${t.name}" ${where}`;
/** A multi-row INSERT: `conflict` is its ON CONFLICT clause, if any. */
interface Write { table: string; columns: readonly string[]; rows: unknown[][]; conflict: string }
/** The INSERT text of `w`, its placeholders starting after `offset`. Built from our own table and column names only. */
function writeSql(w: Pick<Write, 'table' | 'columns' | 'conflict'> & { rows: { length: number } }, offset = 0): string {
  return `INSERT INTO "${w.table}" (${columnList(w.columns)}) VALUES ${placeholders(w.rows.length, w.columns.length, offset)} ${w.conflict}`;
}
const onConflictUpdate = <T>(t: Table<T>, key: string): string => `ON CONFLICT (${key}) DO UPDATE SET ${t.columns.map((c) => `"${c}" = EXCLUDED."${c}"`).join(', ')}`;
const upsertSql = <T>(t: Table<T>, key: string): string => writeSql({ table: t.name, columns: t.columns, rows: { length: 1 }, conflict: onConflictUpdate(t, key) });
const ORDER_UPSERT = onConflictUpdate(ORDERS, '"id"');
const SUBSCRIPTION_UPSERT = onConflictUpdate(SUBSCRIPTIONS, '"provider", "contract_id"');
const EVENT_COLUMNS = ['id', 'type', 'provider', 'created', 'body'] as const;
// PostgreSQL accepts 65,535 bind parameters per statement; stay well below.
const MAX_PARAMS = 30_000;
/**
 * Sends the writes buffered by a transaction in as few statements as possible: one, normally, with
 * each INSERT a data-modifying CTE (`WITH w0 AS (INSERT …), w1 AS (INSERT …) SELECT 1`). Every extra
 * round trip costs a socket write and a wakeup on both sides, which is most of a notification's CPU
 * here (BENCHMARKS.md); the writes touch different rows, so their order inside the statement is free.
 */
async function flushWrites(run: Run, c: PgQueryable, writes: Write[]): Promise<void> {
  const pieces = writes.flatMap((w) => {
    // Split a write whose rows alone exceed the parameter budget.
    const perPiece = Math.max(1, Math.floor(MAX_PARAMS / w.columns.length));
    return Array.from({ length: Math.ceil(w.rows.length / perPiece) }, (_, i) => ({ ...w, rows: w.rows.slice(i * perPiece, (i + 1) * perPiece) }));
  });
  let batch: Write[] = [];
  let params = 0;
  const send = async () => {
    if (batch.length === 0) return;
    const values: unknown[] = [];
    const sql = batch.map((w) => {
      const text = writeSql(w, values.length);
      for (const row of w.rows) values.push(...row);
      return text;
    });
    await run(c, sql.length === 1 ? sql[0]! : `WITH ${sql.map((q, i) => `w${i} AS (${q})`).join(', ')} SELECT 1`, values);
    batch = [];
    params = 0;
  };
  for (const w of pieces) {
    const n = w.rows.length * w.columns.length;
    if (params + n > MAX_PARAMS) await send();
    batch.push(w);
    params += n;
  }
  await send();
}

// Statement texts are built once: the hot path only binds values.
const SQL = {
  insertInbox: `INSERT INTO "sw_notifications" ("id", ${columnList(INBOX.columns)}) VALUES ${placeholders(1, INBOX.columns.length + 1)} ON CONFLICT ("provider", "notification_id") DO NOTHING`,
  // Inside a transaction an order is read locked: the state a unit of work decides on is the one it writes over.
  orderByNo: selectFrom(ORDERS, 'WHERE "no" = $1'),
  orderByNoForUpdate: selectFrom(ORDERS, 'WHERE "no" = $1 FOR UPDATE'),
  orderByTradeNoForUpdate: selectFrom(ORDERS, 'WHERE "provider" = $1 AND "trade_no" = $2 FOR UPDATE'),
  latestOrderByOriginNo: selectFrom(ORDERS, 'WHERE "provider" = $1 AND "origin_no" = $2 ORDER BY "created_at" DESC, "id" DESC LIMIT 1'),
  subscription: selectFrom(SUBSCRIPTIONS, 'WHERE "provider" = $1 AND "contract_id" = $2'),
  subscriptionForUpdate: selectFrom(SUBSCRIPTIONS, 'WHERE "provider" = $1 AND "contract_id" = $2 FOR UPDATE'),
  // By id first, else by the unique mountLocation (seed 000: `metadata.setting_id` may be either).
  setting: selectFrom(SETTINGS, 'WHERE "id" = $1 OR "mount_location" = $1 ORDER BY ("id" = $1) DESC LIMIT 1'),
  settings: selectFrom(SETTINGS, 'ORDER BY "created_at", "id"'),
  upsertSetting: upsertSql(SETTINGS, '"id"'),
  endpoint: selectFrom(ENDPOINTS, 'WHERE "id" = $1'),
  endpoints: selectFrom(ENDPOINTS, 'ORDER BY "created_at", "id"'),
  endpointsById: selectFrom(ENDPOINTS, 'WHERE "id" = ANY($1::text[])'),
  upsertEndpoint: upsertSql(ENDPOINTS, '"id"'),
  delivery: selectFrom(DELIVERIES, 'WHERE "id" = $1'),
  inbox: selectFrom(INBOX, 'WHERE "provider" = $1 AND "notification_id" = $2'),
  // One indexed read (sw_entitlement_grants_user_id_entitlement_idx) of a user's grants.
  grantsOfUser: selectFrom(GRANTS, 'WHERE "user_id" = $1 ORDER BY "entitlement", "subscription_id"'),
  lockUserGrants: `SELECT pg_advisory_xact_lock(${GRANT_LOCK_NAMESPACE}, hashtext($1::text))`,
  // One statement: drop the subscription's grants that are no longer given, upsert the others.
  replaceGrants: (rows: number): string =>
    `WITH d AS (DELETE FROM "sw_entitlement_grants" WHERE "subscription_id" = $1 AND NOT ("entitlement" = ANY($2::text[])))` +
    (rows === 0 ? ' SELECT 1' : ` ${writeSql({ table: GRANTS.name, columns: GRANTS.columns, rows: { length: rows }, conflict: onConflictUpdate(GRANTS, '"subscription_id", "entitlement"') }, 2)}`),
} as const;

const asJson = <T>(t: Table<T>, from: string, where: string, lock = ''): string => `SELECT row_to_json(x) FROM (SELECT ${select(t.columns, t.timestamps)} FROM ${from} ${where} ${lock}) x`;
const PRUNE = pruneStatements('postgresql');
const INSERTED = 'EXISTS (SELECT 1 FROM ins)';
/**
 * The inbox insert and everything a notification reads, in one statement (see insertNotificationAndLoad).
 * The subscriptions are locked only once the insert went through (the EXISTS on its RETURNING makes
 * PostgreSQL run the insert first), so the lock order is the same as insertNotification then
 * getSubscription, and a duplicate locks nothing. Parameters: the inbox row ($1–$11), one subscription
 * key ($12, $13), one order number ($14), one order trade key ($15, $16) (null: none), setting keys
 * ($17), endpoints wanted ($18). One key per unique index, compared with `=`: PostgreSQL then answers
 * each from its index even in the generic plan it settles on for a prepared statement, whatever the
 * table's size when that plan was made (measured: `= ANY(array)`, `IN (unnest …)` or an OR across two
 * indexes were planned as scans of the whole table). Further keys are not loaded: their getters query.
 */
const INSERT_AND_LOAD = `WITH ins AS (${SQL.insertInbox} RETURNING 1),
  s AS (SELECT ${select(SUBSCRIPTIONS.columns, SUBSCRIPTIONS.timestamps)} FROM "sw_subscriptions"
    WHERE "provider" = $12::text AND "contract_id" = $13::text AND ${INSERTED} FOR UPDATE)
SELECT 'i' AS "k", NULL::json AS "r" FROM ins
UNION ALL SELECT 's', row_to_json(s) FROM s
UNION ALL SELECT 'o', r FROM (${asJson(ORDERS, '"sw_orders"', `WHERE ${INSERTED} AND "no" = $14::text`, 'FOR UPDATE')}) o(r)
UNION ALL SELECT 'o', r FROM (${asJson(ORDERS, '"sw_orders"', `WHERE ${INSERTED} AND "provider" = $15::text AND "trade_no" = $16::text`, 'FOR UPDATE')}) t(r)
UNION ALL SELECT 'n', r FROM (${asJson(SETTINGS, '"sw_notification_settings"', `WHERE ${INSERTED} AND ("id" = ANY($17::text[]) OR "mount_location" = ANY($17::text[]))`)}) n(r)
UNION ALL SELECT 'e', r FROM (${asJson(ENDPOINTS, '"sw_webhook_endpoints"', `WHERE ${INSERTED} AND $18::boolean`)}) e(r)`;
// Keys of what a transaction has read or written: one spelling, shared by the loads and the getters.
const subscriptionKey = (provider: Provider, contractId: string): string => `${provider}\0${contractId}`;
const orderNoKey = (no: string): string => `no:${no}`;
const orderTradeKey = (provider: Provider, tradeNo: string): string => `trade:${provider}\0${tradeNo}`;
const byCreated = <T extends { created: string; id: string }>(a: T, b: T): number => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * A {@link Store} on PostgreSQL through node-postgres (`pg`), on the same `sw_*` tables as
 * `prismaStore` (create them from `prisma-schema/subscription-webhooks.prisma` with your Prisma
 * migrations, or with `applySqlMigrations`). Use it when notification volume matters: a notification
 * costs about a tenth of the CPU it costs through Prisma's query layer (see BENCHMARKS.md), because each
 * statement goes straight to the driver. Prisma 7 apps can share one pool: `new PrismaPg(pool)`.
 *
 * Same guarantees as `prismaStore` on PostgreSQL: one transaction per notification (Read Committed),
 * the subscription row locked with `SELECT … FOR UPDATE`, inbox duplicates absorbed by
 * `ON CONFLICT DO NOTHING`, lost insert races and serialization failures re-run the unit of work, and an
 * unreachable database is `STORE_UNAVAILABLE`. Passes the conformance suite of `subscription-webhooks/testing`.
 *
 * @param pool - a node-postgres `Pool` (sized for your concurrency; statement timeouts come from its config)
 * @throws SubscriptionWebhooksError `STORE_UNAVAILABLE` (from every method) when the database cannot be reached
 * @example
 * ```ts
 * import pg from 'pg';
 * import { pgStore } from 'subscription-webhooks/pg';
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const hooks = createSubscriptionWebhooks({ store: pgStore(pool) });
 * ```
 */
export function pgStore(pool: PgPool, options: PgStoreOptions = {}): Store {
  // node-postgres emits 'error' on the pool when the server drops an idle connection (restart, failover,
  // admin shutdown); with no listener that crashes the process. The next query reconnects, and one
  // that fails meanwhile is STORE_UNAVAILABLE, so a pool without a listener of its own gets a quiet one.
  if (pool.on && pool.listenerCount?.('error') === 0) pool.on('error', () => {});
  const guard = <T>(fn: () => PromiseLike<T>): Promise<T> => guardUnavailable('postgresql', fn);
  const run = preparedRunner(options.preparedStatements ?? true);
  const one = async <T>(q: PgQueryable, t: Table<T>, sql: string, values: unknown[]): Promise<T | null> => {
    const { rows } = await run(q, sql, values);
    return rows[0] ? t.read(rows[0]) : null;
  };
  const many = async <T>(q: PgQueryable, t: Table<T>, sql: string, values: unknown[] = []): Promise<T[]> => (await run(q, sql, values)).rows.map(t.read);

  /**
   * The transaction's methods. Order, subscription, event and delivery writes are buffered and sent
   * together by `flush()` just before COMMIT (see {@link flushWrites}); reads of buffered rows are
   * answered from the buffer, and the one statement that could see them (deleting an endpoint's
   * deliveries) flushes first. Constraint violations therefore surface at commit, and the whole unit
   * of work re-runs on a lost race exactly as before.
   */
  function wrap(c: PgQueryable): StoreTransaction & { flush(): Promise<void> } {
    const readNull = new Set<string>();
    const lockedUsers = new Set<string>();
    // Within one transaction a row read (and locked) once cannot change under us: answer again from memory.
    const seen = new Map<string, Subscription | null>();
    /** Buffered order writes by id: `insert` for a new order (a plain INSERT: a unique violation is a lost race and the unit of work re-runs). */
    const orders = new Map<string, { order: Order; insert: boolean }>();
    const subscriptions = new Map<string, { sub: Subscription; insert: boolean }>();
    let events: DomainEvent[] = [];
    let deliveries: DeliveryRecord[] = [];
    // What insertNotificationAndLoad read: lookups it covered are answered from here, not queried again.
    const loadedOrders = new Map<string, Order[]>(); // by orderNoKey / orderTradeKey
    const loadedSettings = new Map<string, NotificationSettingRecord | null>();
    let loadedEndpoints: WebhookEndpointRecord[] | null = null;
    /** A row read from the database, unless this transaction has since rewritten it (then the buffered version, if it still matches). */
    const orderRead = async (key: string, sql: string, values: unknown[], matches: (o: Order) => boolean): Promise<Order | null> => {
      for (const { order: o } of orders.values()) if (matches(o)) return structuredClone(o);
      const loaded = loadedOrders.get(key);
      const found = loaded ? (loaded.find(matches) ?? null) : await one(c, ORDERS, sql, values);
      return found && orders.has(found.id) ? null : structuredClone(found);
    };
    async function insertNotificationAndLoad(n: InboxRecord, reads: NotificationReads): Promise<boolean> {
      const subs = (reads.subscriptions ?? []).slice(0, 1);
      const trades = (reads.orderTradeNos ?? []).slice(0, 1);
      const nos = (reads.orderNos ?? []).slice(0, 1);
      const { rows } = await run(c, INSERT_AND_LOAD, [
        randomUUID(), ...INBOX.values(n), subs[0]?.provider ?? null, subs[0]?.contractId ?? null, nos[0] ?? null,
        trades[0]?.provider ?? null, trades[0]?.tradeNo ?? null, reads.settings ?? [], reads.webhookEndpoints === true,
      ]);
      if (!rows.some((r) => r.k === 'i')) return false;
      const of = (k: string) => rows.filter((r) => r.k === k).map((r) => r.r as Row);
      const subscriptionsRead = of('s').map(SUBSCRIPTIONS.read);
      for (const { provider, contractId } of subs) {
        const key = subscriptionKey(provider, contractId);
        const sub = subscriptionsRead.find((x) => x.provider === provider && x.contract_id === contractId) ?? null;
        if (!sub) readNull.add(key);
        seen.set(key, sub);
      }
      const ordersRead = of('o').map(ORDERS.read);
      for (const no of nos) loadedOrders.set(orderNoKey(no), ordersRead.filter((o) => o.no === no));
      for (const { provider, tradeNo } of trades) loadedOrders.set(orderTradeKey(provider, tradeNo), ordersRead.filter((o) => o.provider === provider && o.trade_no === tradeNo));
      const settingsRead = of('n').map(SETTINGS.read);
      for (const key of reads.settings ?? []) loadedSettings.set(key, settingsRead.find((x) => x.id === key) ?? settingsRead.find((x) => x.mountLocation === key) ?? null);
      if (reads.webhookEndpoints) loadedEndpoints = of('e').map(ENDPOINTS.read).sort(byCreated);
      return true;
    }
    async function flush(): Promise<void> {
      const writes: Write[] = [];
      const orderWrites = [...orders.values()];
      const orderInserts = orderWrites.filter((x) => x.insert).map((x) => ORDERS.values(x.order));
      const orderUpserts = orderWrites.filter((x) => !x.insert).map((x) => ORDERS.values(x.order));
      if (orderInserts.length > 0) writes.push({ table: ORDERS.name, columns: ORDERS.columns, rows: orderInserts, conflict: '' });
      if (orderUpserts.length > 0) writes.push({ table: ORDERS.name, columns: ORDERS.columns, rows: orderUpserts, conflict: ORDER_UPSERT });
      const subs = [...subscriptions.values()];
      // After reading nothing, a plain INSERT: a unique violation means another instance won the race (the unit of work re-runs).
      const inserts = subs.filter((x) => x.insert).map((x) => SUBSCRIPTIONS.values(x.sub));
      const upserts = subs.filter((x) => !x.insert).map((x) => SUBSCRIPTIONS.values(x.sub));
      if (inserts.length > 0) writes.push({ table: SUBSCRIPTIONS.name, columns: SUBSCRIPTIONS.columns, rows: inserts, conflict: '' });
      if (upserts.length > 0) writes.push({ table: SUBSCRIPTIONS.name, columns: SUBSCRIPTIONS.columns, rows: upserts, conflict: SUBSCRIPTION_UPSERT });
      if (events.length > 0) writes.push({ table: 'sw_events', columns: EVENT_COLUMNS, rows: events.map((e) => [e.id, e.type, e.provider, iso(e.created), JSON.stringify(e)]), conflict: '' });
      if (deliveries.length > 0) writes.push({ table: DELIVERIES.name, columns: DELIVERIES.columns, rows: deliveries.map(DELIVERIES.values), conflict: '' });
      orders.clear();
      subscriptions.clear();
      events = [];
      deliveries = [];
      await flushWrites(run, c, writes);
    }
    return {
      flush,
      insertNotification: async (n) => (await run(c, SQL.insertInbox, [randomUUID(), ...INBOX.values(n)])).rowCount === 1,
      insertNotificationAndLoad,
      getOrderByNo: (no) => orderRead(orderNoKey(no), SQL.orderByNoForUpdate, [no], (o) => o.no === no),
      getOrderByTradeNo: (provider, tradeNo) =>
        orderRead(orderTradeKey(provider, tradeNo), SQL.orderByTradeNoForUpdate, [provider, tradeNo], (o) => o.provider === provider && o.trade_no === tradeNo),
      async getLatestOrderByOriginNo(provider, originNo) {
        // Orders this unit of work wrote are not in the table yet: the newest of both.
        const found = await one(c, ORDERS, SQL.latestOrderByOriginNo, [provider, originNo]);
        const buffered = [...orders.values()].map((x) => x.order).filter((o) => o.provider === provider && o.origin_no === originNo);
        const all = [...(found && !orders.has(found.id) ? [found] : []), ...buffered].sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : a.id < b.id ? 1 : -1));
        return all[0] ? structuredClone(all[0]) : null;
      },
      insertOrder: async (o) => void orders.set(o.id, { order: structuredClone(o), insert: true }),
      saveOrder: async (o) => void orders.set(o.id, { order: structuredClone(o), insert: orders.get(o.id)?.insert === true }),
      async getSubscription(provider, contractId) {
        const k = subscriptionKey(provider, contractId);
        if (seen.has(k)) return structuredClone(seen.get(k) ?? null);
        const sub = await one(c, SUBSCRIPTIONS, SQL.subscriptionForUpdate, [provider, contractId]);
        if (!sub) readNull.add(k);
        seen.set(k, sub);
        return structuredClone(sub);
      },
      async saveSubscription(s) {
        const k = subscriptionKey(s.provider, s.contract_id);
        const insert = readNull.has(k) || subscriptions.get(k)?.insert === true;
        readNull.delete(k);
        subscriptions.set(k, { sub: structuredClone(s), insert });
        seen.set(k, structuredClone(s));
      },
      insertEvents: async (e) => void events.push(...structuredClone(e)),
      getNotificationSetting: async (idOrMount) =>
        loadedSettings.has(idOrMount) ? structuredClone(loadedSettings.get(idOrMount) ?? null) : one(c, SETTINGS, SQL.setting, [idOrMount]),
      async saveNotificationSetting(s) {
        loadedSettings.clear();
        await run(c, SQL.upsertSetting, SETTINGS.values(s));
      },
      async deleteNotificationSetting(id) {
        loadedSettings.clear();
        return (await run(c, 'DELETE FROM "sw_notification_settings" WHERE "id" = $1', [id])).rowCount === 1;
      },
      getWebhookEndpoint: (id) => one(c, ENDPOINTS, SQL.endpoint, [id]),
      listWebhookEndpoints: async () => (loadedEndpoints ? structuredClone(loadedEndpoints) : many(c, ENDPOINTS, SQL.endpoints)),
      async saveWebhookEndpoint(e) {
        loadedEndpoints = null;
        await run(c, SQL.upsertEndpoint, ENDPOINTS.values(e));
      },
      async deleteWebhookEndpoint(id) {
        loadedEndpoints = null;
        await flush();
        await run(c, 'DELETE FROM "sw_webhook_deliveries" WHERE "endpoint_id" = $1', [id]);
        return (await run(c, 'DELETE FROM "sw_webhook_endpoints" WHERE "id" = $1', [id])).rowCount === 1;
      },
      insertDeliveries: async (rows) => void deliveries.push(...structuredClone(rows)),
      async listEntitlementGrants(userId) {
        // Lock, then read in a second statement (Read Committed: it sees what the previous holder committed).
        if (!lockedUsers.has(userId)) {
          await run(c, SQL.lockUserGrants, [userId]);
          lockedUsers.add(userId);
        }
        return many(c, GRANTS, SQL.grantsOfUser, [userId]);
      },
      async replaceEntitlementGrants(subscriptionId, grants) {
        await run(c, SQL.replaceGrants(grants.length), [subscriptionId, grants.map((g) => g.entitlement), ...grants.flatMap(GRANTS.values)]);
      },
    };
  }

  /** BEGIN … COMMIT on one pooled connection; a connection that failed mid-way is discarded, not reused. */
  async function inTransaction<T>(fn: (c: PgQueryable) => Promise<T>): Promise<T> {
    const client = await pool.connect();
    let broken: Error | undefined;
    // A connection lost while we hold it is reported twice: the pending query rejects (and becomes
    // STORE_UNAVAILABLE), and the client emits 'error', which would crash the process unheard.
    const onError = (error: Error) => {
      broken = error;
    };
    client.on?.('error', onError);
    try {
      await client.query({ text: 'BEGIN ISOLATION LEVEL READ COMMITTED' });
      const result = await fn(client);
      await client.query({ text: 'COMMIT' });
      return result;
    } catch (error) {
      try {
        await client.query({ text: 'ROLLBACK' });
      } catch (rollbackError) {
        broken = rollbackError as Error;
      }
      throw error;
    } finally {
      client.removeListener?.('error', onError);
      client.release(broken);
    }
  }

  async function claim(now: string, limit: number, lockMs: number, exclude: readonly string[]): Promise<ClaimedDelivery[]> {
    const token = randomUUID();
    const until = new Date(Date.parse(now) + lockMs).toISOString();
    // One statement claims and reads back: concurrent workers skip each other's locked rows instead of waiting or double-claiming.
    const { rows } = await run(pool,
      `WITH claimed AS (
        UPDATE "sw_webhook_deliveries" SET "locked_until" = $1, "locked_by" = $2
        WHERE "id" IN (
          SELECT d."id" FROM "sw_webhook_deliveries" d
          LEFT JOIN "sw_webhook_endpoints" e ON e."id" = d."endpoint_id"
          WHERE d."status" = 'pending' AND d."next_attempt_at" <= $3
            AND (d."locked_until" IS NULL OR d."locked_until" < $3)
            AND (e."status" IS NULL OR e."status" <> 'disabled')
            AND NOT (d."endpoint_id" = ANY($5::text[]))
          ORDER BY d."next_attempt_at", d."id"
          LIMIT $4
          FOR UPDATE OF d SKIP LOCKED)
        RETURNING *)
      SELECT ${select(DELIVERIES.columns, DELIVERIES.timestamps, 'c.')}, ev."body" AS "__body"
      FROM claimed c LEFT JOIN "sw_events" ev ON ev."id" = c."event_id"
      ORDER BY c."next_attempt_at", c."id"`,
      [until, token, iso(now), limit, [...exclude]],
    );
    if (rows.length === 0) return [];
    const endpointIds = [...new Set(rows.map((r) => str(r.endpoint_id)))];
    const endpoints = new Map((await many(pool, ENDPOINTS, SQL.endpointsById, [endpointIds])).map((e) => [e.id, e]));
    return rows.map((r) => ({ delivery: DELIVERIES.read(r), claim: token, body: (r.__body as string | null) ?? 'null', endpoint: endpoints.get(str(r.endpoint_id)) ?? null }));
  }

  const finishSql = `UPDATE "sw_webhook_deliveries" SET "status" = $3, "attempts" = $4, "next_attempt_at" = $5, "last_status" = $6, "last_error" = $7,
    "last_attempt_at" = $8, "delivered_at" = $9, "locked_until" = NULL, "locked_by" = NULL, "updated_at" = $10
    WHERE "id" = $1 AND "locked_by" = $2 RETURNING "endpoint_id"`;

  return {
    name: 'pg:postgresql',
    transaction: (fn) =>
      retryConflicts(options.maxRetries ?? 3, () =>
        guard(() =>
          inTransaction(async (c) => {
            const tx = wrap(c);
            const result = await fn(tx);
            await tx.flush();
            return result;
          }),
        ),
      ),
    getOrderByNo: (no) => guard(() => one(pool, ORDERS, SQL.orderByNo, [no])),
    getSubscription: (provider, contractId) => guard(() => one(pool, SUBSCRIPTIONS, SQL.subscription, [provider, contractId])),
    listEntitlementGrants: (userId) => guard(() => many(pool, GRANTS, SQL.grantsOfUser, [userId])),
    listSubscriptions: (f = {}) =>
      guard(() =>
        many(pool, SUBSCRIPTIONS, selectFrom(SUBSCRIPTIONS, `WHERE ($1::text IS NULL OR "user_id" = $1) AND ($2::text IS NULL OR "provider" = $2)
          AND ($3::text IS NULL OR "status" = $3) ORDER BY "created_at", "id"`), [f.userId ?? null, f.provider ?? null, f.status ?? null])),
    getNotification: (provider, notificationId) => guard(() => one(pool, INBOX, SQL.inbox, [provider, notificationId])),
    countNotifications: (provider) =>
      guard(async () => Number((await run(pool, 'SELECT count(*)::int AS n FROM "sw_notifications" WHERE ($1::text IS NULL OR "provider" = $1)', [provider ?? null])).rows[0]!.n)),
    hasWebhookReceipt: (webhookId, since) =>
      guard(async () => (await run(pool, 'SELECT 1 FROM "sw_webhook_receipts" WHERE "webhook_id" = $1 AND "received_at" >= $2', [webhookId, iso(since)])).rows.length === 1),
    recordWebhookReceipt: (webhookId, at, forgetBefore) =>
      guard(async () => {
        await run(pool, `WITH old AS (DELETE FROM "sw_webhook_receipts" WHERE "received_at" < $3 AND "webhook_id" <> $1)
          INSERT INTO "sw_webhook_receipts" ("webhook_id", "received_at") VALUES ($1, $2) ON CONFLICT ("webhook_id") DO UPDATE SET "received_at" = EXCLUDED."received_at"`, [webhookId, iso(at), iso(forgetBefore)]);
      }),
    listEvents: (o = {}) =>
      guard(async () =>
        (await run(pool, 'SELECT "body" FROM "sw_events" WHERE ($1::text IS NULL OR "type" = $1) ORDER BY "sequence" LIMIT $2', [o.type ?? null, o.limit ?? null])).rows.map(
          (r) => JSON.parse(str(r.body)) as DomainEvent,
        )),
    getNotificationSetting: (idOrMount) => guard(() => one(pool, SETTINGS, SQL.setting, [idOrMount])),
    listNotificationSettings: () => guard(() => many(pool, SETTINGS, SQL.settings)),
    getWebhookEndpoint: (id) => guard(() => one(pool, ENDPOINTS, SQL.endpoint, [id])),
    listWebhookEndpoints: () => guard(() => many(pool, ENDPOINTS, SQL.endpoints)),
    getDelivery: (id) => guard(() => one(pool, DELIVERIES, SQL.delivery, [id])),
    listDeliveries: (f = {}) =>
      guard(() =>
        many(pool, DELIVERIES, selectFrom(DELIVERIES, `WHERE ($1::text IS NULL OR "status" = $1) AND ($2::text IS NULL OR "endpoint_id" = $2)
          AND ($3::text IS NULL OR "event_id" = $3) ORDER BY "created_at", "id" LIMIT $4`), [f.status ?? null, f.endpointId ?? null, f.eventId ?? null, f.limit ?? 100])),
    claimDeliveries: ({ now, limit, lockMs, excludeEndpointIds = [] }) => guard(() => claim(now, limit, lockMs, excludeEndpointIds)),
    claimSweepDue: ({ now, trialEndsBefore, periodEndedBefore, limit, lockMs }) =>
      guard(async () => {
        const token = randomUUID();
        const until = new Date(Date.parse(now) + lockMs).toISOString();
        // One statement claims and reads back; concurrent sweeps skip each other's locked rows.
        const rows = await many(pool, SUBSCRIPTIONS,
          `WITH claimed AS (
            UPDATE "sw_subscriptions" SET "sweep_claim" = $1, "sweep_after" = $2
            WHERE "id" IN (
              SELECT "id" FROM "sw_subscriptions"
              WHERE ("sweep_after" IS NULL OR "sweep_after" <= $3) AND "current_period_end" IS NOT NULL
                AND (("status" = 'trialing' AND "current_period_end" > $3 AND "current_period_end" <= $4)
                  OR ("status" IN ('active', 'trialing') AND "current_period_end" <= $5))
              ORDER BY "current_period_end", "id"
              LIMIT $6
              FOR UPDATE SKIP LOCKED)
            RETURNING *)
          SELECT ${select(SUBSCRIPTIONS.columns, SUBSCRIPTIONS.timestamps)} FROM claimed ORDER BY "current_period_end", "id"`,
          [token, until, iso(now), iso(trialEndsBefore), iso(periodEndedBefore), limit]);
        return rows.map((subscription) => ({ subscription, claim: token }));
      }),
    releaseSweepClaim: (id, token, after) =>
      guard(async () => (await run(pool, 'UPDATE "sw_subscriptions" SET "sweep_claim" = NULL, "sweep_after" = $3 WHERE "id" = $1 AND "sweep_claim" = $2', [id, token, iso(after)])).rowCount === 1),
    finishDelivery: (id, token, o) =>
      guard(async () => {
        const at = o.last_attempt_at ?? new Date().toISOString();
        const values = [id, token, o.status, o.attempts, iso(o.next_attempt_at), o.last_status, o.last_error, iso(o.last_attempt_at), iso(o.delivered_at), iso(at)];
        // The common case is one conditional UPDATE; only a 410 touches two tables and needs a transaction.
        if (!o.disable_endpoint) return (await run(pool, finishSql, values)).rowCount === 1;
        return inTransaction(async (c) => {
          const { rows } = await run(c, finishSql, values);
          if (rows.length !== 1) return false;
          await run(c, 'UPDATE "sw_webhook_endpoints" SET "status" = \'disabled\', "updated_at" = $2 WHERE "id" = $1', [rows[0]!.endpoint_id, iso(at)]);
          return true;
        });
      }),
    finishDelivered: (items, token, at) =>
      guard(async () => {
        if (items.length === 0) return 0;
        // One UPDATE for the whole round, whatever each receiver answered.
        const { rowCount } = await run(pool,
          `UPDATE "sw_webhook_deliveries" d SET "status" = 'delivered', "attempts" = d."attempts" + 1, "next_attempt_at" = NULL, "last_status" = v."last_status",
            "last_error" = NULL, "last_attempt_at" = $3, "delivered_at" = $3, "locked_until" = NULL, "locked_by" = NULL, "updated_at" = $3
          FROM unnest($1::text[], $2::int[]) AS v("id", "last_status")
          WHERE d."id" = v."id" AND d."locked_by" = $4`,
          [items.map((i) => i.id), items.map((i) => i.last_status), iso(at), token],
        );
        return rowCount ?? 0;
      }),
    resetDelivery: (id, now) =>
      guard(async () => {
        const updated = await one(pool, DELIVERIES, `WITH r AS (UPDATE "sw_webhook_deliveries" SET "status" = 'pending', "attempts" = 0, "next_attempt_at" = $2, "delivered_at" = NULL,
            "locked_until" = NULL, "locked_by" = NULL, "updated_at" = $2
          WHERE "id" = $1 AND ("locked_until" IS NULL OR "locked_until" < $2) RETURNING *) SELECT ${select(DELIVERIES.columns, DELIVERIES.timestamps)} FROM r`, [id, iso(now)]);
        if (updated) return updated;
        return (await run(pool, 'SELECT 1 FROM "sw_webhook_deliveries" WHERE "id" = $1', [id])).rows.length === 1 ? 'claimed' : null;
      }),
    prune: (o) => guard(() => pruneBatch(PRUNE, o, async (sql, values) => (await run(pool, sql, values)).rowCount ?? 0, iso)),
    async close() {
      if (options.endPoolOnClose) await pool.end?.();
    },
  };
}
