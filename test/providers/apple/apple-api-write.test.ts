import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppStoreServerApiError, type AppStoreServerApiOptions } from '../../../src/index.js';
import { createAppleTestSigner } from '../../../src/testing/apple-signer.js';
import { APP_APPLE_ID, BUNDLE_ID, sharedSigner } from '../../helpers/apple-harness.js';
import { fakeAppleApiClient, seenSince, startFakeAppleApi, type FakeAppleApi, type SeenRequest } from '../../helpers/fake-apple-api.js';

let apple: FakeAppleApi;
let signer: Awaited<ReturnType<typeof sharedSigner>>;

beforeAll(async () => {
  signer = await sharedSigner();
  apple = await startFakeAppleApi({ bundleId: BUNDLE_ID, pageSize: 2 });
});
afterAll(() => apple.close());

const client = (over: Partial<AppStoreServerApiOptions> = {}) => fakeAppleApiClient(apple, signer.rootCertificate, over);
const since = (path: string) => seenSince(apple, path);

/** The request reached the stand-in with a valid ES256 token for our key and bundle, and a body of Apple's schema. */
function wellFormed(r: SeenRequest | undefined, method: string) {
  expect(r).toBeDefined();
  expect(r!.method).toBe(method);
  expect(r!.authError).toBeNull();
  expect(r!.claims).toMatchObject({ iss: apple.issuerId, aud: 'appstoreconnect-v1', bid: BUNDLE_ID });
  expect(r!.jwtHeader).toEqual({ alg: 'ES256', kid: apple.keyId, typ: 'JWT' });
  expect(r!.schemaError).toBeNull();
}

async function rejection(p: Promise<unknown>): Promise<AppStoreServerApiError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(AppStoreServerApiError);
  return e as AppStoreServerApiError;
}

async function knownTransaction(id: string, originalTransactionId = id) {
  apple.transactions.set(id, await signer.signTransaction({ transactionId: id, originalTransactionId, environment: 'Production' }));
}

