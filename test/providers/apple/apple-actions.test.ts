import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { subscriptionWebhooks } from '../../../adapters/express.js';
import { createSubscriptionWebhooks, type ConsumptionRequest, type Order, type Store } from '../../../src/index.js';
import { eventId } from '../../../src/core/ids.js';
import { APPLE_APP_ACCOUNT_TOKEN_TARGET, APPLE_CONSUMPTION_TARGET, type ConsumptionInput } from '../../../src/providers/apple/actions.js';
import { APP_APPLE_ID, BUNDLE_ID, PRODUCT, recordingLogger, sharedSigner } from '../../helpers/apple-harness.js';
import { createPgDriverStore, EVERY_STORE } from '../../helpers/databases.js';
import { startFakeAppleApi, type FakeAppleApi } from '../../helpers/fake-apple-api.js';

const DAY = 86_400_000;
let apple: FakeAppleApi;
let signer: Awaited<ReturnType<typeof sharedSigner>>;

beforeAll(async () => {
  signer = await sharedSigner();
  apple = await startFakeAppleApi({ bundleId: BUNDLE_ID });
});
afterAll(() => apple.close());

const newId = () => String(2_300_000_000_000_000 + Math.floor(Math.random() * 1e12));

/** A signed auto-renewable purchase without appAccountToken (an offer code, or bought before sign-in), known to the stand-in. */
async function purchase(otid = newId()) {
  const now = Date.now();
  const tx = {
    transactionId: otid,
    originalTransactionId: otid,
    productId: PRODUCT,
    type: 'Auto-Renewable Subscription',
    purchaseDate: now - 60_000,
    expiresDate: now + 30 * DAY,
    environment: 'Production',
    inAppOwnershipType: 'PURCHASED',
  };
  const jws = await signer.signTransaction(tx);
  apple.transactions.set(otid, jws);
  return { otid, tx, jws };
}

async function app(
  store: Store,
  over: { consumption?: (input: ConsumptionInput) => ConsumptionRequest | null | Promise<ConsumptionRequest | null>; timeoutMs?: number } = {},
) {
  const clock = { now: Date.now() };
  const logger = recordingLogger();
  const hooks = createSubscriptionWebhooks({
    apple: {
      bundleId: BUNDLE_ID,
      appAppleId: APP_APPLE_ID,
      rootCertificates: [signer.rootCertificate],
      api: { keyId: apple.keyId, issuerId: apple.issuerId, privateKey: apple.privateKeyPem, baseUrl: apple.baseUrl, environment: 'Production' },
      ...(over.consumption ? { consumption: over.consumption } : {}),
    },
    store,
    logger,
    delivery: { now: () => clock.now, retrySchedule: [1000, 1000, 1000], timeoutMs: over.timeoutMs ?? 3000 },
  });
  const server = express();
  server.use(subscriptionWebhooks(hooks, { getUserId: (req) => req.header('x-user-id') ?? null }));
  const postTransaction = (jws: string, user?: string) => {
    const r = request(server).post(hooks.routes.appleTransactions).set('content-type', 'application/json');
    return (user ? r.set('x-user-id', user) : r).send(JSON.stringify({ signedTransaction: jws }));
  };
  const postNotification = (signedPayload: string) =>
    request(server).post(hooks.routes.apple).set('content-type', 'application/json').send(JSON.stringify({ signedPayload }));
  const order = (tradeNo: string) => store.transaction((tx) => tx.getOrderByTradeNo('apple', tradeNo)) as Promise<Order | null>;
  const rows = (endpointId: string) => hooks.delivery.list({ endpointId });
  return { hooks, clock, logger, postTransaction, postNotification, order, rows };
}

const tokenPath = (otid: string) => `/inApps/v1/transactions/${otid}/appAccountToken`;
const consumptionPath = (id: string) => `/inApps/v2/transactions/consumption/${id}`;
const seenOn = (path: string) => apple.seen.filter((r) => r.path === path);

async function consumptionRequest(tx: Record<string, unknown>, uuid: string = randomUUID()) {
  return signer.signNotification({
    notificationType: 'CONSUMPTION_REQUEST',
    notificationUUID: uuid,
    signedDate: Date.now(),
    data: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, environment: 'Production', transaction: tx, consumptionRequestReason: 'UNINTENDED_PURCHASE' },
  } as Parameters<typeof signer.signNotification>[0]);
}

