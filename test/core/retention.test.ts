/**
 * Retention on every store, with an injected clock: a year of one subscription's notifications (plus
 * client posts and a redelivery), pruned at each month on one instance and never on the other. The
 * pruned instance ends in the same state (subscription, orders, entitlements) and emitted the same
 * events; afterwards every original request replayed to it (stale ones past the dedup-key window,
 * duplicates within it) is acknowledged and changes nothing and emits nothing.
 */
import { randomUUID } from 'node:crypto';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscriptionWebhooks } from '../../adapters/express.js';
import { createSubscriptionWebhooks, type DomainEvent, type Order, type Store } from '../../src/index.js';
import { createAppleTestSigner, type AppleTestSigner } from '../../src/testing/apple-signer.js';
import { EVERY_STORE } from '../helpers/databases.js';
import { recordingLogger } from '../helpers/apple-harness.js';
import { webhookReceiver } from '../helpers/webhook-receiver.js';
import { waitUntil } from '../helpers/reliability.js';

const DAY = 86_400_000;
const MONTH = 30 * DAY;
const BUNDLE_ID = 'com.example.app';
const APP_APPLE_ID = 1234567890;
const PRODUCT = 'com.example.pro.monthly';
const USER = 'user_retention';
/** Short windows so that a year crosses each several times. */
const RETENTION = { rawBodyDays: 7, eventDays: 30, deliveredDays: 30, failedDays: 30, notificationDays: 60, receiptDays: 1, batchSize: 4 };

let signer: AppleTestSigner;
const T0 = Math.floor(Date.now() / 1000) * 1000;
beforeAll(async () => {
  // The leaf must be valid at every signedDate of the simulated year and after.
  signer = await createAppleTestSigner({
    bundleId: BUNDLE_ID,
    appAppleId: APP_APPLE_ID,
    environment: 'Production',
    notBefore: new Date(T0 - DAY),
    notAfter: new Date(T0 + 1000 * DAY),
  });
});

const receiverPromise = webhookReceiver();
afterAll(async () => (await receiverPromise).stop());

interface Post {
  route: 'apple' | 'appleTransaction';
  body: string;
}

function instance(store: Store, clock: { now: number }) {
  const seen: DomainEvent[] = [];
  const hooks = createSubscriptionWebhooks({
    apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, rootCertificates: [signer.rootCertificate] },
    store,
    logger: recordingLogger(),
    products: { [PRODUCT]: { entitlements: ['pro'] } },
    retention: { ...RETENTION, intervalMs: null },
    delivery: { now: () => clock.now },
  });
  hooks.bus.subscribe((e) => void seen.push(e));
  const app = express();
  app.use(subscriptionWebhooks(hooks, { getUserId: () => USER }));
  async function post(p: Post) {
    const before = seen.length;
    const path = p.route === 'apple' ? hooks.routes.apple : hooks.routes.appleTransactions;
    const res = await request(app).post(path).set('content-type', 'application/json').send(p.body);
    return { status: res.status, data: (res.body as { data: Record<string, unknown> }).data, events: seen.slice(before) };
  }
  return { hooks, store, seen, post };
}
type Instance = ReturnType<typeof instance>;

/** What must not differ: the subscription, every order, the entitlements (ids and write times aside). */
async function state(h: Instance, orderNo: string, transactionIds: string[], originalTransactionId: string) {
  const orders: (Order | null)[] = [await h.store.getOrderByNo(orderNo)];
  for (const id of transactionIds) orders.push(await h.store.transaction((tx) => tx.getOrderByTradeNo('apple', id)));
  const strip = (v: unknown): unknown =>
    JSON.parse(JSON.stringify(v), (k, x: unknown) => (['id', 'subscription_id', 'created', 'updated'].includes(k) ? undefined : x));
  return strip({
    subscription: await h.hooks.subscriptions.get(originalTransactionId),
    orders,
    entitlements: await h.hooks.entitlements.list(USER),
  });
}

