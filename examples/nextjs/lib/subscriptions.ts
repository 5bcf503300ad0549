import { join } from 'node:path';
import { PrismaBetterSqlite3 } from '@prisma/adapter-better-sqlite3';
import { createSubscriptionWebhooks, type SubscriptionWebhooks } from 'subscription-webhooks';
import { prismaStore } from 'subscription-webhooks/prisma';
import { PrismaClient } from '../generated/client.js';

/** Where the SQLite file lives: DATABASE_FILE, else ./.data/example.sqlite. */
export const databaseFile = () => process.env.DATABASE_FILE ?? join(process.cwd(), '.data', 'example.sqlite');

// One client and one hooks object per server process, created on first use: `next build` evaluates
// route modules without the run-time env. Kept on globalThis because `next dev` re-evaluates modules on
// every edit, which would otherwise open a new database connection and a new event bus each time.
const cache = globalThis as typeof globalThis & { subscriptionHooks?: { prisma: PrismaClient; hooks: SubscriptionWebhooks } };

function instance() {
  if (cache.subscriptionHooks) return cache.subscriptionHooks;
  const prisma = new PrismaClient({ adapter: new PrismaBetterSqlite3({ url: databaseFile() }) });
  // Configured from the environment: APPLE_BUNDLE_ID, APPLE_APP_APPLE_ID, APPLE_ENVIRONMENTS, ...
  const hooks = createSubscriptionWebhooks({ store: prismaStore(prisma) });
  hooks.bus.subscribe((event) => console.log(`event ${event.type} ${event.id}`));
  return (cache.subscriptionHooks = { prisma, hooks });
}

/** The app's one `hooks` object. */
export const getHooks = (): SubscriptionWebhooks => instance().hooks;
/** The app's one Prisma client. */
export const getPrisma = (): PrismaClient => instance().prisma;
