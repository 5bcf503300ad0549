import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks, memoryStore, SubscriptionWebhooksError, type Store } from '../../../src/index.js';
import { subscriptionWebhooks } from '../../../adapters/express.js';
import { signXsollaBody } from '../../../src/testing/index.js';
import { resolveConfig } from '../../../src/core/config.js';
import { xsollaErrorResponse } from '../../../src/providers/xsolla/route.js';
import { PROJECT_ID, SECRET, types, xsollaHarness } from '../../helpers/xsolla-harness.js';
import { recordingLogger } from '../../helpers/apple-harness.js';
import { xsollaRouteSuite } from './xsolla-routes.suite.js';

xsollaRouteSuite('memory store', async () => memoryStore());

describe('Xsolla route: our own failures answer 500 so Xsolla retries', () => {
  it("the store is down → 500 STORE_UNAVAILABLE in Xsolla's error shape; nothing emitted", async () => {
    const inner = memoryStore();
    const down: Store = {
      ...inner,
      name: 'down',
      transaction: async () => {
        throw new SubscriptionWebhooksError('STORE_UNAVAILABLE', 'connection refused');
      },
    } as Store;
    const h = xsollaHarness({ store: down });
    const r = await h.post(h.contract().create());
    expect(r.status).toBe(500);
    expect(r.body).toEqual({ error: { code: 'STORE_UNAVAILABLE', message: 'Storage unavailable, retry later' } });
    expect(r.events).toEqual([]);
  });

  it('userExists throws → 500 INTERNAL (details only in the log)', async () => {
    const h = xsollaHarness({
      userExists: async () => {
        throw new Error('users db timeout');
      },
    });
    const r = await h.post(h.userValidation('u1'));
    expect(r.status).toBe(500);
    expect(r.body).toEqual({ error: { code: 'INTERNAL', message: 'Internal error' } });
    expect(h.logger.errors.length).toBeGreaterThan(0);
  });

  it("maps internal codes to Xsolla's wire codes", () => {
    const wire = (code: ConstructorParameters<typeof SubscriptionWebhooksError>[0]) =>
      JSON.parse(xsollaErrorResponse(new SubscriptionWebhooksError(code, 'm')).body!) as { error: { code: string } };
    expect(wire('XSOLLA_SIGNATURE_INVALID').error.code).toBe('INVALID_SIGNATURE');
    expect(wire('USER_NOT_FOUND').error.code).toBe('INVALID_USER');
    expect(wire('BODY_INVALID').error.code).toBe('INVALID_PARAMETER');
    expect(wire('XSOLLA_PROJECT_MISMATCH').error.code).toBe('INVALID_PARAMETER');
    expect(xsollaErrorResponse(new SubscriptionWebhooksError('BODY_TOO_LARGE', 'm')).status).toBe(413);
    expect(wire('BODY_TOO_LARGE').error.code).toBe('INVALID_PARAMETER');
    expect(wire('BODY_NOT_RAW').error.code).toBe('BODY_NOT_RAW');
  });
});

