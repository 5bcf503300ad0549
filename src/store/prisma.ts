import { SubscriptionWebhooksError } from '../core/errors.js';
import { deferredAdminSource } from './admin-source.js';
import { guardUnavailable } from './sql-common.js';
import { sqlStore, type SqlConnection } from './sql-store.js';
import { pgCodec, prismaSqliteCodec } from './sql-tables.js';
import type { Store } from './types.js';

/**
 * What `prismaStore` needs inside a transaction: Prisma's documented raw-query methods. Any client
 * generated from a schema that includes our fragment fits, whatever else the schema holds.
 */
export interface PrismaStoreTxClient {
  $queryRawUnsafe(query: string, ...values: unknown[]): PromiseLike<unknown>;
  $executeRawUnsafe(query: string, ...values: unknown[]): PromiseLike<number>;
}
/** {@link PrismaStoreTxClient} plus interactive transactions: a `PrismaClient` instance. */
export interface PrismaStoreClient extends PrismaStoreTxClient {
  /** The `SwEntitlementGrant` model (fragment since migration 0002): without it the store keeps no entitlements. */
  swEntitlementGrant?: unknown;
  /** The `SwWebhookReceipt` model (migration 0003): callback replay protection on this store. */
  swWebhookReceipt?: unknown;
  $transaction<R>(fn: (tx: PrismaStoreTxClient) => Promise<R>, options?: { isolationLevel?: string; maxWait?: number; timeout?: number }): PromiseLike<R>;
  $disconnect(): PromiseLike<void>;
}

/** Options for {@link prismaStore}. */
export interface PrismaStoreOptions {
  /**
   * The database behind the client. When omitted it is detected with one query on first use (so
   * `store.name` reads `prisma` until then); pass it to skip that query.
   */
  provider?: 'sqlite' | 'postgresql';
  /** Times `fn` is run again after a serialization failure, deadlock or order/subscription insert race. Default 3. */
  maxRetries?: number;
  /** Interactive transaction timeout in ms (default 15000) and wait for a connection (default 10000). */
  timeout?: number;
  maxWait?: number;
  /** Disconnect the client in `store.close()`. Default false (the app owns its client). */
  disconnectOnClose?: boolean;
}

type Provider = 'sqlite' | 'postgresql';
/** `CAST(TRUE AS TEXT)` is valid on both databases: PostgreSQL answers `true`, SQLite `1`. */
async function detectProvider(prisma: PrismaStoreTxClient): Promise<Provider> {
  const rows = (await prisma.$queryRawUnsafe('SELECT CAST(TRUE AS TEXT) AS "v"')) as { v: unknown }[];
  return rows[0]?.v === 'true' ? 'postgresql' : 'sqlite';
}
const connection = (c: PrismaStoreTxClient): SqlConnection => ({
  query: (text, values) => c.$queryRawUnsafe(text, ...values) as PromiseLike<Record<string, unknown>[]>,
  execute: (text, values) => c.$executeRawUnsafe(text, ...values),
});

/**
 * A {@link Store} on your Prisma client. Add `prisma-schema/subscription-webhooks.prisma` to your
 * schema, migrate, generate, then pass the client. Works with SQLite and PostgreSQL.
 *
 * - One interactive transaction per `transaction(fn)`, on your client (so it shares your pool), running
 *   the library's SQL through `$queryRawUnsafe` / `$executeRawUnsafe`: the same statements as `pgStore`
 *   and `sqliteStore`, one round trip where the model API would take several.
 * - Concurrency (PostgreSQL): isolation `ReadCommitted`, and `tx.getSubscription` (and the order
 *   getters) read the row with `SELECT ... FOR UPDATE`, one statement, so the row read is the row
 *   locked: two notifications for one subscription apply one after the other and neither update is
 *   lost. A subscription or order saved after reading `null` is INSERTed (not upserted): if another
 *   instance inserted it meanwhile, the unique violation makes the whole `fn` run again, this time
 *   seeing and locking the row. Serialization failures and deadlocks are retried the same way, up to
 *   `maxRetries` times. SQLite runs transactions one at a time, so none of this arises there.
 * - Duplicate inbox rows: `INSERT ... ON CONFLICT DO NOTHING` (SQLite and PostgreSQL syntax alike).
 *   A plain `create` that hits the unique index would abort the whole PostgreSQL transaction.
 *
 * @param prisma - a client generated from a schema containing our models (see {@link PrismaStoreClient})
 * @throws SubscriptionWebhooksError `STORE_UNAVAILABLE` (from every method) when the database cannot be reached
 * @example
 * ```ts
 * import { PrismaClient } from './generated/prisma/client.js';
 * import { PrismaPg } from '@prisma/adapter-pg';
 * import { prismaStore } from 'subscription-webhooks/prisma';
 * const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL }) });
 * const hooks = createSubscriptionWebhooks({ store: prismaStore(prisma) });
 * ```
 */
