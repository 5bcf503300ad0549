// The Voided Purchases lookup sits between the push and its answer: a rate-limited API must not hold the
// answer (Pub/Sub redelivers a push not answered within its ack deadline, 10 s by default).
import { describe, expect, it } from 'vitest';
import { EVERY_STORE } from '../../helpers/databases.js';
import { googleSuite, PRODUCT, uniq } from '../../helpers/google-harness.js';

const [name, make] = EVERY_STORE[0]!;

describe(`Google voided purchase: the reason lookup is bounded (${name})`, () => {
  const suite = googleSuite(make);
  it('the Voided Purchases API answers 429 with Retry-After: 30 again and again: the push is still answered 200 and the refund recorded from refundType', async () => {
    const h = await suite.harness();
    const token = uniq('tok');
    const orderId = uniq('GPA');
    await h.notify('SUBSCRIPTION_PURCHASED', token, { productId: PRODUCT, orderId, acknowledged: true });
    // Without a bound the route waits 4 × 30 s before answering: past this test's 40 s timeout.
    suite.kit.script({ status: 429, headers: { 'retry-after': '30' }, match: 'voidedpurchases', times: 8 });
    const r = await h.post(suite.kit.push({ voidedPurchaseNotification: { purchaseToken: token, orderId, productType: 1, refundType: 1 } }));
    expect(r.status).toBe(200);
    const order = await h.store.transaction((tx) => tx.getOrderByTradeNo('google', orderId));
    expect(order?.status).toBe('refunded');
    expect(order?.refund_reason).toBe('full_refund');
  }, 40_000);
});
