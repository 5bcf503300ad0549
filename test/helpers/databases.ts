import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import Database from 'better-sqlite3';
import pg from 'pg';
import { inject } from 'vitest';
import { pgStore, type PgStoreOptions } from '../../src/store/postgres.js';
import { prismaStore, type PrismaStoreOptions } from '../../src/store/prisma.js';
import { applySqlMigrations } from '../../src/store/prisma-migrate.js';
import { sqliteStore, type SqliteStoreOptions } from '../../src/store/sqlite.js';
import { memoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/types.js';
import { PrismaClient as PgClient } from '../generated/postgresql/client.js';
import { PrismaClient as SqliteClient } from '../generated/sqlite/client.js';

/** A migrated test database with a store on it. `close()` disconnects and deletes the database. */
export interface TestDatabase<P> {
  store: Store;
  prisma: P;
  /** PostgreSQL: the connection string of this test's own database. SQLite: the file path. */
  url: string;
  close: () => Promise<void>;
}

/** A fresh temp-file SQLite database, migrated with the committed SQL. */
export async function createSqliteStore(options: PrismaStoreOptions = {}): Promise<TestDatabase<SqliteClient>> {
  const dir = mkdtempSync(join(tmpdir(), 'sw-sqlite-'));
  const url = join(dir, 'test.db');
  const prisma = new SqliteClient({ adapter: new PrismaBetterSqlite3({ url }) });
  // Throw-away database: skip fsync (several times faster on slow disks).
  await prisma.$queryRawUnsafe('PRAGMA journal_mode = WAL');
  await prisma.$queryRawUnsafe('PRAGMA synchronous = OFF');
  await applySqlMigrations(prisma, 'sqlite');
  return {
    store: prismaStore(prisma, options),
    prisma,
    url,
    close: async () => {
      await prisma.$disconnect();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A fresh temp-file SQLite database with `sqliteStore` on its own better-sqlite3 handle, migrated by the
 * store (`migrate: true`); `prisma` is a Prisma client on the same file for assertions through the models.
 * `synchronous=FULL` as in production unless `options.synchronous` says otherwise.
 */
export async function createSqliteDriverStore(options: SqliteStoreOptions = {}): Promise<TestDatabase<SqliteClient> & { db: Database.Database }> {
  const dir = mkdtempSync(join(tmpdir(), 'sw-sqlite-driver-'));
  const url = join(dir, 'test.db');
  const db = new Database(url);
  const store = sqliteStore(db, { migrate: true, ...options });
  const prisma = new SqliteClient({ adapter: new PrismaBetterSqlite3({ url }) });
  return {
    store,
    prisma,
    db,
    url,
    close: async () => {
      await store.close?.();
      await prisma.$disconnect();
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The shared test server's URL (vitest globalSetup `provide`, or DATABASE_URL). */
export function postgresServerUrl(): string {
  const url = process.env.DATABASE_URL ?? inject('databaseUrl');
  if (!url) throw new Error('No PostgreSQL: test/setup/postgres.ts (vitest globalSetup) did not provide databaseUrl');
  return url;
}

/**
 * A fresh database on the shared PostgreSQL server (or on `serverUrl`, e.g. a test's own
 * restartable server), migrated with the committed SQL.
 */
export async function createPostgresStore(options: PrismaStoreOptions = {}, serverUrl?: string): Promise<TestDatabase<PgClient>> {
  const server = serverUrl ?? postgresServerUrl();
  const name = `sw_test_${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  const admin = new pg.Client({ connectionString: server });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(server);
  u.pathname = `/${name}`;
  const url = u.toString();
  const prisma = new PgClient({ adapter: new PrismaPg({ connectionString: url, max: 10 }) });
  await applySqlMigrations(prisma, 'postgresql');
  return {
    store: prismaStore(prisma, options),
    prisma,
    url,
    close: async () => {
      await prisma.$disconnect();
      const a = new pg.Client({ connectionString: server });
      await a.connect();
      try {
        await a.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await a.end();
      }
    },
  };
}

/**
 * A fresh PostgreSQL database (migrated like {@link createPostgresStore}) with `pgStore` on its own
 * node-postgres pool as `store`; `prisma` stays connected for assertions through the Prisma models.
 */
export async function createPgDriverStore(options: PgStoreOptions = {}, serverUrl?: string): Promise<TestDatabase<PgClient> & { pool: pg.Pool }> {
  const db = await createPostgresStore({}, serverUrl);
  const pool = new pg.Pool({ connectionString: db.url, max: 10 });
  pool.on('error', () => {}); // idle clients dropped by a stopped server must not crash the test process
  return {
    ...db,
    pool,
    store: pgStore(pool, options),
    close: async () => {
      await pool.end();
      await db.close();
    },
  };
}

/** A fresh store of one kind and how to dispose of it. */
export type StoreFactory = () => Promise<{ store: Store; close: () => Promise<void> }>;

/** Every store the product ships, each fresh per call: for suites whose guarantee must hold on all of them. */
export const EVERY_STORE: ReadonlyArray<readonly [name: string, make: StoreFactory]> = [
  ['memory', async () => ({ store: memoryStore(), close: async () => {} })],
  ['Prisma + SQLite', () => createSqliteStore()],
  ['sqliteStore (better-sqlite3)', () => createSqliteDriverStore()],
  ['Prisma + PostgreSQL', () => createPostgresStore()],
  ['pg driver + PostgreSQL', () => createPgDriverStore()],
];

/**
 * Resolves once `count` sessions on the PostgreSQL database at `url` wait on a lock (a row lock, a unique
 * index entry another open transaction inserted): the event a forced race waits for before releasing the
 * transaction that holds the lock. Throws after `timeoutMs` saying what the sessions were doing.
 */
export async function lockWaiters(url: string, count = 1, timeoutMs = 20_000): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<{ wait_event_type: string | null; state: string | null; query: string }>(
        'SELECT wait_event_type, state, query FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
      );
      if (rows.filter((r) => r.wait_event_type === 'Lock').length >= count) return;
      if (Date.now() > deadline) {
        throw new Error(`no ${count} session(s) waiting on a lock within ${timeoutMs} ms; sessions: ${JSON.stringify(rows)}`);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    await client.end();
  }
}
