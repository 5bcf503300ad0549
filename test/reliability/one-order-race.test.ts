/**
 * One transaction id = one order = one `order.paid`, whatever arrives at once (RELIABILITY.md).
 *
 * Apple's notification and the app's client post of the same transaction race each other over real
 * HTTP on 127.0.0.1, on every store: unforced (many rounds, both sent at once) and forced (a store
 * wrapper holds the first unit of work right before its first order write, after its reads, while the
 * second runs). Xsolla: a refund overlapping a first-time (retried) payment always ends refunded.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type DomainEvent, type Store } from '../../src/index.js';
import { holding } from '../helpers/holding-store.js';
import { appleHarness, PRODUCT, type AppleHarness } from '../helpers/apple-harness.js';
import { EVERY_STORE } from '../helpers/databases.js';
import { xsollaHarness } from '../helpers/xsolla-harness.js';
import { signXsollaBody } from '../../src/testing/index.js';
import { loopbackServers, postJson } from '../helpers/loopback.js';

const ROUNDS = 50;

const { listen, closeAll } = loopbackServers();
afterAll(closeAll);

const count = (events: DomainEvent[], type: string, tradeNo?: string) =>
  events.filter(
    (e) =>
      e.type === type &&
      (tradeNo === undefined ||
        (e.data.object as { trade_no?: string; latest_transaction_id?: string }).trade_no === tradeNo ||
        (e.data.object as { latest_transaction_id?: string }).latest_transaction_id === tradeNo),
  ).length;

type Flow = 'ONE_TIME_CHARGE' | 'SUBSCRIBED' | 'DID_RENEW';
const FLOWS: Flow[] = ['ONE_TIME_CHARGE', 'SUBSCRIBED', 'DID_RENEW'];

/** One purchase of `flow`: the signed notification and the signed transaction the app's client posts. */
async function purchase(h: AppleHarness, flow: Flow, userId: string) {
  const order = await h.hooks.orders.create({ userId, productId: PRODUCT });
  const c = h.contract({ appAccountToken: order.no });
  if (flow === 'DID_RENEW') {
    // The subscription exists (its first period recorded); the race is on the renewal's transaction.
    const first = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction(), renewalInfo: c.renewal() });
    expect(first.status).toBe(200);
  }
  const consumable = flow === 'ONE_TIME_CHARGE';
  const tx = consumable ? c.transaction({ type: 'Consumable', expiresDate: undefined, productId: 'com.example.coins.100' }) : c.transaction();
  const subtype = flow === 'SUBSCRIBED' ? 'INITIAL_BUY' : undefined;
  const signedPayload = await h.sign(flow, subtype, { transaction: tx, ...(consumable ? {} : { renewalInfo: c.renewal() }) });
  const signedTransaction = await h.signer.signTransaction(tx as never);
  return { tx, signedPayload, signedTransaction, c };
}

