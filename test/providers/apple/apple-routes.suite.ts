import { describe, expect, it } from 'vitest';
import type { Store } from '../../../src/index.js';
import { appleHarness, PRODUCT, PRODUCT_BASIC, PRODUCT_YEARLY, types, type AppleHarness } from '../../helpers/apple-harness.js';

const R = 'provider.notification.received';
const S = (s: string) => `customer.subscription.${s}`;

/**
 * Every row of EVENTS.md § Apple, through real Express over HTTP, on the given store:
 * the HTTP answer, the events (types and order) and the resulting subscription and order state.
 */
export function appleRouteSuite(storeName: string, makeStore: () => Promise<Store>) {
  describe(`Apple notifications through Express (${storeName})`, () => {
    const setup = async () => appleHarness({ store: await makeStore() });

    /** An order created by the app, then SUBSCRIBED/INITIAL_BUY for it. */
    async function subscribed(h: AppleHarness, userId = `user_${Math.random().toString(36).slice(2)}`) {
      const order = await h.hooks.orders.create({ userId, productId: PRODUCT });
      const c = h.contract({ appAccountToken: order.no });
      const tx = c.transaction();
      const r = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: tx, renewalInfo: c.renewal() });
      return { order, c, tx, r, userId };
    }

    it("SUBSCRIBED/INITIAL_BUY: created, started, order.paid; order paid; contract active for the order's user", async () => {
      const h = await setup();
      const { order, c, tx, r, userId } = await subscribed(h);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ code: 200, data: { processed: true, notificationType: 'SUBSCRIBED', userId, transactionId: tx.transactionId } });
      expect(typeof r.body.data.notificationUUID).toBe('string');
      expect(types(r.events)).toEqual([R, S('created'), S('started'), 'order.paid']);
      const paid = await h.hooks.orders.get(order.no);
      expect(paid).toMatchObject({
        status: 'paid',
        trade_no: tx.transactionId,
        origin_no: c.originalTransactionId,
        user_id: userId,
        amount: 9990,
        currency: 'USD',
      });
      const sub = await h.hooks.subscriptions.get(c.originalTransactionId);
      expect(sub).toMatchObject({ status: 'active', user_id: userId, product_id: PRODUCT, auto_renew: true, latest_transaction_id: tx.transactionId });
      expect(sub?.current_period_end).toBe(new Date(tx.expiresDate).toISOString());
      expect(r.events.every((e) => e.livemode && e.provider === 'apple' && e.source.subtype === 'INITIAL_BUY')).toBe(true);
      expect((await h.store.listEvents()).map((e) => e.id)).toEqual(r.events.map((e) => e.id));
    });

    it('SUBSCRIBED/INITIAL_BUY with a free trial: status trialing', async () => {
      const h = await setup();
      const c = h.contract();
      const r = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction({ offerType: 1, offerDiscountType: 'FREE_TRIAL', price: 0 }) });
      expect(types(r.events)).toEqual([R, S('created'), S('started'), 'order.paid']);
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('trialing');
    });

    it('SUBSCRIBED with an appAccountToken that matches no order: contract with user null, a paid order, a warning', async () => {
      const h = await setup();
      const token = crypto.randomUUID();
      const c = h.contract({ appAccountToken: token });
      const r = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction() });
      expect(r.status).toBe(200);
      expect(types(r.events)).toEqual([R, S('created'), S('started'), 'order.paid']);
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.user_id).toBeNull();
      expect(await h.hooks.orders.get(token)).toMatchObject({ status: 'paid', user_id: null, no: token });
      expect(h.logger.warnings.some((w) => w.includes('appAccountToken matches no order'))).toBe(true);
    });

    it('SUBSCRIBED/RESUBSCRIBE after expiry: started, order.paid; active again', async () => {
      const h = await setup();
      const { c, userId } = await subscribed(h);
      await h.notify('EXPIRED', 'VOLUNTARY', { transaction: c.transaction({}, true) });
      const order2 = await h.hooks.orders.create({ userId, productId: PRODUCT }); // the owner's own new order (another user's: see transfer)
      const r = await h.notify('SUBSCRIBED', 'RESUBSCRIBE', {
        transaction: c.transaction({ appAccountToken: order2.no, transactionReason: 'PURCHASE' }),
        renewalInfo: c.renewal(),
      });
      expect(types(r.events)).toEqual([R, S('started'), 'order.paid']);
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({ status: 'active', auto_renew: true });
      expect((await h.hooks.orders.get(order2.no))?.status).toBe('paid');
    });

    it("transfer (default to_new_user): a resubscription through another user's order moves the subscription: transferred (previous user_id), started, order.paid for the new user; renewals follow the new owner", async () => {
      const h = await setup();
      const { c, userId } = await subscribed(h);
      await h.notify('EXPIRED', 'VOLUNTARY', { transaction: c.transaction({}, true) });
      const orderB = await h.hooks.orders.create({ userId: 'user-b', productId: PRODUCT });
      const r = await h.notify('SUBSCRIBED', 'RESUBSCRIBE', {
        transaction: c.transaction({ appAccountToken: orderB.no, transactionReason: 'PURCHASE' }),
        renewalInfo: c.renewal(),
      });
      expect(r.status).toBe(200);
      expect(r.body.data).toMatchObject({ userId: 'user-b' });
      expect(types(r.events)).toEqual([R, S('transferred'), S('started'), 'order.paid']);
      expect(r.events[1]!.data.previous_attributes).toEqual({ user_id: userId });
      expect(r.events[1]!.data.object).toMatchObject({ user_id: 'user-b', contract_id: c.originalTransactionId });
      expect(await h.hooks.orders.get(orderB.no)).toMatchObject({ status: 'paid', user_id: 'user-b' });
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({ user_id: 'user-b', status: 'active' });
      const renewal = await h.notify('DID_RENEW', undefined, { transaction: c.transaction({ appAccountToken: orderB.no }), renewalInfo: c.renewal() });
      expect(types(renewal.events)).toEqual([R, S('renewed'), 'order.paid']);
      expect(renewal.events[2]!.data.object).toMatchObject({ user_id: 'user-b' });
    });

    it("transfer out of order: the new user's purchase arriving after newer state still moves it; an older purchase of the first user arriving last never takes it back", async () => {
      const h = await setup();
      const { c, userId } = await subscribed(h);
      const orderA2 = await h.hooks.orders.create({ userId, productId: PRODUCT });
      const orderB = await h.hooks.orders.create({ userId: 'user-b2', productId: PRODUCT });
      const tA2 = c.transaction({ appAccountToken: orderA2.no, transactionReason: 'PURCHASE' });
      const tB = c.transaction({ appAccountToken: orderB.no, transactionReason: 'PURCHASE' });
      const tRenew = c.transaction({ appAccountToken: orderB.no });
      const lateA = await h.sign('SUBSCRIBED', 'RESUBSCRIBE', { transaction: tA2, renewalInfo: c.renewal() });
      const lateB = await h.sign('SUBSCRIBED', 'RESUBSCRIBE', { transaction: tB, renewalInfo: c.renewal() });
      await h.notify('DID_RENEW', undefined, { transaction: tRenew, renewalInfo: c.renewal() });
      const b = await h.post(h.hooks.routes.apple, { signedPayload: lateB });
      expect(b.status).toBe(200);
      expect(types(b.events)).toEqual([R, 'order.paid', S('transferred')]);
      expect(b.events[2]!.data.previous_attributes).toEqual({ user_id: userId });
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({ user_id: 'user-b2', latest_transaction_id: tRenew.transactionId });
      const a = await h.post(h.hooks.routes.apple, { signedPayload: lateA });
      expect(a.status).toBe(200);
      expect(types(a.events)).toEqual([R, 'order.paid']);
      expect(await h.hooks.orders.get(orderA2.no)).toMatchObject({ status: 'paid', user_id: userId });
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.user_id).toBe('user-b2');
    });

    it('transfer: keep leaves the subscription with its owner and records the order for the new user', async () => {
      const h = await appleHarness({ store: await makeStore(), config: { transfer: 'keep' } });
      const { c, userId } = await subscribed(h);
      await h.notify('EXPIRED', 'VOLUNTARY', { transaction: c.transaction({}, true) });
      const orderB = await h.hooks.orders.create({ userId: 'user-b3', productId: PRODUCT });
      const r = await h.notify('SUBSCRIBED', 'RESUBSCRIBE', {
        transaction: c.transaction({ appAccountToken: orderB.no, transactionReason: 'PURCHASE' }),
        renewalInfo: c.renewal(),
      });
      expect(types(r.events)).toEqual([R, S('started'), 'order.paid']);
      expect(await h.hooks.orders.get(orderB.no)).toMatchObject({ status: 'paid', user_id: 'user-b3' });
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.user_id).toBe(userId);
    });

    it("DID_RENEW: renewed, order.paid; a new paid order for the contract's user; period moves forward", async () => {
      const h = await setup();
      const { c, userId } = await subscribed(h);
      const tx2 = c.transaction();
      const r = await h.notify('DID_RENEW', undefined, { transaction: tx2, renewalInfo: c.renewal() });
      expect(r.status).toBe(200);
      expect(types(r.events)).toEqual([R, S('renewed'), 'order.paid']);
      const orderEvent = r.events[2]!.data.object as { no: string; trade_no: string; user_id: string; status: string };
      expect(orderEvent).toMatchObject({ trade_no: tx2.transactionId, user_id: userId, status: 'paid' });
      const sub = await h.hooks.subscriptions.get(c.originalTransactionId);
      expect(sub?.current_period_end).toBe(new Date(tx2.expiresDate).toISOString());
      expect(sub?.latest_transaction_id).toBe(tx2.transactionId);
      expect(r.events[1]!.data.previous_attributes).toMatchObject({ latest_transaction_id: c.originalTransactionId });
    });

    it('DID_RENEW for a transaction already recorded (seed 003): acknowledged, nothing new', async () => {
      const h = await setup();
      const { c } = await subscribed(h);
      const tx2 = c.transaction();
      await h.notify('DID_RENEW', undefined, { transaction: tx2 });
      const again = await h.notify('DID_RENEW', undefined, { transaction: tx2 });
      expect(again.status).toBe(200);
      expect(types(again.events)).toEqual([R]);
    });

    it('DID_RENEW/BILLING_RECOVERY: recovered, renewed, order.paid; active', async () => {
      const h = await setup();
      const { c } = await subscribed(h);
      await h.notify('DID_FAIL_TO_RENEW', undefined, { transaction: c.transaction({}, true) });
      const r = await h.notify('DID_RENEW', 'BILLING_RECOVERY', { transaction: c.transaction() });
      expect(types(r.events)).toEqual([R, S('recovered'), S('renewed'), 'order.paid']);
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('active');
    });

    for (const type of ['DID_CHANGE_RENEWAL_PREF', 'OFFER_REDEEMED'] as const) {
      it(`${type}/UPGRADE: upgraded with previous product_id, then order.paid for the new charged transaction (the user's)`, async () => {
        const h = await setup();
        const { c, order, userId } = await subscribed(h);
        const up = c.transaction({ productId: PRODUCT_YEARLY, transactionReason: 'PURCHASE', price: 49990 });
        const r = await h.notify(type, 'UPGRADE', {
          transaction: up,
          renewalInfo: c.renewal({ autoRenewProductId: PRODUCT_YEARLY, productId: PRODUCT_YEARLY }),
        });
        expect(r.status).toBe(200);
        expect(types(r.events)).toEqual([R, S('upgraded'), 'order.paid']);
        expect(r.events[1]!.data.previous_attributes).toEqual({ product_id: PRODUCT });
        const paid = r.events[2]!.data.object as { no: string };
        expect(paid.no).not.toBe(order.no); // a new order: the first one stays the first charge
        expect(await h.hooks.orders.get(paid.no)).toMatchObject({
          status: 'paid',
          trade_no: up.transactionId,
          origin_no: c.originalTransactionId,
          user_id: userId,
          product_id: PRODUCT_YEARLY,
          amount: 49990,
          currency: 'USD',
          amount_refunded: null,
        });
        expect(await h.hooks.orders.get(order.no)).toMatchObject({ status: 'paid', product_id: PRODUCT });
        expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({
          status: 'active',
          product_id: PRODUCT_YEARLY,
          pending_product_id: null,
          latest_transaction_id: up.transactionId,
        });
        // Apple redelivers: one order, one order.paid.
        const again = await h.post(h.hooks.routes.apple, { signedPayload: r.signedPayload });
        expect(again.body.data).toMatchObject({ duplicate: true });
        expect((await h.store.listEvents({ type: 'order.paid' })).length).toBe(2);
      });
    }

    it('UPGRADE out of order: after a later renewal the upgrade still records its charge (order.paid), state unchanged', async () => {
      const h = await setup();
      const { c, userId } = await subscribed(h);
      const up = c.transaction({ productId: PRODUCT_YEARLY, transactionReason: 'PURCHASE', price: 49990 });
      const renewal = c.transaction({ productId: PRODUCT_YEARLY });
      const late = await h.sign('DID_CHANGE_RENEWAL_PREF', 'UPGRADE', { transaction: up, renewalInfo: c.renewal({ autoRenewProductId: PRODUCT_YEARLY }) });
      const renewed = await h.notify('DID_RENEW', undefined, { transaction: renewal, renewalInfo: c.renewal({ autoRenewProductId: PRODUCT_YEARLY }) });
      expect(types(renewed.events)).toEqual([R, S('renewed'), 'order.paid']);
      const r = await h.post(h.hooks.routes.apple, { signedPayload: late });
      expect(r.status).toBe(200);
      expect(types(r.events)).toEqual([R, 'order.paid']);
      expect(r.events[1]!.data.object).toMatchObject({ trade_no: up.transactionId, amount: 49990, user_id: userId, status: 'paid' });
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({
        latest_transaction_id: renewal.transactionId,
        product_id: PRODUCT_YEARLY,
      });
    });

    it("UPGRADE after the app's client posted its transaction: no second order, no second order.paid", async () => {
      const h = await setup();
      const { c } = await subscribed(h);
      const up = c.transaction({ productId: PRODUCT_YEARLY, transactionReason: 'PURCHASE', price: 49990 });
      const client = await h.post(h.hooks.routes.appleTransactions, { signedTransaction: await h.signer.signTransaction(up) });
      expect(client.status).toBe(200);
      expect(types(client.events)).toContain('order.paid');
      const r = await h.notify('DID_CHANGE_RENEWAL_PREF', 'UPGRADE', { transaction: up, renewalInfo: c.renewal({ autoRenewProductId: PRODUCT_YEARLY }) });
      expect(r.status).toBe(200);
      expect(types(r.events)).not.toContain('order.paid');
      expect((await h.store.listEvents({ type: 'order.paid' })).length).toBe(2);
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({ product_id: PRODUCT_YEARLY, status: 'active' });
    });

    it('DID_CHANGE_RENEWAL_PREF/DOWNGRADE: updated with pending_product_id; then no subtype clears it', async () => {
      const h = await setup();
      const { c, tx } = await subscribed(h);
      const r = await h.notify('DID_CHANGE_RENEWAL_PREF', 'DOWNGRADE', { transaction: tx, renewalInfo: c.renewal({ autoRenewProductId: PRODUCT_BASIC }) });
      expect(types(r.events)).toEqual([R, S('updated')]);
      expect(r.events[1]!.data.previous_attributes).toEqual({ pending_product_id: null });
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({
        status: 'active',
        product_id: PRODUCT,
        pending_product_id: PRODUCT_BASIC,
      });
      const back = await h.notify('DID_CHANGE_RENEWAL_PREF', undefined, { transaction: tx, renewalInfo: c.renewal({ autoRenewProductId: PRODUCT }) });
      expect(types(back.events)).toEqual([R, S('updated')]);
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({ status: 'active', pending_product_id: null });
    });

    it('DID_CHANGE_RENEWAL_STATUS: AUTO_RENEW_DISABLED → canceled; AUTO_RENEW_ENABLED → reactivated', async () => {
      const h = await setup();
      const { c, tx } = await subscribed(h);
      const off = await h.notify('DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_DISABLED', { transaction: tx, renewalInfo: c.renewal({ autoRenewStatus: 0 }) });
      expect(types(off.events)).toEqual([R, S('canceled')]);
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({ status: 'canceled', auto_renew: false });
      expect(off.events[1]!.data.previous_attributes).toMatchObject({ status: 'active', auto_renew: true });
      const on = await h.notify('DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_ENABLED', { transaction: tx, renewalInfo: c.renewal({ autoRenewStatus: 1 }) });
      expect(types(on.events)).toEqual([R, S('reactivated')]);
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({ status: 'active', auto_renew: true });
    });

    it('DID_FAIL_TO_RENEW/GRACE_PERIOD → past_due (in_grace_period); GRACE_PERIOD_EXPIRED → deleted (expired)', async () => {
      const h = await setup();
      const { c, tx } = await subscribed(h);
      const r = await h.notify('DID_FAIL_TO_RENEW', 'GRACE_PERIOD', { transaction: tx, renewalInfo: c.renewal({ gracePeriodExpiresDate: h.now() + 6e8 }) });
      expect(types(r.events)).toEqual([R, S('past_due')]);
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('in_grace_period');
      const end = await h.notify('GRACE_PERIOD_EXPIRED', undefined, { transaction: tx });
      expect(types(end.events)).toEqual([R, S('deleted')]);
      expect((end.events[1]!.data.object as { status: string }).status).toBe('expired');
    });

    it('DID_FAIL_TO_RENEW without subtype → past_due', async () => {
      const h = await setup();
      const { c, tx } = await subscribed(h);
      const r = await h.notify('DID_FAIL_TO_RENEW', undefined, { transaction: tx });
      expect(types(r.events)).toEqual([R, S('past_due')]);
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('past_due');
    });

    for (const subtype of ['VOLUNTARY', 'BILLING_RETRY', 'PRICE_INCREASE', 'PRODUCT_NOT_FOR_SALE']) {
      it(`EXPIRED/${subtype} → deleted; expired`, async () => {
        const h = await setup();
        const { c, tx } = await subscribed(h);
        const r = await h.notify('EXPIRED', subtype, { transaction: tx, renewalInfo: c.renewal({ autoRenewStatus: 0, expirationIntent: 1 }) });
        expect(types(r.events)).toEqual([R, S('deleted')]);
        expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({ status: 'expired', auto_renew: false });
      });
    }

    it('REFUND: order.refunded, deleted; order refunded; status refunded', async () => {
      const h = await setup();
      const { c, tx, order } = await subscribed(h);
      const r = await h.notify('REFUND', undefined, { transaction: { ...tx, revocationDate: h.now(), revocationReason: 0, revocationType: 'REFUND_FULL' } });
      expect(types(r.events)).toEqual([R, 'order.refunded', S('deleted')]);
      expect(await h.hooks.orders.get(order.no)).toMatchObject({ status: 'refunded', amount: 9990, amount_refunded: 9990, refund_reason: 'other' });
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('refunded');
    });

    it('REFUND/REFUND_PRORATED: order.refunded only; order partially_refunded with amount_refunded = price × percentage / 100000; subscription goes on', async () => {
      const h = await setup();
      const { c, tx, order } = await subscribed(h);
      // 9990 × 33333 / 100000 = 3329.9667 → 3330 (rounded half up to the milliunit)
      const r = await h.notify('REFUND', undefined, {
        transaction: { ...tx, revocationDate: h.now(), revocationReason: 1, revocationType: 'REFUND_PRORATED', revocationPercentage: 33333 },
      });
      expect(r.status).toBe(200);
      expect(types(r.events)).toEqual([R, 'order.refunded']);
      expect(r.events[1]!.data.object).toMatchObject({ status: 'partially_refunded', amount_refunded: 3330, refund_reason: 'app_issue' });
      expect(await h.hooks.orders.get(order.no)).toMatchObject({
        status: 'partially_refunded',
        amount: 9990,
        amount_refunded: 3330,
        refund_reason: 'app_issue',
      });
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({ status: 'active', auto_renew: true });
      // A later full refund of the same transaction: all of it, and the subscription ends.
      const full = await h.notify('REFUND', undefined, { transaction: { ...tx, revocationDate: h.now(), revocationReason: 1, revocationType: 'REFUND_FULL' } });
      expect(types(full.events)).toEqual([R, 'order.refunded', S('deleted')]);
      expect(await h.hooks.orders.get(order.no)).toMatchObject({ status: 'refunded', amount_refunded: 9990 });
      // A prorated refund arriving after the full one (out of order) does not undo it.
      const lateProrated = await h.notify('REFUND', undefined, {
        transaction: { ...tx, revocationDate: h.now(), revocationType: 'REFUND_PRORATED', revocationPercentage: 10000 },
      });
      expect(lateProrated.status).toBe(200);
      expect(await h.hooks.orders.get(order.no)).toMatchObject({ status: 'refunded', amount_refunded: 9990 });
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('refunded');
    });

    it('REFUND_PRORATED out of order: the refund arrives before the purchase; the order is recorded partially refunded and the late purchase pays nothing twice', async () => {
      const h = await setup();
      const order = await h.hooks.orders.create({ userId: 'u-prorated', productId: PRODUCT });
      const c = h.contract({ appAccountToken: order.no });
      const tx = c.transaction();
      const purchase = await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: tx, renewalInfo: c.renewal() });
      const refund = await h.notify('REFUND', undefined, {
        transaction: { ...tx, revocationDate: h.now(), revocationType: 'REFUND_PRORATED', revocationPercentage: 50000 },
      });
      expect(refund.status).toBe(200);
      expect(types(refund.events)).toEqual([R, S('created'), 'order.refunded']);
      expect(await h.hooks.orders.get(order.no)).toMatchObject({ status: 'partially_refunded', amount: 9990, amount_refunded: 4995, user_id: 'u-prorated' });
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('active');
      const late = await h.post(h.hooks.routes.apple, { signedPayload: purchase });
      expect(late.status).toBe(200);
      expect(types(late.events)).not.toContain('order.paid');
      expect(await h.hooks.orders.get(order.no)).toMatchObject({ status: 'partially_refunded', amount_refunded: 4995 });
      expect((await h.store.listEvents({ type: 'order.paid' })).length).toBe(0);
    });

    it('REVOKE: order.refunded, deleted; order revoked; status revoked', async () => {
      const h = await setup();
      const { c, tx, order } = await subscribed(h);
      const r = await h.notify('REVOKE', undefined, { transaction: { ...tx, revocationDate: h.now() } });
      expect(types(r.events)).toEqual([R, 'order.refunded', S('deleted')]);
      expect((await h.hooks.orders.get(order.no))?.status).toBe('revoked');
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('revoked');
    });

    it('REFUND_DECLINED: refund.declined; state unchanged', async () => {
      const h = await setup();
      const { c, tx, order } = await subscribed(h);
      const r = await h.notify('REFUND_DECLINED', undefined, { transaction: tx });
      expect(types(r.events)).toEqual([R, 'refund.declined']);
      expect((await h.hooks.orders.get(order.no))?.status).toBe('paid');
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('active');
    });

    it('REFUND_REVERSED after a refund: refund.reversed, started; active again, order paid', async () => {
      const h = await setup();
      const { c, tx, order } = await subscribed(h);
      await h.notify('REFUND', undefined, { transaction: tx });
      expect((await h.hooks.orders.get(order.no))?.amount_refunded).toBe(9990);
      const r = await h.notify('REFUND_REVERSED', undefined, { transaction: tx });
      expect(types(r.events)).toEqual([R, 'refund.reversed', S('started')]);
      expect(await h.hooks.orders.get(order.no)).toMatchObject({ status: 'paid', amount_refunded: null });
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('active');
    });

    it('CONSUMPTION_REQUEST: refund.requested; unchanged', async () => {
      const h = await setup();
      const { c, tx } = await subscribed(h);
      const r = await h.notify('CONSUMPTION_REQUEST', undefined, { transaction: tx });
      expect(types(r.events)).toEqual([R, 'refund.requested']);
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.status).toBe('active');
    });

    for (const [type, subtype] of [
      ['PRICE_INCREASE', 'PENDING'],
      ['PRICE_INCREASE', 'ACCEPTED'],
      ['RENEWAL_EXTENDED', undefined],
      ['RENEWAL_EXTENSION', 'FAILURE'],
      ['OFFER_REDEEMED', undefined],
    ] as const) {
      it(`${type}${subtype ? `/${subtype}` : ''}: updated; status unchanged`, async () => {
        const h = await setup();
        const { c, tx } = await subscribed(h);
        const extended = type === 'RENEWAL_EXTENDED' ? { ...tx, expiresDate: tx.expiresDate + 7 * 86_400_000 } : tx;
        const r = await h.notify(type, subtype, { transaction: extended, renewalInfo: c.renewal() });
        expect(types(r.events)).toEqual([R, S('updated')]);
        const sub = await h.hooks.subscriptions.get(c.originalTransactionId);
        expect(sub?.status).toBe('active');
        if (type === 'RENEWAL_EXTENDED') {
          expect(sub?.current_period_end).toBe(new Date(extended.expiresDate).toISOString());
          expect(r.events[1]!.data.previous_attributes).toMatchObject({ current_period_end: new Date(tx.expiresDate).toISOString() });
        }
      });
    }

    it('RENEWAL_EXTENSION/SUMMARY (no single subscription): received only', async () => {
      const h = await setup();
      const r = await h.notify('RENEWAL_EXTENSION', 'SUMMARY', undefined, {
        extra: {
          summary: {
            requestIdentifier: 'req-1',
            environment: 'Production',
            appAppleId: 1234567890,
            bundleId: 'com.example.app',
            productId: PRODUCT,
            storefrontCountryCodes: ['USA'],
            succeededCount: 10,
            failedCount: 0,
          },
        },
      });
      expect(r.status).toBe(200);
      expect(types(r.events)).toEqual([R]);
    });

    it('ONE_TIME_CHARGE: order.paid, no subscription', async () => {
      const h = await setup();
      const order = await h.hooks.orders.create({ userId: 'u-coins', productId: 'com.example.coins100' });
      const c = h.contract({ productId: 'com.example.coins100', appAccountToken: order.no });
      const tx = c.transaction({ type: 'Consumable', expiresDate: undefined });
      const r = await h.notify('ONE_TIME_CHARGE', undefined, { transaction: tx });
      expect(types(r.events)).toEqual([R, 'order.paid']);
      expect(await h.hooks.orders.get(order.no)).toMatchObject({ status: 'paid', trade_no: tx.transactionId, user_id: 'u-coins' });
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toBeNull();
    });

    it('TEST: test.notification', async () => {
      const h = await setup();
      const r = await h.notify('TEST', undefined, {});
      expect(r.status).toBe(200);
      expect(types(r.events)).toEqual([R, 'test.notification']);
    });

    for (const type of ['EXTERNAL_PURCHASE_TOKEN', 'METADATA_UPDATE', 'MIGRATION', 'PRICE_CHANGE', 'RESCIND_CONSENT', 'SOME_FUTURE_TYPE']) {
      it(`${type}: provider.notification.received only; state unchanged`, async () => {
        const h = await setup();
        const { c, tx } = await subscribed(h);
        const before = await h.hooks.subscriptions.get(c.originalTransactionId);
        const data = type === 'EXTERNAL_PURCHASE_TOKEN' || type === 'RESCIND_CONSENT' ? undefined : { transaction: tx };
        const extra =
          type === 'EXTERNAL_PURCHASE_TOKEN'
            ? { externalPurchaseToken: { externalPurchaseId: 'x1', tokenCreationDate: h.now(), appAppleId: 1234567890, bundleId: 'com.example.app' } }
            : type === 'RESCIND_CONSENT'
              ? { appData: { appAppleId: 1234567890, bundleId: 'com.example.app', environment: 'Production' } }
              : {};
        const r = await h.notify(type, type === 'SOME_FUTURE_TYPE' ? 'SOME_FUTURE_SUBTYPE' : undefined, data, { extra });
        expect(r.status).toBe(200);
        expect(r.body.data.processed).toBe(true);
        expect(types(r.events)).toEqual([R]);
        const after = await h.hooks.subscriptions.get(c.originalTransactionId);
        expect(after?.status).toBe(before?.status);
        expect(after?.product_id).toBe(before?.product_id);
      });
    }

    it('a notification for a contract never seen before creates it first', async () => {
      const h = await setup();
      const c = h.contract();
      const r = await h.notify('DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_DISABLED', {
        transaction: c.transaction(),
        renewalInfo: c.renewal({ autoRenewStatus: 0 }),
      });
      expect(types(r.events)).toEqual([R, S('created'), S('canceled')]);
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({ status: 'canceled', auto_renew: false });
    });

    it('a redelivered notification answers 200 duplicate:true, records one inbox row and emits nothing', async () => {
      const h = await setup();
      const { r } = await subscribed(h);
      const inboxBefore = await h.store.countNotifications('apple');
      const again = await h.post(h.hooks.routes.apple, { signedPayload: r.signedPayload });
      expect(again.status).toBe(200);
      expect(again.body).toMatchObject({ code: 200, data: { processed: true, duplicate: true, notificationUUID: r.body.data.notificationUUID } });
      expect(again.events).toEqual([]);
      expect(await h.store.countNotifications('apple')).toBe(inboxBefore);
      expect((await h.store.listEvents()).length).toBe(4);
    });

    it('concurrent redeliveries of one notification commit exactly one set of events', async () => {
      const h = await setup();
      const order = await h.hooks.orders.create({ userId: 'u-race', productId: PRODUCT });
      const c = h.contract({ appAccountToken: order.no });
      const signedPayload = await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction() });
      const results = await Promise.all(Array.from({ length: 8 }, () => h.post(h.hooks.routes.apple, { signedPayload })));
      expect(results.map((x) => x.status)).toEqual(Array(8).fill(200));
      expect(results.filter((x) => x.body.data.duplicate !== true)).toHaveLength(1);
      expect(types(await h.store.listEvents())).toEqual([R, S('created'), S('started'), 'order.paid']);
    });

    it('out of order: an older notification after a newer one is acknowledged and changes nothing', async () => {
      const h = await setup();
      const { c, tx } = await subscribed(h);
      const older = h.tick();
      const expired = await h.notify('EXPIRED', 'VOLUNTARY', { transaction: tx });
      expect(types(expired.events)).toEqual([R, S('deleted')]);
      const late = await h.notify('DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_ENABLED', { transaction: tx, renewalInfo: c.renewal() }, { signedDate: older });
      expect(late.status).toBe(200);
      expect(late.body.data.processed).toBe(true);
      expect(types(late.events)).toEqual([R]);
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({ status: 'expired', auto_renew: false });
      expect(await h.store.getNotification('apple', late.body.data.notificationUUID as string)).not.toBeNull();
    });

    it('out of order: the renewal arrives before the purchase; the late purchase records its paid order only', async () => {
      const h = await setup();
      const order = await h.hooks.orders.create({ userId: 'u-ooo', productId: PRODUCT });
      const c = h.contract({ appAccountToken: order.no });
      const t1 = c.transaction();
      const t2 = c.transaction();
      const first = await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: t1 });
      const renew = await h.notify('DID_RENEW', undefined, { transaction: t2 });
      expect(types(renew.events)).toEqual([R, S('created'), S('renewed'), 'order.paid']);
      const late = await h.post(h.hooks.routes.apple, { signedPayload: first });
      expect(late.status).toBe(200);
      expect(types(late.events)).toEqual([R, 'order.paid']);
      expect(await h.hooks.orders.get(order.no)).toMatchObject({ status: 'paid', trade_no: t1.transactionId });
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toMatchObject({
        status: 'active',
        latest_transaction_id: t2.transactionId,
        user_id: 'u-ooo',
      });
    });

    it("client transaction route: the app's client sends the purchase first; the later SUBSCRIBED adds nothing", async () => {
      const h = await setup();
      const order = await h.hooks.orders.create({ userId: 'u-client', productId: PRODUCT });
      const c = h.contract({ appAccountToken: order.no });
      const tx = c.transaction();
      const signedTransaction = await h.signer.signTransaction(tx);
      const first = await h.post(h.hooks.routes.appleTransactions, { signedTransaction });
      expect(first.status).toBe(200);
      // An anonymous post (no getUserId here) learns the state, never who owns the purchase.
      expect(first.body.data).toMatchObject({ processed: true, transactionId: tx.transactionId, userId: null, status: 'active' });
      expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.user_id).toBe('u-client');
      expect(types(first.events)).toEqual([R, S('created'), S('started'), 'order.paid']);
      const again = await h.post(h.hooks.routes.appleTransactions, { signedTransaction });
      expect(again.body.data).toMatchObject({ duplicate: true, status: 'active' });
      expect(again.events).toEqual([]);
      const server = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: tx, renewalInfo: c.renewal() });
      expect(server.status).toBe(200);
      expect(types(server.events)).toEqual([R]);
      expect((await h.store.listEvents({ type: 'order.paid' })).length).toBe(1);
    });

    it('a throwing subscriber is logged and never changes the answer', async () => {
      const h = await setup();
      h.hooks.bus.subscribe('customer.subscription.started', () => {
        throw new Error('boom');
      });
      const { r } = await subscribed(h);
      expect(r.status).toBe(200);
      expect(h.logger.errors).toContain('event subscriber failed');
    });

    it('a forged notification (another chain) is rejected with 400 and leaves no row and no event', async () => {
      const h = await setup();
      const { createAppleTestSigner } = await import('../../../src/testing/apple-signer.js');
      const attacker = await createAppleTestSigner({ bundleId: 'com.example.app', appAppleId: 1234567890, environment: 'Production' });
      const c = h.contract();
      const signedPayload = await attacker.signNotification({
        notificationType: 'SUBSCRIBED',
        subtype: 'INITIAL_BUY',
        data: { transaction: c.transaction() },
      } as never);
      const r = await h.post(h.hooks.routes.apple, { signedPayload });
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ code: 400, data: { processed: false, error: 'CERT_CHAIN_INVALID' } });
      expect(r.events).toEqual([]);
      expect(await h.store.countNotifications()).toBe(0);
      expect(await h.hooks.subscriptions.get(c.originalTransactionId)).toBeNull();
    });
  });
}