describe('App Store Server API write side: Send Consumption Information', () => {
  it('PUT /inApps/v2/transactions/consumption/{id} with the current schema; unknown keys dropped; 202 resolves', async () => {
    const id = '2100000000000001';
    await knownTransaction(id);
    const reqs = since(`/inApps/v2/transactions/consumption/${id}`);
    const { api } = client();
    const body = {
      customerConsented: true,
      deliveryStatus: 'DELIVERED',
      sampleContentProvided: true,
      consumptionPercentage: 25000,
      refundPreference: 'DECLINE',
      playTime: 3,
    } as const;
    await expect(api.sendConsumptionInformation(id, body as never)).resolves.toBeUndefined();
    wellFormed(reqs()[0], 'PUT');
    expect(reqs()[0]!.body).toEqual({
      customerConsented: true,
      deliveryStatus: 'DELIVERED',
      sampleContentProvided: true,
      consumptionPercentage: 25000,
      refundPreference: 'DECLINE',
    });
    expect(apple.consumption.at(-1)).toEqual({ transactionId: id, body: reqs()[0]!.body });
  });

  it('refuses before sending what Apple would refuse: no consent, bad enums, percentage out of range or non-zero when undelivered', async () => {
    const { api } = client();
    const reqs = since('/inApps/v2/transactions/consumption/1');
    const base = { customerConsented: true, deliveryStatus: 'DELIVERED', sampleContentProvided: false } as const;
    for (const bad of [
      { ...base, customerConsented: false },
      { ...base, deliveryStatus: 'LOST' },
      { ...base, sampleContentProvided: 'yes' },
      { ...base, consumptionPercentage: 100001 },
      { ...base, consumptionPercentage: 1.5 },
      { ...base, deliveryStatus: 'UNDELIVERED_OTHER', consumptionPercentage: 10 },
      { ...base, refundPreference: 'MAYBE' },
    ]) {
      await expect(api.sendConsumptionInformation('1', bad as never)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', status: 400 });
    }
    expect(reqs()).toHaveLength(0);
  });

  it('404 from Apple → APPLE_API_NOT_FOUND with 4040010; the stand-in rejects a body off the schema (400 with a code)', async () => {
    const { api } = client();
    const e = await rejection(
      api.sendConsumptionInformation('2199999999999999', { customerConsented: true, deliveryStatus: 'DELIVERED', sampleContentProvided: true }),
    );
    expect(e).toMatchObject({
      code: 'APPLE_API_NOT_FOUND',
      httpStatus: 404,
      apiErrorCode: 4040010,
      endpoint: 'PUT /inApps/v2/transactions/consumption/2199999999999999',
    });
  });
});

describe('App Store Server API write side: Set App Account Token', () => {
  it('PUT /inApps/v1/transactions/{originalTransactionId}/appAccountToken with { appAccountToken }', async () => {
    const id = '2100000000000010';
    await knownTransaction(`${id}9`, id);
    const token = randomUUID();
    const reqs = since(`/inApps/v1/transactions/${id}/appAccountToken`);
    const { api } = client();
    await api.setAppAccountToken(id, token.toUpperCase());
    wellFormed(reqs()[0], 'PUT');
    expect(reqs()[0]!.body).toEqual({ appAccountToken: token });
    expect(apple.appAccountTokens.get(id)).toBe(token);
  });

  it('a token that is not a UUID is INVALID_ARGUMENT before any request; an unknown original id is APPLE_API_NOT_FOUND 4040005', async () => {
    const { api } = client();
    const reqs = since('/inApps/v1/transactions/1/appAccountToken');
    await expect(api.setAppAccountToken('1', 'ord_123')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(reqs()).toHaveLength(0);
    const e = await rejection(api.setAppAccountToken('2199999999999998', randomUUID()));
    expect(e).toMatchObject({ code: 'APPLE_API_NOT_FOUND', apiErrorCode: 4040005 });
  });
});

describe('App Store Server API write side: renewal-date extensions', () => {
  it('one subscription: PUT /inApps/v1/subscriptions/extend/{id}; the generated requestIdentifier is sent and returned', async () => {
    const id = '2100000000000020';
    await knownTransaction(id);
    const reqs = since(`/inApps/v1/subscriptions/extend/${id}`);
    const { api } = client();
    const r = await api.extendSubscriptionRenewalDate(id, { extendByDays: 7, extendReasonCode: 3 });
    wellFormed(reqs()[0], 'PUT');
    expect(reqs()[0]!.body).toEqual({ extendByDays: 7, extendReasonCode: 3, requestIdentifier: r.requestIdentifier });
    expect(r).toMatchObject({ success: true, originalTransactionId: id, webOrderLineItemId: `${id}-w`, effectiveDate: 1_900_000_000_000 + 7 * 86_400_000 });
    expect(r.requestIdentifier).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('403 (ineligible) → APPLE_API_ERROR carrying 4030004; bad days or reason → INVALID_ARGUMENT without a request', async () => {
    const id = '2100000000000021';
    await knownTransaction(id);
    apple.ineligibleForExtension.add(id);
    const { api } = client();
    const e = await rejection(api.extendSubscriptionRenewalDate(id, { extendByDays: 7, extendReasonCode: 1, requestIdentifier: 'support-123' }));
    expect(e).toMatchObject({ code: 'APPLE_API_ERROR', httpStatus: 403, apiErrorCode: 4030004 });
    const reqs = since(`/inApps/v1/subscriptions/extend/${id}`);
    await expect(api.extendSubscriptionRenewalDate(id, { extendByDays: 91, extendReasonCode: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(api.extendSubscriptionRenewalDate(id, { extendByDays: 0, extendReasonCode: 1 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(api.extendSubscriptionRenewalDate(id, { extendByDays: 3, extendReasonCode: 4 as never })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(reqs()).toHaveLength(0);
  });

  it('every active subscriber: POST /inApps/v1/subscriptions/extend/mass, then the status until complete', async () => {
    const reqs = since('/inApps/v1/subscriptions/extend/mass');
    const { api } = client();
    const { requestIdentifier } = await api.extendRenewalDateForAllActiveSubscribers({
      productId: 'pro.monthly',
      extendByDays: 3,
      extendReasonCode: 3,
      storefrontCountryCodes: ['USA', 'FRA'],
    });
    wellFormed(reqs()[0], 'POST');
    expect(reqs()[0]!.body).toEqual({
      productId: 'pro.monthly',
      extendByDays: 3,
      extendReasonCode: 3,
      storefrontCountryCodes: ['USA', 'FRA'],
      requestIdentifier,
    });
    const statusPath = `/inApps/v1/subscriptions/extend/mass/pro.monthly/${requestIdentifier}`;
    const statusReqs = since(statusPath);
    expect(await api.getRenewalDateExtensionStatus('pro.monthly', requestIdentifier)).toEqual({
      requestIdentifier,
      complete: false,
      completeDate: null,
      succeededCount: null,
      failedCount: null,
    });
    Object.assign(apple.massExtensions.get(requestIdentifier)!, { complete: true, succeededCount: 120, failedCount: 2, completeDate: 1_800_000_000_000 });
    expect(await api.getRenewalDateExtensionStatus('pro.monthly', requestIdentifier)).toEqual({
      requestIdentifier,
      complete: true,
      completeDate: 1_800_000_000_000,
      succeededCount: 120,
      failedCount: 2,
    });
    wellFormed(statusReqs()[0], 'GET');
    await expect(
      api.extendRenewalDateForAllActiveSubscribers({ productId: 'pro.monthly', extendByDays: 3, extendReasonCode: 3, storefrontCountryCodes: ['us'] }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await rejection(api.getRenewalDateExtensionStatus('pro.monthly', 'nope'))).code).toBe('APPLE_API_NOT_FOUND');
  });
});

describe('App Store Server API write side: Look Up Order ID and Get Refund History', () => {
  it('lookup: valid order → its verified transactions; unknown order → { valid: false } (status 1), not an error', async () => {
    const id = '2100000000000030';
    apple.orders.set('MK5TTTVWJH', [await signer.signTransaction({ transactionId: id, originalTransactionId: id, environment: 'Production' })]);
    const reqs = since('/inApps/v1/lookup/MK5TTTVWJH');
    const { api } = client();
    const found = await api.lookUpOrderId('MK5TTTVWJH');
    wellFormed(reqs()[0], 'GET');
    expect(found).toMatchObject({ status: 0, valid: true, transactions: [{ transactionId: id }] });
    expect(found.signedTransactions).toHaveLength(1);
    expect(await api.lookUpOrderId('NOTANORDER')).toEqual({ status: 1, valid: false, signedTransactions: [], transactions: [] });
  });

  it('lookup with a transaction signed outside the trusted chain rejects with the verifier code (nothing unverified returned)', async () => {
    const attacker = await createAppleTestSigner({ bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Production' });
    apple.orders.set('FORGED0001', [await attacker.signTransaction({ environment: 'Production' })]);
    const { api } = client();
    await expect(api.lookUpOrderId('FORGED0001')).rejects.toMatchObject({ code: 'CERT_CHAIN_INVALID' });
  });

  it('refund history v2: pages by revision, every transaction verified; a forged one rejects', async () => {
    const id = '2100000000000040';
    apple.refunds.set(
      id,
      await Promise.all(
        [0, 1, 2].map((n) =>
          signer.signTransaction({ transactionId: `${id}${n}`, originalTransactionId: id, environment: 'Production', revocationDate: Date.now() }),
        ),
      ),
    );
    const reqs = since(`/inApps/v2/refund/lookup/${id}`);
    const { api } = client();
    const first = await api.getRefundHistory(id);
    expect(first.hasMore).toBe(true);
    const second = await api.getRefundHistory(id, first.revision);
    expect(second.hasMore).toBe(false);
    expect([...first.transactions, ...second.transactions].map((t) => t.transactionId)).toEqual([`${id}0`, `${id}1`, `${id}2`]);
    wellFormed(reqs()[0], 'GET');
    expect(reqs()[0]!.query.get('revision')).toBeNull();
    expect(reqs()[1]!.query.get('revision')).toBe(first.revision);

    const attacker = await createAppleTestSigner({ bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Production' });
    apple.refunds.set('2100000000000041', [await attacker.signTransaction({ environment: 'Production' })]);
    await expect(api.getRefundHistory('2100000000000041')).rejects.toMatchObject({ code: 'CERT_CHAIN_INVALID' });
  });
});

describe('App Store Server API write side: errors and retries', () => {
  it("429 with Apple's retry-after (epoch ms) is waited and retried on a PUT; beyond maxRetryDelayMs → APPLE_API_RATE_LIMITED", async () => {
    const id = '2100000000000050';
    await knownTransaction(id);
    const path = `/inApps/v1/subscriptions/extend/${id}`;
    const now = Date.now();
    apple.failNext(path, { status: 429, body: { errorCode: 4290000, errorMessage: 'Rate limit exceeded.' }, headers: { 'retry-after': String(now + 2500) } });
    const { api, sleeps } = client({ now: () => now });
    const reqs = since(path);
    const r = await api.extendSubscriptionRenewalDate(id, { extendByDays: 2, extendReasonCode: 3 });
    expect(r.success).toBe(true);
    expect(sleeps).toEqual([2500]);
    // The retry repeats the same requestIdentifier: Apple does not apply it twice.
    expect(reqs().map((q) => (q.body as { requestIdentifier: string }).requestIdentifier)).toEqual([r.requestIdentifier, r.requestIdentifier]);

    apple.failNext(path, {
      status: 429,
      body: { errorCode: 4290000, errorMessage: 'Rate limit exceeded.' },
      headers: { 'retry-after': String(now + 600_000) },
    });
    const e = await rejection(api.extendSubscriptionRenewalDate(id, { extendByDays: 2, extendReasonCode: 3 }));
    expect(e).toMatchObject({ code: 'APPLE_API_RATE_LIMITED', apiErrorCode: 4290000, retryAfterMs: 600_000 });
  });

  it('5xx on a write is retried with a bound: maxRetries + 1 attempts, then APPLE_API_UNAVAILABLE', async () => {
    const id = '2100000000000051';
    await knownTransaction(id);
    const path = `/inApps/v2/transactions/consumption/${id}`;
    apple.failNext(path, { status: 500, body: { errorCode: 5000001, errorMessage: 'An unknown retryable error occurred.' } }, 3);
    const { api, sleeps } = client({ maxRetries: 2, maxRetryDelayMs: 1000 });
    const reqs = since(path);
    const e = await rejection(api.sendConsumptionInformation(id, { customerConsented: true, deliveryStatus: 'DELIVERED', sampleContentProvided: true }));
    expect(e).toMatchObject({ code: 'APPLE_API_UNAVAILABLE', httpStatus: 500, apiErrorCode: 5000001 });
    expect(reqs()).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
    expect(sleeps.every((ms) => ms > 0 && ms <= 1000)).toBe(true);
    // One 503, then the stand-in accepts.
    apple.failNext(path, { status: 503 });
    await client().api.sendConsumptionInformation(id, { customerConsented: true, deliveryStatus: 'DELIVERED', sampleContentProvided: true });
    expect(apple.consumption.filter((c) => c.transactionId === id)).toHaveLength(1);
  });

  it('unconfigured API: the write methods reject with CONFIG_INVALID too', async () => {
    const { unconfiguredAppStoreServerApi } = await import('../../../src/providers/apple/api.js');
    const api = unconfiguredAppStoreServerApi();
    await expect(api.lookUpOrderId('X')).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
    await expect(api.setAppAccountToken('1', randomUUID())).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});
