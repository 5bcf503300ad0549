import { SubscriptionWebhooksError } from '../core/errors.js';
import type { DomainEvent, Order, Provider, Subscription } from '../events/types.js';
import { eventId, randomId } from '../core/ids.js';
import {
  ADMIN_AUDIT,
  ATTEMPTS,
  DELIVERIES,
  OUTCOMES,
  GRANTS,
  ORDERS,
  selectColumns,
  SUBSCRIPTIONS,
  type AdminAuditRecord,
  type Codec,
  type ColumnSpec,
  type ColumnType,
  type SqlDialect,
  type TableSpec,
} from '../store/sql-tables.js';
import type {
  DeliveryAttemptRecord,
  DeliveryRecord,
  DeliveryStatus,
  EntitlementGrantRecord,
  InboxRecord,
  NotificationOutcomeRecord,
  Store,
} from '../store/types.js';
import { expandRawBody } from '../store/raw-body-codec.js';
import { adminSourceOf, type AdminSource, type MemoryAdminState, type SqlQuery } from '../store/admin-source.js';

/**
 * The queries behind the admin dashboard and its JSON API, on every store the package ships
 * (memory, sqliteStore, prismaStore on SQLite and PostgreSQL, pgStore). Lists are newest first and
 * paginated by keyset: `next` is an opaque cursor for the following page (null on the last one), so
 * a page costs the same on a table of millions of rows as on an empty one.
 */
export interface AdminReadModel {
  overview(now: string): Promise<Overview>;
  listNotifications(filter?: NotificationListFilter, page?: PageRequest): Promise<Page<NotificationSummary>>;
  /** A notification with the events it emitted (in order) and their deliveries; null when unknown. */
  getNotification(provider: Provider, notificationId: string): Promise<NotificationDetail | null>;
  /** Subscriptions whose user id, contract id or id is `q`, or whose order has `q` as its number or transaction id. */
  searchSubscriptions(q: string): Promise<SubscriptionSearchResult>;
  /** A subscription (by `sub_…` id) with its orders, entitlement grants and timeline of events and notifications; null when unknown. */
  getSubscription(id: string): Promise<SubscriptionDetail | null>;
  listOrders(filter?: OrderListFilter, page?: PageRequest): Promise<Page<Order>>;
  listDeliveries(filter?: DeliveryListFilter, page?: PageRequest): Promise<Page<DeliverySummary>>;
  /** A delivery row with its event's type and every attempt recorded (oldest first, at most 100); null when unknown. */
  getDelivery(id: string): Promise<DeliveryDetail | null>;
  /** Requests that added no inbox row (duplicates, stale notifications, rejections), newest first. */
  listOutcomes(filter?: OutcomeListFilter, page?: PageRequest): Promise<Page<NotificationOutcomeRecord>>;
  /** Pending and failed deliveries counted by endpoint (the notifier is endpoint `notifier`). */
  deliveryBacklog(): Promise<BacklogRow[]>;
  /** Appends to the audit log (table `sw_admin_audit`; memoryStore: in process). */
  recordAudit(entry: Omit<AdminAuditRecord, 'id'>): Promise<void>;
  /** The audit log, newest first. */
  listAudit(page?: PageRequest): Promise<Page<AdminAuditRecord>>;
}

export type { DeliveryAttemptRecord, NotificationOutcomeRecord };

/** Which page of a list: the cursor of the previous page and a size. */
export interface PageRequest {
  /** The `next` of the previous page. */
  after?: string | null;
  /** @default 50 (at most 200) */
  limit?: number;
}
/** One page of a list, newest first; `next` is the cursor of the following page (null on the last). */
export interface Page<T> {
  items: T[];
  next: string | null;
}

/** Filters of {@link AdminReadModel.listNotifications}. */
export interface NotificationListFilter {
  provider?: Provider;
  type?: string;
  /** ISO 8601, inclusive */
  since?: string;
  /** ISO 8601, exclusive */
  until?: string;
}
/** An inbox row without its body and payload. */
export type NotificationSummary = Omit<InboxRecord, 'raw_body' | 'payload' | 'raw_sha256'>;
/** A notification as the dashboard opens it. */
export interface NotificationDetail {
  notification: InboxRecord;
  events: DomainEvent[];
  deliveries: DeliveryRecord[];
}

/** What came of a provider request: `processed` (an inbox row), or one of the outcomes that add none. */
export type NotificationStatus = 'processed' | NotificationOutcomeRecord['outcome'];
/** Filters of {@link AdminReadModel.listOutcomes}. */
export interface OutcomeListFilter {
  outcome?: NotificationOutcomeRecord['outcome'];
  provider?: Provider;
  /** ISO 8601, inclusive */
  since?: string;
  /** ISO 8601, exclusive */
  until?: string;
}
/** A delivery as its page shows it. */
export interface DeliveryDetail {
  delivery: DeliverySummary;
  /** Oldest first, at most 100. */
  attempts: DeliveryAttemptRecord[];
}

