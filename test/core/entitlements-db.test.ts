import { afterEach } from 'vitest';
import { entitlementsSuite } from './entitlements.suite.js';
import { createPgDriverStore, createPostgresStore, createSqliteStore } from '../helpers/databases.js';

// The same entitlement checks through real HTTP on real databases (one indexed read per list/has).
const open: { close: () => Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.close()));
});

for (const [name, create] of [
  ['Prisma + SQLite', createSqliteStore],
  ['Prisma + PostgreSQL', createPostgresStore],
  ['pg driver + PostgreSQL', createPgDriverStore],
] as const) {
  entitlementsSuite(name, async () => {
    const db = await create();
    open.push(db);
    return db.store;
  });
}
