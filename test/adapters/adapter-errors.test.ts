import express from 'express';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { createSubscriptionWebhooks } from '../../src/index.js';
import { subscriptionWebhooks } from '../../adapters/express.js';

// Errors raised by an adapter before the core runs are worded in the route's own wire format.
describe("adapter errors speak each provider's format", () => {
  const hooks = createSubscriptionWebhooks({
    apple: { bundleId: 'com.example.app', environments: ['Sandbox'] },
    xsolla: { projectId: 1234, secretKey: 'secret' },
    logger: { debug() {}, info() {}, warn() {}, error() {} },
  });
  const app = express().use(subscriptionWebhooks(hooks));
  const big = 'x'.repeat(2 * 1024 * 1024);

  it('Xsolla: 413 and 405 as { error: { code, message } }', async () => {
    const tooBig = await request(app).post(hooks.routes.xsolla).set('content-type', 'application/json').send(big);
    expect(tooBig.status).toBe(413);
    expect(tooBig.body).toMatchObject({ error: { code: 'INVALID_PARAMETER' } });
    const get = await request(app).get(hooks.routes.xsolla);
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect(get.body.error).toBeDefined();
  });

  it('Apple: 413 and 405 as { code, message, data }', async () => {
    const tooBig = await request(app).post(hooks.routes.apple).set('content-type', 'application/json').send(big);
    expect(tooBig.status).toBe(413);
    expect(tooBig.body).toMatchObject({ code: 413, data: { processed: false, error: 'BODY_TOO_LARGE' } });
    const get = await request(app).get(hooks.routes.apple);
    expect(get.status).toBe(405);
    expect(get.body).toMatchObject({ code: 405, data: { error: 'METHOD_NOT_ALLOWED' } });
  });
});
