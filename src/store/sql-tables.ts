import type { DomainEvent, Order, Provider, Subscription } from '../events/types.js';
import { jsonbText } from './json-safe.js';
import { compactRawBody, expandRawBody } from './raw-body-codec.js';
import type {
  DeliveryAttemptRecord,
  DeliveryRecord,
  EntitlementGrantRecord,
  InboxRecord,
  NotificationOutcomeRecord,
  NotificationSettingRecord,
  WebhookEndpointRecord,
} from './types.js';

/**
 * One description of the library's `sw_*` tables for the SQL stores: every column with its type and
 * nullability, and how a domain object maps onto a row. Rows here are dialect-neutral (timestamps as
 * ISO 8601 strings, JSON as values, booleans as booleans); each store encodes them for its database
 * ({@link sqliteCodec}). `test/store/sql-tables.test.ts` proves this matches the `.prisma` fragment and both
 * migration flavours column for column.
 */

/** A column's type: `timestamp` is Prisma's DateTime, `json` its Json, `real` its Float. */
export type ColumnType = 'text' | 'timestamp' | 'json' | 'bool' | 'int' | 'real';

export interface ColumnSpec {
  name: string;
  type: ColumnType;
  nullable: boolean;
}

/** A table: its columns in order (`columns`: the ones a domain object maps onto; `internal`: the store's own). */
export interface TableSpec<T = unknown> {
  name: string;
  columns: readonly ColumnSpec[];
  /** Columns the stores fill or use themselves (ids, claim locks, sequence, defaults); not part of `toRow`. */
  internal: readonly ColumnSpec[];
  toRow(x: T): Record<string, unknown>;
  fromRow(r: Record<string, unknown>): T;
}

const c = (name: string, type: ColumnType = 'text', nullable = false): ColumnSpec => ({ name, type, nullable });
const n = (name: string, type: ColumnType = 'text'): ColumnSpec => ({ name, type, nullable: true });
const s = (v: unknown): string => v as string;
const sn = (v: unknown): string | null => (v ?? null) as string | null;
const num = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

export const ORDERS: TableSpec<Order> = {
  name: 'sw_orders',
  columns: [
    c('id'),
    c('no'),
    c('provider'),
    n('trade_no'),
    n('origin_no'),
    c('status'),
    n('user_id'),
    n('product_id'),
    n('amount', 'real'),
    n('currency'),
    n('paid_at', 'timestamp'),
    c('metadata', 'json'),
    n('subscription_data', 'json'),
    c('created_at', 'timestamp'),
    c('updated_at', 'timestamp'),
    n('amount_refunded', 'real'),
    n('refund_reason'),
  ],
  internal: [],
  toRow: (o) => ({
    id: o.id,
    no: o.no,
    provider: o.provider,
    trade_no: o.trade_no,
    origin_no: o.origin_no,
    status: o.status,
    user_id: o.user_id,
    product_id: o.product_id,
    amount: o.amount,
    currency: o.currency,
    paid_at: o.paid_at,
    metadata: o.metadata,
    subscription_data: o.subscription_data,
    created_at: o.created,
    updated_at: o.updated,
    amount_refunded: o.amount_refunded ?? null,
    refund_reason: o.refund_reason ?? null,
  }),
  fromRow: (r) => ({
    id: s(r.id),
    no: s(r.no),
    trade_no: sn(r.trade_no),
    origin_no: sn(r.origin_no),
    status: r.status as Order['status'],
    user_id: sn(r.user_id),
    product_id: sn(r.product_id),
    provider: r.provider as Provider,
    amount: num(r.amount),
    currency: sn(r.currency),
    amount_refunded: num(r.amount_refunded),
    refund_reason: sn(r.refund_reason),
    paid_at: sn(r.paid_at),
    metadata: r.metadata as Order['metadata'],
    subscription_data: (r.subscription_data ?? null) as Order['subscription_data'],
    created: s(r.created_at),
    updated: s(r.updated_at),
  }),
};

