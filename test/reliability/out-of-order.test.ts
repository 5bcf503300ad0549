/**
 * Issue 9, item 5: Apple delivers out of order. For seeded random permutations of one subscription's
 * lifecycle (SUBSCRIBED, DID_RENEW ×3, DID_FAIL_TO_RENEW, DID_RENEW/BILLING_RECOVERY,
 * DID_CHANGE_RENEWAL_STATUS/AUTO_RENEW_DISABLED, EXPIRED; signedDates increasing in lifecycle order),
 * the final contract equals the in-order result: 100 permutations on the memory store, 10 on SQLite.
 *
 * Compared: every field of the subscription except `created` (the effective date of the first
 * notification that got applied: SUBSCRIBED's date in order, whichever came first otherwise; it is
 * "when we first heard of it", not a contract term). `updated` and `last_event_at` are compared: both
 * are EXPIRED's date whatever the order, since an older notification never moves state. Also compared:
 * every paid order (one per transaction, the purchase claiming the app's pending order, all with the
 * user), exactly one `customer.subscription.created`, and one `order.paid` per transaction.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks, memoryStore, type Order, type Store, type Subscription } from '../../src/index.js';
import { appleHarness, APP_APPLE_ID, BUNDLE_ID, PRODUCT, recordingLogger, sharedSigner } from '../helpers/apple-harness.js';
import { createSqliteStore } from '../helpers/databases.js';

const USER = 'user_out_of_order';
const N = 8;

interface Lifecycle {
  names: string[];
  bodies: string[];
  transactionIds: string[];
  originalTransactionId: string;
  appAccountToken: string;
}

let life: Lifecycle;

beforeAll(async () => {
  const h = await appleHarness();
  const appAccountToken = randomUUID();
  const c = h.contract({ appAccountToken });
  const t1 = c.transaction();
  const t2 = c.transaction();
  const t3 = c.transaction();
  const t4 = c.transaction();
  const t5 = c.transaction();
  const base = h.now() + 60_000;
  const steps: [string, string | undefined, Record<string, unknown>, Record<string, unknown>][] = [
    ['SUBSCRIBED', 'INITIAL_BUY', t1, c.renewal()],
    ['DID_RENEW', undefined, t2, c.renewal()],
    ['DID_RENEW', undefined, t3, c.renewal()],
    ['DID_RENEW', undefined, t4, c.renewal()],
    ['DID_FAIL_TO_RENEW', undefined, t4, c.renewal({ isInBillingRetryPeriod: true })],
    ['DID_RENEW', 'BILLING_RECOVERY', t5, c.renewal()],
    ['DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_DISABLED', t5, c.renewal({ autoRenewStatus: 0 })],
    ['EXPIRED', 'VOLUNTARY', t5, c.renewal({ autoRenewStatus: 0, expirationIntent: 1 })],
  ];
  const bodies = await Promise.all(
    steps.map(async ([type, subtype, transaction, renewalInfo], i) =>
      JSON.stringify({ signedPayload: await h.sign(type, subtype, { transaction, renewalInfo }, { signedDate: base + i * 60_000 }) }),
    ),
  );
  life = {
    names: steps.map(([t, s]) => (s ? `${t}/${s}` : t)),
    bodies,
    transactionIds: [t1, t2, t3, t4, t5].map((t) => String(t.transactionId)),
    originalTransactionId: c.originalTransactionId,
    appAccountToken,
  };
});

interface Outcome {
  subscription: Omit<Subscription, 'created'>;
  created: string;
  orders: Order[];
  eventCounts: Record<string, number>;
}

/** Plays the notifications in `order` (indexes into the lifecycle) against a fresh app on `store`. */
async function play(store: Store, order: readonly number[]): Promise<Outcome> {
  const signer = await sharedSigner();
  const hooks = createSubscriptionWebhooks({
    apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, rootCertificates: [signer.rootCertificate] },
    store,
    logger: recordingLogger(),
  });
  // The app created the order before the purchase; its `no` is the appAccountToken StoreKit carries.
  const pending: Order = {
    id: 'ord_out_of_order',
    no: life.appAccountToken,
    trade_no: null,
    origin_no: null,
    status: 'pending',
    user_id: USER,
    product_id: PRODUCT,
    provider: 'apple',
    amount: 9990,
    currency: 'USD',
    amount_refunded: null,
    refund_reason: null,
    paid_at: null,
    metadata: {},
    subscription_data: null,
    created: new Date(0).toISOString(),
    updated: new Date(0).toISOString(),
  };
  await store.transaction((tx) => tx.saveOrder(pending));
  for (const i of order) {
    const { response } = await hooks.handle('apple', { headers: { 'content-type': 'application/json' }, rawBody: life.bodies[i]! });
    expect(response.status, `${life.names[i]} in ${order.join(',')}: ${String(response.body)}`).toBe(200);
  }
  const sub = await store.getSubscription('apple', life.originalTransactionId);
  expect(sub).not.toBeNull();
  const { created, ...subscription } = sub!;
  const orders = await store.transaction(async (tx) => Promise.all(life.transactionIds.map((id) => tx.getOrderByTradeNo('apple', id))));
  const eventCounts: Record<string, number> = {};
  for (const e of await store.listEvents()) eventCounts[e.type] = (eventCounts[e.type] ?? 0) + 1;
  return { subscription, created, orders: orders.map((o) => o!), eventCounts };
}