describe.each(EVERY_STORE)('retention over a year on %s', (_name, make) => {
  it(
    'pruned monthly: same final state and events as unpruned; every original request replayed afterwards changes nothing and emits nothing',
    { timeout: 240_000 },
    async () => {
      const receiver = await receiverPromise;
      const a = await make();
      const b = await make();
      try {
        const clock = { now: T0 };
        const pruned = instance(a.store, clock);
        const kept = instance(b.store, clock);
        for (const h of [pruned, kept]) await h.hooks.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });
        // The app's order (appAccountToken), the same in both stores.
        const order = await pruned.hooks.orders.create({ userId: USER, productId: PRODUCT, amount: 9990, currency: 'USD' });
        await kept.store.transaction((tx) => tx.saveOrder(order));

        const original = String(2_000_000_000_000_000 + Math.floor(Math.random() * 1e12));
        const transactionIds: string[] = [];
        const transaction = (k: number) => {
          const id = k === 1 ? original : `${original}${String(k).padStart(3, '0')}`;
          if (!transactionIds.includes(id)) transactionIds.push(id);
          const purchaseDate = T0 + (k - 1) * MONTH;
          return {
            transactionId: id,
            originalTransactionId: original,
            webOrderLineItemId: `${original}-wol-${k}`,
            bundleId: BUNDLE_ID,
            productId: PRODUCT,
            subscriptionGroupIdentifier: 'group1',
            purchaseDate,
            originalPurchaseDate: T0,
            expiresDate: purchaseDate + MONTH,
            quantity: 1,
            type: 'Auto-Renewable Subscription' as const,
            appAccountToken: order.no,
            inAppOwnershipType: 'PURCHASED' as const,
            signedDate: clock.now,
            environment: 'Production' as const,
            transactionReason: (k === 1 ? 'PURCHASE' : 'RENEWAL') as 'PURCHASE' | 'RENEWAL',
            storefront: 'USA',
            storefrontId: '143441',
            price: 9990,
            currency: 'USD',
          };
        };
        const renewal = (autoRenewStatus: 0 | 1) => ({
          originalTransactionId: original,
          autoRenewProductId: PRODUCT,
          productId: PRODUCT,
          autoRenewStatus,
          signedDate: clock.now,
          environment: 'Production' as const,
          recentSubscriptionStartDate: T0,
        });
        const notification = async (notificationType: string, subtype: string | undefined, k: number, autoRenewStatus: 0 | 1 = 1): Promise<Post> => ({
          route: 'apple',
          body: JSON.stringify({
            signedPayload: await signer.signNotification({
              notificationType: notificationType as never,
              subtype,
              notificationUUID: randomUUID(),
              signedDate: clock.now,
              data: {
                bundleId: BUNDLE_ID,
                appAppleId: APP_APPLE_ID,
                environment: 'Production',
                transaction: transaction(k),
                renewalInfo: renewal(autoRenewStatus),
              },
            }),
          }),
        });
        const clientPost = async (k: number): Promise<Post> => ({
          route: 'appleTransaction',
          body: JSON.stringify({ signedTransaction: await signer.signTransaction(transaction(k)) }),
        });

        // The year: [day, request] in time order; the redelivery re-posts the first body a day later.
        const posts: Post[] = [];
        const prunedReports: Awaited<ReturnType<Instance['hooks']['maintenance']['prune']>>[] = [];
        const at = async (day: number, make: () => Promise<Post> | Post) => {
          clock.now = T0 + day * DAY;
          const p = await make();
          posts.push(p);
          const [x, y] = [await pruned.post(p), await kept.post(p)];
          expect([x.status, y.status], JSON.stringify(x.data)).toEqual([200, 200]);
          expect(x.events.map((e) => e.type)).toEqual(y.events.map((e) => e.type));
          for (const h of [pruned, kept]) while ((await h.hooks.delivery.runOnce()).attempted > 0);
        };
        const monthEnd = async (month: number) => {
          clock.now = T0 + (month * 30 + 29) * DAY;
          prunedReports.push(await pruned.hooks.maintenance.prune());
        };
        await at(0, () => notification('SUBSCRIBED', 'INITIAL_BUY', 1));
        await at(0.01, () => clientPost(1));
        await at(1, () => posts[0]!);
        await monthEnd(0);
        for (let m = 1; m <= 11; m++) {
          await at(m * 30, () => notification('DID_RENEW', undefined, m + 1));
          if (m === 5) {
            await at(m * 30 + 10, () => notification('DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_DISABLED', m + 1, 0));
            await at(m * 30 + 12, () => notification('DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_ENABLED', m + 1, 1));
          }
          if (m === 8) await at(m * 30 + 3, () => clientPost(m + 1));
          if (m === 11) await at(m * 30 + 20, () => notification('DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_DISABLED', m + 1, 0));
          await monthEnd(m);
        }
        await at(360, () => notification('EXPIRED', 'VOLUNTARY', 12, 0));
        await monthEnd(12);

        // Pruning ran and removed every kind; the unpruned store keeps everything.
        const total = (k: 'rawBodies' | 'notifications' | 'events' | 'deliveries') => prunedReports.reduce((s, r) => s + r[k], 0);
        expect(total('rawBodies')).toBeGreaterThan(10);
        expect(total('notifications')).toBeGreaterThan(5);
        expect(total('events')).toBeGreaterThan(10);
        expect(total('deliveries')).toBeGreaterThan(10);
        expect(prunedReports.every((r) => r.complete)).toBe(true);
        expect(prunedReports.some((r) => r.batches > 1)).toBe(true); // batchSize 4: several batches
        expect(await a.store.countNotifications()).toBeLessThan(await b.store.countNotifications());
        expect((await a.store.listEvents()).length).toBeLessThan((await b.store.listEvents()).length);

        const final = await state(kept, order.no, transactionIds, original);
        expect(await state(pruned, order.no, transactionIds, original)).toStrictEqual(final);
        expect(final).toMatchObject({ subscription: { status: 'expired', user_id: USER }, entitlements: [{ entitlement: 'pro', active: false }] });
        expect(pruned.seen.map((e) => e.type)).toEqual(kept.seen.map((e) => e.type));

        // Replay every original request after the pruning: nothing changes, nothing is emitted.
        clock.now = T0 + 365 * DAY;
        const eventsBefore = (await a.store.listEvents()).length;
        const answers: string[] = [];
        for (const p of posts) {
          const r = await pruned.post(p);
          expect(r.status).toBe(200);
          expect(r.events).toEqual([]);
          answers.push(r.data.stale === true ? 'stale' : r.data.duplicate === true ? 'duplicate' : 'processed');
        }
        // Both rules were needed: keys pruned (stale) and keys kept (duplicate); nothing processed again.
        expect(answers).toContain('stale');
        expect(answers).toContain('duplicate');
        expect(answers).not.toContain('processed');
        expect((await a.store.listEvents()).length).toBe(eventsBefore);
        expect(await state(pruned, order.no, transactionIds, original)).toStrictEqual(final);
        // Not a replay: a client posting an old purchase again, freshly signed by StoreKit (a new signedDate), after
        // its key was pruned, is a new request. It is recorded (provider.notification.received), and the orders
        // (unique by transaction id, never pruned) and the subscription (moves forward only) absorb it.
        const resigned = await pruned.post(await clientPost(1));
        expect(resigned.status).toBe(200);
        expect(resigned.events.map((e) => e.type)).toEqual(['provider.notification.received']);
        expect(await state(pruned, order.no, transactionIds, original)).toStrictEqual(final);

        // Once every window has passed, only the business records and the undated keys remain.
        clock.now = T0 + 2 * 365 * DAY;
        await pruned.hooks.maintenance.prune();
        // An event whose delivery is still pending is kept (its body is the webhook body) until delivered.
        expect((await a.store.listEvents()).map((e) => e.type)).toEqual(['provider.notification.received']);
        while ((await pruned.hooks.delivery.runOnce()).attempted > 0);
        clock.now += 31 * DAY;
        await pruned.hooks.maintenance.prune();
        expect((await a.store.listEvents()).length).toBe(0);
        expect(await pruned.hooks.delivery.list()).toEqual([]);
        expect(await state(pruned, order.no, transactionIds, original)).toStrictEqual(final);
      } finally {
        await a.close();
        await b.close();
      }
    },
  );
});