export const SUBSCRIPTIONS: TableSpec<Subscription> = {
  name: 'sw_subscriptions',
  columns: [
    c('id'),
    c('provider'),
    c('contract_id'),
    n('user_id'),
    c('product_id'),
    c('status'),
    c('auto_renew', 'bool'),
    n('current_period_start', 'timestamp'),
    n('current_period_end', 'timestamp'),
    n('pending_product_id'),
    c('environment'),
    n('latest_transaction_id'),
    n('notification_settings', 'json'),
    n('setting_id'),
    c('metadata', 'json'),
    n('last_event_at', 'timestamp'),
    c('created_at', 'timestamp'),
    c('updated_at', 'timestamp'),
  ],
  // The lifecycle sweep's claim (see Store.claimSweepDue): never part of the domain object, never overwritten by a save.
  internal: [n('sweep_claim'), n('sweep_after', 'timestamp')],
  toRow: (x) => ({
    id: x.id,
    provider: x.provider,
    contract_id: x.contract_id,
    user_id: x.user_id,
    product_id: x.product_id,
    status: x.status,
    auto_renew: x.auto_renew,
    current_period_start: x.current_period_start,
    current_period_end: x.current_period_end,
    pending_product_id: x.pending_product_id,
    environment: x.environment,
    latest_transaction_id: x.latest_transaction_id,
    notification_settings: x.notification_settings,
    setting_id: x.setting_id,
    metadata: x.metadata,
    last_event_at: x.last_event_at,
    created_at: x.created,
    updated_at: x.updated,
  }),
  fromRow: (r) => ({
    id: s(r.id),
    provider: r.provider as Provider,
    contract_id: s(r.contract_id),
    user_id: sn(r.user_id),
    product_id: s(r.product_id),
    status: r.status as Subscription['status'],
    auto_renew: r.auto_renew as boolean,
    current_period_start: sn(r.current_period_start),
    current_period_end: sn(r.current_period_end),
    pending_product_id: sn(r.pending_product_id),
    environment: r.environment as Subscription['environment'],
    latest_transaction_id: sn(r.latest_transaction_id),
    notification_settings: (r.notification_settings ?? null) as Subscription['notification_settings'],
    setting_id: sn(r.setting_id),
    metadata: r.metadata as Subscription['metadata'],
    last_event_at: sn(r.last_event_at),
    created: s(r.created_at),
    updated: s(r.updated_at),
  }),
};

export const INBOX: TableSpec<InboxRecord> = {
  name: 'sw_notifications',
  columns: [
    c('provider'),
    c('notification_id'),
    c('notification_type'),
    n('subtype'),
    n('environment'),
    n('signed_at', 'timestamp'),
    c('received_at', 'timestamp'),
    n('raw_body'),
    c('payload', 'json'),
    n('raw_sha256'),
  ],
  internal: [c('id'), c('compacted', 'bool')],
  // raw_body is stored in its compact form (raw-body-codec.ts) and expanded byte for byte when read.
  toRow: (x) => ({
    provider: x.provider,
    notification_id: x.notification_id,
    notification_type: x.notification_type,
    subtype: x.subtype,
    environment: x.environment,
    signed_at: x.signed_at,
    received_at: x.received_at,
    raw_body: compactRawBody(x.raw_body),
    payload: x.payload,
    raw_sha256: x.raw_sha256 ?? null,
  }),
  fromRow: (r) => ({
    provider: r.provider as Provider,
    notification_id: s(r.notification_id),
    notification_type: s(r.notification_type),
    subtype: sn(r.subtype),
    environment: sn(r.environment),
    signed_at: sn(r.signed_at),
    received_at: s(r.received_at),
    raw_body: expandRawBody(sn(r.raw_body)),
    payload: r.payload,
    raw_sha256: sn(r.raw_sha256),
  }),
};

export const SETTINGS: TableSpec<NotificationSettingRecord> = {
  name: 'sw_notification_settings',
  columns: [
    c('id'),
    c('type'),
    c('mount_location'),
    n('description'),
    n('component_did'),
    c('settings', 'json'),
    c('created_at', 'timestamp'),
    c('updated_at', 'timestamp'),
  ],
  internal: [],
  toRow: (x) => ({
    id: x.id,
    type: x.type,
    mount_location: x.mountLocation,
    description: x.description,
    component_did: x.componentDid,
    settings: x.settings,
    created_at: x.created,
    updated_at: x.updated,
  }),
  fromRow: (r) => ({
    id: s(r.id),
    type: 'notification',
    mountLocation: s(r.mount_location),
    description: sn(r.description),
    componentDid: sn(r.component_did),
    settings: r.settings as NotificationSettingRecord['settings'],
    created: s(r.created_at),
    updated: s(r.updated_at),
  }),
};

