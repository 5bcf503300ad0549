import { afterEach } from 'vitest';
import { xsollaRouteSuite } from './xsolla-routes.suite.js';
import { createPgDriverStore, createPostgresStore, createSqliteDriverStore, createSqliteStore } from '../../helpers/databases.js';

// The same EVENTS.md § Xsolla matrix as on the memory store, through real Express, on real databases.
const open: { close: () => Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.close()));
});

xsollaRouteSuite('Prisma + SQLite', async () => {
  const db = await createSqliteStore();
  open.push(db);
  return db.store;
});

xsollaRouteSuite('sqliteStore (better-sqlite3)', async () => {
  const db = await createSqliteDriverStore();
  open.push(db);
  return db.store;
});

xsollaRouteSuite('Prisma + PostgreSQL', async () => {
  const db = await createPostgresStore();
  open.push(db);
  return db.store;
});

xsollaRouteSuite('pg driver + PostgreSQL', async () => {
  const db = await createPgDriverStore();
  open.push(db);
  return db.store;
});