/** Filters of {@link AdminReadModel.listOrders}. */
export interface OrderListFilter {
  provider?: Provider;
  status?: Order['status'];
  userId?: string;
}
/** Filters of {@link AdminReadModel.listDeliveries}. */
export interface DeliveryListFilter {
  status?: DeliveryStatus;
  endpointId?: string;
}
/** A delivery row with its event's type. */
export interface DeliverySummary extends DeliveryRecord {
  /** The event's type (null when the event row is gone). */
  event_type: string | null;
}
/** Pending or failed deliveries of one endpoint. */
export interface BacklogRow {
  endpoint_id: string;
  status: 'pending' | 'failed';
  count: number;
  /** ISO 8601: the oldest row's creation. */
  oldest: string;
}

/** What a search for a user id, contract id, order no or transaction id found. */
export interface SubscriptionSearchResult {
  subscriptions: Subscription[];
  /** Orders matched by number or transaction id. */
  orders: Order[];
}
/** A subscription as the dashboard opens it. */
export interface SubscriptionDetail {
  subscription: Subscription;
  /** Orders of the contract (`origin_no` is the contract id), newest first, at most 100. */
  orders: Order[];
  grants: EntitlementGrantRecord[];
  /** Events about the subscription or its orders, newest first, at most 100. */
  events: DomainEvent[];
  /** The notifications those events came from, newest first. */
  notifications: NotificationSummary[];
}

/** The overview page's counts. */
export interface Overview {
  subscriptions: Array<{ status: Subscription['status']; provider: Provider; product_id: string; count: number }>;
  /** Notifications received per hour over the 48 hours before `now` (hour: `YYYY-MM-DDTHH`, UTC), hours with none left out. */
  notificationsPerHour: Array<{ hour: string; provider: Provider; count: number }>;
  deliveries: { pending: number; failed: number; oldestPending: string | null };
  entitlements: Array<{ entitlement: string; status: Subscription['status']; count: number }>;
  /** Requests rejected over the 48 hours before `now`, by error code and provider (from `sw_notification_outcomes`). */
  rejections: Array<{ code: string; provider: Provider; count: number }>;
}

/** Every provider (a new one is a compile error here until listed). */
const PROVIDERS = Object.keys({ apple: true, xsolla: true, google: true } satisfies Record<Provider, true>) as Provider[];
const HOUR_MS = 3_600_000;
const MAX_LIMIT = 200;
const TIMELINE_LIMIT = 100;
/** Events of one notification are numbered 0…n-1 (`eventId(provider, notificationId, position)`); none has more than this. */
const MAX_EVENTS_PER_NOTIFICATION = 64;

function bad(message: string): SubscriptionWebhooksError {
  return new SubscriptionWebhooksError('INVALID_ARGUMENT', message);
}

function limitOf(page: PageRequest): number {
  const limit = page.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw bad(`limit must be an integer from 1 to ${MAX_LIMIT}`);
  return limit;
}

/** A keyset cursor: the sort key and the tie-breaking id of the last row of a page. */
function encodeCursor(at: string, id: string): string {
  return Buffer.from(JSON.stringify([at, id])).toString('base64url');
}
/** The times every store can compare: years 0001 to 9999 (PostgreSQL's timestamp input refuses the rest of JavaScript's range). */
const MIN_TIME = Date.parse('0001-01-01T00:00:00.000Z');
const MAX_TIME = Date.parse('9999-12-31T23:59:59.999Z');
const storableTime = (t: number): boolean => t >= MIN_TIME && t <= MAX_TIME;
function decodeCursor(cursor: string | null | undefined): [string, string] | null {
  if (cursor === undefined || cursor === null || cursor === '') return null;
  try {
    const v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string' && storableTime(Date.parse(v[0])))
      return [new Date(v[0]).toISOString(), v[1]];
  } catch {
    // fall through
  }
  throw bad('after: not a cursor this API returned');
}
function isoArg(name: string, v: string | undefined): string | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw bad(`${name}: not an ISO 8601 date`);
  if (!storableTime(t)) throw bad(`${name}: a date from year 0001 to 9999`);
  return new Date(t).toISOString();
}

function paged<T>(rows: T[], limit: number, key: (x: T) => [string, string]): Page<T> {
  const more = rows.length > limit;
  const items = more ? rows.slice(0, limit) : rows;
  const last = items.at(-1);
  return { items, next: more && last ? encodeCursor(...key(last)) : null };
}

/**
 * The read model of `store`.
 * @throws SubscriptionWebhooksError `CONFIG_INVALID` for a store that is not one the package ships (it has no admin source)
 */
export function adminReadModel(store: Store): AdminReadModel {
  const source: AdminSource | null = adminSourceOf(store);
  if (!source)
    throw new SubscriptionWebhooksError(
      'CONFIG_INVALID',
      `The admin dashboard reads memoryStore, sqliteStore, prismaStore and pgStore; store "${store.name}" is none of them`,
    );
  return fromSource(source);
}

function fromSource(source: AdminSource): AdminReadModel {
  if (source.kind === 'memory') return memoryReadModel(source.state, memoryAudit(source));
  if (source.kind === 'sql') return sqlReadModel(source.dialect, source.codec, source.query);
  // The store learns its dialect on first use: every method waits for it once.
  let inner: Promise<AdminReadModel> | undefined;
  const ready = (): Promise<AdminReadModel> =>
    (inner ??= source.load().then(
      (s) => (s ? fromSource(s) : Promise.reject(new SubscriptionWebhooksError('CONFIG_INVALID', 'The admin dashboard cannot read this store'))),
      (error: unknown) => {
        inner = undefined;
        throw error;
      },
    ));
  const methods = [
    'overview',
    'listNotifications',
    'getNotification',
    'searchSubscriptions',
    'getSubscription',
    'listOrders',
    'listDeliveries',
    'getDelivery',
    'listOutcomes',
    'deliveryBacklog',
    'recordAudit',
    'listAudit',
  ] as const satisfies ReadonlyArray<keyof AdminReadModel>;
  return Object.fromEntries(
    methods.map((m) => [m, async (...args: unknown[]) => ((await ready())[m] as (...a: unknown[]) => unknown)(...args)]),
  ) as unknown as AdminReadModel;
}

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

