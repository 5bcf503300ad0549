/**
 * more than two entry points for one subscription at once (a "restore purchases" client posting
 * every transaction while Apple's notifications for them arrive, plus an Apple retry of one of them).
 * Every request must be answered 200 (a unit of work that loses insert races must not run out of
 * retries), every transaction one order and one order.paid. Records how many attempts units needed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { Store, StoreTransaction } from '../../src/index.js';
import { appleHarness } from '../helpers/apple-harness.js';
import { createPgDriverStore, createPostgresStore, type StoreFactory } from '../helpers/databases.js';
import { loopbackServers, postJson } from '../helpers/loopback.js';

const ROUNDS = Number(process.env.RACE_ROUNDS ?? 8);
const RENEWALS = Number(process.env.RACE_RENEWALS ?? 2);

const { listen, closeAll } = loopbackServers();
afterAll(closeAll);

/** Counts the attempts of every unit of work; with DIAG=1 the store is made with maxRetries 0 and this wrapper retries (up to 10), recording why. */
const DIAG = process.env.RACE_DIAG === '1';
const reasons: string[] = [];
function describeError(e: unknown): string {
  const out: string[] = [];
  for (
    let x = e as { code?: unknown; detail?: unknown; message?: unknown; meta?: unknown; cause?: unknown } | undefined, i = 0;
    x && i < 6;
    x = x.cause as typeof x, i++
  ) {
    out.push(
      `${String(x.code)} ${x.detail ? `detail=${String(x.detail)}` : ''} ${x.meta ? JSON.stringify(x.meta) : ''} ${String(x.message ?? '')
        .split('\n')
        .slice(-2)
        .join(' ')
        .slice(0, 300)}`,
    );
  }
  return out.join(' <- ');
}
function counting(inner: Store) {
  const attempts: number[] = [];
  const store = Object.create(inner) as Store;
  store.transaction = async <T>(fn: (tx: StoreTransaction) => Promise<T>) => {
    let n = 0;
    try {
      if (!DIAG)
        return await inner.transaction((tx) => {
          n += 1;
          return fn(tx);
        });
      for (;;) {
        try {
          return await inner.transaction((tx) => {
            n += 1;
            return fn(tx);
          });
        } catch (e) {
          const d = describeError(e);
          if (!/23505|40P01|40001|P2002|P2034|deadlock|unique/i.test(d) || n >= 10) throw e;
          reasons.push(`attempt ${n}: ${d}`);
          await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * n));
        }
      }
    } finally {
      attempts.push(n);
    }
  };
  return { store, attempts };
}

const STORES: [string, StoreFactory][] = [
  ['pg driver + PostgreSQL', () => createPgDriverStore(DIAG ? { maxRetries: 0 } : {})],
  ['Prisma + PostgreSQL', () => createPostgresStore(DIAG ? { maxRetries: 0 } : {})],
];

for (const [name, make] of STORES) {
  describe(`restore storm on one subscription (${name})`, { timeout: 300_000 }, () => {
    const open: { close: () => Promise<void> }[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((d) => d.close()));
    });

    it(`${ROUNDS} rounds: SUBSCRIBED + ${RENEWALS} DID_RENEW + their 3 client posts + an Apple retry, all at once`, async () => {
      const db = await make();
      open.push(db);
      const { store, attempts } = counting(db.store);
      const h = await appleHarness({ store, expressOptions: { getUserId: (req) => (req.headers['x-user-id'] as string | undefined) ?? null } });
      const base = await listen(h.app);
      const details: string[] = [];
      h.logger.error = (o: unknown, msg?: string) => {
        const err = (o as { err?: { code?: unknown; message?: string; meta?: unknown; cause?: unknown } }).err;
        details.push(`${String(msg)} :: ${String(err?.code)} ${JSON.stringify(err?.meta)} ${String(err?.message).slice(0, 400)}`);
      };
      const failures: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const userId = `u_${round}_${randomUUID().slice(0, 6)}`;
        const pending = await h.hooks.orders.create({ userId, productId: 'com.example.pro.monthly' });
        const c = h.contract({ appAccountToken: pending.no });
        const txs = Array.from({ length: 1 + RENEWALS }, () => c.transaction());
        const notes = await Promise.all(
          txs.map((t, i) =>
            i === 0
              ? h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: t, renewalInfo: c.renewal() })
              : h.sign('DID_RENEW', undefined, { transaction: t, renewalInfo: c.renewal() }),
          ),
        );
        const clients = await Promise.all(txs.map((t) => h.signer.signTransaction(t as never)));
        const requests = [
          ...notes.map((signedPayload) => () => postJson(base + h.hooks.routes.apple, { signedPayload })),
          ...clients.map((signedTransaction) => () => postJson(base + h.hooks.routes.appleTransactions, { signedTransaction }, { 'x-user-id': userId })),
          () => postJson(base + h.hooks.routes.apple, { signedPayload: notes[0] }), // Apple's retry of the first
        ];
        const results = await Promise.all(requests.map((r) => r()));
        results.forEach((r, i) => {
          if (r.status !== 200) failures.push(`round ${round} request ${i}: ${r.status} ${r.text.slice(0, 200)}`);
        });
        const events = await store.listEvents();
        for (const t of txs) {
          const paid = events.filter((e) => e.type === 'order.paid' && (e.data.object as { trade_no: string }).trade_no === t.transactionId).length;
          if (paid !== 1) failures.push(`round ${round} ${t.transactionId}: ${paid} order.paid`);
        }
      }
      const hist = new Map<number, number>();
      for (const a of attempts) hist.set(a, (hist.get(a) ?? 0) + 1);
      console.log(
        `[${name}] attempts per unit of work (attempts -> count):`,
        JSON.stringify([...hist.entries()].sort((a, b) => a[0] - b[0])),
        'errors logged:',
        details.slice(0, 5),
      );
      if (DIAG) console.log(`[${name}] retry reasons:\n` + [...new Set(reasons.map((r) => r.replace(/\d{4,}/g, 'N')))].join('\n'));
      expect(failures).toEqual([]);
    });
  });
}
