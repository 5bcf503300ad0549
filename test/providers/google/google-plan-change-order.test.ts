// an original purchase delivered after its upgrade (Pub/Sub does not order) keeps its own price.
import { describe, expect, it } from 'vitest';
import type { Order } from '../../../src/index.js';
import { EVERY_STORE } from '../../helpers/databases.js';
import { googleSuite, PRODUCT, PRODUCT_PREMIUM, uniq, type GoogleHarness } from '../../helpers/google-harness.js';

const USD = (units: string) => ({ units, nanos: 990_000_000, currencyCode: 'USD' });
const [name, make] = EVERY_STORE[0]!;

describe(`Google plan change, out of order (${name})`, () => {
  const suite = googleSuite(make);
  const orderOf = (h: GoogleHarness, tradeNo: string): Promise<Order | null> => h.store.transaction((tx) => tx.getOrderByTradeNo('google', tradeNo));
  it('the upgrade arrives first, then the original purchase: the original order is a full-price purchase, not a plan change', async () => {
    const h = await suite.harness();
    const old = uniq('tok');
    const next = uniq('tok');
    const o1 = uniq('GPA');
    const o2 = uniq('GPA');
    await h.notify('SUBSCRIPTION_PURCHASED', next, { productId: PRODUCT_PREMIUM, orderId: o2, linkedPurchaseToken: old, acknowledged: true, price: USD('9') });
    // Google now reports the original token as canceled by the replacement (what subscriptionsv2 answers after an upgrade).
    await h.notify('SUBSCRIPTION_PURCHASED', old, {
      productId: PRODUCT,
      orderId: o1,
      acknowledged: true,
      price: USD('4'),
      state: 'SUBSCRIPTION_STATE_CANCELED',
      replaced: true,
    });
    const original = await orderOf(h, o1);
    expect(original?.metadata.google_plan_change).toBeUndefined();
    expect(original).toMatchObject({ amount: 4990, product_id: PRODUCT });
  });
});