const desc = (a: [string, string], b: [string, string]): number => (a[0] < b[0] ? 1 : a[0] > b[0] ? -1 : a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0);

function keysetSlice<T>(rows: T[], key: (x: T) => [string, string], page: PageRequest): Page<T> {
  const limit = limitOf(page);
  const after = decodeCursor(page.after);
  const sorted = rows.map((x) => [key(x), x] as const).sort((a, b) => desc(a[0], b[0]));
  const from = after ? sorted.filter(([k]) => desc(k, after) > 0) : sorted;
  return paged(
    from.slice(0, limit + 1).map(([, x]) => x),
    limit,
    key,
  );
}

const summary = ({ raw_body: _b, payload: _p, raw_sha256: _h, ...rest }: InboxRecord): NotificationSummary => rest;
const inboxKey = (n: { provider: string; notification_id: string }): string => `${n.provider}\u0000${n.notification_id}`;

/** The memory store's audit log: in process, one per store (keyed by its admin source). */
const MEMORY_AUDIT = new WeakMap<AdminSource, AdminAuditRecord[]>();
function memoryAudit(source: AdminSource): AdminAuditRecord[] {
  let log = MEMORY_AUDIT.get(source);
  if (!log) MEMORY_AUDIT.set(source, (log = []));
  return log;
}

