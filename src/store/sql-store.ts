import { randomUUID } from 'node:crypto';
import type { DomainEvent, Order, Provider, Subscription } from '../events/types.js';
import { sqlAdminSource } from './admin-source.js';
import { pruneBatch } from './retention-sql.js';
import { attemptRow, durationOf, outcomeRow } from './history.js';
import { randomId } from '../core/ids.js';
import { guardUnavailable, retryConflicts } from './sql-common.js';
import { PG_INSERT_AND_LOAD, sqlStatements, subscriptionFilterValues, type TableColumns } from './sql-statements.js';
import { bindTables, type BoundTable, type Codec, type ColumnSpec, type SqlDialect } from './sql-tables.js';
import type {
  ClaimedDelivery,
  DeliveryRecord,
  InboxRecord,
  NotificationReads,
  NotificationSettingRecord,
  Store,
  StoreTransaction,
  WebhookEndpointRecord,
} from './types.js';

type Row = Record<string, unknown>;

/** One connection (or a pool, outside transactions) as the shared store code sees it. */
export interface SqlConnection {
  /** The rows a statement returns. */
  query(text: string, values: unknown[]): PromiseLike<Row[]>;
  /** How many rows a statement changed. */
  execute(text: string, values: unknown[]): PromiseLike<number>;
}

/** What a store on {@link sqlStore} supplies: its dialect, codec and connections. */
export interface SqlStoreConfig {
  name: string;
  dialect: SqlDialect;
  codec: Codec;
  /** Statements outside a transaction (each commits on its own). */
  db: SqlConnection;
  /** Runs `fn` inside one database transaction on one connection (PostgreSQL: Read Committed). */
  transaction<T>(fn: (c: SqlConnection) => Promise<T>): Promise<T>;
  /** Times a unit of work is run again after a serialization failure, deadlock or order/subscription insert race. */
  maxRetries: number;
  /** Whether the store keeps entitlements (the three optional entitlement methods). */
  entitlements: boolean;
  /** Called before each webhook-receipt method: throws when the store cannot keep receipts. */
  receipts?: () => void;
}

// Keys of what a transaction has read or written: one spelling, shared by the loads and the getters.
const subscriptionKey = (provider: Provider, contractId: string): string => `${provider}\0${contractId}`;
const orderNoKey = (no: string): string => `no:${no}`;
const orderTradeKey = (provider: Provider, tradeNo: string): string => `trade:${provider}\0${tradeNo}`;
const byCreated = <T extends { created: string; id: string }>(a: T, b: T): number =>
  a.created < b.created ? -1 : a.created > b.created ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
const TIMESTAMP: ColumnSpec = { name: '', type: 'timestamp', nullable: true };
// PostgreSQL accepts 65,535 bind parameters per statement, SQLite 32,766: stay well below.
const MAX_PARAMS = 30_000;

/** A buffered multi-row INSERT (`upsert`: on the table's key). */
interface Write {
  spec: TableColumns;
  rows: unknown[][];
  upsert: boolean;
}

/**
 * A {@link Store} on SQL tables through any client that runs statements: the one implementation of the
 * store logic behind `pgStore` (node-postgres) and `prismaStore` (Prisma's raw queries), SQLite or
 * PostgreSQL. Statements come from sql-statements.ts, rows are mapped by sql-tables.ts.
 *
 * Inside a transaction, order, subscription, event and delivery writes are buffered and sent together
 * just before COMMIT (PostgreSQL: one statement of data-modifying CTEs); reads of buffered rows are
 * answered from the buffer, and the one statement that could see them (deleting an endpoint's
 * deliveries) flushes first. Constraint violations therefore surface at commit, and the whole unit of
 * work re-runs on a lost race. Rows are read locked on PostgreSQL (`FOR UPDATE`, one statement: the row
 * locked is the row read), and a row read once in a transaction is answered again from memory.
 */
