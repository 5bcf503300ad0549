import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { createSubscriptionWebhooks, memoryStore, type DomainEvent, type ReconcileResult, type Store, type Subscription } from '../../../src/index.js';
import { createAppleTestSigner } from '../../../src/testing/apple-signer.js';
import { APP_APPLE_ID, BUNDLE_ID, PRODUCT, recordingLogger, sharedSigner } from '../../helpers/apple-harness.js';
import { startFakeAppleApi, type FakeAppleApi } from '../../helpers/fake-apple-api.js';

const DAY = 86_400_000;
let apple: FakeAppleApi;
let signer: Awaited<ReturnType<typeof sharedSigner>>;

beforeAll(async () => {
  signer = await sharedSigner();
  // 3 per page: the 10-notification lifecycle spans 4 pages.
  apple = await startFakeAppleApi({ bundleId: BUNDLE_ID, pageSize: 3 });
});
afterAll(() => apple.close());

function instance(store: Store = memoryStore()) {
  const hooks = createSubscriptionWebhooks({
    apple: {
      bundleId: BUNDLE_ID,
      appAppleId: APP_APPLE_ID,
      rootCertificates: [signer.rootCertificate],
      api: { keyId: apple.keyId, issuerId: apple.issuerId, privateKey: apple.privateKeyPem, baseUrl: apple.baseUrl },
    },
    store,
    logger: recordingLogger(),
  });
  const events: DomainEvent[] = [];
  hooks.bus.subscribe((e) => {
    events.push(e);
  });
  const deliver = (signedPayload: string) =>
    hooks.handle('apple', { headers: { 'content-type': 'application/json' }, rawBody: JSON.stringify({ signedPayload }) });
  return { hooks, events, store, deliver };
}

/** A 10-notification subscription lifecycle, signed in the past (Apple's history only holds what was sent). */
async function lifecycle(appAccountToken: string) {
  const originalTransactionId = String(2_000_000_000_000_000 + Math.floor(Math.random() * 1e12));
  const t0 = Date.now() - 2 * 3_600_000;
  const tx = (n: number) => ({
    transactionId: n === 1 ? originalTransactionId : `${originalTransactionId}-${n}`,
    originalTransactionId,
    webOrderLineItemId: `${originalTransactionId}-wol-${n}`,
    bundleId: BUNDLE_ID,
    productId: PRODUCT,
    subscriptionGroupIdentifier: 'group1',
    purchaseDate: t0 + (n - 1) * 30 * DAY,
    originalPurchaseDate: t0,
    expiresDate: t0 + n * 30 * DAY,
    type: 'Auto-Renewable Subscription',
    appAccountToken,
    inAppOwnershipType: 'PURCHASED',
    environment: 'Production',
    transactionReason: n === 1 ? 'PURCHASE' : 'RENEWAL',
  });
  const steps: Array<[string, string | undefined, number, number]> = [
    ['SUBSCRIBED', 'INITIAL_BUY', 1, 1],
    ['DID_RENEW', undefined, 2, 1],
    ['DID_RENEW', undefined, 3, 1],
    ['DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_DISABLED', 3, 0],
    ['DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_ENABLED', 3, 1],
    ['DID_RENEW', undefined, 4, 1],
    ['DID_FAIL_TO_RENEW', 'GRACE_PERIOD', 4, 1],
    ['DID_RENEW', 'BILLING_RECOVERY', 5, 1],
    ['DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_DISABLED', 5, 0],
    ['EXPIRED', 'VOLUNTARY', 5, 0],
  ];
  const signed: Array<{ signedPayload: string; signedDate: number }> = [];
  for (const [i, [notificationType, subtype, n, autoRenewStatus]] of steps.entries()) {
    const signedDate = t0 + (i + 1) * 60_000;
    signed.push({
      signedDate,
      signedPayload: await signer.signNotification({
        notificationType,
        ...(subtype ? { subtype } : {}),
        signedDate,
        data: {
          bundleId: BUNDLE_ID,
          appAppleId: APP_APPLE_ID,
          environment: 'Production',
          transaction: { ...tx(n), signedDate },
          renewalInfo: { originalTransactionId, autoRenewProductId: PRODUCT, productId: PRODUCT, autoRenewStatus, signedDate },
        },
      } as Parameters<typeof signer.signNotification>[0]),
    });
  }
  return { originalTransactionId, signed, since: t0 };
}