function memoryReadModel(state: () => MemoryAdminState, audit: AdminAuditRecord[]): AdminReadModel {
  const clone = <T>(x: T): T => structuredClone(x);
  const eventsOf = (s: MemoryAdminState, ids: Set<string>) => s.events.filter((e) => ids.has(e.id));
  return {
    async overview(now) {
      const s = state();
      const t = Date.parse(isoArg('now', now)!);
      const subs = new Map<string, Overview['subscriptions'][number]>();
      for (const x of s.subscriptions.values()) {
        const k = `${x.status}\0${x.provider}\0${x.product_id}`;
        const row = subs.get(k) ?? { status: x.status, provider: x.provider, product_id: x.product_id, count: 0 };
        row.count++;
        subs.set(k, row);
      }
      const hours = new Map<string, Overview['notificationsPerHour'][number]>();
      for (const n of s.inbox.values()) {
        const at = Date.parse(n.received_at);
        if (at < t - 48 * HOUR_MS || at >= t) continue;
        const hour = n.received_at.slice(0, 13);
        const row = hours.get(`${hour}\0${n.provider}`) ?? { hour, provider: n.provider, count: 0 };
        row.count++;
        hours.set(`${hour}\0${n.provider}`, row);
      }
      const deliveries = { pending: 0, failed: 0, oldestPending: null as string | null };
      for (const d of s.deliveries.values()) {
        if (d.status === 'failed') deliveries.failed++;
        if (d.status !== 'pending') continue;
        deliveries.pending++;
        if (deliveries.oldestPending === null || d.created < deliveries.oldestPending) deliveries.oldestPending = d.created;
      }
      const ents = new Map<string, Overview['entitlements'][number]>();
      for (const byKey of s.grants.values())
        for (const g of byKey.values()) {
          const row = ents.get(`${g.entitlement}\0${g.status}`) ?? { entitlement: g.entitlement, status: g.status, count: 0 };
          row.count++;
          ents.set(`${g.entitlement}\0${g.status}`, row);
        }
      const rejections = new Map<string, Overview['rejections'][number]>();
      for (const x of s.outcomes.values()) {
        const at = Date.parse(x.received_at);
        if (x.outcome !== 'rejected' || at < t - 48 * HOUR_MS || at >= t) continue;
        const row = rejections.get(`${x.code}\0${x.provider}`) ?? { code: x.code, provider: x.provider, count: 0 };
        row.count++;
        rejections.set(`${x.code}\0${x.provider}`, row);
      }
      return sortOverview({
        subscriptions: [...subs.values()],
        notificationsPerHour: [...hours.values()],
        deliveries,
        entitlements: [...ents.values()],
        rejections: [...rejections.values()],
      });
    },
    async listNotifications(filter = {}, page = {}) {
      const since = isoArg('since', filter.since);
      const until = isoArg('until', filter.until);
      const rows = [...state().inbox.values()].filter(
        (n) =>
          (!filter.provider || n.provider === filter.provider) &&
          (!filter.type || n.notification_type === filter.type) &&
          (!since || n.received_at >= since) &&
          (!until || n.received_at < until),
      );
      const p = keysetSlice(rows, (n) => [n.received_at, inboxKey(n)], page);
      return { items: p.items.map((n) => clone(summary(n))), next: p.next };
    },
    async getNotification(provider, notificationId) {
      const s = state();
      const n = s.inbox.get(inboxKey({ provider, notification_id: notificationId }));
      if (!n) return null;
      const events = eventsOf(s, new Set(candidateEventIds(provider, notificationId)));
      const ids = new Set(events.map((e) => e.id));
      const deliveries = [...s.deliveries.values()].filter((d) => ids.has(d.event_id)).map(plainDelivery);
      return clone({ notification: n, events, deliveries: byEventOrder(deliveries, events) });
    },
    async searchSubscriptions(q) {
      const s = state();
      const orders = [...s.orders.values()].filter((o) => o.no === q || o.trade_no === q);
      const contracts = new Set(orders.filter((o) => o.origin_no).map((o) => `${o.provider}\0${o.origin_no}`));
      const subscriptions = [...s.subscriptions.values()].filter(
        (x) => x.user_id === q || x.contract_id === q || x.id === q || contracts.has(`${x.provider}\0${x.contract_id}`),
      );
      return clone({ subscriptions: subscriptions.sort(byCreatedDesc), orders: orders.sort(byCreatedDesc) });
    },
    async getSubscription(id) {
      const s = state();
      const subscription = [...s.subscriptions.values()].find((x) => x.id === id);
      if (!subscription) return null;
      const orders = [...s.orders.values()]
        .filter((o) => o.provider === subscription.provider && o.origin_no === subscription.contract_id)
        .sort(byCreatedDesc)
        .slice(0, TIMELINE_LIMIT);
      const grants = [...s.grants.values()].flatMap((m) => [...m.values()]).filter((g) => g.subscription_id === id);
      const events = s.events
        .filter((e) => aboutSubscription(e, subscription))
        .reverse()
        .slice(0, TIMELINE_LIMIT);
      const keys = new Set(events.map((e) => inboxKey({ provider: e.provider, notification_id: e.source.notification_id })));
      const notifications = [...s.inbox.values()]
        .filter((n) => keys.has(inboxKey(n)))
        .map(summary)
        .sort((a, b) => (a.received_at < b.received_at ? 1 : -1));
      return clone({ subscription, orders, grants: grants.sort((a, b) => (a.entitlement < b.entitlement ? -1 : 1)), events, notifications });
    },
    async listOrders(filter = {}, page = {}) {
      const rows = [...state().orders.values()].filter(
        (o) =>
          (!filter.provider || o.provider === filter.provider) &&
          (!filter.status || o.status === filter.status) &&
          (!filter.userId || o.user_id === filter.userId),
      );
      const p = keysetSlice(rows, (o) => [o.created, o.id], page);
      return { items: clone(p.items), next: p.next };
    },
    async listDeliveries(filter = {}, page = {}) {
      const s = state();
      const types = new Map(s.events.map((e) => [e.id, e.type]));
      const rows = [...s.deliveries.values()].filter(
        (d) => (!filter.status || d.status === filter.status) && (!filter.endpointId || d.endpoint_id === filter.endpointId),
      );
      const p = keysetSlice(rows, (d) => [d.created, d.id], page);
      return { items: p.items.map((d) => ({ ...plainDelivery(d), event_type: types.get(d.event_id) ?? null })), next: p.next };
    },
    async getDelivery(id) {
      const s = state();
      const d = s.deliveries.get(id);
      if (!d) return null;
      const attempts = [...s.attempts.values()]
        .filter((a) => a.delivery_id === id)
        .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.attempt - b.attempt))
        .slice(0, TIMELINE_LIMIT);
      return clone({ delivery: { ...plainDelivery(d), event_type: s.events.find((e) => e.id === d.event_id)?.type ?? null }, attempts });
    },
    async listOutcomes(filter = {}, page = {}) {
      const since = isoArg('since', filter.since);
      const until = isoArg('until', filter.until);
      const rows = [...state().outcomes.values()].filter(
        (x) =>
          (!filter.outcome || x.outcome === filter.outcome) &&
          (!filter.provider || x.provider === filter.provider) &&
          (!since || x.received_at >= since) &&
          (!until || x.received_at < until),
      );
      const p = keysetSlice(rows, (x) => [x.received_at, x.id], page);
      return { items: clone(p.items), next: p.next };
    },
    async deliveryBacklog() {
      const rows = new Map<string, BacklogRow>();
      for (const d of state().deliveries.values()) {
        if (d.status !== 'pending' && d.status !== 'failed') continue;
        const k = `${d.endpoint_id}\0${d.status}`;
        const row = rows.get(k) ?? { endpoint_id: d.endpoint_id, status: d.status, count: 0, oldest: d.created };
        row.count++;
        if (d.created < row.oldest) row.oldest = d.created;
        rows.set(k, row);
      }
      return sortBacklog([...rows.values()]);
    },
    async recordAudit(entry) {
      audit.push({ id: randomId('aud'), ...entry, at: isoArg('at', entry.at)! });
    },
    async listAudit(page = {}) {
      const p = keysetSlice(audit, (x) => [x.at, x.id], page);
      return { items: clone(p.items), next: p.next };
    },
  };
}

