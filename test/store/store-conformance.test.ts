import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryStore } from '../../src/store/memory.js';
import type { Store } from '../../src/store/types.js';
import { storeConformanceSuite } from '../../src/testing/store-conformance.js';
import { createPgDriverStore, createPostgresStore, createSqliteDriverStore, createSqliteStore, EVERY_STORE } from '../helpers/databases.js';

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

describe('the shipped stores keep the admin history', () => {
  // The conformance cases above skip a store without these (a custom store may lack them); the shipped ones must have them.
  it.each(EVERY_STORE)('%s: listDeliveryAttempts and recordNotificationOutcome', async (_name, make) => {
    const { store, close } = await make();
    try {
      expect(typeof store.listDeliveryAttempts).toBe('function');
      expect(typeof store.recordNotificationOutcome).toBe('function');
    } finally {
      await close();
    }
  });
});
