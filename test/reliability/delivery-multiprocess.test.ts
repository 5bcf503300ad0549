/**
 * Three worker processes share one PostgreSQL outbox of 5,000 deliveries: each is delivered once,
 * counted by webhook-id at a real receiver, none twice (FOR UPDATE SKIP LOCKED claims).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { enqueueDeliveries } from '../../src/delivery/outbox.js';
import { createSubscriptionWebhooks } from '../../src/index.js';
import { sampleEvent } from '../../src/testing/store-conformance.js';
import { createPostgresStore, type TestDatabase } from '../helpers/databases.js';
import { expectAllDelivered } from '../helpers/reliability.js';
import { webhookReceiver, type WebhookReceiver } from '../helpers/webhook-receiver.js';

const root = new URL('../..', import.meta.url).pathname;
const EVENTS = 5000;

function startWorker(databaseUrl: string): Promise<{ child: ChildProcess; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/delivery-worker-process.ts'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`worker exited early (${code})`)));
    createInterface({ input: child.stdout! }).once('line', () =>
      resolve({
        child,
        stop: async () => {
          child.kill('SIGTERM');
          await exited;
        },
      }),
    );
  });
}

describe('three delivery worker processes on one PostgreSQL', () => {
  let db: TestDatabase<unknown> | undefined;
  let receiver: WebhookReceiver | undefined;
  const workers: { stop: () => Promise<void> }[] = [];
  afterAll(async () => {
    await Promise.all(workers.map((w) => w.stop().catch(() => {})));
    await receiver?.stop();
    await db?.close();
  });

  it(`deliver ${EVENTS} events, each exactly once`, { timeout: 180_000 }, async () => {
    db = await createPostgresStore();
    const ids = new Set<string>();
    receiver = await webhookReceiver(({ id }) => {
      ids.add(id);
      return { status: 200 };
    });
    const hooks = createSubscriptionWebhooks({ apple: { bundleId: 'com.example.app', environments: ['Sandbox'] }, store: db.store });
    const endpoint = await hooks.webhookEndpoints.create({ url: receiver.url, enabled_events: ['*'] });
    // The outbox as commits leave it: events and their delivery rows, written together.
    const now = new Date().toISOString();
    const events = Array.from({ length: EVENTS }, (_, i) => sampleEvent('mp', i).id);
    for (let b = 0; b < EVENTS; b += 500) {
      const batch = Array.from({ length: 500 }, (_, i) => sampleEvent('mp', b + i));
      await db.store.transaction(async (tx) => {
        await tx.insertEvents(batch);
        await enqueueDeliveries(tx, batch, [], { now, notifier: false });
      });
    }
    expect(await db.store.listDeliveries({ endpointId: endpoint.id, status: 'pending', limit: 10 })).toHaveLength(10);
    workers.push(...(await Promise.all([1, 2, 3].map(() => startWorker(db!.url)))));
    await expectAllDelivered(receiver.received, events, 150_000); // bounded; a failure lists the event ids that never arrived
    await Promise.all(workers.splice(0).map((w) => w.stop()));

    expect(ids.size).toBe(EVENTS);
    expect(receiver.received).toHaveLength(EVENTS); // none twice
    const delivered = await db.store.listDeliveries({ status: 'delivered', limit: EVENTS + 1 });
    expect(delivered).toHaveLength(EVENTS);
    expect(delivered.every((d) => d.attempts === 1)).toBe(true);
    expect(await db.store.listDeliveries({ status: 'pending' })).toEqual([]);
  });
});