function plainDelivery(d: DeliveryRecord): DeliveryRecord {
  const { id, endpoint_id, event_id, status, attempts, next_attempt_at, last_status, last_error, last_attempt_at, delivered_at, created, updated } = d;
  return { id, endpoint_id, event_id, status, attempts, next_attempt_at, last_status, last_error, last_attempt_at, delivered_at, created, updated };
}
const byCreatedDesc = (a: { created: string; id: string }, b: { created: string; id: string }): number => desc([a.created, a.id], [b.created, b.id]);
/** Deliveries in the order of their events, then by endpoint id. */
function byEventOrder(deliveries: DeliveryRecord[], events: readonly DomainEvent[]): DeliveryRecord[] {
  const order = new Map(events.map((v, i) => [v.id, i]));
  return deliveries.sort(
    (a, b) => order.get(a.event_id)! - order.get(b.event_id)! || (a.endpoint_id < b.endpoint_id ? -1 : a.endpoint_id > b.endpoint_id ? 1 : 0),
  );
}
const sortBacklog = (rows: BacklogRow[]): BacklogRow[] =>
  rows.sort((a, b) => (a.endpoint_id < b.endpoint_id ? -1 : a.endpoint_id > b.endpoint_id ? 1 : a.status < b.status ? -1 : a.status > b.status ? 1 : 0));
function sortOverview(o: Overview): Overview {
  const cmp =
    (...k: string[]) =>
    (a: Record<string, unknown>, b: Record<string, unknown>) => {
      for (const x of k) if (a[x] !== b[x]) return String(a[x]) < String(b[x]) ? -1 : 1;
      return 0;
    };
  o.subscriptions.sort(cmp('status', 'provider', 'product_id'));
  o.notificationsPerHour.sort(cmp('hour', 'provider'));
  o.entitlements.sort(cmp('entitlement', 'status'));
  o.rejections.sort((a, b) => b.count - a.count || cmp('code', 'provider')(a, b));
  return o;
}

function candidateEventIds(provider: string, notificationId: string): string[] {
  return Array.from({ length: MAX_EVENTS_PER_NOTIFICATION }, (_, i) => eventId(provider, notificationId, i));
}

/** Whether an event is about the subscription: its object is the subscription, an order of its contract, or a grant of it. */
function aboutSubscription(e: DomainEvent, s: Subscription): boolean {
  const o = e.data.object as unknown as Record<string, unknown>;
  return o.id === s.id || o.subscription_id === s.id || (e.provider === s.provider && o.origin_no === s.contract_id);
}

// ---------------------------------------------------------------------------------------------
// SQL (SQLite and PostgreSQL)
// ---------------------------------------------------------------------------------------------

const INBOX_SUMMARY_COLUMNS: readonly ColumnSpec[] = [
  { name: 'id', type: 'text', nullable: false },
  { name: 'provider', type: 'text', nullable: false },
  { name: 'notification_id', type: 'text', nullable: false },
  { name: 'notification_type', type: 'text', nullable: false },
  { name: 'subtype', type: 'text', nullable: true },
  { name: 'environment', type: 'text', nullable: true },
  { name: 'signed_at', type: 'timestamp', nullable: true },
  { name: 'received_at', type: 'timestamp', nullable: false },
];
const INBOX_BODY_COLUMNS: readonly ColumnSpec[] = [
  { name: 'raw_body', type: 'text', nullable: true },
  { name: 'payload', type: 'json', nullable: false },
  { name: 'raw_sha256', type: 'text', nullable: true },
];

interface Sql {
  /** Placeholder for the next parameter, which is pushed. */
  p(v: unknown, type?: ColumnType): string;
  params: unknown[];
}

