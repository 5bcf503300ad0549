import express from 'express';
import express4 from 'express4';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks, memoryStore, SubscriptionWebhooksError } from '../../src/index.js';
import { subscriptionWebhooks } from '../../adapters/express.js';
import { resetDefaultHooks } from '../../src/testing/index.js';
import { appleRouteSuite } from '../providers/apple/apple-routes.suite.js';
import { appleHarness, PRODUCT, types } from '../helpers/apple-harness.js';

appleRouteSuite('memory store', async () => memoryStore());

describe('Express adapter: bodies and wiring', () => {
  it('missing signedPayload, empty body, bad JSON, non-object JSON → 400 BODY_INVALID; nothing recorded', async () => {
    const h = await appleHarness();
    for (const body of ['{}', '', 'not json', '[1,2]', '{"signedPayload": 42}', '{"signedPayload": ""}']) {
      const r = await h.post(h.hooks.routes.apple, body);
      expect(r.status, body).toBe(400);
      expect(r.body, body).toMatchObject({ code: 400, data: { processed: false, error: 'BODY_INVALID' } });
    }
    expect(await h.store.countNotifications()).toBe(0);
  });

  it('a 2 MiB body → 413 BODY_TOO_LARGE', async () => {
    const h = await appleHarness();
    const big = JSON.stringify({ signedPayload: 'a'.repeat(2 * 1024 * 1024) });
    const r = await request(h.app).post(h.hooks.routes.apple).set('content-type', 'application/json').send(big);
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ data: { processed: false, error: 'BODY_TOO_LARGE' } });
    expect(await h.store.countNotifications()).toBe(0);
  });

  it('invalid UTF-8 → 400 BODY_INVALID', async () => {
    const h = await appleHarness();
    const r = await request(h.app)
      .post(h.hooks.routes.apple)
      .set('content-type', 'application/json')
      .send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    expect(r.status).toBe(400);
    expect(r.body.data.error).toBe('BODY_INVALID');
  });

  it('express.json() mounted first → 500 BODY_NOT_RAW and a log line naming the fix', async () => {
    const h = await appleHarness({ beforeRoutes: (app) => app.use(express.json()) });
    const c = h.contract();
    const r = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction() });
    expect(r.status).toBe(500);
    expect(r.body.data.error).toBe('BODY_NOT_RAW');
    expect(h.logger.errors.join('\n')).toMatch(/Mount subscriptionWebhooks\(\) before it/);
    expect(await h.store.countNotifications()).toBe(0);
  });

  it('express.raw() mounted first is fine: the Buffer is the raw body', async () => {
    const h = await appleHarness({ beforeRoutes: (app) => app.use(express.raw({ type: '*/*' })) });
    const c = h.contract();
    const r = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction() });
    expect(r.status).toBe(200);
  });

  it('other paths and methods fall through to the app', async () => {
    const h = await appleHarness({ beforeRoutes: (app) => app.get('/api/users/app-store-notifications', (_req, res) => res.send('app GET')) });
    h.app.use((_req, res) => res.status(404).send('app 404'));
    expect((await request(h.app).get(h.hooks.routes.apple)).text).toBe('app GET');
    expect((await request(h.app).post('/elsewhere').send('{}')).text).toBe('app 404');
  });

  it('client transaction route asks getUserId; no user → 401', async () => {
    const h = await appleHarness({ expressOptions: { getUserId: (req) => (req.headers['x-user'] as string | undefined) ?? null } });
    const c = h.contract();
    const signedTransaction = await h.signer.signTransaction(c.transaction());
    const anon = await request(h.app).post(h.hooks.routes.appleTransactions).send({ signedTransaction });
    expect(anon.status).toBe(401);
    const r = await request(h.app).post(h.hooks.routes.appleTransactions).set('x-user', 'u-42').send({ signedTransaction });
    expect(r.status).toBe(200);
    expect(r.body.data).toMatchObject({ userId: 'u-42', status: 'active' });
    expect((await h.hooks.subscriptions.get(c.originalTransactionId))?.user_id).toBe('u-42');
  });

  it('works on Express 4', async () => {
    const h = await appleHarness({ express: express4 as unknown as typeof express });
    const order = await h.hooks.orders.create({ userId: 'u4', productId: PRODUCT });
    const c = h.contract({ appAccountToken: order.no });
    const r = await h.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction() });
    expect(r.status).toBe(200);
    expect(types(r.events)).toEqual(['provider.notification.received', 'customer.subscription.created', 'customer.subscription.started', 'order.paid']);
    const parsedFirst = await appleHarness({
      express: express4 as unknown as typeof express,
      beforeRoutes: (app) => app.use((express4 as unknown as typeof express).json()),
    });
    const bad = await parsedFirst.notify('SUBSCRIBED', 'INITIAL_BUY', { transaction: c.transaction() });
    expect(bad.status).toBe(500);
    expect(bad.body.data.error).toBe('BODY_NOT_RAW');
  });

  it('zero-argument subscriptionWebhooks() reads the env and mounts the default paths', async () => {
    const saved = { ...process.env };
    resetDefaultHooks();
    try {
      process.env.APPLE_BUNDLE_ID = 'com.example.env';
      process.env.APPLE_ENVIRONMENTS = 'Sandbox';
      delete process.env.APPLE_APP_APPLE_ID;
      const app = express();
      app.use(subscriptionWebhooks());
      const r = await request(app).post('/api/users/app-store-notifications').send({ signedPayload: 'x.y.z' });
      expect(r.status).toBe(400);
      expect(r.body.data.error).toBe('JWS_MALFORMED');
      process.env.APPLE_ENVIRONMENTS = 'Production,Sandbox';
      resetDefaultHooks(); // the default instance is created once per process: forget it to re-read the env
      expect(() => subscriptionWebhooks()).toThrow(/apple\.appAppleId/);
    } finally {
      resetDefaultHooks();
      process.env = saved;
    }
  });
});

