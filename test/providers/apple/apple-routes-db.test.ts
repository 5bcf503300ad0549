import { afterEach } from 'vitest';
import { appleRouteSuite } from './apple-routes.suite.js';
import { createPgDriverStore, createPostgresStore, createSqliteDriverStore, createSqliteStore } from '../../helpers/databases.js';

// The same EVENTS.md matrix as on the memory store, through real Express, on real databases.
const open: { close: () => Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((db) => db.close()));
});

appleRouteSuite('Prisma + SQLite', async () => {
  const db = await createSqliteStore();
  open.push(db);
  return db.store;
});

appleRouteSuite('sqliteStore (better-sqlite3)', async () => {
  const db = await createSqliteDriverStore();
  open.push(db);
  return db.store;
});

appleRouteSuite('Prisma + PostgreSQL', async () => {
  const db = await createPostgresStore();
  open.push(db);
  return db.store;
});

appleRouteSuite('pg driver + PostgreSQL', async () => {
  const db = await createPgDriverStore();
  open.push(db);
  return db.store;
});