export function prismaStore(prisma: PrismaStoreClient, options: PrismaStoreOptions = {}): Store {
  const entitlements = prisma.swEntitlementGrant !== undefined;
  const txOptions = { maxWait: options.maxWait ?? 10_000, timeout: options.timeout ?? 15_000 };
  // PostgreSQL: Read Committed. Asking for it costs a round trip per transaction (SET TRANSACTION after
  // BEGIN), so it is asked for only when the database's default is another level (checked once).
  let isolation: Promise<typeof txOptions & { isolationLevel?: 'ReadCommitted' }> | undefined;
  const postgresTxOptions = () =>
    (isolation ??= Promise.resolve(prisma.$queryRawUnsafe('SHOW default_transaction_isolation')).then(
      (rows) =>
        (rows as { default_transaction_isolation?: unknown }[])[0]?.default_transaction_isolation === 'read committed'
          ? txOptions
          : { ...txOptions, isolationLevel: 'ReadCommitted' as const },
      (error: unknown) => {
        isolation = undefined;
        throw error;
      },
    ));
  const build = (provider: Provider): Store =>
    sqlStore({
      name: `prisma:${provider}`,
      dialect: provider,
      codec: provider === 'postgresql' ? pgCodec : prismaSqliteCodec,
      db: connection(prisma),
      transaction: async (fn) =>
        prisma.$transaction((tx) => fn(connection(tx)), provider === 'postgresql' ? await postgresTxOptions() : txOptions) as Promise<never>,
      maxRetries: options.maxRetries ?? 3,
      // Entitlements need the SwEntitlementGrant model: a client generated from an older fragment keeps none.
      entitlements,
      receipts: () => {
        if (!prisma.swWebhookReceipt)
          throw new SubscriptionWebhooksError(
            'CONFIG_INVALID',
            'prismaStore: the client has no SwWebhookReceipt model: regenerate it from the current schema fragment (migration 0003_outbound_secrets)',
          );
      },
    });
  const close = async () => {
    if (options.disconnectOnClose) await prisma.$disconnect();
  };
  if (options.provider) return { ...build(options.provider), close };

  // Provider not given: one query on first use tells (a failed one is tried again on the next call).
  let inner: Store | undefined;
  let pending: Promise<Store> | undefined;
  const ready = (): Promise<Store> =>
    (pending ??= guardUnavailable('prisma', () => detectProvider(prisma)).then(
      (provider) => (inner = build(provider)),
      (error: unknown) => {
        pending = undefined;
        throw error;
      },
    ));
  const store = {
    get name() {
      return inner?.name ?? 'prisma';
    },
    close,
  } as Store;
  Object.assign(store, deferredAdminSource(ready));
  const target = store as unknown as Record<string, unknown>;
  // The same methods as the store it will be (any dialect has the same set); each waits for it.
  for (const m of Object.keys(build('sqlite')).filter((k) => k !== 'name')) {
    target[m] = (...args: unknown[]) => {
      const call = (s: Store) => (s as unknown as Record<string, (...a: unknown[]) => unknown>)[m]!.apply(s, args);
      return inner ? call(inner) : ready().then(call);
    };
  }
  return store;
}
