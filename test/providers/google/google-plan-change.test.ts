/**
 * The order of an upgrade or downgrade (a `linkedPurchaseToken` purchase that changes the line item:
 * another product, or another base plan of it) on every store: `purchases.subscriptionsv2` says what the
 * plan costs from now on (`recurringPrice`), not what Google charged for the change (a prorated amount,
 * or nothing), so the order records no `amount` and keeps the plan's facts in `metadata`; the renewals
 * that follow are charged the recurring price.
 */
import { describe, expect, it } from 'vitest';
import type { Order } from '../../../src/index.js';
import { EVERY_STORE } from '../../helpers/databases.js';
import { googleSuite, PRODUCT, PRODUCT_PREMIUM, R, S, types, uniq, type GoogleHarness } from '../../helpers/google-harness.js';

const DAY = 86_400_000;
const USD = (units: string) => ({ units, nanos: 990_000_000, currencyCode: 'USD' });

for (const [name, make] of EVERY_STORE) {
  describe(`Google Play plan changes (${name})`, () => {
    const suite = googleSuite(make);
    const setup = () => suite.harness();
    const orderOf = (h: GoogleHarness, tradeNo: string): Promise<Order | null> => h.store.transaction((tx) => tx.getOrderByTradeNo('google', tradeNo));

    it('upgrade to another product: the order has no amount (Google does not say what the change cost), the new plan in metadata; its renewal is charged the recurring price', async () => {
      const h = await setup();
      const old = uniq('tok');
      const next = uniq('tok');
      const o1 = uniq('GPA');
      const o2 = uniq('GPA');
      await h.notify('SUBSCRIPTION_PURCHASED', old, { productId: PRODUCT, orderId: o1, acknowledged: true, price: USD('4') });
      expect(await orderOf(h, o1)).toMatchObject({ amount: 4990, currency: 'USD' });
      const up = await h.notify('SUBSCRIPTION_PURCHASED', next, {
        productId: PRODUCT_PREMIUM,
        orderId: o2,
        linkedPurchaseToken: old,
        acknowledged: true,
        price: USD('9'),
      });
      expect(types(up.events)).toEqual([R, S('upgraded'), 'order.paid']);
      const paid = up.events[2]!.data.object as Order;
      expect(paid).toMatchObject({ trade_no: o2, product_id: PRODUCT_PREMIUM, origin_no: old, amount: null, currency: 'USD' });
      expect(paid.metadata).toMatchObject({
        google_plan_change: { from_product_id: PRODUCT, from_base_plan_id: 'monthly', linked_purchase_token: old },
        google_recurring_price: 9990,
        google_base_plan_id: 'monthly',
      });
      const renewal = await h.notify('SUBSCRIPTION_RENEWED', next, {
        productId: PRODUCT_PREMIUM,
        orderId: `${o2}..0`,
        linkedPurchaseToken: old,
        acknowledged: true,
        price: USD('9'),
        expiryTime: Date.now() + 60 * DAY,
      });
      expect(types(renewal.events)).toEqual([R, S('renewed'), 'order.paid']);
      expect(await orderOf(h, `${o2}..0`)).toMatchObject({ amount: 9990, currency: 'USD', product_id: PRODUCT_PREMIUM });
    });

    it('another base plan of the same product (monthly to yearly) is a plan change too; a resubscription after the end is a full-price purchase', async () => {
      const h = await setup();
      const old = uniq('tok');
      const yearly = uniq('tok');
      const o1 = uniq('GPA');
      const o2 = uniq('GPA');
      await h.notify('SUBSCRIPTION_PURCHASED', old, { productId: PRODUCT, orderId: o1, acknowledged: true, price: USD('4') });
      const purchase = suite.kit.subscriptionPurchase({ productId: PRODUCT, orderId: o2, linkedPurchaseToken: old, acknowledged: true, price: USD('39') }) as {
        lineItems: Array<{ offerDetails: Record<string, unknown> }>;
      };
      purchase.lineItems[0]!.offerDetails = { basePlanId: 'yearly' };
      suite.kit.setSubscription(yearly, purchase);
      const change = await h.post(suite.kit.push(suite.kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', yearly)));
      expect(types(change.events)).toEqual([R, S('updated'), 'order.paid']);
      expect(await orderOf(h, o2)).toMatchObject({
        amount: null,
        currency: 'USD',
        metadata: {
          google_plan_change: { from_product_id: PRODUCT, from_base_plan_id: 'monthly' },
          google_base_plan_id: 'yearly',
          google_recurring_price: 39990,
        },
      });
      expect((await h.sub(old))?.metadata.google_base_plan_id).toBe('yearly');
      // Ended, then bought again through the chain: nothing to prorate, the recurring price is what was charged.
      await h.notify('SUBSCRIPTION_EXPIRED', yearly, {
        productId: PRODUCT,
        orderId: o2,
        linkedPurchaseToken: old,
        acknowledged: true,
        state: 'SUBSCRIPTION_STATE_EXPIRED',
        expiryTime: Date.now() - 1000,
      });
      const again = uniq('tok');
      const o3 = uniq('GPA');
      const back = await h.notify('SUBSCRIPTION_PURCHASED', again, {
        productId: PRODUCT_PREMIUM,
        orderId: o3,
        linkedPurchaseToken: yearly,
        acknowledged: true,
        price: USD('9'),
      });
      expect(types(back.events)).toContain(S('started'));
      expect(await orderOf(h, o3)).toMatchObject({ amount: 9990, currency: 'USD' });
      expect((await orderOf(h, o3))?.metadata.google_plan_change).toBeUndefined();
    });
  });
}