for (const [name, make] of EVERY_STORE) {
  describe(`one transaction id = one order = one order.paid (${name})`, () => {
    const open: { close: () => Promise<void> }[] = [];
    afterEach(async () => {
      await Promise.all(open.splice(0).map((d) => d.close()));
    });

    async function setup() {
      const db = await make();
      open.push(db);
      const store = holding(db.store);
      const h = await appleHarness({ store, expressOptions: { getUserId: (req) => String(req.headers['x-user-id'] ?? '') || null } });
      const base = await listen(h.app);
      return { h, store, base };
    }

    /** Both entry points at once; then exactly one order row, one order.paid, at most one renewed, for that transaction. */
    async function check(h: AppleHarness, store: Store, flow: Flow, tradeNo: string, results: { status: number }[]) {
      for (const r of results) expect(r.status).toBe(200);
      const order = await store.transaction((tx) => tx.getOrderByTradeNo('apple', tradeNo));
      expect(order?.status).toBe('paid');
      const events = (await store.listEvents()).filter((e) => e.provider === 'apple');
      const paid = events.filter((e) => e.type === 'order.paid' && (e.data.object as { trade_no: string }).trade_no === tradeNo);
      expect(paid.length, `order.paid for ${tradeNo}`).toBe(1);
      const bus = h.seen.filter((e) => e.type === 'order.paid' && (e.data.object as { trade_no: string }).trade_no === tradeNo);
      expect(bus.length, 'order.paid published on the bus').toBe(1);
      if (flow !== 'ONE_TIME_CHARGE') {
        expect(count(events, 'customer.subscription.renewed', tradeNo)).toBeLessThanOrEqual(1);
        expect(count(events, 'customer.subscription.started', tradeNo)).toBeLessThanOrEqual(1);
        expect(count(events, 'customer.subscription.created', tradeNo)).toBeLessThanOrEqual(1);
      }
      if (flow === 'DID_RENEW') expect(count(events, 'customer.subscription.renewed', tradeNo)).toBe(1);
    }

    for (const flow of FLOWS) {
      it(`${flow}: notification and client post sent together, ${ROUNDS} rounds`, async () => {
        const { h, store, base } = await setup();
        for (let round = 0; round < ROUNDS; round++) {
          const userId = `user_${round}_${randomUUID().slice(0, 8)}`;
          const p = await purchase(h, flow, userId);
          const results = await Promise.all([
            postJson(base + h.hooks.routes.apple, { signedPayload: p.signedPayload }),
            postJson(base + h.hooks.routes.appleTransactions, { signedTransaction: p.signedTransaction }, { 'x-user-id': userId }),
          ]);
          await check(h, store, flow, p.tx.transactionId, results);
        }
      });

      for (const first of ['notification', 'client post'] as const) {
        it(`${flow}: forced, the ${first} held after its reads while the other commits`, async () => {
          const { h, store, base } = await setup();
          const userId = `user_${randomUUID().slice(0, 8)}`;
          const p = await purchase(h, flow, userId);
          const sendNotification = () => postJson(base + h.hooks.routes.apple, { signedPayload: p.signedPayload });
          const sendClient = () => postJson(base + h.hooks.routes.appleTransactions, { signedTransaction: p.signedTransaction }, { 'x-user-id': userId });
          const [a, b] = first === 'notification' ? [sendNotification, sendClient] : [sendClient, sendNotification];
          const reached = store.arm();
          const ra = a();
          await reached;
          const rb = b();
          // The second commits unless a lock makes it wait for the first: give it the chance, then let the first go.
          await Promise.race([rb, new Promise((r) => setTimeout(r, 500))]);
          store.release();
          const results = await Promise.all([ra, rb]);
          expect(store.held).toBe(1);
          await check(h, store, flow, p.tx.transactionId, results);
        });
      }
    }

    for (const first of ['refund', 'payment'] as const) {
      it(`Xsolla: a refund and a first-time payment of one transaction overlap (${first} held): the order ends refunded, one order.paid at most`, async () => {
        const db = await make();
        open.push(db);
        const store = holding(db.store);
        const h = xsollaHarness({ store });
        const base = await listen(h.app);
        const c = h.contract();
        const id = 900_000 + Math.floor(Math.random() * 1e6);
        const send = (body: unknown) => {
          const text = JSON.stringify(body);
          return postJson(base + h.hooks.routes.xsolla, text, { authorization: signXsollaBody(text, 'xsolla-test-secret-key') });
        };
        const [a, b] = first === 'refund' ? [c.refund(id), c.payment(id)] : [c.payment(id), c.refund(id)];
        const reached = store.arm();
        const ra = send(a);
        await reached;
        const rb = send(b);
        await Promise.race([rb, new Promise((r) => setTimeout(r, 500))]);
        store.release();
        const results = await Promise.all([ra, rb]);
        expect(store.held).toBe(1);
        for (const r of results) expect(r.status).toBeLessThan(300);
        const order = await store.transaction((tx) => tx.getOrderByTradeNo('xsolla', String(id)));
        expect(order?.status).toBe('refunded');
        const events = await store.listEvents();
        expect(count(events, 'order.paid', String(id))).toBeLessThanOrEqual(1);
        expect(count(events, 'order.refunded', String(id))).toBe(1);
      });
    }
  });
}
