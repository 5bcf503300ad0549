import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { SubscriptionWebhooksError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { memoryStore } from './memory.js';
import { sqliteStore, type SqliteDatabase } from './sqlite.js';
import type { Store } from './types.js';

/** Where the zero-config store keeps its file when `SUBSCRIPTION_WEBHOOKS_DATABASE_URL` is unset. */
export const DEFAULT_DATABASE_FILE = './subscription-webhooks.db';

// One store per file per process: two connections of one process on one file would make a group that
// waits on I/O block the other's BEGIN IMMEDIATE (better-sqlite3 is synchronous).
const opened = new Map<string, Store>();

/** `better-sqlite3`'s constructor when the package can be loaded here, else null. */
function loadBetterSqlite3(): (new (file: string) => SqliteDatabase) | null {
  try {
    const require = createRequire(typeof __filename === 'string' ? __filename : import.meta.url);
    const mod = require('better-sqlite3') as { default?: unknown };
    return ((mod.default ?? mod) as new (file: string) => SqliteDatabase) ?? null;
  } catch {
    return null;
  }
}

/** The SQLite file named by `SUBSCRIPTION_WEBHOOKS_DATABASE_URL` (a path, `file:<path>`, or `:memory:`). */
function sqliteFile(url: string): string {
  if (/^postgres(ql)?:\/\//i.test(url)) {
    throw new SubscriptionWebhooksError(
      'CONFIG_INVALID',
      'SUBSCRIPTION_WEBHOOKS_DATABASE_URL names a PostgreSQL database: the zero-config store is SQLite only. Pass `store: pgStore(pool)` (subscription-webhooks/pg) instead.',
    );
  }
  const path = url.replace(/^(sqlite|file):(\/\/)?/i, '');
  return path === ':memory:' ? path : resolve(path);
}

/**
 * The store `createSubscriptionWebhooks` uses when given none:
 * - `SUBSCRIPTION_WEBHOOKS_DATABASE_URL` set: `sqliteStore` on that file (`:memory:` allowed).
 * - else under `NODE_ENV=test`: the memory store (test suites stay hermetic, no file appears).
 * - else `sqliteStore` on `./subscription-webhooks.db` when `better-sqlite3` can be loaded.
 * - else the memory store, with a warning in production.
 * SQLite files are created with their tables on first start (the shipped migrations).
 */
export function defaultStore(logger: Logger, env: Readonly<Record<string, string | undefined>> = process.env, load = loadBetterSqlite3): Store {
  const url = env.SUBSCRIPTION_WEBHOOKS_DATABASE_URL?.trim() || undefined;
  const Database = url !== undefined || env.NODE_ENV !== 'test' ? load() : null;
  if (Database) {
    const file = sqliteFile(url ?? DEFAULT_DATABASE_FILE);
    const existing = file === ':memory:' ? undefined : opened.get(file);
    if (existing) return existing;
    if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
    let inner: Store;
    try {
      // The handle is ours: closing the store closes it.
      inner = sqliteStore(new Database(file), { migrate: true, closeDatabaseOnClose: true });
    } catch (error) {
      throw new SubscriptionWebhooksError('STORE_UNAVAILABLE', `Cannot open the SQLite database at ${file}: ${(error as Error).message}`, { cause: error });
    }
    // Closed, it is forgotten: a later call opens the file again.
    const store: Store = {
      ...inner,
      name: inner.name,
      close: async () => {
        if (opened.get(file) === store) opened.delete(file);
        await inner.close?.();
      },
    };
    if (file !== ':memory:') opened.set(file, store);
    logger.info({ code: 'sqlite-store', file }, `subscription-webhooks is persisting to SQLite at ${file} (pass \`store\` to use your own database).`);
    return store;
  }
  if (url !== undefined) {
    throw new SubscriptionWebhooksError(
      'CONFIG_INVALID',
      'SUBSCRIPTION_WEBHOOKS_DATABASE_URL is set but better-sqlite3 is not installed: `npm install better-sqlite3@12`.',
    );
  }
  const store = memoryStore();
  if (env.NODE_ENV === 'production') {
    logger.warn(
      { code: 'memory-store-in-production' },
      'subscription-webhooks is using the in-memory store: orders, subscriptions and events are lost on restart. Install better-sqlite3 for the embedded SQLite store, or pass `store: pgStore(pool)` / `prismaStore(prisma)`.',
    );
  }
  return store;
}
