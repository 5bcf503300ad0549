/**
 * The Express example as a separate process for the HTTP benchmarks, so the load generator never
 * shares an event loop with the server. Env: STORE=postgresql|sqlite, DATABASE_URL (PostgreSQL URL or
 * SQLite file), VERIFIER=ours|apple, ROOT_CERT (base64 DER). Prints {"port":N} when listening.
 */
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { PrismaPg } from '@prisma/adapter-pg';
import { createSubscriptionWebhooks } from '../../src/handler.js';
import { prismaStore } from '../../src/prisma.js';
import { createApp } from '../../examples/express/app.js';
import { PrismaClient as PgClient } from '../../test/generated/postgresql/client.js';
import { PrismaClient as SqliteClient } from '../../test/generated/sqlite/client.js';
import { appleLibraryVerifier } from './apple-library-verifier.js';
import { APP_APPLE_ID, BUNDLE_ID } from './fixtures.js';

const root = Buffer.from(process.env.ROOT_CERT!, 'base64');
const prisma =
  process.env.STORE === 'sqlite'
    ? new SqliteClient({ adapter: new PrismaBetterSqlite3({ url: process.env.DATABASE_URL! }) })
    : new PgClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL!, max: Number(process.env.POOL ?? 10) }) });
const silent = { debug() {}, info() {}, warn() {}, error: (o: unknown, m?: string) => process.stderr.write(`${m}\n`) };
const hooks = createSubscriptionWebhooks(
  { apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environments: ['Production'], rootCertificates: [root] }, store: prismaStore(prisma as never), logger: silent },
  process.env.VERIFIER === 'apple' ? { appleVerifier: appleLibraryVerifier(root, BUNDLE_ID, APP_APPLE_ID) } : undefined,
);
const server = createApp(hooks).listen(0, '127.0.0.1', () => {
  const a = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof a === 'object' && a ? a.port : 0 })}\n`);
});
process.on('SIGTERM', () => {
  server.close();
  void prisma.$disconnect().then(() => process.exit(0));
});
