import { createHash } from 'node:crypto';
import { sqlStore, type SqlConnection } from './sql-store.js';
import { pgCodec } from './sql-tables.js';
import type { Store } from './types.js';

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
  const run = preparedRunner(options.preparedStatements ?? true);
  const connection = (q: PgQueryable): SqlConnection => ({
    query: async (text, values) => (await run(q, text, values)).rows,
    execute: async (text, values) => (await run(q, text, values)).rowCount ?? 0,
  });

  /** BEGIN … COMMIT on one pooled connection; a connection that failed mid-way is discarded, not reused. */
  async function inTransaction<T>(fn: (c: SqlConnection) => Promise<T>): Promise<T> {
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
      const result = await fn(connection(client));
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

  const store = sqlStore({
    name: 'pg:postgresql',
    dialect: 'postgresql',
    codec: pgCodec,
    db: connection(pool),
    transaction: inTransaction,
    maxRetries: options.maxRetries ?? 3,
    entitlements: true,
  });
  return {
    ...store,
    async close() {
      if (options.endPoolOnClose) await pool.end?.();
    },
  };
}