describe('the freshness rule', () => {
  it('Apple: a notification signed longer ago than retention.notificationDays is answered 200 stale, writes nothing, emits nothing, logs result stale', async () => {
    const { appleHarness } = await import('../helpers/apple-harness.js');
    const clock = { now: T0 };
    const h = await appleHarness({ config: { retention: { notificationDays: 60, rawBodyDays: 7 }, delivery: { now: () => clock.now } } });
    const c = h.contract();
    const signedPayload = await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() }, { signedDate: T0 });
    clock.now = T0 + 61 * DAY;
    const r = await h.post(h.hooks.routes.apple, { signedPayload });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ processed: false, stale: true });
    expect(r.events).toEqual([]);
    expect(await h.store.countNotifications()).toBe(0);
    // Within the window the same notification is processed.
    clock.now = T0 + 59 * DAY;
    expect((await h.post(h.hooks.routes.apple, { signedPayload })).events.length).toBeGreaterThan(0);
  });

  it('Xsolla: a payment whose payment_date is past the window is answered 204, writes nothing, emits nothing', async () => {
    const { xsollaHarness, xsollaDate } = await import('../helpers/xsolla-harness.js');
    const h = xsollaHarness({ config: { retention: { notificationDays: 60, rawBodyDays: 7 } } });
    const c = h.contract();
    const old = c.payment(777_001);
    old.transaction.payment_date = xsollaDate(Date.now() - 61 * DAY);
    const r = await h.post(old);
    expect(r.status).toBe(204);
    expect(r.events).toEqual([]);
    expect(await h.store.countNotifications()).toBe(0);
    const fresh = await h.post(c.payment(777_002));
    expect(fresh.status).toBe(204);
    expect(fresh.events.length).toBeGreaterThan(0);
    // The inbox keeps the provider date the rule and the pruning go by, and the body's hash.
    const row = await h.store.getNotification('xsolla', 'payment:777002');
    expect(row?.signed_at).not.toBeNull();
    expect(row?.raw_sha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('config: rawBodyDays beyond notificationDays, or a non-positive window, is CONFIG_INVALID naming the key', () => {
    expect(() => createSubscriptionWebhooks({ retention: { rawBodyDays: 500 } })).toThrow(/retention\.rawBodyDays/);
    expect(() => createSubscriptionWebhooks({ retention: { eventDays: 0 } })).toThrow(/retention\.eventDays/);
  });
});

describe('pruning jobs', () => {
  it('a started delivery worker prunes every retention.intervalMs, and stops with it', async () => {
    const { memoryStore } = await import('../../src/index.js');
    const store = memoryStore();
    const old = new Date(T0 - 500 * DAY).toISOString();
    await store.transaction((tx) =>
      tx.insertNotification({
        provider: 'apple',
        notification_id: 'n_old',
        notification_type: 'DID_RENEW',
        subtype: null,
        environment: null,
        signed_at: old,
        received_at: old,
        raw_body: '{}',
        payload: {},
      }),
    );
    const hooks = createSubscriptionWebhooks({
      apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID },
      store,
      logger: recordingLogger(),
      retention: { intervalMs: 30 },
    });
    hooks.delivery.start();
    try {
      const pruned = await waitUntil(async () => (await store.countNotifications()) === 0, 20_000);
      expect(pruned, `the worker left ${await store.countNotifications()} notification(s)`).toBe(true);
    } finally {
      await hooks.delivery.stop();
    }
    await store.transaction((tx) =>
      tx.insertNotification({
        provider: 'apple',
        notification_id: 'n_old2',
        notification_type: 'DID_RENEW',
        subtype: null,
        environment: null,
        signed_at: old,
        received_at: old,
        raw_body: '{}',
        payload: {},
      }),
    );
    await new Promise((r) => setTimeout(r, 120));
    expect(await store.countNotifications()).toBe(1);
  });

  it('a pruning run in flight ends after its current batch when the worker stops', async () => {
    const { memoryStore } = await import('../../src/index.js');
    const inner = memoryStore();
    let calls = 0;
    // A store whose every batch is full and slow: without the stop, one run would go on for 10,000 batches.
    const store = {
      ...inner,
      name: 'slow',
      prune: async () => {
        calls++;
        await new Promise((r) => setTimeout(r, 20));
        return { rawBodies: 500, notifications: 0, events: 0, deliveries: 0, receipts: 0 };
      },
    };
    const hooks = createSubscriptionWebhooks({
      apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID },
      store,
      logger: recordingLogger(),
      retention: { intervalMs: 5 },
    });
    hooks.delivery.start();
    expect(await waitUntil(() => calls >= 3, 20_000), `${calls} pruning batch(es) ran`).toBe(true);
    const atStop = calls;
    await hooks.delivery.stop();
    expect(calls).toBeLessThanOrEqual(atStop + 1); // the batch in flight, no more
    const after = calls;
    await new Promise((r) => setTimeout(r, 60));
    expect(calls).toBe(after);
  });

  it('maintenance.prune: maxBatches bounds a run (complete: false, the next run goes on); bad arguments are INVALID_ARGUMENT', async () => {
    const { memoryStore } = await import('../../src/index.js');
    const store = memoryStore();
    const old = new Date(T0 - 500 * DAY).toISOString();
    await store.transaction(async (tx) => {
      for (let i = 0; i < 10; i++)
        await tx.insertNotification({
          provider: 'apple',
          notification_id: `m${i}`,
          notification_type: 'DID_RENEW',
          subtype: null,
          environment: null,
          signed_at: old,
          received_at: old,
          raw_body: null,
          payload: {},
        });
    });
    const hooks = createSubscriptionWebhooks({
      apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID },
      store,
      logger: recordingLogger(),
      retention: { batchSize: 3, intervalMs: null },
    });
    expect(await hooks.maintenance.prune({ maxBatches: 2 })).toMatchObject({ notifications: 6, batches: 2, complete: false });
    expect(await hooks.maintenance.prune({ now: new Date() })).toMatchObject({ notifications: 4, complete: true });
    const { codeOf } = await import('../helpers/code-of.js');
    expect(await codeOf(hooks.maintenance.prune({ maxBatches: 0 }))).toBe('INVALID_ARGUMENT');
    expect(await codeOf(hooks.maintenance.prune({ now: Number.NaN }))).toBe('INVALID_ARGUMENT');
  });

  it('PostgreSQL: a batch skips rows another transaction holds (never waits on it) and takes them once released', { timeout: 60_000 }, async () => {
    const { createPgDriverStore } = await import('../helpers/databases.js');
    const db = await createPgDriverStore();
    try {
      const old = new Date(T0 - 500 * DAY).toISOString();
      await db.store.transaction(async (tx) => {
        for (const id of ['a', 'b', 'c'])
          await tx.insertNotification({
            provider: 'apple',
            notification_id: id,
            notification_type: 'DID_RENEW',
            subtype: null,
            environment: null,
            signed_at: old,
            received_at: old,
            raw_body: '{}',
            payload: {},
          });
      });
      const holder = await db.pool.connect();
      try {
        await holder.query('BEGIN');
        await holder.query(`SELECT 1 FROM "sw_notifications" WHERE "notification_id" = 'b' FOR UPDATE`);
        const hooks = createSubscriptionWebhooks({ apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID }, store: db.store, logger: recordingLogger() });
        const report = await Promise.race([hooks.maintenance.prune(), new Promise<'blocked'>((r) => setTimeout(() => r('blocked'), 5000))]);
        expect(report).toMatchObject({ notifications: 2, complete: true });
        await holder.query('COMMIT');
        expect(await hooks.maintenance.prune()).toMatchObject({ notifications: 1 });
      } finally {
        holder.release();
      }
      expect(await db.store.countNotifications()).toBe(0);
    } finally {
      await db.close();
    }
  });
});
