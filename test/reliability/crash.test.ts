/**
 * Issue 9, item 3: crash. `kill -9` an app process in the middle of a burst and a delivery worker in the
 * middle of an attempt,
 * restart both, and replay every notification the "provider" did not get a 200 for (as Apple does):
 * nothing lost, nothing doubled; the outbox delivers every event to a real receiver.
 *
 * What a crash allows for outbound delivery (RELIABILITY.md): at least once. A worker killed between a
 * receiver's 2xx and recording it leaves the row claimed; once the claim lapses the row is sent again,
 * with the same webhook-id and byte-identical body. So: no event missing, no unexpected id, repeats
 * only of the same message and at most one claimed batch of them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks } from '../../src/index.js';
import { createPostgresStore, type TestDatabase } from '../helpers/databases.js';
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

const NOTIFICATIONS = 200;
const KILL_AFTER = 60; // responses
const BATCH = 20; // the delivery worker's claim size: the most a crash can leave delivered-but-unrecorded
const WORKER_ENV = { DELIVERY_BATCH_SIZE: String(BATCH), DELIVERY_CONCURRENCY: '8', DELIVERY_TIMEOUT_MS: '2000' };

describe('crash: kill -9 mid-burst, restart, replay', { timeout: 180_000 }, () => {
  let db: TestDatabase<unknown> | undefined;
  let receiver: WebhookReceiver | undefined;
  const procs: (AppProcess | WorkerProcess)[] = [];
  let h: AppleHarness;
  beforeAll(async () => {
    h = await appleHarness();
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop().catch(() => {})));
    await receiver?.stop();
    await db?.close();
  });

  it('nothing lost, nothing doubled; every event delivered, repeats only as the same message', async () => {
    db = await createPostgresStore();
    // The delivery worker is killed from inside the receiver, while its 100th request is being answered:
    // the receiver counts that 200, the worker never reads it. That delivery must be repeated.
    let worker: WorkerProcess | undefined;
    let workerKilled: Promise<void> | undefined;
    let cutId = '';
    receiver = await webhookReceiver(({ id, n }) => {
      if (n === 99 && worker) {
        cutId = id;
        workerKilled = worker.kill();
      }
      return { status: 200 };
    });
    const hooks = createSubscriptionWebhooks({ apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, store: db.store });
    await hooks.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });
    // a on pgStore (the one killed), b on prismaStore.
    const [a, b] = await Promise.all([
      startAppProcess(db.url, h.signer.rootCertificate, { env: { TEST_STORE: 'pg' } }),
      startAppProcess(db.url, h.signer.rootCertificate),
    ]);
    worker = await startDeliveryWorkerProcess(db.url, { env: WORKER_ENV });
    procs.push(a!, b!, worker);

    const payloads: string[] = [];
    for (let i = 0; i < NOTIFICATIONS; i++) {
      const c = h.contract();
      payloads.push(await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() }));
    }
    for (const p of payloads) expect((await h.post(APPLE_PATH, { signedPayload: p })).status).toBe(200);
    const reference = byId(await h.store.listEvents());

    // The burst, alternating between A and B; after KILL_AFTER answers, A dies (SIGKILL).
    const last: ProviderResult[] = [];
    let answered = 0;
    let killed: Promise<unknown> | undefined;
    await forEachBounded(payloads, 16, async (p, i) => {
      last[i] = await postApple((i % 2 === 0 ? a! : b!).url, p);
      if (++answered === KILL_AFTER) killed = a!.kill();
    });
    await killed;
    expect(await waitUntil(() => workerKilled !== undefined, 60_000)).toBe(true);
    await workerKilled;
    const failed = payloads.map((_, i) => i).filter((i) => last[i]!.status !== 200);
    expect(failed.length).toBeGreaterThan(0); // the crash did cost answers
    expect(last.every((r) => r.status === 200 || r.status === 0)).toBe(true); // B kept answering 200

    // Restart: A again, and a worker whose clock runs 60 s ahead (past the crashed worker's claim
    // lock of (20/8 + 1) x 2 s + 30 s), which is what waiting for the lock to lapse would do.
    const a2 = await startAppProcess(db.url, h.signer.rootCertificate, { env: { TEST_STORE: 'pg' } });
    const worker2 = await startDeliveryWorkerProcess(db.url, { env: { ...WORKER_ENV, DELIVERY_CLOCK_OFFSET_MS: '60000' } });
    procs.push(a2, worker2);
    // Apple's retries: every notification without a 200, again, until it gets one (bounded rounds).
    let pending = failed;
    for (let round = 0; round < 5 && pending.length > 0; round++) {
      const still: number[] = [];
      await forEachBounded(pending, 16, async (i) => {
        const r = await postApple((i % 2 === 0 ? a2 : b!).url, payloads[i]!);
        if (r.status !== 200) still.push(i);
      });
      pending = still;
    }
    expect(pending).toEqual([]);

    // Nothing lost, nothing doubled.
    await expectCompleteAndExact(db.store, reference, NOTIFICATIONS);

    // The outbox: every event reaches the receiver.
    const ids = [...reference.keys()];
    const report = await expectAllDelivered(receiver!.received, ids, 60_000);
    expect(report.repeated).toContain(cutId); // the delivery cut by the crash was sent again, same id and body
    expect(report.repeated.length).toBeLessThanOrEqual(BATCH);
    await waitUntil(async () => (await db!.store.listDeliveries({ status: 'delivered', limit: ids.length + 1 })).length === ids.length, 30_000);
    expect(await db.store.listDeliveries({ status: 'delivered', limit: ids.length + 1 })).toHaveLength(ids.length);
    expect(await db.store.listDeliveries({ status: 'pending' })).toEqual([]);
    console.log(`crash: ${failed.length} notifications replayed; ${report.repeated.length} deliveries repeated (same webhook-id and body)`);
  });
});