describe.each(EVERY_STORE)('Apple actions after commit on %s', (_name, make) => {
  let db: Awaited<ReturnType<typeof make>>;
  beforeAll(async () => {
    db = await make();
  });
  afterAll(() => db.close());

  it('binding an ownerless purchase to its first signed-in poster sets the appAccountToken at Apple: after the commit, by the worker, once', async () => {
    const a = await app(db.store);
    const { otid, jws } = await purchase();
    // Posted before anyone signed in (a route or call without a user).
    const anonymous = await a.hooks.handle('appleTransaction', {
      headers: { 'content-type': 'application/json' },
      rawBody: JSON.stringify({ signedTransaction: jws }),
    });
    expect(anonymous.response.status).toBe(200);
    expect(JSON.parse(anonymous.response.body!).data.userId).toBeNull();
    expect(await a.rows(APPLE_APP_ACCOUNT_TOKEN_TARGET)).toHaveLength(0);

    const bound = await a.postTransaction(jws, 'user_1');
    expect(bound.status).toBe(200);
    expect(bound.body.data.userId).toBe('user_1');
    // Answered without calling Apple: the call is a committed delivery row, pending until the worker runs.
    expect(seenOn(tokenPath(otid))).toHaveLength(0);
    const [row] = await a.rows(APPLE_APP_ACCOUNT_TOKEN_TARGET);
    expect(row).toMatchObject({ status: 'pending', attempts: 0 });

    expect((await a.hooks.delivery.runOnce()).delivered).toBeGreaterThanOrEqual(1);
    const order = (await a.order(otid))!;
    expect(order.user_id).toBe('user_1');
    expect(seenOn(tokenPath(otid))).toHaveLength(1);
    expect(seenOn(tokenPath(otid))[0]!.authError).toBeNull();
    expect(apple.appAccountTokens.get(otid)).toBe(order.no);
    expect(await a.hooks.delivery.get(row!.id)).toMatchObject({ status: 'delivered', attempts: 1 });

    // The owner posting again binds nothing: no second row, no second call.
    expect((await a.postTransaction(jws, 'user_1')).status).toBe(200);
    await a.hooks.delivery.runOnce();
    expect(await a.rows(APPLE_APP_ACCOUNT_TOKEN_TARGET)).toHaveLength(1);
    expect(seenOn(tokenPath(otid))).toHaveLength(1);
  });

  it('a purchase that already carries an appAccountToken, or is bound on its first post, is handled right: no call vs one call', async () => {
    const a = await app(db.store);
    const withToken = await purchase();
    const token = randomUUID();
    const jws = await signer.signTransaction({ ...withToken.tx, appAccountToken: token });
    apple.transactions.set(withToken.otid, jws);
    expect((await a.postTransaction(jws, 'user_2')).body.data.userId).toBe('user_2');
    const fresh = await purchase();
    expect((await a.postTransaction(fresh.jws, 'user_3')).body.data.userId).toBe('user_3');
    await a.hooks.delivery.runOnce();
    expect(seenOn(tokenPath(withToken.otid))).toHaveLength(0);
    expect(apple.appAccountTokens.get(fresh.otid)).toBe((await a.order(fresh.otid))!.no);
  });

  it('Apple failing (503, then 429 with retry-after) is retried by the delivery schedule and never lost', async () => {
    const a = await app(db.store);
    const { otid, jws } = await purchase();
    await a.postTransaction(jws, 'user_4');
    apple.failNext(tokenPath(otid), { status: 503, body: { errorCode: 5000001, errorMessage: 'retryable' } });
    await a.hooks.delivery.runOnce();
    const all = await a.rows(APPLE_APP_ACCOUNT_TOKEN_TARGET);
    const [row] = all.filter((d) => d.status !== 'delivered');
    expect(row).toMatchObject({ status: 'pending', attempts: 1 });
    expect(row!.last_error).toMatch(/APPLE_API_UNAVAILABLE/);
    apple.failNext(tokenPath(otid), {
      status: 429,
      body: { errorCode: 4290000, errorMessage: 'Rate limit exceeded.' },
      headers: { 'retry-after': String(a.clock.now + 5000) },
    });
    a.clock.now += 1000;
    await a.hooks.delivery.runOnce();
    const afterLimit = (await a.hooks.delivery.get(row!.id))!;
    expect(afterLimit).toMatchObject({ status: 'pending', attempts: 2 });
    // Waited what Apple asked (5 s), not the 1 s schedule.
    expect(Date.parse(afterLimit.next_attempt_at!) - a.clock.now).toBeGreaterThanOrEqual(4000);
    a.clock.now += 5000;
    await a.hooks.delivery.runOnce();
    expect(await a.hooks.delivery.get(row!.id)).toMatchObject({ status: 'delivered', attempts: 3 });
    expect(apple.appAccountTokens.get(otid)).toBe((await a.order(otid))!.no);
  });

  it('CONSUMPTION_REQUEST: apple.consumption is asked once after the commit (duplicates too), its answer sent and recorded on the order', async () => {
    const calls: ConsumptionInput[] = [];
    const answer: ConsumptionRequest = {
      customerConsented: true,
      deliveryStatus: 'DELIVERED',
      sampleContentProvided: true,
      consumptionPercentage: 25000,
      refundPreference: 'DECLINE',
    };
    const a = await app(db.store, {
      consumption: async (input) => {
        calls.push(input);
        return answer;
      },
    });
    const { otid, tx, jws } = await purchase();
    await a.postTransaction(jws, 'user_5');
    const uuid = randomUUID();
    const signedPayload = await consumptionRequest(tx, uuid);
    expect((await a.postNotification(signedPayload)).status).toBe(200);
    expect((await a.postNotification(signedPayload)).body.data.duplicate).toBe(true);
    expect(seenOn(consumptionPath(otid))).toHaveLength(0);
    expect(calls).toHaveLength(0);
    await a.hooks.delivery.runOnce();
    await a.hooks.delivery.runOnce();
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({
      userId: 'user_5',
      order: { trade_no: otid, user_id: 'user_5' },
      subscription: { contract_id: otid },
      notification: { notificationType: 'CONSUMPTION_REQUEST', notificationUUID: uuid },
    });
    expect(apple.consumption.filter((c) => c.transactionId === otid)).toEqual([{ transactionId: otid, body: answer }]);
    const [sent] = seenOn(consumptionPath(otid));
    expect(sent).toMatchObject({ method: 'PUT', authError: null, schemaError: null });
    expect((await a.order(otid))!.metadata.apple_consumption).toEqual({ sent: answer, at: new Date(a.clock.now).toISOString(), notification_id: uuid });
    expect(await a.rows(APPLE_CONSUMPTION_TARGET).then((r) => r.filter((d) => d.status === 'delivered'))).toHaveLength(1);
  });

  it('CONSUMPTION_REQUEST: null sends nothing (recorded); an answer Apple would refuse, or one past the 12-hour window, fails the row without a call', async () => {
    const answers: Array<ConsumptionRequest | null> = [
      null,
      { customerConsented: false, deliveryStatus: 'DELIVERED', sampleContentProvided: true },
      { customerConsented: true, deliveryStatus: 'DELIVERED', sampleContentProvided: true },
    ];
    const a = await app(db.store, { consumption: () => answers.shift()! });
    const ids: string[] = [];
    const uuids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { otid, tx } = await purchase();
      ids.push(otid);
      uuids.push(randomUUID());
      expect((await a.postNotification(await consumptionRequest(tx, uuids[i]))).status).toBe(200);
      if (i < 2) await a.hooks.delivery.runOnce();
    }
    a.clock.now += 12 * 3_600_000 + 60_000;
    await a.hooks.delivery.runOnce();
    for (const id of ids) expect(seenOn(consumptionPath(id))).toHaveLength(0);
    expect((await a.order(ids[0]!))!.metadata.apple_consumption).toMatchObject({ sent: null });
    const statuses = await Promise.all(
      uuids.map(async (u) => {
        const [row] = await a.hooks.delivery.list({ endpointId: APPLE_CONSUMPTION_TARGET, eventId: eventId('apple', u, 0) });
        return [row?.status, row?.last_error] as const;
      }),
    );
    expect(statuses[0]).toEqual(['delivered', null]);
    expect(statuses[1]![0]).toBe('failed');
    expect(statuses[1]![1]).toMatch(/INVALID_ARGUMENT: customerConsented/);
    expect(statuses[2]![0]).toBe('failed');
    expect(statuses[2]![1]).toMatch(/12-hour window/);
  });
});