function sqlReadModel(dialect: SqlDialect, codec: Codec, query: SqlQuery): AdminReadModel {
  const pg = dialect === 'postgresql';
  const q = (): Sql => {
    const params: unknown[] = [];
    return {
      params,
      p(v, type = 'text') {
        params.push(type === 'timestamp' ? codec.encode(TIMESTAMP, v) : v);
        return pg ? `$${params.length}${type === 'timestamp' ? '::timestamp' : ''}` : '?';
      },
    };
  };
  // PostgreSQL selects timestamps as to_char(…) AS "<column>": an ORDER BY names the table's column (table-qualified),
  // not that text, or the sort cannot use an index.
  const cols = (columns: readonly ColumnSpec[], alias = ''): string => selectColumns(dialect, columns, alias);
  const decode = (columns: readonly ColumnSpec[], r: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = { ...r };
    for (const c of columns) out[c.name] = decodeValue(codec, c, r[c.name]);
    return out;
  };
  const read = <T>(t: TableSpec<T>, r: Record<string, unknown>): T => t.fromRow(decode(t.columns, r));
  const count = pg ? 'count(*)::int' : 'count(*)';
  const oldest = pg ? `to_char(min("created_at"), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')` : 'min("created_at")';
  const run = (sql: string, s: Sql) => query(sql, s.params);
  const inList = (s: Sql, values: readonly unknown[]): string => values.map((v) => s.p(v)).join(', ');
  const ts = (v: unknown): string => decodeValue(codec, TIMESTAMP, v) as string;
  const inboxSummary = (r: Record<string, unknown>): NotificationSummary & { id: string } => {
    const d = decode(INBOX_SUMMARY_COLUMNS, r);
    return {
      id: String(d.id),
      provider: d.provider as Provider,
      notification_id: String(d.notification_id),
      notification_type: String(d.notification_type),
      subtype: (d.subtype ?? null) as string | null,
      environment: (d.environment ?? null) as string | null,
      signed_at: (d.signed_at ?? null) as string | null,
      received_at: String(d.received_at),
    };
  };
  const dropId = ({ id: _id, ...rest }: NotificationSummary & { id: string }): NotificationSummary => rest;
  const keyset = (s: Sql, at: string, id: string, after: [string, string] | null): string => {
    if (!after) return '';
    // A row id never holds a NUL (the memory model's ids do; PostgreSQL refuses one in any text).
    if (after[1].includes('\u0000')) throw bad('after: not a cursor this API returned');
    return `(${at}, ${id}) < (${s.p(after[0], 'timestamp')}, ${s.p(after[1])})`;
  };
  const where = (conds: string[]): string => (conds.filter(Boolean).length ? `WHERE ${conds.filter(Boolean).join(' AND ')}` : '');
  /** A page of `table` newest first by (received_at, id): `equal`'s columns equal their values (unset: any), received in `range`. */
  const byReceived = async (
    table: string,
    columns: readonly ColumnSpec[],
    equal: Record<string, string | undefined>,
    range: { since?: string; until?: string },
    page: PageRequest,
  ): Promise<{ rows: Record<string, unknown>[]; limit: number }> => {
    const limit = limitOf(page);
    const after = decodeCursor(page.after);
    const since = isoArg('since', range.since);
    const until = isoArg('until', range.until);
    const s = q();
    const conds = [
      ...Object.entries(equal).map(([column, v]) => (v ? `"${column}" = ${s.p(v)}` : '')),
      since ? `"received_at" >= ${s.p(since, 'timestamp')}` : '',
      until ? `"received_at" < ${s.p(until, 'timestamp')}` : '',
      keyset(s, '"received_at"', '"id"', after),
    ];
    const rows = await run(`SELECT ${cols(columns)} FROM "${table}" ${where(conds)} ORDER BY "${table}"."received_at" DESC, "id" DESC LIMIT ${limit + 1}`, s);
    return { rows, limit };
  };
  const parseEvents = (rows: Record<string, unknown>[]): DomainEvent[] => rows.map((r) => JSON.parse(String(r.body)) as DomainEvent);

  return {
    async overview(now) {
      const t = Date.parse(isoArg('now', now)!);
      const hour = pg ? `to_char(date_trunc('hour', "received_at"), 'YYYY-MM-DD"T"HH24')` : `substr("received_at", 1, 13)`;
      const h = q();
      const r = q();
      const [subs, hours, dl, ents, rejected] = await Promise.all([
        query(`SELECT "status", "provider", "product_id", ${count} AS "count" FROM "sw_subscriptions" GROUP BY "status", "provider", "product_id"`, []),
        run(
          `SELECT ${hour} AS "hour", "provider", ${count} AS "count" FROM "sw_notifications"
          WHERE "received_at" >= ${h.p(new Date(t - 48 * HOUR_MS).toISOString(), 'timestamp')} AND "received_at" < ${h.p(new Date(t).toISOString(), 'timestamp')}
          GROUP BY ${hour}, "provider"`,
          h,
        ),
        query(
          `SELECT "status", ${count} AS "count", ${oldest} AS "oldest" FROM "sw_webhook_deliveries" WHERE "status" IN ('pending', 'failed') GROUP BY "status"`,
          [],
        ),
        query(`SELECT "entitlement", "status", ${count} AS "count" FROM "sw_entitlement_grants" GROUP BY "entitlement", "status"`, []),
        run(
          `SELECT "code", "provider", ${count} AS "count" FROM "sw_notification_outcomes"
          WHERE "outcome" = 'rejected' AND "received_at" >= ${r.p(new Date(t - 48 * HOUR_MS).toISOString(), 'timestamp')} AND "received_at" < ${r.p(new Date(t).toISOString(), 'timestamp')}
          GROUP BY "code", "provider"`,
          r,
        ),
      ]);
      const deliveries = { pending: 0, failed: 0, oldestPending: null as string | null };
      for (const r of dl) {
        if (r.status === 'failed') deliveries.failed = Number(r.count);
        else {
          deliveries.pending = Number(r.count);
          deliveries.oldestPending = r.oldest === null ? null : ts(r.oldest);
        }
      }
      return sortOverview({
        subscriptions: subs.map((r) => ({
          status: r.status as Subscription['status'],
          provider: r.provider as Provider,
          product_id: String(r.product_id),
          count: Number(r.count),
        })),
        notificationsPerHour: hours.map((r) => ({ hour: String(r.hour), provider: r.provider as Provider, count: Number(r.count) })),
        deliveries,
        entitlements: ents.map((r) => ({ entitlement: String(r.entitlement), status: r.status as Subscription['status'], count: Number(r.count) })),
        rejections: rejected.map((r) => ({ code: String(r.code), provider: r.provider as Provider, count: Number(r.count) })),
      });
    },
    async listNotifications(filter = {}, page = {}) {
      const { rows, limit } = await byReceived(
        'sw_notifications',
        INBOX_SUMMARY_COLUMNS,
        { provider: filter.provider, notification_type: filter.type },
        filter,
        page,
      );
      const p = paged(rows.map(inboxSummary), limit, (n) => [n.received_at, n.id]);
      return { items: p.items.map(dropId), next: p.next };
    },
    async getNotification(provider, notificationId) {
      const s = q();
      const [row] = await run(
        `SELECT ${cols([...INBOX_SUMMARY_COLUMNS, ...INBOX_BODY_COLUMNS])} FROM "sw_notifications"
        WHERE "provider" = ${s.p(provider)} AND "notification_id" = ${s.p(notificationId)}`,
        s,
      );
      if (!row) return null;
      const d = decode(INBOX_BODY_COLUMNS, row);
      // The stored body is in its compact form (raw-body-codec.ts), or null once retention dropped it.
      const raw = d.raw_body === null || d.raw_body === undefined ? null : expandRawBody(String(d.raw_body));
      const notification: InboxRecord = {
        ...dropId(inboxSummary(row)),
        raw_body: raw,
        raw_sha256: (d.raw_sha256 ?? null) as string | null,
        payload: d.payload,
      };
      const e = q();
      const events = parseEvents(
        await run(`SELECT "body" FROM "sw_events" WHERE "id" IN (${inList(e, candidateEventIds(provider, notificationId))}) ORDER BY "sequence"`, e),
      );
      if (events.length === 0) return { notification, events, deliveries: [] };
      const x = q();
      const deliveries = (
        await run(
          `SELECT ${cols(DELIVERIES.columns)} FROM "sw_webhook_deliveries" WHERE "event_id" IN (${inList(
            x,
            events.map((v) => v.id),
          )})`,
          x,
        )
      ).map((r) => read(DELIVERIES, r));
      return { notification, events, deliveries: byEventOrder(deliveries, events) };
    },
    async searchSubscriptions(term) {
      const o = q();
      const orders = (
        await run(
          `SELECT ${cols(ORDERS.columns)} FROM "sw_orders" WHERE "no" = ${o.p(term)}
        OR ("provider", "trade_no") IN (${PROVIDERS.map((p) => `(${o.p(p)}, ${o.p(term)})`).join(', ')}) LIMIT 50`,
          o,
        )
      ).map((r) => read(ORDERS, r));
      const contracts = [...PROVIDERS.map((p) => [p, term] as const), ...orders.filter((x) => x.origin_no).map((x) => [x.provider, x.origin_no!] as const)];
      const s = q();
      const subscriptions = (
        await run(
          `SELECT ${cols(SUBSCRIPTIONS.columns)} FROM "sw_subscriptions" WHERE "user_id" = ${s.p(term)} OR "id" = ${s.p(term)}
        OR ("provider", "contract_id") IN (${contracts.map(([p, c]) => `(${s.p(p)}, ${s.p(c)})`).join(', ')}) LIMIT 50`,
          s,
        )
      ).map((r) => read(SUBSCRIPTIONS, r));
      return { subscriptions: subscriptions.sort(byCreatedDesc), orders: orders.sort(byCreatedDesc) };
    },
    async getSubscription(id) {
      const s = q();
      const [row] = await run(`SELECT ${cols(SUBSCRIPTIONS.columns)} FROM "sw_subscriptions" WHERE "id" = ${s.p(id)}`, s);
      if (!row) return null;
      const subscription = read(SUBSCRIPTIONS, row);
      const o = q();
      const g = q();
      const e = q();
      // Events about the contract (subscription and order events) or the subscription (entitlements): the indexed subject column.
      const [orders, grants, eventRows] = await Promise.all([
        run(
          `SELECT ${cols(ORDERS.columns)} FROM "sw_orders" WHERE "provider" = ${o.p(subscription.provider)} AND "origin_no" = ${o.p(subscription.contract_id)}
          ORDER BY "sw_orders"."created_at" DESC, "id" DESC LIMIT ${TIMELINE_LIMIT}`,
          o,
        ),
        run(`SELECT ${cols(GRANTS.columns)} FROM "sw_entitlement_grants" WHERE "subscription_id" = ${g.p(id)} ORDER BY "entitlement"`, g),
        run(
          `SELECT "body" FROM "sw_events" WHERE "subject" IN (${e.p(subscription.contract_id)}, ${e.p(id)}) AND "provider" = ${e.p(subscription.provider)}
          ORDER BY "sequence" DESC LIMIT ${TIMELINE_LIMIT * 2}`,
          e,
        ),
      ]);
      const events = parseEvents(eventRows)
        .filter((v) => aboutSubscription(v, subscription))
        .slice(0, TIMELINE_LIMIT);
      const keys = [...new Map(events.map((v) => [inboxKey({ provider: v.provider, notification_id: v.source.notification_id }), v])).values()];
      let notifications: NotificationSummary[] = [];
      if (keys.length) {
        const n = q();
        notifications = (
          await run(
            `SELECT ${cols(INBOX_SUMMARY_COLUMNS)} FROM "sw_notifications" WHERE ("provider", "notification_id") IN (${keys.map((v) => `(${n.p(v.provider)}, ${n.p(v.source.notification_id)})`).join(', ')})
          ORDER BY "sw_notifications"."received_at" DESC, "id" DESC`,
            n,
          )
        ).map((r) => dropId(inboxSummary(r)));
      }
      return { subscription, orders: orders.map((r) => read(ORDERS, r)), grants: grants.map((r) => read(GRANTS, r)), events, notifications };
    },
    async listOrders(filter = {}, page = {}) {
      const limit = limitOf(page);
      const after = decodeCursor(page.after);
      const s = q();
      const conds = [
        filter.provider ? `"provider" = ${s.p(filter.provider)}` : '',
        filter.status ? `"status" = ${s.p(filter.status)}` : '',
        filter.userId ? `"user_id" = ${s.p(filter.userId)}` : '',
        keyset(s, '"created_at"', '"id"', after),
      ];
      const rows = await run(
        `SELECT ${cols(ORDERS.columns)} FROM "sw_orders" ${where(conds)} ORDER BY "sw_orders"."created_at" DESC, "id" DESC LIMIT ${limit + 1}`,
        s,
      );
      return paged(
        rows.map((r) => read(ORDERS, r)),
        limit,
        (x) => [x.created, x.id],
      );
    },
    async listDeliveries(filter = {}, page = {}) {
      const limit = limitOf(page);
      const after = decodeCursor(page.after);
      const s = q();
      const conds = [
        filter.status ? `d."status" = ${s.p(filter.status)}` : '',
        filter.endpointId ? `d."endpoint_id" = ${s.p(filter.endpointId)}` : '',
        keyset(s, 'd."created_at"', 'd."id"', after),
      ];
      const rows = await run(
        `SELECT ${cols(DELIVERIES.columns, 'd.')}, e."type" AS "event_type" FROM "sw_webhook_deliveries" d LEFT JOIN "sw_events" e ON e."id" = d."event_id"
        ${where(conds)} ORDER BY d."created_at" DESC, d."id" DESC LIMIT ${limit + 1}`,
        s,
      );
      return paged(
        rows.map((r) => ({ ...read(DELIVERIES, r), event_type: (r.event_type ?? null) as string | null })),
        limit,
        (x) => [x.created, x.id],
      );
    },
    async getDelivery(id) {
      const s = q();
      const [row] = await run(
        `SELECT ${cols(DELIVERIES.columns, 'd.')}, e."type" AS "event_type" FROM "sw_webhook_deliveries" d LEFT JOIN "sw_events" e ON e."id" = d."event_id" WHERE d."id" = ${s.p(id)}`,
        s,
      );
      if (!row) return null;
      const a = q();
      const attempts = await run(
        `SELECT ${cols(ATTEMPTS.columns)} FROM "sw_delivery_attempts" WHERE "delivery_id" = ${a.p(id)} ORDER BY "sw_delivery_attempts"."at", "attempt", "id" LIMIT ${TIMELINE_LIMIT}`,
        a,
      );
      return {
        delivery: { ...read(DELIVERIES, row), event_type: (row.event_type ?? null) as string | null },
        attempts: attempts.map((r) => read(ATTEMPTS, r)),
      };
    },
    async listOutcomes(filter = {}, page = {}) {
      const { rows, limit } = await byReceived(
        'sw_notification_outcomes',
        OUTCOMES.columns,
        { outcome: filter.outcome, provider: filter.provider },
        filter,
        page,
      );
      return paged(
        rows.map((r) => read(OUTCOMES, r)),
        limit,
        (x) => [x.received_at, x.id],
      );
    },
    async deliveryBacklog() {
      const rows = await query(
        `SELECT "endpoint_id", "status", ${count} AS "count", ${oldest} AS "oldest" FROM "sw_webhook_deliveries"
        WHERE "status" IN ('pending', 'failed') GROUP BY "endpoint_id", "status"`,
        [],
      );
      return sortBacklog(
        rows.map((r) => ({ endpoint_id: String(r.endpoint_id), status: r.status as BacklogRow['status'], count: Number(r.count), oldest: ts(r.oldest) })),
      );
    },
    async recordAudit(entry) {
      const s = q();
      const row: AdminAuditRecord = { id: randomId('aud'), ...entry, at: isoArg('at', entry.at)! };
      const values = ADMIN_AUDIT.columns.map((c) => s.p(row[c.name as keyof AdminAuditRecord], c.type));
      // RETURNING: the one statement runner reads rows (SQLite 3.35+ and PostgreSQL both have it).
      await run(`INSERT INTO "sw_admin_audit" (${ADMIN_AUDIT.columns.map((c) => `"${c.name}"`).join(', ')}) VALUES (${values.join(', ')}) RETURNING "id"`, s);
    },
    async listAudit(page = {}) {
      const limit = limitOf(page);
      const after = decodeCursor(page.after);
      const s = q();
      const rows = await run(
        `SELECT ${cols(ADMIN_AUDIT.columns)} FROM "sw_admin_audit" ${where([keyset(s, '"at"', '"id"', after)])} ORDER BY "sw_admin_audit"."at" DESC, "id" DESC LIMIT ${limit + 1}`,
        s,
      );
      return paged(
        rows.map((r) => read(ADMIN_AUDIT, r)),
        limit,
        (x) => [x.at, x.id],
      );
    },
  };
}

const TIMESTAMP: ColumnSpec = { name: '', type: 'timestamp', nullable: true };

/** A value as the store's codec decodes it, timestamps as ISO 8601 strings and numbers as numbers (Prisma's raw queries may give Dates and bigints). */
function decodeValue(codec: Codec, c: ColumnSpec, raw: unknown): unknown {
  const v = codec.decode(c, raw);
  if (v === null || v === undefined) return null;
  if (c.type === 'timestamp') return new Date(v instanceof Date ? v.getTime() : typeof v === 'string' ? v : Number(v)).toISOString();
  if (c.type === 'int' || c.type === 'real') return Number(v);
  return v;
}
