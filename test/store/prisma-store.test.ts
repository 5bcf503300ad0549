import { PrismaPg } from '@prisma/adapter-pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SubscriptionWebhooksError } from '../../src/core/errors.js';
import { prismaStore } from '../../src/store/prisma.js';
import { isDatabaseUnavailable } from '../../src/store/sql-common.js';
import { readSqlMigrations, splitSqlStatements } from '../../src/store/prisma-migrate.js';
import type { Store } from '../../src/store/types.js';
import { sampleInbox, sampleOrder, sampleSubscription } from '../../src/testing/store-conformance.js';
import { createPgDriverStore, createPostgresStore, createSqliteStore, lockWaiters, type TestDatabase } from '../helpers/databases.js';
import { gate } from '../helpers/gate.js';
import { refusedPort } from '../helpers/loopback.js';
import { PrismaClient as PgClient } from '../generated/postgresql/client.js';

const rejectAfter = (ms: number, what: string) => new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms).unref());
const unique = () => Math.random().toString(36).slice(2, 10);

describe('prismaStore: database unreachable', () => {
  it('throws STORE_UNAVAILABLE (with the cause) when PostgreSQL refuses connections', async () => {
    const port = await refusedPort(); // nothing listens there
    const prisma = new PgClient({
      adapter: new PrismaPg({ connectionString: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`, connectionTimeoutMillis: 2000 }),
    });
    const store = prismaStore(prisma);
    // The provider is detected by the first query, which cannot run here.
    expect(store.name).toBe('prisma');
    for (const call of [
      () => store.transaction((tx) => tx.insertNotification(sampleInbox(unique()))),
      () => store.getOrderByNo('x'),
      () => store.countNotifications(),
      () => store.listEvents(),
    ]) {
      const error = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(SubscriptionWebhooksError);
      expect((error as SubscriptionWebhooksError).code).toBe('STORE_UNAVAILABLE');
      expect((error as SubscriptionWebhooksError).status).toBe(500);
      expect((error as SubscriptionWebhooksError).cause).toBeDefined();
      expect(isDatabaseUnavailable((error as SubscriptionWebhooksError).cause)).toBe(true);
    }
    await prisma.$disconnect();
  });

  it('detects the database behind the client with one query, without Prisma internals; the provider option skips it', async () => {
    const sqlite = await createSqliteStore();
    const postgres = await createPostgresStore();
    try {
      expect([sqlite.store.name, postgres.store.name]).toEqual(['prisma', 'prisma']);
      await Promise.all([sqlite.store.countNotifications(), postgres.store.countNotifications()]);
      expect([sqlite.store.name, postgres.store.name]).toEqual(['prisma:sqlite', 'prisma:postgresql']);
      expect(prismaStore(sqlite.prisma, { provider: 'sqlite' }).name).toBe('prisma:sqlite');
    } finally {
      await Promise.all([sqlite.close(), postgres.close()]);
    }
  });

  it('does not classify ordinary errors as unavailable', async () => {
    const db = await createSqliteStore();
    try {
      const s = unique();
      await db.store.transaction((tx) => tx.saveOrder(sampleOrder(s)));
      const error = await db.store.transaction((tx) => tx.saveOrder(sampleOrder(`${s}b`, { no: `no_${s}` }))).catch((e: unknown) => e);
      expect(error).not.toBeInstanceOf(SubscriptionWebhooksError);
      expect(isDatabaseUnavailable(error)).toBe(false);
    } finally {
      await db.close();
    }
  });
});

// The same concurrency guarantees from both PostgreSQL stores (pgStore reports unique violations as 23505).
describe.each([
  // Prisma reports a database error on a raw query as P2010 (the 23505 inside meta.driverAdapterError).
  { name: 'prismaStore', make: () => createPostgresStore(), uniqueCode: 'P2010' },
  { name: 'pgStore', make: () => createPgDriverStore(), uniqueCode: '23505' },
])('$name on PostgreSQL: concurrency', ({ make, uniqueCode }) => {
  let db: TestDatabase<PgClient>;
  let store: Store;
  beforeAll(async () => {
    db = await make();
    store = db.store;
  });
  afterAll(() => db?.close());

  /** A unit of work that increments metadata.count on a subscription, creating it at 1. */
  const increment = (s: string, hooks: { afterRead?: () => Promise<void> } = {}, attempts?: { n: number }) =>
    store.transaction(async (tx) => {
      if (attempts) attempts.n++;
      const current = await tx.getSubscription('apple', `contract_${s}`);
      await hooks.afterRead?.();
      const count = Number(current?.metadata.count ?? 0) + 1;
      await tx.saveSubscription(sampleSubscription(s, { metadata: { count } }));
      return count;
    });

  it('getSubscription locks the row: concurrent read-modify-write never loses an update', async () => {
    const s = unique();
    await store.transaction((tx) => tx.saveSubscription(sampleSubscription(s, { metadata: { count: 0 } })));
    const held = gate();
    const a = increment(s, { afterRead: () => held.wait() });
    await held.atGate; // a has read (and locked) the row
    const b = increment(s); // blocks in FOR UPDATE until a commits, then reads a's value
    await lockWaiters(db.url).finally(held.release); // b is waiting on a's row lock
    expect((await Promise.all([a, b])).sort()).toEqual([1, 2]);
    expect((await store.getSubscription('apple', `contract_${s}`))?.metadata.count).toBe(2);
  });

  it('two transactions creating the same subscription: the loser gets a unique violation and is retried, no update lost', async () => {
    const s = unique();
    const attempts = { n: 0 };
    let reads = 0;
    let bothRead!: () => void;
    const barrier = new Promise<void>((r) => (bothRead = r));
    const afterRead = async () => {
      if (++reads === 2) bothRead();
      await Promise.race([barrier, rejectAfter(20_000, 'the two transactions never had both read the missing row')]);
    };
    const results = await Promise.all([increment(s, { afterRead }, attempts), increment(s, { afterRead }, attempts)]);
    expect(results.sort()).toEqual([1, 2]);
    expect(attempts.n).toBe(3); // one retry
    expect((await store.getSubscription('apple', `contract_${s}`))?.metadata.count).toBe(2);
  });

  it('a persistent unique violation on orders is retried a bounded number of times, then thrown', async () => {
    const s = unique();
    await store.transaction((tx) => tx.saveOrder(sampleOrder(s)));
    let runs = 0;
    const error = await store
      .transaction(async (tx) => {
        runs++;
        await tx.saveOrder(sampleOrder(`${s}b`, { no: `no_${s}` }));
      })
      .catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe(uniqueCode);
    expect(runs).toBe(4); // first run + maxRetries (3)
  });

  it('a duplicate notification racing an open transaction answers false once the first commits', async () => {
    const s = unique();
    const held = gate();
    const first = store.transaction(async (tx) => {
      const ok = await tx.insertNotification(sampleInbox(s));
      await held.wait();
      return ok;
    });
    await held.atGate;
    const second = store.transaction(async (tx) => {
      const ok = await tx.insertNotification(sampleInbox(s)); // waits on the unique index, then DO NOTHING
      await tx.saveOrder(sampleOrder(s)); // the transaction is still usable on PostgreSQL
      return ok;
    });
    await lockWaiters(db.url).finally(held.release); // second waits on first's uncommitted index entry
    expect(await Promise.all([first, second])).toEqual([true, false]);
    expect(await store.getOrderByNo(`no_${s}`)).not.toBeNull();
  });
});

describe('applySqlMigrations', () => {
  it('is idempotent and records applied names in sw_migrations', async () => {
    const db = await createSqliteStore();
    try {
      const { applySqlMigrations } = await import('../../src/store/prisma-migrate.js');
      expect(await applySqlMigrations(db.prisma, 'sqlite')).toEqual([]);
      const rows = await db.prisma.$queryRawUnsafe<{ name: string }[]>('SELECT name FROM sw_migrations');
      expect(rows.map((r) => r.name)).toEqual(readSqlMigrations('sqlite').map((m) => m.name));
    } finally {
      await db.close();
    }
  });

  it('splits the committed SQL into single statements', () => {
    for (const kind of ['sqlite', 'postgresql'] as const) {
      for (const m of readSqlMigrations(kind)) {
        const statements = splitSqlStatements(m.sql);
        // One statement per terminating `;` (a multi-line ALTER TABLE stays one statement).
        expect(statements.length).toBe((m.sql.match(/;\s*(?:\r?\n|$)/g) ?? []).length);
        if (m.name === '0001_init') expect(statements.length).toBeGreaterThan(7);
        for (const st of statements) expect(st).not.toMatch(/;\s*$/);
      }
    }
  });
});

describe('prismaStore on PostgreSQL: isolation', () => {
  it('runs its transactions at Read Committed, asking for it only when the database default is another level', async () => {
    const db = await createPostgresStore();
    const clients: PgClient[] = [];
    try {
      const levels = async (prisma: PgClient) => {
        const seen: unknown[] = [];
        const spy = new Proxy(prisma, {
          get(target, prop) {
            if (prop === '$transaction') {
              return (fn: (tx: unknown) => Promise<unknown>, options?: { isolationLevel?: string }) =>
                target.$transaction(async (tx) => {
                  seen.push(((await tx.$queryRawUnsafe('SHOW transaction_isolation')) as { transaction_isolation: string }[])[0]!.transaction_isolation);
                  return fn(tx);
                }, options as never);
            }
            const v = Reflect.get(target, prop, target) as unknown;
            return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
          },
        });
        const store = prismaStore(spy as never, { provider: 'postgresql' });
        await store.transaction((tx) => tx.insertNotification(sampleInbox(unique())));
        return seen;
      };
      expect(await levels(db.prisma)).toEqual(['read committed']);
      await db.prisma.$executeRawUnsafe(`ALTER DATABASE "${new URL(db.url).pathname.slice(1)}" SET default_transaction_isolation = 'serializable'`);
      const fresh = new PgClient({ adapter: new PrismaPg({ connectionString: db.url, max: 2 }) });
      clients.push(fresh);
      expect(
        ((await fresh.$queryRawUnsafe('SHOW default_transaction_isolation')) as { default_transaction_isolation: string }[])[0]!.default_transaction_isolation,
      ).toBe('serializable');
      expect(await levels(fresh)).toEqual(['read committed']);
    } finally {
      await Promise.all(clients.map((c) => c.$disconnect()));
      await db.close();
    }
  });
});