describe('hooks.apple.setAppAccountToken and config', () => {
  it('sets a known order no at Apple; a non-UUID is INVALID_ARGUMENT and an unknown order NOT_FOUND, without a call', async () => {
    const { store, close } = await EVERY_STORE[0]![1]();
    try {
      const a = await app(store);
      const order = await a.hooks.orders.create({ userId: 'user_9', productId: PRODUCT } as never);
      const { otid } = await purchase();
      await a.hooks.apple.setAppAccountToken(otid, order.no);
      expect(apple.appAccountTokens.get(otid)).toBe(order.no);
      const before = seenOn(tokenPath(otid)).length;
      await expect(a.hooks.apple.setAppAccountToken(otid, 'ord_1')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(a.hooks.apple.setAppAccountToken(otid, randomUUID())).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(seenOn(tokenPath(otid))).toHaveLength(before);
    } finally {
      await close();
    }
  });

  it('a policy slower than the attempt timeout: the attempt is recorded as failed and its late answer is never sent; the retry sends one', async () => {
    let release: (() => void) | undefined;
    let slow = true;
    const answer: ConsumptionRequest = { customerConsented: true, deliveryStatus: 'DELIVERED', sampleContentProvided: false };
    const a = await app((await EVERY_STORE[0]![1]()).store, {
      timeoutMs: 200,
      consumption: async () => {
        if (slow) await new Promise<void>((r) => (release = r));
        return answer;
      },
    });
    const { otid, tx } = await purchase();
    expect((await a.postNotification(await consumptionRequest(tx))).status).toBe(200);
    await a.hooks.delivery.runOnce();
    const [row] = await a.rows(APPLE_CONSUMPTION_TARGET);
    expect(row).toMatchObject({ status: 'pending', attempts: 1 });
    expect(row!.last_error).toMatch(/timed out/);
    slow = false;
    release!();
    await new Promise((r) => setImmediate(r));
    expect(seenOn(consumptionPath(otid))).toHaveLength(0);
    a.clock.now += 1000;
    await a.hooks.delivery.runOnce();
    expect(await a.hooks.delivery.get(row!.id)).toMatchObject({ status: 'delivered', attempts: 2 });
    expect(apple.consumption.filter((c) => c.transactionId === otid)).toEqual([{ transactionId: otid, body: answer }]);
  });

  it('without App Store Server API credentials a binding writes no Apple row (nothing that could only fail)', async () => {
    const saved = { ...process.env };
    try {
      for (const k of ['APPLE_KEY_ID', 'APPLE_ISSUER_ID', 'APPLE_PRIVATE_KEY_PATH']) delete process.env[k];
      const hooks = createSubscriptionWebhooks({
        apple: { bundleId: BUNDLE_ID, appAppleId: APP_APPLE_ID, rootCertificates: [signer.rootCertificate] },
        store: (await EVERY_STORE[0]![1]()).store,
        logger: recordingLogger(),
      });
      const { otid, jws } = await purchase();
      const r = await hooks.handle('appleTransaction', {
        headers: { 'content-type': 'application/json' },
        rawBody: JSON.stringify({ signedTransaction: jws }),
        userId: 'user_7',
      });
      expect(JSON.parse(r.response.body!).data.userId).toBe('user_7');
      expect(await hooks.delivery.list({ endpointId: APPLE_APP_ACCOUNT_TOKEN_TARGET })).toEqual([]);
      await hooks.delivery.runOnce();
      expect(seenOn(tokenPath(otid))).toHaveLength(0);
    } finally {
      process.env = saved;
    }
  });

  it('apple.consumption without App Store Server API credentials is CONFIG_INVALID at creation', () => {
    const saved = { ...process.env };
    try {
      for (const k of ['APPLE_KEY_ID', 'APPLE_ISSUER_ID', 'APPLE_PRIVATE_KEY_PATH']) delete process.env[k];
      expect(() => createSubscriptionWebhooks({ apple: { bundleId: BUNDLE_ID, environments: ['Sandbox'], consumption: () => null } })).toThrow(
        /apple\.consumption needs/,
      );
      expect(() => createSubscriptionWebhooks({ apple: { bundleId: BUNDLE_ID, environments: ['Sandbox'], consumption: 'yes' as never } })).toThrow(
        /apple\.consumption must be a function/,
      );
    } finally {
      process.env = saved;
    }
  });
});