const identity = Array.from({ length: N }, (_, i) => i);
const permutation = fc.shuffledSubarray(identity, { minLength: N, maxLength: N });

let reference: Outcome;

function expectSameContract(got: Outcome, order: readonly number[]) {
  const label = order.map((i) => life.names[i]).join(' → ');
  expect(got.subscription, label).toEqual(reference.subscription);
  expect(got.orders, label).toEqual(reference.orders);
  // Facts, not just "the same": one contract, one payment per transaction, whatever the order.
  expect(got.eventCounts['customer.subscription.created'], label).toBe(1);
  expect(got.eventCounts['order.paid'], label).toBe(5);
  expect(got.eventCounts['provider.notification.received'], label).toBe(N);
}

describe('out-of-order Apple lifecycle → the same final contract as in order', () => {
  beforeAll(async () => {
    reference = await play(memoryStore(), identity);
  });

  it('the in-order result is the expected one (so "equal to it" means something)', () => {
    const s = reference.subscription;
    expect(s).toMatchObject({
      status: 'expired',
      auto_renew: false,
      product_id: PRODUCT,
      user_id: USER,
      latest_transaction_id: life.transactionIds[4],
      pending_product_id: null,
    });
    expect(reference.orders.map((o) => [o.trade_no, o.status, o.user_id])).toEqual(life.transactionIds.map((id) => [id, 'paid', USER]));
    expect(reference.orders[0]!.no).toBe(life.appAccountToken); // the purchase paid the app's pending order
    expect(s.last_event_at).toBe(s.updated);
    expect(reference.created < s.updated).toBe(true);
  });

  it('100 seeded permutations on the memory store', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(permutation, async (order) => {
        seen.add(order.join(','));
        expectSameContract(await play(memoryStore(), order), order);
      }),
      // The reversed lifecycle first (an explicit example), then 100 generated permutations.
      { seed: 0x9_0005, numRuns: 101, examples: [[[...identity].reverse()]], endOnFailure: true },
    );
    expect(seen.size).toBeGreaterThanOrEqual(95); // 8! = 40320: nearly all distinct, really shuffled
    expect(seen.has(identity.join(','))).toBe(false);
  });

  it('10 seeded permutations on SQLite (Prisma)', async () => {
    const orders = fc.sample(permutation, { seed: 0x9_0006, numRuns: 10 });
    for (const order of orders) {
      const db = await createSqliteStore();
      try {
        expectSameContract(await play(db.store, order), order);
      } finally {
        await db.close();
      }
    }
  });
});
