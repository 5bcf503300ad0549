/**
 * The client transaction route tells the truth and grants only what a transaction is worth: refunded or
 * expired transactions grant nothing; an ownerless purchase is bound to the first signed-in poster and
 * never silently taken; a caller learns nothing about another user's purchase. And a notification type
 * we do not know changes no state. Through real Express over HTTP, on every store.
 */
import express from 'express';
import request from 'supertest';
import { afterEach, describe, expect, it } from 'vitest';
import { subscriptionWebhooks } from '../../../adapters/express.js';
import { appleHarness, types } from '../../helpers/apple-harness.js';
import { EVERY_STORE } from '../../helpers/databases.js';

const DAY = 86_400_000;
const R = 'provider.notification.received';

for (const [name, make] of EVERY_STORE) {
  describe(`client transaction route and unknown types (${name})`, () => {
    const open: { close: () => Promise<void> }[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((d) => d.close()));
    });
    async function setup() {
      const db = await make();
      open.push(db);
      const h = await appleHarness({ store: db.store, expressOptions: { getUserId: (req) => (req.headers['x-user-id'] as string | undefined) ?? null } });
      const postAs = async (userId: string, signedTransaction: string) => {
        const before = h.seen.length;
        const res = await request(h.app)
          .post(h.hooks.routes.appleTransactions)
          .set('content-type', 'application/json')
          .set('x-user-id', userId)
          .send(JSON.stringify({ signedTransaction }));
        return {
          status: res.status,
          body: res.body as { code: number; message: string; data: Record<string, unknown> },
          text: res.text,
          events: h.seen.slice(before),
        };
      };
      return { h, postAs };
    }

    it('a refunded transaction posted by the client is recorded refunded and grants nothing', async () => {
      const { h, postAs } = await setup();
      const c = h.contract();
      const tx = c.transaction({ revocationDate: h.now(), revocationReason: 0 });
      const r = await postAs('u1', await h.signer.signTransaction(tx));
      expect(r.status).toBe(200);
      expect(types(r.events)).not.toContain('customer.subscription.started');
      expect(types(r.events)).not.toContain('order.paid');
      expect(r.body.data).toMatchObject({ status: 'refunded' });
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('refunded');
      const order = await h.store.transaction((t) => t.getOrderByTradeNo('apple', tx.transactionId));
      expect(order?.status).toBe('refunded');
      // Apple's REFUND, when it comes, is the one order.refunded.
      const refund = await h.notify('REFUND', undefined, { transaction: tx });
      expect(types(refund.events).filter((t) => t === 'order.refunded')).toHaveLength(1);
    });

    it('a refunded consumable posted by the client records a refunded order and no order.paid', async () => {
      const { h, postAs } = await setup();
      const c = h.contract();
      const tx = c.transaction({ type: 'Consumable', expiresDate: undefined, productId: 'com.example.coins', revocationDate: h.now() });
      const r = await postAs('u1', await h.signer.signTransaction(tx as never));
      expect(r.status).toBe(200);
      expect(types(r.events)).toEqual([R]);
      expect((await h.store.transaction((t) => t.getOrderByTradeNo('apple', tx.transactionId)))?.status).toBe('refunded');
    });

    it('a transaction that expired months ago grants nothing: recorded expired, no started', async () => {
      const { h, postAs } = await setup();
      const c = h.contract();
      const long = h.now() - 200 * DAY;
      const tx = c.transaction({ purchaseDate: long, originalPurchaseDate: long, expiresDate: long + 30 * DAY });
      const r = await postAs('u1', await h.signer.signTransaction(tx));
      expect(r.status).toBe(200);
      expect(types(r.events)).not.toContain('customer.subscription.started');
      expect(types(r.events)).not.toContain('customer.subscription.renewed');
      expect(r.body.data).toMatchObject({ status: 'expired' });
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('expired');
    });

    it('an old, expired transaction of an active subscription renews nothing', async () => {
      const { h, postAs } = await setup();
      const order = await h.hooks.orders.create({ userId: 'u1', productId: 'com.example.pro.monthly' });
      const c = h.contract({ appAccountToken: order.no });
      const long = h.now() - 90 * DAY;
      const old = c.transaction({ purchaseDate: long, expiresDate: long + 30 * DAY });
      const current = c.transaction({ purchaseDate: h.now(), expiresDate: h.now() + 30 * DAY });
      await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: current, renewalInfo: c.renewal() });
      const r = await postAs('u1', await h.signer.signTransaction(old));
      expect(r.status).toBe(200);
      expect(types(r.events)).not.toContain('customer.subscription.renewed');
      expect(types(r.events)).not.toContain('customer.subscription.started');
      const sub = await h.hooks.subscriptions.get(c.originalTransactionId);
      expect(sub?.status).toBe('active');
      expect(sub?.current_period_end).toBe(new Date(current.expiresDate).toISOString());
    });

    it('SUBSCRIBED without appAccountToken first, then the signed-in client post: bound to that user, and the answer says so truthfully', async () => {
      const { h, postAs } = await setup();
      const c = h.contract();
      const tx = c.transaction();
      const server = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: tx, renewalInfo: c.renewal() });
      expect(server.body.data.userId).toBeNull();
      const r = await postAs('u-owner', await h.signer.signTransaction(tx));
      expect(r.status).toBe(200);
      expect(r.body.data).toMatchObject({ userId: 'u-owner', status: 'active' });
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.user_id).toBe('u-owner');
      expect((await h.store.transaction((t) => t.getOrderByTradeNo('apple', tx.transactionId)))?.user_id).toBe('u-owner');
      const updated = r.events.find((e) => e.type === 'customer.subscription.updated');
      expect(updated?.data.previous_attributes).toMatchObject({ user_id: null });
      expect(types(r.events)).not.toContain('order.paid');
      // The owner again: a duplicate, still theirs.
      const again = await postAs('u-owner', await h.signer.signTransaction(tx));
      expect(again.body.data).toMatchObject({ duplicate: true, userId: 'u-owner' });
    });

    it('a bound purchase is never taken: another signed-in user gets 409 SUBSCRIPTION_OWNED_BY_OTHER_USER and learns nothing', async () => {
      const { h, postAs } = await setup();
      const order = await h.hooks.orders.create({ userId: 'u-owner', productId: 'com.example.pro.monthly' });
      const c = h.contract({ appAccountToken: order.no });
      const tx = c.transaction();
      await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: tx, renewalInfo: c.renewal() });
      const jws = await h.signer.signTransaction(tx);
      const eventsBefore = (await h.store.listEvents()).length;
      for (let i = 0; i < 2; i++) {
        const r = await postAs('u-thief', jws);
        expect(r.status).toBe(409);
        expect(r.body.data).toEqual({ processed: false, error: 'SUBSCRIPTION_OWNED_BY_OTHER_USER' });
        expect(r.text).not.toContain('u-owner');
        expect(r.text).not.toContain(new Date(tx.expiresDate).toISOString());
        expect(r.events).toEqual([]);
      }
      expect((await h.store.listEvents()).length).toBe(eventsBefore);
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.user_id).toBe('u-owner');
      // The owner still can post it (the refused posts used up nothing).
      const mine = await postAs('u-owner', jws);
      expect(mine.status).toBe(200);
      expect(mine.body.data).toMatchObject({ userId: 'u-owner', status: 'active' });
    });

    it('an ownerless purchase posted anonymously first is bound by the first signed-in poster later', async () => {
      const { h, postAs } = await setup();
      const anonymous = express();
      anonymous.use(subscriptionWebhooks(h.hooks));
      const c = h.contract();
      const tx = c.transaction();
      const jws = await h.signer.signTransaction(tx);
      const first = await request(anonymous)
        .post(h.hooks.routes.appleTransactions)
        .set('content-type', 'application/json')
        .send(JSON.stringify({ signedTransaction: jws }));
      expect(first.status).toBe(200);
      expect(first.body.data.userId).toBeNull();
      const [a, b] = await Promise.all([postAs('u-a', jws), postAs('u-b', jws)]);
      const winners = [a, b].filter((r) => r.status === 200);
      expect(winners).toHaveLength(1);
      expect([a, b].filter((r) => r.status === 409)).toHaveLength(1);
      const owner = winners[0]!.body.data.userId;
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.user_id).toBe(owner);
    });

    it('SOME_FUTURE_TYPE carrying a transaction changes no state: received only', async () => {
      const { h } = await setup();
      const c = h.contract();
      const tx = c.transaction();
      const r = await h.notify('SOME_FUTURE_TYPE', undefined, { transaction: tx, renewalInfo: c.renewal() });
      expect(r.status).toBe(200);
      expect(types(r.events)).toEqual([R]);
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toBeNull();
      expect(await h.store.transaction((t) => t.getOrderByTradeNo('apple', tx.transactionId))).toBeNull();
      expect(await h.store.countNotifications('apple')).toBe(1);
    });

    it('METADATA_UPDATE carrying a transaction records the subscription and what the plan looks like, but pays for nothing (no order)', async () => {
      const { h } = await setup();
      const c = h.contract();
      const tx = c.transaction();
      const r = await h.notify('METADATA_UPDATE', undefined, { transaction: tx, renewalInfo: c.renewal({ renewalPrice: 9990, currency: 'USD' }) });
      expect(r.status).toBe(200);
      expect(types(r.events)).toEqual([R, 'customer.subscription.created']);
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({
        latest_transaction_id: tx.transactionId,
        metadata: { pending_price: { amount: 9990, currency: 'USD' } },
      });
      expect(await h.store.transaction((t) => t.getOrderByTradeNo('apple', tx.transactionId))).toBeNull();
      expect(await h.store.countNotifications('apple')).toBe(1);
    });
  });
}
