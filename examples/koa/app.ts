import { bodyParser } from '@koa/bodyparser';
import { Router } from '@koa/router';
import Koa from 'koa';
import type { SubscriptionWebhooks } from '../../src/index.js';
import { subscriptionWebhooksRouter } from '../../adapters/koa.js';

/**
 * The example app: the library's router first (it reads the raw body), then a body parser and the
 * app's own JSON API. A real app would take the user from its session; the `x-user-id` header stands in for it.
 */
export function createApp(hooks: SubscriptionWebhooks): Koa {
  const app = new Koa();
  const webhooks = subscriptionWebhooksRouter(hooks, { getUserId: (ctx) => ctx.get('x-user-id') || null });
  app.use(webhooks.routes()).use(webhooks.allowedMethods());
  app.use(bodyParser());

  const api = new Router();
  // Step 1 of the "like WeChat Pay" flow: create an order, hand its `no` to StoreKit as appAccountToken.
  api.post('/api/orders', async (ctx) => {
    const userId = ctx.get('x-user-id');
    if (!userId) ctx.throw(401, 'sign in first');
    const body = ctx.request.body as { productId?: unknown } | undefined;
    const order = await hooks.orders.create({ userId, productId: String(body?.productId ?? '') });
    ctx.status = 201;
    ctx.body = { no: order.no, appAccountToken: order.no };
  });
  api.get('/api/subscriptions', async (ctx) => {
    const userId = ctx.get('x-user-id');
    if (!userId) ctx.throw(401, 'sign in first');
    ctx.body = await hooks.subscriptions.list({ userId });
  });
  app.use(api.routes()).use(api.allowedMethods());
  return app;
}
