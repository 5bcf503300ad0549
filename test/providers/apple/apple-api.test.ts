import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppStoreServerApiError, createSubscriptionWebhooks, type AppStoreServerApiOptions } from '../../../src/index.js';
import { parseRetryAfter } from '../../../src/core/retry.js';
import { createAppleTestSigner } from '../../../src/testing/apple-signer.js';
import { APP_APPLE_ID, BUNDLE_ID, sharedSigner } from '../../helpers/apple-harness.js';
import { fakeAppleApiClient, seenSince, startFakeAppleApi, type FakeAppleApi } from '../../helpers/fake-apple-api.js';

let apple: FakeAppleApi;
let signer: Awaited<ReturnType<typeof sharedSigner>>;

beforeAll(async () => {
  signer = await sharedSigner();
  apple = await startFakeAppleApi({ bundleId: BUNDLE_ID, pageSize: 2 });
});
afterAll(() => apple.close());

const client = (over: Partial<AppStoreServerApiOptions> = {}) => fakeAppleApiClient(apple, signer.rootCertificate, over);
const since = (path: string) => seenSince(apple, path);

async function rejection(p: Promise<unknown>): Promise<AppStoreServerApiError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AppStoreServerApiError);
  return e as AppStoreServerApiError;
}

describe('App Store Server API client: authentication', () => {
  it('sends an ES256 JWT with exactly the header and claims Apple requires, checked with the public key', async () => {
    const txId = '2000000000000101';
    apple.transactions.set(txId, await signer.signTransaction({ transactionId: txId, originalTransactionId: txId, environment: 'Production' }));
    const reqs = since(`/inApps/v1/transactions/${txId}`);
    const { api } = client();
    const { transaction } = await api.getTransactionInfo(txId);
    expect(transaction.transactionId).toBe(txId);
    const [r] = reqs();
    expect(r!.authError).toBeNull();
    expect(r!.jwtHeader).toEqual({ alg: 'ES256', kid: apple.keyId, typ: 'JWT' });
    expect(Object.keys(r!.claims!).sort()).toEqual(['aud', 'bid', 'exp', 'iat', 'iss']);
    expect(r!.claims).toMatchObject({ iss: apple.issuerId, aud: 'appstoreconnect-v1', bid: BUNDLE_ID });
    const { iat, exp } = r!.claims as { iat: number; exp: number };
    expect(exp - iat).toBeGreaterThan(0);
    expect(exp - iat).toBeLessThanOrEqual(3600);
    expect(Math.abs(iat - Date.now() / 1000)).toBeLessThan(120);
  });

  it('reuses the token until a minute before it expires, then signs a new one', async () => {
    const txId = '2000000000000102';
    apple.transactions.set(txId, await signer.signTransaction({ transactionId: txId, environment: 'Production' }));
    let clock = Date.now();
    const { api } = client({ now: () => clock, tokenLifetimeSeconds: 600 });
    const reqs = since(`/inApps/v1/transactions/${txId}`);
    await api.getTransactionInfo(txId);
    await api.getTransactionInfo(txId);
    clock += 530_000; // 70 s left: still reused
    await api.getTransactionInfo(txId);
    clock += 20_000; // 50 s left: renewed
    await api.getTransactionInfo(txId);
    const tokens = reqs().map((r) => r.token);
    expect(tokens[0]).toBe(tokens[1]);
    expect(tokens[2]).toBe(tokens[0]);
    expect(tokens[3]).not.toBe(tokens[0]);
    expect(reqs()[3]!.claims!.iat).toBe(Math.floor(clock / 1000));
  });

  it('401 (wrong key) → APPLE_API_UNAUTHORIZED after one fresh token; nothing else retried', async () => {
    const other = startFakeAppleApi({ bundleId: BUNDLE_ID });
    const wrongKey = (await other).privateKeyPem;
    await (await other).close();
    const { api, sleeps } = client({ privateKey: wrongKey });
    const reqs = since('/inApps/v1/transactions/1');
    const e = await rejection(api.getTransactionInfo('1'));
    expect(e.code).toBe('APPLE_API_UNAUTHORIZED');
    expect(e.httpStatus).toBe(401);
    expect(e.endpoint).toBe('GET /inApps/v1/transactions/1');
    expect(e.message).toMatch(/APPLE_KEY_ID/);
    expect(reqs()).toHaveLength(2);
    expect(reqs()[0]!.authError).toMatch(/signature/i);
    expect(sleeps).toEqual([]);
  });

  it('a wrong bundle id is refused by the server (bid claim) → APPLE_API_UNAUTHORIZED', async () => {
    const { api } = client({ bundleId: 'com.someone.else' });
    expect((await rejection(api.getTransactionInfo('1'))).code).toBe('APPLE_API_UNAUTHORIZED');
  });

  it('rejects unusable keys and options at creation with CONFIG_INVALID', () => {
    expect(() => client({ privateKey: 'not a key' })).toThrow(/AuthKey/);
    expect(() => client({ keyId: '' })).toThrow(/keyId is required/);
    expect(() => client({ environment: 'Xcode' as never })).toThrow(/environment/);
    expect(() => client({ tokenLifetimeSeconds: 7200 })).toThrow(/3600/);
  });
});