const comparable = (s: Subscription | null) => {
  if (!s) return null;
  const { updated: _u, created: _c, ...rest } = s as Subscription & { updated?: unknown; created?: unknown };
  return rest;
};
const eventKey = (events: DomainEvent[]) => events.map((e) => `${e.type} ${e.id}`).sort();

describe('hooks.apple.reconcile', () => {
  async function lossyRun(lost: Set<number>) {
    const full = instance();
    const order = await full.hooks.orders.create({ userId: 'user_42', productId: PRODUCT });
    const { signed, originalTransactionId, since } = await lifecycle(order.no);
    apple.history.length = 0;
    apple.history.push(...signed.map((s) => ({ ...s, sendAttempts: [{ attemptDate: s.signedDate, sendAttemptResult: 'SUCCESS' }] })));
    for (const s of signed) expect((await full.deliver(s.signedPayload)).response.status).toBe(200);

    const lossy = instance();
    await lossy.store.transaction((tx) => tx.saveOrder(order));
    for (const [i, s] of signed.entries()) if (!lost.has(i)) expect((await lossy.deliver(s.signedPayload)).response.status).toBe(200);
    for (const i of lost) apple.history[i]!.sendAttempts = [{ attemptDate: signed[i]!.signedDate, sendAttemptResult: 'NO_RESPONSE' }];
    return { full, lossy, originalTransactionId, since };
  }

  it('after 40% of a lifecycle was lost (an outage): same final state and events as full delivery; a second run processes nothing', async () => {
    const { full, lossy, originalTransactionId, since } = await lossyRun(new Set([6, 7, 8, 9]));
    const historyRequests = apple.seen.length;
    const first = await lossy.hooks.apple.reconcile({ since: new Date(since) });
    expect(first).toEqual({ seen: 10, processed: 4, duplicates: 6, failed: 0, failures: [] });
    const pages = apple.seen.slice(historyRequests).filter((r) => r.path === '/inApps/v1/notifications/history');
    expect(pages).toHaveLength(4);
    expect(pages.every((r) => r.authError === null)).toBe(true);

    expect(comparable(await lossy.hooks.subscriptions.get(originalTransactionId))).toEqual(
      comparable(await full.hooks.subscriptions.get(originalTransactionId)),
    );
    expect((await lossy.hooks.subscriptions.get(originalTransactionId))?.status).toBe('expired');
    expect(eventKey(lossy.events)).toEqual(eventKey(full.events));

    const before = lossy.events.length;
    const second = await lossy.hooks.apple.reconcile({ since: '1d' });
    expect(second).toMatchObject({ seen: 10, processed: 0, duplicates: 10, failed: 0 });
    expect(lossy.events.length).toBe(before);

    const onlyFailures = await lossy.hooks.apple.reconcile({ since: new Date(since), onlyFailures: true });
    expect(onlyFailures).toMatchObject({ seen: 4, processed: 0, duplicates: 4 });
    expect(apple.seen.at(-1)!.body).toMatchObject({ onlyFailures: true });
  });

  it('40% lost here and there: same final state and every notification recorded; late ones older than the state add no transitions', async () => {
    const { full, lossy, originalTransactionId, since } = await lossyRun(new Set([1, 4, 6, 8]));
    expect(await lossy.hooks.apple.reconcile({ since })).toMatchObject({ seen: 10, processed: 4, duplicates: 6, failed: 0 });
    expect(comparable(await lossy.hooks.subscriptions.get(originalTransactionId))).toEqual(
      comparable(await full.hooks.subscriptions.get(originalTransactionId)),
    );
    expect(await lossy.store.countNotifications()).toBe(10);
    const received = (events: DomainEvent[]) => eventKey(events.filter((e) => e.type === 'provider.notification.received'));
    expect(received(lossy.events)).toEqual(received(full.events));
    // State only moves forward by signedDate: a DID_RENEW that arrives after EXPIRED is recorded, not replayed as "renewed".
    expect(lossy.events.filter((e) => e.type === 'customer.subscription.renewed').length).toBeLessThan(
      full.events.filter((e) => e.type === 'customer.subscription.renewed').length,
    );
    expect((await lossy.hooks.apple.reconcile({ since })).processed).toBe(0);
  });

  it('two instances on one store reconciling at once commit each notification exactly once', async () => {
    const store = memoryStore();
    const a = instance(store);
    const b = instance(store);
    const reference = instance();
    const order = await a.hooks.orders.create({ userId: 'user_7', productId: PRODUCT });
    await reference.store.transaction((tx) => tx.saveOrder(order));
    const { signed, originalTransactionId, since } = await lifecycle(order.no);
    apple.history.length = 0;
    apple.history.push(...signed);
    for (const s of signed) await reference.deliver(s.signedPayload);

    const [ra, rb] = await Promise.all([a.hooks.apple.reconcile({ since }), b.hooks.apple.reconcile({ since })]);
    expect(ra.processed + rb.processed).toBe(10);
    expect(ra.duplicates + rb.duplicates).toBe(10);
    expect(ra.failed + rb.failed).toBe(0);
    expect(eventKey([...a.events, ...b.events])).toEqual(eventKey(reference.events));
    expect(comparable(await a.hooks.subscriptions.get(originalTransactionId))).toEqual(
      comparable(await reference.hooks.subscriptions.get(originalTransactionId)),
    );
    expect(await store.countNotifications()).toBe(10);
  });

  it('an entry the route rejects is counted as failed with its code; the walk goes on', async () => {
    const attacker = await createAppleTestSigner({ bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Production' });
    const t = Date.now() - 60_000;
    const forgedUuid = randomUUID();
    apple.history.length = 0;
    apple.history.push(
      {
        signedDate: t,
        signedPayload: await attacker.signNotification({
          notificationUUID: forgedUuid,
          signedDate: t,
          data: { environment: 'Production', appAppleId: APP_APPLE_ID },
        }),
      },
      { signedDate: t + 1, signedPayload: await signer.signNotification({ signedDate: t + 1, data: { environment: 'Production', appAppleId: APP_APPLE_ID } }) },
    );
    const { hooks } = instance();
    const r = await hooks.apple.reconcile({ since: t - 1000 });
    expect(r).toEqual({
      seen: 2,
      processed: 1,
      duplicates: 0,
      failed: 1,
      failures: [{ notificationUUID: forgedUuid, status: 400, error: 'CERT_CHAIN_INVALID' }],
    });
  });

  it('bad windows are INVALID_ARGUMENT; Apple errors surface as APPLE_API_* codes', async () => {
    const { hooks } = instance();
    await expect(hooks.apple.reconcile({ since: 'yesterday-ish' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(hooks.apple.reconcile({ since: '1h', until: '2h' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    apple.failNext('/inApps/v1/notifications/history', { status: 401 }, 2);
    await expect(hooks.apple.reconcile({ since: '1h' })).rejects.toMatchObject({ code: 'APPLE_API_UNAUTHORIZED' });
  });

  it('startReconcileSchedule runs at once, runNow joins, stop() waits for the run in progress', async () => {
    const t = Date.now() - 60_000;
    apple.history.length = 0;
    apple.history.push({
      signedDate: t,
      signedPayload: await signer.signNotification({ signedDate: t, data: { environment: 'Production', appAppleId: APP_APPLE_ID } }),
    });
    const { hooks } = instance();
    const results: ReconcileResult[] = [];
    let firstDone!: () => void;
    const first = new Promise<void>((resolve) => (firstDone = resolve));
    const schedule = hooks.apple.startReconcileSchedule({
      every: '1h',
      onResult: (r) => {
        results.push(r);
        firstDone();
      },
    });
    await first;
    expect(results[0]).toMatchObject({ seen: 1, processed: 1 });
    const again = await schedule.runNow();
    expect(again).toMatchObject({ seen: 1, processed: 0, duplicates: 1 });
    await schedule.stop();
    expect(() => hooks.apple.startReconcileSchedule({ every: 'often' })).toThrow(/duration/);
  });
});
