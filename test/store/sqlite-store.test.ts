/**
 * sqliteStore's own guarantees, beyond the conformance suite: group commit (many units of work, one
 * transaction, each answered only after the COMMIT that holds it, a failing one rolled back alone),
 * committed-only reads, a failed COMMIT failing the whole group as STORE_UNAVAILABLE, lost insert
 * races re-run, durability settings, and migrations shared with applySqlMigrations.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { applySqliteMigrations, sqliteStore as openSqliteStore, type SqliteDatabase } from '../../src/store/sqlite.js';
import { sampleInbox, sampleOrder, sampleSubscription } from '../../src/testing/store-conformance.js';
import { isSubscriptionWebhooksError } from '../../src/core/errors.js';
import { isRetryable } from '../../src/store/sql-common.js';

const dirs: string[] = [];
const handles: Database.Database[] = [];
const stores: Array<{ close?(): Promise<void> }> = [];
// Each store is closed first: its checkpoint worker holds a connection of its own and may still be
// writing the -wal/-shm files while the folder is removed (seen as ENOTEMPTY under load).
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close?.().catch(() => {});
  for (const h of handles.splice(0)) if (h.open) h.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const sqliteStore: typeof openSqliteStore = (...args) => {
  const store = openSqliteStore(...args);
  stores.push(store);
  return store;
};
function file(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sw-sqlite-unit-'));
  dirs.push(dir);
  return join(dir, 'db.sqlite');
}
function open(path = file()): Database.Database {
  const db = new Database(path);
  handles.push(db);
  return db;
}

/** The database with every transaction-control statement recorded, and a COMMIT that can be made to fail once. */
function spied(db: Database.Database, onCommit: () => void = () => {}) {
  const log: string[] = [];
  let failNextCommit = false;
  const control = /^(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)/;
  const proxy = new Proxy(db, {
    get(target, prop) {
      if (prop === 'prepare') {
        return (sql: string) => {
          const statement = target.prepare(sql);
          if (!control.test(sql)) return statement;
          return {
            run: () => {
              log.push(sql);
              if (sql === 'COMMIT') {
                onCommit();
                if (failNextCommit) {
                  failNextCommit = false;
                  throw Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' });
                }
              }
              return statement.run();
            },
          };
        };
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as unknown as SqliteDatabase;
  return { db: proxy, log, failCommit: () => (failNextCommit = true) };
}

/** Writes on `db`'s connection directly (inside whatever transaction is open on it): a stand-in for another writer. */
async function sqliteStoreTx(db: Database.Database) {
  return {
    saveSubscription: async (sub: ReturnType<typeof sampleSubscription>) => {
      const cols = ['id', 'provider', 'contract_id', 'product_id', 'status', 'auto_renew', 'environment', 'metadata', 'created_at', 'updated_at'];
      db.prepare(`INSERT INTO "sw_subscriptions" (${cols.map((c) => `"${c}"`).join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`).run(
        sub.id,
        sub.provider,
        sub.contract_id,
        sub.product_id,
        sub.status,
        1,
        sub.environment,
        '{}',
        `${sub.created.replace('Z', '+00:00')}`,
        `${sub.updated.replace('Z', '+00:00')}`,
      );
    },
  };
}

describe('sqliteStore', () => {
  it('sets WAL, a busy timeout, and synchronous=NORMAL on the connection (FULL durability is the store own WAL fsync)', () => {
    const a = open();
    sqliteStore(a, { migrate: true });
    expect(a.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(a.pragma('synchronous', { simple: true })).toBe(1); // NORMAL: checkpoints synced by SQLite
    expect(a.pragma('busy_timeout', { simple: true })).toBe(5000);
    const b = open();
    sqliteStore(b, { synchronous: 'NORMAL', busyTimeoutMs: 1234 });
    expect(b.pragma('busy_timeout', { simple: true })).toBe(1234);
  });

  it('synchronous FULL (default): a committed unit is answered only after the WAL fsync that covers it; units committed meanwhile share the next fsync', async () => {
    const syncs: { release: () => void; fail: (e: Error) => void }[] = [];
    let called!: () => void;
    let syncCalled = new Promise<void>((r) => (called = r));
    const syncWal = () =>
      new Promise<void>((resolve, reject) => {
        syncs.push({ release: resolve, fail: reject });
        called();
      });
    const store = sqliteStore(open(), { migrate: true, syncWal } as never);
    let answered = false;
    const first = store.transaction((tx) => tx.insertOrder(sampleOrder('d1'))).then(() => (answered = true));
    await syncCalled;
    // Committed (a separate reader sees it) but not answered: the fsync is still in flight.
    expect((await store.getOrderByNo('no_d1'))?.id).toBe('ord_d1');
    expect(answered).toBe(false);
    syncCalled = new Promise<void>((r) => (called = r));
    // Two more units commit while the first fsync runs; they wait for the next one, together.
    const later = Promise.all([0, 1].map((i) => store.transaction((tx) => tx.insertOrder(sampleOrder(`d2${i}`)))));
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    expect(syncs).toHaveLength(1);
    syncs[0]!.release();
    await first;
    expect(answered).toBe(true);
    await syncCalled;
    expect(syncs).toHaveLength(2);
    // A failed fsync: committed but not acknowledged, STORE_UNAVAILABLE (the provider's retry is then a duplicate).
    syncs[1]!.fail(new Error('EIO'));
    const outcomes = await later.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    expect(outcomes).toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('synchronous NORMAL: answered right after COMMIT, no fsync of its own', async () => {
    let syncs = 0;
    const store = sqliteStore(open(), { migrate: true, synchronous: 'NORMAL', syncWal: async () => void syncs++ } as never);
    await store.transaction((tx) => tx.insertOrder(sampleOrder('n1')));
    expect(syncs).toBe(0);
  });

  it('group commit: concurrent units of work share one transaction; each is answered only after its COMMIT; a throwing one is rolled back alone', async () => {
    let answered = 0;
    let answeredBeforeCommit = -1;
    const spy = spied(open(), () => {
      if (answeredBeforeCommit === -1) answeredBeforeCommit = answered;
    });
    const store = sqliteStore(spy.db, { migrate: true });
    spy.log.length = 0;
    answeredBeforeCommit = -1;
    const units = Array.from({ length: 20 }, (_, i) =>
      store
        .transaction(async (tx) => {
          await tx.insertNotification(sampleInbox(`g${i}`));
          await tx.insertOrder(sampleOrder(`g${i}`));
          if (i === 7) throw new Error('unit 7 fails');
          return i;
        })
        .then((v) => {
          answered++;
          return v;
        }),
    );
    const results = await Promise.allSettled(units);
    expect(results.filter((r) => r.status === 'fulfilled').map((r) => (r as PromiseFulfilledResult<number>).value)).toEqual(
      [...Array(20).keys()].filter((i) => i !== 7),
    );
    expect((results[7] as PromiseRejectedResult).reason).toMatchObject({ message: 'unit 7 fails' });
    // One BEGIN IMMEDIATE and one COMMIT for all twenty; none answered before it.
    expect(spy.log.filter((s) => s === 'BEGIN IMMEDIATE')).toHaveLength(1);
    expect(spy.log.filter((s) => s === 'COMMIT')).toHaveLength(1);
    expect(answeredBeforeCommit).toBe(0);
    // The neighbours of the failing unit are committed; its own writes are not.
    for (let i = 0; i < 20; i++) {
      expect((await store.getOrderByNo(`no_g${i}`))?.id ?? null).toBe(i === 7 ? null : `ord_g${i}`);
      expect((await store.getNotification('apple', `ntf_g${i}`)) === null).toBe(i === 7);
    }
  });

  it('a unit whose statement fails (unique violation) does not fail its neighbours in the same group', async () => {
    const store = sqliteStore(open(), { migrate: true });
    await store.transaction((tx) => tx.insertOrder(sampleOrder('dup')));
    const [a, clash, c] = await Promise.allSettled([
      store.transaction((tx) => tx.insertOrder(sampleOrder('n1'))),
      store.transaction((tx) => tx.saveOrder(sampleOrder('dup2', { no: 'no_dup' }))),
      store.transaction((tx) => tx.insertOrder(sampleOrder('n2'))),
    ]);
    expect(a.status).toBe('fulfilled');
    expect(clash.status).toBe('rejected');
    expect(c.status).toBe('fulfilled');
    expect((await store.getOrderByNo('no_n1'))?.id).toBe('ord_n1');
    expect((await store.getOrderByNo('no_n2'))?.id).toBe('ord_n2');
    expect((await store.getOrderByNo('no_dup'))?.id).toBe('ord_dup');
  });

  it('a failed COMMIT fails every unit of its group with STORE_UNAVAILABLE and writes nothing; the store works afterwards', async () => {
    const spy = spied(open());
    const store = sqliteStore(spy.db, { migrate: true });
    spy.failCommit();
    const results = await Promise.allSettled([0, 1, 2].map((i) => store.transaction((tx) => tx.insertOrder(sampleOrder(`c${i}`)))));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect(isSubscriptionWebhooksError((r as PromiseRejectedResult).reason, 'STORE_UNAVAILABLE')).toBe(true);
    }
    for (const i of [0, 1, 2]) expect(await store.getOrderByNo(`no_c${i}`)).toBeNull();
    await store.transaction((tx) => tx.insertOrder(sampleOrder('after')));
    expect((await store.getOrderByNo('no_after'))?.id).toBe('ord_after');
  });

  it('reads outside a transaction never see a group that is still open (they wait for its outcome)', async () => {
    const store = sqliteStore(open(), { migrate: true });
    let written!: () => void;
    const isWritten = new Promise<void>((r) => (written = r));
    let proceed!: () => void;
    const mayProceed = new Promise<void>((r) => (proceed = r));
    const failing = store.transaction(async (tx) => {
      await tx.insertOrder(sampleOrder('open'));
      written();
      await mayProceed;
      throw new Error('rolled back');
    });
    await isWritten;
    const read = store.getOrderByNo('no_open'); // another caller, while the row is written but not committed
    proceed();
    await expect(failing).rejects.toThrow('rolled back');
    expect(await read).toBeNull();
  });

  it('an order insert that hits an existing order (a lost race) re-runs the unit of work, which then reads it', async () => {
    const store = sqliteStore(open(), { migrate: true });
    await store.transaction((tx) => tx.insertOrder(sampleOrder('race')));
    let runs = 0;
    const outcome = await store.transaction(async (tx) => {
      runs++;
      // First run: decides as if it had read nothing (what a process that lost the race did).
      if (runs === 1) {
        await tx.insertOrder(sampleOrder('race'));
        return 'inserted';
      }
      return (await tx.getOrderByNo('no_race'))?.id;
    });
    expect(outcome).toBe('ord_race');
    expect(runs).toBe(2);
  });

  it('a subscription saved after reading none is a plain INSERT: a row that appeared meanwhile is a retryable unique violation, never overwritten', async () => {
    const db = open();
    const store = sqliteStore(db, { migrate: true, maxRetries: 0 });
    const error = await store
      .transaction(async (tx) => {
        expect(await tx.getSubscription('apple', 'contract_s1')).toBeNull();
        // What another process committing the contract between our read and our write looks like.
        await (await sqliteStoreTx(db)).saveSubscription(sampleSubscription('s1'));
        await tx.saveSubscription(sampleSubscription('s1', { status: 'canceled' }));
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
    expect(isRetryable(error)).toBe(true);
    // Read first (no null read): the same save is an upsert.
    await store.transaction((tx) => tx.saveSubscription(sampleSubscription('s2')));
    await store.transaction(async (tx) => {
      expect((await tx.getSubscription('apple', 'contract_s2'))?.status).toBe('active');
      await tx.saveSubscription(sampleSubscription('s2', { status: 'canceled' }));
    });
    expect((await store.getSubscription('apple', 'contract_s2'))?.status).toBe('canceled');
  });

  it('checkpoints run on a worker thread: the store connection never checkpoints inside a commit, and the WAL still reaches the database file', async () => {
    const path = file();
    const db = open(path);
    const store = sqliteStore(db, { migrate: true, checkpointIntervalMs: 20 });
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    const before = statSync(path).size;
    await Promise.all(
      Array.from({ length: 50 }, (_, i) => store.transaction((tx) => tx.insertOrder(sampleOrder(`ck${i}`, { metadata: { pad: 'x'.repeat(4000) } })))),
    );
    // In WAL mode the database file only grows when a checkpoint copies pages into it.
    let grown = false;
    for (let i = 0; i < 500 && !grown; i++) {
      await new Promise((r) => setTimeout(r, 20));
      grown = statSync(path).size > before;
    }
    expect(grown).toBe(true);
    await store.close?.();
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1000); // handed back on close
  });

  it('store calls made from inside a unit of work (a read, a nested transaction) join it instead of waiting for it', { timeout: 10_000 }, async () => {
    const store = sqliteStore(open(), { migrate: true });
    const seen = await store.transaction(async (tx) => {
      await tx.insertOrder(sampleOrder('inner'));
      const read = await store.getOrderByNo('no_inner'); // its own connection and open transaction
      const nested = await store.transaction((t) => t.getOrderByNo('no_inner'));
      return [read?.id, nested?.id];
    });
    expect(seen).toEqual(['ord_inner', 'ord_inner']);
    expect((await store.getOrderByNo('no_inner'))?.id).toBe('ord_inner');
  });

  it('migrations: applySqliteMigrations is idempotent and shares sw_migrations with applySqlMigrations', () => {
    const db = open();
    expect(applySqliteMigrations(db)).toContain('0001_init');
    expect(applySqliteMigrations(db)).toEqual([]);
    const names = (db.prepare('SELECT "name" FROM "sw_migrations" ORDER BY "name"').all() as { name: string }[]).map((r) => r.name);
    expect(names[0]).toBe('0001_init');
  });

  it('close() waits for queued units, then refuses new ones with STORE_UNAVAILABLE', async () => {
    const db = open();
    const store = sqliteStore(db, { migrate: true, closeDatabaseOnClose: true });
    const pending = store.transaction((tx) => tx.insertOrder(sampleOrder('closing')));
    await store.close?.();
    await expect(pending).resolves.toBeUndefined();
    expect(db.open).toBe(false);
    await expect(store.transaction((tx) => tx.getOrderByNo('x'))).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });
});
