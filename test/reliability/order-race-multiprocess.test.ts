/**
 * One transaction id = one order across processes: two app processes on one PostgreSQL (one on
 * `prismaStore`, one on `pgStore`); for each purchase, Apple's notification goes to one process and the
 * app's client post of the same transaction to the other, at the same moment, alternating which process
 * gets which. Exactly one order and one `order.paid` per transaction, at most one `renewed`.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresStore, type TestDatabase } from '../helpers/databases.js';
import { startAppProcess, type AppProcess } from '../helpers/app-processes.js';
import { appleHarness } from '../helpers/apple-harness.js';
import { APPLE_PATH } from '../helpers/reliability.js';

const ROUNDS = 40;

describe('order race across processes (prismaStore and pgStore on one PostgreSQL)', { timeout: 180_000 }, () => {
  let db: TestDatabase<unknown> | undefined;
  const apps: AppProcess[] = [];
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.stop().catch(() => {})));
    await db?.close();
  });

  it(`${ROUNDS} purchases and ${ROUNDS} renewals, each sent as notification and client post to different processes at once`, async () => {
    const h = await appleHarness(); // signs only
    db = await createPostgresStore();
    apps.push(
      ...(await Promise.all([
        startAppProcess(db.url, h.signer.rootCertificate, { env: { TEST_STORE: 'prisma' } }),
        startAppProcess(db.url, h.signer.rootCertificate, { env: { TEST_STORE: 'pg' } }),
      ])),
    );
    const post = (url: string, body: unknown) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then((r) => r.status);
    const transactionIds: string[] = [];
    const renewalIds: string[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const c = h.contract();
      for (const [type, subtype] of [
        ['SUBSCRIBED', 'INITIAL_BUY'],
        ['DID_RENEW', undefined],
      ] as const) {
        const tx = c.transaction();
        const signedPayload = await h.sign(type, subtype, { transaction: tx, renewalInfo: c.renewal() });
        const signedTransaction = await h.signer.signTransaction(tx);
        const [a, b] = i % 2 ? [apps[0]!, apps[1]!] : [apps[1]!, apps[0]!];
        const statuses = await Promise.all([
          post(a.url + APPLE_PATH, { signedPayload }),
          post(b.url + '/api/users/app-store-transactions', { signedTransaction }),
        ]);
        expect(statuses).toEqual([200, 200]);
        (type === 'DID_RENEW' ? renewalIds : transactionIds).push(tx.transactionId);
      }
    }
    const events = await db.store.listEvents();
    const paid = new Map<string, number>();
    for (const e of events)
      if (e.type === 'order.paid')
        paid.set((e.data.object as { trade_no: string }).trade_no, (paid.get((e.data.object as { trade_no: string }).trade_no) ?? 0) + 1);
    for (const id of [...transactionIds, ...renewalIds]) expect(paid.get(id), `order.paid for ${id}`).toBe(1);
    const renewed = events
      .filter((e) => e.type === 'customer.subscription.renewed')
      .map((e) => (e.data.object as { latest_transaction_id: string }).latest_transaction_id);
    expect(renewed.sort()).toEqual([...renewalIds].sort());
    const started = events.filter((e) => e.type === 'customer.subscription.started');
    expect(started).toHaveLength(ROUNDS);
    for (const id of [...transactionIds, ...renewalIds]) {
      expect((await db.store.transaction((tx) => tx.getOrderByTradeNo('apple', id)))?.status).toBe('paid');
    }
  });
});
