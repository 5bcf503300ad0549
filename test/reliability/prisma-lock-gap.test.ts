/**
 * Review: prismaStore on PostgreSQL used to lock a row with one statement (`SELECT 1 ... FOR UPDATE`) and
 * read it with another (findUnique). A row committed between the two was read but NOT locked: the unit
 * of work then decided on, and upserted over, a row another unit could change meanwhile (lost update),
 * and two such units could deadlock; Prisma reports that deadlock as P2010 (raw query failed) with the
 * 40P01 only inside meta.driverAdapterError. It now reads and locks in one statement (the shared SQL):
 * these tests hold a unit of work right after its locking read found nothing, let a concurrent unit commit
 * the row, and check that the held unit, going on, neither overwrites nor loses what the other wrote.
 */
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { isRetryable } from '../../src/store/sql-common.js';
import { prismaStore } from '../../src/store/prisma.js';
import { appleHarness } from '../helpers/apple-harness.js';
import { createPostgresStore } from '../helpers/databases.js';

type Hold = { match: (sql: string, values: unknown[]) => boolean; when: 'before' | 'after'; reached: () => void; gate: Promise<void> };

/** A Prisma client whose interactive transactions can be held right before or after a matching raw statement. */
function holdingPrisma<P extends object>(real: P) {
  const holds: Hold[] = [];
  const opens: (() => void)[] = [];
  const arm = (match: Hold['match'], when: Hold['when'] = 'after') => {
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    let reached!: () => void;
    const hit = new Promise<void>((r) => (reached = r));
    holds.push({ match, when, reached, gate });
    opens.push(open);
    return { hit, release: open };
  };
  const holdAt = async (when: Hold['when'], sql: string, values: unknown[]) => {
    const i = holds.findIndex((h) => h.when === when && h.match(sql, values));
    if (i < 0) return;
    const [h] = holds.splice(i, 1);
    h!.reached();
    await h!.gate;
  };
  const wrapTx = (tx: Record<string, unknown>) =>
    new Proxy(tx, {
      get(target, prop) {
        if (prop === '$queryRawUnsafe' || prop === '$executeRawUnsafe') {
          return async (sql: string, ...values: unknown[]) => {
            await holdAt('before', sql, values);
            const r = await (target[prop] as (s: string, ...v: unknown[]) => Promise<unknown>)(sql, ...values);
            await holdAt('after', sql, values);
            return r;
          };
        }
        return Reflect.get(target, prop);
      },
    });
  const client = new Proxy(real, {
    get(target, prop) {
      if (prop === '$transaction') {
        return (fn: (tx: unknown) => Promise<unknown>, options?: unknown) =>
          (target as unknown as { $transaction: (f: (tx: Record<string, unknown>) => Promise<unknown>, o?: unknown) => Promise<unknown> }).$transaction(
            (tx) => fn(wrapTx(tx)),
            options,
          );
      }
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
  return { client, arm, releaseAll: () => opens.forEach((o) => o()) };
}
/** The statement that writes a unit of work's buffered rows into `table` (held before it runs). */
const writes = (table: string) => (sql: string) => sql.includes(`INSERT INTO "${table}"`);

describe('prismaStore (PostgreSQL) lock-then-read gap', () => {
  const open: { close: () => Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((d) => d.close()));
  });

  it('a deadlock as Prisma 7 reports it on a raw FOR UPDATE (P2010, 40P01 in meta.driverAdapterError) is retryable', () => {
    // The exact shape observed in test/reliability/order-storm.test.ts (answered 500 INTERNAL).
    const err = Object.assign(new Error('Raw query failed. Code: `40P01`. Message: `deadlock detected`'), {
      code: 'P2010',
      meta: {
        driverAdapterError: {
          name: 'DriverAdapterError',
          cause: { originalCode: '40P01', originalMessage: 'deadlock detected', kind: 'TransactionWriteConflict' },
        },
      },
    });
    expect(isRetryable(err)).toBe(true);
  });

  it('a subscription committed between the lock and the read is read unlocked: a concurrent cancel is lost', async () => {
    const db = await createPostgresStore();
    open.push(db);
    const held = holdingPrisma(db.prisma);
    const store = prismaStore(held.client as never);
    const h = await appleHarness({ store });
    try {
      const c = h.contract();
      const t1 = c.transaction();
      const t2 = c.transaction();
      const subscribedAt = h.tick();
      const renewAt = h.tick();
      const cancelAt = h.tick();
      const subscribed = await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: t1, renewalInfo: c.renewal() }, { signedDate: subscribedAt });
      // The renewal's renewal info carries no autoRenewStatus: auto_renew is whatever the subscription row says.
      const renew = await h.sign('DID_RENEW', undefined, { transaction: t2, renewalInfo: c.renewal({ autoRenewStatus: undefined }) }, { signedDate: renewAt });
      const cancel = await h.sign(
        'DID_CHANGE_RENEWAL_STATUS',
        'AUTO_RENEW_DISABLED',
        { transaction: t2, renewalInfo: c.renewal({ autoRenewStatus: 0 }) },
        { signedDate: cancelAt },
      );
      const post = (signedPayload: string) =>
        Promise.resolve(request(h.app).post(h.hooks.routes.apple).set('content-type', 'application/json').send(JSON.stringify({ signedPayload })));

      // 1. The renewal locks the (not yet existing) subscription: nothing locked. Held there.
      const lock1 = held.arm((sql) => sql.includes('"sw_subscriptions"') && sql.includes('FOR UPDATE'));
      const renewing = post(renew);
      await lock1.hit;
      // 2. The purchase commits the subscription meanwhile.
      expect((await post(subscribed)).status).toBe(200);
      // 3. The renewal goes on with what it read (no subscription, nothing locked) and is held right before it writes.
      const lock2 = held.arm(writes('sw_subscriptions'), 'before');
      lock1.release();
      await lock2.hit;
      // 4. A later cancel locks the subscription (nobody holds it), applies and commits.
      expect((await post(cancel)).status).toBe(200);
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.auto_renew).toBe(false);
      // 5. The renewal goes on and saves its copy of the subscription.
      lock2.release();
      expect((await renewing).status).toBe(200);
      // Either serial order ends with auto-renew off (the cancel is the newest word).
      const sub = await h.hooks.subscriptions.get(c.originalTransactionId);
      expect({ auto_renew: sub?.auto_renew, status: sub?.status }).toEqual({ auto_renew: false, status: 'canceled' });
    } finally {
      held.releaseAll();
    }
  });

  it('an order committed between the lock and the read is read unlocked: binding it to the poster puts a concurrent refund back to paid', async () => {
    const db = await createPostgresStore();
    open.push(db);
    const held = holdingPrisma(db.prisma);
    const store = prismaStore(held.client as never);
    const h = await appleHarness({ store, expressOptions: { getUserId: (req) => (req.headers['x-user-id'] as string | undefined) ?? null } });
    try {
      const c = h.contract(); // no appAccountToken: an ownerless purchase
      const tx = c.transaction({ type: 'Consumable', expiresDate: undefined, productId: 'com.example.coins' });
      const charge = await h.sign('ONE_TIME_CHARGE', undefined, { transaction: tx });
      const refund = await h.sign('REFUND', undefined, { transaction: { ...tx, revocationDate: h.now(), revocationReason: 0 } });
      const signedTransaction = await h.signer.signTransaction(tx as never);
      const notify = (signedPayload: string) =>
        Promise.resolve(request(h.app).post(h.hooks.routes.apple).set('content-type', 'application/json').send(JSON.stringify({ signedPayload })));
      // 1. The signed-in client post locks the (not yet recorded) order: nothing locked. Held there.
      const lock1 = held.arm((sql, values) => sql.includes('"trade_no"') && values.includes(tx.transactionId));
      const posting = Promise.resolve(
        request(h.app)
          .post(h.hooks.routes.appleTransactions)
          .set('content-type', 'application/json')
          .set('x-user-id', 'u1')
          .send(JSON.stringify({ signedTransaction })),
      );
      await lock1.hit;
      // 2. Apple's notification records the order meanwhile.
      expect((await notify(charge)).status).toBe(200);
      // 3. The post goes on with what it read (no order, nothing locked) and is held right before it writes it bound to u1.
      const save = held.arm(writes('sw_orders'), 'before');
      lock1.release();
      await save.hit;
      // 4. Apple's REFUND: it commits at once unless the post holds the order's lock (it should); give it the chance.
      const refunding = notify(refund);
      await Promise.race([refunding, new Promise((r) => setTimeout(r, 1000))]);
      // 5. The post goes on and saves its copy.
      save.release();
      expect((await posting).status).toBe(200);
      expect((await refunding).status).toBe(200);
      expect((await store.transaction((t) => t.getOrderByTradeNo('apple', tx.transactionId)))?.status).toBe('refunded');
    } finally {
      held.releaseAll();
    }
  });

  it('a subscription committed between the lock and the read: two signed-in users both bind the ownerless purchase, the last one silently takes it', async () => {
    const db = await createPostgresStore();
    open.push(db);
    const held = holdingPrisma(db.prisma);
    const store = prismaStore(held.client as never);
    const h = await appleHarness({ store, expressOptions: { getUserId: (req) => (req.headers['x-user-id'] as string | undefined) ?? null } });
    try {
      const c = h.contract(); // no appAccountToken: ownerless until someone signed in posts it
      const t1 = c.transaction();
      const t2 = c.transaction();
      const subscribed = await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: t1, renewalInfo: c.renewal() });
      const postAs = async (user: string, t: Record<string, unknown>) => {
        const signedTransaction = await h.signer.signTransaction(t as never);
        return Promise.resolve(
          request(h.app)
            .post(h.hooks.routes.appleTransactions)
            .set('content-type', 'application/json')
            .set('x-user-id', user)
            .send(JSON.stringify({ signedTransaction })),
        );
      };
      // 1. User B posts the second transaction: its subscription lock finds no row yet. Held.
      const lock1 = held.arm((sql, values) => sql.includes('"sw_subscriptions"') && values.includes(c.originalTransactionId));
      const b = postAs('user_b', t2);
      await lock1.hit;
      // 2. Apple's SUBSCRIBED records the subscription, owned by nobody.
      expect(
        (
          await Promise.resolve(
            request(h.app)
              .post(h.hooks.routes.apple)
              .set('content-type', 'application/json')
              .send(JSON.stringify({ signedPayload: subscribed })),
          )
        ).status,
      ).toBe(200);
      // 3. B goes on with what it read (no subscription, nothing locked) and is held right before it writes.
      const lock2 = held.arm(writes('sw_subscriptions'), 'before');
      lock1.release();
      await lock2.hit;
      // 4. User A posts the first transaction: binds the purchase (the row was free to lock), told it is theirs.
      const a = await postAs('user_a', t1);
      expect(a.status).toBe(200);
      expect((a.body as { data: { userId: string } }).data.userId).toBe('user_a');
      // 5. B goes on with what it read.
      lock2.release();
      const rb = await b;
      const sub = await h.hooks.subscriptions.get(c.originalTransactionId);
      // A was told the purchase is theirs: it must stay A's, and B must be refused.
      expect({ owner: sub?.user_id, bStatus: rb.status }).toEqual({ owner: 'user_a', bStatus: 409 });
    } finally {
      held.releaseAll();
    }
  });
});