export function sqlStore(config: SqlStoreConfig): Store {
  const { db, codec, dialect } = config;
  const pg = dialect === 'postgresql';
  const SQL = sqlStatements(dialect);
  const { ORDERS, SUBSCRIPTIONS, INBOX, SETTINGS, ENDPOINTS, DELIVERIES, GRANTS, EVENTS, ATTEMPTS, OUTCOMES } = bindTables(codec);
  const ts = (v: string | null): unknown => codec.encode(TIMESTAMP, v);
  const guard = <T>(fn: () => PromiseLike<T>): Promise<T> => guardUnavailable(dialect, fn);
  const one = async <T>(c: SqlConnection, t: BoundTable<T>, sql: string, values: unknown[]): Promise<T | null> => {
    const rows = await c.query(sql, values);
    return rows[0] ? t.read(rows[0]) : null;
  };
  const many = async <T>(c: SqlConnection, t: BoundTable<T>, sql: string, values: unknown[] = []): Promise<T[]> => (await c.query(sql, values)).map(t.read);

  const combinedTexts = new Map<string, string>();
  /** The one statement of several writes (texts cached by shape: tables, row counts, upserts). */
  const combined = (batch: Write[]): string => {
    const key = batch.map((w) => `${w.spec.name}:${w.rows.length}:${w.upsert}`).join('|');
    let sql = combinedTexts.get(key);
    if (sql === undefined) {
      sql = SQL.combine!(batch.map((w) => SQL.insertRows(w.spec, w.rows.length, w.upsert)));
      if (combinedTexts.size < 256) combinedTexts.set(key, sql);
    }
    return sql;
  };
  /** Sends buffered writes in as few statements as the dialect allows (PostgreSQL: normally one). */
  async function flushWrites(c: SqlConnection, writes: Write[]): Promise<void> {
    const pieces = writes.flatMap((w) => {
      // Split a write whose rows alone exceed the parameter budget.
      const perPiece = Math.max(1, Math.floor(MAX_PARAMS / w.spec.columns.length));
      return Array.from({ length: Math.ceil(w.rows.length / perPiece) }, (_, i) => ({ ...w, rows: w.rows.slice(i * perPiece, (i + 1) * perPiece) }));
    });
    if (!SQL.combine) {
      for (const w of pieces) await c.execute(SQL.insert(w.spec, w.rows.length, w.upsert), w.rows.flat());
      return;
    }
    let batch: Write[] = [];
    let params = 0;
    const send = async () => {
      if (batch.length === 0) return;
      const values = batch.flatMap((w) => w.rows.flat());
      const sql = batch.length === 1 ? SQL.insert(batch[0]!.spec, batch[0]!.rows.length, batch[0]!.upsert) : combined(batch);
      await c.execute(sql, values);
      batch = [];
      params = 0;
    };
    for (const w of pieces) {
      const n = w.rows.length * w.spec.columns.length;
      if (params + n > MAX_PARAMS) await send();
      batch.push(w);
      params += n;
    }
    await send();
  }

  function wrap(c: SqlConnection): StoreTransaction & { flush(): Promise<void> } {
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
      const rows = await c.query(PG_INSERT_AND_LOAD, [
        randomUUID(),
        ...INBOX.values(n),
        subs[0]?.provider ?? null,
        subs[0]?.contractId ?? null,
        nos[0] ?? null,
        trades[0]?.provider ?? null,
        trades[0]?.tradeNo ?? null,
        reads.settings ?? [],
        reads.webhookEndpoints === true,
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
      for (const no of nos)
        loadedOrders.set(
          orderNoKey(no),
          ordersRead.filter((o) => o.no === no),
        );
      for (const { provider, tradeNo } of trades)
        loadedOrders.set(
          orderTradeKey(provider, tradeNo),
          ordersRead.filter((o) => o.provider === provider && o.trade_no === tradeNo),
        );
      const settingsRead = of('n').map(SETTINGS.read);
      for (const key of reads.settings ?? [])
        loadedSettings.set(key, settingsRead.find((x) => x.id === key) ?? settingsRead.find((x) => x.mountLocation === key) ?? null);
      if (reads.webhookEndpoints) loadedEndpoints = of('e').map(ENDPOINTS.read).sort(byCreated);
      return true;
    }
    async function flush(): Promise<void> {
      const writes: Write[] = [];
      const add = <T>(t: BoundTable<T>, items: T[], upsert: boolean) => {
        if (items.length > 0) writes.push({ spec: t.spec, rows: items.map(t.values), upsert });
      };
      const orderWrites = [...orders.values()];
      add(
        ORDERS,
        orderWrites.filter((x) => x.insert).map((x) => x.order),
        false,
      );
      add(
        ORDERS,
        orderWrites.filter((x) => !x.insert).map((x) => x.order),
        true,
      );
      // After reading nothing, a plain INSERT: a unique violation means another instance won the race (the unit of work re-runs).
      const subs = [...subscriptions.values()];
      add(
        SUBSCRIPTIONS,
        subs.filter((x) => x.insert).map((x) => x.sub),
        false,
      );
      add(
        SUBSCRIPTIONS,
        subs.filter((x) => !x.insert).map((x) => x.sub),
        true,
      );
      add(EVENTS, events, false);
      add(DELIVERIES, deliveries, false);
      orders.clear();
      subscriptions.clear();
      events = [];
      deliveries = [];
      await flushWrites(c, writes);
    }
    const tx: StoreTransaction & { flush(): Promise<void> } = {
      flush,
      insertNotification: async (n) => (await c.execute(SQL.insertInbox, [randomUUID(), ...INBOX.values(n)])) === 1,
      getOrderByNo: (no) => orderRead(orderNoKey(no), SQL.orderByNoLocked, [no], (o) => o.no === no),
      getOrderByTradeNo: (provider, tradeNo) =>
        orderRead(orderTradeKey(provider, tradeNo), SQL.orderByTradeNoLocked, [provider, tradeNo], (o) => o.provider === provider && o.trade_no === tradeNo),
      async getLatestOrderByOriginNo(provider, originNo) {
        // Orders this unit of work wrote are not in the table yet: the newest of both.
        const found = await one(c, ORDERS, SQL.latestOrderByOriginNo, [provider, originNo]);
        const buffered = [...orders.values()].map((x) => x.order).filter((o) => o.provider === provider && o.origin_no === originNo);
        const all = [...(found && !orders.has(found.id) ? [found] : []), ...buffered].sort((a, b) => -byCreated(a, b));
        return all[0] ? structuredClone(all[0]) : null;
      },
      insertOrder: async (o) => void orders.set(o.id, { order: structuredClone(o), insert: true }),
      saveOrder: async (o) => void orders.set(o.id, { order: structuredClone(o), insert: orders.get(o.id)?.insert === true }),
      async getSubscription(provider, contractId) {
        const k = subscriptionKey(provider, contractId);
        if (seen.has(k)) return structuredClone(seen.get(k) ?? null);
        // No row locked means none read: a row committed meanwhile makes the INSERT fail and the unit re-run.
        const sub = await one(c, SUBSCRIPTIONS, SQL.subscriptionLocked, [provider, contractId]);
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
        loadedSettings.has(idOrMount)
          ? structuredClone(loadedSettings.get(idOrMount) ?? null)
          : one(c, SETTINGS, SQL.setting, [idOrMount, idOrMount, idOrMount]),
      async saveNotificationSetting(s) {
        loadedSettings.clear();
        await c.execute(SQL.insert(SETTINGS.spec, 1, true), SETTINGS.values(s));
      },
      async deleteNotificationSetting(id) {
        loadedSettings.clear();
        return (await c.execute(SQL.deleteSetting, [id])) === 1;
      },
      getWebhookEndpoint: (id) => one(c, ENDPOINTS, SQL.endpoint, [id]),
      listWebhookEndpoints: async () => (loadedEndpoints ? structuredClone(loadedEndpoints) : many(c, ENDPOINTS, SQL.endpoints)),
      async saveWebhookEndpoint(e) {
        loadedEndpoints = null;
        await c.execute(SQL.insert(ENDPOINTS.spec, 1, true), ENDPOINTS.values(e));
      },
      async deleteWebhookEndpoint(id) {
        loadedEndpoints = null;
        await flush();
        await c.execute(SQL.deleteEndpointDeliveries, [id]);
        return (await c.execute(SQL.deleteEndpoint, [id])) === 1;
      },
      insertDeliveries: async (rows) => void deliveries.push(...structuredClone(rows)),
    };
    if (pg) tx.insertNotificationAndLoad = insertNotificationAndLoad;
    if (config.entitlements) {
      tx.listEntitlementGrants = async (userId) => {
        // Lock, then read in a second statement (Read Committed: it sees what the previous holder committed).
        if (SQL.lockUserGrants && !lockedUsers.has(userId)) {
          await c.execute(SQL.lockUserGrants, [userId]);
          lockedUsers.add(userId);
        }
        return many(c, GRANTS, SQL.grantsOfUser, [userId]);
      };
      tx.replaceEntitlementGrants = async (subscriptionId, grants) => {
        const statements = SQL.replaceGrants(grants.length);
        const head = [subscriptionId, SQL.list(grants.map((g) => g.entitlement))];
        const rows = grants.flatMap(GRANTS.values);
        if (statements.length === 1 && pg) await c.execute(statements[0]!, [...head, ...rows]);
        else {
          await c.execute(statements[0]!, head);
          if (statements[1]) await c.execute(statements[1], rows);
        }
      };
    }
    return tx;
  }

  async function claim(now: string, limit: number, lockMs: number, exclude: readonly string[]): Promise<ClaimedDelivery[]> {
    const token = randomUUID();
    const until = new Date(Date.parse(now) + lockMs).toISOString();
    const values = [ts(until), token, ts(now), ts(now), SQL.list(exclude), limit];
    // PostgreSQL: one statement claims and reads back, concurrent workers skipping each other's locked
    // rows. SQLite has one writer at a time: the rows chosen are the rows marked, then read by their token.
    const rows = pg ? await db.query(SQL.claim, values) : (await db.execute(SQL.claim, values)) === 0 ? [] : await db.query(SQL.claimed, [token]);
    if (rows.length === 0) return [];
    const endpointIds = [...new Set(rows.map((r) => r.endpoint_id as string))];
    const endpoints = new Map((await many(db, ENDPOINTS, SQL.endpointsById, [SQL.list(endpointIds)])).map((e) => [e.id, e]));
    return rows.map((r) => ({
      delivery: DELIVERIES.read(r),
      claim: token,
      body: (r.__body as string | null) ?? 'null',
      endpoint: endpoints.get(r.endpoint_id as string) ?? null,
    }));
  }

  const receipts = () => config.receipts?.();
  const store: Store = {
    name: config.name,
    ...sqlAdminSource(dialect, codec, (sql, params) => guard(() => db.query(sql, [...params]))),
    transaction: (fn) =>
      retryConflicts(config.maxRetries, () =>
        guard(() =>
          config.transaction(async (c) => {
            const tx = wrap(c);
            const result = await fn(tx);
            await tx.flush();
            return result;
          }),
        ),
      ),
    getOrderByNo: (no) => guard(() => one(db, ORDERS, SQL.orderByNo, [no])),
    getSubscription: (provider, contractId) => guard(() => one(db, SUBSCRIPTIONS, SQL.subscription, [provider, contractId])),
    listSubscriptions: (f = {}) => guard(() => many(db, SUBSCRIPTIONS, SQL.subscriptions, subscriptionFilterValues(f))),
    getNotification: (provider, notificationId) => guard(() => one(db, INBOX, SQL.inbox, [provider, notificationId])),
    countNotifications: (provider) => guard(async () => Number((await db.query(SQL.countInbox, [provider ?? null, provider ?? null]))[0]!.n)),
    hasWebhookReceipt: (webhookId, since) =>
      guard(async () => {
        receipts();
        return (await db.query(SQL.hasReceipt, [webhookId, ts(since)])).length === 1;
      }),
    recordWebhookReceipt: (webhookId, at, forgetBefore) =>
      guard(async () => {
        receipts();
        await db.execute(SQL.forgetReceipts, [ts(forgetBefore), webhookId]);
        await db.execute(SQL.recordReceipt, [webhookId, ts(at)]);
      }),
    listEvents: (o = {}) => guard(() => many(db, EVENTS, SQL.events, [o.type ?? null, o.type ?? null, o.limit ?? SQL.noLimit])),
    getNotificationSetting: (idOrMount) => guard(() => one(db, SETTINGS, SQL.setting, [idOrMount, idOrMount, idOrMount])),
    listNotificationSettings: () => guard(() => many(db, SETTINGS, SQL.settings)),
    getWebhookEndpoint: (id) => guard(() => one(db, ENDPOINTS, SQL.endpoint, [id])),
    listWebhookEndpoints: () => guard(() => many(db, ENDPOINTS, SQL.endpoints)),
    getDelivery: (id) => guard(() => one(db, DELIVERIES, SQL.delivery, [id])),
    listDeliveries: (f = {}) =>
      guard(() =>
        many(db, DELIVERIES, SQL.deliveries, [
          f.status ?? null,
          f.status ?? null,
          f.endpointId ?? null,
          f.endpointId ?? null,
          f.eventId ?? null,
          f.eventId ?? null,
          f.limit ?? 100,
        ]),
      ),
    claimDeliveries: ({ now, limit, lockMs, excludeEndpointIds = [] }) => guard(() => claim(now, limit, lockMs, excludeEndpointIds)),
    claimSweepDue: ({ now, trialEndsBefore, periodEndedBefore, limit, lockMs }) =>
      guard(async () => {
        const token = randomUUID();
        const until = new Date(Date.parse(now) + lockMs).toISOString();
        const values = [token, ts(until), ts(now), ts(now), ts(trialEndsBefore), ts(periodEndedBefore), limit];
        // PostgreSQL: one statement claims and reads back, concurrent sweeps skipping each other's locked rows.
        const rows = pg
          ? await db.query(SQL.claimSweep, values)
          : (await db.execute(SQL.claimSweep, values)) === 0
            ? []
            : await db.query(SQL.sweepClaimed, [token]);
        return rows.map((r) => ({ subscription: SUBSCRIPTIONS.read(r), claim: token }));
      }),
    releaseSweepClaim: (id, token, after) => guard(async () => (await db.execute(SQL.releaseSweep, [ts(after), id, token])) === 1),
    finishDelivery: (id, token, o) =>
      guard(async () => {
        const at = o.last_attempt_at ?? new Date().toISOString();
        const values = [o.status, o.attempts, ts(o.next_attempt_at), o.last_status, o.last_error, ts(o.last_attempt_at), ts(o.delivered_at), ts(at), id, token];
        const attempt = attemptRow(id, o);
        // PostgreSQL: one statement records the outcome and appends the attempt; only a 410 touches a third table and needs a transaction.
        if (pg) {
          const withAttempt = [...values, attempt.id, attempt.status_code, attempt.error, attempt.duration_ms, ts(attempt.at), o.last_attempt_at !== null];
          if (!o.disable_endpoint) return (await db.query(SQL.finishAndRecord!, withAttempt)).length === 1;
          return config.transaction(async (c) => {
            const rows = await c.query(SQL.finishAndRecord!, withAttempt);
            if (rows.length !== 1) return false;
            await c.execute(SQL.disableEndpoint, [ts(at), rows[0]!.endpoint_id]);
            return true;
          });
        }
        return config.transaction(async (c) => {
          const rows = await c.query(SQL.finish, values);
          if (rows.length !== 1) return false;
          if (o.last_attempt_at !== null) await c.execute(SQL.insertAttempt, ATTEMPTS.values({ ...attempt, endpoint_id: String(rows[0]!.endpoint_id) }));
          if (o.disable_endpoint) await c.execute(SQL.disableEndpoint, [ts(at), rows[0]!.endpoint_id]);
          return true;
        });
      }),
    finishDelivered: (items, token, at) =>
      guard(async () => {
        if (items.length === 0) return 0;
        // PostgreSQL: one statement for the whole round (outcomes and attempt history), whatever each receiver answered.
        if (pg)
          return db.execute(SQL.finishDelivered, [
            ts(at),
            ts(at),
            ts(at),
            items.map((i) => i.id),
            items.map((i) => i.last_status),
            items.map((i) => durationOf(i.duration_ms)),
            token,
          ]);
        return config.transaction(async (c) => {
          let count = 0;
          for (const { id, last_status, duration_ms } of items) {
            const n = await c.execute(SQL.finishDelivered, [last_status, ts(at), ts(at), ts(at), id, token]);
            if (n === 1) await c.execute(SQL.insertDeliveredAttempt, [randomId('att'), durationOf(duration_ms), id]);
            count += n;
          }
          return count;
        });
      }),
    listDeliveryAttempts: (deliveryId) => guard(() => many(db, ATTEMPTS, SQL.attempts, [deliveryId])),
    recordNotificationOutcome: (row) => guard(async () => void (await db.execute(SQL.insertOutcome, OUTCOMES.values(outcomeRow(row))))),
    prune: (o) => guard(() => pruneBatch(SQL.prune, o, (sql, values) => Promise.resolve(db.execute(sql, values)), ts)),
    resetDelivery: (id, now) =>
      guard(async () => {
        const updated = await one(db, DELIVERIES, SQL.reset, [ts(now), ts(now), id, ts(now)]);
        if (updated) return updated;
        return (await db.query(SQL.deliveryExists, [id])).length === 1 ? 'claimed' : null;
      }),
  };
  if (config.entitlements) store.listEntitlementGrants = (userId) => guard(() => many(db, GRANTS, SQL.grantsOfUser, [userId]));
  return store;
}
