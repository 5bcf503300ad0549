import { randomUUID } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { AsyncLocalStorage } from 'node:async_hooks';
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { SubscriptionWebhooksError } from '../core/errors.js';
import type { Provider } from '../events/types.js';
import { readSqlMigrations, splitSqlStatements, type SqlMigration } from './prisma-migrate.js';
import { isDatabaseUnavailable, isRetryable } from './sql-common.js';
import { pruneBatch } from './retention-sql.js';
import { attemptRow, durationOf, outcomeRow } from './history.js';
import { randomId } from '../core/ids.js';
import { sqlStatements, subscriptionFilterValues } from './sql-statements.js';
import { bindTables, sqliteCodec, type BoundTable } from './sql-tables.js';
import type { ClaimedDelivery, Store, StoreTransaction, WebhookEndpointRecord } from './types.js';
import { sqlAdminSource } from './admin-source.js';

/** A prepared statement of `better-sqlite3` (the part `sqliteStore` uses). */
export interface SqliteStatement {
  run(...params: unknown[]): { changes: number };
  get(...params: unknown[]): unknown;
  all(...params: unknown[]): unknown[];
}
/** A `better-sqlite3` `Database` (versions 11 and 12), or anything shaped like one. */
export interface SqliteDatabase {
  prepare(sql: string): SqliteStatement;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  readonly inTransaction: boolean;
  readonly open: boolean;
  /** The file the database was opened with (`:memory:` or '' for an in-memory or temporary database). */
  readonly name: string;
  readonly memory: boolean;
  close(): unknown;
}

/** Options for {@link sqliteStore}. */
export interface SqliteStoreOptions {
  /**
   * Durability. `FULL` (default): the WAL is fsynced after every commit before any notification it holds
   * is answered, so an acknowledged notification survives power loss and OS crashes. The store does that
   * fsync itself, off the event loop (the connection runs `PRAGMA synchronous=NORMAL`, which keeps
   * checkpoints synced): while one fsync is in flight the next groups are verified and committed, and one
   * fsync then covers them all. `NORMAL`: no fsync per commit (the WAL is synced at checkpoints only):
   * faster, and a crash of the process still loses nothing, but a power loss or OS crash can lose the last
   * commits, which were already answered 200 (the provider does not send them again).
   */
  synchronous?: 'FULL' | 'NORMAL';
  /** How long a writer waits for another process' write to finish (`PRAGMA busy_timeout`), ms. Default 5000. */
  busyTimeoutMs?: number;
  /** Times a unit of work is run again after an order/subscription insert race. Default 3. */
  maxRetries?: number;
  /** Most units of work committed in one transaction (group commit). Default 64. */
  maxBatch?: number;
  /** Create the `sw_*` tables from the shipped migrations if they are missing (see {@link applySqliteMigrations}). Default false. */
  migrate?: boolean;
  /**
   * Checkpoint the WAL into the database file from a worker thread with its own connection (every
   * `checkpointIntervalMs`, default 200), instead of inside a commit on the event loop (SQLite's
   * automatic checkpoint copies pages and fsyncs twice while every request waits). Default true for a
   * database file; falls back to SQLite's automatic checkpoint when the worker cannot start.
   */
  backgroundCheckpoint?: boolean;
  checkpointIntervalMs?: number;
  /** Close the database in `store.close()`. Default false (the app owns its database handle). */
  closeDatabaseOnClose?: boolean;
}

type Row = Record<string, unknown>;

