/**
 * REFUND_REVERSED is final over an older refund. Apple delivers out of order (a failed REFUND is
 * retried hours later), and the app's client may post a JWS signed while the transaction was refunded.
 * Neither may take an order that Apple's later REFUND_REVERSED made `paid` back to `refunded`.
 */
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { appleHarness, types } from '../../helpers/apple-harness.js';

const order = (h: Awaited<ReturnType<typeof appleHarness>>, tradeNo: string) => h.store.transaction((t) => t.getOrderByTradeNo('apple', tradeNo));

describe('a reversed refund stays reversed (memory store)', () => {
  it('subscription: REFUND_REVERSED delivered before the (older) REFUND: the late REFUND leaves the order paid, like the subscription', async () => {
    const h = await appleHarness({ expressOptions: { getUserId: (req) => (req.headers['x-user-id'] as string | undefined) ?? null } });
    const c = h.contract();
    const tx = c.transaction();
    expect((await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: tx, renewalInfo: c.renewal() })).status).toBe(200);
    const refundedTx = { ...tx, revocationDate: h.now(), revocationReason: 0 };
    const refundAt = h.tick();
    const reversedAt = h.tick();
    // REFUND_REVERSED (newer) arrives first; the REFUND it reverses is Apple's retry, hours later.
    const reversed = await h.notify('REFUND_REVERSED', undefined, { transaction: tx, renewalInfo: c.renewal() }, { signedDate: reversedAt });
    expect(reversed.status).toBe(200);
    const late = await h.notify('REFUND', undefined, { transaction: refundedTx, renewalInfo: c.renewal() }, { signedDate: refundAt });
    expect(late.status).toBe(200);
    const sub = await h.hooks.subscriptions.get(c.originalTransactionId);
    const o = await order(h, tx.transactionId);
    // The subscription (stale check) stays active; the order must agree with it and with Apple's final word.
    expect(sub?.status).toBe('active');
    expect({ order: o?.status, lateEvents: types(late.events) }).toEqual({ order: 'paid', lateEvents: ['provider.notification.received'] });
  });

  it('one-time purchase: REFUND_REVERSED delivered before the (older) REFUND: the order stays paid', async () => {
    const h = await appleHarness();
    const c = h.contract();
    const tx = c.transaction({ type: 'Non-Consumable', expiresDate: undefined, productId: 'com.example.lifetime' });
    expect((await h.notify('ONE_TIME_CHARGE', undefined, { transaction: tx })).status).toBe(200);
    const refundAt = h.tick();
    const reversedAt = h.tick();
    expect((await h.notify('REFUND_REVERSED', undefined, { transaction: tx }, { signedDate: reversedAt })).status).toBe(200);
    const late = await h.notify(
      'REFUND',
      undefined,
      { transaction: { ...tx, revocationDate: refundAt - 1000, revocationReason: 0 } },
      { signedDate: refundAt },
    );
    expect(late.status).toBe(200);
    expect((await order(h, tx.transactionId))?.status).toBe('paid');
  });

  it('client route: a JWS signed while refunded, posted after REFUND_REVERSED, does not flip the order back to refunded (silently)', async () => {
    const h = await appleHarness({ expressOptions: { getUserId: (req) => (req.headers['x-user-id'] as string | undefined) ?? null } });
    const created = await h.hooks.orders.create({ userId: 'u1', productId: 'com.example.pro.monthly' });
    const c = h.contract({ appAccountToken: created.no });
    const tx = c.transaction();
    expect((await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: tx, renewalInfo: c.renewal() })).status).toBe(200);
    const refundedTx = { ...tx, revocationDate: h.now(), revocationReason: 0, signedDate: h.tick() };
    expect((await h.notify('REFUND', undefined, { transaction: refundedTx, renewalInfo: c.renewal() })).status).toBe(200);
    expect((await h.notify('REFUND_REVERSED', undefined, { transaction: tx, renewalInfo: c.renewal() })).status).toBe(200);
    expect((await order(h, tx.transactionId))?.status).toBe('paid');
    // The app cached the JWS it fetched while the transaction was refunded, and posts it now.
    const stale = await h.signer.signTransaction(refundedTx as never);
    const res = await request(h.app)
      .post(h.hooks.routes.appleTransactions)
      .set('content-type', 'application/json')
      .set('x-user-id', 'u1')
      .send(JSON.stringify({ signedTransaction: stale }));
    expect(res.status).toBe(200);
    expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('active');
    expect((await order(h, tx.transactionId))?.status).toBe('paid');
  });
});
