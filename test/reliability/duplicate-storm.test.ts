/**
 * Issue 9, item 2: a duplicate storm across processes. 4 app processes (real HTTP) on one PostgreSQL;
 * 200 distinct Apple notifications, each sent 50 times, the copies of a notification racing each other
 * across the 4 processes → exactly 200 inbox rows, exactly the events a single in-order run produces
 * (byte-identical, none twice), and every contract in the same final state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresStore, type TestDatabase } from '../helpers/databases.js';
import { startAppProcess, type AppProcess } from '../helpers/app-processes.js';
import { appleHarness, type AppleHarness } from '../helpers/apple-harness.js';
import { APPLE_PATH, byId, forEachBounded, postApple, shuffle, type ProviderResult } from '../helpers/reliability.js';
import { createGooglePlayTestKit, type GooglePlayPush, type GooglePlayTestKit } from '../../src/testing/index.js';
import { googleHarness } from '../helpers/google-harness.js';
import type { Order } from '../../src/index.js';

const CONTRACTS = 100; // x (SUBSCRIBED, DID_RENEW) = 200 distinct notifications
const COPIES = 50;
// What 2 cores serve without queueing for seconds: the races are measured, not overload.
const IN_FLIGHT = 64;

describe('duplicate storm: 4 app processes, 200 notifications x 50 copies', { timeout: 180_000 }, () => {
  let db: TestDatabase<unknown> | undefined;
  const apps: AppProcess[] = [];
  let h: AppleHarness;
  beforeAll(async () => {
    h = await appleHarness(); // signs, and is the single-process in-order reference (memory store)
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop().catch(() => {})));
    await db?.close();
  });

  it('exactly 200 inbox rows, exactly the reference events (by id and content), contracts in their final state', async () => {
    db = await createPostgresStore();
    // Two processes on prismaStore, two on pgStore: both stores share the tables and the guarantees.
    apps.push(
      ...(await Promise.all(
        Array.from({ length: 4 }, (_, i) => startAppProcess(db!.url, h.signer.rootCertificate, { env: { TEST_STORE: i % 2 ? 'pg' : 'prisma' } })),
      )),
    );
    const contracts = Array.from({ length: CONTRACTS }, () => h.contract());
    const purchases: string[] = [];
    const renewals: string[] = [];
    for (const c of contracts) purchases.push(await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() }));
    for (const c of contracts) renewals.push(await h.sign('DID_RENEW', undefined, { transaction: c.transaction(), renewalInfo: c.renewal() }));

    // Reference: each notification once, in order, one process, memory store.
    for (const p of [...purchases, ...renewals]) expect((await h.post(APPLE_PATH, { signedPayload: p })).status).toBe(200);
    const reference = byId(await h.store.listEvents());

    // The storm. Purchases first, then renewals (a renewal racing its own purchase is the out-of-order
    // suite's subject). Within a phase, the 50 copies of a notification are spread over the 4 processes
    // and sent close together (a few notifications' copies shuffled into one window), so they race.
    const results: ProviderResult[] = [];
    let seed = 7;
    for (const phase of [purchases, renewals]) {
      const requests: { payload: string; app: AppProcess }[] = [];
      for (let w = 0; w < phase.length; w += 4) {
        const window = phase.slice(w, w + 4).flatMap((payload) => Array.from({ length: COPIES }, (_, k) => ({ payload, app: apps[k % apps.length]! })));
        requests.push(...shuffle(window, seed++));
      }
      await forEachBounded(requests, IN_FLIGHT, async (r) => {
        results.push(await postApple(r.app.url, r.payload));
      });
    }

    expect(results).toHaveLength(2 * CONTRACTS * COPIES);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    // Exactly one answer per notification recorded it; all the others said "duplicate".
    expect(results.filter((r) => r.duplicate !== true)).toHaveLength(2 * CONTRACTS);
    expect(await db.store.countNotifications('apple')).toBe(2 * CONTRACTS);

    const events = await db.store.listEvents();
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length); // none twice
    expect(ids.length).toBe(reference.size);
    const got = byId(events);
    expect([...got.keys()].sort()).toEqual([...reference.keys()].sort());
    for (const [id, json] of reference) expect(got.get(id), id).toBe(json);

    const final = (await db.store.listSubscriptions()).map((s) => [s.contract_id, s.status, s.latest_transaction_id, s.current_period_end].join('|')).sort();
    const expected = (await h.store.listSubscriptions()).map((s) => [s.contract_id, s.status, s.latest_transaction_id, s.current_period_end].join('|')).sort();
    expect(final).toHaveLength(CONTRACTS);
    expect(final).toEqual(expected);
    expect((await db.store.listSubscriptions()).every((s) => s.status === 'active' && s.latest_transaction_id?.endsWith('-2'))).toBe(true);
  });
});

describe('duplicate storm, Google Play pushes: 4 app processes, 80 messages x 25 copies', { timeout: 180_000 }, () => {
  const GOOGLE_CONTRACTS = 40; // x (PURCHASED, RENEWED) = 80 distinct messages
  const GOOGLE_COPIES = 25;
  let db: TestDatabase<unknown> | undefined;
  const apps: AppProcess[] = [];
  let kit: GooglePlayTestKit;
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop().catch(() => {})));
    await db?.close();
    await kit?.close();
  });

  it('exactly one commit per messageId, one order.paid per Google order, one acknowledgement row per purchase, the reference events', async () => {
    kit = await createGooglePlayTestKit();
    const h = await googleHarness({ kit }); // the single-process in-order reference (memory store)
    const signer = await appleHarness();
    db = await createPostgresStore();
    const env = { TEST_GOOGLE_CONFIG: JSON.stringify(kit.config()) };
    apps.push(
      ...(await Promise.all(
        Array.from({ length: 4 }, (_, i) => startAppProcess(db!.url, signer.signer.rootCertificate, { env: { ...env, TEST_STORE: i % 2 ? 'pg' : 'prisma' } })),
      )),
    );
    const tokens = Array.from({ length: GOOGLE_CONTRACTS }, (_, i) => `storm-token-${i}`);
    const start = Date.now();
    const purchase = (i: number) =>
      kit.subscriptionPurchase({ productId: 'pro_monthly', orderId: `GPA.storm-${i}`, startTime: start, expiryTime: start + 30 * 86_400_000 });
    const renewal = (i: number) =>
      kit.subscriptionPurchase({
        productId: 'pro_monthly',
        orderId: `GPA.storm-${i}..0`,
        startTime: start,
        expiryTime: start + 60 * 86_400_000,
        acknowledged: true,
      });
    const phases: Array<{ state: (i: number) => Record<string, unknown>; pushes: GooglePlayPush[] }> = [
      {
        state: purchase,
        pushes: await Promise.all(tokens.map((t, i) => kit.push(kit.subscriptionNotification('SUBSCRIPTION_PURCHASED', t), { messageId: `storm-p-${i}` }))),
      },
      {
        state: renewal,
        pushes: await Promise.all(tokens.map((t, i) => kit.push(kit.subscriptionNotification('SUBSCRIPTION_RENEWED', t), { messageId: `storm-r-${i}` }))),
      },
    ];

    // Reference: each message once, in order, one process, memory store.
    for (const phase of phases) {
      tokens.forEach((t, i) => kit.setSubscription(t, phase.state(i)));
      for (const p of phase.pushes) expect((await h.post(p)).status).toBe(200);
    }
    const reference = new Map((await h.store.listEvents()).map((e) => [e.id, e.type]));

    const results: Array<{ status: number; duplicate: boolean }> = [];
    let seed = 11;
    for (const phase of phases) {
      tokens.forEach((t, i) => kit.setSubscription(t, phase.state(i)));
      const requests: { push: GooglePlayPush; app: AppProcess }[] = [];
      for (let w = 0; w < phase.pushes.length; w += 4) {
        const window = phase.pushes.slice(w, w + 4).flatMap((push) => Array.from({ length: GOOGLE_COPIES }, (_, k) => ({ push, app: apps[k % apps.length]! })));
        requests.push(...shuffle(window, seed++));
      }
      await forEachBounded(requests, IN_FLIGHT, async (r) => {
        try {
          const res = await fetch(r.app.url + '/api/google/rtdn', { method: 'POST', headers: r.push.headers, body: r.push.body });
          const body = (await res.json().catch(() => ({}))) as { duplicate?: boolean };
          results.push({ status: res.status, duplicate: body.duplicate === true });
        } catch {
          results.push({ status: 0, duplicate: false });
        }
      });
    }

    expect(results).toHaveLength(2 * GOOGLE_CONTRACTS * GOOGLE_COPIES);
    expect(results.filter((r) => r.status !== 200)).toEqual([]);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(2 * GOOGLE_CONTRACTS);
    expect(await db.store.countNotifications('google')).toBe(2 * GOOGLE_CONTRACTS);
    const events = await db.store.listEvents();
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Map(events.map((e) => [e.id, e.type]))).toEqual(reference);
    const paid = events.filter((e) => e.type === 'order.paid').map((e) => (e.data.object as Order).trade_no);
    expect(paid).toHaveLength(2 * GOOGLE_CONTRACTS);
    expect(new Set(paid).size).toBe(paid.length);
    expect(await db.store.listDeliveries({ endpointId: 'google.acknowledge', limit: 1000 })).toHaveLength(GOOGLE_CONTRACTS);
    const subs = await db.store.listSubscriptions({ provider: 'google' });
    expect(subs).toHaveLength(GOOGLE_CONTRACTS);
    expect(
      subs.every(
        (s) => s.status === 'active' && s.latest_transaction_id?.endsWith('..0') && s.current_period_end === new Date(start + 60 * 86_400_000).toISOString(),
      ),
    ).toBe(true);
  });
});
