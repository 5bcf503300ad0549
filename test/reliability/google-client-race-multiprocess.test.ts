/**
 * One Google purchase = one order and one set of events across processes: the app's client post of a
 * purchase token and Google's push of the same purchase (twice: Pub/Sub redelivers) arrive at the same
 * moment at different app processes on one database: PostgreSQL (this process on prismaStore, children on
 * prismaStore and pgStore) and one SQLite file (every process on sqliteStore). Subscription purchases,
 * their renewals and one-time products; unforced (many rounds sent at once, rotating which process gets
 * which) and forced (this process's unit of work held right before its order write, after its reads,
 * while a child process commits the other entry point).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DomainEvent, Order, Store } from '../../src/index.js';
import { sqliteStore } from '../../src/store/sqlite.js';
import { createGooglePlayTestKit, type GooglePlayTestKit } from '../../src/testing/index.js';
import { startAppProcess, type AppProcess } from '../helpers/app-processes.js';
import { appleHarness } from '../helpers/apple-harness.js';
import { createPostgresStore } from '../helpers/databases.js';
import { googleHarness, PRODUCT, type GoogleHarness } from '../helpers/google-harness.js';
import { holding, type HoldingStore } from '../helpers/holding-store.js';

const ROUNDS = 12;
const COINS = 'coins_100';
const DAY = 86_400_000;
let n = 0;
const uniq = (p: string) => `${p}_${Date.now().toString(36)}_${++n}`;

/** A database several processes share: how to start a child on it and the store this process opens on it. */
interface Backend {
  name: string;
  open(): Promise<{ url: string; childEnv: Array<Record<string, string>>; store: Store; close(): Promise<void> }>;
}

const dirs: string[] = [];
const BACKENDS: Backend[] = [
  {
    name: 'PostgreSQL: this process on prismaStore, children on prismaStore and pgStore',
    async open() {
      const db = await createPostgresStore();
      return { url: db.url, childEnv: [{ TEST_STORE: 'prisma' }, { TEST_STORE: 'pg' }], store: db.store, close: () => db.close() };
    },
  },
  {
    name: 'one SQLite file: every process on sqliteStore',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'sw-google-race-'));
      dirs.push(dir);
      const file = join(dir, 'app.db');
      const store = sqliteStore(new Database(file), { migrate: true, closeDatabaseOnClose: true });
      return { url: file, childEnv: [{ TEST_STORE: 'sqlite' }, { TEST_STORE: 'sqlite' }], store, close: async () => store.close?.() };
    },
  },
];

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