describe('config validation', () => {
  const bad = (config: unknown) => {
    try {
      createSubscriptionWebhooks(config as never);
    } catch (e) {
      expect(e).toBeInstanceOf(SubscriptionWebhooksError);
      expect((e as SubscriptionWebhooksError).code).toBe('CONFIG_INVALID');
      return (e as Error).message;
    }
    throw new Error('expected CONFIG_INVALID');
  };
  it('names the offending key', () => {
    expect(bad({ apple: { bundleId: '' } })).toMatch(/`apple\.bundleId`/);
    expect(bad({ apple: { bundleId: 'a', appAppleId: 'x' } })).toMatch(/`apple\.appAppleId`/);
    expect(bad({ apple: { bundleId: 'a', environments: ['Prod'] } })).toMatch(/`apple\.environments\.0`/);
    expect(bad({ apple: { bundleId: 'a' } })).toMatch(/`apple\.appAppleId` is required/);
    expect(bad({ apple: { bundleId: 'a', environments: ['Sandbox'] }, stoer: {} })).toMatch(/`stoer` is not a known option/);
    expect(bad({ apple: { bundleId: 'a', environments: ['Sandbox'] }, store: {} })).toMatch(/`store` must be a Store/);
    expect(bad({ apple: { bundleId: 'a', environments: ['Sandbox'] }, routes: { apple: 'no-slash' } })).toMatch(/`routes\.apple`/);
  });
  it('no provider at all is a config error that says how to fix it', () => {
    const saved = process.env.APPLE_BUNDLE_ID;
    delete process.env.APPLE_BUNDLE_ID;
    try {
      expect(bad(undefined)).toMatch(/APPLE_BUNDLE_ID/);
    } finally {
      if (saved !== undefined) process.env.APPLE_BUNDLE_ID = saved;
    }
  });
  it('orders.create validates its input', async () => {
    const hooks = createSubscriptionWebhooks({ apple: { bundleId: 'a', environments: ['Sandbox'] } });
    await expect(hooks.orders.create({ userId: '', productId: 'p' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const o = await hooks.orders.create({ userId: 'u', productId: 'p' });
    expect(o.no).toMatch(/^[0-9a-f-]{36}$/);
    expect(o.status).toBe('pending');
  });
});
