/**
 * Runs the example against real Apple notifications:
 *   APPLE_BUNDLE_ID=com.you.app APPLE_APP_APPLE_ID=123 npx tsx examples/express/server.ts
 * Data goes to ./.data/example.sqlite (override with DATABASE_FILE).
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
const port = Number(process.env.PORT ?? 3000);
createApp(hooks).listen(port, '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${port}${hooks.routes.apple} (SQLite: ${file})`));
