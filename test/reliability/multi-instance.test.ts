import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent } from '../../src/index.js';
import { createPostgresStore, type TestDatabase } from '../helpers/databases.js';
import { startAppProcess, type AppProcess } from '../helpers/app-processes.js';
import { appleHarness } from '../helpers/apple-harness.js';

const APPLE = '/api/users/app-store-notifications';

async function post(url: string, signedPayload: string) {
  const res = await fetch(url + APPLE, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ signedPayload }) });
  return { status: res.status, body: (await res.json()) as { data: { duplicate?: boolean } } };
}

// Child processes on a 2-core machine that runs other test files at the same time: generous timeouts.
describe('several app processes sharing one PostgreSQL', { timeout: 180_000 }, () => {
  const dbs: TestDatabase<unknown>[] = [];
  const procs: AppProcess[] = [];
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop().catch(() => {})));
    await Promise.all(dbs.map((d) => d.close()));
  });

  let h: Awaited<ReturnType<typeof appleHarness>>;
  beforeAll(async () => {
    h = await appleHarness(); // used only to sign; the apps under test are the child processes
  });

  // Prisma everywhere, pgStore everywhere, and both at once on one database (the two stores share the tables).
  it.each([
    ['prismaStore', ['prisma', 'prisma', 'prisma', 'prisma']],
    ['pgStore', ['pg', 'pg', 'pg', 'pg']],
    ['prismaStore and pgStore mixed', ['prisma', 'pg', 'prisma', 'pg']],
  ])('4 processes (%s) each receive the same 100 notifications concurrently: exactly 100 inbox rows, every event once', async (_name, stores) => {
    const db = await createPostgresStore();
    dbs.push(db);
    const apps = await Promise.all(stores.map((store) => startAppProcess(db.url, h.signer.rootCertificate, { env: { TEST_STORE: store } })));
    procs.push(...apps);
    // 100 notifications: 50 contracts, each SUBSCRIBED then DID_RENEW. All purchases are sent first, then all
    // renewals, so the expected event set is exact (the order within a contract is covered by the route suite).
    const contracts = Array.from({ length: 50 }, () => h.contract());
    const payloads: string[] = [];
    for (const c of contracts) payloads.push(await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction() }));
    for (const c of contracts) payloads.push(await h.sign('DID_RENEW', undefined, { transaction: c.transaction() }));
    // Each notification goes to all 4 processes at the same moment; 8 notifications (32 requests) in flight,
    // about what one app sees from Apple at a busy moment, so what is measured is the duplicate race, not overload.
    const results: Awaited<ReturnType<typeof post>>[] = [];
    for (const phase of [payloads.slice(0, 50), payloads.slice(50)]) {
      let next = 0;
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < phase.length) {
            const p = phase[next++]!;
            results.push(...(await Promise.all(apps.map((a) => post(a.url, p)))));
          }
        }),
      );
    }
    expect(results.map((r) => r.status).filter((s) => s !== 200)).toEqual([]);
    expect(results.filter((r) => r.body.data.duplicate !== true)).toHaveLength(100);
    expect(await db.store.countNotifications('apple')).toBe(100);
    const events = await db.store.listEvents();
    const ids = events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
    const count = (t: string) => events.filter((e) => e.type === t).length;
    expect(count('provider.notification.received')).toBe(100);
    expect(count('customer.subscription.created')).toBe(50);
    expect(count('customer.subscription.started')).toBe(50);
    expect(count('customer.subscription.renewed')).toBe(50);
    expect(count('order.paid')).toBe(100);
    const subs = await db.store.listSubscriptions();
    expect(subs).toHaveLength(50);
    expect(subs.every((s) => s.status === 'active' && s.latest_transaction_id?.endsWith('-2'))).toBe(true);
    await Promise.all(apps.map((a) => a.stop()));
  });

  it('restart: process A (prismaStore) records half a lifecycle and exits, process B (pgStore) finishes it; same state and events as one process', async () => {
    const c = h.contract({ appAccountToken: crypto.randomUUID() });
    const t1 = c.transaction();
    const t2 = c.transaction();
    const lifecycle = [
      await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: t1, renewalInfo: c.renewal() }),
      await h.sign('DID_RENEW', undefined, { transaction: t2, renewalInfo: c.renewal() }),
      await h.sign('DID_CHANGE_RENEWAL_STATUS', 'AUTO_RENEW_DISABLED', { transaction: t2, renewalInfo: c.renewal({ autoRenewStatus: 0 }) }),
      await h.sign('EXPIRED', 'VOLUNTARY', { transaction: t2, renewalInfo: c.renewal({ autoRenewStatus: 0 }) }),
    ];
    const run = async (split: number) => {
      const db = await createPostgresStore();
      dbs.push(db);
      let app = await startAppProcess(db.url, h.signer.rootCertificate);
      for (const [i, p] of lifecycle.entries()) {
        if (i === split) {
          await app.stop();
          app = await startAppProcess(db.url, h.signer.rootCertificate, { env: { TEST_STORE: 'pg' } });
        }
        expect((await post(app.url, p)).status).toBe(200);
      }
      await app.stop();
      return { sub: await db.store.getSubscription('apple', c.originalTransactionId), events: await db.store.listEvents() };
    };
    const single = await run(-1);
    const split = await run(2);
    expect(single.sub?.status).toBe('expired');
    expect(split.sub).toEqual(single.sub);
    const strip = (events: DomainEvent[]) => events.map((e) => JSON.stringify(e));
    expect(strip(split.events)).toEqual(strip(single.events));
    expect(single.events.map((e) => e.type)).toEqual([
      'provider.notification.received',
      'customer.subscription.created',
      'customer.subscription.started',
      'order.paid',
      'provider.notification.received',
      'customer.subscription.renewed',
      'order.paid',
      'provider.notification.received',
      'customer.subscription.canceled',
      'provider.notification.received',
      'customer.subscription.deleted',
    ]);
  });
});
