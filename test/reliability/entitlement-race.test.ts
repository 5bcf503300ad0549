/**
 * PostgreSQL (prismaStore and pgStore): two notifications for two subscriptions of one user, granting the
 * same entitlement, arriving at once. The user's entitlement set and the granted / revoked events stay
 * right: one `entitlement.granted` when the first of them starts, one `entitlement.revoked` when the last
 * ends. Many unforced rounds over HTTP, and a forced one: the first unit of work held right after it read
 * (and locked) the user's grants while the second arrives.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { EntitlementChange, Store, StoreTransaction } from '../../src/index.js';
import { appleHarness, PRODUCT, PRODUCT_YEARLY } from '../helpers/apple-harness.js';
import { createPgDriverStore, createPostgresStore, lockWaiters } from '../helpers/databases.js';
import { gate } from '../helpers/gate.js';

const PRODUCTS = { [PRODUCT]: { entitlements: ['pro'] }, [PRODUCT_YEARLY]: { entitlements: ['pro'] } };
const USERS = 12;

/** Holds the next unit of work that reads a user's grants, right after the read, until `release()`. */
function holdAfterGrantRead(store: Store) {
  const g = gate();
  const held: Store = {
    ...store,
    transaction: (fn) =>
      store.transaction((tx) => {
        if (!g.take()) return fn(tx);
        let once = true;
        const wrapped: StoreTransaction = {
          ...tx,
          async listEntitlementGrants(userId) {
            const grants = await tx.listEntitlementGrants!(userId);
            if (once) {
              once = false;
              await g.wait();
            }
            return grants;
          },
        };
        return fn(wrapped);
      }),
  };
  return { store: held, arm: g.arm, atGate: g.atGate, release: g.release };
}

for (const [name, create] of [
  ['Prisma + PostgreSQL', createPostgresStore],
  ['pg driver + PostgreSQL', createPgDriverStore],
] as const) {
  describe(`one user's entitlement from two subscriptions at once (${name})`, () => {
    const open: { url: string; close: () => Promise<void> }[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((o) => o.close()));
    });

    async function setup(wrap?: (s: Store) => Store) {
      const db = await create();
      open.push(db);
      return appleHarness({ store: wrap ? wrap(db.store) : db.store, config: { products: PRODUCTS, lifecycle: { intervalMs: null } } });
    }
    type H = Awaited<ReturnType<typeof setup>>;

    async function twoContracts(h: H, user: string) {
      const [o1, o2] = await Promise.all([
        h.hooks.orders.create({ userId: user, productId: PRODUCT }),
        h.hooks.orders.create({ userId: user, productId: PRODUCT_YEARLY }),
      ]);
      return [h.contract({ appAccountToken: o1.no }), h.contract({ appAccountToken: o2.no, productId: PRODUCT_YEARLY })] as const;
    }
    const count = async (h: H, user: string, type: 'entitlement.granted' | 'entitlement.revoked') =>
      (await h.store.listEvents({ type })).filter((e) => (e.data.object as EntitlementChange).user_id === user).length;

    it(
      `${USERS} users at once, each buying two subscriptions together, then both ending together: one granted, one revoked each`,
      { timeout: 120_000 },
      async () => {
        const h = await setup();
        const users = Array.from({ length: USERS }, (_, i) => `race_${i}_${Math.random().toString(36).slice(2)}`);
        const contracts = await Promise.all(users.map((u) => twoContracts(h, u)));
        const statuses = await Promise.all(
          contracts.flatMap(([a, b]) =>
            [a, b].map((c) => h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() }).then((r) => r.status)),
          ),
        );
        expect(statuses.every((s) => s === 200)).toBe(true);
        for (const u of users) {
          expect(await count(h, u, 'entitlement.granted')).toBe(1);
          expect(await h.hooks.entitlements.has(u, 'pro')).toBe(true);
        }
        await Promise.all(contracts.flatMap(([a, b]) => [a, b].map((c) => h.notify('EXPIRED', 'VOLUNTARY', { transaction: c.transaction({}, true) }))));
        for (const u of users) {
          expect(await count(h, u, 'entitlement.revoked')).toBe(1);
          expect(await count(h, u, 'entitlement.granted')).toBe(1);
          expect(await h.hooks.entitlements.list(u)).toEqual([expect.objectContaining({ entitlement: 'pro', active: false, reason: 'expired' })]);
        }
      },
    );

    it("forced: the first unit of work held after reading (locking) the user's grants while the second arrives: still one granted", async () => {
      let hold!: ReturnType<typeof holdAfterGrantRead>;
      const h = await setup((s) => (hold = holdAfterGrantRead(s)).store);
      const user = `forced_${Math.random().toString(36).slice(2)}`;
      const [a, b] = await twoContracts(h, user);
      hold.arm();
      const first = h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: a.transaction(), renewalInfo: a.renewal() });
      await hold.atGate;
      const second = h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: b.transaction(), renewalInfo: b.renewal() });
      await lockWaiters(open.at(-1)!.url).finally(hold.release); // the second waits on the first's lock
      expect((await Promise.all([first, second])).map((r) => r.status)).toEqual([200, 200]);
      expect(await count(h, user, 'entitlement.granted')).toBe(1);
      expect(await h.hooks.entitlements.list(user)).toEqual([expect.objectContaining({ entitlement: 'pro', active: true })]);
    });
  });
}