describe('App Store Server API client: endpoints', () => {
  it('notification history: filters in the body, paginationToken across 3 pages, every payload verified', async () => {
    const base = Date.now() - 3_600_000;
    const uuids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const notificationUUID = `00000000-0000-4000-8000-00000000000${i}`;
      uuids.push(notificationUUID);
      apple.history.push({
        signedDate: base + i * 1000,
        signedPayload: await signer.signNotification({
          notificationType: 'TEST',
          notificationUUID,
          signedDate: base + i * 1000,
          data: { environment: 'Production', appAppleId: APP_APPLE_ID },
        }),
        sendAttempts: [{ attemptDate: base + i * 1000, sendAttemptResult: i === 3 ? 'NO_RESPONSE' : 'SUCCESS' }],
      });
    }
    const { api } = client();
    const reqs = since('/inApps/v1/notifications/history');
    const request = { startDate: new Date(base), endDate: base + 10_000 };
    const got: string[] = [];
    let token: string | null = null;
    let pages = 0;
    do {
      const page = await api.getNotificationHistory(request, token);
      pages++;
      for (const item of page.items) got.push(item.notification.payload.notificationUUID);
      token = page.hasMore ? page.paginationToken : null;
    } while (token);
    expect(pages).toBe(3);
    expect(got).toEqual(uuids);
    expect(reqs().map((r) => r.query.get('paginationToken') !== null)).toEqual([false, true, true]);
    expect(reqs()[0]!.body).toEqual({ startDate: base, endDate: base + 10_000 });
    expect(reqs().every((r) => r.method === 'POST')).toBe(true);

    const failures = await api.getNotificationHistory({ ...request, onlyFailures: true });
    expect(failures.items.map((i) => i.notification.payload.notificationUUID)).toEqual([uuids[3]]);
    expect(failures.items[0]!.sendAttempts).toEqual([{ attemptDate: base + 3000, sendAttemptResult: 'NO_RESPONSE' }]);
    expect(reqs().at(-1)!.body).toMatchObject({ onlyFailures: true });
    apple.history.length = 0;
  });

  it('history with a forged entry rejects with the verifier code (nothing unverified reaches the caller)', async () => {
    const attacker = await createAppleTestSigner({ bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Production' });
    const t = Date.now() - 60_000;
    apple.history.push({
      signedDate: t,
      signedPayload: await attacker.signNotification({ signedDate: t, data: { environment: 'Production', appAppleId: APP_APPLE_ID } }),
    });
    const { api } = client();
    await expect(api.getNotificationHistory({ startDate: t - 1 })).rejects.toMatchObject({ code: 'CERT_CHAIN_INVALID' });
    apple.history.length = 0;
  });

  it('subscription statuses, transaction info and transaction history (v2, revision) are verified and decoded', async () => {
    const id = '2000000000000200';
    const tx = await signer.signTransaction({ transactionId: id, originalTransactionId: id, environment: 'Production' });
    const info = await signer.signRenewalInfo({ originalTransactionId: id, environment: 'Production' });
    apple.statuses.set(id, {
      environment: 'Production',
      bundleId: BUNDLE_ID,
      appAppleId: APP_APPLE_ID,
      data: [
        {
          subscriptionGroupIdentifier: '21000000',
          lastTransactions: [{ status: 1, originalTransactionId: id, signedTransactionInfo: tx, signedRenewalInfo: info }],
        },
      ],
    });
    apple.transactionHistory.set(
      id,
      await Promise.all([0, 1, 2].map((n) => signer.signTransaction({ transactionId: `${id}${n}`, originalTransactionId: id, environment: 'Production' }))),
    );
    const { api } = client();
    const statuses = await api.getAllSubscriptionStatuses(id, { status: [1, 4] });
    expect(statuses.data[0]!.lastTransactions[0]).toMatchObject({ status: 1, transaction: { transactionId: id }, renewalInfo: { originalTransactionId: id } });
    expect(apple.seen.at(-1)!.query.getAll('status')).toEqual(['1', '4']);

    const reqs = since(`/inApps/v2/history/${id}`);
    const first = await api.getTransactionHistory(id, { sort: 'ASCENDING', productType: ['AUTO_RENEWABLE'] });
    expect(first.hasMore).toBe(true);
    const second = await api.getTransactionHistory(id, { sort: 'ASCENDING', productType: ['AUTO_RENEWABLE'], revision: first.revision! });
    expect([...first.transactions, ...second.transactions].map((t) => t.transactionId)).toEqual([`${id}0`, `${id}1`, `${id}2`]);
    expect(reqs()[1]!.query.get('revision')).toBe(first.revision);
    expect(reqs()[0]!.query.get('productType')).toBe('AUTO_RENEWABLE');
  });

  it('test notification: request, then status with its verified payload and send attempts', async () => {
    const signedPayload = await signer.signNotification({ notificationType: 'TEST', data: { environment: 'Production', appAppleId: APP_APPLE_ID } });
    apple.setTestNotification({ signedPayload, sendAttempts: [{ attemptDate: Date.now(), sendAttemptResult: 'SUCCESS' }] });
    const { api } = client();
    const { testNotificationToken } = await api.requestTestNotification();
    const status = await api.getTestNotificationStatus(testNotificationToken);
    expect(status.notification.payload.notificationType).toBe('TEST');
    expect(status.sendAttempts[0]!.sendAttemptResult).toBe('SUCCESS');
  });
});

describe('App Store Server API client: errors and retries', () => {
  it("404 → APPLE_API_NOT_FOUND carrying Apple's errorCode and errorMessage", async () => {
    const { api } = client();
    const e = await rejection(api.getTransactionInfo('404404'));
    expect(e).toMatchObject({ code: 'APPLE_API_NOT_FOUND', httpStatus: 404, apiErrorCode: 4040010, apiErrorMessage: 'Transaction id not found.', status: 404 });
  });

  it('400 → APPLE_API_ERROR with the Apple error', async () => {
    const { api } = client();
    const e = await rejection(api.getNotificationHistory({ startDate: 0, notificationType: 'TEST', transactionId: '1' }));
    expect(e).toMatchObject({ code: 'APPLE_API_ERROR', httpStatus: 400, apiErrorCode: 4000101 });
  });

  it('429 then success: waits what retry-after says (Apple: UNIX time in ms) and retries', async () => {
    const id = '2000000000000300';
    apple.transactions.set(id, await signer.signTransaction({ transactionId: id, environment: 'Production' }));
    const now = Date.now();
    apple.failNext(`/inApps/v1/transactions/${id}`, {
      status: 429,
      body: { errorCode: 4290000, errorMessage: 'Rate limit exceeded.' },
      headers: { 'retry-after': String(now + 1500) },
    });
    const { api, sleeps } = client({ now: () => now });
    const reqs = since(`/inApps/v1/transactions/${id}`);
    const r = await api.getTransactionInfo(id);
    expect(r.transaction.transactionId).toBe(id);
    expect(reqs()).toHaveLength(2);
    expect(sleeps).toEqual([1500]);
  });

  it('429 with retry-after beyond maxRetryDelayMs → APPLE_API_RATE_LIMITED at once, with retryAfterMs', async () => {
    const now = Date.now();
    apple.failNext('/inApps/v1/transactions/9', {
      status: 429,
      body: { errorCode: 4290000, errorMessage: 'Rate limit exceeded.' },
      headers: { 'retry-after': String(now + 3_600_000) },
    });
    const { api, sleeps } = client({ now: () => now });
    const e = await rejection(api.getTransactionInfo('9'));
    expect(e).toMatchObject({ code: 'APPLE_API_RATE_LIMITED', apiErrorCode: 4290000, retryAfterMs: 3_600_000 });
    expect(sleeps).toEqual([]);
  });

  it('5xx until give up: maxRetries + 1 attempts with bounded, growing backoff → APPLE_API_UNAVAILABLE', async () => {
    apple.failNext('/inApps/v1/transactions/5', { status: 500, body: { errorCode: 5000000, errorMessage: 'An unknown error occurred.' } }, 4);
    const { api, sleeps } = client({ maxRetries: 3, maxRetryDelayMs: 1500 });
    const reqs = since('/inApps/v1/transactions/5');
    const e = await rejection(api.getTransactionInfo('5'));
    expect(e).toMatchObject({ code: 'APPLE_API_UNAVAILABLE', httpStatus: 500, apiErrorCode: 5000000 });
    expect(reqs()).toHaveLength(4);
    expect(sleeps).toHaveLength(3);
    expect(sleeps.every((ms) => ms > 0 && ms <= 1500)).toBe(true);
  });

  it('503 then success is retried; a network failure is retried then APPLE_API_UNAVAILABLE', async () => {
    const id = '2000000000000301';
    apple.transactions.set(id, await signer.signTransaction({ transactionId: id, environment: 'Production' }));
    apple.failNext(`/inApps/v1/transactions/${id}`, { status: 503 });
    const { api, sleeps } = client();
    expect((await api.getTransactionInfo(id)).transaction.transactionId).toBe(id);
    expect(sleeps).toHaveLength(1);

    const down = client({ baseUrl: 'http://127.0.0.1:9', maxRetries: 1 });
    const e = await rejection(down.api.getTransactionInfo(id));
    expect(e).toMatchObject({ code: 'APPLE_API_UNAVAILABLE', httpStatus: null });
    expect(down.sleeps).toHaveLength(1);
  });

  it('a 200 whose body is not what Apple documents → APPLE_API_ERROR', async () => {
    apple.failNext('/inApps/v1/transactions/7', { status: 200, body: { unexpected: true } });
    const { api } = client();
    expect((await rejection(api.getTransactionInfo('7'))).code).toBe('APPLE_API_ERROR');
  });

  it('parseRetryAfter: epoch ms, seconds and HTTP dates', () => {
    const now = 1_700_000_000_000;
    expect(parseRetryAfter(String(now + 2000), now, { epochMillis: true })).toBe(2000);
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter(new Date(now + 5000).toUTCString(), now)).toBe(5000);
    expect(parseRetryAfter(null, now)).toBeNull();
    expect(parseRetryAfter('soon', now)).toBeNull();
  });
});