export const ENDPOINTS: TableSpec<WebhookEndpointRecord> = {
  name: 'sw_webhook_endpoints',
  columns: [
    c('id'),
    c('url'),
    c('enabled_events', 'json'),
    c('status'),
    c('secret'),
    n('previous_secret'),
    n('previous_secret_expires_at', 'timestamp'),
    n('description'),
    c('metadata', 'json'),
    c('created_at', 'timestamp'),
    c('updated_at', 'timestamp'),
    n('secret_key_id'),
    n('failing_since', 'timestamp'),
  ],
  internal: [],
  toRow: (x) => ({
    id: x.id,
    url: x.url,
    enabled_events: x.enabled_events,
    status: x.status,
    secret: x.secret,
    previous_secret: x.previous_secret,
    previous_secret_expires_at: x.previous_secret_expires_at,
    description: x.description,
    metadata: x.metadata,
    created_at: x.created,
    updated_at: x.updated,
    secret_key_id: x.secret_key_id ?? null,
    failing_since: x.failing_since ?? null,
  }),
  fromRow: (r) => ({
    id: s(r.id),
    url: s(r.url),
    enabled_events: r.enabled_events as string[],
    status: r.status as WebhookEndpointRecord['status'],
    secret: s(r.secret),
    previous_secret: sn(r.previous_secret),
    previous_secret_expires_at: sn(r.previous_secret_expires_at),
    description: sn(r.description),
    metadata: r.metadata as WebhookEndpointRecord['metadata'],
    created: s(r.created_at),
    updated: s(r.updated_at),
    secret_key_id: sn(r.secret_key_id),
    failing_since: sn(r.failing_since),
  }),
};

export const DELIVERIES: TableSpec<DeliveryRecord> = {
  name: 'sw_webhook_deliveries',
  columns: [
    c('id'),
    c('endpoint_id'),
    c('event_id'),
    c('status'),
    c('attempts', 'int'),
    n('next_attempt_at', 'timestamp'),
    n('last_status', 'int'),
    n('last_error'),
    n('last_attempt_at', 'timestamp'),
    n('delivered_at', 'timestamp'),
    c('created_at', 'timestamp'),
    c('updated_at', 'timestamp'),
  ],
  internal: [n('locked_until', 'timestamp'), n('locked_by')],
  toRow: (x) => ({
    id: x.id,
    endpoint_id: x.endpoint_id,
    event_id: x.event_id,
    status: x.status,
    attempts: x.attempts,
    next_attempt_at: x.next_attempt_at,
    last_status: x.last_status,
    last_error: x.last_error,
    last_attempt_at: x.last_attempt_at,
    delivered_at: x.delivered_at,
    created_at: x.created,
    updated_at: x.updated,
  }),
  fromRow: (r) => ({
    id: s(r.id),
    endpoint_id: s(r.endpoint_id),
    event_id: s(r.event_id),
    status: r.status as DeliveryRecord['status'],
    attempts: Number(r.attempts),
    next_attempt_at: sn(r.next_attempt_at),
    last_status: num(r.last_status),
    last_error: sn(r.last_error),
    last_attempt_at: sn(r.last_attempt_at),
    delivered_at: sn(r.delivered_at),
    created: s(r.created_at),
    updated: s(r.updated_at),
  }),
};

export const GRANTS: TableSpec<EntitlementGrantRecord> = {
  name: 'sw_entitlement_grants',
  columns: [
    c('subscription_id'),
    c('entitlement'),
    c('user_id'),
    c('provider'),
    c('product_id'),
    c('status'),
    n('expires_at', 'timestamp'),
    c('updated_at', 'timestamp'),
  ],
  internal: [],
  toRow: (g) => ({
    subscription_id: g.subscription_id,
    entitlement: g.entitlement,
    user_id: g.user_id,
    provider: g.provider,
    product_id: g.product_id,
    status: g.status,
    expires_at: g.expires_at,
    updated_at: g.updated,
  }),
  fromRow: (r) => ({
    subscription_id: s(r.subscription_id),
    entitlement: s(r.entitlement),
    user_id: s(r.user_id),
    provider: r.provider as Provider,
    product_id: s(r.product_id),
    status: r.status as EntitlementGrantRecord['status'],
    expires_at: sn(r.expires_at),
    updated: s(r.updated_at),
  }),
};

