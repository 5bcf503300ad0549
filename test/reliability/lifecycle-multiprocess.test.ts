/**
 * Concurrent lifecycle sweeps from two OS processes on one database (PostgreSQL, and one SQLite file):
 * two app instances, each running the delivery worker and its sweep every 25 ms, one with its clock six
 * minutes ahead (so the other's claims have lapsed for it and both go for the same rows). Subscriptions
 * arrive as signed notifications over HTTP, round after round while the sweeps run; every trial gets
 * exactly one `trial_will_end`, every overdue renewal exactly one `past_due` and one `entitlement.revoked`.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks, type Store, type SubscriptionWebhooks } from '../../src/index.js';
import { sqliteStore } from '../../src/sqlite.js';
import { appleHarness, PRODUCT } from '../helpers/apple-harness.js';
import { startAppProcess, type AppProcess } from '../helpers/app-processes.js';
import { createPgDriverStore, createPostgresStore } from '../helpers/databases.js';

const DAY = 86_400_000;
const ROUNDS = 4;
const TRIALS = 12;
const OVERDUE = 12;
const PRODUCTS = { [PRODUCT]: { entitlements: ['pro'] } };

async function waitFor(check: () => Promise<boolean>, ms: number): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting for the sweeps');
    await new Promise((r) => setTimeout(r, 50));
  }
}

type Target = { name: string; open(): Promise<{ url: string; env: Record<string, string>; store: Store; close(): Promise<void> }> };

const TARGETS: Target[] = [
  {
    name: 'PostgreSQL (prismaStore and pgStore, one process each)',
    async open() {
      const db = await createPgDriverStore();
      return { url: db.url, env: {}, store: db.store, close: db.close };
    },
  },
  {
    name: 'one SQLite file (sqliteStore in both processes)',
    async open() {
      const dir = mkdtempSync(join(tmpdir(), 'sw-lifecycle-mp-'));
      const file = join(dir, 'shared.db');
      const db = new Database(file);
      const store = sqliteStore(db, { migrate: true, synchronous: 'NORMAL' });
      return {
        url: file,
        env: { TEST_STORE: 'sqlite', TEST_SQLITE_SYNCHRONOUS: 'NORMAL' },
        store,
        close: async () => {
          await store.close?.();
          db.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

describe('lifecycle sweeps from two processes at once', () => {
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => {});
  });

  for (const target of TARGETS) {
    it(`${target.name}: ${ROUNDS} rounds of ${TRIALS} trials and ${OVERDUE} overdue renewals, each settled exactly once`, { timeout: 240_000 }, async () => {
      const db = await target.open();
      cleanup.push(db.close);
      const h = await appleHarness(); // signs notifications; its own app is not used
      const now = Date.now();
      const T = now + 30 * DAY - 2 * DAY; // a trial bought now ends two days after T
      // The parent's handle on the same database: orders (who bought) and the assertions.
      const parent: SubscriptionWebhooks = createSubscriptionWebhooks({
        apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
        store: db.store,
        lifecycle: { intervalMs: null },
      });
      const common = { TEST_DELIVERY: '1', TEST_PRODUCTS: JSON.stringify(PRODUCTS), TEST_LIFECYCLE_INTERVAL_MS: '25', TEST_LIFECYCLE_BATCH: '3', ...db.env };
      const procs: AppProcess[] = [];
      const signer = h.signer;
      procs.push(await startAppProcess(db.url, signer.rootCertificate, { env: { ...common, TEST_CLOCK_MS: String(T) } }));
      procs.push(
        await startAppProcess(db.url, signer.rootCertificate, {
          env: { ...common, TEST_CLOCK_MS: String(T + 6 * 60_000), ...(db.env.TEST_STORE ? {} : { TEST_STORE: 'pg' }) },
        }),
      );
      cleanup.push(async () => {
        await Promise.all(procs.map((p) => p.stop()));
      });
      const count = async (type: Parameters<Store['listEvents']>[0] extends infer O ? (O extends { type?: infer K } ? K : never) : never) =>
        (await db.store.listEvents({ type })).length;
      const contracts: string[] = [];
      for (let round = 1; round <= ROUNDS; round++) {
        let n = 0;
        const send = async (trial: boolean) => {
          const order = await parent.orders.create({ userId: `user_${round}_${n++}_${Math.random().toString(36).slice(2)}`, productId: PRODUCT });
          const c = h.contract({ appAccountToken: order.no });
          contracts.push(c.originalTransactionId);
          const tx = trial
            ? c.transaction({ offerType: 1, offerDiscountType: 'FREE_TRIAL', price: 0 })
            : c.transaction({ purchaseDate: T - 32 * DAY, expiresDate: T - 2 * DAY });
          const signedPayload = await h.sign('SUBSCRIBED', 'INITIAL_BUY', { transaction: tx, renewalInfo: c.renewal() });
          // Alternate between the two instances.
          const res = await fetch(`${procs[n % 2]!.url}${parent.routes.apple}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ signedPayload }),
          });
          expect(res.status).toBe(200);
        };
        await Promise.all([...Array.from({ length: TRIALS }, () => send(true)), ...Array.from({ length: OVERDUE }, () => send(false))]);
        await waitFor(
          async () =>
            (await count('customer.subscription.trial_will_end')) >= round * TRIALS && (await count('customer.subscription.past_due')) >= round * OVERDUE,
          60_000,
        );
      }
      // Many more sweeps from both: nothing new.
      await new Promise((r) => setTimeout(r, 500));
      expect(await count('customer.subscription.trial_will_end')).toBe(ROUNDS * TRIALS);
      expect(await count('customer.subscription.past_due')).toBe(ROUNDS * OVERDUE);
      expect(await count('entitlement.revoked')).toBe(ROUNDS * OVERDUE);
      const perSub = new Map<string, number>();
      for (const e of [
        ...(await db.store.listEvents({ type: 'customer.subscription.trial_will_end' })),
        ...(await db.store.listEvents({ type: 'customer.subscription.past_due' })),
      ]) {
        const id = (e.data.object as { contract_id: string }).contract_id;
        perSub.set(id, (perSub.get(id) ?? 0) + 1);
      }
      expect(perSub.size).toBe(contracts.length);
      expect([...perSub.values()].every((v) => v === 1)).toBe(true);
      const statuses = (await Promise.all(contracts.map((c) => parent.subscriptions.get(c)))).map((s) => s!.status);
      expect(statuses.filter((s) => s === 'trialing')).toHaveLength(ROUNDS * TRIALS);
      expect(statuses.filter((s) => s === 'past_due')).toHaveLength(ROUNDS * OVERDUE);
    });
  }
});