describe('hooks.apple.api from config and env', () => {
  it('reads APPLE_KEY_ID / APPLE_ISSUER_ID / APPLE_PRIVATE_KEY_PATH (the key file once, at config time)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-key-'));
    const keyPath = join(dir, 'AuthKey_TEST.p8');
    writeFileSync(keyPath, apple.privateKeyPem);
    const id = '2000000000000400';
    apple.transactions.set(id, await signer.signTransaction({ transactionId: id, environment: 'Production' }));
    const saved = { ...process.env };
    try {
      Object.assign(process.env, {
        APPLE_KEY_ID: apple.keyId,
        APPLE_ISSUER_ID: apple.issuerId,
        APPLE_PRIVATE_KEY_PATH: keyPath,
        APPLE_API_BASE_URL: apple.baseUrl,
      });
      const hooks = createSubscriptionWebhooks({ apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, rootCertificates: [signer.rootCertificate] } });
      expect(hooks.apple.api.environment).toBe('Production');
      expect((await hooks.apple.api.getTransactionInfo(id)).transaction.transactionId).toBe(id);
      delete process.env.APPLE_ISSUER_ID;
      expect(() => createSubscriptionWebhooks({ apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID } })).toThrow(/APPLE_ISSUER_ID/);
      process.env.APPLE_ISSUER_ID = apple.issuerId;
      process.env.APPLE_PRIVATE_KEY_PATH = join(dir, 'missing.p8');
      expect(() => createSubscriptionWebhooks({ apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID } })).toThrow(/APPLE_PRIVATE_KEY_PATH/);
    } finally {
      process.env = saved;
    }
  });

  it('explicit apple.api wins; without any key every call rejects with CONFIG_INVALID naming the env vars', async () => {
    const saved = { ...process.env };
    try {
      for (const k of ['APPLE_KEY_ID', 'APPLE_ISSUER_ID', 'APPLE_PRIVATE_KEY_PATH']) delete process.env[k];
      const hooks = createSubscriptionWebhooks({ apple: { bundleId: BUNDLE_ID, environments: ['Sandbox'] } });
      await expect(hooks.apple.api.requestTestNotification()).rejects.toMatchObject({ code: 'CONFIG_INVALID', message: expect.stringMatching(/APPLE_KEY_ID/) });
      const sandbox = createSubscriptionWebhooks({
        apple: { bundleId: BUNDLE_ID, environments: ['Sandbox'], api: { keyId: apple.keyId, issuerId: apple.issuerId, privateKey: apple.privateKeyPem } },
      });
      expect(sandbox.apple.api.environment).toBe('Sandbox');
      expect(sandbox.apple.api.baseUrl).toBe('https://api.storekit-sandbox.apple.com');
      expect(() =>
        createSubscriptionWebhooks({ apple: { bundleId: BUNDLE_ID, environments: ['Sandbox'], api: { keyId: 'k', issuerId: 'i', privateKey: 'x' } } }),
      ).toThrow(/apple\.api\.privateKey/);
    } finally {
      process.env = saved;
    }
  });

  it('apple.rootCertificates accepts file paths (DER or PEM) and "apple"', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sw-roots-'));
    writeFileSync(join(dir, 'root.cer'), signer.rootCertificate);
    writeFileSync(join(dir, 'root.pem'), signer.rootCertificatePem);
    const tx = await signer.signTransaction({ environment: 'Production' });
    for (const entry of [join(dir, 'root.cer'), join(dir, 'root.pem')]) {
      const hooks = createSubscriptionWebhooks({ apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, rootCertificates: ['apple', entry] } });
      expect((await hooks.apple.verifyTransaction(tx)).bundleId).toBe(BUNDLE_ID);
    }
    const appleOnly = createSubscriptionWebhooks({ apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, rootCertificates: ['apple'] } });
    await expect(appleOnly.apple.verifyTransaction(tx)).rejects.toMatchObject({ code: 'CERT_CHAIN_INVALID' });
    expect(() => createSubscriptionWebhooks({ apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, rootCertificates: [join(dir, 'nope.cer')] } })).toThrow(
      /nope\.cer/,
    );
  });
});
