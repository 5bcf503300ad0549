/**
 * The Express example as a separate process for the HTTP benchmarks, so the load generator never
 * shares an event loop with the server. Env: STORE=pg (pgStore) | postgresql (prismaStore) | sqlite (prismaStore) |
 * sqlite-driver (sqliteStore, SQLITE_SYNCHRONOUS=FULL|NORMAL), DATABASE_URL (PostgreSQL URL or SQLite file), VERIFIER=ours|apple, ROOT_CERT (base64 DER). Prints {"port":N} when listening.
 */
import { createHash } from 'node:crypto';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { createSubscriptionWebhooks } from '../../src/core/handler.js';
import pg from 'pg';
import { prismaStore } from '../../src/prisma.js';
import { pgStore } from '../../src/pg.js';
import Database from 'better-sqlite3';
import { sqliteStore } from '../../src/sqlite.js';
import { createApp } from '../../examples/express/app.js';
import { PrismaClient as PgClient } from '../../test/generated/postgresql/client.js';
import { PrismaClient as SqliteClient } from '../../test/generated/sqlite/client.js';
import { appleLibraryVerifier } from './apple-library-verifier.js';
import { APP_APPLE_ID, BUNDLE_ID } from './fixtures.js';

const root = Buffer.from(process.env.ROOT_CERT!, 'base64');
const { STORE, DATABASE_URL, POOL } = process.env;
const pool = STORE === 'pg' ? new pg.Pool({ connectionString: DATABASE_URL!, max: Number(POOL ?? 10) }) : undefined;
const prisma =
  STORE === 'sqlite'
    ? new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: DATABASE_URL! }) })
    : STORE === 'postgresql'
      ? new PgClient({
          adapter: new PrismaPg(
            { connectionString: DATABASE_URL!, max: Number(POOL ?? 10) },
            // PRISMA_PREPARED=1: named prepared statements (PrismaPg's statementNameGenerator), as pgStore sends them.
            process.env.PRISMA_PREPARED === '1'
              ? { statementNameGenerator: (q) => `sw_${createHash('sha1').update(q.sql).digest('hex').slice(0, 20)}` }
              : undefined,
          ),
        })
      : undefined;
const sqliteDb = STORE === 'sqlite-driver' ? new Database(DATABASE_URL!) : undefined;
const backing = sqliteDb
  ? sqliteStore(sqliteDb, {
      synchronous: process.env.SQLITE_SYNCHRONOUS === 'NORMAL' ? 'NORMAL' : 'FULL',
      backgroundCheckpoint: process.env.SQLITE_BACKGROUND_CHECKPOINT !== '0',
    })
  : pool
    ? pgStore(pool)
    : prismaStore(prisma! as never);
// Store calls in flight, so shutdown can wait for them: a request whose client has gone (autocannon ends
// a run by closing its sockets) still finishes its unit of work, and must not find the pool closed.
let busy = 0;
const store = new Proxy(backing, {
  get(target, prop, receiver) {
    const v = Reflect.get(target, prop, receiver) as unknown;
    if (typeof v !== 'function' || prop === 'close') return v;
    return (...args: unknown[]) => {
      busy++;
      return Promise.resolve((v as (...a: unknown[]) => unknown).apply(target, args)).finally(() => busy--);
    };
  },
});
const silent = {
  debug() {},
  info() {},
  warn() {},
  error: (o: unknown, m?: string) =>
    process.stderr.write(
      `${m} ${JSON.stringify(o, (_k, v) => (v instanceof Error ? { message: v.message, code: (v as { code?: unknown }).code, stack: v.stack?.split('\n').slice(0, 4).join(' | ') } : v)).slice(0, 1500)}\n`,
    ),
};
const hooks = createSubscriptionWebhooks(
  { apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environments: ['Production'], rootCertificates: [root] }, store, logger: silent },
  process.env.VERIFIER === 'apple' ? { appleVerifier: appleLibraryVerifier(root, BUNDLE_ID, APP_APPLE_ID) } : undefined,
);
const server = createApp(hooks).listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 })}\n`);
});
// Stop taking requests, let those in flight finish (their database work included: wait until no store
// call has run for 100 ms, at most 20 s), then disconnect.
process.on('SIGTERM', () => {
  let exiting = false;
  const exit = () => {
    if (exiting) return;
    exiting = true;
    void Promise.all([prisma?.$disconnect(), pool?.end(), backing.close?.()]).then(() => {
      sqliteDb?.close();
      process.exit(0);
    });
  };
  server.close();
  server.closeIdleConnections();
  const deadline = Date.now() + 20_000;
  let quietSince = Date.now();
  const poll = setInterval(() => {
    if (busy > 0) quietSince = Date.now();
    if (Date.now() - quietSince >= 100 || Date.now() > deadline) {
      clearInterval(poll);
      exit();
    }
  }, 10);
});