describe('Xsolla route: wiring', () => {
  it('hooks.handle works without an adapter: a Uint8Array body is verified over its bytes', async () => {
    const h = xsollaHarness();
    const body = Buffer.from(JSON.stringify(h.contract().create()));
    const r = await h.hooks.handle('xsolla', { headers: { Authorization: signXsollaBody(body, SECRET) }, rawBody: body });
    expect(r.response).toEqual({ status: 204, headers: {}, body: null });
    expect(types(r.events)).toEqual(['provider.notification.received', 'customer.subscription.created', 'customer.subscription.started']);
  });

  it('Xsolla alone is a valid config: only the Xsolla route is mounted; Apple routes fall through', async () => {
    const hooks = createSubscriptionWebhooks({ xsolla: { projectId: PROJECT_ID, secretKey: SECRET }, store: memoryStore(), logger: recordingLogger() });
    expect(hooks.mounts).toEqual([{ path: '/api/xsolla/webhooks', route: 'xsolla' }]);
    const app = express();
    app.use(subscriptionWebhooks(hooks));
    app.use((_req, res) => {
      res.status(404).end();
    });
    expect((await request(app).post('/api/users/app-store-notifications').send('{}')).status).toBe(404);
    const apple = await hooks.handle('apple', { headers: {}, rawBody: '{"signedPayload":"x"}' });
    expect(apple.response.status).toBe(500);
    expect(apple.response.body).toContain('CONFIG_INVALID');
  });

  it('both providers: every adapter mount is there, the Xsolla path is configurable', () => {
    const hooks = createSubscriptionWebhooks({
      apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
      xsolla: { projectId: PROJECT_ID, secretKey: SECRET },
      routes: { xsolla: '/hooks/xsolla' },
      store: memoryStore(),
    });
    expect(hooks.mounts.map((m) => m.route)).toEqual(['apple', 'appleTransaction', 'xsolla']);
    expect(hooks.mounts.find((m) => m.route === 'xsolla')?.path).toBe('/hooks/xsolla');
  });

  it('an Apple-only config answers the Xsolla route with 500 CONFIG_INVALID and hooks.xsolla says how to configure it', async () => {
    const hooks = createSubscriptionWebhooks({
      apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
      store: memoryStore(),
      logger: recordingLogger(),
    });
    const r = await hooks.handle('xsolla', { headers: {}, rawBody: '{}' });
    expect(r.response.status).toBe(500);
    await expect(hooks.xsolla.listUserSubscriptions({ userJwt: 'x' })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('XSOLLA_PROJECT_ID'),
    });
    const it = hooks.xsolla.iterateUserSubscriptions({ userJwt: 'x' });
    await expect(it.next()).rejects.toMatchObject({ code: 'CONFIG_INVALID' });
  });
});

describe('Xsolla config', () => {
  const env = (vars: Record<string, string>) => vars as unknown as NodeJS.ProcessEnv;
  const bad = (config: unknown, vars: Record<string, string> = {}) => {
    try {
      resolveConfig(config as never, env(vars));
    } catch (e) {
      expect((e as SubscriptionWebhooksError).code).toBe('CONFIG_INVALID');
      return (e as Error).message;
    }
    throw new Error('expected CONFIG_INVALID');
  };

  it('reads XSOLLA_PROJECT_ID and XSOLLA_WEBHOOK_SECRET', () => {
    const c = resolveConfig(undefined, env({ XSOLLA_PROJECT_ID: '18404', XSOLLA_WEBHOOK_SECRET: 's3cret' }));
    expect(c.xsolla).toMatchObject({ projectId: 18404, secretKey: 's3cret', apiBaseUrl: 'https://subscriptions.xsolla.com' });
    expect(c.apple).toBeNull();
  });

  it('names the offending key, including one env variable without the other', () => {
    expect(bad(undefined, { XSOLLA_PROJECT_ID: '18404' })).toMatch(/`xsolla\.secretKey`/);
    expect(bad(undefined, { XSOLLA_WEBHOOK_SECRET: 's' })).toMatch(/`xsolla\.projectId`/);
    expect(bad(undefined, { XSOLLA_PROJECT_ID: 'abc', XSOLLA_WEBHOOK_SECRET: 's' })).toMatch(/`xsolla\.projectId`/);
    expect(bad({ xsolla: { projectId: 1, secretKey: '' } })).toMatch(/`xsolla\.secretKey`/);
    expect(bad({ xsolla: { projectId: 1, secretKey: 's', userExists: true } })).toMatch(/`xsolla\.userExists`/);
    expect(bad({ xsolla: { projectId: 1, secretKey: 's', apiBaseUrl: 'ftp://x' } })).toMatch(/`xsolla\.apiBaseUrl`/);
  });

  it('no provider at all names both ways to fix it', () => {
    const message = bad(undefined, {});
    expect(message).toMatch(/no provider is configured/);
    expect(message).toMatch(/APPLE_BUNDLE_ID/);
    expect(message).toMatch(/XSOLLA_PROJECT_ID and XSOLLA_WEBHOOK_SECRET/);
  });
});
