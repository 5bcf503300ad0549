/**
 * Who owns a Google Play subscription (config `transfer`), as for Apple: a new purchase (never a renewal)
 * whose `obfuscatedExternalAccountId` names another user's order moves the contract to that user
 * (`to_new_user`, the default) or leaves it with its owner (`keep`); `metadata.owner_since` (the purchase's
 * `startTime`) keeps an older purchase from taking it back; a client post by another user is refused and
 * transfers nothing. Real HTTP on every store, against the local Google stand-in.
 */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { EVERY_STORE } from '../../helpers/databases.js';
import { googleSuite, PRODUCT, PRODUCT_PREMIUM, R, S, types, uniq, type GoogleHarness } from '../../helpers/google-harness.js';

const DAY = 86_400_000;

for (const [name, make] of EVERY_STORE) {
  describe(`Google Play transfer (${name})`, () => {
    const suite = googleSuite(make);
    const setup = (transfer?: 'keep' | 'to_new_user'): Promise<GoogleHarness> =>
      suite.harness({
        config: transfer ? { transfer } : {},
        expressOptions: { getUserId: (req) => (req.headers['x-user-id'] as string | undefined) ?? null },
      });
    /** User A's subscription (first token, A's order), then expired; user B's order. */
    async function subscribedThenExpired(h: GoogleHarness, start: number) {
      const userA = uniq('user-a');
      const userB = uniq('user-b');
      const orderA = await h.hooks.orders.create({ userId: userA, productId: PRODUCT, provider: 'google' });
      const first = uniq('tok');
      const o1 = uniq('GPA');
      const base = { productId: PRODUCT, orderId: o1, accountId: orderA.no, acknowledged: true, startTime: start };
      await h.notify('SUBSCRIPTION_PURCHASED', first, { ...base, expiryTime: start + 30 * DAY });
      await h.notify('SUBSCRIPTION_EXPIRED', first, { ...base, state: 'SUBSCRIPTION_STATE_EXPIRED', expiryTime: Date.now() - 1000 });
      expect(await h.sub(first)).toMatchObject({ user_id: userA, status: 'expired' });
      const orderB = await h.hooks.orders.create({ userId: userB, productId: PRODUCT_PREMIUM, provider: 'google' });
      return { userA, userB, orderA, orderB, first };
    }

    it("to_new_user (default): a resubscription through another user's order moves the contract: transferred (previous user_id), started, order.paid for the new user; renewals follow the new owner", async () => {
      const h = await setup();
      const start = Date.now() - 40 * DAY;
      const { userA, userB, orderB, first } = await subscribedThenExpired(h, start);
      const second = uniq('tok');
      const o2 = uniq('GPA');
      const r = await h.notify('SUBSCRIPTION_PURCHASED', second, {
        productId: PRODUCT_PREMIUM,
        orderId: o2,
        accountId: orderB.no,
        linkedPurchaseToken: first,
        acknowledged: true,
      });
      expect(r.status).toBe(200);
      expect(types(r.events)).toEqual([R, S('transferred'), S('started'), 'order.paid']);
      expect(r.events[1]!.data.previous_attributes).toEqual({ user_id: userA });
      expect(r.events[1]!.data.object).toMatchObject({ user_id: userB, contract_id: first });
      expect(await h.hooks.orders.get(orderB.no)).toMatchObject({ status: 'paid', user_id: userB, trade_no: o2 });
      expect(await h.sub(first)).toMatchObject({ user_id: userB, status: 'active', product_id: PRODUCT_PREMIUM });
      const renewal = await h.notify('SUBSCRIPTION_RENEWED', second, {
        productId: PRODUCT_PREMIUM,
        orderId: `${o2}..0`,
        accountId: orderB.no,
        linkedPurchaseToken: first,
        acknowledged: true,
        expiryTime: Date.now() + 60 * DAY,
      });
      expect(types(renewal.events)).toEqual([R, S('renewed'), 'order.paid']);
      expect(renewal.events[2]!.data.object).toMatchObject({ user_id: userB });
      // The same purchase told again (another messageId) moves nothing a second time.
      const again = await h.post(suite.kit.push(suite.kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', second)));
      expect(types(again.events)).not.toContain(S('transferred'));
    });

    it('an older purchase of the first user, arriving after the move, never takes the contract back', async () => {
      const h = await setup();
      const start = Date.now() - 40 * DAY;
      const { userA, userB, orderA, orderB, first } = await subscribedThenExpired(h, start);
      const second = uniq('tok');
      await h.notify('SUBSCRIPTION_PURCHASED', second, {
        productId: PRODUCT_PREMIUM,
        orderId: uniq('GPA'),
        accountId: orderB.no,
        linkedPurchaseToken: first,
        acknowledged: true,
      });
      expect((await h.sub(first))?.user_id).toBe(userB);
      // A's first purchase is told again (Pub/Sub redelivers under a new messageId): it started before B's.
      const late = await h.notify('SUBSCRIPTION_PURCHASED', first, {
        productId: PRODUCT,
        orderId: uniq('GPA'),
        accountId: orderA.no,
        acknowledged: true,
        startTime: start,
        state: 'SUBSCRIPTION_STATE_EXPIRED',
        expiryTime: Date.now() - 1000,
      });
      expect(late.status).toBe(200);
      expect(types(late.events)).not.toContain(S('transferred'));
      expect((await h.sub(first))?.user_id).toBe(userB);
      expect(userA).not.toBe(userB);
    });

    it('keep: the subscription stays with its owner; the order is recorded for the new user', async () => {
      const h = await setup('keep');
      const { userA, userB, orderB, first } = await subscribedThenExpired(h, Date.now() - 40 * DAY);
      const second = uniq('tok');
      const r = await h.notify('SUBSCRIPTION_PURCHASED', second, {
        productId: PRODUCT_PREMIUM,
        orderId: uniq('GPA'),
        accountId: orderB.no,
        linkedPurchaseToken: first,
        acknowledged: true,
      });
      expect(types(r.events)).toEqual([R, S('started'), 'order.paid']);
      expect(await h.hooks.orders.get(orderB.no)).toMatchObject({ status: 'paid', user_id: userB });
      expect((await h.sub(first))?.user_id).toBe(userA);
    });

    it("a client post by the new user of a purchase on another user's contract is refused (409) and moves nothing; Google's notification then transfers", async () => {
      const h = await setup();
      const { userA, userB, orderB, first } = await subscribedThenExpired(h, Date.now() - 40 * DAY);
      const second = uniq('tok');
      const purchase = { productId: PRODUCT_PREMIUM, orderId: uniq('GPA'), accountId: orderB.no, linkedPurchaseToken: first, acknowledged: true };
      suite.kit.setSubscription(second, suite.kit.subscriptionPurchase(purchase));
      const events = (await h.store.listEvents()).length;
      const res = await request(h.app)
        .post(h.hooks.routes.googlePurchase)
        .set('content-type', 'application/json')
        .set('x-user-id', userB)
        .send(JSON.stringify({ purchaseToken: second }));
      expect([res.status, (res.body as { error?: { code: string } }).error?.code]).toEqual([409, 'SUBSCRIPTION_OWNED_BY_OTHER_USER']);
      expect(JSON.stringify(res.body)).not.toContain(userA);
      expect((await h.store.listEvents()).length).toBe(events);
      expect((await h.sub(first))?.user_id).toBe(userA);
      expect((await h.hooks.orders.get(orderB.no))?.status).toBe('pending');
      const r = await h.post(suite.kit.push(suite.kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', second)));
      expect(types(r.events)).toEqual([R, S('transferred'), S('started'), 'order.paid']);
      expect((await h.sub(first))?.user_id).toBe(userB);
    });
  });
}