/** The outbox: events are written as their JSON (`body`), read back by parsing it. */
export const EVENTS: TableSpec<DomainEvent> = {
  name: 'sw_events',
  columns: [c('id'), c('type'), c('provider'), c('created', 'timestamp'), c('body'), n('subject')],
  internal: [c('sequence', 'int'), c('created_at', 'timestamp')],
  toRow: (e) => ({ id: e.id, type: e.type, provider: e.provider, created: e.created, body: JSON.stringify(e), subject: eventSubject(e) }),
  fromRow: (r) => JSON.parse(s(r.body)) as DomainEvent,
};

/**
 * What an event is about, for a subscription's timeline (column `sw_events.subject`, indexed): the contract id of a
 * subscription event (an order's `origin_no`), else the object's `subscription_id` (entitlements); null when neither.
 * The migration that added the column backfills it with the same rule.
 */
export function eventSubject(e: DomainEvent): string | null {
  const o = e.data.object as unknown as Record<string, unknown> | null;
  if (!o || typeof o !== 'object') return null;
  for (const k of ['contract_id', 'origin_no', 'subscription_id']) if (typeof o[k] === 'string' && o[k]) return o[k] as string;
  return null;
}

/** Webhook ids a callback route accepted (replay protection). */
export const RECEIPTS: TableSpec<never> = {
  name: 'sw_webhook_receipts',
  columns: [c('webhook_id'), c('received_at', 'timestamp')],
  internal: [],
  toRow: () => ({}),
  fromRow: () => undefined as never,
};

/** One row per state-changing action taken through the admin dashboard. */
export interface AdminAuditRecord {
  id: string;
  /** ISO 8601 */
  at: string;
  actor: string;
  action: string;
  target: string;
  result: string;
}

/** The admin dashboard's audit log (written and read by src/admin only). */
export const ADMIN_AUDIT: TableSpec<AdminAuditRecord> = {
  name: 'sw_admin_audit',
  columns: [c('id'), c('at', 'timestamp'), c('actor'), c('action'), c('target'), c('result')],
  internal: [],
  toRow: (x) => ({ ...x }),
  fromRow: (r) => ({ id: s(r.id), at: s(r.at), actor: s(r.actor), action: s(r.action), target: s(r.target), result: s(r.result) }),
};

export const OUTCOMES: TableSpec<NotificationOutcomeRecord> = {
  name: 'sw_notification_outcomes',
  columns: [
    c('id'),
    c('provider'),
    c('outcome'),
    c('code'),
    c('status', 'int'),
    n('notification_id'),
    n('notification_type'),
    n('reason'),
    c('received_at', 'timestamp'),
  ],
  internal: [],
  toRow: (x) => ({ ...x }),
  fromRow: (r) => ({
    id: s(r.id),
    provider: r.provider as Provider,
    outcome: r.outcome as NotificationOutcomeRecord['outcome'],
    code: s(r.code),
    status: Number(r.status),
    notification_id: sn(r.notification_id),
    notification_type: sn(r.notification_type),
    reason: sn(r.reason),
    received_at: s(r.received_at),
  }),
};

export const ATTEMPTS: TableSpec<DeliveryAttemptRecord> = {
  name: 'sw_delivery_attempts',
  columns: [
    c('id'),
    c('delivery_id'),
    c('endpoint_id'),
    c('attempt', 'int'),
    n('status_code', 'int'),
    n('error'),
    n('duration_ms', 'int'),
    c('at', 'timestamp'),
  ],
  internal: [],
  toRow: (x) => ({ ...x }),
  fromRow: (r) => ({
    id: s(r.id),
    delivery_id: s(r.delivery_id),
    endpoint_id: s(r.endpoint_id),
    attempt: Number(r.attempt),
    status_code: num(r.status_code),
    error: sn(r.error),
    duration_ms: num(r.duration_ms),
    at: s(r.at),
  }),
};

/** Every `sw_*` table of the fragment. */
export const TABLES: readonly TableSpec[] = [
  INBOX,
  ORDERS,
  SUBSCRIPTIONS,
  GRANTS,
  SETTINGS,
  EVENTS,
  ENDPOINTS,
  RECEIPTS,
  DELIVERIES,
  ADMIN_AUDIT,
  OUTCOMES,
  ATTEMPTS,
] as readonly TableSpec[];

/** How one database (and client) stores the neutral values: `encode` a value to bind, `decode` a value read. */
export interface Codec {
  encode(column: ColumnSpec, v: unknown): unknown;
  decode(column: ColumnSpec, v: unknown): unknown;
}

