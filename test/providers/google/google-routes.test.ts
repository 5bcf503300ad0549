/**
 * Google Play Real-time developer notifications through real Express over HTTP, on every store, against the
 * local stand-ins for Google's JWKS, OAuth token endpoint and Play Developer API: every notification type's
 * events and state, duplicates, out of order, the API failing (5xx, 429) and retried, acknowledgements
 * retried after a failure, and an upgrade through `linkedPurchaseToken` kept on one contract.
 */
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Order } from '../../../src/index.js';
import { createGooglePlayTestKit, type GooglePlayTestKit } from '../../../src/testing/index.js';
import { EVERY_STORE } from '../../helpers/databases.js';
import { googleHarness, PRODUCT, PRODUCT_PREMIUM, R, S, types, uniq, type GoogleHarness } from '../../helpers/google-harness.js';
import { webhookReceiver } from '../../helpers/webhook-receiver.js';

const DAY = 86_400_000;

for (const [name, make] of EVERY_STORE) {
  describe(`Google Play RTDN through Express (${name})`, () => {
    let kit: GooglePlayTestKit;
    const open: { close: () => Promise<void> }[] = [];
    beforeAll(async () => {
      kit = await createGooglePlayTestKit();
    });
    afterAll(async () => {
      await kit.close();
    });
    afterEach(async () => {
      await Promise.all(open.splice(0).map((d) => d.close()));
    });
    async function setup(config: NonNullable<Parameters<typeof googleHarness>[0]>['config'] = {}): Promise<GoogleHarness> {
      const db = await make();
      open.push(db);
      return googleHarness({ store: db.store, kit, config });
    }
    const orderOf = async (h: GoogleHarness, tradeNo: string): Promise<Order | null> => h.store.transaction((tx) => tx.getOrderByTradeNo('google', tradeNo));

    it("SUBSCRIPTION_PURCHASED: created, started, order.paid; the app's order (obfuscatedExternalAccountId) is claimed; acknowledged after the commit", async () => {
      const h = await setup();
      const order = await h.hooks.orders.create({ userId: 'u1', productId: PRODUCT, provider: 'google' });
      const token = uniq('tok');
      const orderId = uniq('GPA');
      const r = await h.notify('SUBSCRIPTION_PURCHASED', token, {
        productId: PRODUCT,
        orderId,
        accountId: order.no,
        price: { units: '9', nanos: 990_000_000, currencyCode: 'USD' },
      });
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ processed: true, notificationType: 'SUBSCRIPTION_PURCHASED' });
      expect(types(r.events)).toEqual([R, S('created'), S('started'), 'order.paid']);
      expect(r.events.every((e) => e.provider === 'google' && e.livemode)).toBe(true);
      const s = await h.sub(token);
      expect(s).toMatchObject({
        provider: 'google',
        contract_id: token,
        user_id: 'u1',
        product_id: PRODUCT,
        status: 'active',
        auto_renew: true,
        latest_transaction_id: orderId,
      });
      const paid = await h.hooks.orders.get(order.no);
      expect(paid).toMatchObject({ status: 'paid', trade_no: orderId, origin_no: token, user_id: 'u1', amount: 9990, currency: 'USD' });
      expect(kit.acknowledged).not.toContain(`subscription:${PRODUCT}:${token}`);
      await h.hooks.delivery.runOnce();
      expect(kit.acknowledged).toContain(`subscription:${PRODUCT}:${token}`);
    });

    it('every subscription notification type maps onto the lifecycle events and status', async () => {
      const h = await setup();
      const token = uniq('tok');
      const start = Date.now();
      const o1 = uniq('GPA');
      const base = { productId: PRODUCT, orderId: o1, startTime: start, expiryTime: start + 30 * DAY, acknowledged: true };
      const steps: Array<[string, Parameters<GoogleHarness['notify']>[2], string[], string]> = [
        ['SUBSCRIPTION_PURCHASED', base, [R, S('created'), S('started'), 'order.paid'], 'active'],
        ['SUBSCRIPTION_CANCELED', { ...base, state: 'SUBSCRIPTION_STATE_CANCELED' }, [R, S('canceled')], 'canceled'],
        ['SUBSCRIPTION_RESTARTED', base, [R, S('reactivated')], 'active'],
        ['SUBSCRIPTION_RENEWED', { ...base, orderId: `${o1}..0`, expiryTime: start + 60 * DAY }, [R, S('renewed'), 'order.paid'], 'active'],
        [
          'SUBSCRIPTION_IN_GRACE_PERIOD',
          { ...base, orderId: `${o1}..0`, state: 'SUBSCRIPTION_STATE_IN_GRACE_PERIOD', expiryTime: start + 63 * DAY },
          [R, S('past_due')],
          'in_grace_period',
        ],
        [
          'SUBSCRIPTION_ON_HOLD',
          { ...base, orderId: `${o1}..0`, state: 'SUBSCRIPTION_STATE_ON_HOLD', expiryTime: start + 60 * DAY },
          [R, S('past_due')],
          'past_due',
        ],
        ['SUBSCRIPTION_RECOVERED', { ...base, orderId: `${o1}..1`, expiryTime: start + 90 * DAY }, [R, S('recovered'), S('renewed'), 'order.paid'], 'active'],
        ['SUBSCRIPTION_PRICE_CHANGE_CONFIRMED', { ...base, orderId: `${o1}..1`, expiryTime: start + 90 * DAY }, [R, S('updated')], 'active'],
        ['SUBSCRIPTION_PRICE_CHANGE_UPDATED', { ...base, orderId: `${o1}..1`, expiryTime: start + 90 * DAY }, [R, S('updated')], 'active'],
        ['SUBSCRIPTION_DEFERRED', { ...base, orderId: `${o1}..1`, expiryTime: start + 120 * DAY }, [R, S('updated')], 'active'],
        ['SUBSCRIPTION_PAUSE_SCHEDULE_CHANGED', { ...base, orderId: `${o1}..1`, expiryTime: start + 120 * DAY }, [R, S('updated')], 'active'],
        [
          'SUBSCRIPTION_PAUSED',
          { ...base, orderId: `${o1}..1`, state: 'SUBSCRIPTION_STATE_PAUSED', expiryTime: start + 120 * DAY },
          [R, S('deleted')],
          'expired',
        ],
        ['SUBSCRIPTION_RENEWED', { ...base, orderId: `${o1}..2`, expiryTime: start + 150 * DAY }, [R, S('started'), 'order.paid'], 'active'],
        [
          'SUBSCRIPTION_REVOKED',
          { ...base, orderId: `${o1}..2`, state: 'SUBSCRIPTION_STATE_EXPIRED', expiryTime: start + 150 * DAY },
          [R, S('deleted')],
          'revoked',
        ],
        ['SUBSCRIPTION_EXPIRED', { ...base, orderId: `${o1}..2`, state: 'SUBSCRIPTION_STATE_EXPIRED', expiryTime: start + 150 * DAY }, [R], 'revoked'],
      ];
      for (const [type, purchase, expected, status] of steps) {
        const r = await h.notify(type, token, purchase);
        expect(r.status, type).toBe(200);
        expect(types(r.events), type).toEqual(expected);
        expect((await h.sub(token))?.status, type).toBe(status);
      }
      const s = await h.sub(token);
      expect(s?.current_period_end).toBe(new Date(start + 150 * DAY).toISOString());
      // One order per orderId: the purchase and three renewals.
      for (const id of [o1, `${o1}..0`, `${o1}..1`, `${o1}..2`]) expect((await orderOf(h, id))?.status, id).toBe('paid');
    });

    it('grace period: in_grace_period with grace_period_expires_at; expiry straight from purchase: deleted', async () => {
      const h = await setup();
      const token = uniq('tok');
      const now = Date.now();
      await h.notify('SUBSCRIPTION_PURCHASED', token, { productId: PRODUCT, orderId: uniq('GPA'), acknowledged: true });
      await h.notify('SUBSCRIPTION_IN_GRACE_PERIOD', token, {
        productId: PRODUCT,
        state: 'SUBSCRIPTION_STATE_IN_GRACE_PERIOD',
        expiryTime: now + 3 * DAY,
        acknowledged: true,
      });
      expect((await h.sub(token))?.metadata.grace_period_expires_at).toBe(new Date(now + 3 * DAY).toISOString());
      const r = await h.notify('SUBSCRIPTION_EXPIRED', token, {
        productId: PRODUCT,
        state: 'SUBSCRIPTION_STATE_EXPIRED',
        expiryTime: now - 1000,
        acknowledged: true,
      });
      expect(types(r.events)).toEqual([R, S('deleted')]);
      expect((await h.sub(token))?.metadata.grace_period_expires_at).toBeUndefined();
    });

    it('a canceled subscription whose period already ended is deleted, not canceled', async () => {
      const h = await setup();
      const token = uniq('tok');
      await h.notify('SUBSCRIPTION_PURCHASED', token, { productId: PRODUCT, orderId: uniq('GPA'), acknowledged: true });
      const r = await h.notify('SUBSCRIPTION_CANCELED', token, {
        productId: PRODUCT,
        state: 'SUBSCRIPTION_STATE_CANCELED',
        expiryTime: Date.now() - 1000,
        acknowledged: true,
      });
      expect(types(r.events)).toEqual([R, S('deleted')]);
      expect((await h.sub(token))?.status).toBe('expired');
    });

    it('a redelivered message (same messageId) answers 200 duplicate, asks Google nothing and records nothing', async () => {
      const h = await setup();
      const token = uniq('tok');
      kit.setSubscription(token, kit.subscriptionPurchase({ productId: PRODUCT, orderId: uniq('GPA') }));
      const push = await kit.push(kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', token));
      const first = await h.post(push);
      expect(first.status).toBe(200);
      const inbox = await h.store.countNotifications('google');
      const events = (await h.store.listEvents()).length;
      const calls = kit.seen.length;
      for (let i = 0; i < 3; i++) {
        const again = await h.post(push);
        expect(again.status).toBe(200);
        expect(again.body).toMatchObject({ duplicate: true, messageId: push.messageId });
        expect(again.events).toEqual([]);
      }
      expect(await h.store.countNotifications('google')).toBe(inbox);
      expect((await h.store.listEvents()).length).toBe(events);
      expect(kit.seen.slice(calls).filter((s) => s.path.includes('androidpublisher'))).toEqual([]);
    });

    it('two messages about one renewal (two messageIds) pay it once', async () => {
      const h = await setup();
      const token = uniq('tok');
      const orderId = uniq('GPA');
      await h.notify('SUBSCRIPTION_PURCHASED', token, { productId: PRODUCT, orderId, acknowledged: true });
      const renewal = { productId: PRODUCT, orderId: `${orderId}..0`, expiryTime: Date.now() + 60 * DAY, acknowledged: true };
      const a = await h.notify('SUBSCRIPTION_RENEWED', token, renewal);
      const b = await h.notify('SUBSCRIPTION_RENEWED', token, renewal);
      expect(types(a.events)).toEqual([R, S('renewed'), 'order.paid']);
      expect(types(b.events)).toEqual([R]);
      expect((await h.store.listEvents({ type: 'order.paid' })).filter((e) => (e.data.object as Order).trade_no === `${orderId}..0`)).toHaveLength(1);
    });

    it('out of order: a CANCELED delivered after RESTARTED, read when Google says active, cancels nothing', async () => {
      const h = await setup();
      const token = uniq('tok');
      const purchase = { productId: PRODUCT, orderId: uniq('GPA'), acknowledged: true, startTime: Date.now(), expiryTime: Date.now() + 30 * DAY };
      await h.notify('SUBSCRIPTION_PURCHASED', token, purchase);
      // Google already holds the restarted state when the late CANCELED is read.
      const late = await h.notify('SUBSCRIPTION_CANCELED', token, purchase);
      expect(types(late.events)).toEqual([R]);
      expect((await h.sub(token))?.status).toBe('active');
    });

    it('out of order: a renewal delivered before its purchase pays each order once, and the purchase adds no second start', async () => {
      const h = await setup();
      const token = uniq('tok');
      const orderId = uniq('GPA');
      const renewed = await h.notify('SUBSCRIPTION_RENEWED', token, { productId: PRODUCT, orderId: `${orderId}..0`, acknowledged: true });
      expect(types(renewed.events)).toEqual([R, S('created'), S('started'), 'order.paid']);
      // The purchase's message, read now, sees the same state (latest order = the renewal): nothing new.
      const purchased = await h.post(kit.push(kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', token)));
      expect(types(purchased.events)).toEqual([R]);
      expect((await h.store.listEvents({ type: 'order.paid' })).filter((e) => (e.data.object as Order).origin_no === token)).toHaveLength(1);
    });

    it("upgrade through linkedPurchaseToken: one contract, upgraded + order.paid; the replaced token's end ends nothing; a later renewal of the new token stays on the contract", async () => {
      const h = await setup();
      const old = uniq('tok');
      const next = uniq('tok');
      const o1 = uniq('GPA');
      const o2 = uniq('GPA');
      await h.notify('SUBSCRIPTION_PURCHASED', old, { productId: PRODUCT, orderId: o1, acknowledged: true });
      const up = await h.notify('SUBSCRIPTION_PURCHASED', next, { productId: PRODUCT_PREMIUM, orderId: o2, linkedPurchaseToken: old });
      expect(up.status).toBe(200);
      expect(types(up.events)).toEqual([R, S('upgraded'), 'order.paid']);
      expect(up.events[1]!.data.previous_attributes).toEqual({ product_id: PRODUCT });
      const s = await h.sub(old);
      expect(s).toMatchObject({ contract_id: old, product_id: PRODUCT_PREMIUM, status: 'active', latest_transaction_id: o2 });
      expect(s?.metadata.google_purchase_token).toBe(next);
      expect(await h.sub(next)).toBeNull();
      expect((await h.store.listSubscriptions({ provider: 'google' })).filter((x) => x.contract_id === old || x.contract_id === next)).toHaveLength(1);
      // Google expires the replaced token.
      const ended = await h.notify('SUBSCRIPTION_EXPIRED', old, {
        productId: PRODUCT,
        orderId: o1,
        state: 'SUBSCRIPTION_STATE_EXPIRED',
        expiryTime: Date.now() - 1000,
        replaced: true,
        acknowledged: true,
      });
      expect(types(ended.events)).toEqual([R]);
      expect((await h.sub(old))?.status).toBe('active');
      const renewed = await h.notify('SUBSCRIPTION_RENEWED', next, {
        productId: PRODUCT_PREMIUM,
        orderId: `${o2}..0`,
        linkedPurchaseToken: old,
        expiryTime: Date.now() + 60 * DAY,
        acknowledged: true,
      });
      expect(types(renewed.events)).toEqual([R, S('renewed'), 'order.paid']);
      expect((await orderOf(h, `${o2}..0`))?.origin_no).toBe(old);
      // A second upgrade in the chain (linked to the second token) still finds the first contract.
      const third = uniq('tok');
      const again = await h.notify('SUBSCRIPTION_PURCHASED', third, {
        productId: PRODUCT,
        orderId: uniq('GPA'),
        linkedPurchaseToken: next,
        acknowledged: true,
      });
      expect(types(again.events)).toEqual([R, S('upgraded'), 'order.paid']);
      expect((await h.sub(old))?.metadata.google_purchase_token).toBe(third);
    });

    it('voidedPurchaseNotification: order.refunded with the reason; a redelivery refunds nothing twice', async () => {
      const h = await setup();
      const token = uniq('tok');
      const orderId = uniq('GPA');
      await h.notify('SUBSCRIPTION_PURCHASED', token, { productId: PRODUCT, orderId, acknowledged: true, price: { units: '4', currencyCode: 'EUR' } });
      const voided = { voidedPurchaseNotification: { purchaseToken: token, orderId, productType: 1, refundType: 1 } };
      const r = await h.post(kit.push(voided));
      expect(types(r.events)).toEqual([R, 'order.refunded']);
      expect(r.events[1]!.data.object).toMatchObject({ trade_no: orderId, status: 'refunded', amount_refunded: 4000, refund_reason: 'full_refund' });
      const again = await h.post(kit.push(voided));
      expect(types(again.events)).toEqual([R]);
    });

    it('voidedPurchaseNotification: the reason and who voided it come from the Voided Purchases API; without its answer, from refundType', async () => {
      const h = await setup();
      const token = uniq('tok');
      const orderId = uniq('GPA');
      const renewalId = `${orderId}..0`;
      await h.notify('SUBSCRIPTION_PURCHASED', token, { productId: PRODUCT, orderId, acknowledged: true, price: { units: '4', currencyCode: 'EUR' } });
      // Google lists the chargeback of the first order (and another purchase's refund).
      kit.setVoidedPurchase({ purchaseToken: uniq('tok'), orderId: uniq('GPA'), voidedReason: 1 });
      kit.setVoidedPurchase({ purchaseToken: token, orderId, voidedReason: 7, voidedSource: 2 });
      const r = await h.post(kit.push({ voidedPurchaseNotification: { purchaseToken: token, orderId, productType: 1, refundType: 1 } }));
      expect(types(r.events)).toEqual([R, 'order.refunded']);
      expect(r.events[1]!.data.object).toMatchObject({ trade_no: orderId, refund_reason: 'chargeback', metadata: { google_voided_source: 'google' } });
      expect(r.events[0]!.data.object).toMatchObject({ voidedPurchase: { orderId, voidedReason: 7, voidedSource: 2 } });
      expect(kit.seen.some((x) => x.path.endsWith('/purchases/voidedpurchases') && x.status === 200)).toBe(true);
      // The API refuses (the service account lacks the financial data permission): the refund is still recorded.
      await h.notify('SUBSCRIPTION_RENEWED', token, { productId: PRODUCT, orderId: renewalId, acknowledged: true });
      kit.setVoidedPurchase({ purchaseToken: token, orderId: renewalId, voidedReason: 1, voidedSource: 0 });
      kit.script({ status: 403, match: 'voidedpurchases' });
      const refused = await h.post(kit.push({ voidedPurchaseNotification: { purchaseToken: token, orderId: renewalId, productType: 1, refundType: 1 } }));
      expect(refused.status).toBe(200);
      expect(refused.events[1]!.data.object).toMatchObject({ trade_no: renewalId, status: 'refunded', refund_reason: 'full_refund' });
      expect(h.logger.warnings.some((w) => w.includes('Voided Purchases API failed'))).toBe(true);
    });

    it('voidedPurchaseNotification of a quantity-based partial refund of a one-time product: the reason, the voided quantity, who voided it', async () => {
      const h = await setup();
      const token = uniq('tok');
      const orderId = uniq('GPA');
      kit.setVoidedPurchase({ purchaseToken: token, orderId, voidedReason: 0, voidedSource: 1, voidedQuantity: 2, productType: 2 });
      const r = await h.post(kit.push({ voidedPurchaseNotification: { purchaseToken: token, orderId, productType: 2, refundType: 2 } }));
      expect(r.events[1]!.data.object).toMatchObject({
        trade_no: orderId,
        refund_reason: 'other',
        metadata: { google_voided_source: 'developer', google_voided_quantity: 2 },
      });
    });

    it('oneTimeProductNotification: order.paid once, acknowledged; canceled pending purchase: nothing paid', async () => {
      const h = await setup();
      const token = uniq('tok');
      const orderId = uniq('GPA');
      kit.setProduct('coins_100', token, {
        purchaseState: 0,
        acknowledgementState: 0,
        orderId,
        purchaseTimeMillis: String(Date.now()),
        productId: 'coins_100',
      });
      const r = await h.post(kit.push({ oneTimeProductNotification: { version: '1.0', notificationType: 1, purchaseToken: token, sku: 'coins_100' } }));
      expect(types(r.events)).toEqual([R, 'order.paid']);
      expect(r.events[1]!.data.object).toMatchObject({ trade_no: orderId, product_id: 'coins_100', status: 'paid', provider: 'google' });
      await h.hooks.delivery.runOnce();
      expect(kit.acknowledged).toContain(`product:coins_100:${token}`);
      const again = await h.post(kit.push({ oneTimeProductNotification: { version: '1.0', notificationType: 1, purchaseToken: token, sku: 'coins_100' } }));
      expect(types(again.events)).toEqual([R]);
      const pending = uniq('tok');
      kit.setProduct('coins_100', pending, { purchaseState: 1, acknowledgementState: 0 });
      const canceled = await h.post(
        kit.push({ oneTimeProductNotification: { version: '1.0', notificationType: 2, purchaseToken: pending, sku: 'coins_100' } }),
      );
      expect(types(canceled.events)).toEqual([R]);
    });

    it('testNotification: test.notification; a test purchase is livemode false', async () => {
      const h = await setup();
      const r = await h.post(kit.push({ testNotification: { version: '1.0' } }));
      expect(r.status).toBe(200);
      expect(types(r.events)).toEqual([R, 'test.notification']);
      const token = uniq('tok');
      const t = await h.notify('SUBSCRIPTION_PURCHASED', token, { productId: PRODUCT, orderId: uniq('GPA'), test: true, acknowledged: true });
      expect(t.events.every((e) => !e.livemode)).toBe(true);
      expect((await h.sub(token))?.environment).toBe('Sandbox');
    });

    it('the Play Developer API failing with 5xx, then 429 with Retry-After: retried within the push; still failing: 503 and nothing recorded, so Pub/Sub redelivers', async () => {
      const h = await setup();
      const token = uniq('tok');
      kit.setSubscription(token, kit.subscriptionPurchase({ productId: PRODUCT, orderId: uniq('GPA'), acknowledged: true }));
      kit.script({ status: 503, match: `subscriptionsv2/tokens/${token}` });
      kit.script({ status: 429, match: `subscriptionsv2/tokens/${token}`, headers: { 'retry-after': '1' } });
      const ok = await h.post(kit.push(kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', token)));
      expect(ok.status).toBe(200);
      expect(types(ok.events)).toEqual([R, S('created'), S('started'), 'order.paid']);
      expect(kit.seen.filter((s) => s.path.endsWith(`subscriptionsv2/tokens/${token}`)).map((s) => s.status)).toEqual([503, 429, 200]);

      const down = uniq('tok');
      kit.setSubscription(down, kit.subscriptionPurchase({ productId: PRODUCT, orderId: uniq('GPA') }));
      kit.script({ status: 500, match: `subscriptionsv2/tokens/${down}`, times: 4 });
      const push = await kit.push(kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', down));
      const failed = await h.post(push);
      expect(failed.status).toBe(503);
      expect(failed.body.error?.code).toBe('GOOGLE_API_UNAVAILABLE');
      expect(await h.store.getNotification('google', push.messageId)).toBeNull();
      expect(await h.sub(down)).toBeNull();
      // Pub/Sub redelivers the same message: now it goes through.
      const retried = await h.post(push);
      expect(retried.status).toBe(200);
      expect((await h.sub(down))?.status).toBe('active');
    }, 60_000);

    it('acknowledgement retried after a failure, and not sent again once done', async () => {
      let clock = Date.now();
      const h = await setup({ delivery: { now: () => clock, retrySchedule: [1000, 1000] } });
      const token = uniq('tok');
      kit.script({ status: 500, match: `subscriptions/${PRODUCT}/tokens/${token}:acknowledge` });
      await h.notify('SUBSCRIPTION_PURCHASED', token, { productId: PRODUCT, orderId: uniq('GPA') });
      await h.hooks.delivery.runOnce();
      expect(kit.acknowledged).not.toContain(`subscription:${PRODUCT}:${token}`);
      const [row] = await h.store.listDeliveries({ endpointId: 'google.acknowledge', status: 'pending' });
      expect(row?.last_error).toMatch(/GOOGLE_API_UNAVAILABLE/);
      clock += 1500;
      await h.hooks.delivery.runOnce();
      expect(kit.acknowledged.filter((a) => a === `subscription:${PRODUCT}:${token}`)).toHaveLength(1);
      const rows = await h.store.listDeliveries({ endpointId: 'google.acknowledge' });
      expect(rows.find((d) => d.id === row!.id)?.status).toBe('delivered');
      // Replayed: read first, already acknowledged, so not sent again.
      await h.hooks.delivery.replay(row!.id);
      await h.hooks.delivery.runOnce();
      expect(kit.acknowledged.filter((a) => a === `subscription:${PRODUCT}:${token}`)).toHaveLength(1);
    });

    it('a notification type the library does not know, and a canceled pending purchase, change no state', async () => {
      const h = await setup();
      const token = uniq('tok');
      await h.notify('SUBSCRIPTION_PURCHASED', token, { productId: PRODUCT, orderId: uniq('GPA'), acknowledged: true });
      kit.setSubscription(
        token,
        kit.subscriptionPurchase({ productId: PRODUCT_PREMIUM, orderId: uniq('GPA'), state: 'SUBSCRIPTION_STATE_EXPIRED', acknowledged: true }),
      );
      const future = await h.post(kit.push({ subscriptionNotification: { version: '1.0', notificationType: 99, purchaseToken: token } }));
      expect(future.status).toBe(200);
      expect(future.body.notificationType).toBe('SUBSCRIPTION_NOTIFICATION_99');
      expect(types(future.events)).toEqual([R]);
      expect(await h.sub(token)).toMatchObject({ status: 'active', product_id: PRODUCT });
      const pending = uniq('tok');
      const r = await h.notify('SUBSCRIPTION_PENDING_PURCHASE_CANCELED', pending, {
        productId: PRODUCT,
        state: 'SUBSCRIPTION_STATE_PENDING_PURCHASE_CANCELED',
      });
      expect(types(r.events)).toEqual([R]);
      expect(await h.sub(pending)).toBeNull();
    });

    it('a purchase Google does not know is recorded without state (200), not retried forever', async () => {
      const h = await setup();
      const r = await h.post(kit.push(kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', uniq('unknown'))));
      expect(r.status).toBe(200);
      expect(types(r.events)).toEqual([R]);
    });

    it('forged, expired, wrong audience, wrong service account, unverified email, unknown kid: 4xx with a stable code, nothing recorded', async () => {
      const h = await setup();
      const token = uniq('tok');
      kit.setSubscription(token, kit.subscriptionPurchase({ productId: PRODUCT, orderId: uniq('GPA') }));
      const now = Math.floor(Date.now() / 1000);
      const forged = (await import('node:crypto')).generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
      const cases: Array<[Parameters<GooglePlayTestKit['push']>[1], number, string]> = [
        [{ token: { privateKey: forged } }, 401, 'GOOGLE_TOKEN_INVALID'],
        [{ token: { iat: now - 7200, exp: now - 3600 } }, 401, 'GOOGLE_TOKEN_EXPIRED'],
        [{ token: { audience: 'https://elsewhere.example.com/push' } }, 401, 'GOOGLE_AUDIENCE_MISMATCH'],
        [{ token: { email: 'intruder@evil.iam.gserviceaccount.com' } }, 403, 'GOOGLE_SERVICE_ACCOUNT_MISMATCH'],
        [{ token: { email_verified: false } }, 403, 'GOOGLE_SERVICE_ACCOUNT_MISMATCH'],
        [{ token: { kid: 'not-a-google-key' } }, 401, 'GOOGLE_TOKEN_INVALID'],
        [{ authorization: null }, 401, 'GOOGLE_AUTH_MISSING'],
      ];
      for (const [opts, status, code] of cases) {
        const r = await h.post(kit.push(kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', token), opts));
        expect([r.status, r.body.error?.code], code).toEqual([status, code]);
      }
      expect(await h.nothingRecorded()).toBe(true);
    });

    it('a kid rotation: a push signed with the new key verifies (the key set is fetched again)', async () => {
      const own = await createGooglePlayTestKit();
      try {
        const db = await make();
        open.push(db);
        const h = await googleHarness({ store: db.store, kit: own });
        expect((await h.post(own.push({ testNotification: {} }))).status).toBe(200);
        own.rotateKey({ retireOld: true });
        const r = await h.post(own.push({ testNotification: {} }));
        expect(r.status).toBe(200);
        expect(types(r.events)).toEqual([R, 'test.notification']);
        expect(await h.store.countNotifications('google')).toBe(2);
      } finally {
        await own.close();
      }
    });

    it('an older read of the API, committed after a newer one, changes nothing', async () => {
      const h = await setup();
      const token = uniq('tok');
      const start = Date.now();
      await h.notify('SUBSCRIPTION_PURCHASED', token, {
        productId: PRODUCT,
        orderId: uniq('GPA'),
        acknowledged: true,
        startTime: start,
        expiryTime: start + 30 * DAY,
      });
      const stored = await h.sub(token);
      const { applyGoogleNotification } = await import('../../../src/providers/google/apply.js');
      const purchase = kit.subscriptionPurchase({
        productId: PRODUCT,
        state: 'SUBSCRIPTION_STATE_CANCELED',
        acknowledged: true,
        startTime: start,
        expiryTime: start + 30 * DAY,
      });
      const { subscriptionPurchaseV2Schema } = await import('../../../src/providers/google/schemas.js');
      const result = await h.store.transaction((tx) =>
        applyGoogleNotification(
          tx,
          {
            notificationId: uniq('late'),
            notificationType: 'SUBSCRIPTION_CANCELED',
            eventTime: start,
            fetchedAt: Date.parse(String(stored!.metadata.google_fetched_at)) - 1,
            decoded: {},
            purchaseToken: token,
            contractId: token,
            subscription: subscriptionPurchaseV2Schema.parse(purchase),
          },
          h.logger,
        ),
      );
      expect(result.stale).toBe(true);
      expect(types(result.events)).toEqual([R]);
      expect((await h.sub(token))?.status).toBe('active');
    });

    it('the lifecycle sweep asks Google about an overdue subscription: a renewal we never heard of is applied once; an unknown purchase goes past_due', async () => {
      const h = await setup({ lifecycle: { intervalMs: null, renewalGraceMs: 1000 } });
      const token = uniq('tok');
      const orderId = uniq('GPA');
      const start = Date.now() - 40 * DAY;
      await h.notify('SUBSCRIPTION_PURCHASED', token, { productId: PRODUCT, orderId, acknowledged: true, startTime: start, expiryTime: start + 30 * DAY });
      // Google renewed it; the RTDN never arrived.
      kit.setSubscription(
        token,
        kit.subscriptionPurchase({ productId: PRODUCT, orderId: `${orderId}..0`, acknowledged: true, startTime: start, expiryTime: start + 60 * DAY }),
      );
      const first = await h.hooks.lifecycle.sweep();
      expect(first).toMatchObject({ pastDue: 0, failed: 0 });
      expect(await h.sub(token)).toMatchObject({
        status: 'active',
        latest_transaction_id: `${orderId}..0`,
        current_period_end: new Date(start + 60 * DAY).toISOString(),
      });
      expect((await orderOf(h, `${orderId}..0`))?.status).toBe('paid');
      const renewedEvents = (await h.store.listEvents({ type: 'customer.subscription.renewed' })).filter(
        (e) => (e.data.object as { contract_id: string }).contract_id === token,
      );
      expect(renewedEvents).toHaveLength(1);
      await h.hooks.lifecycle.sweep();
      expect(
        (await h.store.listEvents({ type: 'customer.subscription.renewed' })).filter((e) => (e.data.object as { contract_id: string }).contract_id === token),
      ).toHaveLength(1);

      const gone = uniq('tok');
      await h.notify('SUBSCRIPTION_PURCHASED', gone, {
        productId: PRODUCT,
        orderId: uniq('GPA'),
        acknowledged: true,
        startTime: start,
        expiryTime: start + 30 * DAY,
      });
      kit.script({ status: 410, match: `subscriptionsv2/tokens/${gone}` });
      await h.hooks.lifecycle.sweep();
      expect((await h.sub(gone))?.status).toBe('past_due');
    });

    it('client route: a posted purchase token is read from Google, bound to the signed-in poster, deduplicated with the notification, refused to another user', async () => {
      const db = await make();
      open.push(db);
      const h = await googleHarness({ store: db.store, kit, expressOptions: { getUserId: (req) => (req.headers['x-user-id'] as string | undefined) ?? null } });
      const postAs = async (userId: string | null, body: unknown) => {
        const before = h.seen.length;
        let req = request(h.app).post(h.hooks.routes.googlePurchases).set('content-type', 'application/json');
        if (userId) req = req.set('x-user-id', userId);
        const res = await req.send(JSON.stringify(body));
        return { status: res.status, body: res.body as Record<string, unknown> & { error?: { code: string } }, events: h.seen.slice(before) };
      };
      const token = uniq('tok');
      const orderId = uniq('GPA');
      kit.setSubscription(token, kit.subscriptionPurchase({ productId: PRODUCT, orderId }));
      const first = await postAs('alice', { purchaseToken: token });
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ processed: true, purchaseToken: token, orderId, productId: PRODUCT, userId: 'alice', status: 'active' });
      expect(types(first.events)).toEqual([R, S('created'), S('started'), 'order.paid']);
      expect((await h.sub(token))?.user_id).toBe('alice');
      // Google's notification of the same purchase: the order is already paid, nothing new.
      const rtdn = await h.post(kit.push(kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', token)));
      expect(types(rtdn.events)).toEqual([R]);
      const again = await postAs('alice', { purchaseToken: token });
      expect(again.body).toMatchObject({ duplicate: true, userId: 'alice' });
      const stranger = await postAs('mallory', { purchaseToken: token });
      expect([stranger.status, stranger.body.error?.code]).toEqual([409, 'SUBSCRIPTION_OWNED_BY_OTHER_USER']);
      expect(JSON.stringify(stranger.body)).not.toContain('alice');
      const anonymous = await request(h.app)
        .post(h.hooks.routes.googlePurchases)
        .set('content-type', 'application/json')
        .send(JSON.stringify({ purchaseToken: token }));
      // Answered by the core in the route's own wire format, not Apple's.
      expect([anonymous.status, anonymous.body.error?.code]).toEqual([401, 'USER_NOT_FOUND']);
      // A renewal Google made since: the post records it once.
      kit.setSubscription(
        token,
        kit.subscriptionPurchase({ productId: PRODUCT, orderId: `${orderId}..0`, acknowledged: true, expiryTime: Date.now() + 60 * DAY }),
      );
      // Posted first by someone else: refused, and nothing of it recorded.
      const early = await postAs('mallory', { purchaseToken: token });
      expect([early.status, early.body.error?.code]).toEqual([409, 'SUBSCRIPTION_OWNED_BY_OTHER_USER']);
      expect(await h.store.getNotification('google', `client:${token}:${orderId}..0`)).toBeNull();
      expect(await orderOf(h, `${orderId}..0`)).toBeNull();
      const renewed = await postAs('alice', { purchaseToken: token });
      expect(types(renewed.events)).toEqual([R, S('renewed'), 'order.paid']);
      // Bought before sign-in (no obfuscated account id): first seen through Google, then bound to the first poster.
      const ownerless = uniq('tok');
      await h.notify('SUBSCRIPTION_PURCHASED', ownerless, { productId: PRODUCT, orderId: uniq('GPA'), acknowledged: true });
      expect((await h.sub(ownerless))?.user_id).toBeNull();
      const bound = await postAs('carol', { purchaseToken: ownerless });
      expect(bound.body).toMatchObject({ userId: 'carol' });
      expect(bound.body.duplicate).toBeUndefined();
      expect(types(bound.events)).toEqual([R, S('updated')]);
      expect(bound.events[1]!.data.previous_attributes).toEqual({ user_id: null });
      expect((await h.sub(ownerless))?.user_id).toBe('carol');
      // One-time products, and bad input.
      const coins = uniq('tok');
      kit.setProduct('coins_100', coins, { purchaseState: 0, acknowledgementState: 1, orderId: uniq('GPA'), purchaseTimeMillis: String(Date.now()) });
      const bought = await postAs('bob', { purchaseToken: coins, productId: 'coins_100', type: 'inapp' });
      expect(types(bought.events)).toEqual([R, 'order.paid']);
      expect(bought.events[1]!.data.object).toMatchObject({ user_id: 'bob', product_id: 'coins_100' });
      expect([(await postAs('bob', { purchaseToken: coins, type: 'inapp' })).status]).toEqual([400]);
      expect((await postAs('bob', { purchaseToken: '' })).body.error?.code).toBe('BODY_INVALID');
      const unknown = await postAs('bob', { purchaseToken: uniq('nope') });
      expect([unknown.status, unknown.body.error?.code]).toEqual([404, 'GOOGLE_API_NOT_FOUND']);
    });

    it("per-subscription notification settings from the app's order (manual.notification), and signed delivery to a webhook endpoint", async () => {
      const receiver = await webhookReceiver();
      open.push({ close: () => receiver.stop() });
      const h = await setup();
      const endpoint = await h.hooks.webhookEndpoints.create({
        url: receiver.url,
        enabled_events: ['customer.subscription.started', 'order.paid', 'manual.notification'],
      });
      const order = await h.hooks.orders.create({
        userId: 'u_settings',
        productId: PRODUCT,
        provider: 'google',
        subscriptionData: { notificationSettings: { self_handle: true, include_events: ['customer.subscription.started'] } },
      });
      const token = uniq('tok');
      const r = await h.notify('SUBSCRIPTION_PURCHASED', token, { productId: PRODUCT, orderId: uniq('GPA'), accountId: order.no, acknowledged: true });
      expect(types(r.events)).toContain('manual.notification');
      const manual = r.events.find((e) => e.type === 'manual.notification')!;
      expect(manual.data.object).toMatchObject({ type: 'customer.subscription.started', data: { userDid: 'u_settings' } });
      expect((await h.sub(token))?.notification_settings).toEqual({ self_handle: true, include_events: ['customer.subscription.started'] });
      await h.hooks.delivery.runOnce();
      const wanted = r.events
        .filter((e) => endpoint.enabled_events.includes(e.type))
        .map((e) => e.id)
        .sort();
      expect(receiver.accepted().sort()).toEqual(wanted);
      expect(receiver.received.every((w) => w.signature.startsWith('v1,'))).toBe(true);
      expect(JSON.parse(receiver.received.find((w) => w.id === r.events.find((e) => e.type === 'order.paid')!.id)!.body)).toMatchObject({
        provider: 'google',
        type: 'order.paid',
      });
    });

    it('entitlements follow Google subscriptions', async () => {
      const h = await setup({ products: { [PRODUCT]: { entitlements: ['pro'] } } });
      const order = await h.hooks.orders.create({ userId: 'ent_user', productId: PRODUCT, provider: 'google' });
      const token = uniq('tok');
      await h.notify('SUBSCRIPTION_PURCHASED', token, { productId: PRODUCT, orderId: uniq('GPA'), accountId: order.no, acknowledged: true });
      expect(await h.hooks.entitlements.has('ent_user', 'pro')).toBe(true);
      await h.notify('SUBSCRIPTION_REVOKED', token, {
        productId: PRODUCT,
        state: 'SUBSCRIPTION_STATE_EXPIRED',
        expiryTime: Date.now() - 1000,
        acknowledged: true,
      });
      expect(await h.hooks.entitlements.has('ent_user', 'pro')).toBe(false);
    });
  });
}
