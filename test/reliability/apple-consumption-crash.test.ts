import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPLE_CONSUMPTION_TARGET } from '../../src/index.js';
import { APP_APPLE_ID, BUNDLE_ID, PRODUCT, sharedSigner } from '../helpers/apple-harness.js';
import { createPgDriverStore } from '../helpers/databases.js';
import { startFakeAppleApi, type FakeAppleApi } from '../helpers/fake-apple-api.js';

const root = new URL('../..', import.meta.url).pathname;
let apple: FakeAppleApi;
let signer: Awaited<ReturnType<typeof sharedSigner>>;

beforeAll(async () => {
  signer = await sharedSigner();
  apple = await startFakeAppleApi({ bundleId: BUNDLE_ID });
});
afterAll(() => apple.close());

/** test/fixtures/apple-actions-process.ts in its own process; resolves once it listens. */
async function appProcess(databaseUrl: string, env: Record<string, string>) {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/apple-actions-process.ts'], {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      TEST_ROOT_CERT: Buffer.from(signer.rootCertificate).toString('base64'),
      TEST_BUNDLE_ID: BUNDLE_ID,
      TEST_APP_APPLE_ID: String(APP_APPLE_ID),
      APPLE_KEY_ID: apple.keyId,
      APPLE_ISSUER_ID: apple.issuerId,
      APPLE_PRIVATE_KEY_PEM: apple.privateKeyPem,
      APPLE_API_BASE_URL: apple.baseUrl,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`fixture exited early (${code})`)));
    createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
  });
  return {
    url: `http://127.0.0.1:${port}/api/users/app-store-notifications`,
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

const post = (url: string, signedPayload: string) =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ signedPayload }) });

describe('CONSUMPTION_REQUEST answered exactly once (pgStore, separate processes)', () => {
  it('duplicates, kill -9 of the worker between the commit and the send, then two workers: Apple gets one answer', async () => {
    const db = await createPgDriverStore();
    try {
      const otid = String(2_400_000_000_000_000 + Math.floor(Math.random() * 1e12));
      const tx = {
        transactionId: otid,
        originalTransactionId: otid,
        productId: PRODUCT,
        type: 'Auto-Renewable Subscription',
        environment: 'Production',
        inAppOwnershipType: 'PURCHASED',
      };
      apple.transactions.set(otid, await signer.signTransaction(tx));
      const path = `/inApps/v2/transactions/consumption/${otid}`;
      const signedPayload = await signer.signNotification({
        notificationType: 'CONSUMPTION_REQUEST',
        notificationUUID: randomUUID(),
        data: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Production', transaction: tx, consumptionRequestReason: 'UNINTENDED_PURCHASE' },
      } as Parameters<typeof signer.signNotification>[0]);

      // The first process commits, and its worker's call hangs at "Apple" (nothing recorded there) until the kill.
      apple.failNext(path, { status: 0, hold: true });
      const first = await appProcess(db.url, { TEST_DELIVERY: '1' });
      const held = apple.nextHeld();
      expect((await post(first.url, signedPayload)).status).toBe(200);
      const redelivered = await post(first.url, signedPayload);
      expect(((await redelivered.json()) as { data: { duplicate?: boolean } }).data.duplicate).toBe(true);
      await held;
      await first.kill();
      expect(apple.consumption.filter((c) => c.transactionId === otid)).toHaveLength(0);

      // Two worker processes later (their clocks past the dead process's claim): one answer reaches Apple.
      const workers = await Promise.all([
        appProcess(db.url, { TEST_DELIVERY: '1', CLOCK_OFFSET_MS: '600000' }),
        appProcess(db.url, { TEST_DELIVERY: '1', CLOCK_OFFSET_MS: '600000' }),
      ]);
      try {
        // The notification is redelivered to them as well (Apple retries): still a duplicate.
        expect(((await (await post(workers[1].url, signedPayload)).json()) as { data: { duplicate?: boolean } }).data.duplicate).toBe(true);
        const deadline = Date.now() + 30_000;
        let rows = await db.store.listDeliveries({ endpointId: APPLE_CONSUMPTION_TARGET });
        while (rows[0]?.status !== 'delivered' && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 100));
          rows = await db.store.listDeliveries({ endpointId: APPLE_CONSUMPTION_TARGET });
        }
        // Let both workers poll a few more rounds: nothing else may be sent.
        await new Promise((r) => setTimeout(r, 600));
        rows = await db.store.listDeliveries({ endpointId: APPLE_CONSUMPTION_TARGET });
        expect(rows).toHaveLength(1);
        expect(rows[0]).toMatchObject({ status: 'delivered', attempts: 1 });
        expect(apple.consumption.filter((c) => c.transactionId === otid)).toEqual([
          { transactionId: otid, body: { customerConsented: true, deliveryStatus: 'DELIVERED', sampleContentProvided: true, consumptionPercentage: 50000 } },
        ]);
        // Two requests reached "Apple": the one that hung with the killed process, and the answer.
        expect(apple.seen.filter((r) => r.path === path)).toHaveLength(2);
        const order = await db.store.transaction((t) => t.getOrderByTradeNo('apple', otid));
        expect(order!.metadata.apple_consumption).toMatchObject({ sent: { consumptionPercentage: 50000 } });
      } finally {
        await Promise.all(workers.map((w) => w.stop()));
      }
    } finally {
      await db.close();
    }
  }, 120_000);
});