/** How SQLite stores the neutral values: timestamps as Prisma's SQLite adapter writes DateTime, JSON as text, booleans as 0/1. */
export const sqliteCodec: Codec = {
  encode(column, v) {
    // A NOT NULL JSON column holds JSON's null for a missing value (as Prisma's JsonNull).
    if (v === null || v === undefined) return column.type === 'json' && !column.nullable ? 'null' : null;
    switch (column.type) {
      case 'timestamp':
        return new Date(v as string).toISOString().replace('Z', '+00:00');
      case 'json':
        return JSON.stringify(v);
      case 'bool':
        return v ? 1 : 0;
      default:
        return v;
    }
  },
  decode(column, v) {
    if (v === null || v === undefined) return null;
    switch (column.type) {
      case 'timestamp':
        return new Date(typeof v === 'string' ? v : Number(v)).toISOString();
      case 'json':
        return JSON.parse(String(v));
      case 'bool':
        return Number(v) === 1;
      default:
        return v;
    }
  },
};

/**
 * SQLite through Prisma's raw queries: written as {@link sqliteCodec}; read back already converted by
 * the column's declared type (JSONB parsed, BOOLEAN as a boolean, DATETIME as an ISO string).
 */
export const prismaSqliteCodec: Codec = {
  encode: sqliteCodec.encode,
  decode(column, v) {
    if (v === null || v === undefined) return null;
    if (column.type === 'json') return v;
    if (column.type === 'bool') return v === true || Number(v) === 1;
    return sqliteCodec.decode(column, v);
  },
};

/**
 * How PostgreSQL stores them (node-postgres, or Prisma's raw queries): timestamps are
 * `timestamp(3) without time zone` holding UTC, bound as ISO strings (PostgreSQL drops the `Z` for this
 * type, keeping the UTC wall time) and selected through to_char (see {@link selectColumns}), so neither
 * the client's type parsers nor the process time zone can shift them; JSON bound as jsonb-safe text,
 * read back parsed by the client.
 */
export const pgCodec: Codec = {
  encode(column, v) {
    if (v === null || v === undefined) return column.type === 'json' && !column.nullable ? 'null' : null;
    switch (column.type) {
      case 'timestamp':
        return new Date(v as string).toISOString();
      case 'json':
        return jsonbText(v);
      default:
        return v;
    }
  },
  decode: (_column, v) => (v === undefined ? null : v),
};

/** The select list of `columns` (`alias.` prefixed when given): PostgreSQL reads timestamps back as ISO 8601 text. */
export function selectColumns(dialect: SqlDialect, columns: readonly ColumnSpec[], alias = ''): string {
  return columns
    .map((c) =>
      dialect === 'postgresql' && c.type === 'timestamp'
        ? `to_char(${alias}"${c.name}", 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "${c.name}"`
        : `${alias}"${c.name}"`,
    )
    .join(', ');
}

/** The two SQL dialects of the stores. */
export type SqlDialect = 'sqlite' | 'postgresql';

/** A table of the description bound to one codec: values in column order, rows decoded to the domain object. */
export interface BoundTable<T> {
  name: string;
  spec: TableSpec<T>;
  /** Column names, in order. */
  columns: readonly string[];
  values(x: T): unknown[];
  read(r: Record<string, unknown>): T;
}

export function bindTable<T>(spec: TableSpec<T>, codec: Codec): BoundTable<T> {
  const cols = spec.columns;
  return {
    name: spec.name,
    spec,
    columns: cols.map((c) => c.name),
    values: (x) => {
      const row = spec.toRow(x);
      return cols.map((c) => codec.encode(c, row[c.name]));
    },
    read: (r) => {
      const row: Record<string, unknown> = {};
      for (const c of cols) row[c.name] = codec.decode(c, r[c.name]);
      return spec.fromRow(row);
    },
  };
}

/** Every table a store maps domain objects onto, bound to `codec`. */
export function bindTables(codec: Codec) {
  return {
    ORDERS: bindTable(ORDERS, codec),
    SUBSCRIPTIONS: bindTable(SUBSCRIPTIONS, codec),
    INBOX: bindTable(INBOX, codec),
    SETTINGS: bindTable(SETTINGS, codec),
    ENDPOINTS: bindTable(ENDPOINTS, codec),
    DELIVERIES: bindTable(DELIVERIES, codec),
    GRANTS: bindTable(GRANTS, codec),
    EVENTS: bindTable(EVENTS, codec),
    OUTCOMES: bindTable(OUTCOMES, codec),
    ATTEMPTS: bindTable(ATTEMPTS, codec),
  };
}
