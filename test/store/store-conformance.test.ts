import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/types.js';
import { storeConformanceSuite } from '../../src/testing/store-conformance.js';
import { createPgDriverStore, createPostgresStore, createSqliteDriverStore, createSqliteStore } from '../helpers/databases.js';

const t = { describe, it, expect, beforeAll, afterAll };

/** Wraps a test database so the suite's `store.close()` also drops the database. */
const withCleanup = async (db: Promise<{ store: Store; close: () => Promise<void> }>): Promise<Store> => {
  const { store, close } = await db;
  return { ...store, name: store.name, close: close };
};

storeConformanceSuite('memory', () => memoryStore(), t);
storeConformanceSuite('prisma + sqlite', () => withCleanup(createSqliteStore()), t);
storeConformanceSuite('sqlite (better-sqlite3) + sqlite', () => withCleanup(createSqliteDriverStore()), t);
storeConformanceSuite('prisma + postgresql', () => withCleanup(createPostgresStore()), t);
storeConformanceSuite('pg + postgresql', () => withCleanup(createPgDriverStore()), t);
