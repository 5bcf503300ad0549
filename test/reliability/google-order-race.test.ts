/**
 * One Google order = one order row = one `order.paid`, whichever entry point gets there first: Google's
 * notification and the app's client post of the same purchase (two inbox ids) race each other over real
 * HTTP on every store, unforced (rounds sent at once) and forced (the first unit of work held right
 * before its order write, after its reads, while the second runs).
 */
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent, Order } from '../../src/index.js';
import { createGooglePlayTestKit, type GooglePlayTestKit } from '../../src/testing/index.js';
import { EVERY_STORE } from '../helpers/databases.js';
import { googleHarness, PRODUCT, type GoogleHarness } from '../helpers/google-harness.js';
import { holding, type HoldingStore } from '../helpers/holding-store.js';

const ROUNDS = 10;
let n = 0;
const uniq = (p: string) => `${p}_${Date.now().toString(36)}_${++n}`;
const paidFor = (events: DomainEvent[], orderId: string) =>
  events.filter((e) => e.type === 'order.paid' && (e.data.object as Order).trade_no === orderId).length;

for (const [name, make] of EVERY_STORE) {
  describe(`one Google order, the notification racing the client post (${name})`, () => {
    let kit: GooglePlayTestKit;
    const open: { close: () => Promise<void> }[] = [];
    beforeAll(async () => {
      kit = await createGooglePlayTestKit();
    });
    afterAll(async () => kit.close());
    afterEach(async () => {
      await Promise.all(open.splice(0).map((d) => d.close()));
    });
    async function setup(): Promise<{ h: GoogleHarness; store: HoldingStore }> {
      const db = await make();
      open.push(db);
      const store = holding(db.store);
      const h = await googleHarness({ store, kit, expressOptions: { getUserId: (req) => (req.headers['x-user-id'] as string | undefined) ?? null } });
      return { h, store };
    }
    /** A purchase Google holds, and the two requests about it. */
    async function race(h: GoogleHarness, withOrder = true) {
      // With the app's order (obfuscatedExternalAccountId): both claim it; without: both create the order.
      const order = withOrder ? await h.hooks.orders.create({ userId: 'u1', productId: PRODUCT, provider: 'google' }) : null;
      const token = uniq('tok');
      const orderId = uniq('GPA');
      kit.setSubscription(token, kit.subscriptionPurchase({ productId: PRODUCT, orderId, ...(order ? { accountId: order.no } : {}), acknowledged: true }));
      const push = await kit.push(kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', token));
      const rtdn = () => request(h.app).post(h.hooks.routes.google).set(push.headers).send(push.body);
      const client = () =>
        request(h.app)
          .post(h.hooks.routes.googlePurchases)
          .set('content-type', 'application/json')
          .set('x-user-id', 'u1')
          .send(JSON.stringify({ purchaseToken: token }));
      return { token, orderId, orderNo: order?.no ?? null, rtdn, client };
    }

    it(`unforced: ${ROUNDS} rounds sent at once → one order, one order.paid, one started`, async () => {
      const { h } = await setup();
      for (let i = 0; i < ROUNDS; i++) {
        const r = await race(h, i % 2 === 0);
        const [a, b] = await Promise.all([r.rtdn(), r.client()]);
        expect([a.status, b.status]).toEqual([200, 200]);
        const events = await h.store.listEvents();
        expect(paidFor(events, r.orderId)).toBe(1);
        expect(
          events.filter((e) => e.type === 'customer.subscription.started' && (e.data.object as { contract_id: string }).contract_id === r.token),
        ).toHaveLength(1);
        expect((await h.sub(r.token))?.user_id).toBe('u1');
      }
    });

    for (const [first, withOrder] of [
      ['rtdn', true],
      ['client', true],
      ['rtdn', false],
      ['client', false],
    ] as const) {
      it(`forced: the ${first} held before its order write while the other commits, ${withOrder ? 'with' : 'without'} the app's order → one order.paid`, async () => {
        const { h, store } = await setup();
        const r = await race(h, withOrder);
        const held = store.arm();
        const one = (first === 'rtdn' ? r.rtdn() : r.client()).then((res) => res);
        await held;
        // The other one runs while the first is held (or waits on its locks, where the store takes them).
        const two = (first === 'rtdn' ? r.client() : r.rtdn()).then((res) => res);
        await Promise.race([two, new Promise((resolve) => setTimeout(resolve, 500))]);
        store.release();
        const results = await Promise.all([one, two]);
        expect(results.map((x) => x.status)).toEqual([200, 200]);
        expect(store.held).toBe(1);
        const events = await h.store.listEvents();
        expect(paidFor(events, r.orderId)).toBe(1);
        // The purchase is one order: the app's own (its no) when there was one, else a new one; the user's either way.
        const recorded = await h.store.transaction((tx) => tx.getOrderByTradeNo('google', r.orderId));
        expect(recorded?.user_id).toBe('u1');
        if (r.orderNo) expect(recorded?.no).toBe(r.orderNo);
      });
    }
  });
}
