/**
 * Issue 9, item 4: database outage. PostgreSQL (a server of this test's own) is stopped abruptly
 * (SIGQUIT to the postmaster, as `pg_ctl stop -m immediate`) in the middle of a burst:
 * - the routes answer 500 STORE_UNAVAILABLE, so providers retry; never a 200 for an unrecorded notification;
 * - after the restart, no partial state: every inbox row has exactly its events and its contract, and
 *   nothing exists without its inbox row (one transaction per notification);
 * - the same app processes (not restarted) recover by themselves; replaying every non-200 → complete and exact;
 * - a delivery worker running through the outage logs failed rounds, does not crash, and resumes:
 *   every event reaches the receiver (repeats only as the same message).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks, type DomainEvent } from '../../src/index.js';
import { createPostgresStore, type TestDatabase } from '../helpers/databases.js';
import { startRestartablePostgres, type RestartablePostgres } from '../helpers/embedded-postgres.js';
import { startAppProcess, startDeliveryWorkerProcess, type AppProcess, type WorkerProcess } from '../helpers/app-processes.js';
import { appleHarness, type AppleHarness } from '../helpers/apple-harness.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';
import {
  APPLE_PATH,
  byId,
  expectAllDelivered,
  expectCompleteAndExact,
  forEachBounded,
  postApple,
  waitUntil,
  type ProviderResult,
} from '../helpers/reliability.js';
import type { PrismaClient } from '../generated/postgresql/client.js';

const NOTIFICATIONS = 200;
const CRASH_AFTER = 60; // responses

describe('database outage mid-burst', { timeout: 180_000 }, () => {
  let server: RestartablePostgres | undefined;
  let db: TestDatabase<PrismaClient> | undefined;
  let receiver: WebhookReceiver | undefined;
  const procs: (AppProcess | WorkerProcess)[] = [];
  let h: AppleHarness;
  beforeAll(async () => {
    h = await appleHarness();
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop().catch(() => {})));
    await receiver?.stop();
    await db?.close().catch(() => {});
    await server?.stop();
  });

  it('500 while down, no partial state, recovers by itself, replay completes exactly; the delivery worker survives', async () => {
    server = await startRestartablePostgres(); // a failure to start fails the test
    db = await createPostgresStore({}, server.url);
    receiver = await webhookReceiver();
    const hooks = createSubscriptionWebhooks({ apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, store: db.store });
    await hooks.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });
    // One app on prismaStore, one on pgStore: both must answer 500 while the database is down and recover.
    const apps = await Promise.all(
      ['prisma', 'pg'].map((store) => startAppProcess(db!.url, h.signer.rootCertificate, { captureStderr: true, env: { TEST_STORE: store } })),
    );
    const worker = await startDeliveryWorkerProcess(db.url, {
      captureStderr: true,
      env: { TEST_STORE: 'pg', DELIVERY_BATCH_SIZE: '20', DELIVERY_CONCURRENCY: '8', DELIVERY_TIMEOUT_MS: '2000' },
    });
    procs.push(...apps, worker);

    const payloads: string[] = [];
    for (let i = 0; i < NOTIFICATIONS; i++) {
      const c = h.contract();
      payloads.push(await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() }));
    }
    for (const p of payloads) expect((await h.post(APPLE_PATH, { signedPayload: p })).status).toBe(200);
    const referenceEvents = await h.store.listEvents();
    const reference = byId(referenceEvents);

    // The burst; after CRASH_AFTER answers the database goes down and stays down until the burst ends.
    const last: ProviderResult[] = [];
    let answered = 0;
    let crashed: Promise<void> | undefined;
    await forEachBounded(payloads, 16, async (p, i) => {
      last[i] = await postApple(apps[i % 2]!.url, p);
      if (++answered === CRASH_AFTER) crashed = server!.crash();
    });
    await crashed;
    const failed = payloads.map((_, i) => i).filter((i) => last[i]!.status !== 200);
    expect(failed.length).toBeGreaterThan(0);
    // Every answer is a 200 (recorded) or a 500 STORE_UNAVAILABLE (retry); never another status, never a dropped connection.
    expect(last.filter((r) => r.status !== 200 && !(r.status === 500 && r.code === 'STORE_UNAVAILABLE'))).toEqual([]);
    // While it is down: a fresh attempt answers 500 STORE_UNAVAILABLE as well.
    expect(await postApple(apps[0]!.url, payloads[failed[0]!]!)).toEqual({ status: 500, code: 'STORE_UNAVAILABLE' });
    // The worker noticed the outage (a failed round), and is still running.
    expect(await waitUntil(() => worker.stderr.join('').includes('delivery worker round failed'), 30_000)).toBe(true);
    expect(worker.child.exitCode).toBeNull();

    await server.restart();

    // No partial state: the inbox rows present have exactly their events and contracts, nothing else exists.
    const inbox = (await db.prisma.$queryRawUnsafe<{ notification_id: string }[]>('SELECT "notification_id" FROM "sw_notifications"')).map(
      (r) => r.notification_id,
    );
    const acknowledged = payloads.map((_, i) => i).filter((i) => last[i]!.status === 200);
    expect(inbox.length).toBeGreaterThanOrEqual(acknowledged.length); // every 200 was committed (more: committed, then the answer was lost)
    const inInbox = new Set(inbox);
    const expectedNow = referenceEvents.filter((e: DomainEvent) => inInbox.has(e.source.notification_id));
    const eventsNow = await db.store.listEvents();
    expect(eventsNow.map((e) => e.id).sort()).toEqual(expectedNow.map((e) => e.id).sort());
    expect((await db.store.listSubscriptions()).length).toBe(inbox.length);
    const contractsNow = new Set((await db.store.listSubscriptions()).map((s) => s.contract_id));
    expect(
      expectedNow
        .filter((e) => e.type === 'customer.subscription.created')
        .every((e) => contractsNow.has((e.data.object as { contract_id: string }).contract_id)),
    ).toBe(true);

    // The provider retries; the same processes serve it (they were not restarted).
    let pending = failed;
    for (let round = 0; round < 10 && pending.length > 0; round++) {
      const still: number[] = [];
      await forEachBounded(pending, 16, async (i) => {
        if ((await postApple(apps[i % 2]!.url, payloads[i]!)).status !== 200) still.push(i);
      });
      pending = still;
    }
    expect(pending).toEqual([]);

    await expectCompleteAndExact(db.store, reference, NOTIFICATIONS);

    // The worker resumed by itself: every event delivered. A row it had claimed when the database went
    // down is retried once its claim lapses ((20/8 + 1) x 2 s + 30 s), hence the generous bound.
    const ids = [...reference.keys()];
    const report = await expectAllDelivered(receiver!.received, ids, 90_000);
    expect(worker.child.exitCode).toBeNull();
    expect(apps.every((a) => a.child.exitCode === null)).toBe(true);
    console.log(`db-outage: ${failed.length} answered 500 and were replayed; ${report.repeated.length} deliveries repeated`);
  });
});
