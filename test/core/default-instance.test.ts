import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import express from 'express';
import request from 'supertest';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { bus, getDefaultHooks, hooks, type DomainEvent } from '../../src/index.js';
import { createAppleTestSigner, resetDefaultHooks } from '../../src/testing/index.js';
import { subscriptionWebhooks } from '../../adapters/express.js';
import { POST as nextApplePost } from '../../adapters/next/apple.js';

// Zero config as the product card reads it: `app.use(subscriptionWebhooks())`, then
// `bus.subscribe(…)` on the same, process-wide instance, configured from the environment.
const dir = mkdtempSync(join(tmpdir(), 'sw-default-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const signer = await createAppleTestSigner({ bundleId: 'com.example.zero', environment: 'Sandbox' });
writeFileSync(join(dir, 'root.cer'), signer.rootCertificate);

beforeEach(() => {
  resetDefaultHooks();
  vi.stubEnv('APPLE_BUNDLE_ID', 'com.example.zero');
  vi.stubEnv('APPLE_ENVIRONMENTS', 'Sandbox');
  vi.stubEnv('APPLE_ROOT_CERTIFICATES', join(dir, 'root.cer'));
});
afterEach(() => {
  resetDefaultHooks();
  vi.unstubAllEnvs();
});

const subscribed = (id: string, appAccountToken?: string) =>
  signer.signNotification({
    notificationType: 'SUBSCRIBED',
    subtype: 'INITIAL_BUY',
    data: { transaction: { originalTransactionId: id, transactionId: id, productId: 'pro', ...(appAccountToken ? { appAccountToken } : {}) } },
  });

describe('the default instance', () => {
  it('app.use(subscriptionWebhooks()) and `bus` / `hooks` from the main entry are one instance', async () => {
    const app = express().use(subscriptionWebhooks());
    const seen: DomainEvent[] = [];
    bus.subscribe('customer.subscription.started', (e) => seen.push(e));
    const order = await hooks.orders.create({ userId: 'user_zero', productId: 'pro' });
    const r = await request(app)
      .post('/api/users/app-store-notifications')
      .send({ signedPayload: await subscribed('800', order.no) });
    expect(r.status, r.text).toBe(200);
    expect(seen.map((e) => e.data.object)).toEqual([expect.objectContaining({ contract_id: '800', user_id: 'user_zero' })]);
    expect((await hooks.orders.get(order.no))?.status).toBe('paid');
    expect(getDefaultHooks().bus).toBe(getDefaultHooks().bus);
    expect(hooks.routes).toBe(getDefaultHooks().routes);
  });

  it('is created lazily, from the environment at first use', () => {
    vi.stubEnv('APPLE_BUNDLE_ID', 'com.example.later');
    expect(hooks.routes.apple).toBe('/api/users/app-store-notifications');
    expect(getDefaultHooks()).toBe(getDefaultHooks());
  });

  it('the Next.js zero-config route (subscription-webhooks/next/apple) serves the same instance', async () => {
    const seen: string[] = [];
    bus.subscribe('customer.subscription.started', (e) => seen.push(e.data.object.contract_id));
    const res = await nextApplePost(
      new Request('http://localhost/api/users/app-store-notifications', { method: 'POST', body: JSON.stringify({ signedPayload: await subscribed('801') }) }),
    );
    expect(res.status).toBe(200);
    expect(seen).toEqual(['801']);
  });

  it('a missing APPLE_APP_APPLE_ID is still the clear CONFIG_INVALID, at first use', () => {
    vi.stubEnv('APPLE_ENVIRONMENTS', 'Production,Sandbox');
    vi.stubEnv('APPLE_APP_APPLE_ID', '');
    expect(() => bus.subscribe(() => undefined)).toThrow(
      /`apple\.appAppleId` is required when `apple\.environments` includes "Production" \(set APPLE_APP_APPLE_ID/,
    );
  });

  it('APPLE_KEY_ID, APPLE_ISSUER_ID and APPLE_PRIVATE_KEY_PATH configure its App Store Server API client', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'key.p8'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    let seen: IncomingHttpHeaders | undefined;
    let path = '';
    const apple = createServer((req, res) => {
      seen = req.headers;
      path = req.url ?? '';
      res.setHeader('content-type', 'application/json').end(JSON.stringify({ testNotificationToken: 'tok-1' }));
    });
    await new Promise<void>((r) => apple.listen(0, '127.0.0.1', r));
    try {
      vi.stubEnv('APPLE_KEY_ID', 'KEY123');
      vi.stubEnv('APPLE_ISSUER_ID', 'issuer-uuid');
      vi.stubEnv('APPLE_PRIVATE_KEY_PATH', join(dir, 'key.p8'));
      vi.stubEnv('APPLE_API_BASE_URL', `http://127.0.0.1:${(apple.address() as AddressInfo).port}`);
      expect(await hooks.apple.api.requestTestNotification()).toMatchObject({ testNotificationToken: 'tok-1' });
      expect(path).toBe('/inApps/v1/notifications/test');
      const [header, payload] = String(seen?.authorization)
        .replace(/^Bearer /, '')
        .split('.')
        .slice(0, 2)
        .map((p) => JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>);
      expect(header).toMatchObject({ alg: 'ES256', kid: 'KEY123' });
      expect(payload).toMatchObject({ iss: 'issuer-uuid', bid: 'com.example.zero', aud: 'appstoreconnect-v1' });
    } finally {
      apple.close();
    }
  });

  it('the built package: ESM and CJS copies share one default instance', () => {
    const root = new URL('../..', import.meta.url).pathname;
    const out = execFileSync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { createRequire } from 'node:module'; const esm = await import('subscription-webhooks'); const cjs = createRequire(process.cwd() + '/')('subscription-webhooks'); console.log(esm.getDefaultHooks() === cjs.getDefaultHooks(), typeof esm.bus.subscribe)`,
      ],
      { cwd: root, encoding: 'utf8', env: { ...process.env, APPLE_BUNDLE_ID: 'com.example.zero', APPLE_ENVIRONMENTS: 'Sandbox' } },
    );
    expect(out.trim()).toBe('true function');
  });
});