// The shared description (sql-tables.ts, sql-statements.ts) with SQLite's encoding. Timestamps are written
// as Prisma's SQLite adapter writes DateTime (ISO 8601 with `+00:00`), so the same file works with
// prismaStore, and text comparison orders them (fixed width, UTC).
const SQL = sqlStatements('sqlite');
const { ORDERS, SUBSCRIPTIONS, INBOX, SETTINGS, ENDPOINTS, DELIVERIES, GRANTS, EVENTS, ATTEMPTS, OUTCOMES } = bindTables(sqliteCodec);
const TIMESTAMP = { name: '', type: 'timestamp', nullable: true } as const;
const ts = (v: string | null): string | null => sqliteCodec.encode(TIMESTAMP, v) as string | null;
const str = (v: unknown): string => v as string;
const UPSERT = {
  order: SQL.insert(ORDERS.spec, 1, true),
  subscription: SQL.insert(SUBSCRIPTIONS.spec, 1, true),
  setting: SQL.insert(SETTINGS.spec, 1, true),
  endpoint: SQL.insert(ENDPOINTS.spec, 1, true),
  grant: SQL.insert(GRANTS.spec, 1, true),
};
const INSERT = { order: SQL.insert(ORDERS.spec, 1), subscription: SQL.insert(SUBSCRIPTIONS.spec, 1), delivery: SQL.insert(DELIVERIES.spec, 1) };

const SQLITE_UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|IOERR|FULL|CANTOPEN|READONLY|CORRUPT|NOTADB|PROTOCOL)/;
/** Maps "database cannot be written" errors (busy past the timeout, I/O, disk full, closed handle) to `STORE_UNAVAILABLE`. */
function unavailable(error: unknown): SubscriptionWebhooksError | null {
  const e = error as { code?: unknown; message?: unknown } | null;
  const closed = e instanceof TypeError && /database connection is not open/i.test(String(e.message));
  if (!closed && !SQLITE_UNAVAILABLE.test(String(e?.code ?? '')) && !isDatabaseUnavailable(error)) return null;
  return new SubscriptionWebhooksError('STORE_UNAVAILABLE', `Database unavailable (sqlite): ${String(e?.message ?? error)}`, { cause: error });
}
const mapError = (error: unknown): unknown => unavailable(error) ?? error;

/**
 * Creates the `sw_*` tables on a `better-sqlite3` database from the migrations that ship with the
 * package (`prisma-schema/migrations/sqlite`), in order and idempotently: applied names are recorded in
 * `sw_migrations` (the same table `applySqlMigrations` uses, so either may run first). Safe to run from
 * several processes at once: each migration runs inside `BEGIN IMMEDIATE`, the check included.
 * @returns the names of the migrations applied now (empty when up to date)
 * @throws the database error of the failing statement (that migration is rolled back)
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * applySqliteMigrations(new Database('./subscription-webhooks.db')); // ['0001_init'] the first time
 * ```
 */
export function applySqliteMigrations(db: SqliteDatabase, options: { migrations?: SqlMigration[] } = {}): string[] {
  const migrations = options.migrations ?? readSqlMigrations('sqlite');
  const applied: string[] = [];
  db.exec('CREATE TABLE IF NOT EXISTS "sw_migrations" ("name" TEXT NOT NULL PRIMARY KEY, "applied_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP)');
  for (const m of migrations) {
    db.exec('BEGIN IMMEDIATE');
    try {
      if (!db.prepare('SELECT 1 FROM "sw_migrations" WHERE "name" = ?').get(m.name)) {
        for (const statement of splitSqlStatements(m.sql)) db.exec(statement);
        db.prepare('INSERT INTO "sw_migrations" ("name") VALUES (?)').run(m.name);
        applied.push(m.name);
      }
      db.exec('COMMIT');
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw error;
    }
  }
  return applied;
}

