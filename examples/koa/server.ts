/**
 * Runs the Koa example: `npm start` in this folder (see README.md).
 * Configured from the environment (APPLE_BUNDLE_ID, APPLE_APP_APPLE_ID, ...); data goes to
 * ./.data/example.sqlite (override with DATABASE_FILE); HOST and PORT pick the address.
 */
import { join } from 'node:path';
import { createSubscriptionWebhooks } from '../../src/index.js';
import { prismaStore } from '../../src/prisma.js';
import { createApp } from './app.js';
import { openDatabase } from './db.js';

const file = process.env.DATABASE_FILE ?? join(process.cwd(), '.data', 'example.sqlite');
const prisma = await openDatabase(file);
const hooks = createSubscriptionWebhooks({ store: prismaStore(prisma) });
hooks.bus.subscribe((event) => console.log(`event ${event.type} ${event.id}`));
const host = process.env.HOST ?? '127.0.0.1';
const server = createApp(hooks).listen(Number(process.env.PORT ?? 3000), host, () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(`listening on http://${host}:${port}${hooks.routes.apple} (SQLite: ${file})`);
});
process.on('SIGTERM', () => server.close(() => void prisma.$disconnect().then(() => process.exit(0))));
