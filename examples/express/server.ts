/**
 * Runs the example against real Apple notifications:
 *   APPLE_BUNDLE_ID=com.you.app APPLE_APP_APPLE_ID=123 npx tsx examples/express/server.ts
 * Data goes to ./.data/example.sqlite (override with DATABASE_FILE).
 * The admin dashboard is mounted at /admin/subscriptions/ when ADMIN_PASSWORD is set (HTTP Basic: user `admin`,
 * read-write); ADMIN_READ_PASSWORD adds user `viewer` (read only). Passwords: at least 12 characters.
 */
import { join } from 'node:path';
import { createSubscriptionWebhooks } from '../../src/index.js';
import { prismaStore } from '../../src/prisma.js';
import { createApp } from './app.js';
import { openDatabase } from './db.js';
import { adminPasswordsFromEnv } from './admin-auth.js';

const file = process.env.DATABASE_FILE ?? join(process.cwd(), '.data', 'example.sqlite');
const prisma = await openDatabase(file);
const hooks = createSubscriptionWebhooks({ store: prismaStore(prisma) });
hooks.bus.subscribe((event) => console.log(`event ${event.type} ${event.id}`));
const port = Number(process.env.PORT ?? 3000);
const adminPasswords = adminPasswordsFromEnv();
createApp(hooks, { adminPasswords }).listen(port, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${port}${hooks.routes.apple} (SQLite: ${file})`);
  console.log(
    adminPasswords
      ? `admin dashboard: http://127.0.0.1:${port}/admin/subscriptions/ (user admin${adminPasswords.read ? ', or viewer to read only' : ''})`
      : 'admin dashboard: not mounted (set ADMIN_PASSWORD to mount it)',
  );
});