// The checkpointer thread: its own connection on the file, a PASSIVE checkpoint every interval (it never
// waits for readers or writers; synchronous=NORMAL syncs the WAL before copying and the file after).
const CHECKPOINTER = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.module);
const db = new Database(workerData.file);
db.pragma('busy_timeout = 100');
db.pragma('synchronous = NORMAL');
const timer = setInterval(() => { try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} }, workerData.interval);
parentPort.on('message', () => { clearInterval(timer); try { db.pragma('wal_checkpoint(PASSIVE)'); } catch {} db.close(); parentPort.close(); });
`;

/**
 * Moves WAL checkpoints off the event loop: disables the automatic checkpoint on `db` and checkpoints
 * from a worker thread instead. Returns null (automatic checkpoint kept) when better-sqlite3 cannot be
 * resolved from here or the worker cannot start.
 */
function startCheckpointer(db: SqliteDatabase, interval: number): { stop(): Promise<void> } | null {
  let module: string;
  try {
    module = createRequire(typeof __filename === 'string' ? __filename : import.meta.url).resolve('better-sqlite3');
  } catch {
    return null;
  }
  let worker: Worker;
  try {
    worker = new Worker(CHECKPOINTER, { eval: true, workerData: { module, file: db.name, interval } });
  } catch {
    return null;
  }
  worker.unref();
  let failed = false;
  worker.on('error', () => {
    // Back to SQLite's own checkpoints on the event loop: slower, never unbounded.
    failed = true;
    if (db.open) db.pragma('wal_autocheckpoint = 1000');
  });
  db.pragma('wal_autocheckpoint = 0');
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
  return {
    async stop() {
      // Kept alive until it has exited (unref'd, a pending close() would otherwise let the process end early).
      worker.ref();
      if (!failed) worker.postMessage('stop');
      await exited;
      if (db.open) db.pragma('wal_autocheckpoint = 1000');
    },
  };
}

/** A queued unit of work: runs inside the group's transaction, answered after its COMMIT. */
interface Unit {
  run(tx: StoreTransaction): Promise<unknown>;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/**
 * A {@link Store} on SQLite through `better-sqlite3` (an optional peer dependency), on the same `sw_*`
 * tables and migrations as `prismaStore` on SQLite (the same file works with either). The embedded
 * store: no server, durable before the 200, and fast (see BENCHMARKS.md).
 *
 * - WAL journal, `synchronous: 'FULL'` by default: a notification is answered only after the commit that
 *   holds it is fsynced; the store fsyncs the WAL itself, off the event loop, so one fsync covers every
 *   group committed while the previous one ran (see {@link SqliteStoreOptions.synchronous} for `NORMAL`'s trade-off).
 * - Group commit: units of work that arrive together run one after the other inside one
 *   `BEGIN IMMEDIATE` transaction and are committed with one fsync. Each runs inside its own SAVEPOINT:
 *   one that throws is rolled back alone, and its neighbours commit; every one is answered only after
 *   the COMMIT that holds it (a failed COMMIT fails them all, and nothing was acknowledged).
 * - Several processes may share one file: writers take the lock with `BEGIN IMMEDIATE` and wait up to
 *   `busyTimeoutMs` for each other; a database that stays locked, or cannot be written, is `STORE_UNAVAILABLE`.
 * - A new order or a subscription saved after reading `null` is a plain INSERT: a unique violation
 *   (another process won the race) rolls the unit of work back to its savepoint and runs it again.
 * - Reads outside a transaction see committed data only (they wait for the open group to commit).
 *
 * Sets `journal_mode=WAL`, `synchronous=NORMAL` (see above) and `busy_timeout` on `db`.
 *
 * @param db - a `better-sqlite3` database (`new Database(file)`), used by this store only
 * @throws SubscriptionWebhooksError `STORE_UNAVAILABLE` (from every method) when the database cannot be written
 * @example
 * ```ts
 * import Database from 'better-sqlite3';
 * import { sqliteStore } from 'subscription-webhooks/sqlite';
 * const hooks = createSubscriptionWebhooks({ store: sqliteStore(new Database('./subscription-webhooks.db'), { migrate: true }) });
 * ```
 */
export function sqliteStore(db: SqliteDatabase, options: SqliteStoreOptions = {}): Store {
  // busy_timeout first: another process may hold the lock that switching to WAL or migrating needs.
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeoutMs ?? 5000))}`);
  db.pragma('journal_mode = WAL');
  // FULL durability is provided by syncing the WAL ourselves (off the event loop) before answering;
  // NORMAL keeps SQLite's own syncs at checkpoints, which is what makes resetting the WAL safe.
  db.pragma('synchronous = NORMAL');
  if (options.migrate) applySqliteMigrations(db);
  const maxRetries = options.maxRetries ?? 3;
  const maxBatch = Math.max(1, options.maxBatch ?? 64);

  const statements = new Map<string, SqliteStatement>();
  const stmt = (sql: string): SqliteStatement => {
    let s = statements.get(sql);
    if (!s) {
      s = db.prepare(sql);
      statements.set(sql, s);
    }
    return s;
  };
  const one = <T>(t: BoundTable<T>, sql: string, ...values: unknown[]): T | null => {
    const r = stmt(sql).get(...values) as Row | undefined;
    return r ? t.read(r) : null;
  };
  const many = <T>(t: BoundTable<T>, sql: string, ...values: unknown[]): T[] => (stmt(sql).all(...values) as Row[]).map(t.read);
  /** Transaction control through prepared statements too (exec() parses its text on every call). */
  const control = (sql: 'BEGIN IMMEDIATE' | 'SAVEPOINT sw_unit' | 'RELEASE sw_unit' | 'ROLLBACK TO sw_unit' | 'COMMIT' | 'ROLLBACK'): void =>
    void stmt(sql).run();

  function wrap(): StoreTransaction {
    const readNull = new Set<string>();
    const subKey = (provider: Provider, contractId: string) => `${provider}\0${contractId}`;
    return {
      insertNotification: async (n) => stmt(SQL.insertInbox).run(randomUUID(), ...INBOX.values(n)).changes === 1,
      getOrderByNo: async (no) => one(ORDERS, SQL.orderByNoLocked, no),
      getOrderByTradeNo: async (provider, tradeNo) => one(ORDERS, SQL.orderByTradeNoLocked, provider, tradeNo),
      // Writes go straight to the table inside the open transaction, so this unit's own orders are included.
      getLatestOrderByOriginNo: async (provider, originNo) => one(ORDERS, SQL.latestOrderByOriginNo, provider, originNo),
      insertOrder: async (o) => void stmt(INSERT.order).run(...ORDERS.values(o)),
      saveOrder: async (o) => void stmt(UPSERT.order).run(...ORDERS.values(o)),
      async getSubscription(provider, contractId) {
        const sub = one(SUBSCRIPTIONS, SQL.subscriptionLocked, provider, contractId);
        if (!sub) readNull.add(subKey(provider, contractId));
        return sub;
      },
      async saveSubscription(s) {
        // After reading nothing, a plain INSERT: a unique violation means another process won the race (the unit of work re-runs).
        const insert = readNull.delete(subKey(s.provider, s.contract_id));
        stmt(insert ? INSERT.subscription : UPSERT.subscription).run(...SUBSCRIPTIONS.values(s));
      },
      async insertEvents(events) {
        // Up to 8 rows per statement (one prepared text per row count): a notification's events in one run.
        for (let i = 0; i < events.length; i += 8) {
          const chunk = events.slice(i, i + 8);
          stmt(SQL.insert(EVENTS.spec, chunk.length)).run(...chunk.flatMap(EVENTS.values));
        }
      },
      getNotificationSetting: async (idOrMount) => one(SETTINGS, SQL.setting, idOrMount, idOrMount, idOrMount),
      saveNotificationSetting: async (s) => void stmt(UPSERT.setting).run(...SETTINGS.values(s)),
      deleteNotificationSetting: async (id) => stmt(SQL.deleteSetting).run(id).changes === 1,
      getWebhookEndpoint: async (id) => one(ENDPOINTS, SQL.endpoint, id),
      listWebhookEndpoints: async () => many(ENDPOINTS, SQL.endpoints),
      saveWebhookEndpoint: async (e) => void stmt(UPSERT.endpoint).run(...ENDPOINTS.values(e)),
      async deleteWebhookEndpoint(id) {
        stmt(SQL.deleteEndpointDeliveries).run(id);
        return stmt(SQL.deleteEndpoint).run(id).changes === 1;
      },
      async insertDeliveries(rows) {
        const insert = stmt(INSERT.delivery);
        for (const d of rows) insert.run(...DELIVERIES.values(d));
      },
      // SQLite has one writer at a time (this runs inside BEGIN IMMEDIATE): a user's grant set cannot change under us.
      listEntitlementGrants: async (userId) => many(GRANTS, SQL.grantsOfUser, userId),
      async replaceEntitlementGrants(subscriptionId, grants) {
        stmt(SQL.replaceGrants(0)[0]!).run(subscriptionId, SQL.list(grants.map((g) => g.entitlement)));
        const upsert = stmt(UPSERT.grant);
        for (const g of grants) upsert.run(...GRANTS.values(g));
      },
    };
  }

  // ---- group commit -------------------------------------------------------------------------------
  const queue: Unit[] = [];
  /** Set while a unit of work runs, for the store calls it makes (see enqueue and now). */
  const insideUnit = new AsyncLocalStorage<Unit>();
  let running: Unit | null = null;
  /** True only for calls from the unit of work running now (not from a task it left behind). */
  const fromRunningUnit = (): boolean => running !== null && insideUnit.getStore() === running;
  let draining = false;
  /** True between BEGIN and COMMIT/ROLLBACK of a group: plain reads wait, so they never see uncommitted rows. */
  let inGroup = false;
  let groupDone: Promise<void> = Promise.resolve();
  let closed = false;

  function enqueue<T>(run: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    if (closed) return Promise.reject(new SubscriptionWebhooksError('STORE_UNAVAILABLE', 'Database unavailable (sqlite): the store is closed'));
    // Called from inside a unit of work (a nested transaction, a claim): it joins that unit's transaction,
    // which is open on this connection; queueing it behind the group would wait for itself.
    if (fromRunningUnit()) return Promise.resolve().then(() => run(wrap()));
    return new Promise<T>((resolve, reject) => {
      queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (!draining) {
        draining = true;
        // setImmediate: every request that arrived in this turn of the event loop joins the first group.
        setImmediate(() => void drain());
      }
    });
  }

  async function drain(): Promise<void> {
    try {
      while (queue.length > 0) await runGroup(queue.splice(0, maxBatch));
    } finally {
      draining = false;
    }
  }

  async function runGroup(batch: Unit[]): Promise<void> {
    try {
      control('BEGIN IMMEDIATE');
    } catch (error) {
      for (const u of batch) u.reject(mapError(error));
      return;
    }
    inGroup = true;
    let endGroup!: () => void;
    groupDone = new Promise((r) => (endGroup = r));
    const done: { unit: Unit; value: unknown }[] = [];
    try {
      for (const unit of batch) {
        for (let attempt = 0; ; attempt++) {
          control('SAVEPOINT sw_unit');
          try {
            running = unit;
            let value: unknown;
            try {
              value = await insideUnit.run(unit, () => unit.run(wrap()));
            } finally {
              running = null;
            }
            control('RELEASE sw_unit');
            done.push({ unit, value });
            break;
          } catch (error) {
            // A statement error that ended the whole transaction (I/O, disk full) fails the group.
            if (!db.inTransaction) throw error;
            control('ROLLBACK TO sw_unit');
            control('RELEASE sw_unit');
            if (attempt < maxRetries && isRetryable(error)) continue;
            unit.reject(mapError(error));
            break;
          }
        }
      }
      control('COMMIT');
    } catch (error) {
      try {
        if (db.inTransaction) control('ROLLBACK');
      } catch {
        // The transaction is gone either way.
      }
      const mapped = mapError(error);
      for (const { unit } of done) unit.reject(mapped);
      // Units not yet run (the group failed before them) are failed too: nothing of theirs was written.
      for (const unit of batch) if (!done.some((d) => d.unit === unit)) unit.reject(mapped);
      return;
    } finally {
      inGroup = false;
      endGroup();
    }
    if (done.length > 0) durable(done);
  }

  // ---- durability: the WAL is fsynced (libuv thread pool) before a committed unit is answered ----------
  const onDisk = !db.memory && db.name !== '' && db.name !== ':memory:';
  const fullSync = options.synchronous !== 'NORMAL' && onDisk;
  const checkpointer = onDisk && options.backgroundCheckpoint !== false ? startCheckpointer(db, options.checkpointIntervalMs ?? 200) : null;
  let wal: Promise<FileHandle> | undefined;
  const syncWal =
    (options as { syncWal?: () => Promise<void> }).syncWal ??
    (async () => {
      wal ??= open(`${db.name}-wal`, 'r');
      await (await wal).datasync();
    });
  let waiting: { unit: Unit; value: unknown }[] = [];
  let syncing = false;
  function durable(done: { unit: Unit; value: unknown }[]): void {
    if (!fullSync) {
      for (const { unit, value } of done) unit.resolve(value);
      return;
    }
    waiting.push(...done);
    if (!syncing) void syncLoop();
  }
  /** One fsync at a time; whatever committed while it ran waits for the next one (group commit across groups). */
  async function syncLoop(): Promise<void> {
    syncing = true;
    try {
      while (waiting.length > 0) {
        const batch = waiting;
        waiting = [];
        try {
          await syncWal();
          for (const { unit, value } of batch) unit.resolve(value);
        } catch (error) {
          // Committed but not known durable: not acknowledged (the provider sends it again; a duplicate then).
          wal = undefined;
          const failed = new SubscriptionWebhooksError(
            'STORE_UNAVAILABLE',
            `Database unavailable (sqlite): fsync of the WAL failed: ${(error as Error).message}`,
            { cause: error },
          );
          for (const { unit } of batch) unit.reject(failed);
        }
      }
    } finally {
      syncing = false;
    }
  }

  /** A read or write outside `transaction`: waits while a group is open (its rows are not committed yet). */
  async function now<T>(fn: () => T): Promise<T> {
    // From inside a unit of work: its own connection and transaction (waiting would wait for itself).
    if (!fromRunningUnit()) while (inGroup) await groupDone;
    try {
      return fn();
    } catch (error) {
      throw mapError(error);
    }
  }
  /** A write outside `transaction`: one unit of the next group (it commits with its neighbours). */
  const write = <T>(fn: () => T): Promise<T> => enqueue(async () => fn());

  function claim(nowIso: string, limit: number, lockMs: number, exclude: readonly string[]): ClaimedDelivery[] {
    const token = randomUUID();
    const until = new Date(Date.parse(nowIso) + lockMs).toISOString();
    if (stmt(SQL.claim).run(ts(until), token, ts(nowIso), ts(nowIso), SQL.list(exclude), limit).changes === 0) return [];
    const rows = stmt(SQL.claimed).all(token) as Row[];
    const endpoints = new Map<string, WebhookEndpointRecord | null>();
    for (const r of rows) {
      const id = str(r.endpoint_id);
      if (!endpoints.has(id)) endpoints.set(id, one(ENDPOINTS, SQL.endpoint, id));
    }
    return rows.map((r) => ({
      delivery: DELIVERIES.read(r),
      claim: token,
      body: (r.__body as string | null) ?? 'null',
      endpoint: endpoints.get(str(r.endpoint_id)) ?? null,
    }));
  }

  return {
    name: 'sqlite',
    ...sqlAdminSource('sqlite', sqliteCodec, (sql, params) => now(() => db.prepare(sql).all(...params) as Record<string, unknown>[])),
    transaction: (fn) => enqueue(fn),
    getOrderByNo: (no) => now(() => one(ORDERS, SQL.orderByNo, no)),
    getSubscription: (provider, contractId) => now(() => one(SUBSCRIPTIONS, SQL.subscription, provider, contractId)),
    listSubscriptions: (f = {}) => now(() => many(SUBSCRIPTIONS, SQL.subscriptions, ...subscriptionFilterValues(f))),
    getNotification: (provider, notificationId) => now(() => one(INBOX, SQL.inbox, provider, notificationId)),
    countNotifications: (provider) => now(() => Number((stmt(SQL.countInbox).get(provider ?? null, provider ?? null) as Row).n)),
    hasWebhookReceipt: (webhookId, since) => now(() => stmt(SQL.hasReceipt).get(webhookId, ts(since)) !== undefined),
    recordWebhookReceipt: (webhookId, at, forgetBefore) =>
      write(() => {
        stmt(SQL.forgetReceipts).run(ts(forgetBefore), webhookId);
        stmt(SQL.recordReceipt).run(webhookId, ts(at));
      }),
    listEvents: (o = {}) => now(() => many(EVENTS, SQL.events, o.type ?? null, o.type ?? null, o.limit ?? SQL.noLimit)),
    getNotificationSetting: (idOrMount) => now(() => one(SETTINGS, SQL.setting, idOrMount, idOrMount, idOrMount)),
    listNotificationSettings: () => now(() => many(SETTINGS, SQL.settings)),
    getWebhookEndpoint: (id) => now(() => one(ENDPOINTS, SQL.endpoint, id)),
    listWebhookEndpoints: () => now(() => many(ENDPOINTS, SQL.endpoints)),
    listEntitlementGrants: (userId) => now(() => many(GRANTS, SQL.grantsOfUser, userId)),
    getDelivery: (id) => now(() => one(DELIVERIES, SQL.delivery, id)),
    listDeliveries: (f = {}) =>
      now(() =>
        many(
          DELIVERIES,
          SQL.deliveries,
          f.status ?? null,
          f.status ?? null,
          f.endpointId ?? null,
          f.endpointId ?? null,
          f.eventId ?? null,
          f.eventId ?? null,
          f.limit ?? 100,
        ),
      ),
    claimDeliveries: ({ now: at, limit, lockMs, excludeEndpointIds = [] }) => write(() => claim(at, limit, lockMs, excludeEndpointIds)),
    claimSweepDue: ({ now: at, trialEndsBefore, periodEndedBefore, limit, lockMs }) =>
      write(() => {
        const token = randomUUID();
        const until = new Date(Date.parse(at) + lockMs).toISOString();
        const changed = stmt(SQL.claimSweep).run(token, ts(until), ts(at), ts(at), ts(trialEndsBefore), ts(periodEndedBefore), limit).changes;
        return changed === 0 ? [] : many(SUBSCRIPTIONS, SQL.sweepClaimed, token).map((subscription) => ({ subscription, claim: token }));
      }),
    releaseSweepClaim: (id, token, after) => write(() => stmt(SQL.releaseSweep).run(ts(after), id, token).changes === 1),
    finishDelivery: (id, token, o) =>
      write(() => {
        const at = o.last_attempt_at ?? new Date().toISOString();
        const row = stmt(SQL.finish).get(
          o.status,
          o.attempts,
          ts(o.next_attempt_at),
          o.last_status,
          o.last_error,
          ts(o.last_attempt_at),
          ts(o.delivered_at),
          ts(at),
          id,
          token,
        ) as Row | undefined;
        if (!row) return false;
        if (o.last_attempt_at !== null) stmt(SQL.insertAttempt).run(...ATTEMPTS.values({ ...attemptRow(id, o), endpoint_id: String(row.endpoint_id) }));
        if (o.disable_endpoint) stmt(SQL.disableEndpoint).run(ts(at), row.endpoint_id);
        return true;
      }),
    finishDelivered: (items, token, at) =>
      write(() => {
        const update = stmt(SQL.finishDelivered);
        const record = stmt(SQL.insertDeliveredAttempt);
        let count = 0;
        for (const { id, last_status, duration_ms } of items) {
          const n = update.run(last_status, ts(at), ts(at), ts(at), id, token).changes;
          if (n === 1) record.run(randomId('att'), durationOf(duration_ms), id);
          count += n;
        }
        return count;
      }),
    listDeliveryAttempts: (deliveryId) => now(() => many(ATTEMPTS, SQL.attempts, deliveryId)),
    recordNotificationOutcome: (row) => write(() => void stmt(SQL.insertOutcome).run(...OUTCOMES.values(outcomeRow(row)))),
    resetDelivery: (id, at) =>
      write(() => {
        const updated = one(DELIVERIES, SQL.reset, ts(at), ts(at), id, ts(at));
        if (updated) return updated;
        return stmt(SQL.deliveryExists).get(id) !== undefined ? ('claimed' as const) : null;
      }),
    // One step per write unit: each commits on its own, so a batch never holds the writer long.
    prune: (o) => pruneBatch(SQL.prune, o, (sql, values) => write(() => stmt(sql).run(...values).changes), ts),
    async close() {
      closed = true;
      while (draining || inGroup || syncing) await new Promise((r) => setImmediate(r));
      if (wal) await (await wal).close().catch(() => {});
      await checkpointer?.stop();
      if (options.closeDatabaseOnClose && db.open) db.close();
    },
  };
}