for (const backend of BACKENDS) {
  describe(`Google purchase race across processes (${backend.name})`, { timeout: 240_000 }, () => {
    let kit: GooglePlayTestKit;
    let h: GoogleHarness;
    let store: HoldingStore;
    let server: Server;
    let closeDb: () => Promise<void>;
    /** The three app processes: this one (index 0, the one that can be held) and two children. */
    const urls: string[] = [];
    const children: AppProcess[] = [];

    beforeAll(async () => {
      kit = await createGooglePlayTestKit();
      const db = await backend.open();
      closeDb = db.close;
      const { signer } = await appleHarness();
      children.push(
        ...(await Promise.all(
          db.childEnv.map((env) =>
            startAppProcess(db.url, signer.rootCertificate, { env: { ...env, TEST_GOOGLE_CONFIG: JSON.stringify(kit.config()), TEST_USER_HEADER: '1' } }),
          ),
        )),
      );
      store = holding(db.store);
      h = await googleHarness({ store, kit, expressOptions: { getUserId: (req) => (req.headers['x-user-id'] as string | undefined) ?? null } });
      server = h.app.listen(0, '127.0.0.1');
      await new Promise<void>((resolve) => server.once('listening', () => resolve()));
      urls.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, ...children.map((c) => c.url));
    });
    afterAll(async () => {
      await Promise.all(children.map((c) => c.stop().catch(() => {})));
      await new Promise<void>((resolve) => server?.close(() => resolve()));
      await kit?.close();
      await closeDb?.();
    });

    type Kind = 'purchase' | 'renewal' | 'product';
    interface Purchase {
      kind: Kind;
      userId: string;
      token: string;
      orderId: string;
      /** The app's order (its no = obfuscatedExternalAccountId), for a purchase and a one-time product. */
      appOrderNo: string | null;
      /** Google's push and the client's post, to the app process at `url`. */
      rtdn(url: string): Promise<number>;
      client(url: string): Promise<number>;
    }
    const post = (url: string, body: string, headers: Record<string, string>) => fetch(url, { method: 'POST', headers, body }).then((r) => r.status);

    /** Sets the purchase Google holds and builds the two entry points' requests. */
    async function purchase(kind: Kind, options: { renewalOf?: Purchase; withOrder?: boolean } = {}): Promise<Purchase> {
      const { renewalOf, withOrder = true } = options;
      const userId = renewalOf?.userId ?? uniq('user');
      const token = renewalOf?.token ?? uniq('tok');
      const orderId = renewalOf ? `${renewalOf.orderId}..0` : uniq('GPA');
      const appOrder =
        kind === 'renewal' || !withOrder ? null : await h.hooks.orders.create({ userId, productId: kind === 'product' ? COINS : PRODUCT, provider: 'google' });
      let notification: Record<string, unknown>;
      let clientBody: Record<string, unknown>;
      if (kind === 'product') {
        kit.setProduct(COINS, token, {
          kind: 'androidpublisher#productPurchase',
          purchaseTimeMillis: String(Date.now()),
          purchaseState: 0,
          acknowledgementState: 1,
          orderId,
          productId: COINS,
          quantity: 1,
          ...(appOrder ? { obfuscatedExternalAccountId: appOrder.no } : {}),
        });
        notification = { oneTimeProductNotification: { version: '1.0', notificationType: 1, purchaseToken: token, sku: COINS } };
        clientBody = { purchaseToken: token, productId: COINS, type: 'inapp' };
      } else {
        kit.setSubscription(
          token,
          kit.subscriptionPurchase({
            productId: PRODUCT,
            orderId,
            ...((renewalOf?.appOrderNo ?? appOrder?.no) ? { accountId: renewalOf?.appOrderNo ?? appOrder?.no } : {}),
            acknowledged: true,
            ...(renewalOf ? { startTime: Date.now() - 30 * DAY, expiryTime: Date.now() + 30 * DAY } : {}),
          }),
        );
        notification = kit.subscriptionNotification(kind === 'renewal' ? 'SUBSCRIPTION_RENEWED' : 'SUBSCRIPTION_PURCHASED', token);
        clientBody = { purchaseToken: token };
      }
      const push = await kit.push(notification);
      return {
        kind,
        userId,
        token,
        orderId,
        appOrderNo: appOrder?.no ?? renewalOf?.appOrderNo ?? null,
        rtdn: (url) => post(`${url}${h.hooks.routes.google}`, push.body, push.headers),
        client: (url) =>
          post(`${url}${h.hooks.routes.googlePurchase}`, JSON.stringify(clientBody), { 'content-type': 'application/json', 'x-user-id': userId }),
      };
    }

    const objectOf = (e: DomainEvent) => e.data.object as { trade_no?: string; contract_id?: string };
    /** Exactly one order (the app's, the user's) and one set of events for each purchase. */
    async function expectOnce(purchases: Purchase[]) {
      const events = await store.listEvents();
      for (const p of purchases) {
        const paid = events.filter((e) => e.type === 'order.paid' && objectOf(e).trade_no === p.orderId);
        expect(paid, `order.paid for ${p.kind} ${p.orderId}`).toHaveLength(1);
        const order = await store.transaction((tx) => tx.getOrderByTradeNo('google', p.orderId));
        expect(order).toMatchObject({ status: 'paid', user_id: p.userId });
        if (p.kind !== 'renewal' && p.appOrderNo) expect((order as Order).no).toBe(p.appOrderNo);
        if (p.kind !== 'purchase') continue;
        // The contract's lifecycle events, whatever the entry point and the order of commits (an ownerless
        // purchase may also be bound to its poster: updated).
        const lifecycle = events.filter((e) => e.type.startsWith('customer.subscription.') && objectOf(e).contract_id === p.token).map((e) => e.type);
        const count = (type: string) => lifecycle.filter((t) => t === `customer.subscription.${type}`).length;
        const renewals = purchases.filter((r) => r.kind === 'renewal' && r.token === p.token).length;
        expect([count('created'), count('started'), count('renewed')], `lifecycle events of ${p.token}`).toEqual([1, 1, renewals]);
        if (p.appOrderNo) expect(lifecycle).toHaveLength(2 + renewals);
        expect((await h.sub(p.token))?.user_id).toBe(p.userId);
      }
    }

    it(`unforced: ${ROUNDS} rounds of a purchase, its renewal and a one-time product, each pushed twice and posted by the client at once to three processes`, async () => {
      const all: Purchase[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        // Every other round, bought before sign-in: no app order, the client's post binds it.
        const bought = await purchase('purchase', { withOrder: i % 2 === 0 });
        const coins = await purchase('product', { withOrder: i % 2 === 0 });
        // Rotate which process gets which request.
        const at = (k: number) => urls[(i + k) % urls.length]!;
        const first = await Promise.all([
          bought.rtdn(at(0)),
          bought.client(at(1)),
          bought.rtdn(at(2)),
          coins.client(at(0)),
          coins.rtdn(at(1)),
          coins.rtdn(at(2)),
        ]);
        expect(first).toEqual([200, 200, 200, 200, 200, 200]);
        const renewed = await purchase('renewal', { renewalOf: bought });
        expect(await Promise.all([renewed.client(at(2)), renewed.rtdn(at(0)), renewed.rtdn(at(1))])).toEqual([200, 200, 200]);
        all.push(bought, coins, renewed);
      }
      expect(store.held).toBe(0);
      await expectOnce(all);
    });

    for (const [kind, withOrder] of [
      ['purchase', true],
      ['purchase', false],
      ['product', true],
      ['product', false],
      ['renewal', true],
    ] as const) {
      for (const first of ['rtdn', 'client'] as const) {
        it(`forced (${kind}, ${withOrder ? "the app's order" : 'no app order'}): this process's ${first} held before its order write, after its reads, while a child process commits the other`, async () => {
          const bought = kind === 'renewal' ? await purchase('purchase') : null;
          if (bought) expect(await bought.client(urls[1]!)).toBe(200);
          const p = await purchase(kind, { ...(bought ? { renewalOf: bought } : {}), withOrder });
          const heldBefore = store.held;
          const held = store.arm();
          const one = first === 'rtdn' ? p.rtdn(urls[0]!) : p.client(urls[0]!);
          await held;
          // The other runs in another process while this one is held (or waits on the lock this one holds).
          const two = first === 'rtdn' ? p.client(urls[1 + (n % 2)]!) : p.rtdn(urls[1 + (n % 2)]!);
          await Promise.race([two, new Promise((resolve) => setTimeout(resolve, 1000))]);
          store.release();
          expect(await Promise.all([one, two])).toEqual([200, 200]);
          expect(store.held).toBe(heldBefore + 1);
          await expectOnce(bought ? [bought, p] : [p]);
        });
      }
    }
  });
}
